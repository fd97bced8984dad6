"""The dataset classes every factory returns, their errors and the argument checks they share.

An :class:`ImageDataset` yields ``(image, label)``: ``image`` a float32 ``C×H×W`` tensor in
[-1, 1], ``label`` an int64 scalar tensor (0 when unlabeled). Datasets read from files also
give :meth:`~ImageDataset.raw` items, the uint8 image before the scaling to [-1, 1]
(:mod:`registry.datasets.transforms`): what a prepared cache stores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from registry.datasets.transforms import fit_image, to_unit_range

__all__ = [
    "SPLITS",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "FolderImageDataset",
    "HFImageDataset",
    "ImageDataset",
    "PathLike",
    "Source",
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


@dataclass(frozen=True)
class Source:
    """Where a dataset's images come from, for a prepared cache's manifest.

    ``factory`` is the registered name; ``options`` are the factory's arguments that choose
    which images come out in which order (compared when a cache is used); ``location`` (a
    folder, or where a Hub dataset's copy would be) is where the data was read, recorded but not
    compared, so moved data still finds its cache, which lies next to it.
    """

    factory: str
    location: Path
    options: dict[str, Any] = field(default_factory=dict)


class ImageDataset(Dataset):
    """Base class: ``(image, label)`` items plus the metadata the trainer and evaluation use.

    ``name`` identifies the data (evaluation caches real-data statistics per
    ``name``/``split``/``resolution``); ``num_classes`` is 0 when unlabeled. ``source`` is set
    for datasets that can be prepared (:mod:`registry.datasets.prepared_writer`).
    """

    source: Source | None = None
    held_in_memory = False
    """True when items are cut from tensors in memory (nothing to decode: DataLoader workers
    do not pay, :func:`zoo.training.data.resolve_workers`)."""

    def __init__(
        self, *, name: str, split: str, resolution: int, channels: int, num_classes: int
    ) -> None:
        self.name = name
        self.split = split
        self.resolution = resolution
        self.channels = channels
        self.num_classes = num_classes

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.raw(index)
        return to_unit_range(image), self._label(label)

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        """Item ``index`` before scaling: a uint8 ``C×H×W`` image and its label."""
        raise TypeError(f"{self.name} has no uint8 images to prepare (it is made in memory).")

    def item_origin(self, index: int) -> str:
        """Where item ``index`` is read from, for error messages."""
        return f"{self.name} {self.split} item {index}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, len={len(self)}, "
            f"resolution={self.resolution}, channels={self.channels}, "
            f"num_classes={self.num_classes})"
        )

    def _label(self, value: int) -> torch.Tensor:
        return torch.tensor(value if self.num_classes else 0, dtype=torch.int64)

    def _from_pil(self, image: Image.Image) -> torch.Tensor:
        """A decoded image as uint8 at this dataset's channels and resolution."""
        return fit_image(image, self.resolution, self.channels)


class TensorImageDataset(ImageDataset):
    """Images held in one tensor, transformed per item: uint8 in [0, 255] (``transform`` maps
    uint8 to uint8, then the item is scaled to [-1, 1]) or float in [-1, 1]."""

    held_in_memory = True

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
        if self.images.dtype == torch.uint8:
            return super().__getitem__(index)
        image = self._transform(self.images[index].clone()).contiguous()
        return image, self._label(int(self.labels[index]))

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        if self.images.dtype != torch.uint8:
            return super().raw(index)
        return self._transform(self.images[index]), int(self.labels[index])


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

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        row = self.hf_dataset[int(index)]
        label = int(row[self.label_key]) if self.label_key else 0
        return self._from_pil(row[self.image_key]), label


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

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[index]) as pil:
            return self._from_pil(pil), self.labels[index]

    def item_origin(self, index: int) -> str:
        return str(self.paths[index])
