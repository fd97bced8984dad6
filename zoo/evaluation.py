"""Evaluate a generator against a dataset: FID, IS, KID, PRD (F_8, F_1/8) and the generator's
Jacobian conditioning, the measures of Sections 3.1 and 3.3 of the paper.

Generated images are clamped to [-1, 1] and quantized to 8 bits (as if saved as image files,
like the real data) before feature extraction; the generator is sampled in eval mode (its mode is
restored afterwards). Real-data statistics (FID mean/covariance and up to
:data:`MAX_CACHED_FEATURES` real features for KID/PRD) are cached as safetensors per (dataset
name, split, extractor name, resolution, ``num_samples``) and reused. With an
``accelerate.Accelerator`` every process generates and embeds its share, features are gathered,
the main process computes the metrics and all processes return the same dict.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from zoo.metrics.conditioning import generator_log_condition
from zoo.metrics.fid import StreamingStats, frechet_distance
from zoo.metrics.inception_score import inception_score_from_logits
from zoo.metrics.kid import kernel_inception_distance
from zoo.metrics.prd import compute_prd_from_embedding, plot_prd_curves, prd_to_max_f_beta_pair
from zoo.sampling import latents

__all__ = [
    "DEFAULT_CACHE_DIR",
    "EVAL_BATCH_SIZE",
    "METRICS",
    "RealStatistics",
    "evaluate",
    "generated_features",
    "plot_prd_curves",
    "prd_curve",
    "real_statistics",
    "resolve_extractor",
]

DEFAULT_CACHE_DIR = Path("~/.cache/selfmod_zoo/stats")
EVAL_BATCH_SIZE = 250
"""Default images per batch for generation and feature extraction: set by memory (the
extractor's activations), not by the training batch size; results do not depend on it."""
METRICS = ("fid", "is", "kid", "prd", "jacobian")
"""Metric names accepted by :func:`evaluate` and the keys each adds to its result:
fid -> fid; is -> is, is_std; kid -> kid, kid_std; prd -> prd_f8, prd_f1_8;
jacobian -> log_cond (mean over :data:`JACOBIAN_BATCH` z's)."""
MAX_CACHED_FEATURES = 10_000
"""Most real feature vectors kept (in the cache) for KID and PRD."""
JACOBIAN_BATCH = 64
REAL_SUBSET_SEED = 0
"""Seed of the random subset of real images (fixed, so cached statistics stay valid)."""


def _unwrap(model: nn.Module, accelerator: Any = None) -> nn.Module:
    if accelerator is not None:
        return accelerator.unwrap_model(model)
    return getattr(model, "module", model)


def _device_of(module: nn.Module, accelerator: Any = None) -> torch.device:
    if accelerator is not None:
        return accelerator.device
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _is_main(accelerator: Any) -> bool:
    return accelerator is None or accelerator.is_main_process


def _world(accelerator: Any) -> tuple[int, int]:
    if accelerator is None:
        return 0, 1
    return accelerator.process_index, accelerator.num_processes


def resolve_extractor(
    extractor: str | nn.Module, device: torch.device | str | None = None
) -> nn.Module:
    """A feature-extractor module: a registry name (``feature_extractor`` kind) or a module,
    in eval mode and on ``device``."""
    if isinstance(extractor, str):
        import registry

        extractor = registry.create("feature_extractor", extractor)
    for attr in ("name", "feature_dim", "num_classes"):
        if not hasattr(extractor, attr):
            raise TypeError(f"feature extractor {type(extractor).__name__} lacks {attr!r}")
    extractor.eval()
    return extractor.to(device) if device is not None else extractor


def _gather_per_rank(x: torch.Tensor, accelerator: Any) -> list[torch.Tensor]:
    """Each rank's rows (variable counts), on every rank, in rank order."""
    _, world = _world(accelerator)
    if world == 1:
        return [x]
    count = torch.tensor([x.shape[0]], device=accelerator.device)
    counts = accelerator.gather(count).cpu().tolist()
    padded = accelerator.pad_across_processes(x.to(accelerator.device).contiguous(), dim=0)
    rows = padded.shape[0]
    gathered = accelerator.gather(padded).cpu()
    return [gathered[r * rows : r * rows + counts[r]] for r in range(world)]


def _broadcast(obj: Any, accelerator: Any) -> Any:
    if _world(accelerator)[1] == 1:
        return obj
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([obj], from_process=0)[0]


@torch.inference_mode()
def _embed(extractor: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    out = extractor(images)
    return {k: out[k].float().cpu() for k in ("features", "logits")}


# --- real data --------------------------------------------------------------------------


class RealStatistics:
    """FID statistics of real data plus a subsample of the real features (for KID/PRD)."""

    def __init__(self, stats: StreamingStats, features: torch.Tensor, meta: dict[str, Any]):
        self.stats = stats
        self.features = features
        self.meta = meta

    def save(self, path: str | Path) -> None:
        """Write as safetensors (atomically: a temporary file, then renamed)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {f"stats.{k}": v.contiguous() for k, v in self.stats.state_dict().items()}
        tensors["features"] = self.features.float().contiguous()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file(tensors, str(tmp), metadata={"meta": json.dumps(self.meta, sort_keys=True)})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> RealStatistics:
        """Read a file written by :meth:`save`."""
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("meta", "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
        stats = StreamingStats.from_state_dict(
            {k.removeprefix("stats."): v for k, v in tensors.items() if k.startswith("stats.")}
        )
        return cls(stats, tensors["features"], meta)


def _cache_path(cache_dir: Path, meta: dict[str, Any]) -> Path:
    stem = "{dataset}-{split}-{extractor}-{resolution}px-n{num_samples}".format(**meta)
    return cache_dir / (re.sub(r"[^\w.\-]+", "_", stem) + ".safetensors")


def _real_indices(dataset: Any, num_samples: int) -> torch.Tensor:
    n = len(dataset)
    if n <= num_samples:
        return torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(REAL_SUBSET_SEED))
    return order[:num_samples]


def _compute_real_features(
    dataset: Any,
    extractor: nn.Module,
    num_samples: int,
    batch_size: int,
    accelerator: Any,
    progress: bool,
) -> torch.Tensor:
    """Features of (a fixed random subset of) the real images, all ranks, in subset order."""
    rank, world = _world(accelerator)
    indices = _real_indices(dataset, num_samples)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices[rank::world].tolist()),
        batch_size=batch_size,
        shuffle=False,
    )
    device = _device_of(extractor, accelerator)
    chunks = [torch.zeros(0, extractor.feature_dim)]
    bar = tqdm(loader, desc="real features", disable=not (progress and _is_main(accelerator)))
    for images, _ in bar:
        chunks.append(_embed(extractor, images.to(device))["features"])
    per_rank = _gather_per_rank(torch.cat(chunks), accelerator)
    # Rank r embedded items r, r + world, ...: interleave back to the subset order.
    features = torch.empty(len(indices), extractor.feature_dim)
    for r, rows in enumerate(per_rank):
        features[r::world] = rows
    return features


def real_statistics(
    dataset: Any,
    extractor: str | nn.Module = "inception",
    *,
    num_samples: int = 10_000,
    batch_size: int = EVAL_BATCH_SIZE,
    accelerator: Any = None,
    cache_dir: str | os.PathLike | bool | None = None,
    progress: bool = True,
) -> RealStatistics:
    """Real-data statistics, from the cache when present, else computed and cached.

    Uses ``min(num_samples, len(dataset))`` images (a fixed random subset when the dataset is
    larger). ``cache_dir=False`` disables caching.
    """
    extractor = resolve_extractor(extractor, accelerator.device if accelerator else None)
    meta = {
        "dataset": dataset.name,
        "split": dataset.split,
        "extractor": extractor.name,
        "resolution": int(dataset.resolution),
        "num_samples": int(num_samples),
    }
    path = None
    if cache_dir is not False:
        path = _cache_path(Path(cache_dir or DEFAULT_CACHE_DIR).expanduser(), meta)
        # The main process decides, so that all processes take the same branch.
        if _broadcast(path.is_file() if _is_main(accelerator) else None, accelerator):
            cached = RealStatistics.load(path)
            if cached.features.shape[1] != extractor.feature_dim:
                raise ValueError(
                    f"cached statistics {path} have {cached.features.shape[1]}-d features, "
                    f"extractor {extractor.name!r} gives {extractor.feature_dim}; delete the file."
                )
            return cached
    features = _compute_real_features(
        dataset, extractor, num_samples, batch_size, accelerator, progress
    )
    stats = StreamingStats(extractor.feature_dim).update(features)
    result = RealStatistics(stats, features[:MAX_CACHED_FEATURES].clone(), meta)
    if path is not None and _is_main(accelerator):
        result.save(path)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return result


# --- generated data ---------------------------------------------------------------------


def _quantize(images: torch.Tensor) -> torch.Tensor:
    """Clamp to [-1, 1] and round to the 256 levels of an 8-bit image."""
    return torch.round((images.clamp(-1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0


def generated_features(
    generator: nn.Module,
    extractor: str | nn.Module = "inception",
    *,
    num_samples: int = 10_000,
    batch_size: int = EVAL_BATCH_SIZE,
    accelerator: Any = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """``{"features", "logits"}`` of ``num_samples`` generated images (all ranks, same order).

    ``z ~ N(0, I)`` (and uniform labels for a conditional generator) is sample ``i`` of the
    stream of ``seed`` (:func:`zoo.sampling.latents`), so samples depend neither on the batch
    size nor on the number of processes; ``scripts/sample.py --seed`` writes the same images.
    """
    model = _unwrap(generator, accelerator)
    z_dim, num_classes = int(model.z_dim), int(getattr(model, "num_classes", 0) or 0)
    device = _device_of(model, accelerator)
    extractor = resolve_extractor(extractor, device)
    rank, world = _world(accelerator)
    num_batches = math.ceil(num_samples / batch_size)
    mine = list(range(rank, num_batches, world))
    feats = [torch.zeros(0, extractor.feature_dim)]
    logits = [torch.zeros(0, extractor.num_classes)]
    was_training = model.training
    model.eval()
    try:
        bar = tqdm(
            mine, desc="generated features", disable=not (progress and _is_main(accelerator))
        )
        for b in bar:
            size = min(batch_size, num_samples - b * batch_size)
            z, y = latents(z_dim, num_classes, b * batch_size, size, seed)
            with torch.inference_mode():
                if num_classes > 0:
                    images = model(z.to(device), y.to(device))
                else:
                    images = model(z.to(device))
            out = _embed(extractor, _quantize(images.float()))
            feats.append(out["features"])
            logits.append(out["logits"])
    finally:
        model.train(was_training)

    result = {}
    for key, local in (("features", torch.cat(feats)), ("logits", torch.cat(logits))):
        per_rank = _gather_per_rank(local, accelerator)
        # Rank r produced global batches r, r + world, ...: put them back in batch order.
        batches: list[torch.Tensor] = [torch.zeros(0)] * num_batches
        for r, rows in enumerate(per_rank):
            start = 0
            for b in range(r, num_batches, world):
                size = min(batch_size, num_samples - b * batch_size)
                batches[b] = rows[start : start + size]
                start += size
        result[key] = torch.cat(batches)
    return result


# --- the entry points -------------------------------------------------------------------


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRICS)}")
    return metrics


def _balanced(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m = min(len(a), len(b))
    return a[:m], b[:m]


def _real_and_fake(
    model: nn.Module,
    dataset: Any,
    extractor: nn.Module,
    num_samples: int,
    batch_size: int,
    accelerator: Any,
    cache_dir: str | os.PathLike | None,
    seed: int,
    progress: bool,
) -> tuple[RealStatistics | None, dict[str, torch.Tensor]]:
    """Real-data statistics (cached; None without a dataset) and the generated features."""
    real = None
    if dataset is not None:
        real = real_statistics(
            dataset,
            extractor,
            num_samples=num_samples,
            batch_size=batch_size,
            accelerator=accelerator,
            cache_dir=cache_dir,
            progress=progress,
        )
    fake = generated_features(
        model,
        extractor,
        num_samples=num_samples,
        batch_size=batch_size,
        accelerator=accelerator,
        seed=seed,
        progress=progress,
    )
    return real, fake


def evaluate(
    generator: nn.Module,
    dataset: Any,
    *,
    metrics: Sequence[str] = ("fid", "is"),
    num_samples: int = 10_000,
    extractor: str | nn.Module = "inception",
    batch_size: int = EVAL_BATCH_SIZE,
    accelerator: Any = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Sample-quality metrics of ``generator`` against ``dataset``.

    ``generator(z[, y])`` returns images in [-1, 1] and has ``z_dim`` and ``num_classes`` (0 if
    unconditional). ``metrics`` are names from :data:`METRICS`; the result maps "fid", "is",
    "is_std", "kid", "kid_std", "prd_f8", "prd_f1_8", "log_cond" to floats, identical on every
    process. ``num_samples`` generated images are compared with as many real ones (fewer if the
    dataset is smaller). IS uses 10 splits, KID 100 subsets of up to 1000, PRD 20 clusters,
    1001 angles and 10 runs on balanced sets. ``batch_size`` (images per batch for generation
    and feature extraction) is a matter of memory only: the samples do not depend on it.
    """
    metrics = _check_metrics(metrics)
    model = _unwrap(generator, accelerator)
    device = _device_of(model, accelerator)
    results: dict[str, float] = {}

    needs_fakes = any(m in metrics for m in ("fid", "is", "kid", "prd"))
    needs_real = any(m in metrics for m in ("fid", "kid", "prd"))
    if needs_fakes:
        extractor = resolve_extractor(extractor, device)
        real, fake = _real_and_fake(
            model,
            dataset if needs_real else None,
            extractor,
            num_samples,
            batch_size,
            accelerator,
            cache_dir,
            seed,
            progress,
        )
        if _is_main(accelerator):
            if "fid" in metrics:
                fake_stats = StreamingStats(extractor.feature_dim).update(fake["features"])
                results["fid"] = frechet_distance(
                    fake_stats.mean, fake_stats.covariance, real.stats.mean, real.stats.covariance
                )
            if "is" in metrics:
                results["is"], results["is_std"] = inception_score_from_logits(fake["logits"])
            if "kid" in metrics:
                results["kid"], results["kid_std"] = kernel_inception_distance(
                    fake["features"], real.features, seed=seed
                )
            if "prd" in metrics:
                precision, recall = compute_prd_from_embedding(
                    *_balanced(fake["features"], real.features), seed=seed
                )
                results["prd_f8"], results["prd_f1_8"] = prd_to_max_f_beta_pair(precision, recall)
    if "jacobian" in metrics and _is_main(accelerator):
        _, results["log_cond"] = generator_log_condition(
            model, JACOBIAN_BATCH, seed=seed, device=device
        )
    return _broadcast(results, accelerator)


def prd_curve(
    generator: nn.Module,
    dataset: Any,
    *,
    num_samples: int = 10_000,
    extractor: str | nn.Module = "inception",
    batch_size: int = EVAL_BATCH_SIZE,
    accelerator: Any = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
    num_clusters: int = 20,
    num_angles: int = 1001,
    num_runs: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """The PRD curve (precision, recall) of a generator vs. a dataset, for
    :func:`~zoo.metrics.prd.plot_prd_curves` (Sajjadi et al., 2018; Figure 3 of the paper)."""
    model = _unwrap(generator, accelerator)
    extractor = resolve_extractor(extractor, _device_of(model, accelerator))
    real, fake = _real_and_fake(
        model, dataset, extractor, num_samples, batch_size, accelerator, cache_dir, seed, progress
    )
    curve = None
    if _is_main(accelerator):
        curve = compute_prd_from_embedding(
            *_balanced(fake["features"], real.features),
            num_clusters=num_clusters,
            num_angles=num_angles,
            num_runs=num_runs,
            seed=seed,
        )
    return _broadcast(curve, accelerator)
