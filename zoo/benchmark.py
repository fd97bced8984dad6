"""Training throughput: images per second of generator steps (each with its ``disc_iters`` D
steps) for variants of one training set-up (the fast default against fp32 contiguous, BN
against sBN, ...), measured in interleaved rounds in one process so that the ratios are fair.

A set-up comes from a gin file (:func:`setup_from_gin`, the user's own path) or from an
architecture name (:func:`setup_for`).
"""

from __future__ import annotations

import inspect
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import gin
import torch
from accelerate import Accelerator
from torch import nn

import registry
from registry.losses import GANLoss, Hinge
from registry.penalties import NoPenalty, Penalty
from zoo.training import GANTrainer
from zoo.training.precision import cpu_name, resolve_precision

__all__ = [
    "FAST",
    "FP32_CONTIGUOUS",
    "Setup",
    "Variant",
    "machine",
    "setup_for",
    "setup_from_gin",
    "step_throughput",
    "variants_of",
    "with_norm",
]


@dataclass(frozen=True)
class Variant:
    """How a step runs: the trainer's ``mixed_precision``, ``channels_last`` and
    ``fused_optimizer`` settings, and whether G and D go through ``torch.compile``."""

    precision: str = "auto"
    channels_last: bool = True
    fused_optimizer: bool = True
    compile: bool = False

    def describe(self, device: torch.device) -> str:
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        precision = resolve_precision(self.precision, device, layout)
        return (
            f"{'bf16' if precision == 'bf16' else 'fp32'}, "
            f"{'channels_last' if self.channels_last else 'contiguous'}, "
            f"{'fused' if self.fused_optimizer else 'for-loop'} Adam"
            + (", compiled" if self.compile else "")
        )


FAST = Variant()  # the trainer's defaults
FP32_CONTIGUOUS = Variant("no", False, False)  # the trainer's path before the fast defaults


@dataclass
class Setup:
    """What one training step needs: model factories (called with ``channels``), the loss, the
    penalty, D steps per G step and the batch."""

    generator: Callable[..., nn.Module]
    discriminator: Callable[..., nn.Module]
    loss: GANLoss = field(default_factory=Hinge)
    penalty: Penalty = field(default_factory=NoPenalty)
    disc_iters: int = 1
    batch_size: int = 64
    channels: int = 3
    betas: tuple[float, float] = (0.5, 0.999)
    name: str = ""


def setup_for(
    arch: str, norm: str = "sbn", width: float = 1.0, batch_size: int = 64, channels: int = 3
) -> Setup:
    """A registered architecture with hinge loss, spectral norm and one D step per G step."""

    def generator(channels: int, **kwargs: object) -> nn.Module:
        kwargs = {"norm": norm, "width": width, **kwargs}
        return registry.create("generator", arch, channels=channels, **kwargs)

    def discriminator(channels: int) -> nn.Module:
        return registry.create("discriminator", arch, width=width, channels=channels)

    return Setup(
        generator,
        discriminator,
        batch_size=batch_size,
        channels=channels,
        name=f"{arch} {norm} width {width}",
    )


def setup_from_gin(files: Sequence[str | Path], bindings: Sequence[str] = ()) -> Setup:
    """The training set-up that ``scripts/train.py --gin FILES --bind BINDINGS`` would run
    (models, loss, penalty, disc_iters, batch size, Adam betas, the data's channels)."""
    from zoo.config import parse

    parse(files, bindings)
    train = gin.get_bindings("train")
    data = train["dataset"]
    default = inspect.signature(data).parameters.get("channels")
    channels = gin.get_bindings(data).get("channels", default.default if default else 3)
    instance = lambda c: c() if isinstance(c, type) else c  # noqa: E731 - gin gives both
    return Setup(
        train["generator"],
        train["discriminator"],
        instance(train.get("loss", Hinge)),
        instance(train.get("penalty", NoPenalty)),
        train.get("disc_iters", 1),
        train.get("batch_size", 64),
        channels,
        (train.get("beta1", 0.5), train.get("beta2", 0.999)),
        name=", ".join(Path(f).name for f in files),
    )


def _trainer(accelerator: Accelerator, setup: Setup, variant: Variant) -> GANTrainer:
    torch.manual_seed(0)
    layout = torch.channels_last if variant.channels_last else torch.contiguous_format
    G = setup.generator(channels=setup.channels).to(memory_format=layout)
    D = setup.discriminator(channels=setup.channels).to(memory_format=layout)
    if variant.compile:
        G, D = _compiled(G), _compiled(D)
    precision = resolve_precision(variant.precision, accelerator.device, layout)
    return GANTrainer(
        accelerator,
        G,
        D,
        setup.loss,
        setup.penalty,
        setup.disc_iters,
        2e-4,
        setup.betas,
        precision,
        variant.fused_optimizer,
    )


def _compiled(model: nn.Module) -> nn.Module:
    """``torch.compile`` of the model's forward, keeping its attributes (z_dim, config...)."""
    model.compile()
    return model


def _random_batches(trainer: GANTrainer, setup: Setup, variant: Variant) -> Iterator:
    G = trainer.accelerator.unwrap_model(trainer.G)
    device = trainer.accelerator.device
    shape = (setup.batch_size, setup.channels, G.resolution, G.resolution)
    layout = torch.channels_last if variant.channels_last else torch.contiguous_format
    images = (torch.rand(shape, device=device) * 2 - 1).contiguous(memory_format=layout)
    classes = max(G.num_classes, trainer.d_classes, 1)
    labels = torch.randint(classes, (setup.batch_size,), device=device)
    while True:
        yield images, labels


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_throughput(
    setups: dict[str, tuple[Setup, Variant]],
    steps: int = 5,
    rounds: int = 3,
    warmup: int = 2,
    device: str | None = None,
) -> dict[str, float]:
    """Median images/s of G steps (images of the G batch per second, its D steps included)
    for each named (set-up, variant), over ``rounds`` interleaved rounds of ``steps``."""
    accelerator = Accelerator(cpu=device == "cpu")
    dev = accelerator.device
    runs = {}
    for name, (setup, variant) in setups.items():
        trainer = _trainer(accelerator, setup, variant)
        runs[name] = (trainer, _random_batches(trainer, setup, variant), setup.batch_size)
    for trainer, batches, _ in runs.values():
        for _ in range(warmup):
            trainer.step(batches)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (trainer, batches, batch_size) in runs.items():
            _sync(dev)
            start = time.perf_counter()
            for _ in range(steps):
                out = trainer.step(batches)
            float(out["g_loss"])  # wait for the last step
            _sync(dev)
            rates[name].append(steps * batch_size / (time.perf_counter() - start))
    return {name: sorted(r)[len(r) // 2] for name, r in rates.items()}


def variants_of(setup: Setup, **variants: Variant) -> dict[str, tuple[Setup, Variant]]:
    """``{name: (setup, variant)}`` for one set-up."""
    return {name: (setup, variant) for name, variant in variants.items()}


def with_norm(setup: Setup, norm: str) -> Setup:
    """The same set-up with another generator norm (for BN against sBN)."""
    make = setup.generator
    return replace(setup, generator=lambda channels: make(channels=channels, norm=norm))


def machine(device: str) -> str:
    """The machine the figures were taken on, for the record next to them."""
    if device == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = cpu_name()
        family = re.findall(r"cpu family\s*:\s*(\d+)\s+model\s*:\s*(\d+)", cpuinfo_text())
        if family:
            name += f" (family {family[0][0]} model {family[0][1]})"
        name += f", {torch.backends.cpu.get_cpu_capability()} kernels"
        name += f", {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    return f"{name}; torch {torch.__version__}"


def cpuinfo_text() -> str:
    """``/proc/cpuinfo`` where there is one, else nothing."""
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.read_text() if cpuinfo.is_file() else ""
