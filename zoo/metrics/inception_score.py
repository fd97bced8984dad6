"""Inception Score (Salimans et al., 2016), Section 3.1 of the paper.

``IS = exp(E_x KL(p(y|x) || p(y)))``, computed on ``splits`` consecutive chunks of the samples
(10 by convention, as in the original TF code); returns the mean and std over chunks.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SPLITS", "inception_score", "inception_score_from_logits"]

SPLITS = 10
"""Chunks the score is computed on (the convention of the original TF code)."""


def inception_score(probs: torch.Tensor | np.ndarray, splits: int = SPLITS) -> tuple[float, float]:
    """(mean, std) of the Inception Score of ``N×K`` class probabilities over ``splits`` chunks."""
    p = torch.as_tensor(probs).detach().to("cpu", torch.float64)
    if p.ndim != 2:
        raise ValueError(f"expected N×K probabilities, got shape {tuple(p.shape)}")
    n = p.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"need 1 <= splits <= number of samples ({n}), got {splits}")
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(dim=0, keepdim=True)
        # xlogy makes 0 * log 0 = 0, so one-hot predictions are fine.
        kl = torch.xlogy(part, part) - torch.xlogy(part, marginal.expand_as(part))
        scores.append(torch.exp(kl.sum(dim=1).mean()).item())
    return float(np.mean(scores)), float(np.std(scores))


def inception_score_from_logits(
    logits: torch.Tensor | np.ndarray, splits: int = SPLITS
) -> tuple[float, float]:
    """:func:`inception_score` of ``softmax(logits)``."""
    x = torch.as_tensor(logits).detach().to("cpu", torch.float64)
    return inception_score(torch.softmax(x, dim=1), splits=splits)
