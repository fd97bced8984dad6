"""Training-state checkpoints, for exact resume: Accelerate's state (weights as safetensors)
plus the trainer's own state, written under a temporary name and renamed into place, so the
newest ``step_*`` folder is always complete; a write that fails or is interrupted leaves no
partial one. Older ones beyond a retention limit are removed.

:func:`restore_latest` reads every file of the newest checkpoint before loading it: a damaged
one (truncated, overwritten) is renamed ``corrupt_step_*`` (kept, never deleted, and no longer
listed) and the next older complete checkpoint is used instead."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list
from accelerate.utils import load as accelerate_load
from safetensors.torch import load_file, save_file

from zoo.errors import CheckpointError
from zoo.model_folder import cpu_tensors
from zoo.writing import folder_bytes, guarded_write

__all__ = [
    "STATE_FILE",
    "apply_learning_rate",
    "find_damage",
    "latest",
    "list_checkpoints",
    "restore",
    "restore_latest",
    "save",
]

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


def latest_step(directory: str | Path) -> int | None:
    """The step of the newest complete checkpoint (the one a run resumes from), or None."""
    newest = latest(directory)
    return None if newest is None else int(newest.name.removeprefix("step_"))


def save(
    accelerator: Accelerator,
    directory: str | Path,
    step: int,
    state: dict[str, Any],
    extra_modules: dict[str, torch.nn.Module] | None = None,
    keep: int | None = None,
    size_hint: int | None = None,
) -> Path:
    """Save models, optimizers and ``state`` as ``directory/step_{step}``; keep the newest
    ``keep`` checkpoints. ``extra_modules`` (e.g. the EMA generator) go to safetensors files.

    A write that fails (a full disk, a read-only or vanished folder) or is interrupted removes
    the partial checkpoint; an :class:`~zoo.errors.OutputWriteError` says how much space it
    needed (the newest checkpoint's size, else ``size_hint``) and names the newest complete
    checkpoint, which is intact."""
    directory = Path(directory)
    final = directory / f"step_{step:08d}"
    partial = directory / f".partial_step_{step:08d}"
    newest = latest(directory)
    intact = (
        f"The newest complete checkpoint, {newest}, is intact: rerun the same command to "
        f"resume from it." if newest else "No complete checkpoint was written yet."
    )  # fmt: skip
    needed = (lambda: folder_bytes(newest)) if newest else (lambda: size_hint)
    with guarded_write(final, partial, needed, intact):
        if accelerator.is_main_process and partial.exists():
            shutil.rmtree(partial)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(partial), safe_serialization=True)
        if accelerator.is_main_process:
            for name, module in (extra_modules or {}).items():
                save_file(cpu_tensors(module.state_dict()), partial / f"{name}.safetensors")
            (partial / STATE_FILE).write_text(json.dumps({**state, "step": step}, indent=2))
            if final.exists():
                shutil.rmtree(final)
            partial.rename(final)  # atomic: the newest step_* is never half-written
            for old in list_checkpoints(directory)[: -keep if keep else 0]:
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
        raise CheckpointError(
            f"Checkpoint {checkpoint} does not fit this run's models ({error}). Its files read "
            f"correctly, so the run's settings must differ from the ones that wrote it: resume "
            f"with the run's own config (--gin RUN/config.gin), or train into another folder."
        ) from error
    return state


def find_damage(checkpoint: str | Path) -> str | None:
    """None when every file of ``checkpoint`` reads back, else what is wrong with which file.

    Safetensors files are parsed whole (a truncated or overwritten file fails), the other
    files of Accelerate's state are unpickled as Accelerate does (tensors only) and the
    trainer state must be JSON with a step."""
    checkpoint = Path(checkpoint)
    for path in sorted(checkpoint.iterdir()):
        try:
            if path.suffix == ".safetensors":
                load_file(str(path), device="cpu")
            elif path.suffix in (".bin", ".pkl", ".pt"):
                accelerate_load(str(path), map_location="cpu")
            elif path.name == STATE_FILE:
                int(json.loads(path.read_text())["step"])
        except Exception as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return f"{path} is corrupt or truncated ({reason})"
    return None


def _move_aside(checkpoint: Path) -> Path:
    """Rename ``step_N`` to ``corrupt_step_N`` (``.1``, ``.2``... if taken); never delete."""
    target = checkpoint.with_name(f"corrupt_{checkpoint.name}")
    n = 0
    while target.exists():
        n += 1
        target = checkpoint.with_name(f"corrupt_{checkpoint.name}.{n}")
    checkpoint.rename(target)
    return target


def _pick(accelerator: Accelerator, directory: Path) -> Path | None:
    """The newest checkpoint whose files all read back (main process decides, damaged ones
    are moved aside and reported); every process gets the same answer."""
    if not accelerator.is_main_process:
        chosen = None
    else:
        chosen, last_damage = None, None
        for candidate in reversed(list_checkpoints(directory)):
            damage = find_damage(candidate)
            if damage is None:
                chosen = candidate
                break
            moved = _move_aside(candidate)
            last_damage = f"checkpoint {candidate} is damaged: {damage}; moved it aside to {moved}"
            print(f"warning: {last_damage}.", flush=True)
        if chosen is not None and last_damage is not None:
            print(f"Falling back to the newest complete checkpoint, {chosen}.", flush=True)
        if chosen is None and last_damage is not None:
            chosen = CheckpointError(
                f"{last_damage} and no complete earlier checkpoint is left. Put a good copy "
                f"back, or rerun to train from step 0."
            )
    if accelerator.num_processes > 1:
        chosen = broadcast_object_list([chosen], from_process=0)[0]
    if isinstance(chosen, CheckpointError):
        raise chosen
    return chosen


def restore_latest(
    accelerator: Accelerator,
    directory: str | Path,
    extra_modules: dict[str, torch.nn.Module] | None = None,
) -> tuple[Path | None, dict[str, Any] | None]:
    """Restore the newest checkpoint of ``directory`` whose files all read back; return it and
    its trainer state, or ``(None, None)`` when there is none to resume from.

    Damaged checkpoints are renamed ``corrupt_step_*`` (kept) with a message naming the damaged
    file; when only damaged ones are found a :class:`~zoo.errors.CheckpointError` names it."""
    chosen = _pick(accelerator, Path(directory))
    if chosen is None:
        return None, None
    return chosen, restore(accelerator, chosen, extra_modules)


def apply_learning_rate(optimizers: Sequence[torch.optim.Optimizer], lr: float) -> float | None:
    """Set every parameter group's learning rate to ``lr`` (restored optimizer state carries the
    old one); return the old rate when it differed, else None."""
    old = None
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            if group["lr"] != lr:
                old = group["lr"]
                group["lr"] = lr
    return old
