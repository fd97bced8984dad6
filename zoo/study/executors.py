"""How a study trains one run: the train command, ``zoo.cli.train --gin ... --bind ...
--output RUN``, in a process of its own (``python -m zoo.cli.train`` or ``accelerate launch -m
zoo.cli.train``) or in this process (tests, debugging); either way its output is appended to
``RUN/train.log`` and the trainer keeps the run's record (:mod:`zoo.training.record`). A
training process runs in its own session: the study forwards SIGINT / SIGTERM to it
(:meth:`SubprocessExecutor.forward`), and it stops with a checkpoint (exit 130 / 143)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from zoo.study.grid import Run

__all__ = ["LAUNCHERS", "LOG_FILE", "Executor", "InProcessExecutor", "SubprocessExecutor",
           "log_tail", "make_executor", "train_arguments"]  # fmt: skip

TRAIN_MODULE = "zoo.cli.train"
"""What a run's process runs: ``python -m zoo.cli.train`` (``scripts/train.py``)."""
LOG_FILE = "train.log"
LAUNCHERS = ("python", "accelerate", "inprocess")
ACCELERATE_CLI = "accelerate.commands.accelerate_cli"

Executor = Callable[[Run, Path], int]
"""Runs the train command of a run into its folder; its exit code (0: the run finished)."""


def train_arguments(run: Run, run_dir: Path) -> list[str]:
    """The train command's arguments that train ``run`` into ``run_dir``."""
    args = [a for f in run.resolved for a in ("--gin", f)]
    args += [a for b in run.bindings for a in ("--bind", b)]
    return [*args, "--output", str(run_dir)]


def log_tail(run_dir: Path, lines: int = 5) -> str:
    """The last ``lines`` the trainings wrote to ``RUN/train.log`` (not the commands)."""
    log = run_dir / LOG_FILE
    text = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    return "\n".join([line for line in text if line[:2] != "$ "][-lines:])


class SubprocessExecutor:
    """One training process per run (``python -m zoo.cli.train``).

    ``threads`` sets ``OMP_NUM_THREADS`` (and MKL's) of the training processes, e.g. the CPU
    cores divided by the number of runs trained at once; ``None`` leaves the environment as is.
    """

    def __init__(
        self,
        launcher: str = "python",
        launcher_args: Sequence[str] = (),
        threads: int | None = None,
    ) -> None:
        if launcher not in ("python", "accelerate"):
            raise ValueError(f"launcher must be 'python' or 'accelerate', got {launcher!r}")
        self.launcher, self.launcher_args, self.threads = launcher, list(launcher_args), threads
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def environment(self) -> dict[str, str]:
        """The training processes' environment."""
        env = dict(os.environ)
        if self.threads is not None:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
        return env

    def command(self, run: Run, run_dir: Path) -> list[str]:
        """The command line that trains ``run`` into ``run_dir``."""
        if self.launcher == "python":
            head = [sys.executable, *self.launcher_args, "-m", TRAIN_MODULE]
        else:
            accelerate = shutil.which("accelerate")
            launch = [accelerate] if accelerate else [sys.executable, "-m", ACCELERATE_CLI]
            head = [*launch, "launch", *self.launcher_args, "-m", TRAIN_MODULE]
        return [*head, *train_arguments(run, run_dir)]

    def __call__(self, run: Run, run_dir: Path) -> int:
        """Train in a session of its own (a terminal's Ctrl-C reaches it only through
        :meth:`forward`) until it exits; its exit code."""
        command = self.command(run, run_dir)
        with open(run_dir / LOG_FILE, "a") as log:
            log.write(f"\n$ {subprocess.list2cmdline(command)}\n")
            log.flush()
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       env=self.environment(), start_new_session=True)  # fmt: skip
            with self._lock:
                self._running.add(process)
            try:
                return process.wait()
            finally:
                with self._lock:
                    self._running.discard(process)

    def forward(self, signum: int) -> None:
        """Send ``signum`` to every running training (its whole process group: a launcher and
        its ranks); a training stops at its next step with a checkpoint (SIGINT, SIGTERM)."""
        with self._lock:
            running = list(self._running)
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)


class InProcessExecutor:
    """The train command in this process (:func:`zoo.cli.train.main`), its output in the log;
    a signal reaches its training directly."""

    def __call__(self, run: Run, run_dir: Path) -> int:
        from zoo.cli.train import main

        args = train_arguments(run, run_dir)
        with open(run_dir / LOG_FILE, "a") as log:
            log.write(f"\n$ {TRAIN_MODULE} {subprocess.list2cmdline(args)}  (in process)\n")
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                return main(args)


def make_executor(
    launcher: str = "python", launcher_args: Sequence[str] = (), threads: int | None = None
) -> Executor:
    """The executor for a ``--launcher`` name (see :data:`LAUNCHERS`)."""
    if launcher == "inprocess":
        return InProcessExecutor()
    return SubprocessExecutor(launcher, launcher_args, threads)
