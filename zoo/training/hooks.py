"""What happens between training steps: log, sample a fixed-z grid, evaluate (keeping the best
model, as Section 3.1 reports it), checkpoint; and the NaN watch behind all of them."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm

from zoo.model_folder import save_pretrained
from zoo.sampling import sample_grid
from zoo.train_settings import TrainSettings
from zoo.training import checkpoints
from zoo.training.record import RunRecord
from zoo.writing import guarded_write, replace_folder

__all__ = ["Hooks", "LossMonitor", "TrainingDiverged", "best_evaluation", "due"]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


def best_evaluation(history: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The evaluation with the best ``metric``: the lowest, or the highest for a score its
    metric declares better higher (IS, PRD; :func:`zoo.evaluation.higher_is_better`); the
    first of equals (the one ``best/`` holds); None without a scored one."""
    from zoo.evaluation import higher_is_better  # evaluation pulls in extractors: import late

    scored = [h for h in history if isinstance(h.get(metric), int | float)]
    pick = max if higher_is_better(metric) else min
    return pick(scored, key=lambda h: h[metric]) if scored else None


def due(done: int, every: int, steps: int) -> bool:
    """Whether a periodic action (every ``every`` steps; 0 = only at the end, < 0 = never)
    runs after step ``done``."""
    return every >= 0 and ((every > 0 and done % every == 0) or done == steps)


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


def metrics_text(metrics: dict[str, Any]) -> str:
    """An evaluation as ``fid 17.33, is 4.97, ...`` (its numbers but the step, 4 digits)."""
    return ", ".join(
        f"{k} {v:.4g}" for k, v in metrics.items() if k != "step" and isinstance(v, int | float)
    )


class Hooks:
    """The periodic actions of a run, called after every step with its losses; ``state``
    (best metrics, evaluation history, precision) goes into every checkpoint, and the step
    reached into the run's ``record`` after every action."""

    def __init__(
        self,
        settings: TrainSettings,
        accelerator: Accelerator,
        models: dict[str, nn.Module],
        state: dict[str, Any],
        gin_config: str,
        bar: tqdm,
        start: int,
        record: RunRecord,
    ) -> None:
        self.settings, self.accelerator, self.state = settings, accelerator, state
        self.record = record
        self.models, self.gin_config, self.bar, self.start = models, gin_config, bar, start
        self.output_dir = Path(settings.output_dir)
        self.extra = {"ema_generator": models["ema"]} if "ema" in models else {}
        self.monitor = LossMonitor(accelerator, self.output_dir / "checkpoints")
        self.losses: dict[str, float] = {}
        self.last_saved, self.started = start, time.perf_counter()

    @property
    def sampling_model(self) -> nn.Module:
        """The generator that is sampled, evaluated and saved: the EMA copy when enabled."""
        ema = self.models.get("ema")
        return self.models["G"] if ema is None else ema.module

    def after_step(self, done: int, out: dict[str, torch.Tensor]) -> None:
        self.monitor.update(out, done)
        s = self.settings
        now = [name for name, every in s.every().items() if due(done, every, s.steps)]
        if not now:
            return
        self.losses = self.monitor.read()  # the only host sync of a step; raises on a NaN
        if "log" in now:
            self.log(done)
        if "sample" in now and self.accelerator.is_main_process:
            path = self.output_dir / "samples" / f"step_{done:08d}.png"
            sample_grid(self.sampling_model, path, n=64, seed=s.seed)  # atomic
        if "eval" in now:
            self.evaluate(done)
        if "checkpoint" in now:
            self.checkpoint(done)
        self.record.update(done)

    def checkpoint(self, done: int) -> Path:
        """The training checkpoint after step ``done`` (written unless it already is)."""
        directory = self.output_dir / "checkpoints"
        if self.last_saved != done:
            size = _checkpoint_bytes([self.models["G"], self.models["D"]], self.extra.values())
            checkpoints.save(self.accelerator, directory, done, self.state, self.extra,
                             self.settings.keep_checkpoints, size)  # fmt: skip
            self.last_saved = done
        return directory / f"step_{done:08d}"

    def log(self, done: int) -> None:
        """The losses and the rate to the tracker and the progress bar; without a bar
        (``train.progress = False``: a log file), as a line."""
        world = self.accelerator.num_processes
        rate = (done - self.start) * self.settings.batch_size * world / self.elapsed()
        with guarded_write(self.output_dir / "logs"):
            self.accelerator.log({**self.losses, "images_per_second": rate}, step=done)
        shown = {k: f"{v:.3f}" for k, v in self.losses.items()} | {"img/s": f"{rate:.0f}"}
        self.bar.set_postfix(shown)
        if self.bar.disable:
            values = ", ".join(f"{k} {v}" for k, v in shown.items())
            self.say(f"step {done}/{self.settings.steps}: {values}")

    def say(self, line: str) -> None:
        """Print ``line`` once per machine, above the progress bar when there is one."""
        if self.accelerator.is_local_main_process:
            tqdm.write(line)

    def evaluate(self, done: int) -> None:
        """The configured metrics of the sampling model (with ``eval_raw_generator``, also
        of G's own weights as ``raw_<metric>``); a new best is saved to ``best/``."""
        s = self.settings
        metrics = self.measure(self.sampling_model)
        if s.eval_raw_generator:
            metrics.update({f"raw_{k}": v for k, v in self.measure(self.models["G"]).items()})
        metrics["step"] = done
        self.state["history"].append(metrics)
        with guarded_write(self.output_dir / "logs"):
            self.accelerator.log({f"eval/{k}": v for k, v in metrics.items()}, step=done)
        best = self.state["best"]
        improved = best is None or best_evaluation([best, metrics], s.best_metric) is metrics
        if improved:
            self.state["best"] = metrics
            self.save_models("best", metrics)
        best, key = self.state["best"], s.best_metric
        note = "the best" if improved else f"the best: step {best['step']}, {key} {best[key]:.4g}"
        self.say(f"evaluation at step {done}: {metrics_text(metrics)} ({note})")

    def measure(self, G: nn.Module) -> dict[str, float]:
        """The configured metrics of ``G`` in eval mode (its mode restored)."""
        from zoo.evaluation import evaluate  # evaluation pulls in feature extractors: import late

        s, was_training = self.settings, G.training
        G.eval()
        try:
            return evaluate(
                G,
                s.dataset(split=s.eval_split),
                metrics=tuple(s.eval_metrics),
                num_samples=s.eval_num_samples,
                extractor=s.eval_extractor,
                batch_size=s.eval_batch_size,
                accelerator=self.accelerator,
                progress=s.progress,
            )
        finally:
            G.train(was_training)

    def plateau_at(self, done: int) -> int | None:
        """The best evaluation's step when step ``done`` evaluated and no evaluation over the
        last ``plateau_stop`` fraction of the ``done`` steps improved on it (once
        ``plateau_min_steps`` are done), else None: the run has plateaued and may end."""
        s, history = self.settings, self.state["history"]
        if not (s.plateau_stop and history and history[-1]["step"] == done):
            return None
        best = best_evaluation(history, s.best_metric)["step"]
        plateaued = done >= s.plateau_min_steps and best <= (1 - s.plateau_stop) * done
        return best if plateaued else None

    def end_on_plateau(self, step: int, best: int) -> int:
        """End the run at ``step`` (returned), before ``train.steps``: checkpointed (a longer
        ``plateau_stop``, or none, resumes it exactly) and recorded in the run's record."""
        self.bar.close()
        self.checkpoint(step)
        self.record.plateau(step, best)
        self.accelerator.print(
            f"plateau: no evaluation better than step {best}'s over the last "
            f"{self.settings.plateau_stop:.0%} of the run: ending at step {step}"
        )
        return step

    def save_models(self, which: str, metrics: dict[str, float]) -> None:
        """``best/`` or ``final/`` as a model folder (:mod:`zoo.model_folder`), main process."""
        if not self.accelerator.is_main_process:
            return
        target = self.output_dir / which
        partial = target.with_name(f".partial_{which}")
        with guarded_write(target, partial):
            save_pretrained(self.sampling_model, partial, discriminator=self.models["D"],
                            gin_config=self.gin_config, metrics=metrics, card=False)  # fmt: skip
            replace_folder(partial, target)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def _checkpoint_bytes(models: list[nn.Module], extra: Iterable[nn.Module]) -> int:
    """About the size of a first checkpoint: the models' tensors, with Adam's two moments
    for each, and the extra modules (EMA)."""

    def size(module: nn.Module) -> int:
        return sum(t.numel() * t.element_size() for t in module.state_dict().values())

    return 3 * sum(size(m) for m in models) + sum(size(m) for m in extra)
