"""Sample-quality metrics of the paper (Section 3.1, 3.3): FID, Inception Score, KID,
precision/recall for distributions (PRD) and the generator's Jacobian conditioning."""

from zoo.metrics.conditioning import (
    generator_log_condition,
    jacobian_log_condition,
    per_sample_jacobians,
)
from zoo.metrics.fid import StreamingStats, fid_from_features, fid_from_stats, frechet_distance
from zoo.metrics.inception_score import inception_score, inception_score_from_logits
from zoo.metrics.kid import kernel_inception_distance, polynomial_mmd2_unbiased
from zoo.metrics.prd import (
    compute_prd,
    compute_prd_from_embedding,
    kmeans,
    plot_prd_curves,
    prd_to_max_f_beta_pair,
)

__all__ = [
    "StreamingStats",
    "compute_prd",
    "compute_prd_from_embedding",
    "fid_from_features",
    "fid_from_stats",
    "frechet_distance",
    "generator_log_condition",
    "inception_score",
    "inception_score_from_logits",
    "jacobian_log_condition",
    "kernel_inception_distance",
    "kmeans",
    "per_sample_jacobians",
    "plot_prd_curves",
    "polynomial_mmd2_unbiased",
    "prd_to_max_f_beta_pair",
]
