"""The entry points :func:`evaluate` and :func:`prd_curve`. Metrics are looked up by name in the
registry's ``metric`` kind; the real and the generated features are computed once per
evaluation and shared by all metrics, which the main process computes; every process returns
the same result."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from torch import nn

import registry
from zoo.evaluation.distributed import broadcast, device_of, is_main, unwrap
from zoo.evaluation.extractor import EVAL_BATCH_SIZE, resolve_extractor
from zoo.evaluation.generated import generated_features
from zoo.evaluation.metric import Curve, EvaluationResult, Metric, MetricInputs
from zoo.evaluation.paper_metrics import METRICS, PrecisionRecall
from zoo.evaluation.real import real_statistics
from zoo.metrics.prd import NUM_ANGLES, NUM_CLUSTERS, NUM_RUNS

__all__ = [
    "build_metrics",
    "check_metrics",
    "evaluate",
    "higher_is_better",
    "metric_names",
    "metric_scores",
    "prd_curve",
]


def metric_names() -> tuple[str, ...]:
    """The names :func:`evaluate` accepts: the paper's (:data:`METRICS`), then plugins'."""
    return METRICS + tuple(name for name in registry.list("metric") if name not in METRICS)


def metric_scores(metrics: Sequence[str] | None = None) -> dict[str, bool | None]:
    """Every score the named metrics (default: all registered) return, and which way it is
    better: True higher, False lower, None neither (:attr:`Metric.higher_is_better`)."""
    scores: dict[str, bool | None] = {}
    for name in metric_names() if metrics is None else metrics:
        scores.update(getattr(registry.get("metric", name), "higher_is_better", {}))
    return scores


def higher_is_better(score: str) -> bool | None:
    """Whether a higher ``score`` is better (True), a lower one (False), or neither (None, also
    for a score that no registered metric returns)."""
    return metric_scores().get(score)


def check_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """The distinct metric names asked for, in :func:`metric_names` order (the order of the
    result's keys); an unknown name raises ``ValueError`` listing the known ones."""
    asked = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    known = metric_names()
    unknown = [m for m in asked if m not in known]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {', '.join(known)}")
    return tuple(name for name in known if name in asked)


def build_metrics(metrics: str | Sequence[str | Metric]) -> list[Metric]:
    """Metric objects: each name built by ``registry.create("metric", name)`` (gin bindings
    apply), in :func:`check_metrics` order, then the given :class:`Metric` objects as they are."""
    asked = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    names = check_metrics([m for m in asked if isinstance(m, str)])
    objects = [m for m in asked if not isinstance(m, str)]
    return [registry.create("metric", name) for name in names] + objects


def evaluate(
    generator: nn.Module,
    dataset: Any,
    *,
    metrics: Sequence[str | Metric] = ("fid", "is"),
    num_samples: int = 10_000,
    extractor: str | nn.Module = "inception",
    batch_size: int = EVAL_BATCH_SIZE,
    accelerator: Any = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
) -> EvaluationResult:
    """Sample-quality metrics of ``generator`` against ``dataset`` (Sections 3.1 and 3.3).

    ``generator(z[, y])`` returns images in [-1, 1] and has ``z_dim`` and ``num_classes`` (0 if
    unconditional). ``metrics`` are names of the registry's ``metric`` kind (:data:`METRICS`,
    then plugins') or :class:`Metric` objects. The result is a dict, identical on every
    process, of floats "fid", "is", "is_std", "kid", "kid_std", "prd_f8", "prd_f1_8",
    "log_cond" (and plugins' keys); with "prd", ``result.curves["prd"]`` is also the PRD
    curve. ``num_samples`` generated images are compared with as many real ones (fewer if the
    dataset is smaller). IS uses 10 splits, KID 100 subsets of up to 1000, PRD 20 clusters,
    1001 angles and 10 runs on balanced sets. ``batch_size`` (images per batch for generation
    and feature extraction) is a matter of memory only: the samples do not depend on it.
    """
    metrics = build_metrics(metrics)
    model = unwrap(generator, accelerator)
    device = device_of(model, accelerator)
    needs_real = any(m.needs_real for m in metrics)
    real = generated = None
    if needs_real or any(m.needs_generated for m in metrics):
        # Each feature set once, shared by every metric.
        extractor = resolve_extractor(extractor, device)
        common = dict(batch_size=batch_size, accelerator=accelerator, progress=progress)
        if needs_real:
            real = real_statistics(
                dataset, extractor, num_samples=num_samples, cache_dir=cache_dir, **common
            )
        generated = generated_features(
            model, extractor, num_samples=num_samples, seed=seed, **common
        )
    result = EvaluationResult()
    if is_main(accelerator):
        inputs = MetricInputs(model, device, seed, generated=generated, real=real)
        for metric in metrics:
            result.add(metric(inputs))
    return broadcast(result, accelerator)


def prd_curve(
    generator: nn.Module,
    dataset: Any,
    *,
    num_clusters: int = NUM_CLUSTERS,
    num_angles: int = NUM_ANGLES,
    num_runs: int = NUM_RUNS,
    num_samples: int = 10_000,
    extractor: str | nn.Module = "inception",
    batch_size: int = EVAL_BATCH_SIZE,
    accelerator: Any = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Curve:
    """The PRD curve (precision, recall) of a generator vs. a dataset, for
    :func:`~zoo.metrics.prd.plot_prd_curves` (Sajjadi et al., 2018; Figure 3 of the paper).

    The other settings are :func:`evaluate`'s; :func:`evaluate` with "prd" gives the same
    curve as ``result.curves["prd"]``.
    """
    prd = PrecisionRecall(num_clusters=num_clusters, num_angles=num_angles, num_runs=num_runs)
    result = evaluate(
        generator,
        dataset,
        metrics=[prd],
        num_samples=num_samples,
        extractor=extractor,
        batch_size=batch_size,
        accelerator=accelerator,
        cache_dir=cache_dir,
        seed=seed,
        progress=progress,
    )
    return result.curves["prd"]
