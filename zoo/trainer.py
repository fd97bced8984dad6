"""The GAN training loop (Section 3.1's protocol) on Accelerate: one CPU, one GPU or many.

Everything is configured by gin (``train.*``); :func:`train` builds the dataset first (a missing
one fails before any model is built), then G, D and their Adam optimizers, and runs
``disc_iters`` D steps per G step. It resumes from the newest complete checkpoint in
``output_dir``, samples a fixed-z grid, evaluates and keeps the best model.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gin
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration
from safetensors.torch import save_file
from timm.utils import ModelEmaV3
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.utils import save_image
from tqdm.auto import tqdm

from registry.losses import GANLoss, Hinge
from registry.penalties import NoPenalty, Penalty
from zoo import checkpoints
from zoo.fastpath import InMemoryBatches, autocast, fits_in_memory, make_adam, resolve_precision
from zoo.runs import launch_warning

__all__ = ["TrainingDiverged", "train"]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


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


def _instance(component: Any) -> Any:
    """gin gives ``@loss.hinge`` as a class and ``@loss.hinge()`` as an instance: accept both."""
    return component() if isinstance(component, type) else component


class GANTrainer:
    """Holds G, D, their optimizers and the loss; :meth:`step` is one generator step.

    ``precision = "bf16"`` runs the forward passes of G and D under bf16 autocast; the losses,
    the gradient penalty's norm and the weights (with their Adam state) stay in fp32.
    """

    def __init__(
        self,
        accelerator: Accelerator,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: GANLoss,
        penalty: Penalty,
        disc_iters: int,
        learning_rate: float,
        betas: tuple[float, float],
        precision: str = "no",
        fused_optimizer: bool = False,
    ) -> None:
        self.accelerator, self.loss, self.penalty = accelerator, loss, penalty
        self.disc_iters, self.precision = disc_iters, precision
        self.z_dim, self.g_classes = generator.z_dim, generator.num_classes
        self.d_classes = discriminator.num_classes
        opt_g = make_adam(generator.parameters(), learning_rate, betas, fused_optimizer)
        opt_d = make_adam(discriminator.parameters(), learning_rate, betas, fused_optimizer)
        self.G, self.D, self.opt_g, self.opt_d = accelerator.prepare(
            generator, discriminator, opt_g, opt_d
        )
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]

    def latents(self, n: int, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z ~ N(0, I) and, for a conditional G, uniformly drawn labels."""
        z = torch.randn(n, self.z_dim, device=labels.device)
        y = torch.randint(self.g_classes, (n,), device=labels.device) if self.g_classes else None
        return z, y

    def d_labels(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return y if self.d_classes else None

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.accelerator.device, self.precision)

    def step(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """``disc_iters`` D steps on fresh real batches, then one G step (Section 3.1)."""
        for _ in range(self.disc_iters):
            real, real_y = next(batches)
            n = real.shape[0]
            z, y = self.latents(n, real_y)
            with torch.no_grad(), self.autocast():
                fake = self.G(z, y).to(real.dtype)
            points = self.penalty.points(real, fake)  # None without a gradient penalty
            inputs = [real, fake] if points is None else [real, fake, points.requires_grad_()]
            labels = None if self.d_classes == 0 else torch.cat([real_y, y, real_y][: len(inputs)])
            with self.autocast():  # one D pass: real, fake, penalty points
                logits = self.D(torch.cat(inputs), labels).float().split(n)
            d_loss = self.loss.d_loss(logits[0], logits[1])
            penalty = d_loss.new_zeros(())
            if points is not None:
                (grad,) = torch.autograd.grad(logits[2].sum(), points, create_graph=True)
                penalty = self.penalty.from_gradient(grad.float())
            self.opt_d.zero_grad(set_to_none=True)
            self.accelerator.backward(d_loss + penalty)
            self.opt_d.step()

        z, y = self.latents(n, real_y)
        with self.accelerator.no_sync(self.D), _frozen(self.d_params):
            with self.autocast():
                g_loss = self.loss.g_loss(self.D(self.G(z, y), self.d_labels(y)).float())
            self.opt_g.zero_grad(set_to_none=True)
            self.accelerator.backward(g_loss)
        self.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "penalty": penalty.detach()}


@contextlib.contextmanager
def _frozen(params: list[nn.Parameter]) -> Iterator[None]:
    """No gradients for ``params`` inside: the G step backpropagates through D to G's
    weights only, skipping D's weight gradients (which it would discard)."""
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _to_device(
    batches: Iterator, device: torch.device, memory_format: torch.memory_format
) -> Iterator:
    for images, labels in batches:
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        yield images, labels.to(device, non_blocking=True)


def _step_seed(seed: int, step: int, rank: int) -> int:
    """Seed of one step on one process: resumed runs draw the same z, labels and penalty
    points as uninterrupted ones."""
    return (seed * 1_000_003 + step) * 1024 + rank


def _build_dataset(dataset: Callable[..., Dataset], split: str) -> Dataset:
    return dataset(split=split)


class LossMonitor:
    """The step's losses, kept on the device: reading them (a host sync, and a collective
    across processes) happens only at log, checkpoint and evaluation steps. A NaN or inf
    stops training there, naming the first bad step and the last good checkpoint, which is
    never one written after it."""

    def __init__(self, accelerator: Accelerator, checkpoint_dir: Path) -> None:
        self.accelerator, self.checkpoint_dir = accelerator, checkpoint_dir
        self.first_bad = torch.full((), -1, dtype=torch.long, device=accelerator.device)
        self.last: dict[str, torch.Tensor] = {}

    def update(self, out: dict[str, torch.Tensor], done: int) -> None:
        bad = ~torch.isfinite(torch.stack(list(out.values()))).all()
        self.first_bad = torch.where(bad & (self.first_bad < 0), done, self.first_bad)
        self.last = out

    def read(self) -> dict[str, float]:
        """The last step's losses averaged over processes; raises on an earlier bad step."""
        values = self.accelerator.reduce(torch.stack(list(self.last.values())), "mean")
        first_bad = int(self.accelerator.reduce(self.first_bad[None], "max"))
        losses = dict(zip(self.last, values.tolist(), strict=True))
        if first_bad >= 0:
            kept = checkpoints.latest(self.checkpoint_dir)
            raise TrainingDiverged(
                f"Loss is not finite at step {first_bad} (last losses: {losses}). Training "
                f"stopped; the last good checkpoint is "
                f"{kept or 'none (no checkpoint was written yet)'}. To resume from it with a "
                f"lower learning rate, rerun the same command with --bind "
                f"'train.learning_rate = <lower value>' (applied to the restored optimizers "
                f"and recorded in config.gin), or with --bind \"train.mixed_precision = 'no'\". "
                f"A penalty or spectral norm changes the run: train it into a new folder with "
                f"--output."
            )
        return losses


def _due(done: int, every: int, steps: int) -> bool:
    """Whether a periodic action (every ``every`` steps; 0 = only at the end) runs now."""
    return (every > 0 and done % every == 0) or done == steps


@gin.configurable(denylist=["gin_config"])
def train(
    output_dir: str | Path = "runs/default",
    dataset: Callable[..., Dataset] = gin.REQUIRED,
    generator: Callable[..., nn.Module] = gin.REQUIRED,
    discriminator: Callable[..., nn.Module] = gin.REQUIRED,
    loss: GANLoss | type = Hinge,
    penalty: Penalty | type = NoPenalty,
    steps: int = 100_000,
    batch_size: int = 64,
    learning_rate: float = 2e-4,
    beta1: float = 0.5,
    beta2: float = 0.999,
    disc_iters: int = 1,
    ema_decay: float = 0.0,
    mixed_precision: str = "auto",
    channels_last: bool = True,
    fused_optimizer: bool = True,
    data_in_memory: bool = True,
    data_in_memory_max_gb: float = 4.0,
    seed: int = 0,
    log_every: int = 50,
    sample_every: int = 1000,
    checkpoint_every: int = 1000,
    keep_checkpoints: int = 3,
    eval_every: int = 0,
    eval_metrics: Sequence[str] = ("fid",),
    eval_num_samples: int = 10_000,
    eval_batch_size: int = 250,
    eval_extractor: str = "inception",
    eval_split: str = "test",
    best_metric: str = "fid",
    num_workers: int = 0,
    tracker: str | None = "tensorboard",
    progress: bool = True,
    gin_config: str = "",
) -> dict[str, Any]:
    """Train G and D as configured; return the final losses and the best metrics.

    ``batch_size`` is per process. The defaults are the paper's (Section 3.1): Adam with
    learning rate 2e-4, batch 64, 100k generator steps; (β1, β2, disc_iters) come from the
    optimizer gin files. ``eval_every=0`` evaluates only at the end (and not at all when
    ``eval_metrics`` is empty); likewise 0 for ``log_every``, ``sample_every`` and
    ``checkpoint_every`` means only at the end.

    The fast path (:mod:`zoo.fastpath`), each part a setting that turns it off:
    ``mixed_precision`` (``"auto"``: bf16 autocast where the hardware multiplies bf16
    natively, else fp32; ``"bf16"``; ``"no"``), ``channels_last`` (NHWC images and
    convolution weights), ``fused_optimizer`` (single-kernel Adam) and ``data_in_memory``
    (the decoded dataset held as one tensor when it needs at most ``data_in_memory_max_gb``).
    """
    output_dir = Path(output_dir)
    data = _build_dataset(dataset, "train")  # fails before any model is built
    accelerator = Accelerator(
        log_with=tracker,
        project_config=ProjectConfiguration(str(output_dir), logging_dir=str(output_dir / "logs")),
        kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=True)],
    )
    rank, world, device = accelerator.process_index, accelerator.num_processes, accelerator.device
    precision = resolve_precision(mixed_precision, device)
    torch.manual_seed(seed)  # identical initial weights on every process
    G, D = generator(channels=data.channels), discriminator(channels=data.channels)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    G, D = G.to(memory_format=memory_format), D.to(memory_format=memory_format)
    _check_compatible(G, D, data)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.gin").write_text(gin_config or gin.config_str())
    trainer = GANTrainer(
        accelerator,
        G,
        D,
        _instance(loss),
        _instance(penalty),
        disc_iters,
        learning_rate,
        (beta1, beta2),
        precision,
        fused_optimizer,
    )
    ema = ModelEmaV3(accelerator.unwrap_model(trainer.G), decay=ema_decay) if ema_decay else None
    extra = {"ema_generator": ema} if ema else {}

    state: dict[str, Any] = {"best": None, "history": [], "precision": precision}
    start = 0
    last, restored = checkpoints.restore_latest(accelerator, output_dir / "checkpoints", extra)
    if last is not None:
        state, start = restored, restored["step"]
        accelerator.print(f"Resuming from {last} at step {start}.")
        old_lr = checkpoints.apply_learning_rate([trainer.opt_g, trainer.opt_d], learning_rate)
        if old_lr is not None:
            accelerator.print(f"learning rate changed on resume: {old_lr:g} -> {learning_rate:g}")
        if state.setdefault("precision", "no") != precision:
            accelerator.print(
                f"warning: this run started with mixed_precision={state['precision']!r} and "
                f"resumes with {precision!r}: it continues (weights and Adam state are fp32) "
                f"but no longer matches an uninterrupted run bit for bit. Bind "
                f"train.mixed_precision = {state['precision']!r} to resume as it started."
            )
            state["precision"] = precision

    sampler = EpochBatches(len(data), batch_size, seed, rank, world, start * disc_iters)
    in_memory = data_in_memory and fits_in_memory(data, data_in_memory_max_gb)
    if in_memory:
        batches = InMemoryBatches.load(data, device, memory_format).batches(sampler)
    else:
        loader = DataLoader(
            data, batch_sampler=sampler, num_workers=num_workers, pin_memory=device.type == "cuda"
        )
        batches = _to_device(iter(loader), device, memory_format)
    fixed_z = torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(seed))
    fixed_y = torch.arange(64) % G.num_classes if G.num_classes else None
    accelerator.print(
        f"selfmod-zoo: device={device}, processes={world}, "
        f"precision={'bf16 autocast' if precision == 'bf16' else 'fp32'} "
        f"(mixed_precision={mixed_precision!r}), "
        f"layout={'channels_last' if channels_last else 'contiguous'}, "
        f"adam={'fused' if fused_optimizer else 'foreach'}, "
        f"data={'in memory' if in_memory else f'streamed ({num_workers} workers)'}, "
        f"output={output_dir}"
    )
    if warning := launch_warning(world, device.type):
        accelerator.print(warning)

    accelerator.init_trackers("tensorboard", config=_hparams(locals()))
    bar = tqdm(
        range(start, steps),
        initial=start,
        total=steps,
        desc="train",
        disable=not (progress and accelerator.is_local_main_process),
        dynamic_ncols=True,
    )
    losses: dict[str, float] = {}
    monitor = LossMonitor(accelerator, output_dir / "checkpoints")
    sampling_model = ema.module if ema else accelerator.unwrap_model(trainer.G)
    last_saved = start
    started = time.perf_counter()
    evaluate_now = functools.partial(
        _evaluate,
        dataset=dataset,
        split=eval_split,
        metrics=eval_metrics,
        num_samples=eval_num_samples,
        extractor=eval_extractor,
        accelerator=accelerator,
        batch_size=eval_batch_size,
        progress=progress,
    )
    for step in bar:
        torch.manual_seed(_step_seed(seed, step, rank))
        out = trainer.step(batches)
        if ema is not None:
            ema.update(accelerator.unwrap_model(trainer.G), step=step)
        done = step + 1
        monitor.update(out, done)
        due = {
            name: _due(done, every, steps)
            for name, every in (
                ("log", log_every),
                ("sample", sample_every),
                ("eval", eval_every),
                ("checkpoint", checkpoint_every),
            )
        }
        due["eval"] = due["eval"] and bool(eval_metrics)
        if not any(due.values()):
            continue
        losses = monitor.read()  # the only host sync of a step; raises on a NaN
        if due["log"]:
            rate = (done - start) * batch_size * world / (time.perf_counter() - started)
            accelerator.log({**losses, "images_per_second": rate}, step=done)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()} | {"img/s": f"{rate:.0f}"})
        if accelerator.is_main_process and due["sample"]:
            _save_samples(
                sampling_model, fixed_z, fixed_y, output_dir / "samples" / f"step_{done:08d}.png"
            )
        if due["eval"]:
            metrics = {**evaluate_now(sampling_model), "step": done}
            state["history"].append(metrics)
            accelerator.log({f"eval/{k}": v for k, v in metrics.items()}, step=done)
            if state["best"] is None or metrics[best_metric] < state["best"][best_metric]:
                state["best"] = metrics
                if accelerator.is_main_process:
                    D = accelerator.unwrap_model(trainer.D)
                    _save_models(output_dir / "best", sampling_model, D, metrics)
        if due["checkpoint"]:
            checkpoints.save(
                accelerator, output_dir / "checkpoints", done, state, extra, keep_checkpoints
            )
            last_saved = done
    if accelerator.is_main_process:
        _save_models(
            output_dir / "final",
            sampling_model,
            accelerator.unwrap_model(trainer.D),
            {"step": steps},
        )
    accelerator.end_training()
    return {
        "losses": losses,
        "best": state["best"],
        "steps": steps,
        "num_processes": world,
        "precision": precision,
        "last_checkpoint": last_saved,
        "generator": accelerator.unwrap_model(trainer.G),
        "discriminator": accelerator.unwrap_model(trainer.D),
        "ema_generator": ema.module if ema else None,
        "output_dir": output_dir,
        "is_main_process": accelerator.is_main_process,
        "eval_extractor": eval_extractor if eval_metrics else None,
        "wall_time_s": time.perf_counter() - started,
    }


def _check_compatible(G: nn.Module, D: nn.Module, data: Dataset) -> None:
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


def _hparams(arguments: dict[str, Any]) -> dict[str, Any]:
    """The scalar training settings, for the tracker."""
    keep = (
        "steps",
        "batch_size",
        "learning_rate",
        "beta1",
        "beta2",
        "disc_iters",
        "ema_decay",
        "seed",
        "precision",
        "channels_last",
        "fused_optimizer",
    )
    hparams = {k: arguments[k] for k in keep}
    G, D = arguments["G"], arguments["D"]
    hparams.update(
        generator=type(G).__name__,
        discriminator=type(D).__name__,
        norm=str(G.config.get("norm")),
        loss=type(arguments["trainer"].loss).__name__,
        penalty=repr(arguments["trainer"].penalty),
        dataset=arguments["data"].name,
    )
    return hparams


@torch.no_grad()
def _save_samples(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None, path: Path) -> None:
    """An 8x8 grid of G at the fixed z, in eval mode (batch-norm running statistics)."""
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    images = G(z.to(device), None if y is None else y.to(device))
    G.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.float(), path, nrow=8, normalize=True, value_range=(-1, 1))


def _evaluate(
    G: nn.Module,
    dataset: Callable[..., Dataset],
    split: str,
    metrics: Sequence[str],
    num_samples: int,
    extractor: str,
    accelerator: Accelerator,
    batch_size: int,
    progress: bool,
) -> dict[str, float]:
    from zoo.evaluation import evaluate  # evaluation pulls in feature extractors: import late

    was_training = G.training
    G.eval()
    try:
        return evaluate(
            G,
            _build_dataset(dataset, split),
            metrics=tuple(metrics),
            num_samples=num_samples,
            extractor=extractor,
            batch_size=batch_size,
            accelerator=accelerator,
            progress=progress,
        )
    finally:
        G.train(was_training)


def _save_models(directory: Path, G: nn.Module, D: nn.Module, metrics: dict[str, float]) -> None:
    """G (the EMA copy when enabled) and D as safetensors with their architecture and metrics:
    ``best/`` holds the best evaluation so far, ``final/`` the last step."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, model in (("generator", G), ("discriminator", D)):
        tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(tensors, directory / f"{name}.safetensors")
    config = {
        "generator": {"name": _registered_name("generator", G), "config": G.config},
        "discriminator": {"name": _registered_name("discriminator", D), "config": D.config},
        "metrics": metrics,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))


def _registered_name(kind: str, model: nn.Module) -> str:
    from registry import name_of

    return name_of(kind, type(model))
