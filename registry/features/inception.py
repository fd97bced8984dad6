"""The FID Inception-v3: TensorFlow's 2015-12-05 graph as ported to PyTorch by pytorch-fid.

FID/IS/KID/PRD numbers are only comparable to published ones with *this* network: the TF
graph differs from torchvision's ImageNet Inception-v3 in its weights, its 1008-way classifier
and a few pooling details (average pools that exclude padding in Mixed_5b-d, 6b-e and 7b, and
a max pool in Mixed_7c's pool branch). Features are the 2048-d ``pool3`` activations.

The module and parameter names follow torchvision's ``Inception3(num_classes=1008,
aux_logits=False)`` exactly, which is the layout of the public weight file
``pt_inception-2015-12-05-6726825d.pth``, so a copy of that file loads with
``load_state_dict(strict=True)``. (The blocks are defined here rather than imported from
torchvision so that they do not depend on torchvision's compiled extension.)

Weights are found, in order: the ``weights_path`` argument, the environment variable
``SELFMOD_INCEPTION_WEIGHTS``, the Hugging Face Hub cache (``hf_hub_download(repo_id, filename,
local_files_only=True)``; no download is attempted). Missing weights raise
:class:`InceptionWeightsNotFoundError`; there is never a silent fallback to other weights.
The ``.pth`` file is read with ``torch.load(weights_only=True)`` (tensors only); a
``.safetensors`` copy is accepted too.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from registry._registry import register

__all__ = [
    "DEFAULT_FILENAME",
    "DEFAULT_HF_REPO_ID",
    "ENV_VAR",
    "FIDInceptionV3",
    "InceptionWeightsNotFoundError",
    "load_inception_state_dict",
    "resolve_inception_weights",
]

ENV_VAR = "SELFMOD_INCEPTION_WEIGHTS"
"""Environment variable naming a local copy of the weights (.pth or .safetensors)."""
HF_REPO_ENV_VAR = "SELFMOD_INCEPTION_HF_REPO"
"""Environment variable overriding the default Hugging Face Hub repo id."""
DEFAULT_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
DEFAULT_HF_REPO_ID = "selfmod-zoo/fid-inception-v3"
"""Hub repo expected to hold ``DEFAULT_FILENAME``; configurable (argument, gin, env var)."""
SOURCE_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + DEFAULT_FILENAME
)
INPUT_SIZE = 299


class InceptionWeightsNotFoundError(FileNotFoundError):
    """The FID Inception weights are not available locally."""


# --- building blocks (names as torchvision's Inception3) ------------------------------------


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3) + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg_pool_no_pad(x: torch.Tensor) -> torch.Tensor:
    # TF's average pool divides by the number of valid (non-padding) inputs.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """Mixed_5b/5c/5d: torchvision's InceptionA with a padding-excluding average pool."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_no_pad(x))
        return torch.cat([b1, b5, b3, bp], dim=1)


class InceptionB(nn.Module):
    """Mixed_6a (grid reduction 35 -> 17), unchanged from torchvision."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], dim=1)


class FIDInceptionC(nn.Module):
    """Mixed_6b-6e: torchvision's InceptionC with a padding-excluding average pool."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_3(self.branch7x7dbl_2(bd))
        bd = self.branch7x7dbl_5(self.branch7x7dbl_4(bd))
        bp = self.branch_pool(_avg_pool_no_pad(x))
        return torch.cat([b1, b7, bd, bp], dim=1)


class InceptionD(nn.Module):
    """Mixed_7a (grid reduction 17 -> 8), unchanged from torchvision."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(b7)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], dim=1)


class FIDInceptionE(nn.Module):
    """Mixed_7b (``pool="avg"``: padding-excluding average pool) and Mixed_7c (``pool="max"``:
    TF's graph max-pools in this block's pool branch)."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], dim=1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], dim=1)
        if self.pool == "avg":
            pooled = _avg_pool_no_pad(x)
        else:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        bp = self.branch_pool(pooled)
        return torch.cat([b1, b3, bd, bp], dim=1)


# --- weights -----------------------------------------------------------------------------


def _missing(message: str, repo_id: str, filename: str) -> InceptionWeightsNotFoundError:
    return InceptionWeightsNotFoundError(
        f"{message} The FID Inception weights ({filename}, pytorch-fid's port of the TF "
        f"2015-12-05 graph, from {SOURCE_URL}) are needed: pass weights_path=... (gin: "
        f"feature_extractor.inception.weights_path), or export {ENV_VAR}=/path/to/{filename} "
        f"(a .safetensors copy works too), or put them in the Hugging Face Hub cache with "
        f"`hf download {repo_id} {filename}` (older clients: `huggingface-cli download "
        f"{repo_id} {filename}`). No other weights are substituted: FIDs from other Inception "
        f"weights are not comparable."
    )


def resolve_inception_weights(
    weights_path: str | os.PathLike | None = None,
    repo_id: str | None = None,
    filename: str = DEFAULT_FILENAME,
) -> Path:
    """Local path of the weights: ``weights_path``, else ``$SELFMOD_INCEPTION_WEIGHTS``, else the
    Hub cache (``local_files_only``). Raises :class:`InceptionWeightsNotFoundError`."""
    repo_id = repo_id or os.environ.get(HF_REPO_ENV_VAR) or DEFAULT_HF_REPO_ID
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise _missing(f"weights_path={str(path)!r} does not exist.", repo_id, filename)
        return path
    env_value = os.environ.get(ENV_VAR)
    if env_value:
        path = Path(env_value).expanduser()
        if not path.is_file():
            raise _missing(f"{ENV_VAR}={env_value!r} does not exist.", repo_id, filename)
        return path
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, local_files_only=True))
    except Exception as error:  # not cached, hub offline, bad repo id...
        raise _missing(
            f"No weights given and {ENV_VAR} is not set; not in the Hugging Face Hub cache either "
            f"({type(error).__name__}).",
            repo_id,
            filename,
        ) from error


def load_inception_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or from a ``.pth`` pickle with
    ``torch.load(weights_only=True)`` (tensors and plain containers only, no code)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ValueError(f"{path} does not hold a flat state dict of tensors")
    return dict(state)


# --- the network -------------------------------------------------------------------------


@register("feature_extractor", "inception")
class FIDInceptionV3(nn.Module):
    """FID Inception-v3 feature extractor: 2048-d pool3 ``features`` and 1008 ``logits``.

    ``logits`` are ``features @ fc.weight.T``, without the fc bias: the logits from which
    Salimans et al.'s code and torch-fidelity compute the Inception Score.

    ``forward(images)`` takes ``N×C×H×W`` images in [-1, 1] with 1 or 3 channels and any size:
    gray is repeated to RGB and images are resized to 299×299 bilinearly (``align_corners=False``,
    no antialiasing), as pytorch-fid does. pytorch-fid maps [0, 1] inputs to [-1, 1], the range
    the TF graph expects; inputs here are already in [-1, 1], so no further scaling is applied.

    ``pretrained=False`` keeps random weights (for timing or tests only; the extractor's
    ``name`` is then ``"inception-random"`` so cached statistics are not confused).
    """

    feature_dim = 2048
    num_classes = 1008

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        *,
        pretrained: bool = True,
        hf_repo_id: str | None = None,
        hf_filename: str = DEFAULT_FILENAME,
        resize: bool = True,
    ) -> None:
        super().__init__()
        self.resize = resize
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, pool="avg")
        self.Mixed_7c = FIDInceptionE(2048, pool="max")
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.5)
        self.fc = nn.Linear(2048, self.num_classes)

        if pretrained:
            path = resolve_inception_weights(weights_path, hf_repo_id, hf_filename)
            self.load_state_dict(load_inception_state_dict(path), strict=True)
            self.name = "inception"
            self.weights_path: Path | None = path
        else:
            if weights_path is not None:
                raise ValueError("weights_path given with pretrained=False")
            warnings.warn(
                "FIDInceptionV3 with random weights: fine for timing or tests, meaningless "
                "for FID/IS.",
                stacklevel=2,
            )
            self.name = "inception-random"
            self.weights_path = None
        self.eval()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images, 1 or 3 channels, any size -> 3×299×299 network input."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected N×C×H×W images with C in (1, 3), got {tuple(images.shape)}")
        x = images.to(self.fc.weight.dtype)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.resize and x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(
                x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
            )
        return x

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.preprocess(images)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool1(x)
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        features = torch.flatten(self.avgpool(x), 1)
        # The Inception Score's logits: pool3 times the fc weight, without the fc bias, as in
        # Salimans et al.'s code (matmul with softmax/logits/MatMul's weight) and torch-fidelity
        # (logits_unbiased); with the bias, IS would not match published numbers.
        logits = self.dropout(features) @ self.fc.weight.T
        return {"features": features, "logits": logits}
