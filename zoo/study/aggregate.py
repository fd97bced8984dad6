"""The paper's aggregations of a results table (Section 3.2, Tables 2 and 3, Figure 2).

A *setting* is one value per axis (the seed excluded); a *model* is a setting without its
optimization hyperparameters (``tuned``: e.g. Adam's (β1, β2, disc_iters) and the GP weight λ)
and without the method (BN vs sBN). Which way the metric is better is the spec's
(:class:`~zoo.study.spec.ReportSpec`). Runs without a value (a diverged run that never
evaluated) are left out of the medians.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from zoo.study.spec import ReportSpec

__all__ = [
    "best_rows",
    "correlations",
    "curve_medians",
    "evaluations",
    "paired",
    "per_method",
    "prepare",
    "reductions",
    "representatives",
    "seed_pairs",
    "seed_stats",
    "sort_rows",
    "top_models",
    "unpaired",
    "win_counts",
]


def sort_rows(frame: pd.DataFrame, columns: Sequence[str], spec: ReportSpec) -> pd.DataFrame:
    """Rows in the grid's declared order of each column's values (others sorted after)."""

    def key(values: pd.Series) -> pd.Series:
        order = list(spec.orders.get(values.name, ()))
        rest = sorted(set(values.dropna().astype(str)) - set(order))
        rank = {v: i for i, v in enumerate(order + rest)}
        return values.map(lambda v: rank.get(str(v), len(rank)))

    columns = [c for c in columns if c in frame.columns]
    if not columns or frame.empty:
        return frame.reset_index(drop=True)
    return frame.sort_values(columns, key=key, kind="stable").reset_index(drop=True)


def prepare(table: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """Settings as text, a missing tag as "-" (groups and pivots then keep every row)."""
    table = table.copy()
    for column in spec.settings:
        table[column] = table[column].astype(object).where(table[column].notna(), "-").astype(str)
    table[spec.metric] = pd.to_numeric(table[spec.metric], errors="coerce")
    return table


def seed_stats(table: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """Per setting, over seeds: median, quartiles (q1, q3), min, max of the metric, ``n``
    seeds with a value out of ``runs``."""
    table = prepare(table, spec)
    grouped = table.groupby(list(spec.settings), sort=False, dropna=False)[spec.metric]
    stats = grouped.agg(
        median="median",
        q1=lambda s: s.quantile(0.25),
        q3=lambda s: s.quantile(0.75),
        min="min",
        max="max",
        n="count",
        runs="size",
    ).reset_index()
    return sort_rows(stats, spec.settings, spec)


def unpaired(table: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """Table 2: per model and method, the median over seeds of the best tuned setting (the
    best median). The tuned columns say which setting won; the spread is its seeds'."""
    stats = seed_stats(table, spec).dropna(subset=["median"])
    keys = [*spec.model, spec.method]
    best = stats.loc[best_rows(stats, keys, spec)]
    columns = [*keys, *spec.tuned, "median", "q1", "q3", "min", "max", "n"]
    return sort_rows(best[columns], keys, spec)


def best_rows(stats: pd.DataFrame, keys: Sequence[str], spec: ReportSpec) -> pd.Index:
    """Index of the row with the best ``median`` per ``keys`` group (all rows: one group)."""
    score = spec.loss(stats["median"])
    if not keys:
        return pd.Index([score.idxmin()])
    return pd.Index(score.groupby([stats[k] for k in keys], sort=False, dropna=False).idxmin())


def _versus_baseline(
    medians: pd.DataFrame, index: Sequence[str], spec: ReportSpec, columns: Sequence[str]
) -> pd.DataFrame:
    """Per ``index`` row and non-baseline method: its median (``value``) and the baseline's
    (``baseline``), rows where both exist; ``columns`` order the two."""
    if index:  # a row per index, a column per method
        wide = medians.set_index([*index, spec.method])["median"].unstack(spec.method)
    else:  # a single model: one row
        wide = medians.set_index(spec.method)["median"].to_frame().T.reset_index(drop=True)
    if spec.baseline not in wide.columns:
        return pd.DataFrame(columns=[*index, spec.method, *columns])
    methods = wide[spec.methods(list(wide.columns))]
    long = methods.melt(ignore_index=False, var_name=spec.method, value_name="value")
    long = long.assign(baseline=wide[spec.baseline]).dropna(subset=["value", "baseline"])
    long = long.reset_index(drop=not index)[[*index, spec.method, *columns]]
    return sort_rows(long, [*index, spec.method], spec)


def reductions(table2: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """Table 3: relative reduction (%) of the metric by each method against the baseline,
    ``100 * (baseline - method) / baseline``, per model of :func:`unpaired`; for a
    higher-is-better metric the relative increase, so a positive value always means better."""
    result = _versus_baseline(table2, spec.model, spec, ("baseline", "value"))
    change = spec.loss(result["baseline"] - result["value"])
    return result.assign(reduction=100 * change / result["baseline"].abs())


def paired(table: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """The paired setting: for every setting but the method, each method's median over seeds
    against the baseline's at the very same hyperparameters; ``win`` when strictly better."""
    result = _versus_baseline(seed_stats(table, spec), spec.pair, spec, ("value", "baseline"))
    return result.assign(win=spec.loss(result["value"]) < spec.loss(result["baseline"]))


def seed_pairs(table: pd.DataFrame, spec: ReportSpec, metrics: Sequence[str]) -> pd.DataFrame:
    """Runs paired by setting *and seed*: per method and metric, in how many of the ``total``
    pairs with both values the method's run is ``higher`` and in how many ``lower`` than the
    baseline's run. Each metric is the run's value in the table (at the evaluation the run
    kept as its best)."""
    table, keys = prepare(table, spec), [*spec.pair, spec.seed, "metric"]
    metrics = [m for m in metrics if m in table]
    long = table.melt([*keys[:-1], spec.method], metrics, "metric")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    base = long[long[spec.method] == spec.baseline].drop(columns=spec.method)
    both = long.merge(base, on=keys, suffixes=("", "_base")).dropna(subset=["value", "value_base"])
    change = (both["value"] - both["value_base"]).groupby([both[spec.method], both["metric"]])
    counts = change.agg(higher=lambda d: (d > 0).sum(), lower=lambda d: (d < 0).sum(), total="size")
    methods = spec.methods(list(table[spec.method].unique()))
    rows = pd.MultiIndex.from_product([methods, metrics], names=[spec.method, "metric"])
    return counts.reindex(rows, fill_value=0).astype(int).reset_index()


def win_counts(pairs: pd.DataFrame, spec: ReportSpec, by: Sequence[str] = ()) -> pd.DataFrame:
    """Wins and comparisons per method (and per ``by`` columns) from :func:`paired`."""
    keys = [spec.method, *by]
    if pairs.empty:
        return pd.DataFrame(columns=[*keys, "wins", "total"])
    counts = pairs.groupby(keys, sort=False, dropna=False)["win"].agg(wins="sum", total="size")
    counts = counts.reset_index()
    counts["wins"] = counts["wins"].astype(int)
    return sort_rows(counts, keys, spec)


def top_models(table: pd.DataFrame, spec: ReportSpec, fraction: float = 0.2) -> pd.DataFrame:
    """Figure 2(b): how many settings of each method are among the best ``fraction`` of all
    settings (median over seeds at most the ``fraction`` quantile of all medians; at least
    the ``1 - fraction`` quantile for a higher-is-better metric)."""
    stats = seed_stats(table, spec).dropna(subset=["median"])
    score = spec.loss(stats["median"])
    threshold = score.quantile(fraction)
    counts = (
        (score <= threshold)
        .groupby(stats[spec.method], sort=False)
        .agg(top=lambda s: int(s.sum()), total="size")
    )
    counts = counts.reset_index()
    counts["threshold"] = spec.loss(pd.Series([threshold])).iloc[0]
    return sort_rows(counts, [spec.method], spec)


def representatives(table: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """One run per setting: the seed whose metric is closest to the median over seeds (the
    better one on ties), as chosen for Figure 3 / Figure 5 (A.3)."""
    valid = prepare(table, spec).dropna(subset=[spec.metric])
    if valid.empty:
        return valid
    median = valid.groupby(list(spec.settings), sort=False, dropna=False)[spec.metric]
    distance = (valid[spec.metric] - median.transform("median")).abs()
    ranked = valid.assign(_d=distance, _loss=spec.loss(valid[spec.metric]))
    ranked = ranked.sort_values(["_d", "_loss"], kind="stable")
    chosen = ranked.groupby(list(spec.settings), sort=False, dropna=False).head(1)
    return sort_rows(chosen.drop(columns=["_d", "_loss"]), spec.settings, spec)


def per_method(
    table: pd.DataFrame, table3: pd.DataFrame, pairs: pd.DataFrame, spec: ReportSpec
) -> pd.DataFrame:
    """Figure 2(c) / Figure 4 (where to modulate): one row per value of the method axis, the
    baseline first, with the metric's median, quartiles and range over all its runs (every
    model, tuned setting and seed), the median over models of its Table 3 ``reduction``
    (:func:`reductions`) and its paired ``wins`` out of ``total`` (:func:`paired`)."""
    pooled = seed_stats(table, replace(spec, settings=(spec.method,)))
    rank = {m: i for i, m in enumerate(spec.ordered(list(pooled[spec.method])))}
    pooled = pooled.sort_values(spec.method, key=lambda s: s.map(rank), kind="stable")
    reduction = table3.groupby(spec.method, sort=False)["reduction"].median()
    counts = win_counts(pairs, spec).set_index(spec.method)
    methods = pooled[spec.method]
    return pooled.assign(
        reduction=methods.map(reduction),
        wins=methods.map(counts["wins"]),
        total=methods.map(counts["total"]),
    ).reset_index(drop=True)


def correlations(table: pd.DataFrame, spec: ReportSpec, column: str) -> dict[str, float]:
    """Pearson r between ``column`` and the metric over :func:`representatives`, per method
    (Figure 3 reports it for log condition number vs FID)."""
    chosen = representatives(table, spec)
    if column not in chosen:
        return {}
    result = {}
    for method, rows in chosen.groupby(spec.method, sort=False):
        pairs = rows[[column, spec.metric]].dropna()
        if len(pairs) > 2:
            result[str(method)] = float(pairs[column].corr(pairs[spec.metric]))
    return result


def evaluations(curves: pd.DataFrame, table: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """The metric at every evaluation of every run (``curves.csv`` rows of ``eval/<metric>``)
    with the run's settings from ``table``: columns ``id``, ``step``, ``value`` and the
    settings, in the grid's order. Runs not in ``table`` (e.g. unfinished) are left out."""
    tag = f"eval/{spec.metric}"
    points = curves[curves["tag"] == tag] if "tag" in curves else curves.iloc[:0]
    if spec.metric not in table:  # only the settings are needed here
        table = table.assign(**{spec.metric: float("nan")})
    runs = prepare(table, spec).set_index("id")[[*spec.settings]]
    points = points[["id", "step", "value"]].join(runs, on="id", how="inner")
    return sort_rows(points, [*spec.pair, spec.method], spec)


def curve_medians(curves: pd.DataFrame, table: pd.DataFrame, spec: ReportSpec) -> pd.DataFrame:
    """Per setting (all but the seed): the median over seeds of the metric at each evaluation
    step, one column per step, and ``best step``, the step of the best median."""
    points = evaluations(curves, table, spec)
    if points.empty:
        return pd.DataFrame(columns=[*spec.pair, spec.method])
    keys = [*spec.pair, spec.method]
    wide = points.groupby([*keys, "step"], sort=False)["value"].median().unstack("step")
    wide = wide[sorted(wide.columns)]
    best = spec.loss(wide).idxmin(axis=1, skipna=True)
    wide.columns = [str(int(step)) for step in wide.columns]
    wide["best step"] = best.astype(int).astype(str)
    return sort_rows(wide.reset_index(), keys, spec)
