"""A study grid declared in gin and its expansion into runs (Section 3.2).

The paper runs a Cartesian product of losses, architectures, Lipschitz control and optimizer
settings, each with several seeds, for BN and sBN. That product is not full: spectral norm comes
with 3 optimizer settings and the gradient penalty with λ ∈ {1, 10} times the same 3, i.e.
3 + 6 = 9 regularizer × optimizer combinations per loss × architecture × norm. Here every axis
maps value names to gin files and/or bindings; ``exclude`` drops partial assignments (or an
axis's values can themselves be combinations). A gin study file looks like::

    study.grid.base = ["base/paper.gin", "data/fashion_mnist.gin"]
    study.grid.bindings = ["train.steps = 2000"]
    study.grid.axes = {
        "loss": {"hinge": "losses/hinge.gin", "ns": "losses/non_saturating.gin"},
        "reg": {"sn": {"gin": ["penalties/sn.gin"], "tags": {"reg_type": "sn"}},
                "gp10": {"gin": ["penalties/gp10.gin"], "tags": {"reg_type": "gp"}}},
        "norm": {"bn": "norms/bn.gin", "sbn": "norms/sbn.gin"},
    }
    study.grid.exclude = [{"reg": "gp10", "loss": "ns"}]
    study.grid.seeds = [0, 1, 2]

A value is a string or a list of strings (an item containing ``=`` is a gin binding, any other
a gin file), ``None`` (no change), or a dict with keys ``gin``, ``bind`` and ``tags`` (extra
result columns, e.g. the regularizer type of Table 2). Gin files resolve against the shipped
``gin/`` folder first, then the study file's folder, then the working directory.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gin

from zoo.config import GIN_DIR, ConfigError, also_known, parse
from zoo.study.results import RUN_COLUMNS
from zoo.study.spec import metric_scores

__all__ = ["AxisValue", "Grid", "GridError", "Run", "load_grid", "study_grid"]

_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


class GridError(ValueError):
    """A study grid that cannot be expanded: bad names, unknown axes or values, no runs."""


@dataclass(frozen=True)
class AxisValue:
    """One value of one axis: the gin files and bindings it adds and its extra columns."""

    name: str
    gin_files: tuple[str, ...] = ()
    bindings: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, name: str, spec: Any) -> AxisValue:
        """Build from a gin value: str, list of str, None, or {"gin", "bind", "tags"}."""
        if spec is None:
            return cls(name)
        if isinstance(spec, Mapping):
            if unknown := set(spec) - {"gin", "bind", "tags"}:
                raise GridError(f"value {name!r}: unknown keys {sorted(unknown)}")
            tags = tuple({str(k): str(v) for k, v in (spec.get("tags") or {}).items()}.items())
            return cls(name, _strings(spec.get("gin", ())), _strings(spec.get("bind", ())), tags)
        if isinstance(spec, str | Sequence):
            items = _strings(spec)
            files, binds = [s for s in items if "=" not in s], [s for s in items if "=" in s]
            return cls(name, tuple(files), tuple(binds))
        raise GridError(f"value {name!r}: expected a string, list, dict or None, got {spec!r}")


def _strings(items: Any) -> tuple[str, ...]:
    items = [items] if isinstance(items, str) else list(items)
    if not all(isinstance(s, str) for s in items):
        raise GridError(f"expected strings, got {items!r}")
    return tuple(items)


@dataclass(frozen=True)
class Run:
    """One training run of a study: its settings, seed, gin files and bindings."""

    id: str
    settings: tuple[tuple[str, str], ...]
    seed: int
    tags: tuple[tuple[str, str], ...]
    gin_files: tuple[str, ...]
    """As declared (e.g. ``losses/hinge.gin``); :attr:`resolved` holds the paths to parse."""
    bindings: tuple[str, ...]
    resolved: tuple[str, ...] = field(default=(), compare=False)

    def row(self) -> dict[str, Any]:
        """The run's descriptive columns for the results table."""
        return {"id": self.id, **dict(self.settings), **dict(self.tags), "seed": self.seed}


@dataclass(frozen=True)
class Grid:
    """A declared study: base configs, named axes, exclusions, seeds and report settings.

    ``method``/``baseline``/``tuned`` tell the report which axis is the method (BN vs sBN),
    which of its values is the baseline, and which axes are optimization hyperparameters
    (the minimum is taken over them in the unpaired setting of Table 2).
    """

    axes: dict[str, tuple[AxisValue, ...]]
    seeds: tuple[int, ...] = (0,)
    base: tuple[str, ...] = ()
    bindings: tuple[str, ...] = ()
    exclude: tuple[dict[str, tuple[str, ...]], ...] = ()
    name: str = "study"
    method: str = "norm"
    baseline: str = "bn"
    tuned: tuple[str, ...] = ()
    source_dir: Path | None = None

    @classmethod
    def from_spec(
        cls,
        axes: Mapping[str, Mapping[str, Any]],
        seeds: Sequence[int] = (0,),
        base: Sequence[str] = (),
        bindings: Sequence[str] = (),
        exclude: Sequence[Mapping[str, Any]] = (),
        name: str = "study",
        method: str = "norm",
        baseline: str = "bn",
        tuned: Sequence[str] = (),
        source_dir: Path | None = None,
    ) -> Grid:
        """Validate plain values (as gin gives them) and build a grid."""
        parsed = {
            _check_name(axis, "axis"): tuple(
                AxisValue.parse(_check_name(v, f"value of axis {axis!r}"), spec)
                for v, spec in values.items()
            )
            for axis, values in axes.items()
        }
        if not parsed or any(not values for values in parsed.values()):
            raise GridError("a grid needs at least one axis, each with at least one value")
        rules = tuple(
            {str(k): tuple(map(str, [v] if isinstance(v, str | int) else v)) for k, v in r.items()}
            for r in exclude
        )
        grid = cls(
            parsed,
            tuple(int(s) for s in seeds),
            _strings(base),
            _strings(bindings),
            rules,
            name,
            method,
            baseline,
            _strings(tuned),
            source_dir,
        )
        grid._validate()
        return grid

    def _validate(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise GridError(f"seeds must be distinct and non-empty, got {list(self.seeds)}")
        tag_names = {k for values in self.axes.values() for v in values for k, _ in v.tags}
        for bad in (set(self.axes) | tag_names) & (RUN_COLUMNS | set(metric_scores())):
            raise GridError(f"{bad!r} is reserved for a results column (a run's or a metric's)")
        if clash := set(self.axes) & tag_names:
            raise GridError(f"tags {sorted(clash)} have the names of axes")
        for rule in self.exclude:
            if not rule:
                raise GridError("an empty exclude rule would drop every run")
            for axis, values in rule.items():
                known = [v.name for v in self.axes.get(axis, ())]
                if axis not in self.axes:
                    raise GridError(f"exclude names unknown axis {axis!r}; axes: {list(self.axes)}")
                if missing := [v for v in values if v not in known]:
                    raise GridError(f"exclude: axis {axis!r} has no value {missing}; has {known}")
        for axis in (*self.tuned, self.method):
            if axis not in self.axes:
                raise GridError(f"report axis {axis!r} is not an axis of the grid")
        if self.baseline not in [v.name for v in self.axes[self.method]]:
            raise GridError(f"baseline {self.baseline!r} is not a value of axis {self.method!r}")

    def combinations(self) -> list[tuple[AxisValue, ...]]:
        """The kept settings (one value per axis, declared order), exclusions removed."""
        kept = []
        for combo in itertools.product(*self.axes.values()):
            names = dict(zip(self.axes, (v.name for v in combo), strict=True))
            if not any(_matches(rule, names) for rule in self.exclude):
                kept.append(combo)
        if not kept:
            raise GridError("every setting is excluded: the grid has no runs")
        return kept

    def expand(self) -> list[Run]:
        """All runs, seed by seed (a study stopped early has every setting at seed 0 first).

        Each run's id is ``axis=value,...,seed=S``; its gin files are the base files then the
        axis values' files in axis order; its bindings are the grid's, then the values', then
        ``train.seed``.
        """
        runs = []
        for seed in self.seeds:
            for combo in self.combinations():
                settings = tuple((axis, v.name) for axis, v in zip(self.axes, combo, strict=True))
                files = self.base + tuple(f for v in combo for f in v.gin_files)
                binds = (*self.bindings, *(b for v in combo for b in v.bindings))
                run_id = ",".join([*(f"{a}={v}" for a, v in settings), f"seed={seed}"])
                tags, resolved = tuple(t for v in combo for t in v.tags), map(self.resolve, files)
                binds = (*binds, f"train.seed = {seed}")
                runs.append(Run(run_id, settings, seed, tags, files, binds, tuple(resolved)))
        return runs

    def resolve(self, gin_file: str) -> str:
        """Path of a declared gin file: shipped gin/ folder, study file's folder, then cwd."""
        path = Path(gin_file)
        candidates = [path] if path.is_absolute() else [GIN_DIR / path, Path.cwd() / path]
        if self.source_dir is not None and not path.is_absolute():
            candidates.insert(1, self.source_dir / path)
        for candidate in candidates:
            if candidate.is_file():
                return str(candidate.resolve())
        raise GridError(
            f"gin file {gin_file!r} not found; looked at {[str(c) for c in candidates]}"
        )

    def summary(self) -> dict[str, Any]:
        """What the report needs to know about the grid (written to ``study.json``)."""
        pairs = [tag for values in self.axes.values() for value in values for tag in value.tags]
        tags = {t: list(dict.fromkeys(v for u, v in pairs if u == t)) for t, _ in pairs}
        return {
            "name": self.name,
            "axes": {axis: [v.name for v in values] for axis, values in self.axes.items()},
            "tags": list(tags),
            "tag_values": tags,
            "seeds": list(self.seeds),
            "method": self.method,
            "baseline": self.baseline,
            "tuned": list(self.tuned),
            "runs": len(self.combinations()) * len(self.seeds),
        }


def _matches(rule: Mapping[str, tuple[str, ...]], names: Mapping[str, str]) -> bool:
    return all(names[axis] in values for axis, values in rule.items())


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise GridError(f"{what} {name!r}: use letters, digits and _ . + - only (it goes in ids)")
    return name


study_grid = also_known(
    "study.grid", gin.external_configurable(Grid.from_spec, name="grid", module="study")
)
"""The gin face of a study: ``study.grid.*`` are the arguments of :meth:`Grid.from_spec`."""


def load_grid(path: str | Path) -> Grid:
    """Parse a study gin file (``study.grid.*`` bindings) into a :class:`Grid`."""
    path = Path(path).resolve()
    try:
        parse([path])
        return study_grid(source_dir=path.parent)
    except (ConfigError, ValueError, TypeError) as error:
        raise GridError(f"{path}: {error}") from error
    finally:
        gin.clear_config()
