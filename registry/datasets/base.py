"""The dataset classes every factory returns, their errors and the argument checks they share.

An :class:`ImageDataset` yields ``(image, label)``: ``image`` a float32 ``C×H×W`` tensor in
[-1, 1], ``label`` an int64 scalar tensor (0 when unlabeled).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from registry.datasets.transforms import pil_to_tensor, resize_center_crop, to_unit_range

__all__ = [
    "SPLITS",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "FolderImageDataset",
    "HFImageDataset",
    "ImageDataset",
    "PathLike",
    "TensorImageDataset",
    "check_common",
]

PathLike = str | os.PathLike
SPLITS = ("train", "test")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not available locally; the message says what is missing and how to get it."""


class CorruptDatasetError(ValueError):
    """A dataset file exists but is truncated or malformed; the message names the file."""


def check_common(split: str, resolution: int, channels: int) -> None:
    """Reject an unknown split, a non-positive resolution or a channel count other than 1/3."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")
    if not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")


class ImageDataset(Dataset):
    """Base class: ``(image, label)`` items plus the metadata the trainer and evaluation use.

    ``name`` identifies the data (evaluation caches real-data statistics per
    ``name``/``split``/``resolution``); ``num_classes`` is 0 when unlabeled.
    """

    def __init__(
        self, *, name: str, split: str, resolution: int, channels: int, num_classes: int
    ) -> None:
        self.name = name
        self.split = split
        self.resolution = resolution
        self.channels = channels
        self.num_classes = num_classes

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, len={len(self)}, "
            f"resolution={self.resolution}, channels={self.channels}, "
            f"num_classes={self.num_classes})"
        )

    def _label(self, value: int) -> torch.Tensor:
        return torch.tensor(value if self.num_classes else 0, dtype=torch.int64)

    def _from_pil(self, image: Image.Image) -> torch.Tensor:
        """A decoded image at this dataset's channels and resolution (resize, center crop)."""
        return resize_center_crop(pil_to_tensor(image, self.channels), self.resolution)


class TensorImageDataset(ImageDataset):
    """Images held in one tensor (uint8 in [0, 255] or float in [-1, 1]), converted per item."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        transform: Callable[[torch.Tensor], torch.Tensor],
        **meta: Any,
    ) -> None:
        super().__init__(**meta)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.to(torch.int64)
        self._transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        image = to_unit_range(image) if image.dtype == torch.uint8 else image.clone()
        return self._transform(image).contiguous(), self._label(int(self.labels[index]))


class HFImageDataset(ImageDataset):
    """A ``datasets.Dataset`` with an image column (decoded to PIL by ``datasets``)."""

    def __init__(
        self, hf_dataset: Any, *, image_key: str, label_key: str | None, **meta: Any
    ) -> None:
        super().__init__(**meta)
        columns = [image_key] + ([label_key] if label_key else [])
        self.hf_dataset = hf_dataset.select_columns(columns)
        self.image_key = image_key
        self.label_key = label_key

    def __len__(self) -> int:
        return len(self.hf_dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.hf_dataset[int(index)]
        image = self._from_pil(row[self.image_key])
        label = int(row[self.label_key]) if self.label_key else 0
        return image, self._label(label)


class FolderImageDataset(ImageDataset):
    """Image files on disk with integer labels, decoded by PIL per item."""

    def __init__(
        self, paths: Sequence[Path], labels: Sequence[int], classes: Sequence[str], **meta: Any
    ) -> None:
        super().__init__(**meta)
        self.paths = list(paths)
        self.labels = list(labels)
        self.classes = list(classes)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        with Image.open(self.paths[index]) as pil:
            image = self._from_pil(pil)
        return image, self._label(self.labels[index])
