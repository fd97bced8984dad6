"""Reading a prepared cache (:mod:`registry.datasets.prepared_format`): the ``dataset.prepared``
factory, and :func:`with_cache`, through which every file-based factory serves its cache
(``prepared=`` a folder, or the one found next to its data) instead of decoding images.

A cache serves the items of its source bit for bit (uint8 from disk, scaled to [-1, 1] as the
streaming path scales its transform's uint8 output), with the same ``name``, ``split``,
``resolution``, ``channels`` and ``num_classes``, so evaluation's real-data statistics key is
the same. A cache that does not match the request is refused (:class:`PreparedCacheError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from registry._registry import register
from registry.datasets.base import SPLITS, DatasetNotFoundError, ImageDataset, PathLike
from registry.datasets.prepared_format import (
    FORMAT,
    IMAGES,
    KEEP,
    LABELS,
    LOG,
    MANIFEST,
    PLAN,
    PreparedCacheError,
    chunk_digest,
    combined_checksum,
    data_bytes,
    mismatch,
    read_json,
    rebuild_hint,
    request_of,
)
from registry.datasets.transforms import TRANSFORM_VERSION

__all__ = ["PreparedImageDataset", "default_cache_root", "open_cache", "prepared", "with_cache"]


class PreparedImageDataset(ImageDataset):
    """A prepared split: uint8 images memory-mapped from ``images.npy`` (opened on first use,
    and again in each DataLoader worker), labels in memory."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        super().__init__(
            **{k: manifest[k] for k in ("name", "split", "resolution", "channels", "num_classes")}
        )
        self.folder, self.manifest = folder, manifest
        self.classes = list(manifest.get("classes", []))
        keep = folder / KEEP
        self.slots = np.load(keep) if keep.is_file() else None
        self.labels = torch.from_numpy(np.load(folder / LABELS))
        self._images: np.ndarray | None = None

    @property
    def images(self) -> np.ndarray:
        """All slots, N×C×H×W uint8, memory-mapped read-only."""
        if self._images is None:
            self._images = np.load(self.folder / IMAGES, mmap_mode="r")
        return self._images

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_images": None}  # a worker maps the file again, never copies

    def __len__(self) -> int:
        return len(self.labels) if self.slots is None else len(self.slots)

    def _slots(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < -len(self) or indices.max() >= len(self)):
            raise IndexError(f"index out of range for {len(self)} prepared images")
        return indices if self.slots is None else self.slots[indices]

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        (slot,) = self._slots([index])
        return torch.from_numpy(np.array(self.images[slot])), int(self.labels[slot])

    def raw_batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Items ``indices`` as one uint8 image tensor and one int64 label tensor (0 when
        unlabeled), in that order: one lookup in the memory map."""
        slots = self._slots(indices)
        labels = self.labels[torch.from_numpy(slots)]
        return torch.from_numpy(np.asarray(self.images[slots])), labels * bool(self.num_classes)

    def item_origin(self, index: int) -> str:
        return f"{self.folder / IMAGES} slot {int(self._slots([index])[0])}"


def default_cache_root(source: ImageDataset) -> Path:
    """Where a cache of ``source`` lies by default: next to its data,
    ``<data folder>.prepared/<resolution>px_<channels>ch``."""
    if source.source is None:
        request_of(source)  # raises: made in memory
    location = Path(source.source.location)
    setting = f"{source.resolution}px_{source.channels}ch"
    return location.parent / f"{location.name}.prepared" / setting


def _refuse(folder: Path, why: str, manifest: dict[str, Any] | None) -> PreparedCacheError:
    return PreparedCacheError(
        f"prepared cache {folder}: {why}; {rebuild_hint(folder.parent, folder.name, manifest)}."
    )


def _check_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Refuse a cache whose files do not hold the manifest's slots (truncated, replaced)."""
    slots = manifest["count"]
    shape = (slots, manifest["channels"], manifest["resolution"], manifest["resolution"])
    for name, want in ((IMAGES, shape), (LABELS, (slots,))):
        path = folder / name
        if not path.is_file():
            raise _refuse(folder, f"{name} is missing", manifest)
        got, promised, present = data_bytes(path)
        if tuple(got) != want:
            raise _refuse(folder, f"{name} holds shape {tuple(got)}, the manifest {want}", manifest)
        if present < promised:
            raise _refuse(
                folder, f"{name} is truncated ({present} of {promised} data bytes)", manifest
            )


def _verify(dataset: PreparedImageDataset) -> None:
    """Recompute the checksum from the files; refuse a cache whose bytes changed."""
    manifest, size = dataset.manifest, dataset.manifest["chunk_size"]
    labels = dataset.labels.numpy()
    digests = [
        chunk_digest(dataset.images[start : start + size], labels[start : start + size])
        for start in range(0, manifest["count"], size)
    ]
    if combined_checksum(digests) != manifest["checksum"]:
        raise _refuse(dataset.folder, "its checksum differs from the manifest's", manifest)


def open_cache(folder: Path, request: dict[str, Any], verify: bool = False) -> PreparedImageDataset:
    """The prepared split in ``folder``, after checking that it matches ``request`` (any of the
    manifest's compared fields) and that its files are whole; ``verify`` also recomputes the
    checksum (reads every byte)."""
    if not (folder / MANIFEST).is_file():
        if (folder / PLAN).is_file():
            log = folder / LOG
            done = len(log.read_text().splitlines()) if log.is_file() else 0
            raise PreparedCacheError(
                f"prepared cache {folder} is incomplete ({done} chunks written): rerun the "
                f"command that prepares it to resume (`selfmod-prepare-data --gin CONFIG "
                f"--split {folder.name} --out {folder.parent}`), or pass prepared=False to "
                f"read the images themselves."
            )
        raise DatasetNotFoundError(
            f"no prepared cache in {folder} (no {MANIFEST}); prepare it with "
            f"`selfmod-prepare-data --gin CONFIG --split {folder.name} --out {folder.parent}` "
            f"(CONFIG: the gin file you train with)."
        )
    manifest = read_json(folder / MANIFEST)
    if why := mismatch(manifest, request):
        raise _refuse(folder, why, manifest)
    _check_files(folder, manifest)
    dataset = PreparedImageDataset(folder, manifest)
    if verify:
        _verify(dataset)
    return dataset


@register("dataset", "prepared")
def prepared(
    path: PathLike,
    split: str = "train",
    resolution: int | None = None,
    channels: int | None = None,
    verify: bool = False,
) -> PreparedImageDataset:
    """A prepared cache (``scripts/prepare_data.py --out path``): its ``split`` with the name,
    resolution, channels and classes of the dataset it was made from. ``resolution`` and
    ``channels``, when given, must match the cache's; ``verify`` recomputes its checksum."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")
    request: dict[str, Any] = {"format": FORMAT, "transform_version": TRANSFORM_VERSION}
    request |= {"split": split, "resolution": resolution, "channels": channels}
    request = {k: v for k, v in request.items() if v is not None}
    return open_cache(Path(path) / split, request, verify)


def with_cache(source: ImageDataset, cache: PathLike | bool) -> ImageDataset:
    """``source`` served from its prepared cache: the folder ``cache`` (required to hold it),
    else with ``cache=True`` the one next to the data (:func:`default_cache_root`) if there is
    one; ``False``, or no cache found, gives ``source`` itself."""
    if cache is False or (cache is True and source.source is None):
        return source
    root = default_cache_root(source) if cache is True else Path(cache)
    folder = root / source.split
    if cache is True and not (folder / MANIFEST).is_file() and not (folder / PLAN).is_file():
        return source
    return open_cache(folder, request_of(source))
