"""What a metric of the registry's ``metric`` kind implements, what it receives and what an
evaluation returns.

A metric is a class (or factory) registered with ``@registry.register("metric", "name")``;
:func:`zoo.evaluation.evaluate` builds it with ``registry.create("metric", name)`` (so gin
bindings ``metric.name.param = ...`` apply) and calls it once, on the main process, with the
features of the real and of the generated images, computed once per evaluation and shared by
all metrics::

    @registry.register("metric", "mean_feature")
    class MeanFeature(Metric):
        needs_real = False

        def __call__(self, inputs: MetricInputs) -> dict[str, float]:
            return {"mean_feature": float(inputs.generated["features"].mean())}

Register before a gin config is parsed (gin then locks its configurables; an entry-point plugin
always is), or inside ``gin.unlock_config()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from zoo.evaluation.real import RealStatistics

__all__ = ["Curve", "EvaluationResult", "Metric", "MetricInputs"]

Curve = tuple[np.ndarray, np.ndarray]
"""A PRD-style curve: ``(precision, recall)``, equally long 1-d arrays."""


class EvaluationResult(dict[str, float]):
    """An evaluation's scores (key -> float, e.g. ``"fid"``), with the curves of the metrics
    that have one in :attr:`curves` (key -> :data:`Curve`, e.g. ``"prd"``)."""

    def __init__(
        self, scores: Mapping[str, float] | None = None, curves: Mapping[str, Curve] | None = None
    ) -> None:
        super().__init__(scores or {})
        self.curves: dict[str, Curve] = dict(curves or {})

    def add(self, part: Mapping[str, float]) -> None:
        """Fold in one metric's output: a mapping of scores, or a result with curves."""
        self.update({key: float(value) for key, value in part.items()})
        self.curves.update(getattr(part, "curves", {}))


@dataclass(frozen=True)
class MetricInputs:
    """What a metric is computed from.

    ``generated`` is ``{"features": N×D, "logits": N×K}`` of the generated images and ``real``
    the real-data statistics (FID mean/covariance in ``real.stats``, features in
    ``real.features``); each is None unless some metric of the evaluation needs it. The
    generator (unwrapped, in its caller's mode) is there for metrics that probe the model.
    """

    generator: nn.Module
    device: torch.device
    seed: int
    generated: dict[str, torch.Tensor] | None = None
    real: RealStatistics | None = None


class Metric:
    """Base class of a metric: say which features it needs and compute its scores.

    ``needs_generated``: features/logits of the generated images; ``needs_real``: real-data
    statistics (from a dataset). ``__call__`` returns a mapping of float scores (an
    :class:`EvaluationResult` when it also has curves). ``higher_is_better`` names each score
    it returns and which way it is better: True (higher, e.g. IS), False (lower, e.g. FID) or
    None (neither: a spread, a diagnostic); a study ranks and compares runs by it.
    """

    needs_generated: ClassVar[bool] = True
    needs_real: ClassVar[bool] = True
    higher_is_better: ClassVar[Mapping[str, bool | None]] = {}

    def __call__(self, inputs: MetricInputs) -> Mapping[str, float]:
        raise NotImplementedError
