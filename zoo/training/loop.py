"""The training loop (Section 3.1's protocol) on Accelerate: one CPU, one GPU or many.

:func:`train` builds the dataset first (a missing one fails before any model is built), then G,
D and their optimizers (:class:`~zoo.training.step.GANTrainer`), resumes from the newest
complete checkpoint of the output folder, and runs the steps with their hooks (log, sample,
evaluate, checkpoint: :mod:`zoo.training.hooks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gin
import torch
from accelerate import Accelerator
from accelerate.utils import (
    DistributedDataParallelKwargs,
    ProjectConfiguration,
    broadcast_object_list,
)
from torch import nn
from tqdm.auto import tqdm

from zoo.errors import FolderLockedError
from zoo.folder_lock import FolderLock
from zoo.train_settings import HPARAMS, TrainSettings
from zoo.training import checkpoints
from zoo.training.data import EpochBatches, real_batches
from zoo.training.hooks import Hooks
from zoo.training.precision import Decision, decide
from zoo.training.preflight import check_evaluation, check_resume_step, launch_warning
from zoo.training.record import RunRecord
from zoo.training.step import GANTrainer, build_trainer
from zoo.training.stopping import GracefulStop, TrainingStopped
from zoo.writing import atomic_path, guarded_write

__all__ = ["TrainResult", "train"]


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns: the trained models, the final losses, the best evaluation,
    and how the run went."""

    generator: nn.Module
    discriminator: nn.Module
    ema_generator: nn.Module | None
    """The EMA of G's weights (``train.ema_decay > 0``), else None."""
    losses: dict[str, float]
    """The losses of the last step logged."""
    best: dict[str, Any] | None
    """The best evaluation (its metrics and ``step``), None without one."""
    steps: int
    precision: str
    """The resolved precision: ``"no"`` (fp32) or ``"bf16"``."""
    num_processes: int
    is_main_process: bool
    output_dir: Path
    last_checkpoint: int
    """The step of the newest checkpoint (the one resumed from, if none was written)."""
    eval_extractor: str | None
    """The feature extractor of the evaluations, None without ``train.eval_metrics``."""
    wall_time_s: float


def train(gin_config: str = "", **overrides: Any) -> TrainResult:
    """Train G and D with the ``train.*`` settings of gin (:class:`TrainSettings`), any of them
    overridden by keyword (a value that cannot train raises :class:`~zoo.errors.ConfigError`);
    write ``gin_config`` (default: gin's active config) to the run's ``config.gin``. Return the
    models, the final losses and the best metrics (:class:`TrainResult`).

    The run holds its folder's writer lock throughout (:mod:`zoo.folder_lock`; a second
    writer raises :class:`~zoo.errors.FolderLockedError`). SIGINT or SIGTERM stops it after
    the current step with a checkpoint (:class:`~zoo.training.stopping.TrainingStopped`). It
    keeps the run's record, ``RUN/status.json`` (:mod:`zoo.training.record`)."""
    s = TrainSettings(**overrides)
    check_evaluation(s)
    check_resume_step(Path(s.output_dir), s.steps)  # before any file is written
    data = s.dataset(split="train")  # fails before any model is built
    accelerator, output_dir = _accelerator(s.tracker, Path(s.output_dir)), Path(s.output_dir)
    with (
        _writer_lock(accelerator, output_dir),
        GracefulStop() as stop,
        RunRecord(output_dir, s.steps, accelerator.is_main_process) as record,
    ):
        return _train(s, data, accelerator, gin_config or gin.config_str(), stop, record)


def _train(s: TrainSettings, data: Any, accelerator: Accelerator, gin_config: str,
           stop: GracefulStop, record: RunRecord) -> TrainResult:  # fmt: skip
    output_dir = Path(s.output_dir)
    rank, world, device = accelerator.process_index, accelerator.num_processes, accelerator.device
    layout = torch.channels_last if s.channels_last else torch.contiguous_format
    decision = _decide_precision(accelerator, s.mixed_precision, layout)
    precision = decision.precision
    trainer = build_trainer(s, accelerator, data.channels, precision)  # same weights everywhere
    models = {"G": accelerator.unwrap_model(trainer.G), "D": accelerator.unwrap_model(trainer.D)}
    _check_compatible(models["G"], models["D"], data)
    if accelerator.is_main_process:
        with atomic_path(output_dir / "config.gin") as path:
            path.write_text(gin_config)
    if s.ema_decay:
        from timm.utils import ModelEmaV3  # here: timm's import costs a second at start-up

        models["ema"] = ModelEmaV3(models["G"], decay=s.ema_decay)
    state, start = _resume(accelerator, trainer, s, precision, models)
    record.begin(start, precision, device)

    sampler = EpochBatches(len(data), s.batch_size, s.seed, rank, world, start * s.disc_iters)
    max_gb = s.data_in_memory_max_gb if s.data_in_memory else None
    batches, reading = real_batches(data, sampler, device, layout, max_gb, s.num_workers)
    accelerator.print(_startup_line(s, device, world, decision, reading))
    if warning := launch_warning(world, device.type):
        accelerator.print(warning)
    with guarded_write(output_dir / "logs"):
        accelerator.init_trackers("tensorboard", config=_hparams(s, decision, trainer, data.name))
    show = s.progress and accelerator.is_local_main_process
    bar = tqdm(range(start, s.steps), initial=start, total=s.steps, desc="train",
               disable=not show, dynamic_ncols=True)  # fmt: skip
    hooks = Hooks(s, accelerator, models, state, gin_config, bar, start, record)
    end = _train_steps(s, trainer, models, hooks, batches, stop, start)
    hooks.save_models("final", {"step": end})
    accelerator.end_training()
    return TrainResult(
        generator=models["G"],
        discriminator=models["D"],
        ema_generator=hooks.sampling_model if "ema" in models else None,
        losses=hooks.losses,
        best=state["best"],
        steps=end,
        precision=precision,
        num_processes=world,
        is_main_process=accelerator.is_main_process,
        output_dir=output_dir,
        last_checkpoint=hooks.last_saved,
        eval_extractor=s.eval_extractor if s.eval_metrics else None,
        wall_time_s=hooks.elapsed(),
    )


def _train_steps(s: TrainSettings, trainer: GANTrainer, models: dict[str, nn.Module],
                 hooks: Hooks, batches: Any, stop: GracefulStop, start: int) -> int:  # fmt: skip
    """Train from step ``start`` and return the step the run ends at: ``s.steps``, or an
    evaluation step where the curve has plateaued (``train.plateau_stop``). A SIGINT/SIGTERM
    writes a checkpoint and raises :class:`TrainingStopped`."""
    accelerator = trainer.accelerator
    if start < s.steps and (best := hooks.plateau_at(start)) is not None:
        return hooks.end_on_plateau(start, best)  # a plateaued run rerun stays ended
    for step in hooks.bar:
        torch.manual_seed(_step_seed(s.seed, step, accelerator.process_index))
        out = trainer.step(batches)
        if "ema" in models:
            models["ema"].update(models["G"], step=step + 1)  # timm counts updates from 1
        hooks.after_step(step + 1, out)
        if (signum := stop.agreed(accelerator)) and step + 1 < s.steps:
            hooks.bar.close()
            checkpoint = hooks.checkpoint(step + 1)
            accelerator.end_training()
            raise TrainingStopped(signum, step + 1, s.steps, checkpoint)
        if step + 1 < s.steps and (best := hooks.plateau_at(step + 1)) is not None:
            return hooks.end_on_plateau(step + 1, best)
    return s.steps


@contextmanager
def _writer_lock(accelerator: Accelerator, output_dir: Path) -> Iterator[None]:
    """The run folder's writer lock (:class:`~zoo.folder_lock.FolderLock`), held by the main
    process for all of them; every process raises when it is taken."""
    lock = FolderLock(output_dir) if accelerator.is_main_process else None
    refusal = [None]
    if lock is not None:
        try:
            lock.acquire()
        except FolderLockedError as error:
            refusal = [str(error)]
    if accelerator.num_processes > 1:
        broadcast_object_list(refusal)
    if refusal[0] is not None:
        raise FolderLockedError(refusal[0])
    if lock is not None and (note := lock.takeover_note()):
        accelerator.print(note)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _accelerator(tracker: str | None, output_dir: Path) -> Accelerator:
    """Accelerate for this run: its tracker logging to ``output_dir/logs``; DDP broadcasts
    G's batch-norm buffers from rank 0."""
    return Accelerator(
        log_with=tracker,
        project_config=ProjectConfiguration(str(output_dir), logging_dir=str(output_dir / "logs")),
        kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=True)],
    )


def _decide_precision(
    accelerator: Accelerator, setting: str, layout: torch.memory_format
) -> Decision:
    """The run's precision (:func:`zoo.training.precision.decide`): rank 0 decides (and
    measures, for ``auto``), every other process takes its decision."""
    main = accelerator.is_main_process
    decision = [decide(setting, accelerator.device, layout) if main else None]
    if accelerator.num_processes > 1:
        broadcast_object_list(decision)
    return decision[0]


def _startup_line(
    s: TrainSettings, device: torch.device, world: int, precision: Decision, reading: str
) -> str:
    """The one start-up line: device, processes, precision, layout, Adam, data, output."""
    return (
        f"selfmod-zoo: device={device}, processes={world}, precision={precision.describe()}, "
        f"layout={'channels_last' if s.channels_last else 'contiguous'}, "
        f"adam={'fused' if s.fused_optimizer else 'foreach'}, data={reading}, "
        f"output={s.output_dir}"
    )


def _resume(
    accelerator: Accelerator,
    trainer: GANTrainer,
    s: TrainSettings,
    precision: str,
    models: dict[str, nn.Module],
) -> tuple[dict[str, Any], int]:
    """The trainer state and first step: restored from the newest complete checkpoint (the
    learning rate of the settings applied), or fresh."""
    extra = {"ema_generator": models["ema"]} if "ema" in models else {}
    directory = Path(s.output_dir) / "checkpoints"
    last, state = checkpoints.restore_latest(accelerator, directory, extra)
    if last is None:
        return {"best": None, "history": [], "precision": precision}, 0
    accelerator.print(f"Resuming from {last} at step {state['step']}.")
    old_lr = checkpoints.apply_learning_rate([trainer.opt_g, trainer.opt_d], s.learning_rate)
    if old_lr is not None:
        accelerator.print(f"learning rate changed on resume: {old_lr:g} -> {s.learning_rate:g}")
    if state.setdefault("precision", "no") != precision:
        accelerator.print(
            f"warning: this run started with mixed_precision={state['precision']!r} and "
            f"resumes with {precision!r}: it continues (weights and Adam state are fp32) "
            f"but no longer matches an uninterrupted run bit for bit. Bind "
            f"train.mixed_precision = {state['precision']!r} to resume as it started."
        )
        state["precision"] = precision
    return state, state["step"]


def _step_seed(seed: int, step: int, rank: int) -> int:
    """Seed of one step on one process: resumed runs draw the same z, labels and penalty
    points as uninterrupted ones."""
    return (seed * 1_000_003 + step) * 1024 + rank


def _check_compatible(G: nn.Module, D: nn.Module, data: Any) -> None:
    """G, D and the data must agree on resolution and classes; say which setting to change."""
    if G.resolution != data.resolution:
        raise ValueError(
            f"The generator makes {G.resolution}x{G.resolution} images but the "
            f"dataset {data.name!r} is {data.resolution}x{data.resolution}: set the "
            f"dataset's resolution or pick a {data.resolution} architecture."
        )
    for model, role in ((G, "generator"), (D, "discriminator")):
        if model.num_classes and model.num_classes != data.num_classes:
            raise ValueError(
                f"The {role} has num_classes={model.num_classes} but {data.name!r} "
                f"has {data.num_classes} classes."
            )
    if D.num_classes and not G.num_classes:
        raise ValueError(
            "A projection discriminator (num_classes > 0) needs a conditional "
            "generator: set the generator's num_classes too."
        )


def _hparams(s: TrainSettings, precision: Decision, trainer: GANTrainer, dataset: str) -> dict:
    """The scalar training settings and the components' names, for the tracker."""
    G = trainer.accelerator.unwrap_model(trainer.G)
    return {
        **{name: getattr(s, name) for name in HPARAMS},
        "precision": precision.precision,
        "precision_decision": precision.reason,
        "generator": type(G).__name__,
        "discriminator": type(trainer.accelerator.unwrap_model(trainer.D)).__name__,
        "norm": str(G.config.get("norm")),
        "loss": type(trainer.loss).__name__,
        "penalty": repr(trainer.penalty),
        "dataset": dataset,
    }
