"""Input conversion shared by the metrics that work in numpy (KID, PRD)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_float64_array"]


def as_float64_array(data: torch.Tensor | np.ndarray) -> np.ndarray:
    """``data`` (a tensor on any device, or an array) as a float64 numpy array on the CPU."""
    return torch.as_tensor(data).detach().to("cpu", torch.float64).numpy()
