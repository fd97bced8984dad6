"""Sampling helpers: image grids from a generator.

Batch norm at sampling time: models from :func:`zoo.load` are in eval mode, so every batch-norm
layer (BN, sBN, cBN, csBN) normalises with the running mean and variance accumulated during
training instead of the statistics of the current batch. Samples then do not depend on what else
is in the batch nor on its size: a z drawn alone gives the same image as in a batch of 64. (In
train mode the batch statistics would couple the samples of a batch and a batch of one would
normalise away all variation.) Call ``G.train()`` only to keep training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from registry.architectures.layers import Generator

__all__ = ["sample_grid", "save_grid"]


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Save N×C×H×W images in [-1, 1] as one PNG grid (``nrow`` per row, default √N)."""
    if images.ndim != 4:
        raise ValueError(f"expected N×C×H×W images, got shape {tuple(images.shape)}")
    from torchvision.utils import save_image  # torchvision takes seconds to import

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, round(images.shape[0] ** 0.5))
    save_image(images.detach().float().cpu(), path, nrow=nrow, normalize=True, value_range=(-1, 1))
    return path


@torch.no_grad()
def sample_grid(
    generator: Generator,
    path: str | Path,
    n: int = 64,
    seed: int | None = 0,
    labels: torch.Tensor | Sequence[int] | None = None,
    nrow: int | None = None,
) -> torch.Tensor:
    """Sample ``n`` images in eval mode (the mode is restored) and save them as a grid.

    A conditional generator gets labels ``0, 1, 2, ...`` cycling over the classes unless
    ``labels`` is given, so the grid shows every class. Returns the images.
    """
    if labels is None and generator.num_classes:
        labels = torch.arange(n) % generator.num_classes
    was_training = generator.training
    generator.eval()
    try:
        images = generator.sample(n, labels=labels, seed=seed)
    finally:
        generator.train(was_training)
    save_grid(images, path, nrow)
    return images
