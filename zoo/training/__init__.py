"""Training: the GAN step (:mod:`~zoo.training.step`), the loop (:mod:`~zoo.training.loop`) with
its hooks (:mod:`~zoo.training.hooks`), the pre-flight and resume checks
(:mod:`~zoo.training.preflight`), training-state checkpoints for exact resume
(:mod:`~zoo.training.checkpoints`), real batches (:mod:`~zoo.training.data`), the fast path
(:mod:`~zoo.training.fastpath`) and the graceful stop on SIGINT / SIGTERM
(:mod:`~zoo.training.stopping`). The ``train.*`` settings (:mod:`zoo.train_settings`) sit beside
this package: parsing a config needs them, not Accelerate.
"""

from zoo.train_settings import TrainSettings
from zoo.training.data import EpochBatches
from zoo.training.hooks import TrainingDiverged
from zoo.training.loop import TrainResult, train
from zoo.training.step import GANTrainer, build_trainer
from zoo.training.stopping import StoppedAtOnce, TrainingStopped

__all__ = [
    "EpochBatches",
    "GANTrainer",
    "StoppedAtOnce",
    "TrainResult",
    "TrainSettings",
    "TrainingDiverged",
    "TrainingStopped",
    "build_trainer",
    "train",
]
