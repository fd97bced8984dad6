"""What is timed: a training set-up (the ``train.*`` settings of a gin file, or a registered
architecture with the trainer's defaults) under a variant of the fast path, as the trainer's
own :class:`~zoo.training.GANTrainer` (built by :func:`zoo.training.build_trainer`) stepping
on a fixed batch of random images of the data's shape."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path
from statistics import median_high

import gin
import torch
from accelerate import Accelerator

import registry
from benchmarks.timing import interleaved_seconds
from zoo.config import parse
from zoo.training import GANTrainer, TrainSettings, build_trainer
from zoo.training.precision import resolve_precision

__all__ = [
    "FAST",
    "FP32_CONTIGUOUS",
    "Setup",
    "Variant",
    "random_batches",
    "setup_for",
    "setup_from_gin",
    "step_throughput",
    "timed_trainer",
    "with_norm",
]

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Variant:
    """How a step runs: the trainer's ``mixed_precision``, ``channels_last`` and
    ``fused_optimizer`` settings, and whether G and D go through ``torch.compile``."""

    precision: str
    channels_last: bool
    fused_optimizer: bool
    compile: bool = False

    def applied(self, settings: TrainSettings) -> TrainSettings:
        """``settings`` with this variant's fast-path settings."""
        return replace(
            settings,
            mixed_precision=self.precision,
            channels_last=self.channels_last,
            fused_optimizer=self.fused_optimizer,
        )

    def describe(self, device: torch.device) -> str:
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        precision = resolve_precision(self.precision, device, layout)
        return (
            f"{'bf16' if precision == 'bf16' else 'fp32'}, "
            f"{'channels_last' if self.channels_last else 'contiguous'}, "
            f"{'fused' if self.fused_optimizer else 'for-loop'} Adam"
            + (", compiled" if self.compile else "")
        )


def _defaults() -> dict[str, object]:
    """The defaults of :class:`~zoo.training.TrainSettings`, read from its fields."""
    return {
        f.name: f.default if f.default_factory is MISSING else f.default_factory()
        for f in fields(TrainSettings)
    }


FAST = Variant(*(_defaults()[k] for k in ("mixed_precision", "channels_last", "fused_optimizer")))
"""The trainer's defaults."""
FP32_CONTIGUOUS = Variant("no", False, False)
"""The trainer's path before the fast defaults."""


@dataclass(frozen=True)
class Setup:
    """A training set-up to time: its ``train.*`` settings (models, loss, penalty,
    ``disc_iters``, batch size, Adam) and the channels of its data."""

    settings: TrainSettings
    channels: int = 3
    name: str = ""

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    @property
    def disc_iters(self) -> int:
        return self.settings.disc_iters

    def changed(self, **settings: object) -> Setup:
        """The same set-up with some settings changed (``penalty``, ``disc_iters``...)."""
        return replace(self, settings=replace(self.settings, **settings))


def setup_for(
    arch: str, norm: str = "sbn", width: float = 1.0, batch_size: int = 64, channels: int = 3
) -> Setup:
    """A registered architecture with the trainer's defaults (hinge loss, the architecture's
    spectral norm, one D step per G step) whatever gin has bound."""
    settings = TrainSettings(
        **{
            **_defaults(),
            "dataset": None,  # random images of the data's shape instead
            "generator": functools.partial(
                registry.create, "generator", arch, norm=norm, width=width
            ),
            "discriminator": functools.partial(registry.create, "discriminator", arch, width=width),
            "batch_size": batch_size,
        }
    )
    return Setup(settings, channels, f"{arch} {norm} width {width}")


def setup_from_gin(files: Sequence[str | Path], bindings: Sequence[str] = ()) -> Setup:
    """The training set-up that ``scripts/train.py --gin FILES --bind BINDINGS`` would run:
    its :class:`~zoo.training.TrainSettings` and the channels of its dataset."""
    parse(files, bindings)
    settings = TrainSettings()
    default = inspect.signature(settings.dataset).parameters.get("channels")
    default = default.default if default else 3
    channels = gin.get_bindings(settings.dataset).get("channels", default)
    return Setup(settings, channels, ", ".join(Path(f).name for f in files))


def with_norm(setup: Setup, norm: str) -> Setup:
    """The same set-up with another generator norm (for BN against sBN)."""
    return setup.changed(generator=functools.partial(setup.settings.generator, norm=norm))


def timed_trainer(accelerator: Accelerator, setup: Setup, variant: Variant) -> GANTrainer:
    """The trainer of ``setup`` under ``variant`` (G and D compiled if it says so)."""
    trainer = build_trainer(variant.applied(setup.settings), accelerator, setup.channels)
    if variant.compile:
        for model in (trainer.G, trainer.D):
            accelerator.unwrap_model(model).compile()  # its forward; keeps z_dim, config...
    return trainer


def random_batches(trainer: GANTrainer, setup: Setup, variant: Variant) -> Batches:
    """The same batch of random images of G's resolution (and labels) for every D step, on
    the trainer's device in the variant's memory layout."""
    G = trainer.accelerator.unwrap_model(trainer.G)
    device = trainer.accelerator.device
    shape = (setup.batch_size, setup.channels, G.resolution, G.resolution)
    layout = torch.channels_last if variant.channels_last else torch.contiguous_format
    images = (torch.rand(shape, device=device) * 2 - 1).contiguous(memory_format=layout)
    classes = max(G.num_classes, trainer.d_classes, 1)
    labels = torch.randint(classes, (setup.batch_size,), device=device)
    while True:
        yield images, labels


def step_throughput(
    runs: dict[str, tuple[Setup, Variant]],
    steps: int = 5,
    rounds: int = 3,
    warmup: int = 2,
    device: str | None = None,
) -> dict[str, float]:
    """Median images/s of G steps (images of the G batch per second, its D steps included)
    for each named (set-up, variant), over ``rounds`` interleaved rounds of ``steps``."""
    accelerator = Accelerator(cpu=device == "cpu")
    calls = {}
    for name, (setup, variant) in runs.items():
        trainer = timed_trainer(accelerator, setup, variant)
        batches = random_batches(trainer, setup, variant)
        calls[name] = functools.partial(trainer.step, batches)
    seconds = interleaved_seconds(calls, steps, rounds, warmup, accelerator.device)
    return {
        name: median_high([runs[name][0].batch_size / s for s in per_round])
        for name, per_round in seconds.items()
    }
