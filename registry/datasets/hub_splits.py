"""Shaping a loaded Hugging Face dataset: its split (or pooled splits), its image and label
columns, its class count, and the train/test partitions of Section 3.1 for sets that have none."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from registry.datasets.base import DatasetNotFoundError

__all__ = [
    "count_classes",
    "image_column",
    "label_column",
    "partition_indices",
    "partition_split",
    "pick_split",
]

_logger = logging.getLogger(__name__)


def pick_split(loaded: Any, hf_split: str | None, name: str, where: str) -> Any:
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


def image_column(hf_dataset: Any, image_key: str) -> str:
    """``image_key`` if it is a column, else the one ``datasets.Image`` column."""
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


def label_column(hf_dataset: Any, label_key: str | None) -> str | None:
    """``label_key`` if it is a column (or None), else the one ``ClassLabel`` column, else None
    (unlabeled, with a warning)."""
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


def count_classes(hf_dataset: Any, label_key: str | None) -> int:
    """The number of classes of ``label_key`` (0 when unlabeled)."""
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


def partition_split(hf_dataset: Any, split: str, mode: str, test_size: int, seed: int) -> Any:
    """The ``split`` part of :func:`partition_indices` over ``hf_dataset``; no image is read."""
    return _select(hf_dataset, partition_indices(len(hf_dataset), test_size, mode, seed)[split])
