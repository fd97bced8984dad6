"""A run's training curve as a small PNG for its model card (matplotlib, Agg): FID against
the generator step (beside G's own weights' FID when an EMA run measured both), IS on a second
axis when it was measured, the best evaluation marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from zoo.writing import atomic_path

__all__ = ["CURVE_FILE", "plot_curve", "value_scale"]

CURVE_FILE = "training_curve.png"
"""The curve's file name in an exported model folder, next to ``samples.png``."""

_NAMES = {"fid": "FID", "is": "IS", "kid": "KID"}


def _series(history: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(h["step"], h[key]) for h in history if isinstance(h.get(key), int | float)]
    return [s for s, _ in points], [v for _, v in points]


def value_scale(values: Sequence[float]) -> str:
    """``"log"`` for positive values spanning more than 10x (an FID falling from 400 to 20:
    on a linear axis the last, slow stretch of the curve, the plateau, looks flat), else
    ``"linear"``."""
    positive = [v for v in values if v > 0]
    if len(positive) < len(values) or not positive:
        return "linear"
    return "log" if max(positive) > 10 * min(positive) else "linear"


def plot_curve(
    history: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    metric: str = "fid",
    best_step: int | None = None,
    note: str = "",
) -> Path:
    """Plot ``metric`` (lower is better) of every evaluation in ``history`` against its step
    (and ``raw_<metric>``, G's own weights beside their EMA, when the history has it), and IS
    on the right axis when the history has it; mark ``best_step``. ``note`` (the
    feature extractor, say) goes into the title. Written atomically to ``path``."""
    steps, values = _series(history, metric)
    if not steps:
        raise ValueError(f"the history has no {metric!r} to plot.")
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=100)
    name = _NAMES.get(metric, metric)
    ax.plot(steps, values, "o-", color="C0", markersize=3, label=name)
    if (raw := _series(history, f"raw_{metric}"))[0]:  # train.eval_raw_generator
        ax.plot(*raw, "o:", color="C2", markersize=3, label=f"{name} of G without EMA")
    if value_scale(values + raw[1]) == "log":
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 10 20 50 100 200 ...
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("generator step")
    ax.set_ylabel(name, color="C0")
    if best_step in steps:
        best = values[steps.index(best_step)]
        ax.axvline(best_step, color="0.6", linestyle=":", linewidth=1)
        ax.plot([best_step], [best], "*", color="C3", markersize=11,
                label=f"best: {best:.4g} at step {best_step}")  # fmt: skip
    shown = [ax]
    if metric != "is" and (inception := _series(history, "is"))[0]:
        shown.append(right := ax.twinx())
        right.plot(*inception, "s--", color="C1", markersize=3, label="IS")
        right.set_ylabel("IS", color="C1")
    handles = [h for axes in shown for h in axes.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{name} during training{f' ({note})' if note else ''}", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # the legend below, off the curves
    with atomic_path(Path(path)) as partial:
        fig.savefig(partial, format="png")
    plt.close(fig)
    return Path(path)
