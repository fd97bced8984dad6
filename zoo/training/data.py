"""Real batches for training: a seeded order that a resumed run repeats exactly, held in memory
for small datasets, otherwise streamed by a DataLoader."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo.training.fastpath import InMemoryBatches, fits_in_memory

__all__ = ["EpochBatches", "real_batches"]


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


def real_batches(
    data: Dataset,
    sampler: EpochBatches,
    device: torch.device,
    memory_format: torch.memory_format,
    in_memory_max_gb: float | None,
    num_workers: int,
) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor]], str]:
    """(images, labels) batches on ``device`` in ``sampler``'s order, and how they are read:
    from one tensor in memory when the dataset needs at most ``in_memory_max_gb`` (None: never),
    else from a DataLoader with ``num_workers``."""
    if in_memory_max_gb is not None and fits_in_memory(data, in_memory_max_gb):
        return InMemoryBatches.load(data, device, memory_format).batches(sampler), "in memory"
    loader = DataLoader(
        data, batch_sampler=sampler, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    return _to_device(iter(loader), device, memory_format), f"streamed ({num_workers} workers)"


def _to_device(
    batches: Iterator, device: torch.device, memory_format: torch.memory_format
) -> Iterator:
    for images, labels in batches:
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        yield images, labels.to(device, non_blocking=True)
