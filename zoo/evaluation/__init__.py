"""Evaluate a generator against a dataset: FID, IS, KID, PRD (F_8, F_1/8) and the generator's
Jacobian conditioning, the measures of Sections 3.1 and 3.3 of the paper.

Generated images are clamped to [-1, 1] and quantized to 8 bits (as if saved as image files,
like the real data) before feature extraction; the generator is sampled in eval mode (its mode is
restored afterwards). Real-data statistics (FID mean/covariance and up to
:data:`MAX_CACHED_FEATURES` real features for KID/PRD) are cached as safetensors per (dataset
name, split, extractor name, resolution, ``num_samples``) and reused. With an
``accelerate.Accelerator`` every process generates and embeds its share, features are gathered,
the main process computes the metrics and all processes return the same dict.

Metrics are looked up by name in the registry's ``metric`` kind (see :class:`Metric` to add
one); :func:`evaluate` returns a dict of floats whose ``curves`` attribute holds the PRD curve
when "prd" is asked for.

Modules: ``api`` (the entry points), ``metric`` (the metric interface), ``paper_metrics`` (the
five registered metrics), ``real`` and ``generated`` (the two feature sets), ``extractor`` and
``distributed`` (helpers).
"""

from zoo.evaluation.api import (
    build_metrics,
    check_metrics,
    evaluate,
    higher_is_better,
    metric_names,
    metric_scores,
    prd_curve,
)
from zoo.evaluation.extractor import EVAL_BATCH_SIZE, resolve_extractor
from zoo.evaluation.generated import generated_features
from zoo.evaluation.metric import Curve, EvaluationResult, Metric, MetricInputs
from zoo.evaluation.paper_metrics import METRICS
from zoo.evaluation.real import (
    DEFAULT_CACHE_DIR,
    MAX_CACHED_FEATURES,
    REAL_SUBSET_SEED,
    RealStatistics,
    real_statistics,
)
from zoo.metrics.conditioning import JACOBIAN_BATCH
from zoo.metrics.prd import plot_prd_curves

__all__ = [
    "DEFAULT_CACHE_DIR",
    "EVAL_BATCH_SIZE",
    "JACOBIAN_BATCH",
    "MAX_CACHED_FEATURES",
    "METRICS",
    "REAL_SUBSET_SEED",
    "Curve",
    "EvaluationResult",
    "Metric",
    "MetricInputs",
    "RealStatistics",
    "build_metrics",
    "check_metrics",
    "evaluate",
    "generated_features",
    "higher_is_better",
    "metric_names",
    "metric_scores",
    "plot_prd_curves",
    "prd_curve",
    "real_statistics",
    "resolve_extractor",
]
