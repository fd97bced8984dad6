"""``python scripts/bench.py limit``: how close the training step runs to the machine's
convolution rate, in fp32 and in bf16, and what ``auto`` precision measures here.

For each precision: the 3x3 convolution rate (forward and backward, :func:`zoo.roofline.
conv_rate`), the step's FLOPs (:func:`zoo.roofline.step_flops`), its time (median of
interleaved rounds, :func:`zoo.benchmark.step_throughput`) and the step's FLOP rate as a share
of the convolution rate. Where bf16 is slow, the fp32 convolution rate is the limit.
"""

from __future__ import annotations

import argparse

import torch
from accelerate import Accelerator

__all__ = ["add_limit_parser", "bench_limit"]


def bench_limit(args: argparse.Namespace) -> int:
    """Print the roofline table of one architecture's default-layout training step."""
    from zoo.benchmark import (
        Variant,
        _random_batches,
        _trainer,
        machine,
        setup_for,
        step_throughput,
    )
    from zoo.roofline import conv_rate, step_flops
    from zoo.training.precision import measure_bf16_speedup

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev, layout = torch.device(device), torch.channels_last
    setup = setup_for(args.arch, args.norm, args.width, args.batch_size)
    variants = {p: (setup, Variant(p, True, True)) for p in ("no", "bf16")}
    print(
        f"limit: {machine(device)}; {setup.name}, batch {args.batch_size}, channels_last, "
        f"fused Adam; {args.rounds} interleaved rounds of {args.steps} G steps"
    )
    print(f"auto's probe here: bf16 at {measure_bf16_speedup(dev, layout):.2f}x the fp32 rate")
    rates = step_throughput(variants, args.steps, args.rounds, args.warmup, device)
    print("| precision | 3x3 conv GFLOP/s | step GFLOP | s/step | step GFLOP/s | share of conv |")
    print("| --- | --- | --- | --- | --- | --- |")
    for precision, (_, variant) in variants.items():
        trainer = _trainer(Accelerator(cpu=device == "cpu"), setup, variant)
        flops = step_flops(trainer, _random_batches(trainer, setup, variant))
        peak = conv_rate(dev, precision, layout, args.conv_channels, batch=args.conv_batch)
        seconds = args.batch_size / rates[precision]
        name = "fp32" if precision == "no" else "bf16"
        print(
            f"| {name} | {peak / 1e9:.3g} | {flops / 1e9:.3g} | {seconds:.3g} | "
            f"{flops / seconds / 1e9:.3g} | {flops / seconds / peak:.0%} |"
        )
    return 0


def add_limit_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "limit",
        help="the step's FLOP rate against the machine's convolution rate, fp32 and bf16",
        description="How close the training step (fast default layout) runs to the rate of "
        "a 3x3 convolution's forward and backward on this device, in fp32 and in bf16.",
    )
    parser.add_argument("--arch", default="resnet32")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper)")
    parser.add_argument("--norm", default="sbn", help="generator norm (default sbn)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--steps", type=int, default=2, help="timed G steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per precision")
    parser.add_argument("--warmup", type=int, default=1, help="untimed G steps first")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--conv-channels", type=int, default=256, help="the reference conv's C")
    parser.add_argument("--conv-batch", type=int, default=64, help="the reference conv's batch")
    parser.set_defaults(func=bench_limit)
