"""The image transform every dataset shares, streamed or prepared: a decoded image becomes a
uint8 ``C×H×W`` tensor at the training resolution (:func:`fit_image`, :func:`fit_mnist`), and
:func:`to_unit_range` maps it to [-1, 1], the range of the generator's tanh output (paper,
Tables 6 and 8).

Ending in uint8, as PIL's resize does, is what lets a prepared cache (uint8 on disk) give bit
for bit the items of the streaming path. :data:`TRANSFORM_VERSION` names this transform in a
cache's manifest; change it whenever an output pixel of :func:`fit_image` or :func:`fit_mnist`
could change.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "TRANSFORM_VERSION",
    "fit_image",
    "fit_mnist",
    "identity",
    "resized_size",
    "to_unit_range",
]

TRANSFORM_VERSION = 1
"""1: PIL bilinear resize of the shorter side (antialiased when shrinking), center crop, uint8
(before it, 0: the same geometry resized in float by torch, between uint8 levels)."""


def to_unit_range(image: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] as floats in [-1, 1] (``x / 127.5 - 1``, in place on a new
    float32 copy that keeps the input's memory layout)."""
    return image.to(torch.float32, copy=True).div_(127.5).sub_(1.0)


def resized_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(height, width) with the shorter side at ``resolution``, the aspect ratio kept."""
    scale = resolution / min(height, width)
    return max(resolution, round(height * scale)), max(resolution, round(width * scale))


def fit_image(image: Image.Image, resolution: int, channels: int) -> torch.Tensor:
    """A decoded image as uint8 ``C×H×W`` at ``resolution``: RGB (or gray when
    ``channels=1``), the shorter side resized to ``resolution`` by PIL (bilinear, antialiased
    when shrinking), then center-cropped.

    This is the 128×128 preprocessing of Miyato & Koyama (2018) used in Section 3.1.
    """
    image = image.convert("RGB" if channels == 3 else "L")
    width, height = image.size
    if (height, width) != (resolution, resolution):
        size = resized_size(height, width, resolution)
        top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        image = image.crop((left, top, left + resolution, top + resolution))
    array = torch.from_numpy(np.array(image, dtype=np.uint8))
    return array.unsqueeze(0) if array.ndim == 2 else array.permute(2, 0, 1).contiguous()


def fit_mnist(image: torch.Tensor, *, resolution: int, channels: int) -> torch.Tensor:
    """A uint8 1×28×28 image at ``resolution``: padded with the background (0, which is -1 in
    [-1, 1]) to 32, else resized by :func:`fit_image`; the gray channel repeated when
    ``channels=3``."""
    side = image.shape[-1]
    if resolution == 32 and side == 28:
        image = F.pad(image, (2, 2, 2, 2), value=0)
    elif resolution != side:
        image = fit_image(Image.fromarray(image[0].numpy()), resolution, 1)
    return image.expand(channels, -1, -1) if image.shape[0] != channels else image


def identity(image: torch.Tensor) -> torch.Tensor:
    """The image unchanged (data already at its resolution and range)."""
    return image
