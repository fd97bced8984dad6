"""Checks before training into a run folder, done by ``scripts/train.py`` before any file is
written: the ``train`` settings are sane, the output is a folder, and a rerun into an existing
run keeps that run's config.

Resuming compares the new config with the run's ``config.gin`` binding by binding (after gin has
parsed both, so formatting and comments do not count). Only the settings of :data:`RESUMABLE`
may change on resume; any other difference is refused, with the differing bindings listed and
nothing touched. Allowed changes are applied (the trainer writes the new config to
``config.gin``) and recorded in it as ``# resumed at step N: ...`` comment lines, kept across
resumes, so the folder still says how it was trained.
"""

from __future__ import annotations

import ast
import fnmatch
import inspect
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gin

from zoo.config import ConfigError, parse
from zoo.training import checkpoints

__all__ = [
    "RESUMABLE",
    "RESUME_RECORD",
    "PreparedRun",
    "changed_bindings",
    "check_output_dir",
    "check_settings",
    "launch_warning",
    "parse_bindings",
    "prepare_run",
]

RESUMABLE = (
    "train.output_dir",
    "train.steps",
    "train.learning_rate",
    "train.log_every",
    "train.sample_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.eval_every",
    "train.eval_metrics",
    "train.eval_batch_size",
    "train.num_workers",
    "train.tracker",
    "train.progress",
    "train.mixed_precision",  # the trainer warns that the run no longer matches bit for bit
    "train.channels_last",
    "train.fused_optimizer",
    "train.data_in_memory",
    "train.data_in_memory_max_gb",
    "dataset.*.root",
    "dataset.*.data_dir",
    "dataset.*.cache_dir",
    "dataset.*.prepared",
    "feature_extractor.*.weights_path",
    "feature_extractor.*.hf_repo_id",
)
"""Bindings (shell patterns) that may differ when a run resumes: how long it trains, how often
it logs, samples, evaluates and checkpoints, the learning rate (applied to the restored
optimizers), speed settings (precision, memory layout, fused Adam, data in memory) and where
data and weights are found. Everything else defines the run."""
RESUME_RECORD = "# resumed at step "
"""Prefix of the comment lines that record changed settings in a run's config.gin."""


def parse_bindings(config: str) -> dict[str, str]:
    """``{"selector.param": "value"}`` of a gin config text (as ``gin.config_str`` writes it):
    comments and blank lines skipped, indented continuation lines joined, spacing normalized;
    ``import`` lines map to ``""``."""
    statements: dict[str, str] = {}
    current = None
    for line in config.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and current is not None:
            statements[current] += " " + line.strip()
            continue
        key, _, value = line.partition("=")
        current = key.strip()
        statements[current] = value.strip()
    return {key: _normalize(value) for key, value in statements.items()}


def _normalize(value: str) -> str:
    """One spelling of a value however gin or a person wrapped it."""
    value = re.sub(r"([\[({])\s+", r"\1", " ".join(value.split()))
    return re.sub(r"\s*,\s*", ", ", re.sub(r"\s+([\])}])", r"\1", value))


def _default(key: str) -> str | None:
    """``repr`` of the signature default of ``selector.param``, if there is one."""
    selector, _, param = key.rpartition(".")
    try:
        target = gin.config._REGISTRY.get_match(selector)  # gin lists them nowhere public.
        default = inspect.signature(target.wrapped).parameters[param].default
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return None if default is inspect.Parameter.empty else repr(default)


def changed_bindings(old: str, new: str) -> dict[str, tuple[str, str]]:
    """Bindings whose value differs between two config texts: ``{key: (old, new)}``, with
    ``"(unset)"`` for a side that lacks it (an unset parameter equal to its default is not a
    change)."""
    before, after = parse_bindings(old), parse_bindings(new)
    changes = {}
    for key in sorted(before.keys() | after.keys()):
        a = before.get(key, _default(key) or "(unset)")
        b = after.get(key, _default(key) or "(unset)")
        if a != b:
            changes[key] = (a, b)
    return changes


def _resumable(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in RESUMABLE)


def _setting(name: str) -> Any:
    """The bound value of ``train.<name>``, else its default."""
    try:
        return gin.query_parameter(f"train.{name}")
    except ValueError:
        default = _default(f"train.{name}")
        return None if default is None else ast.literal_eval(default)


def check_settings() -> None:
    """Raise :class:`ConfigError` for ``train`` settings that cannot train (0 steps, ...)."""
    positive = ("steps", "batch_size", "disc_iters", "keep_checkpoints")
    for name in positive:
        value = _setting(name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"train.{name} = {value!r}: it must be a whole number >= 1.")
    for name in ("log_every", "sample_every", "checkpoint_every", "eval_every", "num_workers"):
        value = _setting(name)
        if (not isinstance(value, int) or value < 0) and (name, value) != ("num_workers", "auto"):
            raise ConfigError(f"train.{name} = {value!r}: it must be a whole number >= 0.")
    rate = _setting("learning_rate")
    if not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        raise ConfigError(f"train.learning_rate = {rate!r}: it must be a positive number.")


def check_output_dir(output_dir: Path) -> None:
    """Raise :class:`ConfigError` when ``output_dir`` or one of its parents is not a folder."""
    for path in (output_dir, *output_dir.parents):
        if path.exists() and not path.is_dir():
            raise ConfigError(
                f"The output folder {output_dir} cannot be created: {path} is a file. "
                f"Pass another folder with --output."
            )


@dataclass
class PreparedRun:
    """What :func:`prepare_run` found: the config text to train with (and to write as the
    run's config.gin), the output folder and the settings changed on resume."""

    config: str
    output_dir: Path
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)


def _refusal(output_dir: Path, saved: Path, changes: dict[str, tuple[str, str]]) -> ConfigError:
    listed = "; ".join(f"{key}: {a} -> {b}" for key, (a, b) in changes.items())
    return ConfigError(
        f"{output_dir} holds a run with another config ({saved}); these bindings differ: "
        f"{listed}. Nothing was changed. Start a new run with --output ANOTHER_FOLDER, or "
        f"resume this one with --gin {saved} (train.steps, train.learning_rate, the *_every "
        f"intervals and a few more may change on resume: zoo.runs.RESUMABLE lists them)."
    )


def prepare_run(gin_files: Sequence[str | Path], bindings: Sequence[str]) -> PreparedRun:
    """Parse the config (it stays gin's active config) and check it before training: sane
    settings, an output folder, and, when the folder holds a run, the same config as that run
    but for :data:`RESUMABLE` settings. Raises :class:`ConfigError`; touches no file."""
    config = parse(gin_files, bindings)
    check_settings()
    output_dir = Path(_setting("output_dir"))
    check_output_dir(output_dir)
    saved = output_dir / "config.gin"
    if not saved.is_file():
        return PreparedRun(config, output_dir)
    saved_text = saved.read_text()
    try:
        old = parse([saved])  # gin's own text: formatting and comments do not count
    except ConfigError:
        old = saved_text  # e.g. a plugin it names is gone: compare as written
    config = parse(gin_files, bindings)  # the new config is the active one again
    changes = changed_bindings(old, config)
    if refused := {k: v for k, v in changes.items() if not _resumable(k)}:
        raise _refusal(output_dir, saved, refused)
    changes.pop("train.output_dir", None)  # the same folder, however it is written
    records = [line for line in saved_text.splitlines() if line.startswith(RESUME_RECORD)]
    if changes:
        newest = checkpoints.latest(output_dir / "checkpoints")
        step = int(newest.name.removeprefix("step_")) if newest else 0
        listed = "; ".join(f"{key}: {a} -> {b}" for key, (a, b) in changes.items())
        records.append(f"{RESUME_RECORD}{step}: {listed}")
    if records:
        config = config.rstrip("\n") + "\n\n" + "\n".join(records) + "\n"
    return PreparedRun(config, output_dir, changes)


def launch_warning(num_processes: int, device_type: str) -> str | None:
    """A warning when ``accelerate launch`` planned several CPU processes but one started.

    Accelerate's CPU launcher starts one process whatever ``--num_processes`` says, yet it still
    divides the cores among the processes it was asked for (``OMP_NUM_THREADS``): one process
    on a CPU with fewer threads than cores is that case."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    launched = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    cores = os.cpu_count() or 1
    if not (launched and device_type == "cpu" and num_processes == 1 and threads.isdigit()):
        return None
    if int(threads) >= cores:
        return None
    return (
        f"warning: 1 process started with OMP_NUM_THREADS={threads} of {cores} cores, as "
        f"`accelerate launch --num_processes N` leaves it on a CPU: Accelerate's CPU launcher "
        f"starts only one process. For N processes run `ACCELERATE_USE_CPU=yes torchrun "
        f"--standalone --nproc_per_node N scripts/train.py ...` (README, Training)."
    )
