"""The four datasets of the paper (Section 3.1) read from the Hugging Face Hub, as a table.

Each row, a :class:`HubDatasetSpec`, says where the data is and how it splits; from it
:func:`_make_factory` builds the registered factory ``dataset.<name>`` with the gin-configurable
parameters that row implies. Default repositories (override with ``hf_path``):

* ``cifar10``: ``uoft-cs/cifar10`` (``img``/``label``; train 50k, test 10k).
* ``celebahq128``: ``bitmind/celeb-a-hq`` (``image``; 30k at 1024², one ``train`` split).
* ``lsun_bedroom128``: ``pcuenq/lsun-bedrooms`` (``image``; a 20% sample, ~303k images in
  ``train`` + ``test``, both pooled then re-partitioned). The paper used all ~3M images: pass
  ``data_dir`` (or ``hf_path``) for the full set.
* ``imagenet128``: ``ILSVRC/imagenet-1k`` (``image``/``label``; gated: accept its terms and
  ``hf auth login``; train 1.28M, validation 50k used as test).

Each factory also takes ``prepared``: served from a prepared uint8 cache
(``scripts/prepare_data.py``) next to ``data_dir`` or the ``datasets`` cache's copy, or in a
folder given (:mod:`registry.datasets.prepared_reader`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

__all__ = [
    "HUB_DATASETS",
    "HubDatasetSpec",
    "Partition",
    "celebahq128",
    "cifar10",
    "imagenet128",
    "load_hub_dataset",
    "lsun_bedroom128",
]


@dataclass(frozen=True)
class Partition:
    """A test set cut from the pooled source: its last ``test_size`` items (``mode="last"``) or
    a seeded random sample of them (``"random"``); see :func:`~registry.datasets.partition_indices`.
    """

    mode: str
    test_size: int


@dataclass(frozen=True)
class HubDatasetSpec:
    """One Hub dataset: its name, source, default resolution and columns, and its test set.

    With a ``partition`` the factory pools the source's splits (or reads ``hf_split``) and cuts
    the test set from them; it takes ``hf_split`` and ``test_size`` (and ``seed`` when random).
    Otherwise the Hub's own splits are used, ``test_split`` read as test (a parameter of the
    factory when it is not ``"test"``).
    """

    name: str
    hf_path: str
    resolution: int
    image_key: str
    label_key: str | None
    partition: Partition | None = None
    test_split: str = "test"


# Section 3.1: CIFAR-10 and ImageNet keep their splits (ImageNet's validation set is the test
# set); CelebA-HQ tests on its last 3000 images, LSUN-Bedroom on 30588 random ones.
HUB_DATASETS = (
    HubDatasetSpec("cifar10", "uoft-cs/cifar10", 32, "img", "label"),
    HubDatasetSpec(
        "celebahq128", "bitmind/celeb-a-hq", 128, "image", None, Partition("last", 3000)
    ),
    HubDatasetSpec(
        "lsun_bedroom128", "pcuenq/lsun-bedrooms", 128, "image", None, Partition("random", 30588)
    ),
    HubDatasetSpec(
        "imagenet128", "ILSVRC/imagenet-1k", 128, "image", "label", test_split="validation"
    ),
)

_DOCS = {
    "cifar10": "CIFAR-10, 32×32, standard 50k train / 10k test split (Section 3.1), 10 classes.",
    "celebahq128": "CelebA-HQ at 128×128: of the 30k images the last ``test_size`` (3000) are "
    "the test set.\n\nSection 3.1. ``hf_split=None`` pools all splits of the source in order "
    "before partitioning.",
    "lsun_bedroom128": "LSUN-Bedroom at 128×128: a seeded random partition with ``test_size`` "
    "(30588) test images.\n\nSection 3.1. ``hf_split=None`` pools all splits of the source "
    "before partitioning; the partition is an index permutation, no image is read.",
    "imagenet128": "ImageNet at 128×128 (shorter side resized, center crop): train 1.28M, test = "
    "the 50k validation images (Section 3.1), 1000 classes.",
}
"""The factories' docstrings."""


def load_hub_dataset(
    spec: HubDatasetSpec,
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
    hf_split: str | None = None,
    test_size: int = 0,
    seed: int = 0,
    test_split: str = "test",
    prepared: PathLike | bool = True,
) -> ImageDataset:
    """Load ``spec``'s data, pick the split (or partition the pooled set), wrap it; serve it
    from its prepared cache (``prepared``: a folder, or ``True`` for the one next to the data,
    :func:`~registry.datasets.prepared_reader.with_cache`) when there is one."""
    check_common(split, resolution, channels)
    if spec.partition is None:
        hf_split = test_split if split == "test" else split
    loaded, where = load_source(spec.name, hf_path, data_dir, cache_dir, revision)
    source = pick_split(loaded, hf_split, spec.name, where)
    image_key = image_column(source, image_key)
    label_key = label_column(source, label_key)
    num_classes = count_classes(source, label_key)
    if spec.partition is not None:
        source = partition_split(source, split, spec.partition.mode, test_size, seed)
    dataset = HFImageDataset(
        source,
        image_key=image_key,
        label_key=label_key,
        name=spec.name,
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=num_classes,
    )
    options = {"hf_path": None if data_dir else hf_path, "revision": revision}
    options |= {"hf_split": hf_split, "image_key": image_key, "label_key": label_key}
    if spec.partition is not None:
        options |= {"test_size": test_size, "seed": seed if spec.partition.mode == "random" else 0}
    dataset.source = Source(spec.name, _data_location(hf_path, data_dir, cache_dir), options)
    return with_cache(dataset, prepared)


def _data_location(hf_path: str, data_dir: PathLike | None, cache_dir: PathLike | None) -> Path:
    """``data_dir``, else where ``datasets`` keeps ``hf_path`` (a prepared cache lies beside)."""
    if data_dir is not None:
        return Path(data_dir).resolve()
    import datasets

    return Path(cache_dir or datasets.config.HF_DATASETS_CACHE) / hf_path.replace("/", "___")


def _signature(spec: HubDatasetSpec) -> inspect.Signature:
    """The factory's parameters, in the order (and with the defaults) gin files and callers use."""

    def parameter(name: str, default: Any, annotation: str) -> inspect.Parameter:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return inspect.Parameter(name, kind, default=default, annotation=annotation)

    cut = spec.partition  # None: the Hub's own splits
    parameters = [
        parameter("split", "train", "str"),
        parameter("resolution", spec.resolution, "int"),
        parameter("channels", 3, "int"),
        parameter("hf_path", spec.hf_path, "str"),
        *([parameter("hf_split", None, "str | None")] if cut else []),
        parameter("data_dir", None, "PathLike | None"),
        parameter("image_key", spec.image_key, "str"),
        parameter("label_key", spec.label_key, "str | None"),
        *([parameter("test_size", cut.test_size, "int")] if cut else []),
        *([parameter("seed", 0, "int")] if cut and cut.mode == "random" else []),
        *([parameter("test_split", spec.test_split, "str")] if spec.test_split != "test" else []),
        parameter("cache_dir", None, "PathLike | None"),
        parameter("revision", None, "str | None"),
        parameter("prepared", True, "PathLike | bool"),
    ]
    return inspect.Signature(parameters, return_annotation="ImageDataset")


def _make_factory(spec: HubDatasetSpec) -> Callable[..., ImageDataset]:
    """The registered factory ``dataset.<spec.name>``: :func:`load_hub_dataset` for ``spec``,
    with the signature of :func:`_signature` (which gin and ``inspect`` read)."""
    signature = _signature(spec)

    def factory(*args: Any, **kwargs: Any) -> ImageDataset:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:  # Worded as Python words it for a plain function.
            raise TypeError(f"{spec.name}() {error}") from None
        bound.apply_defaults()
        return load_hub_dataset(spec, **bound.arguments)

    factory.__name__ = factory.__qualname__ = spec.name
    factory.__doc__ = _DOCS[spec.name]
    factory.__signature__ = signature  # type: ignore[attr-defined]
    return register("dataset", spec.name)(factory)


_FACTORIES = {spec.name: _make_factory(spec) for spec in HUB_DATASETS}
# Module-level names: importable, and picklable by reference (``__qualname__`` is the name).
cifar10 = _FACTORIES["cifar10"]
celebahq128 = _FACTORIES["celebahq128"]
lsun_bedroom128 = _FACTORIES["lsun_bedroom128"]
imagenet128 = _FACTORIES["imagenet128"]
