"""Run a study's grid, one folder per run, resumable (Section 3.2): one run after the other,
or ``jobs`` at a time on a machine with room for several (cores, a GPU).

Each run goes to ``OUTPUT/runs/<id>``. By default a run is one subprocess,
``python -m zoo.cli.train --gin ... --bind ... --output RUN`` (or ``accelerate launch -m
zoo.cli.train ...``; :mod:`~zoo.study.executors`): a fresh interpreter per run has no gin or
torch state left from the previous one, and a crash or divergence stops that run only.
``launcher="inprocess"`` calls :func:`zoo.parse` and :func:`zoo.training.train` directly
instead (tests, debugging).

Files a run folder gets besides the trainer's: ``run.json`` (settings, gin files, bindings, a
fingerprint of them, accumulated wall time) when it starts, ``train.log`` (subprocess output)
and ``result.json`` (status, return code, wall time) when it ends. A folder with
``result.json``, or with the trainer's ``final/config.json``, is finished and skipped; any other
is run again, and the trainer resumes it from its newest checkpoint. A training process killed
by a signal (Ctrl-C, ``kill``) stops the study and leaves its run unfinished; one that exits
with an error (e.g. a diverged GAN) is recorded as failed. A folder made with a different
configuration (fingerprint) stops the study rather than mix results.

Precision: ``train.mixed_precision = "auto"`` resolves per machine (bf16 where it has a bf16
matrix unit, else fp32), so a study resumed on another machine could mix precisions. The
runner makes ``auto`` one choice for the whole study (:func:`pin_precision`, recorded in
``study.json`` as ``auto_precision``); every run is launched with ``train.mixed_precision``
bound to its resolved precision and records it in ``run.json`` (the ``precision`` column of
``results.csv``).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.folder_lock import FolderLock
from zoo.study.executors import (
    LAUNCHERS,
    Executor,
    InProcessExecutor,
    Outcome,
    SubprocessExecutor,
    make_executor,
)
from zoo.study.grid import Grid, GridError, Run
from zoo.study.results import CURVES_FILE, RESULTS_FILE, RUNS_DIR, STUDY_FILE, collect, write_tables
from zoo.training import checkpoints
from zoo.training.stopping import GracefulStop, signal_name
from zoo.writing import atomic_path

__all__ = [
    "LAUNCHERS",
    "Executor",
    "InProcessExecutor",
    "Outcome",
    "StudyError",
    "StudyStopped",
    "SubprocessExecutor",
    "make_executor",
    "run_state",
    "run_study",
]

SPEC_FILE, RESULT_FILE = "run.json", "result.json"
STOPPED_CODES = (128 + signal.SIGINT, 128 + signal.SIGTERM)  # a training that saved and stopped
STUDY_NOTICE = (
    "{signal}: the running trainings save a checkpoint and stop; no new run starts "
    "({signal} again stops them at once)."
)
HEARTBEAT_S = 60.0  # how often a training session adds its wall time so far to run.json


class StudyError(RuntimeError):
    """The output folder holds runs that do not belong to this grid."""


class StudyStopped(StudyError):
    """A signal (or one stopped training) stopped the study; ``exit_code`` is 128 + signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _write(path: Path, data: dict[str, Any]) -> None:
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(data, indent=2))


def run_state(run: Run, run_dir: Path) -> str:
    """``new``, ``unfinished`` (started, will resume), ``trained`` (the trainer finished but the
    result was not recorded), ``done`` or ``failed``. Raises :class:`StudyError` when the folder
    belongs to a different configuration."""
    spec = run_dir / SPEC_FILE
    if not spec.is_file():
        return "new"
    if (found := _read(spec).get("fingerprint")) != run.fingerprint():
        raise StudyError(
            f"{run_dir} was made by another configuration (fingerprint {found}, this grid's run "
            f"is {run.fingerprint()}): the study's gin changed. Use a new --output folder."
        )
    if (run_dir / RESULT_FILE).is_file():
        return _read(run_dir / RESULT_FILE)["status"]
    if (run_dir / "final" / "config.json").is_file():
        return "trained"
    return "unfinished"


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of the run's newest complete training checkpoint (the one the trainer resumes
    from, :func:`zoo.training.checkpoints.latest`), None if it has none."""
    newest = checkpoints.latest(run_dir / "checkpoints")
    return None if newest is None else int(newest.name.removeprefix("step_"))


def _spec(run: Run, precision: str | None) -> dict[str, Any]:
    spec = {
        "id": run.id,
        "fingerprint": run.fingerprint(),
        "row": run.row(),
        "gin_files": list(run.gin_files),
        "bindings": list(run.bindings),
        "elapsed_s": 0.0,
    }
    return spec if precision is None else {**spec, "precision": precision}


def _finish(run_dir: Path, outcome: Outcome) -> dict[str, Any]:
    trained = (run_dir / "final" / "config.json").is_file()
    status = "done" if outcome.returncode == 0 and trained else "failed"
    result = {
        "status": status,
        "returncode": outcome.returncode,
        "error": outcome.error,
        "wall_time_s": _read(run_dir / SPEC_FILE)["elapsed_s"],
    }
    _write(run_dir / RESULT_FILE, result)
    return result


def _launched(run: Run, precision: str | None) -> Run:
    """The run as launched: ``train.mixed_precision`` bound to its pinned precision (the
    fingerprint stays the declared run's)."""
    if precision is None:
        return run
    return dataclasses.replace(
        run, bindings=(*run.bindings, f"train.mixed_precision = {precision!r}")
    )


def _train(run: Run, run_dir: Path, executor: Executor, precision: str | None = None) -> Outcome:
    """One session (``run`` trained in ``precision`` when given, recorded in ``run.json``); its
    wall time is added to ``run.json`` every :data:`HEARTBEAT_S` seconds and at its end, so a
    session killed outright (SIGKILL, a lost VM) loses at most that."""
    started = time.perf_counter()
    spec = _read(run_dir / SPEC_FILE)
    before = spec["elapsed_s"]
    if (commit := code_version()) not in (commits := spec.setdefault("commits", [])):
        commits.append(commit)  # each session's code: a resumed run may span several
    if precision:
        spec["precision"] = precision
    _write(run_dir / SPEC_FILE, spec)

    def record() -> None:
        spec = _read(run_dir / SPEC_FILE)
        spec["elapsed_s"] = round(before + time.perf_counter() - started, 2)
        _write(run_dir / SPEC_FILE, spec)

    def heartbeat() -> None:
        while not stop.wait(HEARTBEAT_S):
            record()

    stop = threading.Event()
    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        return executor(_launched(run, precision), run_dir)
    finally:
        stop.set()
        beat.join()
        record()


def code_version() -> str:
    """The git commit of this checkout (``+dirty`` with uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "registry", "zoo", "scripts")
    return commit + ("+dirty" if dirty else "")


def validate(runs: Sequence[Run]) -> dict[str, str]:
    """Parse every run's gin configuration (no training): a typo fails now, not hours in.
    Returns each run's ``train.mixed_precision`` setting (``auto`` when not bound)."""
    import gin

    import zoo.training.settings  # noqa: F401  (registers train.*)
    from zoo.config import gin_binding, parse

    settings = {}
    try:
        for run in runs:
            config = parse(run.resolved, run.bindings)
            settings[run.id] = gin_binding(config, "train.mixed_precision") or "auto"
    finally:
        gin.clear_config()
    return settings


def pin_precision(
    output: Path, settings: Mapping[str, str], requested: str | None = None
) -> tuple[str, dict[str, str]]:
    """What ``auto`` means for the study, and each run's precision (``"bf16"`` or ``"no"``)
    from its ``train.mixed_precision`` setting (``settings``, by run id): an explicit one as
    bound; ``auto`` as one choice for the whole study, so that a study resumed on another
    machine does not mix precisions.

    That choice is ``requested`` (``study.py run --auto-precision``) if given, else the one
    ``study.json`` records, else the one the ``auto`` runs' folders record, else ``auto``
    resolved on this machine (:func:`zoo.training.precision.decide`: bf16 where measured
    faster on the training device).
    Raises :class:`StudyError` when these disagree.
    """
    import torch

    from zoo.training.precision import resolve_precision

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    study = output / STUDY_FILE
    recorded = _read(study).get("auto_precision") if study.is_file() else None
    in_runs = {
        found
        for run_id, setting in settings.items()
        if setting == "auto"
        and (spec := output / RUNS_DIR / run_id / SPEC_FILE).is_file()
        and (found := _read(spec).get("precision"))
    }
    if len(in_runs) > 1:
        raise StudyError(f"the runs in {output} were trained in several precisions: {in_runs}")
    auto = resolve_precision(requested, device) if requested else None
    for source, value in (("study.json", recorded), ("its runs", next(iter(in_runs), None))):
        if auto and value and value != auto:
            raise StudyError(
                f"{output} resolved train.mixed_precision = 'auto' to {value!r} ({source}); "
                f"{auto!r} would mix precisions in one study: drop --auto-precision or use a new "
                "--output folder."
            )
        auto = auto or value
    auto = auto or resolve_precision("auto", device)  # measured (cached) on this machine
    return auto, {
        run_id: auto if setting == "auto" else resolve_precision(setting, device)
        for run_id, setting in settings.items()
    }


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
    dry_run: bool = False,
    retry_failed: bool = False,
    check_configs: bool = True,
    echo: Callable[[str], Any] | None = None,
    jobs: int = 1,
    only: Mapping[str, Sequence[str]] | None = None,
    auto_precision: str | None = None,
) -> pd.DataFrame:
    """Train every run of ``grid`` not yet finished in ``output``, then write
    ``output/results.csv`` (see :func:`zoo.study.results.collect`) and return it.

    ``dry_run`` lists the runs and their state (and commands) without training or writing.
    Failed runs (e.g. a diverged GAN) count as finished unless ``retry_failed``. ``jobs`` runs
    that many trainings at once (in grid order); an interrupted one stops the others from
    starting, and those already running finish. ``only`` (see :func:`select`) trains a part of
    the grid, e.g. ``{"reg": ["gp10"], "seed": ["1", "2"]}``; the rest is left for later.
    Each run trains in the precision :func:`pin_precision` gives it (``auto_precision``: what
    ``train.mixed_precision = "auto"`` means for this study); ``check_configs=False`` skips
    parsing the configs, and with it the pinning.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs > 1 and isinstance(executor, InProcessExecutor):
        raise ValueError("the inprocess launcher trains one run at a time (gin is global): jobs=1")
    output, echo = Path(output), echo or _print
    executor = executor if executor is not None else SubprocessExecutor()
    every = grid.expand()
    runs = select(every, only) if only else every
    states = {run.id: run_state(run, output / RUNS_DIR / run.id) for run in runs}
    counts = pd.Series(states.values()).value_counts().to_dict()
    part = f" (--only {_only_text(only)}: {len(runs)} of {len(every)})" if only else ""
    echo(f"study {grid.name!r}: {len(runs)} runs in {output}{part} {counts}")
    auto, precisions = None, {}
    if check_configs:
        auto, precisions = pin_precision(output, validate(runs), auto_precision)
    if dry_run:
        for run in runs:
            line = f"{states[run.id]:>10}  {run.id}"
            if states[run.id] == "unfinished":
                step = checkpoint_step(output / RUNS_DIR / run.id)
                line += f"  (resumes from step {step or 0})"
            precision = precisions.get(run.id)
            if states[run.id] in ("done", "failed"):  # as recorded (blank before the record)
                precision = _read(output / RUNS_DIR / run.id / SPEC_FILE).get("precision")
            if precision:
                line += f"  [{'bf16' if precision == 'bf16' else 'fp32'}]"
            if isinstance(executor, SubprocessExecutor):
                launched = _launched(run, precisions.get(run.id))
                command = executor.command(launched, output / RUNS_DIR / run.id)
                line += f"\n            {subprocess.list2cmdline(command)}"
            echo(line)
        return collect(output) if (output / RUNS_DIR).is_dir() else pd.DataFrame()

    forward = getattr(executor, "forward", None)
    with FolderLock(output, "study"), GracefulStop(STUDY_NOTICE, forward) as stop:
        _write(
            output / STUDY_FILE,
            {**grid.summary(), "auto_precision": auto, "order": [run.id for run in every]},
        )
        _train_runs(runs, output, executor, precisions, retry_failed, echo, jobs, stop)
        table = write_tables(output)
    echo(f"results: {output / RESULTS_FILE} ({len(table)} runs), curves: {output / CURVES_FILE}")
    return table


def _train_runs(
    runs: Sequence[Run],
    output: Path,
    executor: Executor,
    precisions: Mapping[str, str],
    retry_failed: bool,
    echo: Callable[[str], Any],
    jobs: int,
    stop: GracefulStop,
) -> None:
    """Train the runs that are not finished, ``jobs`` at a time, until ``stop`` is asked."""
    lock = threading.Lock()  # results.csv and the echo are shared by the workers

    def one(index: int, run: Run) -> None:
        run_dir = output / RUNS_DIR / run.id
        state = run_state(run, run_dir)
        prefix = f"[{index}/{len(runs)}] {run.id}"
        if stop.signum:
            return  # stopping: no new run starts
        if state == "done" or (state == "failed" and not retry_failed):
            echo(f"{prefix}: {state}, skipped")
            return
        if state == "trained":
            _finish(run_dir, Outcome(0))
            echo(f"{prefix}: trained, result recorded")
            return
        if state == "new":
            run_dir.mkdir(parents=True, exist_ok=True)
            _write(run_dir / SPEC_FILE, _spec(run, precisions.get(run.id)))
        if state == "unfinished":
            step = checkpoint_step(run_dir)
            echo(f"{prefix}: resuming" + (f" from step {step}" if step else " from the start"))
        else:
            echo(f"{prefix}: starting")
        outcome = _train(run, run_dir, executor, precisions.get(run.id))
        if stop.signum or outcome.returncode < 0 or outcome.returncode in STOPPED_CODES:
            raise _interrupted(run, outcome, stop.signum)  # not a failure: stays unfinished
        result = _finish(run_dir, outcome)
        message = f"{prefix}: {result['status']} in {result['wall_time_s']:.0f} s"
        if result["error"]:
            message += f"\n{result['error']}"
        with lock:
            echo(message)
            with atomic_path(output / RESULTS_FILE) as path:  # current after every run
                collect(output).to_csv(path, index=False)

    _run_all(one, runs, jobs)


def _interrupted(run: Run, outcome: Outcome, signum: int | None) -> StudyStopped:
    code = outcome.returncode
    signum = signum or (-code if code < 0 else code - 128 if code in STOPPED_CODES else 0)
    how = f"by {signal_name(signum)}" if signum else f"(exit code {code})"
    return StudyStopped(
        f"{run.id} was stopped {how}; it stays unfinished (a training stopped by SIGINT or "
        f"SIGTERM saves a checkpoint): rerun the same command to resume the study.",
        128 + signum if signum else 1,
    )


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
