"""The checkpoint folder: what a published model is on disk and on the Hub.

A folder holds ``model.safetensors`` (the generator), ``discriminator.safetensors`` (when
exported), ``config.json`` and ``README.md`` (the model card), plus ``samples.png`` when
published. ``config.json``::

    {"format": "selfmod-zoo", "format_version": 1,
     "architecture": "sndcgan32", "model_args": {...},      # registry name and its arguments
     "z_dim": 128, "num_classes": 0, "resolution": 32, "channels": 1,
     "dataset": "fashion_mnist", "eval_extractor": "fashion_classifier",
     "discriminator": {"architecture": "sndcgan32", "model_args": {...}} or null,
     "gin_config": "...",  "metrics": {"fid": 31.2, "step": 3000}}

The trainer's ``RUN/best`` and ``RUN/final`` folders (``generator.safetensors`` and a nested
``config.json``) load as well, and so does a run folder (its ``best/``, else ``final/``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from torch import nn

import registry
from registry.architectures import Generator
from zoo.errors import CheckpointError
from zoo.weights import load_strict, read_tensors, write_tensors

__all__ = [
    "CONFIG_FILE",
    "DISCRIMINATOR_FILE",
    "FORMAT",
    "MODEL_FILE",
    "SAMPLES_FILE",
    "build",
    "checkpoint_dir",
    "gin_binding",
    "load_discriminator",
    "load_generator",
    "make_config",
    "read_config",
    "save_pretrained",
    "weights_file",
]

FORMAT, FORMAT_VERSION = "selfmod-zoo", 1
MODEL_FILE = "model.safetensors"
DISCRIMINATOR_FILE = "discriminator.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
_TRAINER_WEIGHTS = "generator.safetensors"


def gin_binding(gin_config: str, selector: str) -> str | None:
    """The value bound to ``selector`` (e.g. ``train.dataset``) in a gin config text, as written
    (``@dataset.cifar10`` gives ``cifar10``; quotes are stripped), or None."""
    match = re.search(rf"^{re.escape(selector)}\s*=\s*(.+?)\s*$", gin_config, re.MULTILINE)
    if match is None:
        return None
    value = match.group(1).strip("'\"")
    return value.rsplit(".", 1)[-1].removesuffix("()") if value.startswith("@") else value


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
    write_tensors(generator, directory / MODEL_FILE, {"architecture": config["architecture"]})
    if discriminator is not None:
        write_tensors(
            discriminator,
            directory / DISCRIMINATOR_FILE,
            {"architecture": config["discriminator"]["architecture"]},
        )
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    if card:
        from zoo.card import write_card

        write_card(directory, config, name=name or directory.name, repo_id=repo_id)
    return directory


def _from_trainer(config: dict[str, Any]) -> dict[str, Any]:
    """A trainer ``best/``/``final/`` config.json in the folder format (no gin config)."""
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
    """The folder's ``config.json`` in the folder format (trainer configs are converted)."""
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"Cannot read {path}: {error}") from error
    if isinstance(config, dict) and "generator" in config and "architecture" not in config:
        config = _from_trainer(config)
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
    """``model.safetensors``, or the trainer's ``generator.safetensors``."""
    exported = directory / MODEL_FILE
    trainer = directory / _TRAINER_WEIGHTS
    return trainer if not exported.exists() and trainer.exists() else exported


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
    weights = directory / DISCRIMINATOR_FILE  # the trainer uses the same file name
    model = build("discriminator", spec["architecture"], spec["model_args"], str(directory))
    load_strict(model, read_tensors(weights, remedy), str(weights))
    return model
