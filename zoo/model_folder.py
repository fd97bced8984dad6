"""The model folder, the one checkpoint format of a trained model: what the trainer writes as
``RUN/best`` and ``RUN/final``, what :func:`zoo.load` reads and what is published on the Hub.

A folder holds ``model.safetensors`` (the generator), ``discriminator.safetensors``,
``config.json``, and, once published, ``README.md`` (the model card) and ``samples.png``.
``config.json``::

    {"format": "selfmod-zoo", "format_version": 1,
     "architecture": "sndcgan32", "model_args": {...},      # registry name and its arguments
     "z_dim": 128, "num_classes": 0, "resolution": 32, "channels": 1,
     "dataset": "fashion_mnist", "eval_extractor": "fashion_classifier",
     "discriminator": {"architecture": "sndcgan32", "model_args": {...}} or null,
     "gin_config": "...",  "metrics": {"fid": 31.2, "step": 3000}}

A run folder loads as its ``best/``, else ``final/``. Run folders of selfmod-zoo before 0.2
(``generator.safetensors`` with a nested ``config.json``) still load.

Weights are read only from safetensors, strictly: a missing, unexpected or misshapen key is an
error naming the keys; a file that cannot be parsed (truncated, corrupt) is an error naming the
file and how to get a good copy; a catalog pin is checked by sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

import registry
from registry.architectures import Generator
from zoo.config import gin_binding
from zoo.errors import CheckpointError, ChecksumError

__all__ = [
    "CONFIG_FILE",
    "DISCRIMINATOR_FILE",
    "FORMAT",
    "MODEL_FILE",
    "SAMPLES_FILE",
    "build",
    "checkpoint_dir",
    "cpu_tensors",
    "load_discriminator",
    "load_generator",
    "load_strict",
    "make_config",
    "read_config",
    "read_tensors",
    "save_pretrained",
    "sha256_file",
    "verify_sha256",
    "weights_file",
    "write_tensors",
]

FORMAT, FORMAT_VERSION = "selfmod-zoo", 1
MODEL_FILE = "model.safetensors"
DISCRIMINATOR_FILE = "discriminator.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
_LEGACY_WEIGHTS = "generator.safetensors"  # run folders before 0.2
_SHOWN = 10  # keys listed per kind of mismatch


def make_config(
    generator: Generator,
    discriminator: nn.Module | None = None,
    gin_config: str = "",
    metrics: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The ``config.json`` of a generator (and optionally its discriminator)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": registry.name_of("generator", type(generator)),
        "model_args": dict(generator.config),
        "z_dim": generator.z_dim,
        "num_classes": generator.num_classes,
        "resolution": generator.resolution,
        "channels": generator.channels,
        "dataset": gin_binding(gin_config, "train.dataset"),
        "eval_extractor": gin_binding(gin_config, "train.eval_extractor"),
        "discriminator": None
        if discriminator is None
        else {
            "architecture": registry.name_of("discriminator", type(discriminator)),
            "model_args": dict(discriminator.config),
        },
        "gin_config": gin_config,
        "metrics": dict(metrics or {}),
    }


def build(kind: str, architecture: str, model_args: dict[str, Any], source: str) -> nn.Module:
    """A freshly initialised registered ``kind`` (no gin bindings apply: ``model_args`` alone
    decide the architecture)."""
    try:
        return registry.get(kind, architecture)(**model_args)
    except registry.RegistryError as error:
        raise CheckpointError(f"{source} names an unknown {kind}: {error}") from error
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{source}: cannot build {kind} {architecture!r} from {model_args}: {error}"
        ) from error


def save_pretrained(
    generator: Generator,
    directory: str | Path,
    *,
    discriminator: nn.Module | None = None,
    gin_config: str = "",
    metrics: dict[str, float] | None = None,
    card: bool = True,
    name: str | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write a checkpoint folder (weights, ``config.json`` and, with ``card``, ``README.md``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = make_config(generator, discriminator, gin_config, metrics)
    write_tensors(generator, directory / MODEL_FILE)
    if discriminator is not None:
        write_tensors(discriminator, directory / DISCRIMINATOR_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    if card:
        from zoo.card import write_card

        write_card(directory, config, name=name or directory.name, repo_id=repo_id)
    return directory


def _from_legacy_run(config: dict[str, Any]) -> dict[str, Any]:
    """The config.json of a run folder written before 0.2 (``{"generator": {"name", "config"},
    "discriminator": ..., "metrics": ...}``) in the format above."""
    generator, discriminator = config["generator"], config.get("discriminator")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": generator["name"],
        "model_args": generator["config"],
        "discriminator": None
        if discriminator is None
        else {"architecture": discriminator["name"], "model_args": discriminator["config"]},
        "gin_config": "",
        "metrics": config.get("metrics", {}),
    }


def checkpoint_dir(path: str | Path) -> Path:
    """The folder holding the weights: ``path`` itself, or a run's ``best/`` then ``final/``."""
    path = Path(path)
    if (path / CONFIG_FILE).is_file():
        return path
    for sub in ("best", "final"):
        if (path / sub / CONFIG_FILE).is_file():
            return path / sub
    raise CheckpointError(
        f"{path} holds no {CONFIG_FILE}: not a checkpoint folder (model.safetensors + "
        f"config.json), nor a training run with best/ or final/."
    )


def read_config(directory: str | Path) -> dict[str, Any]:
    """The folder's ``config.json`` (a pre-0.2 run's is read into the current format)."""
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"Cannot read {path}: {error}") from error
    if isinstance(config, dict) and "generator" in config and "architecture" not in config:
        config = _from_legacy_run(config)
    if not isinstance(config, dict) or not {"architecture", "model_args"} <= set(config):
        raise CheckpointError(
            f"{path} is not a selfmod-zoo config: it needs 'architecture' and 'model_args'."
        )
    if config.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {config['format_version']}; this selfmod-zoo reads up "
            f"to {FORMAT_VERSION}. Upgrade selfmod-zoo."
        )
    return config


def weights_file(directory: Path) -> Path:
    """``model.safetensors``, or a pre-0.2 run's ``generator.safetensors``."""
    current, legacy = directory / MODEL_FILE, directory / _LEGACY_WEIGHTS
    return legacy if not current.exists() and legacy.exists() else current


def load_generator(
    directory: str | Path, remedy: str, config: dict[str, Any] | None = None
) -> Generator:
    """The generator of a checkpoint folder, strictly loaded (CPU, mode untouched)."""
    directory = Path(directory)
    config = config if config is not None else read_config(directory)
    weights = weights_file(directory)
    generator = build("generator", config["architecture"], config["model_args"], str(directory))
    load_strict(generator, read_tensors(weights, remedy), str(weights))
    return generator


def load_discriminator(directory: str | Path, remedy: str) -> nn.Module:
    """The discriminator of a checkpoint folder, strictly loaded."""
    directory = Path(directory)
    spec = read_config(directory).get("discriminator")
    if spec is None:
        raise CheckpointError(f"{directory / CONFIG_FILE} describes no discriminator.")
    weights = directory / DISCRIMINATOR_FILE  # pre-0.2 runs use the same file name
    model = build("discriminator", spec["architecture"], spec["model_args"], str(directory))
    load_strict(model, read_tensors(weights, remedy), str(weights))
    return model


def cpu_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict as contiguous CPU tensors, as safetensors writes them."""
    return {k: v.detach().contiguous().cpu() for k, v in tensors.items()}


def write_tensors(module: nn.Module, path: str | Path) -> Path:
    """``module``'s state dict as a safetensors file, the same bytes for the same weights (so
    its sha256 pins the weights): the only metadata is ``format: pt``, as safetensors writes a
    metadata map of several keys in a varying order; ``config.json`` names the architecture."""
    save_file(cpu_tensors(module.state_dict()), str(path), metadata={"format": "pt"})
    return Path(path)


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
