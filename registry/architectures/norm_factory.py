"""Which of a generator's norm layers are self-modulated: every one (the paper's default) or
only some, the single-layer ablation of Figure 2(c) and Appendix A.2."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from registry._registry import resolve

__all__ = ["NormCls", "NormFactory"]

NormCls = Callable[..., nn.Module]
"""A norm class or gin's configurable copy of one, built as ``norm(num_features, z_dim=...,
num_classes=...)``."""


class NormFactory:
    """Builds the generator's norms in table order (layer 0 is the first norm of the table).

    ``modulated_layers=None`` puts ``norm`` on every layer; a list of indices puts it on those
    layers and ``fallback`` (plain BN) elsewhere: the single-layer ablation of Figure 2(c), A.2.
    """

    def __init__(
        self,
        norm: NormCls | str,
        z_dim: int,
        num_classes: int,
        modulated_layers: Sequence[int] | None = None,
        fallback: NormCls | str = "bn",
        norm_kwargs: Mapping[str, Any] | None = None,
        fallback_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.norm, self.fallback = resolve("norm", norm), resolve("norm", fallback)
        self.kwargs, self.fallback_kwargs = dict(norm_kwargs or {}), dict(fallback_kwargs or {})
        self.z_dim, self.num_classes = z_dim, num_classes
        self.modulated = None if modulated_layers is None else set(modulated_layers)
        self.count = 0

    def __call__(self, num_features: int) -> nn.Module:
        """The next norm in table order, over ``num_features`` channels."""
        chosen = self.modulated is None or self.count in self.modulated
        self.count += 1
        cls, kwargs = (self.norm, self.kwargs) if chosen else (self.fallback, self.fallback_kwargs)
        return cls(num_features, z_dim=self.z_dim, num_classes=self.num_classes, **kwargs)

    def check(self) -> None:
        """Fail if a requested layer index does not exist."""
        if self.modulated is not None and (
            bad := sorted(i for i in self.modulated if not 0 <= i < self.count)
        ):
            raise ValueError(
                f"modulated_layers {bad} out of range: this generator has "
                f"{self.count} norm layers, numbered 0..{self.count - 1}."
            )
