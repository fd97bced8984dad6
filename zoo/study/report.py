"""A study's Markdown report: Table 2 (unpaired), Table 3 (relative reduction), paired wins,
Figure 2(b) counts, median and spread over seeds per setting, and the figures (Section 3.2).

Files written to the report folder: ``report.md``, ``table2.csv``, ``table3.csv``,
``paired.csv``, ``seed_pairs.csv`` (run against run at the same seed), ``seeds.csv``,
``curves_median.csv`` (with the runs' ``curves.csv``) and the PNGs of :mod:`zoo.study.plots`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.study import aggregate as agg
from zoo.study.aggregate import ReportSpec
from zoo.study.plots import (
    distributions_figure,
    plot_condition,
    plot_curves,
    plot_distributions,
    plot_prd,
    plot_samples,
)
from zoo.study.results import CURVES_FILE, load_results, load_studies, run_folders

SEED_PAIR_METRICS = ("is", "prd_f8", "prd_f1_8", "log_cond")
"""Metrics compared run by run next to the report's own (when the results have them)."""

__all__ = ["markdown_table", "write_report"]


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 2) -> str:
    """A DataFrame as a GitHub Markdown table (floats with ``digits`` decimals)."""
    if frame.empty:
        return "_(no data)_\n"
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(_cell(v, digits) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body]) + "\n"


def _range(low: pd.Series, high: pd.Series) -> pd.Series:
    return low.map("{:.2f}".format) + "–" + high.map("{:.2f}".format)


def _spread(stats: pd.DataFrame, columns: Sequence[str], median: str, count: str) -> pd.DataFrame:
    """``columns`` of :func:`~zoo.study.aggregate.seed_stats`-like ``stats``, then the median,
    IQR, min–max and a ``count`` column of runs with a value out of all."""
    shown = stats[list(columns)].copy()
    shown[median] = stats["median"]
    shown["IQR"] = _range(stats["q1"], stats["q3"])
    shown["min–max"] = _range(stats["min"], stats["max"])
    shown[count] = stats["n"].astype(str) + "/" + stats["runs"].astype(str)
    return shown


def _per_method(
    table: pd.DataFrame, table3: pd.DataFrame, pairs: pd.DataFrame, spec: ReportSpec
) -> str:
    """Figure 2(c): a row per method value (e.g. per modulated layer) against the baseline."""
    rows = agg.per_method(table, table3, pairs, spec)
    shown = _spread(rows, [spec.method], f"{spec.metric.upper()} (median)", "runs")
    shown[f"{_change(spec)} (%)"] = rows["reduction"]
    won = rows["total"].notna()
    shown["paired wins"] = "–"
    shown.loc[won, "paired wins"] = [
        f"{w:.0f}/{t:.0f}"
        for w, t in zip(rows.loc[won, "wins"], rows.loc[won, "total"], strict=True)
    ]
    text = (
        f"Each value of `{spec.method}` against `{spec.baseline}`: median, IQR and min–max of "
        f"{spec.metric.upper()} over all its runs (every model, tuned setting and seed), the "
        f"median over models of its Table 3 {_change(spec)}, and its paired wins.\n\n"
    )
    return _section(f"Per {spec.method} (Figure 2(c))", text + markdown_table(shown))


def _table2(table2: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    metric = spec.metric.upper()
    shown = table2[[*spec.model, spec.method]].copy()
    shown[f"{metric} (median)"] = table2["median"]
    shown["IQR"] = _range(table2["q1"], table2["q3"])
    shown["min–max"] = _range(table2["min"], table2["max"])
    shown["seeds"] = table2["n"].astype(int).astype(str)
    for column in spec.tuned:
        shown[f"best {column}"] = table2[column]
    if not spec.model:
        return shown
    best = table2.loc[agg.best_rows(table2, [spec.method], spec)]
    best = agg.sort_rows(best, [spec.method], spec)
    rows = {c: ["best of above", *[""] * (len(best) - 1)] for c in spec.model[:1]}
    rows.update({c: [""] * len(best) for c in spec.model[1:]})
    summary = pd.DataFrame({**rows, spec.method: best[spec.method].to_list()})
    summary[f"{metric} (median)"] = best["median"].to_list()
    return pd.concat([shown, summary], ignore_index=True).fillna("")


def _table3(table3: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """Paper layout where possible: a row per model without ``arch``, a column per arch."""
    if table3.empty or "arch" not in spec.model:
        names = {
            "baseline": f"{spec.metric.upper()} ({spec.baseline})",
            "value": spec.metric.upper(),
            "reduction": f"{_change(spec)} (%)",
        }
        return table3.rename(columns=names)
    rows = [c for c in spec.model if c != "arch"]
    index = [spec.method, *rows] if len(spec.methods(table3[spec.method])) > 1 else rows
    frame = table3 if index else table3.assign(model="all")
    wide = frame.pivot_table(index=index or "model", columns="arch", values="reduction")
    wide = agg.sort_rows(wide.reset_index(), index, spec)
    wide.columns = [str(c) if c in (*index, "model") else f"{c} (%)" for c in wide.columns]
    return wide


def _change(spec: ReportSpec) -> str:
    """What Table 3 measures: the reduction of a lower-is-better metric, else the increase."""
    return "increase" if spec.higher_is_better else "reduction"


def _formula(spec: ReportSpec) -> str:
    b = spec.baseline
    return f"100 × (method − {b}) / {b}" if spec.higher_is_better else f"100 × ({b} − method) / {b}"


def _section(title: str, text: str) -> str:
    return f"## {title}\n\n{text}\n"


def write_report(
    results: str | Path | pd.DataFrame | Sequence[str | Path],
    out_dir: str | Path,
    spec: ReportSpec | None = None,
    *,
    title: str | None = None,
    top_fraction: float = 0.2,
    method: str | None = None,
    baseline: str | None = None,
    tuned: Sequence[str] | None = None,
    metric: str | None = None,
    curves: pd.DataFrame | None = None,
) -> Path:
    """Write the report of a results table (path to ``results.csv``, several such paths read
    as one table by :func:`~zoo.study.results.load_studies`, or a DataFrame) into ``out_dir``
    and return the path of ``report.md``.

    Without ``spec`` the settings come from the ``study.json`` next to ``results.csv``
    (otherwise guessed from the text columns); ``method``, ``baseline``, ``tuned`` and
    ``metric`` override it. ``curves`` (default: the ``curves.csv`` next to ``results.csv``)
    adds the figure of the metric during training; the sample grids the runs saved (in
    ``runs/`` next to ``results.csv``) add the figure of samples at the best evaluation.
    """
    study, run_dirs = None, {}
    if isinstance(results, pd.DataFrame):
        table = results
    else:
        paths = [results] if isinstance(results, str | Path) else list(results)
        table, study = load_results(paths[0]) if len(paths) == 1 else load_studies(paths)
        run_dirs = run_folders(paths)
        found = [f for p in paths if (f := Path(p).parent / CURVES_FILE).is_file()]
        if curves is None and found:
            curves = pd.concat(pd.read_csv(f, dtype={"id": str}) for f in found)
    overrides = {
        "method": method,
        "baseline": baseline,
        "tuned": None if tuned is None else tuple(tuned),
        "metric": metric,
    }
    if spec is None:
        spec = (
            ReportSpec.from_study(study, **overrides)
            if study
            else ReportSpec.infer(table, **overrides)
        )
    spec.check(table)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = title or (study or {}).get("name", "study")
    if spec.metric not in table:
        table = table.assign(**{spec.metric: float("nan")})
    everything = table
    if "status" in table:  # a run still training has a best-so-far that is not its result
        table = table[table["status"].astype(str) != "unfinished"]

    seeds = agg.seed_stats(table, spec)
    table2, pairs = agg.unpaired(table, spec), agg.paired(table, spec)
    table3 = agg.reductions(table2, spec)
    for frame, file in (
        (table2, "table2"),
        (table3, "table3"),
        (pairs, "paired"),
        (seeds, "seeds"),
    ):
        frame.to_csv(out_dir / f"{file}.csv", index=False)

    parts = [f"# Study report: {name}\n", _overview(everything, spec)]
    parts.append(
        _section(
            "Unpaired setting (Table 2)",
            f"Median {spec.metric.upper()} over seeds, then the best ({spec.better}) over the "
            "tuned "
            f"settings ({', '.join(spec.tuned) or 'none'}), per model "
            f"({', '.join(spec.model) or 'one model'}) and {spec.method}. IQR and min–max are "
            f"over the seeds of the best setting.\n\n" + markdown_table(_table2(table2, spec)),
        )
    )
    parts.append(
        _section(
            f"{_change(spec).capitalize()} in {spec.metric.upper()} vs {spec.baseline} (Table 3)",
            f"{_formula(spec)} on the Table 2 values; "
            "positive means the method is better.\n\n" + markdown_table(_table3(table3, spec)),
        )
    )
    parts.append(_section("Paired setting", _paired_text(pairs, spec)))
    per_seed = agg.seed_pairs(table, spec, list(dict.fromkeys([spec.metric, *SEED_PAIR_METRICS])))
    if not per_seed.empty and per_seed["total"].sum():
        per_seed.to_csv(out_dir / "seed_pairs.csv", index=False)
        parts.append(_section("Paired by seed", _seed_pairs_text(per_seed, spec)))
    top = agg.top_models(table, spec, top_fraction)
    parts.append(
        _section(
            f"Best {top_fraction:.0%} of settings (Figure 2(b))",
            f"Settings (median over seeds) at or {'above' if spec.higher_is_better else 'below'} "
            f"the {1 - top_fraction if spec.higher_is_better else top_fraction:.0%} quantile "
            "of all "
            f"settings' medians, per {spec.method}.\n\n" + markdown_table(top),
        )
    )
    if len(spec.methods(table[spec.method].astype(str).unique())) > 1:
        parts.append(_per_method(table, table3, pairs, spec))
    shown = _spread(seeds, spec.settings, "median", "seeds")
    parts.append(_section("Median and spread over seeds, per setting", markdown_table(shown)))
    if curves is not None and not (during := agg.curve_medians(curves, table, spec)).empty:
        during.to_csv(out_dir / "curves_median.csv", index=False)
        text = (
            f"Median {spec.metric.upper()} over seeds at each evaluation step (columns), per "
            f"setting, and the step of the best median (from `curves.csv`).\n\n"
        )
        parts.append(_section("During training", text + markdown_table(during)))
    parts.append(_section("Figures", _figures(table, spec, out_dir, curves, run_dirs)))
    if failed := _failures(everything):
        parts.append(_section("Failed or unfinished runs", failed))
    path = out_dir / "report.md"
    path.write_text("\n".join(parts))
    return path


def _overview(table: pd.DataFrame, spec: ReportSpec) -> str:
    status = table["status"].value_counts().to_dict() if "status" in table else {}
    unfinished = table["status"].astype(str) == "unfinished" if "status" in table else False
    missing = int((table[spec.metric].isna() & ~unfinished).sum())
    text = (
        f"{len(table)} runs ({', '.join(f'{v} {k}' for k, v in status.items()) or 'no status'}); "
        f"unfinished runs and {missing} without {spec.metric} are left out. Metric: "
        f"{spec.metric} of each run's best evaluation, {spec.better} is better. Method axis "
        f"`{spec.method}`, baseline `{spec.baseline}`."
    )
    if "wall_time_s" in table and table["wall_time_s"].notna().any():
        seconds = table["wall_time_s"]
        text += (
            f" Training wall time {seconds.sum() / 3600:.2f} h in all, "
            f"median {seconds.median() / 60:.1f} min per run."
        )
    if "precision" in table:  # the runner's record (blank for runs from before it)
        names = table["precision"].map({"no": "fp32", "bf16": "bf16"}).fillna("not recorded")
        text += f" Precision: {', '.join(f'{k} {v}' for k, v in names.value_counts().items())}."
    return text + "\n"


def _paired_text(pairs: pd.DataFrame, spec: ReportSpec) -> str:
    if pairs.empty:
        return "_(no pairs: the baseline or the method has no results)_\n"
    totals = agg.win_counts(pairs, spec)
    lines = [
        f"**{row[spec.method]} wins {row['wins']}/{row['total']}** "
        f"(same settings and hyperparameters, median over seeds, {spec.better} "
        f"{spec.metric.upper()} wins)."
        for _, row in totals.iterrows()
    ]
    if not spec.model:  # one model: the totals are all there is
        return "\n\n".join(lines) + "\n"
    by_model = agg.win_counts(pairs, spec, by=spec.model)
    return "\n\n".join(lines) + "\n\nPer model:\n\n" + markdown_table(by_model)


def _seed_pairs_text(per_seed: pd.DataFrame, spec: ReportSpec) -> str:
    better = {m: "higher" for m in agg.HIGHER_IS_BETTER} | {"fid": "lower", "kid": "lower"}
    shown = per_seed.assign(better=per_seed["metric"].map(better).fillna("–"))
    return (
        f"Each run against the `{spec.baseline}` run of the same setting and seed: in how many "
        "pairs the method's value is higher, and in how many lower. Every metric is the run's "
        "value at the evaluation it kept as its best (`best_step`).\n\n" + markdown_table(shown)
    )


def _figures(
    table: pd.DataFrame,
    spec: ReportSpec,
    out_dir: Path,
    curves: pd.DataFrame | None,
    run_dirs: dict[str, Path],
) -> str:
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
    if curves is not None:
        figure = plot_curves(curves, table, spec, out_dir / f"curves_{spec.metric}.png")
        if figure is not None:
            lines.append(f"![{figure.stem}]({figure.name})")
    if (figure := plot_samples(table, spec, run_dirs, out_dir / "samples.png")) is not None:
        lines.append(
            f"![{figure.stem}]({figure.name})\n\nSamples: the grid each setting's median-seed "
            "run saved at (or nearest to) its best evaluation, 64 samples from the run's seed."
        )
    return "\n\n".join(lines)


def _failures(table: pd.DataFrame) -> str:
    if "status" not in table:
        return ""
    bad = table[table["status"] != "done"]
    if bad.empty:
        return ""
    errors = bad.get("error", pd.Series(index=bad.index, dtype=object)).fillna("")
    lines = []
    for run_id, status, error in zip(bad["id"], bad["status"], errors, strict=True):
        last = str(error).strip().splitlines()
        lines.append(f"- `{run_id}`: {status}" + (f": {last[-1]}" if last else ""))
    return "\n".join(lines) + "\n"
