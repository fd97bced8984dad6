"""One registered class per table of Appendix B: an architecture at one resolution.

``at_resolution(SNDCGANGenerator, 32, table=6)`` is the class ``SNDCGAN32Generator`` (the
SNDCGAN generator at 32x32 of Table 6), registered as ``generator.sndcgan32``; the keyword
arguments set what else the table fixes, e.g. a ResNet's channels per block."""

from __future__ import annotations

from typing import Any, TypeVar

from registry._registry import register
from registry.architectures.base import Discriminator, Generator

__all__ = ["at_resolution"]

Architecture = TypeVar("Architecture", bound=Generator | Discriminator)


def at_resolution(
    base: type[Architecture], resolution: int, table: int, **attributes: Any
) -> type[Architecture]:
    """The subclass of ``base`` (``<Family>Generator`` or ``<Family>Discriminator``) for
    ``resolution`` and the class ``attributes`` of the paper's Table ``table``, named
    ``<Family><resolution><Role>`` and registered as ``<role>.<family><resolution>``."""
    role = "Generator" if issubclass(base, Generator) else "Discriminator"
    family = base.__name__.removesuffix(role)
    if family == base.__name__:
        raise ValueError(f"{base.__name__} should be named <Family>{role}.")
    class_name = f"{family}{resolution}{role}"
    namespace = {
        "__module__": base.__module__,
        "__qualname__": class_name,
        "__doc__": f"{family} {role.lower()} at {resolution}x{resolution} (Table {table}).",
        "resolution": resolution,
        **attributes,
    }
    variant = type(class_name, (base,), namespace)
    return register(role.lower(), f"{family.lower()}{resolution}")(variant)
