"""Finding and reading the FID Inception weights (``pt_inception-2015-12-05-6726825d.pth``,
pytorch-fid's port of TensorFlow's 2015-12-05 graph).

Weights are found, in order: the ``weights_path`` argument, the environment variable
``SELFMOD_INCEPTION_WEIGHTS``, the Hugging Face Hub cache (``hf_hub_download(repo_id, filename,
local_files_only=True)``; no download is attempted). Missing weights raise
:class:`InceptionWeightsNotFoundError`; there is never a silent fallback to other weights.
The ``.pth`` file is read with ``torch.load(weights_only=True)`` (tensors only); a
``.safetensors`` copy is accepted too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

__all__ = [
    "DEFAULT_FILENAME",
    "DEFAULT_HF_REPO_ID",
    "ENV_VAR",
    "HF_REPO_ENV_VAR",
    "SOURCE_URL",
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


class InceptionWeightsNotFoundError(FileNotFoundError):
    """The FID Inception weights are not available locally."""


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
