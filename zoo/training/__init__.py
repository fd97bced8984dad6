"""Training: the GAN step (:mod:`~zoo.training.step`), the loop (:mod:`~zoo.training.loop`) with
its hooks (:mod:`~zoo.training.hooks`), training-state checkpoints for exact resume
(:mod:`~zoo.training.checkpoints`), the ``train.*`` settings (:mod:`~zoo.training.settings`),
real batches (:mod:`~zoo.training.data`), the fast path (:mod:`~zoo.training.fastpath`) and
the graceful stop on SIGINT / SIGTERM (:mod:`~zoo.training.stopping`).

The names below load on first use, so that parsing a config (which needs only the settings)
does not import Accelerate.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "EpochBatches",
    "GANTrainer",
    "StoppedAtOnce",
    "TrainSettings",
    "TrainingDiverged",
    "TrainingStopped",
    "build_trainer",
    "train",
]

_HOME = {
    "EpochBatches": "zoo.training.data",
    "GANTrainer": "zoo.training.step",
    "TrainSettings": "zoo.training.settings",
    "TrainingDiverged": "zoo.training.hooks",
    "TrainingStopped": "zoo.training.stopping",
    "StoppedAtOnce": "zoo.training.stopping",
    "build_trainer": "zoo.training.step",
    "train": "zoo.training.loop",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'zoo.training' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
