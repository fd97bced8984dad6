"""Kernel Inception Distance (Bińkowski et al., 2018, "Demystifying MMD GANs").

The unbiased estimator of MMD² with the cubic polynomial kernel ``k(x, y) = (x·y / d + 1)³``,
averaged over random subsets (100 subsets of 1000 by default, capped at the sample sizes).
"""

from __future__ import annotations

import numpy as np
import torch

from zoo.metrics.arrays import as_float64_array

__all__ = ["NUM_SUBSETS", "SUBSET_SIZE", "kernel_inception_distance", "polynomial_mmd2_unbiased"]

NUM_SUBSETS = 100
"""Random subsets KID is averaged over (Bińkowski et al.'s default)."""
SUBSET_SIZE = 1000
"""Rows per subset (capped at the sample sizes)."""


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    k = x @ y.T
    k /= x.shape[1]
    k += 1.0
    return k * k * k  # much faster than ** 3


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between two ``m×d`` samples (diagonals of k(x, x), k(y, y) excluded)."""
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("the unbiased MMD² needs at least 2 samples per set")
    k_xx, k_yy, k_xy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kernel_inception_distance(
    features1: torch.Tensor | np.ndarray,
    features2: torch.Tensor | np.ndarray,
    num_subsets: int = NUM_SUBSETS,
    subset_size: int = SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial-kernel MMD² over random subsets.

    Each subset draws ``min(subset_size, n1, n2)`` rows without replacement from each set.
    """
    x, y = as_float64_array(features1), as_float64_array(features2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dims differ: {x.shape[1]} vs {y.shape[1]}")
    size = min(subset_size, x.shape[0], y.shape[0])
    rng = np.random.default_rng(seed)
    values = [
        polynomial_mmd2_unbiased(
            x[rng.choice(x.shape[0], size, replace=False)],
            y[rng.choice(y.shape[0], size, replace=False)],
        )
        for _ in range(num_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
