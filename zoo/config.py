"""Parsing gin configs: plugins are loaded first, and a typo gets a message that names it and
suggests the close names that do exist."""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Sequence
from pathlib import Path

import gin

import registry

__all__ = ["GIN_DIR", "ConfigError", "gin_binding", "parse"]

GIN_DIR = Path(__file__).resolve().parents[1] / "gin"
"""The shipped configs; ``include 'models/resnet32.gin'`` resolves against this folder."""


class ConfigError(ValueError):
    """A gin file or binding that cannot be applied."""


def _known_selectors() -> list[str]:
    return sorted(s for s, _ in gin.config._REGISTRY.items())  # gin lists them nowhere public.


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.6)
    return f"\nDid you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _explain(error: Exception) -> str:
    """gin's message plus close matches for the unknown configurable or parameter."""
    message = str(error)
    if match := re.search(r"No configurable matching (?:reference )?'@?([\w.]+)'", message):
        return message + _suggest(match.group(1), _known_selectors())
    if match := re.search(
        r"Configurable '([\w.]+)' doesn't have a parameter named '(\w+)'", message
    ):
        selector, name = match.groups()
        target = gin.config._REGISTRY.get_match(selector)
        if target is not None:
            params = list(inspect.signature(target.wrapped).parameters)
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
    import zoo.training.settings  # noqa: F401 - registers the `train` configurable

    registry.load_plugins()
    if clear:
        gin.clear_config()
    if GIN_DIR.is_dir() and str(GIN_DIR) not in gin.config._LOCATION_PREFIXES:
        gin.config._LOCATION_PREFIXES.insert(0, str(GIN_DIR))  # ours first: no failed lookups
    try:
        gin.parse_config_files_and_bindings([str(_locate(p)) for p in gin_files], list(bindings))
    except (ValueError, KeyError, SyntaxError, TypeError) as error:
        raise ConfigError(_explain(error)) from error
    return gin.config_str()


def gin_binding(gin_config: str, selector: str) -> str | None:
    """The value bound to ``selector`` (e.g. ``train.dataset``) in a gin config text, as written
    (``@dataset.cifar10`` gives ``cifar10``; quotes are stripped), or None."""
    match = re.search(rf"^{re.escape(selector)}\s*=\s*(.+?)\s*$", gin_config, re.MULTILINE)
    if match is None:
        return None
    value = match.group(1).strip("'\"")
    return value.rsplit(".", 1)[-1].removesuffix("()") if value.startswith("@") else value
