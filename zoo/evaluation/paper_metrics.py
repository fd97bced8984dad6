"""The paper's metrics (Sections 3.1 and 3.3), registered in the registry's ``metric`` kind:
``fid``, ``is``, ``kid``, ``prd`` and ``jacobian``. Each wraps the computation of
:mod:`zoo.metrics`; the constructor arguments are the paper's settings (gin-configurable as
``metric.NAME.ARG`` once this module is imported, as :mod:`zoo.evaluation` does)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import gin
import torch

from registry import register
from zoo.evaluation.metric import EvaluationResult, Metric, MetricInputs
from zoo.metrics.conditioning import JACOBIAN_BATCH, generator_log_condition
from zoo.metrics.fid import StreamingStats, fid_from_stats
from zoo.metrics.inception_score import SPLITS, inception_score_from_logits
from zoo.metrics.kid import NUM_SUBSETS, SUBSET_SIZE, kernel_inception_distance
from zoo.metrics.prd import (
    NUM_ANGLES,
    NUM_CLUSTERS,
    NUM_RUNS,
    compute_prd_from_embedding,
    prd_to_max_f_beta_pair,
)

__all__ = [
    "METRICS",
    "FrechetInceptionDistance",
    "InceptionScore",
    "JacobianConditioning",
    "KernelInceptionDistance",
    "PrecisionRecall",
]

METRICS = ("fid", "is", "kid", "prd", "jacobian")
"""The paper's metric names, in the order results list them, and the keys each adds:
fid -> fid; is -> is, is_std; kid -> kid, kid_std; prd -> prd_f8, prd_f1_8 (and the curve
"prd"); jacobian -> log_cond (mean over :data:`~zoo.metrics.conditioning.JACOBIAN_BATCH` z's)."""


def _register(name: str) -> Callable[[type[Metric]], type[Metric]]:
    """``registry.register("metric", name)``, also after gin has parsed and locked a config:
    the trainer imports :mod:`zoo.evaluation` only then."""

    def decorator(cls: type[Metric]) -> type[Metric]:
        with gin.unlock_config():
            return register("metric", name)(cls)

    return decorator


@_register("fid")
class FrechetInceptionDistance(Metric):
    """FID (Heusel et al., 2017; Section 3.1) between the Gaussians of the generated and the
    real features: ``fid``."""

    higher_is_better: ClassVar[Mapping[str, bool | None]] = {"fid": False}

    def __call__(self, inputs: MetricInputs) -> dict[str, float]:
        features = inputs.generated["features"]
        generated = StreamingStats(features.shape[1]).update(features)
        return {"fid": fid_from_stats(generated, inputs.real.stats)}


@_register("is")
class InceptionScore(Metric):
    """Inception Score (Salimans et al., 2016; Section 3.1) of the generated logits over
    ``splits`` chunks: ``is``, ``is_std``."""

    needs_real = False
    higher_is_better: ClassVar[Mapping[str, bool | None]] = {"is": True, "is_std": None}

    def __init__(self, splits: int = SPLITS) -> None:
        self.splits = splits

    def __call__(self, inputs: MetricInputs) -> dict[str, float]:
        mean, std = inception_score_from_logits(inputs.generated["logits"], splits=self.splits)
        return {"is": mean, "is_std": std}


@_register("kid")
class KernelInceptionDistance(Metric):
    """KID (Bińkowski et al., 2018): unbiased cubic-kernel MMD² over ``num_subsets`` random
    subsets of up to ``subset_size``: ``kid``, ``kid_std``."""

    higher_is_better: ClassVar[Mapping[str, bool | None]] = {"kid": False, "kid_std": None}

    def __init__(self, num_subsets: int = NUM_SUBSETS, subset_size: int = SUBSET_SIZE) -> None:
        self.num_subsets, self.subset_size = num_subsets, subset_size

    def __call__(self, inputs: MetricInputs) -> dict[str, float]:
        mean, std = kernel_inception_distance(
            inputs.generated["features"],
            inputs.real.features,
            num_subsets=self.num_subsets,
            subset_size=self.subset_size,
            seed=inputs.seed,
        )
        return {"kid": mean, "kid_std": std}


def _balanced(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m = min(len(a), len(b))
    return a[:m], b[:m]


@_register("prd")
class PrecisionRecall(Metric):
    """PRD (Sajjadi et al., 2018; Section 3.3, Figure 3) on balanced sets: the curve ``prd``
    averaged over ``num_runs`` clusterings into ``num_clusters``, traced at ``num_angles``
    slopes, and its summary ``prd_f8`` (recall-like), ``prd_f1_8`` (precision-like)."""

    higher_is_better: ClassVar[Mapping[str, bool | None]] = {"prd_f8": True, "prd_f1_8": True}

    def __init__(
        self,
        num_clusters: int = NUM_CLUSTERS,
        num_angles: int = NUM_ANGLES,
        num_runs: int = NUM_RUNS,
    ) -> None:
        self.num_clusters, self.num_angles, self.num_runs = num_clusters, num_angles, num_runs

    def __call__(self, inputs: MetricInputs) -> EvaluationResult:
        curve = compute_prd_from_embedding(
            *_balanced(inputs.generated["features"], inputs.real.features),
            num_clusters=self.num_clusters,
            num_angles=self.num_angles,
            num_runs=self.num_runs,
            seed=inputs.seed,
        )
        f8, f1_8 = prd_to_max_f_beta_pair(*curve)
        return EvaluationResult({"prd_f8": f8, "prd_f1_8": f1_8}, curves={"prd": curve})


@_register("jacobian")
class JacobianConditioning(Metric):
    """Generator conditioning (Odena et al., 2018; Section 3.3, Figure 3): the mean log
    condition number of ``dG(z)/dz`` over ``num_z`` seeded z's: ``log_cond``."""

    needs_generated = False
    needs_real = False
    higher_is_better: ClassVar[Mapping[str, bool | None]] = {
        "log_cond": None
    }  # a diagnostic of G, no quality score (Figure 3)

    def __init__(self, num_z: int = JACOBIAN_BATCH) -> None:
        self.num_z = num_z

    def __call__(self, inputs: MetricInputs) -> dict[str, float]:
        _, mean = generator_log_condition(
            inputs.generator, self.num_z, seed=inputs.seed, device=inputs.device
        )
        return {"log_cond": mean}
