"""The fast training path: which precision, memory layout and optimizer implementation the
trainer uses on the hardware it finds, and the training data held in memory.

Each choice is a gin setting of ``train`` that can be turned off (``mixed_precision = "no"``,
``channels_last = False``, ``fused_optimizer = False``, ``data_in_memory = False``); a prepared
cache too large for memory is read by index lookups (:class:`PreparedBatches`). What
``"auto"`` precision means on a device is decided by measurement in
:mod:`zoo.training.precision`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from registry.datasets.transforms import to_unit_range

__all__ = ["InMemoryBatches", "PreparedBatches", "autocast", "fits_in_memory", "make_adam"]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` for ``precision == "bf16"``, else nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_adam(
    params: Iterator[torch.nn.Parameter], lr: float, betas: tuple[float, float], fused: bool
) -> torch.optim.Adam:
    """Adam; ``fused`` uses the single-kernel implementation (CPU and CUDA), else the
    multi-tensor (foreach) one where the parameters' device supports it."""
    params = list(params)
    if fused:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    return torch.optim.Adam(params, lr=lr, betas=betas, foreach=None)


def fits_in_memory(dataset: Dataset, limit_gb: float) -> bool:
    """Whether the whole dataset as float32 tensors needs at most ``limit_gb`` GiB."""
    size = len(dataset) * dataset.channels * dataset.resolution**2 * 4  # type: ignore[attr-defined]
    return size <= limit_gb * 2**30


@dataclass
class InMemoryBatches:
    """The dataset decoded once into one image tensor and one label tensor; batches are then
    index lookups in the order of ``sampler`` (so a run sees exactly the batches a
    ``DataLoader`` over the same sampler would give)."""

    images: torch.Tensor
    labels: torch.Tensor
    memory_format: torch.memory_format = torch.contiguous_format

    @classmethod
    def load(
        cls, dataset: Dataset, device: torch.device, memory_format: torch.memory_format
    ) -> InMemoryBatches:
        """Decode every item (in batches, in order) and keep the result on ``device``."""
        images, labels = [], []
        for x, y in DataLoader(dataset, batch_size=1000, shuffle=False):
            images.append(x)
            labels.append(y)
        return cls(torch.cat(images).to(device), torch.cat(labels).to(device), memory_format)

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + self.labels.nbytes

    def batches(self, sampler: Sampler[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for indices in sampler:
            index = torch.as_tensor(indices, device=self.images.device)
            images = self.images.index_select(0, index).contiguous(memory_format=self.memory_format)
            yield images, self.labels.index_select(0, index)


@dataclass
class PreparedBatches:
    """Batches of a prepared cache (``dataset.raw_batch``, a lookup in its memory map) in the
    order of ``sampler``, in the training process, without workers. The uint8 batch goes to
    ``device`` in its memory layout and is scaled to [-1, 1] there: on the CPU by
    ``to_unit_range``, elsewhere through a table of ``to_unit_range``'s 256 CPU values (a GPU
    divides by a scalar as a multiply, which can differ in the last bit), so the images are
    exactly those a ``DataLoader`` over the same sampler would give."""

    dataset: Any
    device: torch.device
    memory_format: torch.memory_format = torch.contiguous_format

    def batches(self, sampler: Sampler[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        levels = to_unit_range(torch.arange(256, dtype=torch.uint8)).to(self.device)
        for indices in sampler:
            images, labels = self.dataset.raw_batch(indices)
            images = images.to(self.device, non_blocking=True)
            images = images.contiguous(memory_format=self.memory_format)
            if self.device.type == "cpu":
                images = to_unit_range(images)
            else:
                images = levels[images.long()].contiguous(memory_format=self.memory_format)
            yield images, labels.to(self.device)
