"""Image transforms shared by the datasets: every image ends as a float ``C×H×W`` tensor in
[-1, 1], the range of the generator's tanh output (paper, Tables 6 and 8)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "fit_mnist",
    "identity",
    "mnist_transform",
    "pil_to_tensor",
    "resize_center_crop",
    "to_unit_range",
]


def to_unit_range(image: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] as floats in [-1, 1]."""
    return image.float() / 127.5 - 1.0


def pil_to_tensor(image: Image.Image, channels: int) -> torch.Tensor:
    """A PIL image as a float ``C×H×W`` tensor in [-1, 1] (RGB, or gray when ``channels=1``)."""
    array = np.array(image.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
    tensor = torch.from_numpy(array)
    return to_unit_range(tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1))


def resize_center_crop(image: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize the shorter side to ``resolution`` (bilinear, antialiased), then center-crop.

    This is the 128×128 preprocessing of Miyato & Koyama (2018) used in Section 3.1.
    """
    _, height, width = image.shape
    if (height, width) != (resolution, resolution):
        scale = resolution / min(height, width)
        size = (max(resolution, round(height * scale)), max(resolution, round(width * scale)))
        image = F.interpolate(image[None], size=size, mode="bilinear", antialias=True)[0]
        top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
        image = image[:, top : top + resolution, left : left + resolution]
    return image.clamp(-1.0, 1.0).contiguous()


def fit_mnist(image: torch.Tensor, resolution: int) -> torch.Tensor:
    """28×28 → ``resolution``: pad with the background (-1) to 32, else bilinear resize."""
    side = image.shape[-1]
    if resolution == side:
        return image
    if resolution == 32 and side == 28:
        return F.pad(image, (2, 2, 2, 2), value=-1.0)
    target = (resolution, resolution)
    resized = F.interpolate(image[None], size=target, mode="bilinear", antialias=True)
    return resized[0].clamp(-1.0, 1.0)


def mnist_transform(image: torch.Tensor, *, resolution: int, channels: int) -> torch.Tensor:
    """:func:`fit_mnist`, then the gray channel repeated when ``channels=3``."""
    image = fit_mnist(image, resolution)
    return image.expand(channels, -1, -1) if image.shape[0] != channels else image


def identity(image: torch.Tensor) -> torch.Tensor:
    """The image unchanged (data already at its resolution and range)."""
    return image
