"""What a study report is made from (:class:`StudyResults`): one or more ``results.csv`` files
read as one table, with the ``study.json``, the ``curves.csv`` and the run folders next to
each (:func:`load`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.study.results import CURVES_FILE, RUNS_DIR, STUDY_FILE

__all__ = ["StudyResults", "load", "load_results", "load_studies", "run_folders"]


@dataclass(frozen=True)
class StudyResults:
    """A results table, the grid it came from (``study.json``, None if unknown), the runs'
    training curves (``curves.csv`` rows, None without) and each run's folder by id (for
    the saved sample grids)."""

    table: pd.DataFrame
    study: Mapping[str, Any] | None = None
    curves: pd.DataFrame | None = None
    run_dirs: Mapping[str, Path] = field(default_factory=dict)


def load(paths: Sequence[str | Path]) -> StudyResults:
    """The results of the given ``results.csv`` files as one (:func:`load_studies`), with the
    curves and run folders next to each."""
    paths = [Path(path) for path in paths]
    table, study = load_results(paths[0]) if len(paths) == 1 else load_studies(paths)
    found = [f for p in paths if (f := p.parent / CURVES_FILE).is_file()]
    curves = pd.concat(pd.read_csv(f, dtype={"id": str}) for f in found) if found else None
    return StudyResults(table, study, curves, run_folders(paths))


def load_results(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """A results table and the ``study.json`` written next to it (None if absent).

    The grid's axes and tags are read as strings (a value such as ``10`` stays a name).
    """
    path = Path(path)
    study_file = path.parent / STUDY_FILE
    study = json.loads(study_file.read_text()) if study_file.is_file() else None
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
    merged.pop("rows", None)
    return table, merged
