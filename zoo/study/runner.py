"""Run a study's grid (Section 3.2): for each run not finished, the train command into
``OUTPUT/runs/<id>`` (:mod:`~zoo.study.executors`: a process of its own per run, one after the
other or ``jobs`` at a time), then the results collected from the run folders
(:mod:`~zoo.study.results`).

The trainer guarantees the rest, run by run: it keeps the run's record (``RUN/status.json``:
status, steps, wall time, code version, precision; :mod:`zoo.training.record`), resumes an
unfinished run from its newest checkpoint, lets one process write a folder, and refuses a
folder that holds a run with another config (:func:`zoo.runs.prepare_run`). The study runs that
refusal for every run before it trains any (:func:`validate`), so a changed study gin stops it
at once, naming the run and the bindings that differ; settings that may change on resume
(``zoo.runs.RESUMABLE``: steps, intervals...) apply to the runs not finished yet. A run whose
record says ``finished`` is done and skipped, ``failed`` (e.g. a diverged GAN) is skipped unless
``retry_failed``, any other is resumed. A training stopped by a signal stops the study and
stays unfinished; one that exits before its record starts (a locked folder, missing data)
stops the study with the trainer's error.

Precision: ``train.mixed_precision = "auto"`` resolves per machine (bf16 where measured
faster), so a study resumed on another machine could mix precisions. The study decides
``auto`` once (:func:`study_precision`, recorded in ``study.json`` as ``auto_precision``) and
launches every run with its precision bound; each run's record states it (the ``precision``
column of ``results.csv``).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from zoo.config import gin_binding
from zoo.errors import one_line
from zoo.folder_lock import FolderLock
from zoo.study.executors import Executor, InProcessExecutor, Outcome, SubprocessExecutor
from zoo.study.grid import Grid, GridError, Run
from zoo.study.results import (
    CURVES_FILE,
    RESULTS_FILE,
    RUNS_DIR,
    STUDY_FILE,
    collect,
    read_run,
    run_state,
    write_tables,
)
from zoo.training import checkpoints
from zoo.training.record import read_record
from zoo.training.stopping import GracefulStop, signal_name
from zoo.writing import atomic_path

if TYPE_CHECKING:
    from zoo.runs import PreparedRun

__all__ = ["StudyError", "StudyStopped", "run_study", "select", "study_precision", "validate"]

STOPPED_CODES = (128 + signal.SIGINT, 128 + signal.SIGTERM)  # a training that saved and stopped
STUDY_NOTICE = (
    "{signal}: the running trainings save a checkpoint and stop; no new run starts "
    "({signal} again stops them at once)."
)


class StudyError(RuntimeError):
    """A study that cannot go on: its gin changed, a training could not start, precisions."""


class StudyStopped(StudyError):
    """A signal (or one stopped training) stopped the study; ``exit_code`` is 128 + signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def validate(runs: Sequence[Run], output: Path) -> dict[str, PreparedRun]:
    """The trainer's pre-flight check of every run (:func:`zoo.runs.prepare_run`, no
    training): a typo, an impossible setting or a folder that holds a run with another config
    stops the study now, not hours in. Returns each run's checked config and the settings
    changed since its folder's run started (that may change on resume)."""
    import gin

    from zoo.config import ConfigError
    from zoo.runs import prepare_run

    prepared = {}
    try:
        for run in runs:
            folder = f"train.output_dir = {str(output / RUNS_DIR / run.id)!r}"
            try:
                prepared[run.id] = prepare_run(run.resolved, [*run.bindings, folder])
            except ConfigError as error:
                raise StudyError(f"run {run.id}: {one_line(error)}") from error
    finally:
        gin.clear_config()
    return prepared


def study_precision(output: Path, requested: str | None = None) -> str:
    """What ``train.mixed_precision = "auto"`` means for every run of the study: ``requested``
    (``study.py run --auto-precision``), else what ``study.json`` records, else ``auto``
    resolved on this machine (:func:`zoo.training.precision.decide`). Raises
    :class:`StudyError` when ``requested`` contradicts the record."""
    path = output / STUDY_FILE
    recorded = json.loads(path.read_text()).get("auto_precision") if path.is_file() else None
    if requested and recorded and requested != recorded:
        raise StudyError(
            f"{output} resolved train.mixed_precision = 'auto' to {recorded!r} (study.json); "
            f"{requested!r} would mix precisions in one study: drop --auto-precision or use a "
            "new --output folder."
        )
    if requested or recorded:
        return requested or recorded
    import torch

    from zoo.training.precision import resolve_precision

    return resolve_precision("auto", torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def _launched(run: Run, precision: str) -> Run:
    """The run as launched: ``train.mixed_precision`` bound to its precision."""
    binding = f"train.mixed_precision = {precision!r}"
    return dataclasses.replace(run, bindings=(*run.bindings, binding))


def select(runs: Sequence[Run], only: Mapping[str, Sequence[str]]) -> list[Run]:
    """The runs whose value of every ``only`` key (an axis, a tag or ``seed``) is one of the
    given values, in grid order. Raises :class:`GridError` on a key or value the grid does
    not have (naming the ones it has) or when no run is left."""
    rows = [{k: str(v) for k, v in run.row().items() if k != "id"} for run in runs]
    for key, values in only.items():
        known = list(dict.fromkeys(row[key] for row in rows if key in row))
        if not known:
            names = ", ".join(k for k in rows[0] if k != "id") if rows else "none"
            raise GridError(f"--only {key}=...: the grid has no {key!r} (it has {names})")
        if missing := [v for v in values if v not in known]:
            raise GridError(
                f"--only {key}={','.join(missing)}: no such value (the grid has {', '.join(known)})"
            )
    chosen = [
        run
        for run, row in zip(runs, rows, strict=True)
        if all(row.get(key) in set(values) for key, values in only.items())
    ]
    if not chosen:
        raise GridError(f"no run of the grid matches all of --only {_only_text(only)}")
    return chosen


def _only_text(only: Mapping[str, Sequence[str]]) -> str:
    return " ".join(f"{key}={','.join(values)}" for key, values in only.items())


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
    starting, and those already running finish. ``only`` (see :func:`select`) trains a part of
    the grid, e.g. ``{"reg": ["gp10"], "seed": ["1", "2"]}``; the rest is left for later.
    ``auto_precision`` is what ``train.mixed_precision = "auto"`` means for this study
    (:func:`study_precision`). ``dry_run`` lists the runs, their state and commands without
    training or writing.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs > 1 and isinstance(executor, InProcessExecutor):
        raise ValueError("the inprocess launcher trains one run at a time (gin is global): jobs=1")
    output, echo = Path(output), echo or _print
    executor = executor if executor is not None else SubprocessExecutor()
    auto, runs = _plan(grid, output, only or {}, auto_precision, echo)
    if dry_run:
        _list(runs, output, executor, echo)
        return collect(output) if (output / RUNS_DIR).is_dir() else pd.DataFrame()
    forward = getattr(executor, "forward", None)
    with FolderLock(output, "study"), GracefulStop(STUDY_NOTICE, forward) as stop:
        rows = [run.row() for run in grid.expand()]
        with atomic_path(output / STUDY_FILE) as path:
            summary = {**grid.summary(), "auto_precision": auto, "rows": rows}
            path.write_text(json.dumps(summary, indent=2))
        session = _Session(output, executor, retry_failed, echo, stop, len(runs))
        _run_all(session.train, [planned.launched for planned in runs], jobs)
        table = write_tables(output)
    echo(f"results: {output / RESULTS_FILE} ({len(table)} runs), curves: {output / CURVES_FILE}")
    return table


@dataclasses.dataclass(frozen=True)
class _Planned:
    """A run as it will be launched (its precision bound) and its state."""

    launched: Run
    precision: str
    state: str


def _plan(
    grid: Grid,
    output: Path,
    only: Mapping[str, Sequence[str]],
    auto_precision: str | None,
    echo: Callable[[str], Any],
) -> tuple[str, list[_Planned]]:
    """What ``auto`` precision means for the study, and the runs to consider (``only`` of
    them), checked, with their precision and state."""
    every = grid.expand()
    runs = select(every, only) if only else every
    states = {run.id: run_state(output / RUNS_DIR / run.id) for run in runs}
    counts = pd.Series(states.values()).value_counts().to_dict()
    part = f" (--only {_only_text(only)}: {len(runs)} of {len(every)})" if only else ""
    echo(f"study {grid.name!r}: {len(runs)} runs in {output}{part} {counts}")
    auto, precisions = study_precision(output, auto_precision), {}
    for run_id, prepared in validate(runs, output).items():
        setting = gin_binding(prepared.config, "train.mixed_precision") or "auto"
        precisions[run_id] = auto if setting == "auto" else setting
        changes = {k: v for k, v in prepared.changes.items() if k != "train.mixed_precision"}
        if changes:  # finished runs keep theirs: say so
            listed = "; ".join(f"{key}: {a} -> {b}" for key, (a, b) in changes.items())
            echo(f"note: {run_id} ({states[run_id]}) was started with other settings: {listed}")
    planned = [
        _Planned(_launched(r, precisions[r.id]), precisions[r.id], states[r.id]) for r in runs
    ]
    return auto, planned


def _list(
    runs: Sequence[_Planned], output: Path, executor: Executor, echo: Callable[[str], Any]
) -> None:
    """The dry run: each run's state (an unfinished one with the step it resumes from), its
    precision (as recorded when finished) and, for a subprocess, its command."""
    for planned in runs:
        run = planned.launched
        run_dir, line = output / RUNS_DIR / run.id, f"{planned.state:>10}  {run.id}"
        if planned.state == "unfinished":
            line += f"  (resumes from step {_checkpoint_step(run_dir) or 0})"
        precision = planned.precision
        if planned.state in ("done", "failed"):
            precision = (read_run(run_dir) or {}).get("precision")
        if precision:
            line += f"  [{'bf16' if precision == 'bf16' else 'fp32'}]"
        if isinstance(executor, SubprocessExecutor):
            line += f"\n            {subprocess.list2cmdline(executor.command(run, run_dir))}"
        echo(line)


def _checkpoint_step(run_dir: Path) -> int | None:
    """The step of the run's newest complete training checkpoint (the one the trainer resumes
    from, :func:`zoo.training.checkpoints.latest`), None if it has none."""
    newest = checkpoints.latest(run_dir / "checkpoints")
    return None if newest is None else int(newest.name.removeprefix("step_"))


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
            step = _checkpoint_step(run_dir)
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
