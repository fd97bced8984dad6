"""How a generator's ``config`` records a norm: its registry name and the keyword arguments it
is built with, gin bindings included, so that ``registry.create("generator", name, **G.config)``
rebuilds the same generator without gin (and a checkpoint's config.json can carry it).

This stays in the registry, not in the zoo: ``G.config`` is the registry's promise that the
generator can be rebuilt, and an argument that is not plain data (JSON) breaks it the moment the
generator is built, not when a checkpoint is first written, possibly at the end of a training.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import gin

from registry._registry import get, name_of
from registry.architectures.norm_factory import NormCls

__all__ = ["norm_name_and_kwargs"]


def norm_name_and_kwargs(
    norm: NormCls | str, kwargs: Mapping[str, Any] | None = None
) -> tuple[str, dict]:
    """A norm's registry name and the keyword arguments it is built with: ``kwargs`` over the
    gin bindings of ``norm.<name>`` when ``norm`` is gin's configurable copy (``@norm.sbn``),
    so that a rebuilt model matches one trained with e.g. ``norm.sbn.hidden_dim = 64``.

    Raises ``ValueError`` when the keyword arguments are not plain data (JSON)."""
    name = norm if isinstance(norm, str) else name_of("norm", norm)
    from_gin = not isinstance(norm, str) and norm is not get("norm", name)
    recorded = {**(gin.get_bindings(f"norm.{name}") if from_gin else {}), **(kwargs or {})}
    _require_plain_data(name, recorded)
    return name, recorded


def _require_plain_data(name: str, kwargs: dict) -> None:
    try:
        json.dumps(kwargs)
    except TypeError as error:
        raise ValueError(
            f"norm {name!r} is configured with {kwargs}, which a checkpoint's config.json cannot "
            f"hold ({error}); bind numbers, strings or lists, or register what you pass."
        ) from None
