"""Preparing a cache (:mod:`registry.datasets.prepared_format`): every image of a dataset
decoded and transformed once (:meth:`~registry.datasets.ImageDataset.raw`, the streaming
path's own transform), in parallel, into uint8 memory maps.

The images are split into chunks; worker processes write chunks in place and the main process
logs each finished chunk (with its sha256) in ``chunks.jsonl``. An interrupted preparation
(Ctrl-C, a killed job, a corrupt image) resumes from that log: a rerun writes only the chunks
not logged. The manifest is written last, so a cache with a manifest is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import torch
from PIL import Image
from tqdm.auto import tqdm

from registry.datasets import prepared_format as fmt
from registry.datasets.base import CorruptDatasetError, ImageDataset

__all__ = ["ChunkDone", "prepare"]

DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
"""What PIL raises for an image it cannot decode (truncated, not an image, bad header)."""


@dataclass(frozen=True)
class ChunkDone:
    """A written chunk: its number, its sha256 and the images left out of it."""

    chunk: int
    digest: str
    skipped: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    """What a worker needs: the dataset, the split folder, the chunking, the corrupt policy."""

    source: ImageDataset
    folder: Path
    chunk_size: int
    skip_corrupt: bool


_JOB: _Job | None = None  # the job of this process: set by _start_worker, or _run_chunks


def _start_worker(job: _Job) -> None:
    """A worker process: one thread; Ctrl-C is for the main process, which stops the pool."""
    global _JOB
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    _JOB = job


def _decode(job: _Job, index: int) -> tuple[np.ndarray, int] | dict[str, Any]:
    """Item ``index`` as (uint8 image, label), or what is wrong with it when skipping."""
    try:
        image, label = job.source.raw(index)
    except DECODE_ERRORS as error:
        where = job.source.item_origin(index)
        problem = f"{type(error).__name__}: {error}"
        if job.skip_corrupt:
            return {"index": index, "origin": where, "error": problem}
        raise CorruptDatasetError(
            f"{where} (index {index}) cannot be decoded ({problem}); replace it and rerun to "
            f"resume, or pass --skip-corrupt to leave it out (counted in the manifest)."
        ) from None
    return image.numpy(), label


def _write_chunk(chunk: int) -> ChunkDone:
    """Decode chunk ``chunk`` and write it into the split's memory maps."""
    job = _JOB
    assert job is not None, "_start_worker first"
    start = chunk * job.chunk_size
    stop = min(start + job.chunk_size, len(job.source))
    r, c = job.source.resolution, job.source.channels
    images = np.zeros((stop - start, c, r, r), dtype=np.uint8)
    labels = np.zeros(stop - start, dtype=np.int64)
    skipped = []
    for index in range(start, stop):
        item = _decode(job, index)
        if isinstance(item, dict):
            skipped.append(item)
        else:
            images[index - start], labels[index - start] = item
    for name, data in ((fmt.IMAGES, images), (fmt.LABELS, labels)):
        target = np.load(job.folder / name, mmap_mode="r+")
        target[start:stop] = data
        target.flush()
    return ChunkDone(chunk, fmt.chunk_digest(images, labels), skipped)


def _run_chunks(job: _Job, todo: list[int], workers: int) -> Iterator[ChunkDone]:
    """Write the chunks ``todo``, yielding each as it finishes: in this process with one
    worker, else in ``workers`` processes. After a failure the chunks that finished are still
    yielded, then the error is raised; on an interrupt the running chunks finish unlogged and
    the others are cancelled."""
    global _JOB
    if workers <= 1 or len(todo) <= 1:
        _JOB = job
        try:
            yield from (_write_chunk(chunk) for chunk in todo)
        finally:
            _JOB = None
        return
    pool = ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(job,))
    try:
        pending = {pool.submit(_write_chunk, chunk) for chunk in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            failed = [f for f in finished if f.exception() is not None]
            if failed:
                for f in pending:
                    f.cancel()
                finished |= wait(pending)[0]  # those already running
            yield from (f.result() for f in finished if not f.cancelled() and not f.exception())
            if failed:
                raise failed[0].exception()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _read_log(folder: Path) -> dict[int, ChunkDone]:
    """The chunks logged as written (a line cut short by a kill is ignored)."""
    done = {}
    if (folder / fmt.LOG).is_file():
        for line in (folder / fmt.LOG).read_text().splitlines():
            try:
                record = ChunkDone(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue
            done[record.chunk] = record
    return done


def _clear(folder: Path) -> None:
    """Remove a cache's own files from ``folder``; refuse a folder that holds anything else (it
    is not a cache: never delete what this module did not write)."""
    if not folder.is_dir():
        return
    ours = {fmt.MANIFEST, fmt.IMAGES, fmt.LABELS, fmt.KEEP, fmt.PLAN, fmt.LOG}
    owned = lambda p: p.name in ours or (p.name.startswith(".") and p.name.endswith(".partial"))  # noqa: E731
    others = sorted(p.name for p in folder.iterdir() if not owned(p))
    if others:
        raise fmt.PreparedCacheError(
            f"{folder} is not a prepared cache's folder (it holds {', '.join(others[:3])}); "
            f"pass an --out folder for the cache alone."
        )
    for name in ours:
        (folder / name).unlink(missing_ok=True)


def _start(folder: Path, request: dict[str, Any], chunk_size: int, overwrite: bool) -> int:
    """Create the split folder's files, or check that the preparation there is this one
    (then resume it); return the chunk size in use."""
    if (folder / fmt.PLAN).is_file():
        plan = fmt.read_json(folder / fmt.PLAN)
        why = fmt.mismatch(plan, request)
        if why is None:
            return plan["chunk_size"]
        if not overwrite:
            raise fmt.PreparedCacheError(
                f"{folder} holds another preparation ({why}); pass --overwrite to replace it "
                f"or --out another folder."
            )
    _clear(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shape = (request["count"], request["channels"], request["resolution"], request["resolution"])
    for name, dtype, size in ((fmt.IMAGES, np.uint8, shape), (fmt.LABELS, np.int64, shape[:1])):
        np.lib.format.open_memmap(folder / name, mode="w+", dtype=dtype, shape=size).flush()
    fmt.write_json(folder / fmt.PLAN, {**request, "chunk_size": chunk_size})
    return chunk_size


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _check_space(folder: Path, request: dict[str, Any], images_left: int) -> None:
    """Refuse to start when the disk cannot hold the images still to write (a memory map
    written on a full disk kills the process instead of raising)."""
    per_image = request["channels"] * request["resolution"] ** 2 + 8
    need, free = images_left * per_image, shutil.disk_usage(folder).free
    if need > free:
        raise fmt.PreparedCacheError(
            f"{folder}: the images still to prepare need {_size(need)} but {_size(free)} are "
            f"free; free some space or pass --out on another disk."
        )


def _already_prepared(folder: Path, request: dict[str, Any], overwrite: bool) -> dict | None:
    """The manifest of a finished cache of ``request`` in ``folder``, None when there is
    nothing finished there (or it is to be overwritten); refuse another finished cache."""
    if not (folder / fmt.MANIFEST).is_file():
        return None
    manifest = fmt.read_json(folder / fmt.MANIFEST)
    why = fmt.mismatch(manifest, request)
    if why is None and not overwrite:
        return manifest
    if why is not None and not overwrite:
        raise fmt.PreparedCacheError(
            f"{folder} holds another prepared cache ({why}); pass --overwrite to replace it "
            f"or --out another folder."
        )
    (folder / fmt.MANIFEST).unlink()
    (folder / fmt.PLAN).unlink(missing_ok=True)
    return None


def _finish(
    folder: Path, request: dict[str, Any], chunk_size: int, done: dict[int, ChunkDone], made_by: str
) -> dict[str, Any]:
    """Write ``keep.npy`` (when images were skipped) and the manifest; drop the plan and log."""
    skipped = [item for chunk in sorted(done) for item in done[chunk].skipped]
    if len(skipped) == request["count"]:
        raise CorruptDatasetError(f"every image of {request['name']} was skipped as corrupt.")
    if skipped:
        keep = np.setdiff1d(np.arange(request["count"]), [s["index"] for s in skipped])
        np.save(folder / fmt.KEEP, keep)
    manifest = {
        **request,
        "images": request["count"] - len(skipped),
        "skipped": skipped,
        "chunk_size": chunk_size,
        "checksum": fmt.combined_checksum(done[c].digest for c in sorted(done)),
        "made_by": made_by,
        "pillow": PIL.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    fmt.write_json(folder / fmt.MANIFEST, manifest)
    (folder / fmt.PLAN).unlink()
    (folder / fmt.LOG).unlink(missing_ok=True)
    return manifest


def prepare(
    source: ImageDataset,
    root: Path,
    *,
    workers: int | None = None,
    chunk_size: int = 256,
    skip_corrupt: bool = False,
    overwrite: bool = False,
    made_by: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Prepare ``source`` into ``root/<split>`` with ``workers`` processes (default: all
    cores), resuming an interrupted preparation of the same request; return the manifest.

    A finished cache of the same request is returned as it is; another request's cache (or
    half-prepared folder) is refused unless ``overwrite``. A corrupt image stops the run
    (naming it; the chunks written so far are kept for the rerun) or, with ``skip_corrupt``,
    is left out and listed in the manifest's ``skipped``.
    """
    request = fmt.request_of(source)
    folder = Path(root) / source.split
    if manifest := _already_prepared(folder, request, overwrite):
        return manifest
    chunk_size = _start(folder, request, chunk_size, overwrite)
    done = _read_log(folder)
    chunks = range(-(-len(source) // chunk_size))
    todo = [c for c in chunks if c not in done]
    job = _Job(source, folder, chunk_size, skip_corrupt)
    written = sum(min(chunk_size, len(source) - c * chunk_size) for c in done)
    _check_space(folder, request, len(source) - written)
    bar = tqdm(total=len(source), initial=written, unit="img", disable=not progress,
               desc=f"prepare {source.name} {source.split}", dynamic_ncols=True)  # fmt: skip
    with bar, open(folder / fmt.LOG, "a") as log:
        for result in _run_chunks(job, todo, workers or os.cpu_count() or 1):
            log.write(json.dumps(result.__dict__) + "\n")
            log.flush()
            os.fsync(log.fileno())
            done[result.chunk] = result
            bar.update(min(chunk_size, len(source) - result.chunk * chunk_size))
    return _finish(folder, request, chunk_size, done, made_by)
