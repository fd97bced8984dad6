"""One small registry for every pluggable component, bound to gin.

In the spirit of timm's ``_registry.py``: components register by decorator under a *kind*
(``norm``, ``generator``, ...) and a *name*; each registration is also a gin configurable named
``{kind}.{name}``, so a gin file can say ``generator.resnet32.norm = @norm.sbn``.

Third-party packages register through the entry-point group :data:`ENTRY_POINT_GROUP`; plugins
are imported on first use (any lookup, listing or gin parse). A plugin that fails to load is
named in a warning and in the error of a lookup that finds nothing; the others still load.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any, TypeVar

import gin

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "RegistryError",
    "create",
    "get",
    "kinds",
    "list",
    "load_plugins",
    "name_of",
    "register",
    "resolve",
]

ENTRY_POINT_GROUP = "selfmod_zoo.plugins"
"""Entry-point group scanned for plugins; each entry point names a module (or a callable)."""

KINDS = (
    "norm",
    "generator",
    "discriminator",
    "loss",
    "penalty",
    "dataset",
    "feature_extractor",
    "metric",
)

_logger = logging.getLogger(__name__)
_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {kind: {} for kind in KINDS}
_PLUGINS_LOADED = False
_BROKEN_PLUGINS: dict[str, str] = {}  # entry-point name -> why it failed to load
_list = list  # ``list`` below is the public listing function, as in timm.

T = TypeVar("T", bound=Callable[..., Any])


class RegistryError(KeyError):
    """An unknown kind or name, or a name registered twice."""

    def __str__(self) -> str:  # KeyError would quote the message.
        return str(self.args[0])


def _check_kind(kind: str) -> dict[str, Callable[..., Any]]:
    if kind not in _REGISTRY:
        raise RegistryError(f"Unknown registry kind {kind!r}. Known kinds: {', '.join(_REGISTRY)}.")
    return _REGISTRY[kind]


def register(kind: str, name: str | None = None, *, override: bool = False) -> Callable[[T], T]:
    """Decorator: register a class or function as ``kind``/``name`` and as gin ``{kind}.{name}``.

    Registering a taken name raises unless ``override=True``; the object itself is returned
    unchanged, so direct Python calls are not affected by gin bindings.
    """
    table = _check_kind(kind)

    def decorator(obj: T) -> T:
        key = name or obj.__name__
        if key in table and table[key] is not obj and not override:
            raise RegistryError(
                f"{kind} {key!r} is already registered (by {_origin(table[key])}); "
                f"pass override=True to replace it, or choose another name."
            )
        selector = f"{kind}.{key}"
        if override and selector in gin.config._REGISTRY:
            gin.config._REGISTRY.pop(selector)  # gin has no public unregister.
        gin.register(key, module=kind)(obj)
        table[key] = obj
        return obj

    return decorator


def _origin(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def load_plugins(force: bool = False) -> _list[str]:
    """Import every entry point of :data:`ENTRY_POINT_GROUP` once; return the names of those
    that loaded.

    An entry point names a module whose import registers components with :func:`register`,
    or a callable, which is called with no arguments. One that raises is skipped with a
    ``RuntimeWarning`` naming it, so that a broken plugin does not hide the others.
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED and not force:
        return []
    _PLUGINS_LOADED = True
    _BROKEN_PLUGINS.clear()
    loaded = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = entry_point.load()
            if callable(target) and not isinstance(target, type):
                target()
        except Exception as error:
            _BROKEN_PLUGINS[entry_point.name] = f"{entry_point.value}: {error!r}"
            warnings.warn(
                f"Plugin {entry_point.name!r} ({entry_point.value}) failed to load and is "
                f"skipped: {error!r}. Fix or uninstall the package that provides it.",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        loaded.append(entry_point.name)
        _logger.debug("loaded plugin %s", entry_point.name)
    return loaded


def get(kind: str, name: str) -> Callable[..., Any]:
    """The registered object ``kind``/``name``; an unknown name lists close matches."""
    load_plugins()
    table = _check_kind(kind)
    if name not in table:
        close = difflib.get_close_matches(name, table, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        known = ", ".join(sorted(table)) or "none"
        failed = "; ".join(f"{p!r} ({why})" for p, why in _BROKEN_PLUGINS.items())
        note = f" Plugins that failed to load: {failed}." if failed else ""
        raise RegistryError(f"Unknown {kind} {name!r}.{hint} Registered {kind}s: {known}.{note}")
    return table[name]


def create(kind: str, name: str, **kwargs: Any) -> Any:
    """Build ``kind``/``name`` with ``kwargs``; gin bindings for ``{kind}.{name}`` apply."""
    get(kind, name)
    return gin.get_configurable(f"{kind}.{name}")(**kwargs)


def list(kind: str, pattern: str | None = None) -> _list[str]:  # noqa: A001 - timm-style name
    """Sorted names registered under ``kind``, optionally filtered by a shell-style pattern."""
    load_plugins()
    names = sorted(_check_kind(kind))
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def name_of(kind: str, obj: Any) -> str:
    """The name ``obj`` is registered under (also for gin's wrapped copies of a class)."""
    key = (getattr(obj, "__module__", None), getattr(obj, "__qualname__", None))
    for name, registered in _check_kind(kind).items():
        if registered is obj or (registered.__module__, registered.__qualname__) == key:
            return name
    raise RegistryError(f"{_origin(obj)} is not a registered {kind}; register it first.")


def resolve(kind: str, obj: str | Callable[..., Any]) -> Callable[..., Any]:
    """A registered name becomes its object; anything else is returned as is."""
    return get(kind, obj) if isinstance(obj, str) else obj


def kinds() -> tuple[str, ...]:
    """The registry kinds."""
    return tuple(_REGISTRY)
