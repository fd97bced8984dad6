"""selfmod-zoo: self-modulated GANs (Chen et al., ICLR 2019) to create, train, evaluate and load."""

from zoo.config import ConfigError, parse
from zoo.errors import (
    CheckpointError,
    ChecksumError,
    NotPublishedError,
    UnknownModelError,
    WeightsNotAvailableError,
    ZooError,
)
from zoo.model_folder import save_pretrained
from zoo.models import create, list_models, load
from zoo.sampling import sample_grid, save_grid

__all__ = [
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "NotPublishedError",
    "UnknownModelError",
    "WeightsNotAvailableError",
    "ZooError",
    "create",
    "list_models",
    "load",
    "parse",
    "sample_grid",
    "save_grid",
    "save_pretrained",
]
