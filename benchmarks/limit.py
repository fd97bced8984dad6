"""``python scripts/bench.py limit``: how close the training step runs to what the device can
do, in fp32 and in bf16, and what ``auto`` precision measures here.

For each precision: the rate of a large 3x3 convolution's forward and backward on the same
device, in the same precision and memory layout (:func:`conv_rate`), the step's floating-point
operations (:func:`step_flops`, counted by ``torch.utils.flop_counter``: convolutions and
matrix products, forward and backward), its time (median of interleaved rounds,
:func:`~benchmarks.setups.step_throughput`) and the step's FLOP rate as a share of the
convolution rate. On a CPU without fast bf16 the fp32 convolution rate is the limit of a step.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import replace

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.setups import FAST, random_batches, setup_for, step_throughput, timed_trainer
from benchmarks.timing import device_of, machine, sync
from zoo.training import GANTrainer
from zoo.training.fastpath import autocast
from zoo.training.precision import measure_bf16_speedup

__all__ = ["bench_limit", "conv_rate", "step_flops"]


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
        sync(device)
        start = time.perf_counter()
        once()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return flops / best


def bench_limit(args: argparse.Namespace) -> int:
    """Print the roofline table of one architecture's default-layout training step."""
    device = device_of(args)
    dev, layout = torch.device(device), torch.channels_last
    setup = setup_for(args.arch, args.norm, args.width, args.batch_size)
    variants = {p: (setup, replace(FAST, precision=p)) for p in ("no", "bf16")}  # layout, Adam
    print(
        f"limit: {machine(device)}; {setup.name}, batch {args.batch_size}, channels_last, "
        f"fused Adam; {args.rounds} interleaved rounds of {args.steps} G steps"
    )
    print(f"auto's probe here: bf16 at {measure_bf16_speedup(dev, layout):.2f}x the fp32 rate")
    rates = step_throughput(variants, args.steps, args.rounds, args.warmup, device)
    print("| precision | 3x3 conv GFLOP/s | step GFLOP | s/step | step GFLOP/s | share of conv |")
    print("| --- | --- | --- | --- | --- | --- |")
    for precision, (_, variant) in variants.items():
        trainer = timed_trainer(Accelerator(cpu=device == "cpu"), setup, variant)
        flops = step_flops(trainer, random_batches(trainer, setup, variant))
        peak = conv_rate(dev, precision, layout, args.conv_channels, batch=args.conv_batch)
        seconds = args.batch_size / rates[precision]
        name = "fp32" if precision == "no" else "bf16"
        print(
            f"| {name} | {peak / 1e9:.3g} | {flops / 1e9:.3g} | {seconds:.3g} | "
            f"{flops / seconds / 1e9:.3g} | {flops / seconds / peak:.0%} |"
        )
    return 0
