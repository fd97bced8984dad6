"""The four datasets of the paper (Section 3.1) read from the Hugging Face Hub.

One registered factory ``dataset.<name>`` per dataset, its gin-configurable parameters and their
defaults (the Hub repository, resolution, columns, test set) written out in its signature; all
four load through :func:`load_hub_dataset`. Each factory also takes ``data_dir`` (a local copy
instead of the Hub) and ``prepared``: served from a prepared uint8 cache
(``scripts/prepare_data.py``) next to ``data_dir`` or the ``datasets`` cache's copy, or in a
folder given (:mod:`registry.datasets.prepared_reader`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from registry._registry import register
from registry.datasets.base import HFImageDataset, ImageDataset, PathLike, Source, check_common
from registry.datasets.hub import load_source
from registry.datasets.hub_splits import (
    count_classes,
    image_column,
    label_column,
    partition_split,
    pick_split,
)
from registry.datasets.prepared_reader import with_cache

__all__ = ["celebahq128", "cifar10", "imagenet128", "load_hub_dataset", "lsun_bedroom128"]


def load_hub_dataset(
    name: str,
    partition: Literal["last", "random"] | None = None,
    *,
    split: str,
    resolution: int,
    channels: int,
    hf_path: str,
    data_dir: PathLike | None,
    image_key: str,
    label_key: str | None,
    cache_dir: PathLike | None,
    revision: str | None,
    prepared: PathLike | bool,
    hf_split: str | None = None,
    test_size: int = 0,
    seed: int = 0,
    test_split: str = "test",
) -> ImageDataset:
    """The factory ``dataset.<name>`` with its arguments: load the data, pick the split, wrap it;
    serve it from its prepared cache (``prepared``: a folder, or ``True`` for the one next to the
    data, :func:`~registry.datasets.prepared_reader.with_cache`) when there is one.

    ``partition=None`` keeps the Hub's own splits, ``test_split`` read as test. Otherwise the
    source's splits are pooled (or ``hf_split`` read) and the test set cut from them: its last
    ``test_size`` items (``"last"``) or a ``seed``-ed random sample (``"random"``), see
    :func:`~registry.datasets.partition_indices`.
    """
    check_common(split, resolution, channels)
    if partition is None:
        hf_split = test_split if split == "test" else split
    loaded, where = load_source(name, hf_path, data_dir, cache_dir, revision)
    source = pick_split(loaded, hf_split, name, where)
    image_key = image_column(source, image_key)
    label_key = label_column(source, label_key)
    num_classes = count_classes(source, label_key)
    if partition is not None:
        source = partition_split(source, split, partition, test_size, seed)
    dataset = HFImageDataset(
        source,
        image_key=image_key,
        label_key=label_key,
        name=name,
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=num_classes,
    )
    options = {"hf_path": None if data_dir else hf_path, "revision": revision}
    options |= {"hf_split": hf_split, "image_key": image_key, "label_key": label_key}
    if partition is not None:
        options |= {"test_size": test_size, "seed": seed if partition == "random" else 0}
    dataset.source = Source(name, _data_location(hf_path, data_dir, cache_dir), options)
    return with_cache(dataset, prepared)


def _data_location(hf_path: str, data_dir: PathLike | None, cache_dir: PathLike | None) -> Path:
    """``data_dir``, else where ``datasets`` keeps ``hf_path`` (a prepared cache lies beside)."""
    if data_dir is not None:
        return Path(data_dir).resolve()
    import datasets

    return Path(cache_dir or datasets.config.HF_DATASETS_CACHE) / hf_path.replace("/", "___")


# Each factory's body passes its own arguments (``locals()``: only its parameters) on, by name.


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
    prepared: PathLike | bool = True,
) -> ImageDataset:
    """CIFAR-10, 32×32, 10 classes (Section 3.1): ``uoft-cs/cifar10`` (``img``/``label``), its
    own splits, the standard train 50k / test 10k (Section 3.1 writes 60000 / 10000)."""
    return load_hub_dataset("cifar10", None, **locals())


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
    prepared: PathLike | bool = True,
) -> ImageDataset:
    """CelebA-HQ at 128×128, unlabeled (Section 3.1): ``bitmind/celeb-a-hq`` (``image``; 30k
    images at 1024², one ``train`` split); the last ``test_size`` (3000) images are the test set.

    ``hf_split=None`` pools all splits of the source in order before partitioning.
    """
    return load_hub_dataset("celebahq128", "last", **locals())


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
    prepared: PathLike | bool = True,
) -> ImageDataset:
    """LSUN-Bedroom at 128×128, unlabeled (Section 3.1): a ``seed``-ed random partition with
    ``test_size`` (30588) test images.

    ``pcuenq/lsun-bedrooms`` (``image``) is a 20% sample, ~303k images in ``train`` + ``test``;
    ``hf_split=None`` pools both before partitioning (an index permutation: no image is read).
    The paper used all ~3M images: pass ``data_dir`` (or ``hf_path``) for the full set.
    """
    return load_hub_dataset("lsun_bedroom128", "random", **locals())


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
    prepared: PathLike | bool = True,
) -> ImageDataset:
    """ImageNet at 128×128 (shorter side resized, center crop), 1000 classes (Section 3.1):
    ``ILSVRC/imagenet-1k`` (``image``/``label``; gated: accept its terms and ``hf auth login``),
    train 1.28M, test = the 50k ``validation`` images."""
    return load_hub_dataset("imagenet128", None, **locals())
