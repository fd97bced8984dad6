"""Component registries of selfmod-zoo: norms, generators, discriminators, losses, penalties,
datasets and feature extractors, each also a gin configurable named ``{kind}.{name}``."""

# Importing the component modules registers them.
from registry import (
    architectures,
    datasets,
    features,
    losses,
    norms,
    penalties,
)
from registry._registry import (
    ENTRY_POINT_GROUP,
    KINDS,
    RegistryError,
    create,
    get,
    kinds,
    list,  # noqa: A004 - timm-style listing function
    load_plugins,
    name_of,
    register,
    resolve,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "RegistryError",
    "architectures",
    "create",
    "datasets",
    "features",
    "get",
    "kinds",
    "list",
    "load_plugins",
    "losses",
    "name_of",
    "norms",
    "penalties",
    "register",
    "resolve",
]
