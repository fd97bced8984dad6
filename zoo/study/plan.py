"""What a study run trains (Section 3.2): the grid's runs (``--only`` a part of them), each
checked by the trainer's own pre-flight (:func:`zoo.training.preflight.prepare_run`) before
any trains, and launched in one precision for the whole study.

The pre-flight refuses a run folder that holds a run with another config, so a changed study
gin stops the study at once, naming the run and the bindings that differ (also for a finished
run: the study would mix configurations); settings that may change on resume
(``zoo.training.preflight.RESUMABLE``: steps, intervals...) are listed and apply to the runs
not finished.

Precision: ``train.mixed_precision = "auto"`` resolves per machine (bf16 where measured
faster), so a study resumed on another machine could mix precisions. The study decides
``auto`` once (:func:`study_precision`, recorded in ``study.json`` as ``auto_precision``) and
binds every run's precision; each run's record states it (the ``precision`` column of
``results.csv``).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gin
import pandas as pd

from zoo.config import ConfigError, gin_binding
from zoo.errors import one_line
from zoo.study.executors import Executor, SubprocessExecutor
from zoo.study.grid import Grid, GridError, Run
from zoo.study.results import RUNS_DIR, STUDY_FILE, run_state
from zoo.training import checkpoints
from zoo.training.preflight import PreparedRun, prepare_run
from zoo.training.record import read_record

__all__ = ["StudyError", "checkpoint_step", "list_runs", "plan", "select", "study_precision",
           "validate"]  # fmt: skip


class StudyError(RuntimeError):
    """A study that cannot go on: its gin changed, precisions, a training could not start or
    was stopped by a signal (``exit_code`` 128 + the signal's number, else 1)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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


def validate(runs: Sequence[Run], output: Path) -> dict[str, PreparedRun]:
    """The trainer's pre-flight check of every run (:func:`zoo.training.preflight.prepare_run`, no
    training): a typo, an impossible setting or a folder that holds a run with another config
    stops the study now, not hours in. Returns each run's checked config and the settings
    changed since its folder's run started (those that may change on resume)."""
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


def plan(
    grid: Grid,
    output: Path,
    only: Mapping[str, Sequence[str]],
    auto_precision: str | None,
    echo: Callable[[str], Any],
) -> tuple[str, list[Run]]:
    """What ``auto`` precision means for the study (:func:`study_precision`), and the runs to
    consider (``only`` of them, :func:`select`), checked (:func:`validate`) and as they are
    launched: ``train.mixed_precision`` bound to ``auto``'s meaning or to the run's setting."""
    every = grid.expand()
    runs = select(every, only) if only else every
    states = {run.id: run_state(output / RUNS_DIR / run.id) for run in runs}
    counts = pd.Series(states.values()).value_counts().to_dict()
    part = f" (--only {_only_text(only)}: {len(runs)} of {len(every)})" if only else ""
    echo(f"study {grid.name!r}: {len(runs)} runs in {output}{part} {counts}")
    auto, prepared = study_precision(output, auto_precision), validate(runs, output)
    launched = []
    for run in runs:
        setting = gin_binding(prepared[run.id].config, "train.mixed_precision") or "auto"
        binding = f"train.mixed_precision = {auto if setting == 'auto' else setting!r}"
        launched.append(dataclasses.replace(run, bindings=(*run.bindings, binding)))
        changes = prepared[run.id].changes
        if listed := "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in changes.items()
                               if k != "train.mixed_precision"):  # fmt: skip
            echo(f"note: {run.id} ({states[run.id]}) was started with other settings: {listed}")
    return auto, launched


def list_runs(
    runs: Sequence[Run], output: Path, executor: Executor, echo: Callable[[str], Any]
) -> None:
    """The dry run: each run's state (an unfinished one with the step it resumes from), its
    precision (as recorded once finished) and, for a subprocess, its command."""
    for run in runs:
        run_dir = output / RUNS_DIR / run.id
        state = run_state(run_dir)
        line = f"{state:>10}  {run.id}"
        if state == "unfinished":
            line += f"  (resumes from step {checkpoint_step(run_dir) or 0})"
        precision = gin_binding("\n".join(run.bindings), "train.mixed_precision")
        if state in ("done", "failed"):
            precision = read_record(run_dir).get("precision")
        if precision:
            line += f"  [{'bf16' if precision == 'bf16' else 'fp32'}]"
        if isinstance(executor, SubprocessExecutor):
            line += f"\n            {subprocess.list2cmdline(executor.command(run, run_dir))}"
        echo(line)


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of the run's newest complete training checkpoint (the one the trainer resumes
    from, :func:`zoo.training.checkpoints.latest`), None if it has none."""
    return checkpoints.latest_step(run_dir / "checkpoints")
