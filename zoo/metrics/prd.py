"""Precision and recall for distributions (PRD; Sajjadi et al., NeurIPS 2018), Section 3.3.

Following the reference implementation: the union of evaluated and reference embeddings is
clustered with k-means into 20 clusters, both sets are histogrammed over the clusters, and the
PRD curve ``alpha(λ) = Σ min(λ P, Q)``, ``beta(λ) = alpha(λ) / λ`` (P reference, Q evaluated)
is traced over 1001 angles in (0, π/2); curves are averaged over 10 clusterings. The paper
reports the summary pair ``(F_8, F_1/8)``: ``F_8`` is the recall-weighted ("recall") and
``F_1/8`` the precision-weighted score.

k-means here is full-batch Lloyd with k-means++ seeding in torch (the reference uses
scikit-learn's MiniBatchKMeans); each run is seeded, so results are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from zoo.metrics.arrays import as_float64_array

__all__ = [
    "NUM_ANGLES",
    "NUM_CLUSTERS",
    "NUM_RUNS",
    "compute_prd",
    "compute_prd_from_embedding",
    "kmeans",
    "plot_prd_curves",
    "prd_to_max_f_beta_pair",
]

NUM_CLUSTERS = 20
"""k-means clusters of the union of both feature sets (the reference's default)."""
NUM_ANGLES = 1001
"""Slopes in (0, π/2) at which the curve is traced."""
NUM_RUNS = 10
"""Clusterings the curve is averaged over."""


def _sq_distances(x: torch.Tensor, centres: torch.Tensor, x_sq: torch.Tensor) -> torch.Tensor:
    d = x_sq[:, None] - 2.0 * (x @ centres.T) + (centres * centres).sum(dim=1)[None]
    return d.clamp_min_(0.0)


def kmeans(
    data: torch.Tensor | np.ndarray,
    num_clusters: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
) -> np.ndarray:
    """Cluster labels (``int64``, shape ``(N,)``) from Lloyd's k-means with k-means++ seeding."""
    x = torch.as_tensor(data).detach().to("cpu", torch.float32)
    x = x - x.mean(dim=0)  # centring keeps the expanded squared distances accurate in float32
    n = x.shape[0]
    if n < num_clusters:
        raise ValueError(f"cannot make {num_clusters} clusters from {n} points")
    gen = torch.Generator().manual_seed(seed)
    x_sq = (x * x).sum(dim=1)

    # k-means++ seeding: each new centre is drawn with probability ∝ squared distance.
    centres = x[torch.randint(n, (1,), generator=gen)]
    closest = _sq_distances(x, centres, x_sq)[:, 0]
    for _ in range(1, num_clusters):
        total = closest.sum()
        if total <= 0:  # all remaining points coincide with centres
            idx = torch.randint(n, (1,), generator=gen)
        else:
            idx = torch.multinomial(closest / total, 1, generator=gen)
        centres = torch.cat([centres, x[idx]])
        closest = torch.minimum(closest, _sq_distances(x, x[idx], x_sq)[:, 0])

    labels = torch.zeros(n, dtype=torch.int64)
    for _ in range(max_iter):
        dist = _sq_distances(x, centres, x_sq)
        labels = dist.argmin(dim=1)
        onehot = torch.nn.functional.one_hot(labels, num_clusters).to(x.dtype)
        counts = onehot.sum(dim=0)
        new = (onehot.T @ x) / counts.clamp_min(1)[:, None]
        empty = (counts == 0).nonzero().flatten()
        if len(empty):  # re-seed empty clusters at the points farthest from their centre
            far = dist.gather(1, labels[:, None])[:, 0].argsort(descending=True)
            new[empty] = x[far[: len(empty)]]
        shift = ((new - centres) ** 2).sum()
        centres = new
        if shift <= tol * (x_sq.mean() + 1e-12):
            break
    labels = _sq_distances(x, centres, x_sq).argmin(dim=1)
    return labels.numpy()


def compute_prd(
    eval_dist: np.ndarray,
    ref_dist: np.ndarray,
    num_angles: int = NUM_ANGLES,
    epsilon: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray]:
    """PRD curve (precision, recall) of two histograms over ``num_angles`` slopes in (0, π/2)."""
    if not (num_angles >= 3 and num_angles <= 1e6):
        raise ValueError("num_angles must be in [3, 1e6]")
    if not (0 < epsilon <= 0.1):
        raise ValueError("epsilon must be in (0, 0.1]")
    eval_dist, ref_dist = np.asarray(eval_dist, np.float64), np.asarray(ref_dist, np.float64)
    slopes = np.tan(np.linspace(epsilon, math.pi / 2 - epsilon, num_angles))
    precision = np.minimum(ref_dist[None, :] * slopes[:, None], eval_dist[None, :]).sum(axis=1)
    recall = precision / slopes
    # Rounding can push values a hair above 1.
    return np.clip(precision, 0, 1), np.clip(recall, 0, 1)


def _histograms(
    eval_data: np.ndarray, ref_data: np.ndarray, num_clusters: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    labels = kmeans(np.concatenate([eval_data, ref_data]), num_clusters, seed=seed)
    eval_labels, ref_labels = labels[: len(eval_data)], labels[len(eval_data) :]
    eval_bins = np.bincount(eval_labels, minlength=num_clusters) / len(eval_labels)
    ref_bins = np.bincount(ref_labels, minlength=num_clusters) / len(ref_labels)
    return eval_bins, ref_bins


def compute_prd_from_embedding(
    eval_data: torch.Tensor | np.ndarray,
    ref_data: torch.Tensor | np.ndarray,
    num_clusters: int = NUM_CLUSTERS,
    num_angles: int = NUM_ANGLES,
    num_runs: int = NUM_RUNS,
    enforce_balance: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """PRD curve of evaluated vs reference embeddings, averaged over ``num_runs`` clusterings.

    With ``enforce_balance`` (the reference default) the two sets must have the same size,
    since an imbalance biases the histograms.
    """
    eval_np, ref_np = as_float64_array(eval_data), as_float64_array(ref_data)
    if enforce_balance and len(eval_np) != len(ref_np):
        raise ValueError(
            f"PRD needs as many evaluated as reference samples ({len(eval_np)} vs {len(ref_np)});"
            " subsample the larger set or pass enforce_balance=False."
        )
    precisions, recalls = [], []
    for run in range(num_runs):
        eval_dist, ref_dist = _histograms(eval_np, ref_np, num_clusters, seed + run)
        precision, recall = compute_prd(eval_dist, ref_dist, num_angles)
        precisions.append(precision)
        recalls.append(recall)
    return np.mean(precisions, axis=0), np.mean(recalls, axis=0)


def _f_beta(precision: np.ndarray, recall: np.ndarray, beta: float, eps: float = 1e-10):
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall + eps)


def prd_to_max_f_beta_pair(
    precision: np.ndarray, recall: np.ndarray, beta: float = 8
) -> tuple[float, float]:
    """``(max F_beta, max F_1/beta)`` along a PRD curve: with beta=8, ``(F_8, F_1/8)``."""
    precision, recall = np.asarray(precision), np.asarray(recall)
    if np.any(precision < 0) or np.any(precision > 1) or np.any(recall < 0) or np.any(recall > 1):
        raise ValueError("precision and recall must lie in [0, 1]")
    if beta <= 0:
        raise ValueError("beta must be positive")
    return (
        float(np.max(_f_beta(precision, recall, beta))),
        float(np.max(_f_beta(precision, recall, 1.0 / beta))),
    )


def plot_prd_curves(
    curves: Sequence[tuple[np.ndarray, np.ndarray]],
    out_path: str | Path,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    dpi: int = 150,
) -> Path:
    """Save PRD curves (recall on x, precision on y) as a PNG with matplotlib's Agg backend."""
    # An Agg canvas on a bare Figure: no pyplot, no global backend switch, safe headless.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if labels is not None and len(labels) != len(curves):
        raise ValueError("need one label per curve")
    fig = Figure(figsize=(4.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for i, (precision, recall) in enumerate(curves):
        label = labels[i] if labels is not None else None
        ax.plot(recall, precision, label=label, alpha=0.8, linewidth=2)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.legend(loc="lower left")
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=dpi)
    return out_path
