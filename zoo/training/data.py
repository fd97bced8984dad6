"""Real batches for training: a seeded order that a resumed run repeats exactly, held in memory
for small datasets, read by index lookups from a prepared cache, otherwise streamed by a
DataLoader."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo.training.fastpath import InMemoryBatches, PreparedBatches, fits_in_memory

__all__ = ["EpochBatches", "real_batches", "resolve_workers"]

MAX_AUTO_WORKERS = 8
PREFETCH_BATCHES = 4
"""Batches each DataLoader worker keeps ready (JPEG sizes vary; a few in hand absorb it)."""


class EpochBatches(Sampler[list[int]]):
    """Batches of indices for one process: each epoch a seeded permutation, split across
    processes, started at batch ``start``. The order depends only on (seed, batch number),
    so a resumed run sees exactly the batches an uninterrupted one would."""

    def __init__(
        self, size: int, batch_size: int, seed: int, rank: int, world: int, start: int = 0
    ) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world, self.start = rank, world, start
        self.per_epoch = size // (batch_size * world)
        if self.per_epoch == 0:
            raise ValueError(
                f"Dataset of {size} images is smaller than one global batch "
                f"({batch_size} x {world} processes); lower train.batch_size."
            )

    def __iter__(self) -> Iterator[list[int]]:
        batch = self.start
        while True:
            epoch, index = divmod(batch, self.per_epoch)
            order = torch.randperm(
                self.size, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            )
            mine = order[self.rank :: self.world]
            for i in range(index, self.per_epoch):
                yield mine[i * self.batch_size : (i + 1) * self.batch_size].tolist()
            batch = (epoch + 1) * self.per_epoch


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def resolve_workers(num_workers: int | str, data: Dataset) -> int:
    """``train.num_workers`` as a count. ``"auto"``: 0 for a dataset held in memory as tensors
    (nothing to decode: workers only add copies), else the cores minus one, at most
    :data:`MAX_AUTO_WORKERS`, so that decoding overlaps the step, on a GPU and on a CPU alike
    (measured by ``python scripts/bench.py data``: ``results/speed/README.md``)."""
    if num_workers == "auto":
        return 0 if getattr(data, "held_in_memory", False) else min(MAX_AUTO_WORKERS, _cores() - 1)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"train.num_workers = {num_workers!r}: a whole number >= 0, or 'auto'.")
    return num_workers


def _leave_stop_signals_to_the_trainer(worker_id: int) -> None:
    """DataLoader workers ignore SIGINT and SIGTERM, which a terminal's Ctrl-C or a scheduler
    sends to the whole process group: the trainer stops gracefully (finishes its step with
    the batches the workers prepared, checkpoints) and its exit ends them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def real_batches(
    data: Dataset,
    sampler: EpochBatches,
    device: torch.device,
    memory_format: torch.memory_format,
    in_memory_max_gb: float | None,
    num_workers: int | str,
) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor]], str]:
    """(images, labels) batches on ``device`` in ``sampler``'s order, and how they are read:
    from one tensor in memory when the dataset needs at most ``in_memory_max_gb`` (None: never),
    else by index lookups in a prepared cache (no workers), else from a DataLoader with
    ``num_workers`` (:func:`resolve_workers`)."""
    if in_memory_max_gb is not None and fits_in_memory(data, in_memory_max_gb):
        return InMemoryBatches.load(data, device, memory_format).batches(sampler), "in memory"
    if hasattr(data, "raw_batch"):
        reading = f"prepared cache {getattr(data, 'folder', '')} (index lookups)"
        return PreparedBatches(data, device, memory_format).batches(sampler), reading
    workers = resolve_workers(num_workers, data)
    extra = {"persistent_workers": True, "prefetch_factor": PREFETCH_BATCHES} if workers else {}
    extra |= {"worker_init_fn": _leave_stop_signals_to_the_trainer} if workers else {}
    loader = DataLoader(data, batch_sampler=sampler, num_workers=workers,
                        pin_memory=device.type == "cuda", **extra)  # fmt: skip
    return _to_device(iter(loader), device, memory_format), f"streamed ({workers} workers)"


def _to_device(
    batches: Iterator, device: torch.device, memory_format: torch.memory_format
) -> Iterator:
    for images, labels in batches:
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        yield images, labels.to(device, non_blocking=True)
