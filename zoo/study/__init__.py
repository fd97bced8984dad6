"""The robustness study of Section 3.2: a grid declared in gin (:mod:`~zoo.study.grid`), the
train command per run (:mod:`~zoo.study.plan`, :mod:`~zoo.study.executors`,
:mod:`~zoo.study.runner`), collected from the run folders into one table
(:mod:`~zoo.study.results`) and reported as the paper's Tables 2 and 3 and Figures 2 and 3
(:mod:`~zoo.study.load`, :mod:`~zoo.study.spec`, :mod:`~zoo.study.aggregate`,
:mod:`~zoo.study.report`, :mod:`~zoo.study.markdown`, :mod:`~zoo.study.plots`).
CLI: ``python scripts/study.py run|collect|report``."""

from zoo.study.executors import make_executor
from zoo.study.grid import Grid, GridError, Run, load_grid
from zoo.study.report import write_report
from zoo.study.results import collect
from zoo.study.runner import StudyError, run_study
from zoo.study.spec import ReportSpec

__all__ = [
    "Grid",
    "GridError",
    "ReportSpec",
    "Run",
    "StudyError",
    "collect",
    "load_grid",
    "make_executor",
    "run_study",
    "write_report",
]
