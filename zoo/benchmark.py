"""Training throughput: images per second of generator steps (each with its D step) for variants
of one architecture (BN against sBN, contiguous against channels-last memory), measured in
interleaved rounds in one process so that the ratios are fair."""

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


LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def _random_batches(
    batch_size: int, resolution: int, device: torch.device, layout: str
) -> Iterator:
    images = torch.rand(batch_size, 3, resolution, resolution, device=device) * 2 - 1
    images = images.contiguous(memory_format=LAYOUTS[layout])
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    while True:
        yield images, labels


def _trainer(
    accelerator: Accelerator, arch: str, norm: str, width: float, layout: str
) -> GANTrainer:
    torch.manual_seed(0)
    G = registry.create("generator", arch, norm=norm, width=width)
    D = registry.create("discriminator", arch, width=width)
    G, D = G.to(memory_format=LAYOUTS[layout]), D.to(memory_format=LAYOUTS[layout])
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
    layouts: tuple[str, ...] = ("contiguous",),
) -> dict[tuple[str, str], float]:
    """Median images/s of G steps per (norm, layout), over ``rounds`` interleaved rounds of
    ``steps``; ``layouts`` are names of :data:`LAYOUTS`."""
    accelerator = Accelerator(cpu=device == "cpu")
    dev = accelerator.device
    variants = [(norm, layout) for norm in norms for layout in layouts]
    trainers = {v: _trainer(accelerator, arch, v[0], width, v[1]) for v in variants}
    resolution = accelerator.unwrap_model(trainers[variants[0]].G).resolution
    batches = {layout: _random_batches(batch_size, resolution, dev, layout) for layout in layouts}
    rates: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
    for (_, layout), trainer in trainers.items():
        for _ in range(warmup):
            trainer.step(batches[layout])
    for _ in range(rounds):
        for (norm, layout), trainer in trainers.items():
            _sync(dev)
            start = time.perf_counter()
            for _ in range(steps):
                trainer.step(batches[layout])
            _sync(dev)
            rates[norm, layout].append(steps * batch_size / (time.perf_counter() - start))
    return {v: sorted(r)[len(r) // 2] for v, r in rates.items()}
