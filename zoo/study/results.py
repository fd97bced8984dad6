"""Collect a study's runs into one table, ``OUTPUT/results.csv`` (one row per run), from the
run folders.

A row holds the run's id, its settings (one column per axis), its tags and its seed (the
study's ``study.json`` lists them per run), then what the trainer recorded in the folder
(:mod:`zoo.training.record`, ``RUN/status.json``): its status (``done`` when the record says
finished, ``failed``, else ``unfinished``), its wall time over all sessions, the ``commit`` of
each session and the ``precision`` it trained in (``bf16`` or ``no``); and the metrics of its
best evaluation, read from the trainer's ``RUN/best/config.json`` (the paper reports the best
model attained during training, Section 3.1): ``fid``, ``is``, ``kid``, ``prd_f8``,
``prd_f1_8``, ``log_cond`` when evaluated, plus ``best_step`` and ``steps`` (the final step).

Training curves go to ``OUTPUT/curves.csv`` (one row per run, tag and step): every evaluation's
metrics (``eval/fid``, ...) and the logged losses, read from the run's TensorBoard events (the
trainer's default tracker; the event files stay out of git, the CSV is small and keeps the
curves of finished runs whose event files are gone).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.training.record import read_record
from zoo.writing import atomic_path

__all__ = [
    "CURVES_FILE",
    "RESULTS_FILE",
    "RUNS_DIR",
    "RUN_COLUMNS",
    "STUDY_FILE",
    "collect",
    "collect_curves",
    "id_row",
    "read_curves",
    "read_run",
    "run_state",
    "write_tables",
]

RUNS_DIR, STUDY_FILE, RESULTS_FILE = "runs", "study.json", "results.csv"
CURVES_FILE = "curves.csv"
CURVE_TAGS = ("d_loss", "g_loss", "penalty")
"""Logged scalars kept in the curves besides every ``eval/*`` metric."""
RUN_COLUMNS = frozenset(
    {"id", "seed", "status", "error", "run_dir", "wall_time_s", "steps", "best_step", "commit"}
    | {"precision"}
)
"""The columns of a results table that are no setting (an axis or a tag may not be named so)."""
STATES = {"finished": "done", "failed": "failed"}
"""A record's status as a run's state; any other (running, stopped) is ``unfinished``."""


def _json(path: Path) -> dict[str, Any] | None:
    """The file's JSON, or None when it is missing or still being written (a run in flight
    in another process or thread)."""
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None


def _record(run_dir: Path) -> dict[str, Any] | None:
    """The trainer's record of the run (:func:`~zoo.training.record.read_record`); raises
    ValueError on a folder of the former runner, which must be converted first."""
    if (record := read_record(run_dir)) is None and (run_dir / "run.json").is_file():
        raise ValueError(
            f"{run_dir} holds the former study runner's run.json, not the trainer's record: "
            f"convert it with python scripts/migrate_run_records.py {run_dir.parent.parent}"
        )
    return record


def run_state(run_dir: str | Path) -> str:
    """``new`` (never started), ``unfinished`` (to resume), ``done`` or ``failed``: from the
    trainer's record."""
    record = _record(Path(run_dir))
    return "new" if record is None else STATES.get(record["status"], "unfinished")


def id_row(run_id: str) -> dict[str, Any]:
    """The settings and seed written in a run id (``axis=value,...,seed=S``)."""
    pairs = dict(part.split("=", 1) for part in run_id.split(",") if "=" in part)
    seed = pairs.pop("seed", None)
    return {"id": run_id, **pairs, "seed": None if seed is None else int(seed)}


def read_run(run_dir: str | Path, row: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """One run folder as a results row (its settings: ``row``, else those of its id), or None
    if no training ever started in it."""
    run_dir = Path(run_dir)
    if (record := _record(run_dir)) is None:
        return None
    row = {**(row or id_row(run_dir.name)), "status": STATES.get(record["status"], "unfinished")}
    row["wall_time_s"] = round(record["elapsed_s"], 2)
    best = (_json(run_dir / "best" / "config.json") or {}).get("metrics", {})
    row.update({k: v for k, v in best.items() if k != "step" and isinstance(v, int | float)})
    row["best_step"] = best.get("step")
    row["steps"] = (_json(run_dir / "final" / "config.json") or {}).get("metrics", {}).get("step")
    row["error"] = record.get("error")
    row["commit"] = " ".join(dict.fromkeys(session["code"] for session in record["sessions"]))
    row["precision"] = record.get("precision")
    return row


def collect(output: str | Path) -> pd.DataFrame:
    """Every run folder under ``output/runs`` as a table, in the study's run order."""
    output = Path(output)
    study = _json(output / STUDY_FILE) or {}
    rows = {row["id"]: row for row in study.get("rows", [])}
    folders = sorted((output / RUNS_DIR).glob("*"))
    table = pd.DataFrame(
        [row for f in folders if (row := read_run(f, rows.get(f.name))) is not None]
    )
    if rows and not table.empty:
        rank = {run_id: i for i, run_id in enumerate(rows)}
        table = table.sort_values("id", key=lambda ids: ids.map(rank).fillna(len(rank)))
        table = table.reset_index(drop=True)
    for column in ("best_step", "steps"):  # whole steps, blank for a run without them
        if column in table:
            table[column] = table[column].astype("Int64")
    return table


def read_curves(run_dir: str | Path) -> pd.DataFrame:
    """A run's logged scalars as rows (``tag``, ``step``, ``value``): every ``eval/*`` metric
    and the losses, from the TensorBoard event files under ``RUN/logs``. A resumed run has
    several files; a step logged again after a resume keeps its newest value. Empty when the
    run logged nothing (or to another tracker)."""
    files = sorted(Path(run_dir, "logs").rglob("events.out.tfevents.*"), key=_event_order)
    if not files:
        return pd.DataFrame(columns=["tag", "step", "value"])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values: dict[tuple[str, int], float] = {}
    for file in files:
        events = EventAccumulator(str(file), size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            if (tag.startswith("eval/") and tag != "eval/step") or tag in CURVE_TAGS:
                values.update({(tag, e.step): e.value for e in events.Scalars(tag)})
    rows = [(tag, step, value) for (tag, step), value in sorted(values.items())]
    return pd.DataFrame(rows, columns=["tag", "step", "value"])


def _event_order(path: Path) -> tuple[float, str]:
    """Event files in the order they were written (their names start with a Unix time)."""
    stamp = path.name.split(".")[3] if path.name.count(".") >= 3 else ""
    return (float(stamp) if stamp.isdigit() else path.stat().st_mtime, path.name)


def collect_curves(output: str | Path) -> pd.DataFrame:
    """:func:`read_curves` of every run under ``output/runs`` with its ``id`` column, in the
    order of :func:`collect`.

    The event files stay out of git, so a fresh clone (or a machine that lost them) has none:
    a finished run without event files keeps its rows of the existing ``output/curves.csv``
    instead of losing its committed curves. An unfinished run without them has none (it starts
    again and logs its steps anew)."""
    output = Path(output)
    table = collect(output)
    kept = _committed_curves(output)
    frames = []
    for run_id, status in zip(table.get("id", []), table.get("status", []), strict=True):
        curves = read_curves(output / RUNS_DIR / run_id)
        if not curves.empty:
            frames.append(curves.assign(id=run_id)[["id", "tag", "step", "value"]])
        elif status == "done" and run_id in kept:
            frames.append(kept[run_id])
    if not frames:
        return pd.DataFrame(columns=["id", "tag", "step", "value"])
    return pd.concat(frames, ignore_index=True)


def _committed_curves(output: Path) -> dict[str, pd.DataFrame]:
    """The rows of an existing ``output/curves.csv`` per run id (empty when there is none)."""
    path = output / CURVES_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    curves = pd.read_csv(path)
    return {str(run_id): rows for run_id, rows in curves.groupby("id", sort=False)}


def write_tables(output: str | Path) -> pd.DataFrame:
    """Write ``results.csv`` (:func:`collect`) and ``curves.csv`` (:func:`collect_curves`) into
    ``output`` and return the results."""
    output = Path(output)
    table = collect(output)
    with atomic_path(output / RESULTS_FILE) as path:
        table.to_csv(path, index=False)
    with atomic_path(output / CURVES_FILE) as path:
        collect_curves(output).to_csv(path, index=False)
    return table
