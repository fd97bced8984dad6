"""The feature extractor of Section 3.1's metrics (Inception, or the Fashion-MNIST classifier):
looked up by name in the registry's ``feature_extractor`` kind, and applied to a batch."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EVAL_BATCH_SIZE", "embed", "resolve_extractor"]

EVAL_BATCH_SIZE = 250
"""Default images per batch for generation and feature extraction: set by memory (the
extractor's activations), not by the training batch size; results do not depend on it."""


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


@torch.inference_mode()
def embed(extractor: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"features", "logits"}`` of a batch of images, float32 on the CPU."""
    out = extractor(images)
    return {k: out[k].float().cpu() for k in ("features", "logits")}
