"""How a study trains one run: in its own process (``python -m zoo.cli.train`` or
``accelerate launch -m zoo.cli.train``, output appended to ``RUN/train.log``), or in this
process (tests, debugging). An executor trains a run into its folder, resuming from the run's
checkpoints, and says how it ended. A training process runs in its own session: the study
forwards SIGINT / SIGTERM to it (:meth:`SubprocessExecutor.forward`), and it stops with a
checkpoint (exit 130 / 143)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from zoo.study.grid import Run

__all__ = [
    "LAUNCHERS",
    "LOG_FILE",
    "TRAIN_MODULE",
    "Executor",
    "InProcessExecutor",
    "Outcome",
    "SubprocessExecutor",
    "make_executor",
]

TRAIN_MODULE = "zoo.cli.train"
"""What a run's process runs: ``python -m zoo.cli.train`` (``scripts/train.py``)."""
LOG_FILE = "train.log"
LAUNCHERS = ("python", "accelerate", "inprocess")
ACCELERATE_CLI = "accelerate.commands.accelerate_cli"


@dataclass(frozen=True)
class Outcome:
    """How one training session ended: the return code (0 = finished) and an error text."""

    returncode: int
    error: str | None = None


Executor = Callable[[Run, Path], Outcome]
"""Trains one run into a folder (resuming from its checkpoints) and says how it ended."""


class SubprocessExecutor:
    """One training process per run (``python -m zoo.cli.train``); its output is appended to
    ``RUN/train.log``.

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
        args = [a for f in run.resolved for a in ("--gin", f)]
        args += [a for b in run.bindings for a in ("--bind", b)]
        return [*head, *args, "--output", str(run_dir)]

    def __call__(self, run: Run, run_dir: Path) -> Outcome:
        command = self.command(run, run_dir)
        with open(run_dir / LOG_FILE, "a") as log:
            log.write(f"\n$ {subprocess.list2cmdline(command)}\n")
            log.flush()
            returncode = self._wait(command, log)
        if returncode == 0:
            return Outcome(0)
        lines = (run_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()
        tail = [line for line in lines if not line.startswith("$ ")][-5:]
        return Outcome(returncode, "\n".join(tail))

    def _wait(self, command: list[str], log: IO[str]) -> int:
        """Run ``command`` in its own session (a terminal's Ctrl-C reaches it only through
        :meth:`forward`) until it exits; its return code."""
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
    """:func:`zoo.parse` + :func:`zoo.training.train` in this process (no log file)."""

    def __call__(self, run: Run, run_dir: Path) -> Outcome:
        import zoo
        from zoo.training import TrainingDiverged, TrainingStopped, train

        try:
            config = zoo.parse(
                run.resolved, [*run.bindings, f"train.output_dir = {str(run_dir)!r}"]
            )
            train(gin_config=config)
        except TrainingStopped as stopped:
            return Outcome(stopped.exit_code, str(stopped))
        except (zoo.ConfigError, FileNotFoundError, TrainingDiverged) as error:
            return Outcome(1, f"{type(error).__name__}: {error}")
        return Outcome(0)

    def forward(self, signum: int) -> None:
        """Nothing to forward: the training in this process handles the signal itself."""


def make_executor(
    launcher: str = "python", launcher_args: Sequence[str] = (), threads: int | None = None
) -> Executor:
    """The executor for a ``--launcher`` name (see :data:`LAUNCHERS`)."""
    if launcher == "inprocess":
        return InProcessExecutor()
    return SubprocessExecutor(launcher, launcher_args, threads)
