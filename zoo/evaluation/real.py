"""Real-data statistics (Section 3.1): the FID mean and covariance of the real images' features
plus up to :data:`MAX_CACHED_FEATURES` of the features themselves (for KID and PRD), computed
once and cached as safetensors per (dataset name, split, extractor name, resolution,
``num_samples``)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from zoo.evaluation.distributed import (
    broadcast,
    device_of,
    gather_per_rank,
    is_main,
    rank_and_world,
)
from zoo.evaluation.extractor import EVAL_BATCH_SIZE, embed, resolve_extractor
from zoo.metrics.fid import StreamingStats

__all__ = [
    "DEFAULT_CACHE_DIR",
    "MAX_CACHED_FEATURES",
    "REAL_SUBSET_SEED",
    "RealStatistics",
    "real_statistics",
]

DEFAULT_CACHE_DIR = Path("~/.cache/selfmod_zoo/stats")
"""Where real-data statistics are cached; read as ``zoo.evaluation.DEFAULT_CACHE_DIR`` at each
call, so assigning that name redirects the cache."""
MAX_CACHED_FEATURES = 10_000
"""Most real feature vectors kept (in the cache) for KID and PRD."""
REAL_SUBSET_SEED = 0
"""Seed of the random subset of real images (fixed, so cached statistics stay valid)."""


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


def _default_cache_dir() -> Path:
    import zoo.evaluation

    return zoo.evaluation.DEFAULT_CACHE_DIR


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
    rank, world = rank_and_world(accelerator)
    indices = _real_indices(dataset, num_samples)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices[rank::world].tolist()),
        batch_size=batch_size,
        shuffle=False,
    )
    device = device_of(extractor, accelerator)
    chunks = [torch.zeros(0, extractor.feature_dim)]
    bar = tqdm(loader, desc="real features", disable=not (progress and is_main(accelerator)))
    for images, _ in bar:
        chunks.append(embed(extractor, images.to(device))["features"])
    per_rank = gather_per_rank(torch.cat(chunks), accelerator)
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
        path = _cache_path(Path(cache_dir or _default_cache_dir()).expanduser(), meta)
        # The main process decides, so that all processes take the same branch.
        if broadcast(path.is_file() if is_main(accelerator) else None, accelerator):
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
    if path is not None and is_main(accelerator):
        result.save(path)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return result
