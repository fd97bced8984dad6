"""The two options every layer of Appendix B's tables takes: a width multiplier on its channel
count, and spectral normalization (Miyato et al. 2018) on its weight."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["maybe_sn", "scaled"]


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels`` times the width multiplier (at least 1)."""
    return max(1, round(channels * width))


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalization (Miyato et al. 2018) on ``module`` when ``enabled``."""
    return spectral_norm(module) if enabled else module
