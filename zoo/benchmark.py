"""Training throughput: images per second of generator steps (each with its D steps), BN against
sBN on the same architecture, measured interleaved in one process so that the ratio is fair."""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
from accelerate import Accelerator

import registry
from registry.losses import Hinge
from registry.penalties import NoPenalty
from zoo.trainer import GANTrainer

__all__ = ["training_throughput"]


def _random_batches(batch_size: int, resolution: int, device: torch.device) -> Iterator:
    images = torch.rand(batch_size, 3, resolution, resolution, device=device) * 2 - 1
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    while True:
        yield images, labels


def _trainer(accelerator: Accelerator, arch: str, norm: str, width: float) -> GANTrainer:
    torch.manual_seed(0)
    G = registry.create("generator", arch, norm=norm, width=width)
    D = registry.create("discriminator", arch, width=width)
    return GANTrainer(accelerator, G, D, Hinge(), NoPenalty(), 1, 2e-4, (0.5, 0.999))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_throughput(
    arch: str,
    norms: tuple[str, ...] = ("bn", "sbn"),
    batch_size: int = 64,
    width: float = 1.0,
    steps: int = 10,
    rounds: int = 3,
    warmup: int = 2,
    device: str | None = None,
) -> dict[str, float]:
    """Median images/s of G steps per norm, over ``rounds`` interleaved rounds of ``steps``."""
    accelerator = Accelerator(cpu=device == "cpu")
    dev = accelerator.device
    trainers = {norm: _trainer(accelerator, arch, norm, width) for norm in norms}
    resolution = accelerator.unwrap_model(trainers[norms[0]].G).resolution
    batches = _random_batches(batch_size, resolution, dev)
    rates: dict[str, list[float]] = {norm: [] for norm in norms}
    for trainer in trainers.values():
        for _ in range(warmup):
            trainer.step(batches)
    for _ in range(rounds):
        for norm, trainer in trainers.items():
            _sync(dev)
            start = time.perf_counter()
            for _ in range(steps):
                trainer.step(batches)
            _sync(dev)
            rates[norm].append(steps * batch_size / (time.perf_counter() - start))
    return {norm: sorted(r)[len(r) // 2] for norm, r in rates.items()}
