"""The training-step subcommands: images/s of G steps (each with its D steps) under variants
of the fast path, measured in interleaved rounds in one process.

* ``step``: the user's own set-up (a gin file), fast default against fp32 contiguous;
* ``variants``: each part of the fast path on its own;
* ``widths``: a table over architectures and widths;
* ``train``: BN against sBN.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from benchmarks.setups import (
    FAST,
    FP32_CONTIGUOUS,
    Setup,
    Variant,
    setup_for,
    setup_from_gin,
    step_throughput,
    with_norm,
)
from benchmarks.timing import device_of, print_header

__all__ = ["bench_step", "bench_train", "bench_variants", "bench_widths"]


def _rates(args: argparse.Namespace, runs: dict[str, tuple[Setup, Variant]]) -> dict[str, float]:
    return step_throughput(runs, args.steps, args.rounds, args.warmup, device_of(args))


def _measure(args: argparse.Namespace, arch: str, width: float, variants: dict) -> tuple:
    """The set-up of ``arch`` at ``width`` and its images/s under each of ``variants``."""
    setup = setup_for(arch, args.norm, width, args.batch_size)
    return setup, _rates(args, {name: (setup, v) for name, v in variants.items()})


def bench_step(args: argparse.Namespace) -> int:
    """The user's own set-up (a gin file): the fast default against fp32 contiguous."""
    setup = setup_from_gin(args.gin, args.bind)
    device = torch.device(device_of(args))
    print_header(args, f"step {setup.name}")
    runs = {"fp32 contiguous": (setup, FP32_CONTIGUOUS), "fast default": (setup, FAST)}
    rates = _rates(args, runs)
    for name, (_, variant) in runs.items():
        rate = rates[name]
        print(
            f"  {name:16s} {rate:8.1f} img/s  {rate / setup.batch_size:7.2f} G-steps/s  "
            f"({variant.describe(device)})"
        )
    print(f"  speed-up {rates['fast default'] / rates['fp32 contiguous']:.2f}x")
    return 0


def bench_variants(args: argparse.Namespace) -> int:
    """Each part of the fast path on its own, against fp32 contiguous (and compiled)."""
    variants = {
        "fp32 contiguous": FP32_CONTIGUOUS,
        "+ channels_last": Variant("no", True, False),
        "+ fused Adam": Variant("no", False, True),
        "bf16 autocast": Variant("bf16", False, False),
        "bf16 + channels_last": Variant("bf16", True, False),
        "fast default": FAST,
    }
    if args.compile:
        variants["fast + compile"] = replace(FAST, compile=True)
    device = torch.device(device_of(args))
    print_header(args, f"variants batch {args.batch_size}")
    for arch in args.arch:
        setup, rates = _measure(args, arch, args.width, variants)
        print(f"{setup.name}:")
        for name, variant in variants.items():
            ratio = rates[name] / rates["fp32 contiguous"]
            kind = variant.describe(device)
            print(f"  {name:22s} {rates[name]:8.1f} img/s  {ratio:5.2f}x  ({kind})")
    return 0


def bench_widths(args: argparse.Namespace) -> int:
    """Images/s at several widths, fast default and fp32 contiguous."""
    print_header(args, f"widths batch {args.batch_size}, {args.norm}")
    print("| model | width | fp32 contiguous img/s | fast default img/s | speed-up |")
    print("| --- | --- | --- | --- | --- |")
    for arch in args.arch:
        for width in args.widths:
            _, rates = _measure(args, arch, width, {"fp32": FP32_CONTIGUOUS, "fast": FAST})
            fp32, fast = rates["fp32"], rates["fast"]
            print(f"| {arch} | {width} | {fp32:.1f} | {fast:.1f} | {fast / fp32:.2f}x |")
    return 0


def bench_train(args: argparse.Namespace) -> int:
    """BN against sBN training throughput (images/s of G steps), interleaved in one process."""
    print_header(args, f"bn vs sbn, fast default, batch {args.batch_size}, width {args.width}")
    for arch in args.arch:
        setup = setup_for(arch, "sbn", args.width, args.batch_size)
        rates = _rates(args, {norm: (with_norm(setup, norm), FAST) for norm in ("bn", "sbn")})
        print(
            f"{arch:10s} bn {rates['bn']:8.1f} img/s   sbn {rates['sbn']:8.1f} img/s   "
            f"sBN time overhead {rates['bn'] / rates['sbn'] - 1:+.1%}"
        )
    return 0
