"""Synthetic images for tests: the ``dataset.synthetic`` factory (class-dependent stripes and
blobs, deterministic per seed; not a dataset of the paper)."""

from __future__ import annotations

import math

import torch

from registry._registry import register
from registry.datasets.base import SPLITS, TensorImageDataset, check_common
from registry.datasets.transforms import identity

__all__ = ["synthetic"]


def _synthetic_images(
    labels: torch.Tensor, resolution: int, channels: int, classes: int, generator: torch.Generator
) -> torch.Tensor:
    """Class-dependent oriented stripes plus a blob at a class-dependent place, in [-1, 1]."""
    n = len(labels)
    k = labels.float()[:, None, None]
    axis = torch.linspace(-1.0, 1.0, resolution)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    angle = math.pi * k / classes
    frequency = 2.0 + (labels % 3).float()[:, None, None]
    phase = 2 * math.pi * torch.rand(n, 1, 1, generator=generator)
    stripes = torch.cos(math.pi * frequency * (xx * angle.cos() + yy * angle.sin()) + phase)
    jitter = 0.1 * torch.randn(n, 2, 1, 1, generator=generator)
    cx = 0.5 * torch.cos(2 * math.pi * k / classes) + jitter[:, 0]
    cy = 0.5 * torch.sin(2 * math.pi * k / classes) + jitter[:, 1]
    blob = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 0.2**2))
    hues = torch.arange(channels).float()
    color = torch.cos(2 * math.pi * (k[..., None] / classes + hues / 3.0))  # n×1×1×C
    color = color.permute(0, 3, 1, 2)
    image = (
        0.4 * stripes[:, None]
        + blob[:, None] * color
        + 0.05 * torch.randn(n, channels, resolution, resolution, generator=generator)
    )
    return image.clamp(-1.0, 1.0)


@register("dataset", "synthetic")
def synthetic(
    split: str = "train",
    num_samples: int = 256,
    resolution: int = 32,
    channels: int = 3,
    num_classes: int = 10,
    seed: int = 0,
) -> TensorImageDataset:
    """A small deterministic structured set for tests: class-dependent stripes and blobs.

    The same ``seed`` gives the same data; train and test use different streams.
    """
    check_common(split, resolution, channels)
    if num_samples < 1 or num_classes < 0:
        raise ValueError("num_samples must be >= 1 and num_classes >= 0.")
    generator = torch.Generator().manual_seed(2 * seed + SPLITS.index(split))
    classes = max(num_classes, 1)
    labels = torch.randperm(num_samples, generator=generator) % classes
    images = _synthetic_images(labels, resolution, channels, classes, generator)
    return TensorImageDataset(
        images,
        labels if num_classes else torch.zeros_like(labels),
        transform=identity,
        name=f"synthetic_s{seed}_n{num_samples}_k{num_classes}",
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=num_classes,
    )
