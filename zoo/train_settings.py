"""The ``train.*`` settings that gin files bind: one frozen dataclass, registered with gin as
``train``. It imports nothing heavy, so parsing a config (:mod:`zoo.config`) does not load the
trainer; it sits beside :mod:`zoo.training` for that reason.

Each setting's facts are on its field (:func:`setting`): its check (a value that cannot train
raises :class:`~zoo.errors.ConfigError` when the settings are built, so the trainer's pre-flight,
:mod:`zoo.training.preflight`, refuses it before any file is written), whether it may change
when a run resumes (:data:`RESUMABLE_SETTINGS`) and whether the tracker records it with the
hyperparameters (:data:`HPARAMS`).

The defaults are the paper's (Section 3.1): Adam with learning rate 2e-4, batch 64 per process,
100k generator steps; (β1, β2, disc_iters) come from the optimizer gin files. ``eval_every=0``
evaluates only at the end (and not at all when ``eval_metrics`` is empty); likewise 0 for
``log_every``, ``sample_every`` and ``checkpoint_every`` means only at the end.
``plateau_stop`` (a fraction, 0 = off) ends a run early, as finished, at the first evaluation
where none of the evaluations over that last fraction of the steps done improved on the best
(``best_metric``), once ``plateau_min_steps`` are done: 0.2 trains until the curve shows a
plateau over the last 20% of the run (:meth:`zoo.training.hooks.Hooks.plateau_at`).
With ``ema_decay > 0`` the EMA of G's weights is sampled, evaluated and saved;
``eval_raw_generator`` also evaluates G's own weights at every evaluation (history keys
``raw_<metric>``, drawn on the training curve): EMA's effect measured on the run itself.

The fast path (:mod:`zoo.training.fastpath`), each part a setting that turns it off:
``mixed_precision`` (``"auto"``: bf16 autocast where it is measured to be faster than fp32 on
this device, :mod:`zoo.training.precision`, else fp32; ``"bf16"``; ``"no"``), ``channels_last``
(NHWC images and convolution weights), ``fused_optimizer`` (single-kernel Adam) and
``data_in_memory`` (the decoded dataset held as one tensor when it needs at most
``data_in_memory_max_gb``). Two parts that change nothing but rounding are on everywhere and
can be turned off only to measure them: ``closed_form_norm_backward`` (sBN/CBN's backward in
closed form, :mod:`registry.modulated_batch_norm`) and ``skip_d_weight_grads`` (the G step
backpropagates through D without D's weight gradients).

Real batches (:mod:`zoo.training.data`): in memory as above, else index lookups in a prepared
cache (``scripts/prepare_data.py``), else a DataLoader with ``num_workers`` processes
(``"auto"``: the cores minus one, at most 8, for data decoded per item; 0 for data held in
memory as tensors).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import gin

from registry.losses import GANLoss, Hinge
from registry.penalties import NoPenalty, Penalty
from zoo.errors import ConfigError

__all__ = ["HPARAMS", "RESUMABLE_SETTINGS", "TrainSettings", "setting"]

Check = Callable[[str, Any], None]
"""A value check: ``check(name, value)`` raises :class:`ConfigError` for a value that cannot
train."""


def _whole(minimum: int, *also: Any) -> Check:
    """A whole number >= ``minimum`` (or one of the values ``also``)."""

    def check(name: str, value: Any) -> None:
        if (not isinstance(value, int) or value < minimum) and value not in also:
            raise ConfigError(f"train.{name} = {value!r}: it must be a whole number >= {minimum}.")

    return check


def _positive(name: str, value: Any) -> None:
    """A positive finite number."""
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"train.{name} = {value!r}: it must be a positive number.")


def _fraction(name: str, value: Any) -> None:
    """A number in [0, 1)."""
    if not isinstance(value, int | float) or not 0 <= value < 1:
        raise ConfigError(f"train.{name} = {value!r}: it must be a number in [0, 1).")


def setting(
    default: Any, *, check: Check | None = None, resumable: bool = False, hparam: bool = False
) -> Any:
    """A field of :class:`TrainSettings` with its facts: ``check`` (raises for a value that
    cannot train), ``resumable`` (it may differ when a run resumes: how long it trains, how
    often it logs, samples, evaluates and checkpoints, the learning rate, applied to the
    restored optimizers, speed settings and where it writes), ``hparam`` (recorded with the
    tracker's hyperparameters)."""
    return field(
        default=default, metadata={"check": check, "resumable": resumable, "hparam": hparam}
    )


@gin.configurable("train")
@dataclass(frozen=True)
class TrainSettings:
    """Everything :func:`zoo.training.train` is configured with (gin: ``train.<name>``)."""

    output_dir: str | Path = setting("runs/default", resumable=True)
    dataset: Callable[..., Any] = setting(gin.REQUIRED)
    generator: Callable[..., Any] = setting(gin.REQUIRED)
    discriminator: Callable[..., Any] = setting(gin.REQUIRED)
    loss: GANLoss | type = setting(Hinge)
    penalty: Penalty | type = setting(NoPenalty)
    steps: int = setting(100_000, check=_whole(1), resumable=True, hparam=True)
    batch_size: int = setting(64, check=_whole(1), hparam=True)
    learning_rate: float = setting(2e-4, check=_positive, resumable=True, hparam=True)
    beta1: float = setting(0.5, hparam=True)
    beta2: float = setting(0.999, hparam=True)
    disc_iters: int = setting(1, check=_whole(1), hparam=True)
    ema_decay: float = setting(0.0, hparam=True)
    # On resume the trainer warns that the run no longer matches bit for bit.
    mixed_precision: str = setting("auto", resumable=True)
    channels_last: bool = setting(True, resumable=True, hparam=True)
    fused_optimizer: bool = setting(True, resumable=True, hparam=True)
    data_in_memory: bool = setting(True, resumable=True)
    data_in_memory_max_gb: float = setting(4.0, resumable=True)
    closed_form_norm_backward: bool = setting(True, hparam=True)
    skip_d_weight_grads: bool = setting(True, hparam=True)
    seed: int = setting(0, hparam=True)
    log_every: int = setting(50, check=_whole(0), resumable=True)
    sample_every: int = setting(1000, check=_whole(0), resumable=True)
    checkpoint_every: int = setting(1000, check=_whole(0), resumable=True)
    keep_checkpoints: int = setting(3, check=_whole(1), resumable=True)
    eval_every: int = setting(0, check=_whole(0), resumable=True)
    eval_metrics: Sequence[str] = setting(("fid",), resumable=True)
    eval_num_samples: int = setting(10_000)
    eval_batch_size: int = setting(250, resumable=True)
    eval_extractor: str = setting("inception")
    eval_split: str = setting("test")
    best_metric: str = setting("fid")
    plateau_stop: float = setting(0.0, check=_fraction, resumable=True)
    plateau_min_steps: int = setting(0, check=_whole(0), resumable=True)
    eval_raw_generator: bool = setting(False, resumable=True)
    num_workers: int | str = setting("auto", check=_whole(0, "auto"), resumable=True)
    tracker: str | None = setting("tensorboard", resumable=True)
    progress: bool = setting(True, resumable=True)

    def __post_init__(self) -> None:
        """Raise :class:`ConfigError` for a setting that cannot train (0 steps, ...)."""
        for f in fields(self):
            if check := f.metadata["check"]:
                check(f.name, getattr(self, f.name))
        if self.eval_raw_generator and not self.ema_decay:
            raise ConfigError(
                "train.eval_raw_generator = True compares G's weights with their EMA, but "
                "train.ema_decay = 0 (no EMA): set train.ema_decay (0.999, say) or drop it."
            )

    def loss_fn(self) -> GANLoss:
        return _instance(self.loss)

    def penalty_fn(self) -> Penalty:
        return _instance(self.penalty)

    def every(self) -> dict[str, int]:
        """The periodic actions and their intervals (0: only at the end)."""
        return {
            "log": self.log_every,
            "sample": self.sample_every,
            "eval": self.eval_every if self.eval_metrics else -1,
            "checkpoint": self.checkpoint_every,
        }


def _named(fact: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(TrainSettings) if f.metadata[fact])


HPARAMS = _named("hparam")
"""The scalar settings recorded with the tracker's hyperparameters."""
RESUMABLE_SETTINGS = _named("resumable")
"""The settings that may differ when a run resumes (:data:`zoo.training.preflight.RESUMABLE`)."""


def _instance(component: Any) -> Any:
    """gin gives ``@loss.hinge`` as a class and ``@loss.hinge()`` as an instance: accept both."""
    return component() if isinstance(component, type) else component
