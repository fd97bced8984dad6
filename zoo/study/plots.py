"""The study's figures (matplotlib, Agg): FID distributions per model for each method
(Figure 2(a); Figure 2(c) / Figure 4 when several methods face one baseline, e.g. the layer
ablation), and log condition number vs FID and precision/recall (F_1/8 vs F_8) per setting
(Figure 3, Section 3.3 / A.3), the metric over training steps per setting (the runs'
evaluations, from ``curves.csv``), and each setting's samples at its best evaluation side by
side per method (where mode dropping shows)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from zoo.study.aggregate import correlations, evaluations, prepare, representatives, sort_rows
from zoo.study.spec import ReportSpec

__all__ = [
    "distributions_figure",
    "plot_condition",
    "plot_curves",
    "plot_distributions",
    "plot_prd",
    "plot_samples",
]


def _labels(table: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's label from ``columns``, leaving out a column that the ones before it already
    determine (a tag such as ``opt`` that follows ``reg``): "ns/sn", not "ns/sn/sn"."""
    keep: list[str] = []
    for column in columns:
        if keep and (table.groupby(keep, dropna=False)[column].nunique(dropna=False) <= 1).all():
            continue
        keep.append(column)
    return table.apply(lambda row: "/".join(str(row[c]) for c in keep) or "all", axis=1)


def distributions_figure(table: pd.DataFrame, spec: ReportSpec) -> str:
    """The paper's figure that :func:`plot_distributions` draws for ``table``: ``"2(a)"`` for
    one method against the baseline, ``"2(c)"`` for several (where to modulate)."""
    shown = prepare(table, spec).dropna(subset=[spec.metric])
    return "2(c)" if len(spec.methods(list(shown[spec.method].unique()))) >= 2 else "2(a)"


def plot_distributions(table: pd.DataFrame, spec: ReportSpec, path: str | Path) -> Path:
    """Figure 2(a): box plots of the metric over runs (seeds and tuned settings) per model,
    one box per method, plus all models pooled; each run is also drawn as a dot. With several
    methods it is Figure 2(c) / Figure 4 (where to modulate); with one model, a box per method
    side by side."""
    table = sort_rows(prepare(table, spec).dropna(subset=[spec.metric]), spec.model, spec)
    methods = spec.ordered(list(table[spec.method].unique()))
    if spec.model:  # a group per model, then all models pooled (None), a box per method in each
        labels = _labels(table, spec.model)
        names = [*dict.fromkeys(labels), "all"]
        groups, slots = [*names[:-1], None], max(len(methods), 1)
    else:  # one model: each method's box is a group of its own
        labels, names, groups, slots = table[spec.method], methods, methods, 1
    width = 0.8 / slots
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * slots**0.5), 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    rng = np.random.default_rng(0)
    for m, method in enumerate(methods):
        mine, offset = table[spec.method] == method, (m % slots - (slots - 1) / 2) * width
        values = [
            table.loc[mine & (group is None or labels == group), spec.metric] for group in groups
        ]
        kept = [(d.to_numpy(), g + offset) for g, d in enumerate(values) if len(d)]
        if not kept:
            continue
        color = colors[m % len(colors)]
        ax.boxplot(
            [d for d, _ in kept],
            positions=[p for _, p in kept],
            widths=width * 0.8,
            patch_artist=True,
            boxprops={"facecolor": color, "alpha": 0.35},
            medianprops={"color": color},
            showfliers=False,
        )
        for d, p in kept:
            ax.scatter(p + rng.uniform(-width / 5, width / 5, len(d)), d, s=8, color=color)
        ax.plot([], [], color=color, lw=6, alpha=0.5, label=method)
    ax.set_xticks(range(len(groups)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(spec.metric.upper())
    figure = distributions_figure(table, spec)
    ax.set_title(f"{spec.metric.upper()} over seeds and tuned settings (Figure {figure})")
    ax.legend(title=spec.method, fontsize=8)
    return _save(fig, path)


def _scatter(
    table: pd.DataFrame,
    spec: ReportSpec,
    x: str,
    y: str,
    path: str | Path,
    title: str,
    labels: tuple[str, str] | None = None,
    with_r: bool = True,
) -> Path | None:
    """``y`` against ``x`` at each setting's median-seed run, a colour per method; ``with_r``
    adds each method's Pearson r of ``x`` and the metric (the report's, :func:`correlations`)."""
    chosen = representatives(table, spec)
    if x not in chosen or y not in chosen or chosen[[x, y]].dropna().empty:
        return None
    fig, ax = plt.subplots(figsize=(5, 4))
    r = correlations(table, spec, x) if with_r else {}
    for method in spec.ordered(list(chosen[spec.method].unique())):
        points = chosen[chosen[spec.method] == method][[x, y]].dropna()
        label = method + (f" (r = {r[method]:.2f})" if np.isfinite(r.get(method, np.nan)) else "")
        ax.scatter(points[x], points[y], s=18, label=label, alpha=0.8)
    ax.set_xlabel(labels[0] if labels else x)
    ax.set_ylabel(labels[1] if labels else y)
    ax.set_title(title, fontsize=9)
    ax.legend(title=spec.method, fontsize=8)
    return _save(fig, path)


def plot_condition(table: pd.DataFrame, spec: ReportSpec, path: str | Path) -> Path | None:
    """Figure 3 (left): log condition number of G's Jacobian vs the metric, one point per
    setting (its median-seed run), Pearson r per method. None without ``log_cond``."""
    title = f"log condition number vs {spec.metric.upper()} (Figure 3, left)"
    return _scatter(table, spec, "log_cond", spec.metric, path, title)


def plot_prd(table: pd.DataFrame, spec: ReportSpec, path: str | Path) -> Path | None:
    """Figure 3 (right): F_1/8 (precision) against F_8 (recall), one point per setting:
    F_beta weighs recall beta times as much as precision (Sajjadi et al., 2018), so a model
    that drops modes sits to the left, one that covers them to the right (Section 3.3).
    None without PRD metrics."""
    labels = ("F_8 (recall)", "F_1/8 (precision)")
    title = "PRD: F_1/8 vs F_8 (Figure 3, right)"
    return _scatter(table, spec, "prd_f8", "prd_f1_8", path, title, labels, with_r=False)


def plot_curves(
    curves: pd.DataFrame, table: pd.DataFrame, spec: ReportSpec, path: str | Path
) -> Path | None:
    """The metric at each evaluation during training: a panel per setting without the method
    (e.g. loss/arch/reg), a colour per method, each seed a thin line and the median over seeds
    a thick one. ``curves`` is ``curves.csv`` (id, tag, step, value); ``table`` gives each run's
    settings. None when no run has an evaluation of the metric."""
    points = evaluations(curves, table, spec)
    if points.empty:
        return None
    labels = _labels(points, spec.pair)
    panels = list(dict.fromkeys(labels))
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = spec.ordered(list(points[spec.method].unique()))
    for ax, panel in zip(axes.flat, panels, strict=False):
        for m, method in enumerate(methods):
            mine = points[(labels == panel) & (points[spec.method] == method)]
            if mine.empty:
                continue
            color = colors[m % len(colors)]
            for _, run in mine.groupby("id", sort=False):
                ax.plot(run["step"], run["value"], color=color, alpha=0.3, lw=0.8)
            median = mine.groupby("step")["value"].median()
            ax.plot(median.index, median.to_numpy(), color=color, lw=2, marker="o", ms=3)
        ax.set_title(panel, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(spec.metric.upper(), fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("generator step", fontsize=8)
    keys = [Line2D([], [], color=colors[m % len(colors)], lw=2) for m in range(len(methods))]
    axes.flat[0].legend(keys, methods, title=spec.method, fontsize=7, title_fontsize=7)
    fig.suptitle(f"{spec.metric.upper()} during training (thin: seeds, thick: median)", fontsize=9)
    return _save(fig, path)


def _sample_file(run_dir: Path | None, step: float) -> tuple[Path, int] | None:
    """The run's saved sample grid (``RUN/samples/step_N.png``) at ``step``, else the saved
    one nearest to it; None when the run saved none."""
    saved = sorted(run_dir.glob("samples/step_*.png")) if run_dir is not None else []
    if not saved:
        return None
    steps = [int(f.stem.removeprefix("step_")) for f in saved]
    target = steps[-1] if pd.isna(step) else int(step)
    best = min(range(len(saved)), key=lambda i: (abs(steps[i] - target), -steps[i]))
    return saved[best], steps[best]


def plot_samples(
    table: pd.DataFrame, spec: ReportSpec, run_dirs: Mapping[str, Path], path: str | Path
) -> Path | None:
    """Samples at the best evaluation: for each setting, the sample grid that its median-seed
    run (:func:`~zoo.study.aggregate.representatives`) saved at its ``best_step``, the methods
    side by side per setting without the method. ``run_dirs`` maps run ids to their folders.
    None when no chosen run saved a grid."""
    if not run_dirs or "id" not in table:
        return None
    chosen = representatives(table, spec)
    steps = chosen["best_step"] if "best_step" in chosen else pd.Series(np.nan, chosen.index)
    found = {
        run_id: hit
        for run_id, step in zip(chosen["id"], steps, strict=True)
        if (hit := _sample_file(run_dirs.get(run_id), step)) is not None
    }
    if not found:
        return None
    labels = _labels(chosen, spec.pair)
    panels = list(dict.fromkeys(labels))
    methods = spec.ordered(list(chosen[spec.method].unique()))
    per_row = max(1, 4 // len(methods))  # settings side by side in one row of the figure
    rows, columns = -(-len(panels) // per_row), per_row * len(methods)
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for p, panel in enumerate(panels):
        for m, method in enumerate(methods):
            mine = chosen[(labels == panel) & (chosen[spec.method] == method)]
            if mine.empty:
                continue
            run, ax = mine.iloc[0], axes[p // per_row, (p % per_row) * len(methods) + m]
            name = f"{panel}: {method}" if spec.pair else str(method)
            title = f"{name}\n{spec.metric.upper()} {run[spec.metric]:.1f}, seed {run[spec.seed]}"
            if run["id"] in found:
                file, step = found[run["id"]]
                ax.imshow(plt.imread(file), cmap="gray")
                title += f", step {step}"
            else:
                ax.text(0.5, 0.5, "no samples saved", ha="center", transform=ax.transAxes)
            ax.set_title(title, fontsize=7)
    fig.suptitle("Samples at the best evaluation (the median-seed run of each setting)", fontsize=9)
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
