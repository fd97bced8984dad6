"""Features of generated images (Section 3.1): the generator is sampled in eval mode (its mode
is restored afterwards), its images clamped to [-1, 1] and quantized to 8 bits (as if saved as
image files, like the real data) and embedded by the feature extractor."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from zoo.evaluation.distributed import device_of, gather_per_rank, is_main, rank_and_world, unwrap
from zoo.evaluation.extractor import EVAL_BATCH_SIZE, embed, resolve_extractor
from zoo.sampling import latents

__all__ = ["generated_features", "quantize"]


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Clamp to [-1, 1] and round to the 256 levels of an 8-bit image."""
    return torch.round((images.clamp(-1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0


def _batch_sizes(num_samples: int, batch_size: int) -> list[int]:
    """The size of each global batch: all ``batch_size`` but a shorter last one."""
    num_batches = math.ceil(num_samples / batch_size)
    return [min(batch_size, num_samples - b * batch_size) for b in range(num_batches)]


def _in_batch_order(per_rank: list[torch.Tensor], sizes: list[int], world: int) -> torch.Tensor:
    """Rank r produced global batches r, r + world, ...: put its rows back in batch order."""
    batches: list[torch.Tensor] = [torch.zeros(0)] * len(sizes)
    for r, rows in enumerate(per_rank):
        start = 0
        for b in range(r, len(sizes), world):
            batches[b] = rows[start : start + sizes[b]]
            start += sizes[b]
    return torch.cat(batches)


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
    model = unwrap(generator, accelerator)
    z_dim, num_classes = int(model.z_dim), int(getattr(model, "num_classes", 0) or 0)
    device = device_of(model, accelerator)
    extractor = resolve_extractor(extractor, device)
    rank, world = rank_and_world(accelerator)
    sizes = _batch_sizes(num_samples, batch_size)
    feats = [torch.zeros(0, extractor.feature_dim)]
    logits = [torch.zeros(0, extractor.num_classes)]
    was_training = model.training
    model.eval()
    try:
        mine = range(rank, len(sizes), world)
        bar = tqdm(mine, desc="generated features", disable=not (progress and is_main(accelerator)))
        for b in bar:
            z, y = latents(z_dim, num_classes, b * batch_size, sizes[b], seed)
            with torch.inference_mode():
                if num_classes > 0:
                    images = model(z.to(device), y.to(device))
                else:
                    images = model(z.to(device))
            out = embed(extractor, quantize(images.float()))
            feats.append(out["features"])
            logits.append(out["logits"])
    finally:
        model.train(was_training)
    return {
        key: _in_batch_order(gather_per_rank(torch.cat(local), accelerator), sizes, world)
        for key, local in (("features", feats), ("logits", logits))
    }
