"""Fashion-MNIST read from its IDX files: the format reader and the ``dataset.fashion_mnist``
factory (the embedded default dataset; not one of the paper's, Section 3.1)."""

from __future__ import annotations

import functools
import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from registry._registry import register
from registry.datasets.base import (
    CorruptDatasetError,
    DatasetNotFoundError,
    ImageDataset,
    PathLike,
    Source,
    TensorImageDataset,
    check_common,
)
from registry.datasets.prepared_reader import with_cache
from registry.datasets.transforms import fit_mnist

__all__ = ["FASHION_MNIST_DEFAULT_DIR", "FASHION_MNIST_ENV", "fashion_mnist", "read_idx"]

FASHION_MNIST_ENV = "SELFMOD_FASHION_MNIST"
FASHION_MNIST_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise CorruptDatasetError(
            f"{path}: cannot be decompressed ({error}); the file is truncated or corrupt. "
            f"Re-download it or reinstall the package that provides it."
        ) from error


def read_idx(path: PathLike, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file (optionally gzipped) with ``ndim`` dimensions."""
    path = Path(path)
    data = _read_bytes(path)
    expected_magic = 0x0800 | ndim
    if len(data) < 4 + 4 * ndim:
        raise CorruptDatasetError(f"{path}: only {len(data)} bytes, too short for an IDX header.")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise CorruptDatasetError(
            f"{path}: bad IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"(unsigned bytes, {ndim} dimensions); the file is corrupt or not an IDX file."
        )
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(shape)
    if len(data) - header != expected:
        raise CorruptDatasetError(
            f"{path}: header says shape {shape} ({expected} bytes) but {len(data) - header} "
            f"bytes follow; the file is truncated or corrupt."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


@functools.lru_cache(maxsize=4)
def _load_idx_pair(
    images_path: Path, labels_path: Path, _stamp: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N×1×28×28 uint8) and labels; ``_stamp`` (mtimes, sizes) renews the cache."""
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise CorruptDatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels."
        )
    if labels.size and labels.max() >= 10:
        raise CorruptDatasetError(f"{labels_path}: label {labels.max()} is not in 0..9.")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _file_stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _fashion_mnist_dir(root: PathLike | None) -> tuple[Path, str]:
    """The folder to read and where it came from (for the error message)."""
    if root is not None:
        return Path(root), "root="
    if os.environ.get(FASHION_MNIST_ENV):
        return Path(os.environ[FASHION_MNIST_ENV]), f"${FASHION_MNIST_ENV}="
    return FASHION_MNIST_DEFAULT_DIR, "default "


def _find_idx_file(directory: Path, gz_name: str) -> Path | None:
    for candidate in (directory / gz_name, directory / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist_files(root: PathLike | None, split: str) -> tuple[Path, Path]:
    directory, origin = _fashion_mnist_dir(root)
    names = _FASHION_MNIST_FILES[split]
    found = {name: _find_idx_file(directory, name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise DatasetNotFoundError(
            f"Fashion-MNIST {split!r} split not found: {', '.join(missing)} missing in "
            f"{origin}{directory}. To get it: `apt-get install dataset-fashion-mnist` (installs "
            f"the files in {FASHION_MNIST_DEFAULT_DIR}/), or download the four *-ubyte.gz files "
            f"from https://github.com/zalandoresearch/fashion-mnist and set "
            f"{FASHION_MNIST_ENV}=<dir> or pass root=<dir> (gin: dataset.fashion_mnist.root)."
        )
    images_path, labels_path = (found[name] for name in names)
    assert images_path is not None and labels_path is not None
    return images_path, labels_path


@register("dataset", "fashion_mnist")
def fashion_mnist(
    split: str = "train",
    resolution: int = 32,
    root: PathLike | None = None,
    channels: int = 1,
    prepared: PathLike | bool = True,
) -> ImageDataset:
    """Fashion-MNIST (60k train / 10k test, 10 classes), the embedded default dataset.

    Reads the IDX files from ``root``, else ``$SELFMOD_FASHION_MNIST``, else
    ``/usr/share/datasets/fashion-mnist/`` (Debian ``dataset-fashion-mnist``). 28×28 images are
    padded with the background (-1) to 32×32, resized bilinearly to other resolutions;
    ``channels=3`` repeats the gray channel. ``prepared``: a prepared cache's folder, ``True``
    to use the one next to the IDX files if there is one, ``False`` never
    (:mod:`registry.datasets.prepared_reader`; the data is held in memory anyway).
    """
    check_common(split, resolution, channels)
    images_path, labels_path = _fashion_mnist_files(root, split)
    stamp = tuple(int(v) for p in (images_path, labels_path) for v in _file_stamp(p))
    images, labels = _load_idx_pair(images_path.resolve(), labels_path.resolve(), stamp)

    dataset = TensorImageDataset(
        images,
        labels,
        transform=functools.partial(fit_mnist, resolution=resolution, channels=channels),
        name="fashion_mnist",
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=10,
    )
    dataset.source = Source("fashion_mnist", images_path.resolve().parent)
    return with_cache(dataset, prepared)
