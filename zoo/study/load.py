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

__all__ = ["StudyResults", "load", "merge_studies"]


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
    """The given ``results.csv`` files as one table (e.g. a variant's grid next to the study
    it is compared with; a run id in two of them is an error, the same run counted twice),
    their ``study.json`` files merged (:func:`merge_studies`), with the curves and the run
    folders (``runs/ID``) next to each. The grid's axes and tags are read as strings (a value
    such as ``10`` stays a name)."""
    tables, studies, run_dirs = [], [], {}
    for path in map(Path, paths):
        file = path.parent / STUDY_FILE
        study = json.loads(file.read_text()) if file.is_file() else {}
        names = ["id", *study.get("axes", {}), *study.get("tags", [])]
        tables.append(pd.read_csv(path, dtype=dict.fromkeys(names, str)))
        studies += [study] if study else []
        run_dirs.update({run_id: path.parent / RUNS_DIR / run_id for run_id in tables[-1]["id"]})
    table = pd.concat(tables, ignore_index=True)
    if twice := sorted(set(table["id"][table["id"].duplicated()])):
        raise ValueError(f"run {twice[0]} is in more than one results table: give each once")
    found = [f for p in paths if (f := Path(p).parent / CURVES_FILE).is_file()]
    curves = pd.concat(pd.read_csv(f, dtype={"id": str}) for f in found) if found else None
    return StudyResults(table, merge_studies(studies), curves, run_dirs)


def merge_studies(studies: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Several ``study.json`` as one (None for none): names joined with " + ", every axis's
    and tag's values in first-seen order, method, baseline and tuned axes from the first."""
    if not studies:
        return None
    merged: dict[str, Any] = {**studies[0], "name": " + ".join(s.get("name", "?") for s in studies)}
    for key in ("axes", "tag_values"):
        values: dict[str, list] = {}
        for study in studies:
            for name, these in study.get(key, {}).items():
                values.setdefault(name, []).extend(v for v in these if v not in values[name])
        merged[key] = values
    merged["tags"] = list(dict.fromkeys(t for s in studies for t in s.get("tags", [])))
    return merged
