"""Run a study's grid (Section 3.2): for each run not finished, the train command into
``OUTPUT/runs/<id>`` (:mod:`~zoo.study.executors`: a process of its own per run, one after the
other or ``jobs`` at a time), then the results collected from the run folders
(:mod:`~zoo.study.results`). Which runs, checked how and in which precision:
:mod:`~zoo.study.plan`.

The trainer guarantees the rest, run by run: it keeps the run's record (``RUN/status.json``:
status, steps, wall time, code version, precision; :mod:`zoo.training.record`), resumes an
unfinished run from its newest checkpoint, refuses a folder with another config and lets one
process write a folder. A run whose record says ``finished`` is done and skipped, ``failed``
(e.g. a diverged GAN) is skipped unless ``retry_failed``, any other is resumed. A training
stopped by a signal stops the study and stays unfinished; one that exits before its record
starts (a locked folder, missing data) stops the study with the trainer's error.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.folder_lock import FolderLock
from zoo.study.executors import Executor, InProcessExecutor, SubprocessExecutor, log_tail
from zoo.study.grid import Grid, Run
from zoo.study.plan import StudyError, checkpoint_step, list_runs, plan
from zoo.study.results import (
    CURVES_FILE,
    RESULTS_FILE,
    RUNS_DIR,
    STUDY_FILE,
    collect,
    run_state,
    write_tables,
)
from zoo.training.record import read_record
from zoo.training.stopping import GracefulStop, signal_name
from zoo.writing import atomic_path

__all__ = ["StudyError", "run_study"]

STOPPED_CODES = (128 + signal.SIGINT, 128 + signal.SIGTERM)  # a training that saved and stopped
STUDY_NOTICE = (
    "{signal}: the running trainings save a checkpoint and stop; no new run starts "
    "({signal} again stops them at once)."
)


def run_study(
    grid: Grid,
    output: str | Path,
    executor: Executor | None = None,
    *,
    jobs: int = 1,
    only: Mapping[str, Sequence[str]] | None = None,
    retry_failed: bool = False,
    auto_precision: str | None = None,
    dry_run: bool = False,
    echo: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """Train every run of ``grid`` not yet finished in ``output``, then write
    ``output/results.csv`` and ``curves.csv`` (:func:`zoo.study.results.write_tables`) and
    return the results.

    ``jobs`` trains that many runs at once (in grid order); a stopped one stops the others from
    starting, and those already running finish. ``only`` (:func:`~zoo.study.plan.select`)
    trains a part of the grid, e.g. ``{"reg": ["gp10"], "seed": ["1", "2"]}``; the rest is
    left for later. ``auto_precision`` is what ``train.mixed_precision = "auto"`` means for
    the study (:func:`~zoo.study.plan.study_precision`). ``dry_run`` lists the runs, their
    state and commands without training or writing.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs > 1 and isinstance(executor, InProcessExecutor):
        raise ValueError("the inprocess launcher trains one run at a time (gin is global): jobs=1")
    output, echo = Path(output), echo or functools.partial(print, flush=True)
    executor = executor if executor is not None else SubprocessExecutor()
    auto, runs = plan(grid, output, only or {}, auto_precision, echo)
    if dry_run:
        list_runs(runs, output, executor, echo)
        return collect(output) if (output / RUNS_DIR).is_dir() else pd.DataFrame()
    forward = getattr(executor, "forward", None)
    with FolderLock(output, "study"), GracefulStop(STUDY_NOTICE, forward) as stop:
        rows = [run.row() for run in grid.expand()]
        with atomic_path(output / STUDY_FILE) as path:
            summary = {**grid.summary(), "auto_precision": auto, "rows": rows}
            path.write_text(json.dumps(summary, indent=2))
        _Session(output, executor, retry_failed, echo, stop, len(runs)).run_all(runs, jobs)
        table = write_tables(output)
    echo(f"results: {output / RESULTS_FILE} ({len(table)} runs), curves: {output / CURVES_FILE}")
    return table


@dataclasses.dataclass
class _Session:
    """One ``study.py run``: trains the runs that are not finished, until ``stop`` is asked or
    a run raised (``halted``)."""

    output: Path
    executor: Executor
    retry_failed: bool
    echo: Callable[[str], Any]
    stop: GracefulStop
    total: int
    halted: bool = False
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    """results.csv and the echo are shared by the runs trained at once"""

    def run_all(self, runs: Sequence[Run], jobs: int) -> None:
        """Every run, ``jobs`` at a time; the first error (in grid order) is raised after the
        runs already started have ended (none is started after it)."""
        if jobs == 1:
            for index, run in enumerate(runs, 1):
                self.train(index, run)
            return
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="study") as pool:
            futures = [pool.submit(self.train, index, run) for index, run in enumerate(runs, 1)]
        for future in futures:
            future.result()

    def train(self, index: int, run: Run) -> None:
        if self.stop.signum or self.halted:
            return  # stopping: no new run starts
        try:
            self._train(f"[{index}/{self.total}] {run.id}", run, self.output / RUNS_DIR / run.id)
        except BaseException:
            self.halted = True
            raise

    def _train(self, prefix: str, run: Run, run_dir: Path) -> None:
        """One session of ``run``, or none if it is done (or failed, unless retried)."""
        state = run_state(run_dir)
        if state == "done" or (state == "failed" and not self.retry_failed):
            self.echo(f"{prefix}: {state}, skipped")
            return
        if state == "unfinished":
            step = checkpoint_step(run_dir)
            self.echo(f"{prefix}: resuming" + (f" from step {step}" if step else " from the start"))
        else:
            self.echo(f"{prefix}: starting")
        run_dir.mkdir(parents=True, exist_ok=True)
        sessions = len((read_record(run_dir) or {}).get("sessions", []))
        code = self.executor(run, run_dir)
        if self.stop.signum or code < 0 or code in STOPPED_CODES:
            signum = self.stop.signum or (-code if code < 0 else code - 128)
            raise StudyError(
                f"{run.id} was stopped by {signal_name(signum)}; it stays unfinished (a training "
                f"stopped by SIGINT or SIGTERM saves a checkpoint): rerun the same command to "
                f"resume the study.",
                128 + signum,
            )
        record = read_record(run_dir)
        if record is None or len(record["sessions"]) == sessions:
            last = log_tail(run_dir, 1) or "no output"
            raise StudyError(f"the training of {run.id} did not start (exit code {code}): {last}")
        message = f"{prefix}: {run_state(run_dir)} in {record['elapsed_s']:.0f} s"
        if code and (error := record.get("error") or log_tail(run_dir)):
            message += f"\n{error}"
        with self.lock:
            self.echo(message)
            with atomic_path(self.output / RESULTS_FILE) as path:  # current after every run
                collect(self.output).to_csv(path, index=False)
