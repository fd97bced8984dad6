"""How figures are taken: interleaved rounds in one process (so that ratios are fair on a
busy machine), the device synchronized around each timed run, and the machine they were taken
on, for the record next to them."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch

from zoo.training.precision import cpu_name

__all__ = ["device_of", "interleaved_seconds", "machine", "print_header", "sync"]


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a CUDA device runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_seconds(
    calls: dict[str, Callable[[], object]],
    steps: int,
    rounds: int,
    warmup: int,
    device: torch.device,
) -> dict[str, list[float]]:
    """Seconds per call of each named callable, one figure per round: ``warmup`` untimed
    calls of each, then ``rounds`` rounds in which each runs ``steps`` times in turn, the
    device synchronized before and after each timed run."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                call()
            sync(device)
            seconds[name].append((time.perf_counter() - start) / steps)
    return seconds


def machine(device: str) -> str:
    """The machine the figures were taken on: the GPU's name, or the CPU's with its family,
    kernels, cores and threads; and torch's version."""
    if device == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = cpu_name()
        name += f", {torch.backends.cpu.get_cpu_capability()} kernels"
        name += f", {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    return f"{name}; torch {torch.__version__}"


def device_of(args: argparse.Namespace) -> str:
    """``--device``, else CUDA where there is one; sets ``--threads`` first."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def print_header(args: argparse.Namespace, what: str) -> None:
    """The first line: what is timed, the machine, and the timing plan."""
    print(
        f"{what}: {machine(device_of(args))}; {args.rounds} interleaved rounds of {args.steps} "
        f"G steps after {args.warmup} warm-up steps; images/s of G steps (D steps included)"
    )
