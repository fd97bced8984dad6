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
import json
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.folder_lock import FolderLock
from zoo.study.executors import Executor, InProcessExecutor, Outcome, SubprocessExecutor
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

__all__ = ["StudyError", "StudyStopped", "run_study"]

STOPPED_CODES = (128 + signal.SIGINT, 128 + signal.SIGTERM)  # a training that saved and stopped
STUDY_NOTICE = (
    "{signal}: the running trainings save a checkpoint and stop; no new run starts "
    "({signal} again stops them at once)."
)


class StudyStopped(StudyError):
    """A signal (or one stopped training) stopped the study; ``exit_code`` is 128 + signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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
    output, echo = Path(output), echo or _print
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
        session = _Session(output, executor, retry_failed, echo, stop, len(runs))
        _run_all(session.train, runs, jobs)
        table = write_tables(output)
    echo(f"results: {output / RESULTS_FILE} ({len(table)} runs), curves: {output / CURVES_FILE}")
    return table


@dataclasses.dataclass
class _Session:
    """One ``study.py run``: trains the runs that are not finished, until ``stop`` is asked."""

    output: Path
    executor: Executor
    retry_failed: bool
    echo: Callable[[str], Any]
    stop: GracefulStop
    total: int
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    """results.csv and the echo are shared by the runs trained at once"""

    def train(self, index: int, run: Run) -> None:
        run_dir = self.output / RUNS_DIR / run.id
        state, prefix = run_state(run_dir), f"[{index}/{self.total}] {run.id}"
        if self.stop.signum:
            return  # stopping: no new run starts
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
        outcome = self.executor(run, run_dir)
        record = self._ended(run, run_dir, outcome, sessions)
        message = f"{prefix}: {run_state(run_dir)} in {record['elapsed_s']:.0f} s"
        if outcome.returncode and outcome.error:
            message += f"\n{record.get('error') or outcome.error}"
        with self.lock:
            self.echo(message)
            with atomic_path(self.output / RESULTS_FILE) as path:  # current after every run
                collect(self.output).to_csv(path, index=False)

    def _ended(self, run: Run, run_dir: Path, outcome: Outcome, sessions: int) -> dict:
        """The run's record after the session; raises when a signal stopped the training
        (it stays unfinished) or the trainer ended before the session's record started."""
        code = outcome.returncode
        if self.stop.signum or code < 0 or code in STOPPED_CODES:
            signum = self.stop.signum or (-code if code < 0 else code - 128)
            raise StudyStopped(
                f"{run.id} was stopped by {signal_name(signum)}; it stays unfinished (a training "
                f"stopped by SIGINT or SIGTERM saves a checkpoint): rerun the same command to "
                f"resume the study.",
                128 + signum,
            )
        record = read_record(run_dir)
        if record is None or len(record["sessions"]) == sessions:
            last = (outcome.error or "").strip().splitlines()[-1:] or ["no output"]
            raise StudyError(
                f"the training of {run.id} did not start (exit code {code}): {last[0]}"
            )
        return record


def _run_all(one: Callable[[int, Run], None], runs: Sequence[Run], jobs: int) -> None:
    """``one(index, run)`` for every run, ``jobs`` at a time; the first error is raised after
    the runs already started have ended (none is started after it)."""
    if jobs == 1:
        for index, run in enumerate(runs, 1):
            one(index, run)
        return
    stop = threading.Event()

    def guarded(index: int, run: Run) -> None:
        if stop.is_set():
            return
        try:
            one(index, run)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="study") as pool:
        futures = [pool.submit(guarded, index, run) for index, run in enumerate(runs, 1)]
    for future in futures:
        future.result()  # re-raises the first error in grid order


def _print(line: str) -> None:
    print(line, flush=True)
