"""What a training run's folder records about how its models were made, read for their model
card (:mod:`zoo.card`), so that no figure on a card is typed by hand:

- the evaluation protocol: the run's ``train.*`` settings as its ``config.gin`` binds them
  (:class:`~zoo.train_settings.TrainSettings`' defaults where it does not) and the size of
  the reference split, read from the dataset itself;
- the evaluation history: every evaluation of the run (its metrics and ``step``), kept by the
  trainer in the newest checkpoint's ``trainer_state.json``;
- the run's record, ``RUN/status.json`` (:mod:`zoo.training.record`): the command, commits
  and machines of its sessions, the steps done, a plateau, the wall time.

A fact the folder does not hold (an older run without ``status.json``, a run whose checkpoints
are gone, a dataset not on this machine) is None or empty, and the card says it is unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import registry
from zoo.config import Macro, Reference, read_bindings
from zoo.train_settings import TrainSettings
from zoo.training.checkpoints import STATE_FILE, latest
from zoo.training.hooks import best_evaluation
from zoo.training.record import read_record

__all__ = ["RunFacts", "evaluation_history", "read_run_facts", "reference_size", "run_settings"]


@dataclass(frozen=True)
class RunFacts:
    """A run folder's records about the model folder ``which`` (``best`` or ``final``)."""

    which: str
    step: int | None
    """The step of the exported weights (their metrics' ``step``), None when not recorded."""
    settings: dict[str, Any]
    """Every ``train.*`` setting of the run: as ``config.gin`` binds it, else the default."""
    reference_size: int | None
    """Images in the reference split (``train.eval_split``), None when it cannot be read."""
    history: list[dict[str, Any]]
    """The run's evaluations in step order (empty when no checkpoint keeps them)."""
    record: dict[str, Any] | None
    """``RUN/status.json``, None for a run trained before the trainer wrote one."""

    @property
    def best(self) -> dict[str, Any] | None:
        """The best evaluation of the history by ``train.best_metric`` (the one ``best/``
        holds), None without evaluations."""
        return best_evaluation(self.history, self.settings["best_metric"])


def _plain(value: Any, bindings: dict[str, Any]) -> Any:
    """A binding's value with a macro replaced by its own binding (one level, as gin's
    ``config_str`` writes them)."""
    return bindings.get(value.name, value) if isinstance(value, Macro) else value


def run_settings(gin_config: str) -> dict[str, Any]:
    """Every ``train.*`` setting of a run's gin config: the bound value (a reference as its
    name, ``@dataset.fashion_mnist`` giving ``fashion_mnist``), else the default."""
    bindings = read_bindings(gin_config)
    settings = {f.name: f.default for f in fields(TrainSettings)}
    for name in settings:
        if (key := f"train.{name}") in bindings:
            value = _plain(bindings[key], bindings)
            is_reference = isinstance(value, Reference)
            settings[name] = value.name.rsplit(".", 1)[-1] if is_reference else value
    return settings


def reference_size(gin_config: str, dataset: str, split: str) -> int | None:
    """The number of images in ``dataset``'s ``split``, built with the run's own bindings of
    the dataset (``dataset.<name>.*``: root, ...); None when it cannot be read here (not on this
    machine, a plugin that is gone)."""
    bindings = read_bindings(gin_config)
    prefix = f"dataset.{dataset}."
    options = {
        key.removeprefix(prefix): _plain(value, bindings)
        for key, value in bindings.items()
        if key.startswith(prefix)
    }
    if any(isinstance(v, Macro | Reference) for v in options.values()):
        return None
    try:  # the registered factory itself: the caller's gin bindings do not apply
        return len(registry.get("dataset", dataset)(split=split, **options))
    except (OSError, ValueError, TypeError, LookupError, ImportError):
        return None  # a missing dataset is FileNotFoundError; RegistryError is a KeyError


def evaluation_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The evaluations kept in the newest complete checkpoint, in step order."""
    checkpoint = latest(Path(run_dir) / "checkpoints")
    if checkpoint is None:
        return []
    state = json.loads((checkpoint / STATE_FILE).read_text())
    return sorted(state.get("history", []), key=lambda h: h["step"])


def read_run_facts(run_dir: str | Path, which: str, config: dict[str, Any]) -> RunFacts:
    """The facts of ``run_dir`` about its ``which`` model folder, whose config.json contents
    are ``config`` (its gin config, dataset and metrics)."""
    run_dir = Path(run_dir)
    gin_config = config.get("gin_config", "")
    settings = run_settings(gin_config)
    dataset = config.get("dataset")
    size = reference_size(gin_config, dataset, settings["eval_split"]) if dataset else None
    step = config.get("metrics", {}).get("step")
    return RunFacts(
        which=which,
        step=step if isinstance(step, int) else None,
        settings=settings,
        reference_size=size,
        history=evaluation_history(run_dir),
        record=read_record(run_dir),
    )
