"""Helpers for tests that train a tiny run through ``python -m zoo.cli.train`` (in a process of
its own, to be signalled or locked against) or through :func:`zoo.cli.train.main` in this one,
and a one-run study of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from zoo.cli.train import main

ROOT = Path(__file__).resolve().parents[1]


def train_args(out: Path, steps: int, *extra: str) -> list[str]:
    """CLI arguments of a tiny SNDCGAN run on synthetic images, a checkpoint every 2 steps."""
    bindings = [
        "train.dataset = @dataset.synthetic",
        "dataset.synthetic.num_samples = 32",
        "generator.sndcgan32.width = 0.0625",
        "discriminator.sndcgan32.width = 0.0625",
        "train.batch_size = 8",
        "train.checkpoint_every = 2",
        "train.eval_metrics = []",
        "train.tracker = None",
        "train.progress = False",
        f"train.steps = {steps}",
        *extra,
    ]
    return [a for b in bindings for a in ("--bind", b)] + ["--output", str(out)]


def tiny_study(folder: Path, steps: int) -> Path:
    """A study gin file of one run: the tiny run of :func:`train_args` with BN."""
    bindings = train_args(folder, steps)[1:-2:2]  # the --bind values, not --output
    path = folder / "tiny_study.gin"
    path.write_text(
        'study.grid.name = "tiny"\nstudy.grid.base = ["quickstart.gin"]\n'
        'study.grid.axes = {"norm": {"bn": "norms/bn.gin"}}\nstudy.grid.seeds = [0]\n'
        f"study.grid.bindings = {bindings!r}\n"
    )
    return path


def start_training(out: Path, steps: int = 100_000, *extra: str) -> subprocess.Popen:
    """The run in its own process (one thread, as :func:`train_here`)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "zoo.cli.train", *train_args(out, steps, *extra)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 180.0) -> None:
    """Wait until ``path`` exists; fail with the process's output if it ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the training ended ({process.returncode}) first:\n{out}{err}")
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.05)


def train_here(out: Path, steps: int, *extra: str) -> int:
    """:func:`zoo.cli.train.main` in this process, on one thread; its exit code."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main(train_args(out, steps, *extra))
    finally:
        torch.set_num_threads(threads)
