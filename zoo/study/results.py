"""Collect a study's runs into one table, ``OUTPUT/results.csv`` (one row per run).

A row holds the run's id, its settings (one column per axis), its tags, its seed, its status
(``done``, ``failed`` or ``unfinished``), its wall time and the metrics of its best evaluation,
read from the trainer's ``RUN/best/config.json`` (the paper reports the best model attained during
training, Section 3.1): ``fid``, ``is``, ``kid``, ``prd_f8``, ``prd_f1_8``, ``log_cond`` when
evaluated, plus ``best_step`` and ``steps`` (the final step), the ``commit`` of each session
and the ``precision`` the run trained in (``bf16`` or ``no``; blank for runs from before the
runner recorded it).

Training curves go to ``OUTPUT/curves.csv`` (one row per run, tag and step): every evaluation's
metrics (``eval/fid``, ...) and the logged losses, read from the run's TensorBoard events (the
trainer's default tracker; the event files stay out of git, the CSV is small and keeps the
curves of finished runs whose event files are gone).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.writing import atomic_path

__all__ = [
    "CURVES_FILE",
    "RESULTS_FILE",
    "RUNS_DIR",
    "STUDY_FILE",
    "collect",
    "collect_curves",
    "load_results",
    "load_studies",
    "read_curves",
    "read_run",
    "run_folders",
    "write_tables",
]

RUNS_DIR, STUDY_FILE, RESULTS_FILE = "runs", "study.json", "results.csv"
CURVES_FILE = "curves.csv"
CURVE_TAGS = ("d_loss", "g_loss", "penalty")
"""Logged scalars kept in the curves besides every ``eval/*`` metric."""


def _json(path: Path) -> dict[str, Any] | None:
    """The file's JSON, or None when it is missing or still being written (a run in flight
    in another process or thread)."""
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None


def read_run(run_dir: str | Path) -> dict[str, Any] | None:
    """One run folder as a results row, or None if the runner never started it."""
    run_dir = Path(run_dir)
    spec = _json(run_dir / "run.json")
    if spec is None:
        return None
    result = _json(run_dir / "result.json") or {}
    row: dict[str, Any] = {
        **spec["row"],
        "status": result.get("status", "unfinished"),
        "wall_time_s": result.get("wall_time_s", spec.get("elapsed_s")),
    }
    best = (_json(run_dir / "best" / "config.json") or {}).get("metrics", {})
    row.update({k: v for k, v in best.items() if k != "step" and isinstance(v, int | float)})
    row["best_step"] = best.get("step")
    row["steps"] = (_json(run_dir / "final" / "config.json") or {}).get("metrics", {}).get("step")
    row["error"] = result.get("error")
    row["commit"] = " ".join(spec.get("commits", []))
    row["precision"] = spec.get("precision")
    return row


def collect(output: str | Path) -> pd.DataFrame:
    """Every run folder under ``output/runs`` as a table, in the study's run order."""
    output = Path(output)
    rows = [r for d in sorted((output / RUNS_DIR).glob("*")) if (r := read_run(d)) is not None]
    table = pd.DataFrame(rows)
    order = (_json(output / STUDY_FILE) or {}).get("order")
    if order and not table.empty:
        rank = {run_id: i for i, run_id in enumerate(order)}
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
    if curves.empty:
        return {}
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


def load_results(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """A results table and the ``study.json`` written next to it (None if absent).

    The grid's axes and tags are read as strings (a value such as ``10`` stays a name).
    """
    path = Path(path)
    study = _json(path.parent / STUDY_FILE)
    names = [*(study or {}).get("axes", {}), *(study or {}).get("tags", [])]
    table = pd.read_csv(path, dtype={name: str for name in ["id", *names]})
    return table, study


def run_folders(paths: Sequence[str | Path]) -> dict[str, Path]:
    """Each run id of the given ``results.csv`` files mapped to its folder (``runs/ID`` next
    to the file it is listed in)."""
    folders: dict[str, Path] = {}
    for path in map(Path, paths):
        ids = pd.read_csv(path, usecols=["id"], dtype={"id": str})["id"]
        folders.update({run_id: path.parent / RUNS_DIR / run_id for run_id in ids})
    return folders


def load_studies(paths: Sequence[str | Path]) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """Several results tables as one (e.g. a variant's grid next to the study it is compared
    with), and their ``study.json`` files merged: names joined with " + ", every axis's and
    tag's values in first-seen order, method, baseline and tuned axes from the first. A run
    id found in two tables is an error (the same run counted twice)."""
    loaded = [load_results(path) for path in paths]
    table = pd.concat([t for t, _ in loaded], ignore_index=True)
    if twice := sorted(set(table["id"][table["id"].duplicated()])):
        raise ValueError(f"run {twice[0]} is in more than one results table: give each once")
    studies = [s for _, s in loaded if s]
    if not studies:
        return table, None
    merged: dict[str, Any] = {**studies[0], "name": " + ".join(s.get("name", "?") for s in studies)}
    for key in ("axes", "tag_values"):
        values: dict[str, list] = {}
        for study in studies:
            for name, these in study.get(key, {}).items():
                values.setdefault(name, []).extend(v for v in these if v not in values[name])
        merged[key] = values
    merged["tags"] = list(dict.fromkeys(t for s in studies for t in s.get("tags", [])))
    merged.pop("order", None)
    return table, merged
