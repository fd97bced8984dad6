"""Fréchet Inception Distance (Heusel et al., 2017), as used in Section 3.1 of the paper.

``FID = ||mu_x - mu_g||² + Tr(S_x + S_g - 2 (S_x S_g)^½)`` between Gaussians fitted to the
features of real and generated images. :class:`StreamingStats` accumulates the mean and
covariance in float64 batch by batch (Chan et al.'s pairwise update), merges across processes
and saves to / loads from ``.safetensors`` (never pickles); :func:`frechet_distance` follows
pytorch-fid's ``calculate_frechet_distance`` (scipy ``sqrtm``, eps-offset retry, imaginary check).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy import linalg

__all__ = ["StreamingStats", "fid_from_features", "fid_from_stats", "frechet_distance"]


class StreamingStats:
    """Running mean and covariance of feature vectors, in float64.

    Keeps the count ``n``, the mean and ``m2`` (the sum of outer products of centred vectors),
    so batches and partial results combine exactly (up to rounding) in any order.
    """

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self.n = 0
        self._mean = torch.zeros(self.dim, dtype=torch.float64)
        self._m2 = torch.zeros(self.dim, self.dim, dtype=torch.float64)

    def _combine(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        if n_b == 0:
            return
        n_a, n = self.n, self.n + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + torch.outer(delta, delta) * (n_a * n_b / n)
        self.n = n

    @torch.no_grad()
    def update(self, features: torch.Tensor | np.ndarray) -> StreamingStats:
        """Add a batch of ``N×dim`` features; returns ``self``."""
        x = torch.as_tensor(features).detach().to("cpu", torch.float64).reshape(-1, self.dim)
        if x.shape[0] == 0:
            return self
        mean_b = x.mean(dim=0)
        centred = x - mean_b
        self._combine(x.shape[0], mean_b, centred.T @ centred)
        return self

    def merge(self, other: StreamingStats) -> StreamingStats:
        """Fold in another accumulator's statistics (e.g. another process's); returns ``self``."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge stats of dim {other.dim} into dim {self.dim}")
        self._combine(other.n, other._mean, other._m2)
        return self

    def reduce(self, accelerator: Any) -> StreamingStats:
        """Merge the accumulators of all processes of an ``accelerate.Accelerator`` (all ranks
        end with the same totals); returns a new object."""
        device = accelerator.device
        count = torch.tensor([float(self.n)], dtype=torch.float64, device=device)
        counts = accelerator.gather(count).cpu()
        means = accelerator.gather(self._mean[None].to(device)).cpu()
        m2s = accelerator.gather(self._m2[None].to(device)).cpu()
        total = StreamingStats(self.dim)
        for n_b, mean_b, m2_b in zip(counts.tolist(), means, m2s, strict=True):
            total._combine(int(n_b), mean_b, m2_b)
        return total

    @property
    def mean(self) -> np.ndarray:
        """The mean, float64 numpy array of shape ``(dim,)``."""
        return self._mean.numpy().copy()

    @property
    def covariance(self) -> np.ndarray:
        """The unbiased covariance (``np.cov`` convention, ``ddof=1``), ``(dim, dim)`` float64."""
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got {self.n}")
        return (self._m2 / (self.n - 1)).numpy().copy()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that fully describe the accumulator."""
        return {
            "n": torch.tensor([self.n], dtype=torch.int64),
            "mean": self._mean.clone(),
            "m2": self._m2.clone(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> StreamingStats:
        """Rebuild an accumulator from :meth:`state_dict`'s output."""
        mean = state["mean"].to(torch.float64)
        stats = cls(mean.shape[0])
        stats.n = int(state["n"].reshape(-1)[0])
        stats._mean = mean.clone()
        stats._m2 = state["m2"].to(torch.float64).clone()
        return stats

    def save(self, path: str | Path) -> None:
        """Write to ``path`` as safetensors."""
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> StreamingStats:
        """Read an accumulator written by :meth:`save`."""
        return cls.from_state_dict(load_file(str(path)))


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on singular input; we check finiteness.
        return linalg.sqrtm(matrix)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    As pytorch-fid's ``calculate_frechet_distance``: if ``sqrtm(sigma1 @ sigma2)`` is not finite
    (singular product), retry with ``eps`` added to both diagonals; a complex square root with
    a non-negligible imaginary diagonal (``> 1e-3``) raises ``ValueError``.
    """
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean shapes differ: {mu1.shape} vs {mu2.shape}")
    if sigma1.shape != sigma2.shape:
        raise ValueError(f"covariance shapes differ: {sigma1.shape} vs {sigma2.shape}")

    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        warnings.warn(
            f"FID: sqrtm of the covariance product is singular; adding {eps} to the diagonals.",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            worst = np.max(np.abs(covmean.imag))
            raise ValueError(f"FID: sqrtm has a significant imaginary component {worst}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(
    features1: torch.Tensor | np.ndarray, features2: torch.Tensor | np.ndarray
) -> float:
    """FID between two ``N×D`` feature sets."""
    f1, f2 = torch.as_tensor(features1), torch.as_tensor(features2)
    return fid_from_stats(
        StreamingStats(f1.shape[1]).update(f1), StreamingStats(f2.shape[1]).update(f2)
    )


def fid_from_stats(stats1: StreamingStats, stats2: StreamingStats) -> float:
    """FID between the Gaussians of two accumulated feature sets."""
    return frechet_distance(stats1.mean, stats1.covariance, stats2.mean, stats2.covariance)
