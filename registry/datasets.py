"""Datasets of the paper (Chen et al., ICLR 2019, Section 3.1) plus small local/test sets.

Every factory is registered under kind ``dataset`` (gin ``dataset.<name>``) and returns an
:class:`ImageDataset`: a ``torch.utils.data.Dataset`` of ``(image, label)`` pairs, ``image`` a
float32 ``C×H×W`` tensor in [-1, 1] and ``label`` an int64 scalar tensor (0 when unlabeled), with
the attributes ``name``, ``split``, ``resolution``, ``channels`` and ``num_classes`` (0 when
unlabeled). ``name`` identifies the data (evaluation caches real-data statistics per
``name``/``split``/``resolution``).

A missing dataset raises :class:`DatasetNotFoundError` at construction, with what is missing and
how to get it. Hub datasets go through ``datasets.load_dataset`` (the cached copy is used when
the Hub is unreachable; one in neither the datasets cache nor the Hub cache fails at once when
``HF_HUB_OFFLINE=1`` is set or the Hub endpoint takes no connection, instead of after the
client's retries); ``data_dir`` reads a local copy instead (a folder of images, a downloaded
Hub repository, or a ``save_to_disk`` directory). Images are resized on the shorter side
(bilinear, antialiased) and center-cropped with torch.

Default Hugging Face Hub repositories (override with ``hf_path``):

* ``cifar10``: ``uoft-cs/cifar10`` (``img``/``label``; train 50k, test 10k).
* ``celebahq128``: ``bitmind/celeb-a-hq`` (``image``; 30k at 1024², one ``train`` split).
* ``lsun_bedroom128``: ``pcuenq/lsun-bedrooms`` (``image``; a 20% sample, ~303k images in
  ``train`` + ``test``, both pooled then re-partitioned). The paper used all ~3M images: pass
  ``data_dir`` (or ``hf_path``) for the full set.
* ``imagenet128``: ``ILSVRC/imagenet-1k`` (``image``/``label``; gated: accept its terms and
  ``hf auth login``; train 1.28M, validation 50k used as test).
"""

from __future__ import annotations

import functools
import gzip
import logging
import math
import os
import re
import socket
import struct
import urllib.parse
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from registry._registry import register

__all__ = [
    "FASHION_MNIST_DEFAULT_DIR",
    "FASHION_MNIST_ENV",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "FolderImageDataset",
    "HFImageDataset",
    "ImageDataset",
    "TensorImageDataset",
    "celebahq128",
    "cifar10",
    "fashion_mnist",
    "image_folder",
    "imagenet128",
    "lsun_bedroom128",
    "partition_indices",
    "read_idx",
    "synthetic",
]

_logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
SPLITS = ("train", "test")
FASHION_MNIST_ENV = "SELFMOD_FASHION_MNIST"
FASHION_MNIST_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not available locally; the message says what is missing and how to get it."""


class CorruptDatasetError(ValueError):
    """A dataset file exists but is truncated or malformed; the message names the file."""


# --------------------------------------------------------------------------------------------
# The dataset classes
# --------------------------------------------------------------------------------------------


class ImageDataset(Dataset):
    """Base class: ``(image, label)`` items plus the metadata the trainer and evaluation use."""

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
        image = image.float() / 127.5 - 1.0 if image.dtype == torch.uint8 else image.clone()
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
        image = _pil_to_tensor(row[self.image_key], self.channels)
        image = _resize_center_crop(image, self.resolution)
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
            image = _pil_to_tensor(pil, self.channels)
        return _resize_center_crop(image, self.resolution), self._label(self.labels[index])


# --------------------------------------------------------------------------------------------
# Image helpers
# --------------------------------------------------------------------------------------------


def _pil_to_tensor(image: Image.Image, channels: int) -> torch.Tensor:
    """A PIL image as a float ``C×H×W`` tensor in [-1, 1] (RGB, or gray when ``channels=1``)."""
    array = np.array(image.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
    tensor = torch.from_numpy(array)
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return tensor.float() / 127.5 - 1.0


def _resize_center_crop(image: torch.Tensor, resolution: int) -> torch.Tensor:
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


def _fit_mnist(image: torch.Tensor, resolution: int) -> torch.Tensor:
    """28×28 → ``resolution``: pad with the background (-1) to 32, else bilinear resize."""
    side = image.shape[-1]
    if resolution == side:
        return image
    if resolution == 32 and side == 28:
        return F.pad(image, (2, 2, 2, 2), value=-1.0)
    target = (resolution, resolution)
    resized = F.interpolate(image[None], size=target, mode="bilinear", antialias=True)
    return resized[0].clamp(-1.0, 1.0)


def _mnist_transform(image: torch.Tensor, *, resolution: int, channels: int) -> torch.Tensor:
    image = _fit_mnist(image, resolution)
    return image.expand(channels, -1, -1) if image.shape[0] != channels else image


def _identity(image: torch.Tensor) -> torch.Tensor:
    return image


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _check_common(split: str, resolution: int, channels: int) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")
    if not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")


# --------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX files)
# --------------------------------------------------------------------------------------------


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


def _fashion_mnist_dir(root: PathLike | None) -> tuple[Path, str]:
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
) -> TensorImageDataset:
    """Fashion-MNIST (60k train / 10k test, 10 classes), the embedded default dataset.

    Reads the IDX files from ``root``, else ``$SELFMOD_FASHION_MNIST``, else
    ``/usr/share/datasets/fashion-mnist/`` (Debian ``dataset-fashion-mnist``). 28×28 images are
    padded with the background (-1) to 32×32, resized bilinearly to other resolutions;
    ``channels=3`` repeats the gray channel.
    """
    _check_common(split, resolution, channels)
    images_path, labels_path = _fashion_mnist_files(root, split)
    stamp = tuple(int(v) for p in (images_path, labels_path) for v in _file_stamp(p))
    images, labels = _load_idx_pair(images_path.resolve(), labels_path.resolve(), stamp)

    return TensorImageDataset(
        images,
        labels,
        transform=functools.partial(_mnist_transform, resolution=resolution, channels=channels),
        name="fashion_mnist",
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=10,
    )


def _file_stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


# --------------------------------------------------------------------------------------------
# Hugging Face datasets
# --------------------------------------------------------------------------------------------


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What ``load_dataset`` raises when a Hub dataset cannot be had (offline, absent, gated)."""
    errors: tuple[type[BaseException], ...] = (OSError,)  # Hub, HTTP and cache errors.
    try:
        import httpx

        errors += (httpx.HTTPError,)
    except ImportError:  # pragma: no cover - httpx comes with huggingface_hub >= 1.0
        pass
    return errors


def _hub_not_found(
    name: str, hf_path: str, cache_dir: PathLike | None, error: BaseException
) -> DatasetNotFoundError:
    import datasets

    cache = cache_dir or datasets.config.HF_DATASETS_CACHE
    return DatasetNotFoundError(
        f"{name}: Hugging Face dataset {hf_path!r} could not be loaded: it is not in the "
        f"datasets cache ({cache}) and the Hub did not provide it "
        f"({type(error).__name__}: {error}). To get it: on a machine with network access run "
        f"`hf download {hf_path} --repo-type dataset --local-dir <dir>` (older clients: "
        f"`huggingface-cli download {hf_path} --repo-type dataset --local-dir <dir>`) and pass "
        f"data_dir=<dir> (gin: dataset.{name}.data_dir), or run "
        f"`datasets.load_dataset({hf_path!r})` once online to fill the cache. "
        f"data_dir may also be a folder of images or a `save_to_disk` directory. Gated "
        f"datasets also need `hf auth login` after accepting their terms on the Hub."
    )


def _is_saved_to_disk(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _load_local(data_dir: Path, name: str, cache_dir: PathLike | None) -> Any:
    import datasets

    if not data_dir.exists():
        raise DatasetNotFoundError(
            f"{name}: data_dir {data_dir} does not exist. Pass a folder of images, a downloaded "
            f"Hub repository (`hf download <repo> --repo-type dataset --local-dir {data_dir}`) "
            f"or a directory written by `Dataset.save_to_disk`."
        )
    if _is_saved_to_disk(data_dir):
        return datasets.load_from_disk(str(data_dir))
    cache = None if cache_dir is None else str(cache_dir)
    try:
        return datasets.load_dataset(str(data_dir), cache_dir=cache)
    except FileNotFoundError as error:  # e.g. no data files in the folder
        raise DatasetNotFoundError(f"{name}: no dataset found in {data_dir}: {error}") from error


def _squash(text: str) -> str:
    return re.sub(r"[-_.]", "", text.lower())


def _in_local_cache(hf_path: str, cache_dir: PathLike | None) -> bool:
    """Whether the datasets cache (a prepared copy) or the Hub cache (downloaded files) holds
    ``hf_path``; then ``load_dataset`` can work without the Hub."""
    import datasets
    import huggingface_hub.constants

    hub_copy = Path(huggingface_hub.constants.HF_HUB_CACHE) / (
        "datasets--" + hf_path.replace("/", "--")
    )
    if hub_copy.is_dir():
        return True
    prepared = Path(cache_dir or datasets.config.HF_DATASETS_CACHE)
    wanted = _squash(hf_path.replace("/", "___"))  # datasets' {namespace}___{name} folders
    return prepared.is_dir() and any(_squash(p.name) == wanted for p in prepared.iterdir())


def _hub_unreachable(timeout: float = 3.0) -> ConnectionError | None:
    """Why the Hub cannot be reached (offline mode, or no TCP connection to the endpoint within
    ``timeout`` seconds), or None. Behind a proxy the client is left to try."""
    import datasets
    import huggingface_hub.constants as hub

    if datasets.config.HF_HUB_OFFLINE or hub.HF_HUB_OFFLINE:
        return ConnectionError("HF_HUB_OFFLINE is set")
    proxies = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    if any(os.environ.get(v) or os.environ.get(v.lower()) for v in proxies):
        return None
    url = urllib.parse.urlsplit(hub.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as error:
        return ConnectionError(f"cannot connect to {hub.ENDPOINT}: {error}")
    return None


def _load_hub(hf_path: str, name: str, cache_dir: PathLike | None, revision: str | None) -> Any:
    import datasets

    cache = None if cache_dir is None else str(cache_dir)
    # Not cached and no Hub: fail now, not after the client's ~50 s of retries.
    if not _in_local_cache(hf_path, cache_dir) and (why := _hub_unreachable()) is not None:
        raise _hub_not_found(name, hf_path, cache_dir, why) from why
    try:
        return datasets.load_dataset(hf_path, cache_dir=cache, revision=revision)
    except _hub_errors() as error:
        raise _hub_not_found(name, hf_path, cache_dir, error) from error


def _pick_split(loaded: Any, hf_split: str | None, name: str, where: str) -> Any:
    """One ``datasets.Dataset`` from what was loaded: a named split, ``a+b``, or all (``None``)."""
    import datasets

    if isinstance(loaded, datasets.Dataset):
        own = None if loaded.split is None else str(loaded.split)
        if hf_split is None or own == hf_split or (own is None and hf_split == "train"):
            return loaded
        raise DatasetNotFoundError(
            f"{name}: {where} holds a single split ({own or 'unnamed'}), not {hf_split!r}; "
            f"save a DatasetDict with a {hf_split!r} split."
        )
    wanted = list(loaded) if hf_split is None else hf_split.split("+")
    missing = [split for split in wanted if split not in loaded]
    if missing:
        raise DatasetNotFoundError(
            f"{name}: {where} has no split {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, loaded))}."
        )
    parts = [loaded[split] for split in wanted]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def _image_column(hf_dataset: Any, image_key: str) -> str:
    import datasets

    if image_key in hf_dataset.column_names:
        return image_key
    images = [k for k, f in hf_dataset.features.items() if isinstance(f, datasets.Image)]
    if len(images) == 1:
        return images[0]
    raise ValueError(
        f"Image column {image_key!r} not found; columns are {hf_dataset.column_names}. "
        f"Pass image_key=<column>."
    )


def _label_column(hf_dataset: Any, label_key: str | None) -> str | None:
    import datasets

    if label_key is None or label_key in hf_dataset.column_names:
        return label_key
    labels = [k for k, f in hf_dataset.features.items() if isinstance(f, datasets.ClassLabel)]
    if len(labels) == 1:
        return labels[0]
    _logger.warning(
        "label column %r not in %s: the dataset is treated as unlabeled",
        label_key,
        hf_dataset.column_names,
    )
    return None


def _count_classes(hf_dataset: Any, label_key: str | None) -> int:
    import datasets

    if label_key is None:
        return 0
    feature = hf_dataset.features[label_key]
    if isinstance(feature, datasets.ClassLabel):
        return feature.num_classes
    values = hf_dataset.unique(label_key)
    return int(max(values)) + 1 if values else 0


def partition_indices(
    num_items: int, test_size: int, mode: str = "random", seed: int = 0
) -> dict[str, np.ndarray]:
    """Deterministic disjoint train/test indices over ``range(num_items)``.

    ``mode="last"``: the last ``test_size`` items are the test set (CelebA-HQ, Section 3.1);
    ``mode="random"``: a seeded permutation picks them (LSUN-Bedroom). Indices are sorted.
    """
    if not 0 < test_size < num_items:
        raise ValueError(f"test_size must be in (0, {num_items}), got {test_size}.")
    if mode == "last":
        order = np.arange(num_items)
        test, train = order[num_items - test_size :], order[: num_items - test_size]
    elif mode == "random":
        test = np.sort(np.random.default_rng(seed).permutation(num_items)[:test_size])
        is_train = np.ones(num_items, dtype=bool)
        is_train[test] = False
        train = np.flatnonzero(is_train)
    else:
        raise ValueError(f"Unknown partition mode {mode!r}; expected 'last' or 'random'.")
    return {"train": train, "test": test}


def _select(hf_dataset: Any, indices: np.ndarray) -> Any:
    contiguous = len(indices) and indices[-1] - indices[0] + 1 == len(indices)
    if contiguous:  # Fast path: no indices mapping at all.
        return hf_dataset.select(range(int(indices[0]), int(indices[-1]) + 1))
    return hf_dataset.select(indices, keep_in_memory=True)  # Indices only; images stay on disk.


def _hf_image_dataset(
    *,
    name: str,
    split: str,
    resolution: int,
    channels: int,
    hf_path: str,
    hf_split: str | None,
    data_dir: PathLike | None,
    image_key: str,
    label_key: str | None,
    cache_dir: PathLike | None,
    revision: str | None,
    partition: tuple[str, int, int] | None = None,
) -> HFImageDataset:
    """Load, pick the split (or partition a pooled set: ``(mode, test_size, seed)``), wrap."""
    _check_common(split, resolution, channels)
    if data_dir is not None:
        data_dir = Path(data_dir)
        loaded, where = _load_local(data_dir, name, cache_dir), str(data_dir)
    else:
        loaded, where = _load_hub(hf_path, name, cache_dir, revision), hf_path
    source = _pick_split(loaded, hf_split, name, where)
    image_key = _image_column(source, image_key)
    label_key = _label_column(source, label_key)
    num_classes = _count_classes(source, label_key)
    if partition is not None:
        mode, test_size, seed = partition
        source = _select(source, partition_indices(len(source), test_size, mode, seed)[split])
    return HFImageDataset(
        source,
        image_key=image_key,
        label_key=label_key,
        name=name,
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=num_classes,
    )


@register("dataset", "cifar10")
def cifar10(
    split: str = "train",
    resolution: int = 32,
    channels: int = 3,
    hf_path: str = "uoft-cs/cifar10",
    data_dir: PathLike | None = None,
    image_key: str = "img",
    label_key: str | None = "label",
    cache_dir: PathLike | None = None,
    revision: str | None = None,
) -> HFImageDataset:
    """CIFAR-10, 32×32, standard 50k train / 10k test split (Section 3.1), 10 classes."""
    return _hf_image_dataset(
        name="cifar10",
        split=split,
        resolution=resolution,
        channels=channels,
        hf_path=hf_path,
        hf_split=split,
        data_dir=data_dir,
        image_key=image_key,
        label_key=label_key,
        cache_dir=cache_dir,
        revision=revision,
    )


@register("dataset", "celebahq128")
def celebahq128(
    split: str = "train",
    resolution: int = 128,
    channels: int = 3,
    hf_path: str = "bitmind/celeb-a-hq",
    hf_split: str | None = None,
    data_dir: PathLike | None = None,
    image_key: str = "image",
    label_key: str | None = None,
    test_size: int = 3000,
    cache_dir: PathLike | None = None,
    revision: str | None = None,
) -> HFImageDataset:
    """CelebA-HQ at 128×128: of the 30k images the last ``test_size`` (3000) are the test set.

    Section 3.1. ``hf_split=None`` pools all splits of the source in order before partitioning.
    """
    return _hf_image_dataset(
        name="celebahq128",
        split=split,
        resolution=resolution,
        channels=channels,
        hf_path=hf_path,
        hf_split=hf_split,
        data_dir=data_dir,
        image_key=image_key,
        label_key=label_key,
        cache_dir=cache_dir,
        revision=revision,
        partition=("last", test_size, 0),
    )


@register("dataset", "lsun_bedroom128")
def lsun_bedroom128(
    split: str = "train",
    resolution: int = 128,
    channels: int = 3,
    hf_path: str = "pcuenq/lsun-bedrooms",
    hf_split: str | None = None,
    data_dir: PathLike | None = None,
    image_key: str = "image",
    label_key: str | None = None,
    test_size: int = 30588,
    seed: int = 0,
    cache_dir: PathLike | None = None,
    revision: str | None = None,
) -> HFImageDataset:
    """LSUN-Bedroom at 128×128: a seeded random partition with ``test_size`` (30588) test images.

    Section 3.1. ``hf_split=None`` pools all splits of the source before partitioning; the
    partition is an index permutation, no image is read.
    """
    return _hf_image_dataset(
        name="lsun_bedroom128",
        split=split,
        resolution=resolution,
        channels=channels,
        hf_path=hf_path,
        hf_split=hf_split,
        data_dir=data_dir,
        image_key=image_key,
        label_key=label_key,
        cache_dir=cache_dir,
        revision=revision,
        partition=("random", test_size, seed),
    )


@register("dataset", "imagenet128")
def imagenet128(
    split: str = "train",
    resolution: int = 128,
    channels: int = 3,
    hf_path: str = "ILSVRC/imagenet-1k",
    data_dir: PathLike | None = None,
    image_key: str = "image",
    label_key: str | None = "label",
    test_split: str = "validation",
    cache_dir: PathLike | None = None,
    revision: str | None = None,
) -> HFImageDataset:
    """ImageNet at 128×128 (shorter side resized, center crop): train 1.28M, test = the 50k
    validation images (Section 3.1), 1000 classes."""
    return _hf_image_dataset(
        name="imagenet128",
        split=split,
        resolution=resolution,
        channels=channels,
        hf_path=hf_path,
        hf_split=test_split if split == "test" else split,
        data_dir=data_dir,
        image_key=image_key,
        label_key=label_key,
        cache_dir=cache_dir,
        revision=revision,
    )


# --------------------------------------------------------------------------------------------
# Local image folders
# --------------------------------------------------------------------------------------------


def _image_files(directory: Path, recursive: bool) -> list[Path]:
    candidates = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in candidates if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)


def _folder_for_split(root: Path, split: str) -> Path:
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"image_folder: {root} is not a directory. Pass root=<folder of images> "
            f"(gin: dataset.image_folder.root)."
        )
    has_split_dirs = any((root / s).is_dir() for s in SPLITS)
    if has_split_dirs or split != "train":
        if not (root / split).is_dir():
            raise DatasetNotFoundError(
                f"image_folder: no {split!r} folder {root / split}; put the {split} images "
                f"there (with {root}/train for training) or use split='train'."
            )
        return root / split
    return root


def _scan_folder(base: Path) -> tuple[list[Path], list[int], list[str]]:
    """Files and labels: class subfolders (sorted names), or loose files (unlabeled)."""
    classes = sorted(d.name for d in base.iterdir() if d.is_dir() and _image_files(d, True))
    loose = _image_files(base, recursive=False)
    if classes and loose:
        raise ValueError(
            f"image_folder: {base} mixes class subfolders {classes} with loose images "
            f"(e.g. {loose[0].name}); move the loose images into a class folder."
        )
    if not classes:
        return loose, [0] * len(loose), []
    paths, labels = [], []
    for label, cls in enumerate(classes):
        files = _image_files(base / cls, recursive=True)
        paths += files
        labels += [label] * len(files)
    return paths, labels, classes


@register("dataset", "image_folder")
def image_folder(
    root: PathLike,
    split: str = "train",
    resolution: int = 32,
    channels: int = 3,
    name: str | None = None,
) -> FolderImageDataset:
    """A local folder of images; labels from the sorted immediate subfolder names.

    Images directly in the folder make an unlabeled set. With ``root/train`` and ``root/test``
    those are the splits; otherwise ``root`` itself is the train split. Images are resized on
    the shorter side and center-cropped to ``resolution``.
    """
    _check_common(split, resolution, channels)
    root = Path(root)
    base = _folder_for_split(root, split)
    paths, labels, classes = _scan_folder(base)
    if not paths:
        raise DatasetNotFoundError(
            f"image_folder: no images ({', '.join(sorted(_IMAGE_SUFFIXES))}) in {base}."
        )
    return FolderImageDataset(
        paths,
        labels,
        classes,
        name=name or f"image_folder_{root.resolve().name}",
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=len(classes),
    )


# --------------------------------------------------------------------------------------------
# Synthetic data for tests
# --------------------------------------------------------------------------------------------


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
    _check_common(split, resolution, channels)
    if num_samples < 1 or num_classes < 0:
        raise ValueError("num_samples must be >= 1 and num_classes >= 0.")
    generator = torch.Generator().manual_seed(2 * seed + SPLITS.index(split))
    classes = max(num_classes, 1)
    labels = torch.randperm(num_samples, generator=generator) % classes
    images = _synthetic_images(labels, resolution, channels, classes, generator)
    return TensorImageDataset(
        images,
        labels if num_classes else torch.zeros_like(labels),
        transform=_identity,
        name=f"synthetic_s{seed}_n{num_samples}_k{num_classes}",
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=num_classes,
    )
