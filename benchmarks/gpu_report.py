"""The report of the GPU acceptance check (:mod:`benchmarks.gpu`): what the figures were
taken on and with, and ``results/gpu/<device>.md`` rendered from the records (pure)."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from benchmarks.gpu_measure import DataRecord, StepRecord
from benchmarks.gpu_tests import ROOT, PytestOutcome
from benchmarks.timing import machine

__all__ = [
    "Environment",
    "command_line",
    "environment",
    "render_report",
    "render_tables",
    "report_path",
]


@dataclass(frozen=True)
class Environment:
    """What the figures were taken on and with."""

    device: str
    capability: str
    torch: str
    cuda: str
    cudnn: str
    flags: str  # TF32 and cuDNN settings in force
    commit: str
    date: str
    command: str
    wall_s: float = 0.0


def _rate(record: StepRecord, precision: str) -> str:
    rate = record.rates.get(precision)
    if rate is None:
        return "-"
    return f"{rate:.2f} ({rate * record.batch_size:.0f} img/s)"


def render_tables(steps: list[StepRecord], data: list[DataRecord]) -> str:
    """The two markdown tables: G-steps/s per model and precision, images/s per data path."""
    lines = [
        "| model (gin config) | batch | disc_iters | G / D params | fp32 G-steps/s "
        "| bf16 G-steps/s | bf16 speed-up | timed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in steps:
        fp32, bf16 = r.rates.get("fp32"), r.rates.get("bf16")
        ratio = f"{bf16 / fp32:.2f}x" if fp32 and bf16 else "-"
        timed = f"{r.rounds} x {r.timed_steps} steps" if r.rates else f"failed: {r.error}"
        lines.append(
            f"| {r.model} (`{r.config}`) | {r.batch_size} | {r.disc_iters} | "
            f"{r.g_params_m:.1f}M / {r.d_params_m:.1f}M | {_rate(r, 'fp32')} | "
            f"{_rate(r, 'bf16')} | {ratio} | {timed} |"
        )
    lines += [
        "",
        "| data path | resolution | batch | images/s | batches timed | set-up s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in data:
        rate = f"{r.images_per_s:,.0f}" if r.error is None else f"failed: {r.error}"
        lines.append(
            f"| {r.source}, {r.reading} | {r.resolution} | {r.batch_size} | {rate} | "
            f"{r.batches} | {r.setup_s:.2f} |"
        )
    return "\n".join(lines)


def render_report(
    env: Environment, tests: PytestOutcome | None, steps: list[StepRecord], data: list[DataRecord]
) -> str:
    """The whole ``results/gpu/<device>.md``: the machine, versions, commit, date, command,
    the pytest summary and the tables."""
    if tests is None:
        outcome = "not run (`--skip-tests`)"
    else:
        outcome = f"{'passed' if tests.ok else 'FAILED'}: `{tests.summary}` ({tests.seconds:.0f} s)"
    lines = [
        f"# GPU acceptance: {env.device}",
        "",
        f"- device: {env.device}, compute capability {env.capability}",
        f"- torch {env.torch}, CUDA {env.cuda}, cuDNN {env.cudnn}; {env.flags}",
        f"- commit: {env.commit}",
        f"- date: {env.date}",
        f"- command: `{env.command}` ({env.wall_s:.0f} s in all)",
        f"- CUDA tests (`pytest -m cuda -q`): {outcome}",
        *(f"  - {failure}" for failure in (tests.failures if tests else ())),
        "",
        "G-steps/s: generator steps per second, each with its disc_iters D steps (a batch "
        "of real and as many fake images per D step), median of interleaved rounds after warm-up "
        "steps, CUDA synchronized around each round; both precisions with channels_last and "
        "fused Adam (the trainer's defaults), bf16 as autocast of the forward passes ('-' "
        "on a GPU without bf16 units). "
        "Images/s of the data path: batches of the trainer's real-batch path "
        "(`zoo/training/data.py`, `real_batches`) on the GPU in channels_last.",
        "",
        render_tables(steps, data),
        "",
    ]
    return "\n".join(lines)


def report_path(out: str | Path, device: str) -> Path:
    """``out/<device name with anything but letters, digits, '.', '-' as '_'>.md``."""
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", device).strip("_.") or "gpu"
    return Path(out) / f"{name}.md"


def command_line(args: argparse.Namespace) -> str:
    """The command with every option spelled out (what reruns this measurement)."""
    words = ["python", "scripts/bench.py", "gpu", "--out", str(args.out)]
    for name in ("steps", "rounds", "warmup", "cell_seconds", "batch_size", "test_timeout"):
        words += [f"--{name.replace('_', '-')}", f"{getattr(args, name):g}"]
    if args.skip_tests:
        words.append("--skip-tests")
    return shlex.join(words)


def _git(*words: str) -> str:
    try:
        done = subprocess.run(
            ["git", *words], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def environment(args: argparse.Namespace, device: str) -> Environment:
    """The device, versions and flags in force, commit (noting local changes), date."""
    commit = _git("rev-parse", "HEAD") or "unknown (not a git checkout)"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    if device == "cuda":
        name, capability = torch.cuda.get_device_name(), torch.cuda.get_device_capability()
        capability = f"{capability[0]}.{capability[1]}"
    else:
        name, capability = machine(device).split(";")[0], "- (not a GPU)"
    flags = (
        f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
        f"cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}, "
        f"cudnn.benchmark={torch.backends.cudnn.benchmark}"
    )
    return Environment(
        name,
        capability,
        torch.__version__,
        str(torch.version.cuda),
        str(torch.backends.cudnn.version()),
        flags,
        commit,
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command_line(args),
    )
