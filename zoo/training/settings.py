"""The ``train.*`` settings that gin files bind: one frozen dataclass, registered with gin as
``train``. It imports nothing heavy, so parsing a config does not load the trainer.

The defaults are the paper's (Section 3.1): Adam with learning rate 2e-4, batch 64 per process,
100k generator steps; (β1, β2, disc_iters) come from the optimizer gin files. ``eval_every=0``
evaluates only at the end (and not at all when ``eval_metrics`` is empty); likewise 0 for
``log_every``, ``sample_every`` and ``checkpoint_every`` means only at the end.

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gin

from registry.losses import GANLoss, Hinge
from registry.penalties import NoPenalty, Penalty

__all__ = ["HPARAMS", "TrainSettings"]

HPARAMS = (
    "steps",
    "batch_size",
    "learning_rate",
    "beta1",
    "beta2",
    "disc_iters",
    "ema_decay",
    "seed",
    "channels_last",
    "fused_optimizer",
    "closed_form_norm_backward",
    "skip_d_weight_grads",
)
"""The scalar settings recorded with the tracker's hyperparameters."""


@gin.configurable("train")
@dataclass(frozen=True)
class TrainSettings:
    """Everything :func:`zoo.training.train` is configured with (gin: ``train.<name>``)."""

    output_dir: str | Path = "runs/default"
    dataset: Callable[..., Any] = gin.REQUIRED
    generator: Callable[..., Any] = gin.REQUIRED
    discriminator: Callable[..., Any] = gin.REQUIRED
    loss: GANLoss | type = Hinge
    penalty: Penalty | type = NoPenalty
    steps: int = 100_000
    batch_size: int = 64
    learning_rate: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    disc_iters: int = 1
    ema_decay: float = 0.0
    mixed_precision: str = "auto"
    channels_last: bool = True
    fused_optimizer: bool = True
    data_in_memory: bool = True
    data_in_memory_max_gb: float = 4.0
    closed_form_norm_backward: bool = True
    skip_d_weight_grads: bool = True
    seed: int = 0
    log_every: int = 50
    sample_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    eval_every: int = 0
    eval_metrics: Sequence[str] = ("fid",)
    eval_num_samples: int = 10_000
    eval_batch_size: int = 250
    eval_extractor: str = "inception"
    eval_split: str = "test"
    best_metric: str = "fid"
    num_workers: int | str = "auto"
    tracker: str | None = "tensorboard"
    progress: bool = True

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


def _instance(component: Any) -> Any:
    """gin gives ``@loss.hinge`` as a class and ``@loss.hinge()`` as an instance: accept both."""
    return component() if isinstance(component, type) else component
