"""The study report as Markdown (Section 3.2): the computed tables of
:class:`~zoo.study.report.ReportTables` rendered as sections, in the paper's terms."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from zoo.study import aggregate as agg
from zoo.study.spec import ReportSpec, higher_is_better

if TYPE_CHECKING:
    from zoo.study.report import ReportTables

__all__ = ["markdown_table", "render"]

BETTER = {True: "higher", False: "lower"}
SEED_PAIRS = (
    "Each run against the `{}` run of the same setting and seed: in how many pairs the method's "
    "value is higher, and in how many lower. Every metric is the run's value at the evaluation it "
    "kept as its best (`best_step`)."
)
DURING = (
    "Median {} over seeds at each evaluation step (columns), per setting, and the step of the "
    "best median (from `curves.csv`)."
)


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
    IQR, min–max and a ``count`` column of runs with a value (out of all, where known)."""
    shown = stats[list(columns)].copy()
    shown[median] = stats["median"]
    shown["IQR"] = _range(stats["q1"], stats["q3"])
    shown["min–max"] = _range(stats["min"], stats["max"])
    shown[count] = stats["n"].astype(int).astype(str)
    if "runs" in stats:
        shown[count] += "/" + stats["runs"].astype(str)
    return shown


def _section(title: str, text: str) -> str:
    return f"## {title}\n\n{text}\n"


def _shown(text: str, frame: pd.DataFrame | None) -> str | None:
    """``text`` above ``frame`` as a table; None without a frame (no such comparison)."""
    return None if frame is None else f"{text}\n\n{markdown_table(frame)}"


def _change(spec: ReportSpec) -> str:
    """What Table 3 measures: the reduction of a lower-is-better metric, else the increase."""
    return "increase" if spec.higher_is_better else "reduction"


def render(tables: ReportTables, spec: ReportSpec, name: str, figures: str) -> str:
    """The whole report: title, overview, Tables 2 and 3, paired wins (also by seed), the best
    settings (Figure 2(b)), per method (Figure 2(c)), spread over seeds, the metric during
    training, the ``figures`` text and the runs that failed or did not finish; a section
    whose text is None is left out."""
    metric, higher, fraction = spec.metric.upper(), spec.higher_is_better, tables.top_fraction
    table3 = f"{_change(spec).capitalize()} in {metric} vs {spec.baseline} (Table 3)"
    seeds = _spread(tables.seeds, spec.settings, "median", "seeds")
    if (per_seed := tables.per_seed) is not None:
        better = per_seed["metric"].map(lambda m: BETTER.get(higher_is_better(m), "–"))
        per_seed = per_seed.assign(better=better)
    top = (
        f"Settings (median over seeds) at or {'above' if higher else 'below'} the "
        f"{1 - fraction if higher else fraction:.0%} quantile of all settings' medians, per "
        f"{spec.method}."
    )
    sections = [
        ("Unpaired setting (Table 2)", _table2_text(tables.table2, spec)),
        (table3, _table3_text(tables.table3, spec)),
        ("Paired setting", _paired_text(tables.pairs, spec)),
        ("Paired by seed", _shown(SEED_PAIRS.format(spec.baseline), per_seed)),
        (f"Best {fraction:.0%} of settings (Figure 2(b))", _shown(top, tables.top)),
        (f"Per {spec.method} (Figure 2(c))", _per_method(tables.per_method, spec)),
        ("Median and spread over seeds, per setting", markdown_table(seeds)),
        ("During training", _shown(DURING.format(metric), tables.during)),
        ("Figures", figures),
        ("Failed or unfinished runs", _failures(tables.everything)),
    ]
    shown = [_section(title, text) for title, text in sections if text is not None]
    return "\n".join([f"# Study report: {name}\n", _overview(tables.everything, spec), *shown])


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
    if "precision" in table:  # the trainer's record (blank for runs from before it)
        names = table["precision"].map({"no": "fp32", "bf16": "bf16"}).fillna("not recorded")
        text += f" Precision: {', '.join(f'{k} {v}' for k, v in names.value_counts().items())}."
    return text + "\n"


def _table2_text(table2: pd.DataFrame, spec: ReportSpec) -> str:
    """Table 2 with its spread, the winning tuned setting, and the best model per method."""
    metric = spec.metric.upper()
    shown = _spread(table2, [*spec.model, spec.method], f"{metric} (median)", "seeds")
    for column in spec.tuned:
        shown[f"best {column}"] = table2[column]
    if spec.model:
        best = table2.loc[agg.best_rows(table2, [spec.method], spec)]
        best = agg.sort_rows(best, [spec.method], spec)
        rows = {c: ["best of above", *[""] * (len(best) - 1)] for c in spec.model[:1]}
        rows.update({c: [""] * len(best) for c in spec.model[1:]})
        summary = pd.DataFrame({**rows, spec.method: best[spec.method].to_list()})
        summary[f"{metric} (median)"] = best["median"].to_list()
        shown = pd.concat([shown, summary], ignore_index=True).fillna("")
    return (
        f"Median {metric} over seeds, then the best ({spec.better}) over the tuned settings "
        f"({', '.join(spec.tuned) or 'none'}), per model ({', '.join(spec.model) or 'one model'})"
        f" and {spec.method}. IQR and min–max are over the seeds of the best setting.\n\n"
        + markdown_table(shown)
    )


def _table3_text(table3: pd.DataFrame, spec: ReportSpec) -> str:
    """Table 3 in the paper's layout where possible: a row per model without ``arch``, a
    column per arch."""
    if table3.empty or "arch" not in spec.model:
        names = {
            "baseline": f"{spec.metric.upper()} ({spec.baseline})",
            "value": spec.metric.upper(),
            "reduction": f"{_change(spec)} (%)",
        }
        shown = table3.rename(columns=names)
    else:
        rows = [c for c in spec.model if c != "arch"]
        index = [spec.method, *rows] if len(spec.methods(table3[spec.method])) > 1 else rows
        frame = table3 if index else table3.assign(model="all")
        shown = frame.pivot_table(index=index or "model", columns="arch", values="reduction")
        shown = agg.sort_rows(shown.reset_index(), index, spec)
        shown.columns = [str(c) if c in (*index, "model") else f"{c} (%)" for c in shown.columns]
    b = spec.baseline
    formula = (
        f"100 × (method − {b}) / {b}" if spec.higher_is_better else f"100 × ({b} − method) / {b}"
    )
    return f"{formula} on the Table 2 values; positive means the method is better.\n\n" + (
        markdown_table(shown)
    )


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


def _per_method(rows: pd.DataFrame | None, spec: ReportSpec) -> str | None:
    """Figure 2(c): a row per method value (e.g. per modulated layer) against the baseline."""
    if rows is None:
        return None
    shown = _spread(rows, [spec.method], f"{spec.metric.upper()} (median)", "runs")
    shown[f"{_change(spec)} (%)"] = rows["reduction"]
    shown["paired wins"] = [
        "–" if pd.isna(t) else f"{w:.0f}/{t:.0f}"
        for w, t in zip(rows["wins"], rows["total"], strict=True)
    ]
    return _shown(
        f"Each value of `{spec.method}` against `{spec.baseline}`: median, IQR and min–max of "
        f"{spec.metric.upper()} over all its runs (every model, tuned setting and seed), the "
        f"median over models of its Table 3 {_change(spec)}, and its paired wins.",
        shown,
    )


def _failures(table: pd.DataFrame) -> str | None:
    """The runs not done, each with the last line of its error; None when there are none."""
    if "status" not in table:
        return None
    bad = table[table["status"] != "done"]
    errors = bad.get("error", pd.Series("", index=bad.index)).fillna("").astype(str)
    lines = [
        f"- `{run_id}`: {status}" + (f": {error.strip().splitlines()[-1]}" if error.strip() else "")
        for run_id, status, error in zip(bad["id"], bad["status"], errors, strict=True)
    ]
    return "\n".join(lines) + "\n" if lines else None
