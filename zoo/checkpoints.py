"""Run checkpoints: Accelerate's state (weights as safetensors) plus the trainer's own state,
written under a temporary name and renamed into place, so the newest ``step_*`` folder is
always complete. Older ones beyond a retention limit are removed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

__all__ = ["STATE_FILE", "latest", "list_checkpoints", "restore", "save"]

STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in directory.iterdir()
        if (m := _STEP_DIR.match(p.name)) and (p / STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def latest(directory: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def save(
    accelerator: Accelerator,
    directory: str | Path,
    step: int,
    state: dict[str, Any],
    extra_modules: dict[str, torch.nn.Module] | None = None,
    keep: int | None = None,
) -> Path:
    """Save models, optimizers and ``state`` as ``directory/step_{step}``; keep the newest
    ``keep`` checkpoints. ``extra_modules`` (e.g. the EMA generator) go to safetensors files."""
    directory = Path(directory)
    final = directory / f"step_{step:08d}"
    partial = directory / f".partial_step_{step:08d}"
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial), safe_serialization=True)
    if accelerator.is_main_process:
        for name, module in (extra_modules or {}).items():
            save_file(_contiguous(module.state_dict()), partial / f"{name}.safetensors")
        (partial / STATE_FILE).write_text(json.dumps({**state, "step": step}, indent=2))
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)  # atomic: the newest step_* is never half-written
        if keep is not None:
            for old in list_checkpoints(directory)[:-keep]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def restore(
    accelerator: Accelerator,
    checkpoint: str | Path,
    extra_modules: dict[str, torch.nn.Module] | None = None,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save`; return the trainer state."""
    checkpoint = Path(checkpoint)
    try:
        state = json.loads((checkpoint / STATE_FILE).read_text())
        accelerator.load_state(str(checkpoint))
        for name, module in (extra_modules or {}).items():
            module.load_state_dict(load_file(checkpoint / f"{name}.safetensors"))
    except Exception as error:
        raise RuntimeError(
            f"Checkpoint {checkpoint} is unreadable ({error}). Move it aside to resume from "
            f"the previous one, or start afresh in another output directory."
        ) from error
    return state


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
