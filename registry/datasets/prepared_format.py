"""The prepared cache on disk: its folder layout, its manifest, and the checks that refuse a
cache which does not hold what is asked.

A cache folder (``--out`` of ``scripts/prepare_data.py``) holds one folder per split::

    ROOT/train/manifest.json   what the cache holds (written last: its presence means complete)
    ROOT/train/images.npy      uint8 N×C×H×W, the transform's output (memory-mapped when read)
    ROOT/train/labels.npy      int64 N
    ROOT/train/keep.npy        the slots kept, only when corrupt images were skipped

While being prepared the folder holds ``preparing.json`` (the request) and ``chunks.jsonl`` (one
line per finished chunk with its sha256), which a rerun resumes from.

Why ``.npy`` memory maps and not Arrow (``datasets`` ``save_to_disk`` with a fixed-shape uint8
``Array3D`` feature): measured by ``python scripts/bench.py data`` (``results/speed/README.md``),
random batches of 64 at 128 px came about 70x faster from the memory map, Arrow returned int64
arrays that need a cast, and writing took it 5x longer. A memory map is also written in place
by parallel workers, chunk by chunk, which makes an interrupted preparation resumable.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from registry.datasets.base import ImageDataset
from registry.datasets.transforms import TRANSFORM_VERSION

__all__ = [
    "FORMAT",
    "IMAGES",
    "KEEP",
    "LABELS",
    "LOG",
    "MANIFEST",
    "PLAN",
    "PreparedCacheError",
    "chunk_digest",
    "combined_checksum",
    "data_bytes",
    "mismatch",
    "read_json",
    "rebuild_hint",
    "request_of",
    "write_json",
]

FORMAT = "selfmod-prepared/1"
MANIFEST, IMAGES, LABELS, KEEP = "manifest.json", "images.npy", "labels.npy", "keep.npy"
PLAN, LOG = "preparing.json", "chunks.jsonl"

COMPARED = {
    "format": "format",
    "transform_version": "transform version",
    "name": "dataset name",
    "split": "split",
    "resolution": "resolution",
    "channels": "channels",
    "factory": "source dataset",
    "count": "image count of the source",
    "options": "source option",
    "num_classes": "number of classes",
}
"""The request's fields a cache must match, with the words a refusal uses for them."""


class PreparedCacheError(ValueError):
    """A prepared cache that does not hold what is asked (or is damaged); the message names the
    mismatch and the command that rebuilds it."""


def request_of(source: ImageDataset) -> dict[str, Any]:
    """What a cache of ``source`` must hold: the fields of :data:`COMPARED`, plus the class names
    and where the data was read (recorded, not compared)."""
    if source.source is None:
        raise PreparedCacheError(
            f"{source.name} cannot be prepared: its images are made in memory, not read from "
            f"files; train from it directly."
        )
    request = {
        "format": FORMAT,
        "transform_version": TRANSFORM_VERSION,
        "name": source.name,
        "split": source.split,
        "resolution": source.resolution,
        "channels": source.channels,
        "factory": source.source.factory,
        "options": source.source.options,
        "count": len(source),
        "num_classes": source.num_classes,
        "classes": list(getattr(source, "classes", [])),
        "location": str(source.source.location),
    }
    return json.loads(json.dumps(request))  # as it reads back from a manifest (lists, not tuples)


def mismatch(manifest: dict[str, Any], request: dict[str, Any]) -> str | None:
    """The first field of :data:`COMPARED` that ``request`` sets differently from ``manifest``,
    in words (``resolution is 128 in the cache, 64 asked``), or None."""
    for key, words in COMPARED.items():
        if key not in request or manifest.get(key) == request[key]:
            continue
        if key != "options":
            return f"{words} is {manifest.get(key)!r} in the cache, {request[key]!r} asked"
        cached, asked = manifest.get(key) or {}, request[key]
        for option in sorted(set(cached) | set(asked)):
            if option == "files" and cached.get(option) != asked.get(option):
                return "the image files are not those it was made from (same count, other names)"
            if cached.get(option) != asked.get(option):
                was, now = cached.get(option), asked.get(option)
                return f"{words} {option} is {was!r} in the cache, {now!r} asked"
    return None


def rebuild_hint(root: Path, split: str, manifest: dict[str, Any] | None = None) -> str:
    """The command that (re)builds ``root``'s ``split``, and the one that made it, if known."""
    hint = (
        f"rebuild it with `selfmod-prepare-data --gin CONFIG --split {split} --out {root} "
        f"--overwrite` (CONFIG: the gin file you train with)"
    )
    if manifest and manifest.get("made_by"):
        hint += f"; it was made by `{manifest['made_by']}`"
    return hint


def data_bytes(path: Path) -> tuple[tuple[int, ...], int, int]:
    """(shape, bytes of data the header promises, bytes present after the header) of a
    ``.npy`` file, without reading its data."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(handle)
        offset = handle.tell()
    return shape, int(np.prod(shape)) * np.dtype(dtype).itemsize, path.stat().st_size - offset


def chunk_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of a chunk's image bytes then its labels (int64, little-endian)."""
    digest = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8))
    digest.update(np.ascontiguousarray(labels, dtype="<i8"))
    return digest.hexdigest()


def combined_checksum(digests: Iterable[str]) -> str:
    """The cache's checksum: sha256 of its chunks' digests in chunk order (so it depends on the
    manifest's ``chunk_size``, with which it is verified)."""
    return "sha256:" + hashlib.sha256("".join(digests).encode()).hexdigest()


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(partial, path)
