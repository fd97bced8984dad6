"""selfmod-zoo: self-modulated GANs (Chen et al., ICLR 2019) to create, train, evaluate and load."""

from zoo.config import ConfigError, parse

__all__ = ["ConfigError", "parse"]
