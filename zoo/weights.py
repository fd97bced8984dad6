"""Weight files: safetensors reading and writing, sha256 checks and strict loading.

Loading is strict: a missing or unexpected key, or a shape that differs, is an error that names
every offending key. A file that cannot be parsed (truncated, corrupt) is an error that names the
file and says how to get a good copy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.errors import CheckpointError, ChecksumError

__all__ = ["load_strict", "read_tensors", "sha256_file", "verify_sha256", "write_tensors"]

_SHOWN = 10  # keys listed per kind of mismatch


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str, remedy: str) -> None:
    """Raise :class:`ChecksumError` naming both hashes unless ``path`` hashes to ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"Refusing to load {path}: its sha256 is {actual} but the catalog pins {expected}. "
            f"The file is damaged or not the published one. {remedy}"
        )


def read_tensors(path: str | Path, remedy: str) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file on the CPU; an unreadable file is a
    :class:`CheckpointError` naming it, with ``remedy`` (how to get a good copy)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Weight file {path} does not exist. {remedy}")
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # safetensors raises its own SafetensorError, or OSError
        raise CheckpointError(
            f"Weight file {path} is corrupt or truncated ({error}). {remedy}"
        ) from error


def write_tensors(module: nn.Module, path: str | Path, metadata: dict[str, str]) -> Path:
    """``module``'s state dict (CPU, contiguous) as a safetensors file with ``metadata``."""
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": "pt", **metadata})
    return path


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" (and {len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def load_strict(module: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load ``tensors`` into ``module``; any missing, unexpected or misshapen key is a
    :class:`CheckpointError` that names the keys and ``source``."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    mismatched = sorted(
        f"{key} (checkpoint {tuple(tensors[key].shape)}, model {tuple(value.shape)})"
        for key, value in expected.items()
        if key in tensors and tensors[key].shape != value.shape
    )
    problems = [
        f"{label}: {_listing(keys)}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        )
        if keys
    ]
    if problems:
        raise CheckpointError(
            f"The weights in {source} do not fit {type(module).__name__}: "
            + "; ".join(problems)
            + ". The config.json next to them must describe the architecture they were saved from."
        )
    module.load_state_dict(tensors, strict=True)
