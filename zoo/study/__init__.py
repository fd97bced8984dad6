"""The robustness study of Section 3.2: a grid declared in gin (:mod:`~zoo.study.grid`), run
sequentially and resumably (:mod:`~zoo.study.runner`), collected into one table
(:mod:`~zoo.study.results`) and reported as the paper's Tables 2 and 3 and Figures 2 and 3
(:mod:`~zoo.study.aggregate`, :mod:`~zoo.study.plots`, :mod:`~zoo.study.report`).
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
