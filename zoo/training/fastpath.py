"""The fast training path: which precision, memory layout and optimizer implementation the
trainer uses on the hardware it finds, and the training data held in memory.

Each choice is a gin setting of ``train`` that can be turned off (``mixed_precision = "no"``,
``channels_last = False``, ``fused_optimizer = False``, ``data_in_memory = False``). ``"auto"``
precision means bf16 autocast only where the hardware has a bf16 matrix unit: CUDA GPUs of
compute capability 8.0 or newer, and CPUs with AMX tiles. On a CPU with AVX512-BF16 but no
AMX, bf16 matrix products ran at about half the speed of fp32 here (``python scripts/bench.py
step`` measures it), so ``auto`` stays in fp32 there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = [
    "PRECISIONS",
    "InMemoryBatches",
    "autocast",
    "fits_in_memory",
    "make_adam",
    "native_bf16",
    "resolve_precision",
]

PRECISIONS = ("no", "bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 matrices natively (faster than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def resolve_precision(setting: str, device: torch.device) -> str:
    """``"auto"`` -> ``"bf16"`` where :func:`native_bf16`, else ``"no"``; checks the others."""
    if setting == "auto":
        return "bf16" if native_bf16(device) else "no"
    if setting == "fp16":
        raise ValueError(
            "train.mixed_precision = 'fp16' needs loss scaling, which this trainer does not do; "
            "use 'bf16' (same speed on GPUs that have it) or 'no'."
        )
    if setting not in PRECISIONS:
        raise ValueError(f"train.mixed_precision = {setting!r} is not one of 'auto', 'bf16', 'no'.")
    return setting


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
