"""Collect a study's runs into one table, ``OUTPUT/results.csv`` (one row per run).

A row holds the run's id, its settings (one column per axis), its tags, its seed, its status
(``done``, ``failed`` or ``unfinished``), its wall time and the metrics of its best evaluation,
read from the trainer's ``RUN/best/config.json`` (the paper reports the best model attained during
training, Section 3.1): ``fid``, ``is``, ``kid``, ``prd_f8``, ``prd_f1_8``, ``log_cond`` when
evaluated, plus ``best_step`` and ``steps`` (the final step).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["RESULTS_FILE", "RUNS_DIR", "STUDY_FILE", "collect", "load_results", "read_run"]

RUNS_DIR, STUDY_FILE, RESULTS_FILE = "runs", "study.json", "results.csv"


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
