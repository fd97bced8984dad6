"""gin configs: :func:`parse` applies files and bindings to gin's active config (plugins loaded
first; a typo gets a message that names it and suggests the close names that do exist), and
:func:`read_bindings` reads a config text binding by binding with gin's own parser without
applying it. What a selector names comes from the registry (:func:`configurable`), not from
gin's private tables."""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gin
from gin import config_parser

import registry
from zoo.errors import ConfigError
from zoo.train_settings import TrainSettings

__all__ = [
    "GIN_DIR",
    "ConfigError",
    "Macro",
    "Reference",
    "also_known",
    "configurable",
    "gin_binding",
    "parse",
    "read_bindings",
]

GIN_DIR = Path(__file__).resolve().parents[1] / "gin"
"""The shipped configs; ``include 'models/resnet32.gin'`` resolves against this folder."""


_OTHER_CONFIGURABLES: dict[str, Callable[..., Any]] = {"train": TrainSettings}
"""Configurables outside the registry, by selector (``study.grid`` adds itself)."""


def also_known(selector: str, target: Callable[..., Any]) -> Callable[..., Any]:
    """Name a gin configurable that is not a registry entry, so that typos of it get
    suggestions like the registry's names; returns ``target``."""
    _OTHER_CONFIGURABLES[selector] = target
    return target


def _configurables() -> dict[str, Callable[..., Any]]:
    """Every configurable of a config by its complete selector: ``train``, the others named by
    :func:`also_known` and the registry's ``kind.name``."""
    known: dict[str, Callable[..., Any]] = dict(_OTHER_CONFIGURABLES)
    for kind in registry.kinds():
        known.update({f"{kind}.{name}": registry.get(kind, name) for name in registry.list(kind)})
    return known


def configurable(selector: str) -> tuple[str, Callable[..., Any]] | None:
    """The complete selector and the object that an (unscoped) gin selector names: ``train``,
    a registered ``kind.name``, or a bare ``name`` only one kind has (gin writes the shortest
    unique selector: ``fashion_mnist.root``); None for anything else."""
    known = _configurables()
    if selector in known:
        return selector, known[selector]
    matches = [complete for complete in known if complete.endswith(f".{selector}")]
    return (matches[0], known[matches[0]]) if len(matches) == 1 else None


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.6)
    return f"\nDid you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _parameters(selector: str) -> list[str] | None:
    """The parameter names of a configurable: from the registry, else from gin's public
    lookup (it knows the functions registered outside the registry, e.g. ``study.grid``)."""
    found = configurable(selector)
    try:
        target = found[1] if found else gin.get_configurable(selector)
        return list(inspect.signature(target).parameters)
    except (KeyError, TypeError, ValueError):
        return None


def _explain(error: Exception) -> str:
    """gin's message plus close matches for the unknown configurable or parameter."""
    message = str(error)
    if match := re.search(r"No configurable matching (?:reference )?'@?([\w.]+)'", message):
        return message + _suggest(match.group(1), sorted(_configurables()))
    if match := re.search(
        r"Configurable '([\w.]+)' doesn't have a parameter named '(\w+)'", message
    ):
        selector, name = match.groups()
        if params := _parameters(selector):
            return message + _suggest(name, params) + f"\nIts parameters: {', '.join(params)}."
    return message


def _locate(path: str | Path) -> Path:
    """``path`` itself, else the shipped config of that name (``quickstart.gin`` is
    ``gin/quickstart.gin`` from any folder)."""
    for candidate in (Path(path), GIN_DIR / path):
        if candidate.is_file():
            return candidate.resolve()
    shipped = [str(p.relative_to(GIN_DIR)) for p in GIN_DIR.rglob("*.gin")]
    close = difflib.get_close_matches(str(path), shipped, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise ConfigError(
        f"gin file not found: {path} (nor {GIN_DIR / path}).{hint} The configs shipped are "
        f"in {GIN_DIR}."
    )


def parse(
    gin_files: Sequence[str | Path] = (), bindings: Sequence[str] = (), *, clear: bool = True
) -> str:
    """Parse gin files then bindings (later ones win) and return the resulting config text.

    Raises :class:`ConfigError` naming the bad file, line and name, with suggestions.
    """
    registry.load_plugins()
    if clear:
        gin.clear_config()
    if GIN_DIR.is_dir() and str(GIN_DIR) not in gin.config._LOCATION_PREFIXES:
        # Ours first, which gin's public add_config_file_search_path cannot do (it appends):
        # after it, each shipped include would be tried in the current folder, then as a
        # Python package by gin's resource reader, which logs "Path not found" for each.
        gin.config._LOCATION_PREFIXES.insert(0, str(GIN_DIR))
    try:
        gin.parse_config_files_and_bindings([str(_locate(p)) for p in gin_files], list(bindings))
    except (ValueError, KeyError, SyntaxError, TypeError) as error:
        raise ConfigError(_explain(error)) from error
    return gin.config_str()


class Reference(NamedTuple):
    """A configurable reference as written (``@generator.resnet32``, ``@loss.hinge()``)."""

    name: str
    evaluate: bool

    def __repr__(self) -> str:
        return f"@{self.name}{'()' if self.evaluate else ''}"


class Macro(NamedTuple):
    """A macro as written (``%NORM``)."""

    name: str

    def __repr__(self) -> str:
        return f"%{self.name}"


class _AsWritten(config_parser.ParserDelegate):
    """References and macros as written: nothing is looked up, so a config naming a plugin
    that is gone still reads."""

    def configurable_reference(self, scoped_configurable_name: str, evaluate: bool) -> Reference:
        return Reference(scoped_configurable_name, evaluate)

    def macro(self, macro_name: str) -> Macro:
        return Macro(macro_name)


def _key(statement: config_parser.BindingStatement) -> str:
    """``scope/selector.param`` with the complete selector where the registry knows it."""
    found = configurable(statement.selector)
    selector = found[0] if found else statement.selector
    scoped = f"{statement.scope}/{selector}" if statement.scope else selector
    return f"{scoped}.{statement.arg_name}" if statement.arg_name else scoped


def read_bindings(text: str) -> dict[str, Any]:
    """``{"selector.param": value}`` of a gin config text, read by gin's own parser without
    applying it: Python values (references and macros as :class:`Reference` and
    :class:`Macro`, whose ``repr`` is as written), complete selectors
    (``dataset.fashion_mnist.root`` for ``fashion_mnist.root``), later bindings winning;
    ``import`` and ``include`` lines map to ``""``. Raises :class:`ConfigError` for text gin
    cannot parse."""
    bindings: dict[str, Any] = {}
    try:
        for statement in config_parser.ConfigParser(text, _AsWritten()):
            if isinstance(statement, config_parser.BindingStatement):
                bindings[_key(statement)] = statement.value
            elif isinstance(statement, config_parser.ImportStatement):
                bindings[statement.format()] = ""
            elif isinstance(statement, config_parser.IncludeStatement):
                bindings[f"include {statement.filename!r}"] = ""
    except SyntaxError as error:
        raise ConfigError(f"not a gin config: {error}") from error
    return bindings


def gin_binding(gin_config: str, selector: str) -> str | None:
    """The value bound to ``selector`` (e.g. ``train.dataset``) in a gin config text: a
    reference's name (``@dataset.cifar10`` gives ``cifar10``), a string itself, anything else
    as written; None when it is not bound."""
    bindings = read_bindings(gin_config)
    if selector not in bindings:
        return None
    value = bindings[selector]
    if isinstance(value, Reference):
        return value.name.rsplit(".", 1)[-1]
    return value if isinstance(value, str) else repr(value)
