"""A study's report (Section 3.2): the tables computed from the results
(:func:`compute_tables`: Table 2 unpaired, Table 3 relative reduction, paired wins, also by
seed, Figure 2(b) counts, per method, median and spread over seeds, the metric during
training), rendered as Markdown (:mod:`~zoo.study.markdown`) with the figures
(:mod:`~zoo.study.plots`).

Files written to the report folder: ``report.md``, ``table2.csv``, ``table3.csv``,
``paired.csv``, ``seed_pairs.csv`` (run against run at the same seed), ``seeds.csv``,
``curves_median.csv`` (with the runs' ``curves.csv``) and the PNGs of :mod:`zoo.study.plots`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from zoo.study import aggregate as agg
from zoo.study.load import StudyResults
from zoo.study.markdown import render
from zoo.study.plots import (
    distributions_figure,
    plot_condition,
    plot_curves,
    plot_distributions,
    plot_prd,
    plot_samples,
)
from zoo.study.spec import ReportSpec, report_spec

__all__ = ["SEED_PAIR_METRICS", "ReportTables", "compute_tables", "write_report"]

SEED_PAIR_METRICS = ("is", "prd_f8", "prd_f1_8", "log_cond")
"""Metrics compared run by run next to the report's own (when the results have them)."""


@dataclass(frozen=True)
class ReportTables:
    """The report's tables. ``everything`` holds every run (the overview, the failures),
    ``table`` the runs with a result (not unfinished: a run still training has a best so far,
    not its result); the rest is computed from ``table`` (:mod:`~zoo.study.aggregate`).
    ``per_seed``, ``per_method`` and ``during`` are None where the results have no such
    comparison (no same-seed pairs, one method, no curves)."""

    everything: pd.DataFrame
    table: pd.DataFrame
    seeds: pd.DataFrame
    table2: pd.DataFrame
    table3: pd.DataFrame
    pairs: pd.DataFrame
    per_seed: pd.DataFrame | None
    top: pd.DataFrame
    top_fraction: float
    per_method: pd.DataFrame | None
    during: pd.DataFrame | None


def compute_tables(
    results: StudyResults, spec: ReportSpec, top_fraction: float = 0.2
) -> ReportTables:
    """Every table of the report of ``results`` (see :class:`ReportTables`)."""
    everything = results.table
    if spec.metric not in everything:
        everything = everything.assign(**{spec.metric: float("nan")})
    table = everything
    if "status" in table:
        table = table[table["status"].astype(str) != "unfinished"]
    table2, pairs = agg.unpaired(table, spec), agg.paired(table, spec)
    table3 = agg.reductions(table2, spec)
    metrics = list(dict.fromkeys([spec.metric, *SEED_PAIR_METRICS]))
    per_seed = agg.seed_pairs(table, spec, metrics)
    several = len(spec.methods(table[spec.method].astype(str).unique())) > 1
    curves = results.curves
    during = None if curves is None else agg.curve_medians(curves, table, spec)
    return ReportTables(
        everything=everything,
        table=table,
        seeds=agg.seed_stats(table, spec),
        table2=table2,
        table3=table3,
        pairs=pairs,
        per_seed=per_seed if not per_seed.empty and per_seed["total"].sum() else None,
        top=agg.top_models(table, spec, top_fraction),
        top_fraction=top_fraction,
        per_method=agg.per_method(table, table3, pairs, spec) if several else None,
        during=None if during is None or during.empty else during,
    )


def write_report(
    results: StudyResults,
    out_dir: str | Path,
    spec: ReportSpec | None = None,
    *,
    title: str | None = None,
    top_fraction: float = 0.2,
) -> Path:
    """Write the report of ``results`` (:func:`zoo.study.load.load`) into ``out_dir``: its
    tables as CSV files, its figures and ``report.md``; return the path of ``report.md``.
    ``spec`` defaults to the study's (:func:`~zoo.study.spec.report_spec`), ``title`` to the
    study's name."""
    spec = spec or report_spec(results.table, results.study)
    spec.check(results.table)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = compute_tables(results, spec, top_fraction)
    files = {"table2": tables.table2, "table3": tables.table3, "paired": tables.pairs,
             "seeds": tables.seeds, "seed_pairs": tables.per_seed,
             "curves_median": tables.during}  # fmt: skip
    for name, frame in files.items():
        if frame is not None:
            frame.to_csv(out_dir / f"{name}.csv", index=False)
    figures = _figures(tables.table, spec, out_dir, results)
    name = title or (results.study or {}).get("name", "study")
    path = out_dir / "report.md"
    path.write_text(render(tables, spec, name, figures))
    return path


def _figures(table: pd.DataFrame, spec: ReportSpec, out_dir: Path, results: StudyResults) -> str:
    """Draw the figures into ``out_dir``; the Markdown that shows them."""
    figure2 = distributions_figure(table, spec).replace("(", "").replace(")", "")  # 2a or 2c
    made = [plot_distributions(table, spec, out_dir / f"figure{figure2}_distributions.png")]
    made.append(plot_condition(table, spec, out_dir / "figure3_log_cond.png"))
    made.append(plot_prd(table, spec, out_dir / "figure3_prd.png"))
    lines = [f"![{p.stem}]({p.name})" for p in made if p is not None]
    if made[1] is not None:
        r = agg.correlations(table, spec, "log_cond")
        text = ", ".join(f"{m} {v:.2f}" for m, v in r.items())
        text = text or "n/a (needs 3 or more settings per method)"
        lines.append(f"Pearson r between log condition number and {spec.metric}: {text}.")
    if made[1] is None or made[2] is None:
        lines.append("_(Figure 3 needs the `jacobian` and `prd` metrics in the runs.)_")
    if results.curves is not None:
        curves = plot_curves(results.curves, table, spec, out_dir / f"curves_{spec.metric}.png")
        lines += [f"![{curves.stem}]({curves.name})"] if curves is not None else []
    if (
        samples := plot_samples(table, spec, results.run_dirs, out_dir / "samples.png")
    ) is not None:
        lines.append(
            f"![{samples.stem}]({samples.name})\n\nSamples: the grid each setting's median-seed "
            "run saved at (or nearest to) its best evaluation, 64 samples from the run's seed."
        )
    return "\n\n".join(lines)
