"""The few ``accelerate.Accelerator`` operations evaluation needs, each also correct without one
(a single process): which process this is, where the model lives, gathering and broadcasting."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["broadcast", "device_of", "gather_per_rank", "is_main", "rank_and_world", "unwrap"]


def unwrap(model: nn.Module, accelerator: Any = None) -> nn.Module:
    """The bare model under a DDP (or other ``.module``) wrapper."""
    if accelerator is not None:
        return accelerator.unwrap_model(model)
    return getattr(model, "module", model)


def device_of(module: nn.Module, accelerator: Any = None) -> torch.device:
    """The accelerator's device, else that of the module's first parameter (CPU without any)."""
    if accelerator is not None:
        return accelerator.device
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def is_main(accelerator: Any) -> bool:
    """Whether this is the process that computes the metrics (always, without an accelerator)."""
    return accelerator is None or accelerator.is_main_process


def rank_and_world(accelerator: Any) -> tuple[int, int]:
    """``(process index, number of processes)``; ``(0, 1)`` without an accelerator."""
    if accelerator is None:
        return 0, 1
    return accelerator.process_index, accelerator.num_processes


def gather_per_rank(x: torch.Tensor, accelerator: Any) -> list[torch.Tensor]:
    """Each rank's rows (variable counts), on every rank, in rank order."""
    _, world = rank_and_world(accelerator)
    if world == 1:
        return [x]
    count = torch.tensor([x.shape[0]], device=accelerator.device)
    counts = accelerator.gather(count).cpu().tolist()
    padded = accelerator.pad_across_processes(x.to(accelerator.device).contiguous(), dim=0)
    rows = padded.shape[0]
    gathered = accelerator.gather(padded).cpu()
    return [gathered[r * rows : r * rows + counts[r]] for r in range(world)]


def broadcast(obj: Any, accelerator: Any) -> Any:
    """The main process's ``obj`` (any picklable object), on every process."""
    if rank_and_world(accelerator)[1] == 1:
        return obj
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([obj], from_process=0)[0]
