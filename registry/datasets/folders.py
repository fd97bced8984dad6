"""Local folders of image files: the ``dataset.image_folder`` factory and the folder scan."""

from __future__ import annotations

import hashlib
from pathlib import Path

from registry._registry import register
from registry.datasets.base import (
    SPLITS,
    DatasetNotFoundError,
    FolderImageDataset,
    ImageDataset,
    PathLike,
    Source,
    check_common,
)
from registry.datasets.prepared_reader import with_cache

__all__ = ["image_folder"]

_IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


def _image_files(directory: Path, recursive: bool) -> list[Path]:
    candidates = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in candidates if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)


def _folder_for_split(root: Path, split: str) -> Path:
    """``root/split`` when ``root`` has split folders (or a test split is asked), else ``root``."""
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
    prepared: PathLike | bool = True,
) -> ImageDataset:
    """A local folder of images; labels from the sorted immediate subfolder names.

    Images directly in the folder make an unlabeled set. With ``root/train`` and ``root/test``
    those are the splits; otherwise ``root`` itself is the train split. Images are resized on
    the shorter side and center-cropped to ``resolution``. ``prepared``: a prepared cache's
    folder to serve the images from, ``True`` to use the one next to ``root`` if there is one,
    ``False`` to decode the files (:mod:`registry.datasets.prepared_reader`).
    """
    check_common(split, resolution, channels)
    root = Path(root)
    base = _folder_for_split(root, split)
    paths, labels, classes = _scan_folder(base)
    if not paths:
        raise DatasetNotFoundError(
            f"image_folder: no images ({', '.join(sorted(_IMAGE_SUFFIXES))}) in {base}."
        )
    dataset = FolderImageDataset(
        paths,
        labels,
        classes,
        name=name or f"image_folder_{root.resolve().name}",
        split=split,
        resolution=resolution,
        channels=channels,
        num_classes=len(classes),
    )
    listing = "\n".join(str(p.relative_to(base)) for p in paths).encode()
    options = {"files": hashlib.sha256(listing).hexdigest()}  # the same files, in the same order
    dataset.source = Source("image_folder", root.resolve(), options)
    return with_cache(dataset, prepared)
