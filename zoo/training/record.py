"""The run's record, ``RUN/status.json``: how far the run got and how it ended, written by the
trainer into its run folder, so that a person, a study (:mod:`zoo.study`) or a script reads
a run's state from one small file::

    {"status": "running", "step": 1200, "steps": 3000, "elapsed_s": 1834.25,
     "precision": "no", "error": null, "started": "...", "updated": "...",
     "sessions": [{"code": "<git commit>[+dirty]", "host": "...", "cpu": "...",
                   "command": "python scripts/train.py --gin ...", "started": "...",
                   "device": "cpu", "precision": "no", "from_step": 0}]}

``status`` is ``running`` while the trainer runs; ``finished`` once ``final/`` is written (a
run ended early by ``train.plateau_stop`` also has ``"plateau": {"step": ..., "best_step":
...}``, ``step`` being where it ended);
``failed`` with the error on one line (a diverged GAN, :class:`~zoo.training.hooks.
TrainingDiverged`, or another error the process can still write after); ``stopped`` after a
SIGINT / SIGTERM (:class:`~zoo.training.stopping.TrainingStopped`, or a second signal). A
process killed outright (kill -9, a lost machine) leaves ``running``. ``elapsed_s`` is the
wall time of every session together (each resume adds one to ``sessions``, with the code
version it ran, its process's command line, ``sys.orig_argv`` with this interpreter written
``python`` (under ``accelerate launch``, the command accelerate started), and its resolved
precision); the main process writes
the file atomically (:func:`zoo.writing.atomic_path`) when a session starts, at every step that
logs, samples, evaluates or checkpoints, and at the end, so a kill loses at most the time since
then.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from zoo.errors import one_line
from zoo.training.precision import cpu_name
from zoo.training.stopping import TrainingStopped
from zoo.writing import atomic_path

__all__ = ["STATUSES", "STATUS_FILE", "RunRecord", "code_version", "read_record"]

STATUS_FILE = "status.json"
STATUSES = ("running", "finished", "failed", "stopped")


def read_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's record (``RUN/status.json``), None when the trainer has not written one."""
    try:
        return json.loads((Path(run_dir) / STATUS_FILE).read_text())
    except FileNotFoundError:
        return None


def code_version() -> str:
    """The git commit of this checkout (``+dirty`` with uncommitted changes to ``registry``,
    ``zoo`` or ``scripts``), or ``unknown`` outside a git checkout."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        except OSError:  # no git
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "registry", "zoo", "scripts")
    return commit + ("+dirty" if dirty else "")


def _portable(argv: list[str]) -> list[str]:
    """The command line with this interpreter's path written ``python`` (rerunnable elsewhere)."""
    if argv and Path(argv[0]).resolve() == Path(sys.executable).resolve():
        return ["python", *argv[1:]]
    return argv


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


class RunRecord:
    """The record of one training session, as a context manager around it: entering marks the
    run ``running`` and opens a session; leaving marks it ``finished``, ``failed`` or
    ``stopped`` by how the body ended. Only ``writes=True`` (the main process) writes."""

    def __init__(self, output_dir: str | Path, steps: int, writes: bool = True) -> None:
        self.path, self.writes = Path(output_dir) / STATUS_FILE, writes
        self.record = read_record(output_dir) if writes else None
        self.record = self.record or {"step": 0, "elapsed_s": 0.0, "sessions": []}
        self.record.update(status="running", steps=steps, error=None)
        self.record.pop("plateau", None)
        self.record.setdefault("started", _now())
        self.before, self.clock = self.record["elapsed_s"], time.perf_counter()

    def __enter__(self) -> RunRecord:
        session = {"code": code_version() if self.writes else None, "host": socket.gethostname()}
        command = shlex.join(_portable(sys.orig_argv))
        self.record["sessions"].append(
            {**session, "cpu": cpu_name(), "command": command, "started": _now()}
        )
        self._write()
        return self

    def begin(self, step: int, precision: str, device: torch.device) -> None:
        """The session trains from ``step`` in ``precision`` (``"bf16"`` or ``"no"``) on
        ``device``."""
        self.record["precision"] = precision
        session = {"device": _device_name(device), "precision": precision, "from_step": step}
        self.record["sessions"][-1].update(session)
        self.update(step)

    def update(self, step: int) -> None:
        """The run has done ``step`` steps: write it with the wall time so far."""
        self.record["step"] = step
        self._write()

    def plateau(self, step: int, best_step: int) -> None:
        """The run ends at ``step``, before ``steps``: its evaluations have not improved since
        ``best_step`` (``train.plateau_stop``)."""
        self.record["plateau"] = {"step": step, "best_step": best_step}
        self.update(step)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType
    ) -> None:
        if error is None:
            end = self.record.get("plateau", {}).get("step", self.record["steps"])
            self.record.update(status="finished", step=end)
            self._write()  # a failure to write it is the run's error
            return
        if isinstance(error, TrainingStopped | KeyboardInterrupt):
            self.record.update(status="stopped", step=getattr(error, "step", self.record["step"]))
        elif isinstance(error, Exception):
            self.record.update(status="failed", error=f"{type(error).__name__}: {one_line(error)}")
        with contextlib.suppress(OSError):  # the error that ended the run goes on
            self._write()

    def _write(self) -> None:
        if not self.writes:
            return
        elapsed = self.before + time.perf_counter() - self.clock
        self.record.update(elapsed_s=round(elapsed, 2), updated=_now())
        with atomic_path(self.path) as partial:
            partial.write_text(json.dumps(self.record, indent=2))
