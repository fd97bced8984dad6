"""How close a training step runs to what the device can do: the step's floating-point
operations (counted by ``torch.utils.flop_counter``: convolutions and matrix products, forward
and backward) over its measured time, against the rate of a large 3x3 convolution's forward
and backward on the same device, in the same precision and memory layout. On a CPU without
fast bf16 that convolution rate is the limit of an fp32 step (``python scripts/bench.py
limit``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from zoo.training import GANTrainer
from zoo.training.fastpath import autocast

__all__ = ["conv_rate", "step_flops"]


def step_flops(trainer: GANTrainer, batches: Iterator) -> int:
    """Floating-point operations of one ``trainer.step`` (its D steps and its G step)."""
    with FlopCounterMode(display=False) as counter:
        trainer.step(batches)
    return counter.get_total_flops()


def conv_rate(
    device: torch.device,
    precision: str = "no",
    layout: torch.memory_format = torch.channels_last,
    channels: int = 256,
    size: int = 16,
    batch: int = 64,
    repeats: int = 3,
) -> float:
    """FLOP/s of a ``channels``-to-``channels`` 3x3 convolution on ``batch`` x ``size`` x
    ``size`` inputs, forward and backward (the bulk of a GAN step's work), fastest of
    ``repeats`` after one warm-up."""
    conv = nn.Conv2d(channels, channels, 3, padding=1).to(device=device, memory_format=layout)
    x = torch.randn(batch, channels, size, size, device=device).contiguous(memory_format=layout)
    x.requires_grad_()

    def once() -> None:
        with autocast(device, precision):
            out = conv(x)
        out.backward(torch.ones_like(out))

    with FlopCounterMode(display=False) as counter:
        once()
    flops, best = counter.get_total_flops(), float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        once()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return flops / best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
