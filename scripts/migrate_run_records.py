"""Rewrite the run folders of the former study runner into the trainer's record, once.

    python scripts/migrate_run_records.py results/fashion_mnist results/sbn_init ...

The former runner kept a run's state in ``RUN/run.json`` (settings row, wall time, commits,
precision) and ``RUN/result.json`` (status, error); the trainer keeps it in ``RUN/status.json``
(:mod:`zoo.training.record`), the one file a study reads (:func:`zoo.study.results.read_run`).
Each folder of ``STUDY/runs/`` with a ``run.json`` gets the record those files say: ``done`` is
``finished``, ``failed`` stays, none yet is ``stopped`` (resumed by the next ``study.py run``);
``elapsed_s`` is the wall time; one session per recorded commit. A folder a later session
resumed under the trainer's record keeps that record, with the former sessions and time put
before its own. Each run's settings row goes to ``STUDY/study.json``'s ``rows`` (which replaces
a former ``order``). ``run.json`` and ``result.json`` are then removed (the run's config is its
``config.gin``). A study folder already converted is left as it is, so a study folder that
another checkout kept writing (e.g. ``results/fastpath_ablation``) converts after it merges.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from zoo.study.results import RUNS_DIR, STUDY_FILE, id_row
from zoo.training.record import STATUS_FILE, read_record
from zoo.writing import atomic_path

LEGACY_SPEC, LEGACY_RESULT = "run.json", "result.json"
STATUS = {"done": "finished", "failed": "failed"}
"""The former ``result.json`` status as the record's; no result yet is ``stopped``."""


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _write(path: Path, content: Any) -> None:
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(content, indent=2))


def record_of(run_dir: Path, legacy: dict[str, Any]) -> dict[str, Any]:
    """The trainer's record of a former runner's folder (its ``run.json`` is ``legacy``)."""
    sessions = [{"code": code} for code in legacy.get("commits", [])]
    if (record := read_record(run_dir)) is not None:  # resumed under the trainer's record
        elapsed = round(legacy.get("elapsed_s", 0.0) + record["elapsed_s"], 2)
        return {**record, "elapsed_s": elapsed, "sessions": [*sessions, *record["sessions"]]}
    result = _json(run_dir / LEGACY_RESULT) or {}
    final = (_json(run_dir / "final" / "config.json") or {}).get("metrics", {}).get("step")
    return {
        "status": STATUS.get(result.get("status"), "stopped"),
        "step": final or 0,
        "steps": final,
        "elapsed_s": result.get("wall_time_s", legacy.get("elapsed_s")),
        "precision": legacy.get("precision"),
        "error": result.get("error"),
        "sessions": sessions,
    }


def migrate(study: Path) -> int:
    """Convert the former runner's folders of the study folder ``study``; how many."""
    rows: dict[str, dict[str, Any]] = {}
    for run_dir in sorted((study / RUNS_DIR).glob("*")):
        if (legacy := _json(run_dir / LEGACY_SPEC)) is None:
            continue
        files = [name for name in (LEGACY_SPEC, LEGACY_RESULT) if (run_dir / name).is_file()]
        _write(run_dir / STATUS_FILE, {**record_of(run_dir, legacy), "migrated_from": files})
        rows[run_dir.name] = legacy.get("row") or id_row(run_dir.name)
        for name in (LEGACY_SPEC, LEGACY_RESULT):
            (run_dir / name).unlink(missing_ok=True)
    summary = _json(study / STUDY_FILE)
    if summary is not None and (rows or "order" in summary):
        known = {row["id"]: row for row in summary.get("rows", [])}
        order = summary.pop("order", None) or list(known)
        listed = [rows.get(run_id) or known.get(run_id) or id_row(run_id) for run_id in order]
        summary["rows"] = listed + [row for run_id, row in rows.items() if run_id not in order]
        _write(study / STUDY_FILE, summary)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("studies", nargs="+", type=Path, help="study folders, e.g. results/X")
    for study in parser.parse_args(argv).studies:
        if not (study / RUNS_DIR).is_dir():
            print(f"error: {study} has no {RUNS_DIR}/ folder: name a study folder", file=sys.stderr)
            return 1
        print(f"{study}: {migrate(study)} run folders converted to {STATUS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
