"""The FID Inception-v3: TensorFlow's 2015-12-05 graph as ported to PyTorch by pytorch-fid.

FID/IS/KID/PRD numbers are only comparable to published ones with *this* network: the TF
graph differs from torchvision's ImageNet Inception-v3 in its weights, its 1008-way classifier
and a few pooling details (see :mod:`registry.features.inception_blocks`). Features are the
2048-d ``pool3`` activations.

The module and parameter names follow torchvision's ``Inception3(num_classes=1008,
aux_logits=False)`` exactly, which is the layout of the public weight file
``pt_inception-2015-12-05-6726825d.pth``, so a copy of that file loads with
``load_state_dict(strict=True)``. How the weights are found and read is in
:mod:`registry.features.inception_weights`; its names are importable from here too.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from registry._registry import register
from registry.features.inception_blocks import (
    BasicConv2d,
    FIDInceptionA,
    FIDInceptionC,
    FIDInceptionE,
    InceptionB,
    InceptionD,
)
from registry.features.inception_weights import (
    DEFAULT_FILENAME,
    DEFAULT_HF_REPO_ID,
    ENV_VAR,
    HF_REPO_ENV_VAR,
    SOURCE_URL,
    InceptionWeightsNotFoundError,
    load_inception_state_dict,
    resolve_inception_weights,
)

__all__ = [
    "DEFAULT_FILENAME",
    "DEFAULT_HF_REPO_ID",
    "ENV_VAR",
    "HF_REPO_ENV_VAR",
    "INPUT_SIZE",
    "SOURCE_URL",
    "FIDInceptionV3",
    "InceptionWeightsNotFoundError",
    "load_inception_state_dict",
    "resolve_inception_weights",
]

INPUT_SIZE = 299


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
