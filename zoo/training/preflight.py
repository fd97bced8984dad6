"""The trainer's pre-flight, done by ``scripts/train.py`` (and a study, for each of its runs)
before any file is written: the ``train`` settings are sane (built as :func:`~zoo.training.train`
builds them, whose fields check their values; the evaluation's metrics exist and the best one
ranks), the output is a folder, and a rerun into an
existing run keeps that run's config.

Resuming compares the new config with the run's ``config.gin`` binding by binding, both read by
gin's own parser (:func:`zoo.config.read_bindings`: formatting and comments do not count, and
gin's active config stays the new one, parsed once). Only the settings of :data:`RESUMABLE`
may change on resume; any other difference is refused, with the differing bindings listed and
nothing touched. Allowed changes are applied (the trainer writes the new config to
``config.gin``) and recorded in it as ``# resumed at step N: ...`` comment lines, kept across
resumes, so the folder still says how it was trained.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gin

from zoo.config import configurable, parse, read_bindings
from zoo.errors import ConfigError, one_line
from zoo.train_settings import RESUMABLE_SETTINGS, TrainSettings
from zoo.training import checkpoints

__all__ = [
    "RESUMABLE",
    "RESUME_RECORD",
    "PreparedRun",
    "active_settings",
    "changed_bindings",
    "check_evaluation",
    "check_output_dir",
    "launch_warning",
    "prepare_run",
]

RESUMABLE = (
    *(f"train.{name}" for name in RESUMABLE_SETTINGS),
    "dataset.*.root",
    "dataset.*.data_dir",
    "dataset.*.cache_dir",
    "dataset.*.prepared",
    "feature_extractor.*.weights_path",
    "feature_extractor.*.hf_repo_id",
)
"""Bindings (shell patterns) that may differ when a run resumes: the ``train`` settings marked
resumable on their fields (how long it trains, how often it logs, samples, evaluates and
checkpoints, the learning rate, speed settings) and where data and weights are found.
Everything else defines the run."""
RESUME_RECORD = "# resumed at step "
"""Prefix of the comment lines that record changed settings in a run's config.gin."""


def _default(key: str) -> str | None:
    """``repr`` of the signature default of ``selector.param``, if there is one (the registry
    says what a selector is; a scoped one has none: an unscoped binding may reach it)."""
    selector, _, param = key.rpartition(".")
    if (found := configurable(selector)) is None:
        return None
    try:
        default = inspect.signature(found[1]).parameters[param].default
    except (KeyError, TypeError, ValueError):
        return None
    return None if default is inspect.Parameter.empty or default is gin.REQUIRED else repr(default)


def changed_bindings(old: str, new: str) -> dict[str, tuple[str, str]]:
    """Bindings whose value differs between two config texts: ``{key: (old, new)}``, values as
    gin would write them, with ``"(unset)"`` for a side that lacks it (an unset parameter equal
    to its default is not a change). Raises :class:`ConfigError` for text gin cannot parse."""
    before, after = read_bindings(old), read_bindings(new)
    changes = {}
    for key in sorted(before.keys() | after.keys()):
        a = repr(before[key]) if key in before else _default(key) or "(unset)"
        b = repr(after[key]) if key in after else _default(key) or "(unset)"
        if a != b:
            changes[key] = (a, b)
    return changes


def _resumable(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in RESUMABLE)


def active_settings() -> TrainSettings:
    """The ``train`` settings of gin's active config, built as :func:`~zoo.training.train`
    builds them (the dataset and models stay references: nothing is built or loaded). Raises
    :class:`ConfigError` for a value that cannot train (0 steps, ...) or a required setting
    left unbound."""
    try:
        return TrainSettings()
    except ConfigError as error:  # gin appends "In call to configurable 'train'"
        raise ConfigError(one_line(error)) from error
    except RuntimeError as error:  # gin: "Required bindings for `train` not provided ..."
        raise ConfigError(f"{one_line(error)}; bind them in a gin file or with --bind.") from error


def check_evaluation(settings: TrainSettings) -> None:
    """Raise :class:`ConfigError` unless ``train.eval_metrics`` are registered metrics and
    ``train.best_metric`` is a score of theirs that is better one way (a typo would otherwise
    stop the run at its first evaluation, after hours of training)."""
    if not settings.eval_metrics:
        return
    from zoo.evaluation import check_metrics, metric_scores  # import late: extractors

    try:
        names = check_metrics(settings.eval_metrics)
    except ValueError as error:
        raise ConfigError(f"train.eval_metrics: {error}.") from error
    scores = metric_scores(names)
    if scores.get(settings.best_metric) is None:
        ranked = ", ".join(repr(k) for k, better in scores.items() if better is not None)
        raise ConfigError(
            f"train.best_metric = {settings.best_metric!r} is not a score that "
            f"train.eval_metrics = {list(names)} rank runs by (they give {ranked}). Pick one of "
            f"those, or add its metric to train.eval_metrics."
        )


def check_output_dir(output_dir: Path) -> None:
    """Raise :class:`ConfigError` when ``output_dir`` or one of its parents is not a folder."""
    for path in (output_dir, *output_dir.parents):
        if path.exists() and not path.is_dir():
            raise ConfigError(
                f"The output folder {output_dir} cannot be created: {path} is a file. "
                f"Pass another folder with --output."
            )


def check_resume_step(output_dir: Path, steps: int) -> int:
    """The step the run in ``output_dir`` resumes from (0 for a new run); raise
    :class:`ConfigError` when it is past ``train.steps``: the run would end at once and label
    its newer weights as step ``steps``'s."""
    step = checkpoints.latest_step(output_dir / "checkpoints") or 0
    if step > steps:
        raise ConfigError(
            f"{output_dir} holds a run at step {step}, past train.steps = {steps}: it cannot "
            f"resume there. Nothing was changed. To train on, bind the larger cap it was "
            f"resumed with (--bind 'train.steps = N', N > {step}); its best/ and final/ "
            f"folders are usable as they are."
        )
    return step


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
        f"intervals and a few more may change on resume: zoo.training.preflight.RESUMABLE "
        f"lists them)."
    )


def _changes(output_dir: Path, saved: Path, old: str, new: str) -> dict[str, tuple[str, str]]:
    """The resumable bindings that config text ``new`` changes from ``old``, the run's
    ``saved`` config; raises :class:`ConfigError` when another binding differs."""
    try:
        changes = changed_bindings(old, new)
    except ConfigError as error:
        raise ConfigError(
            f"{saved} cannot be read ({one_line(error)}). Nothing was changed. Restore it, or "
            f"start a new run with --output ANOTHER_FOLDER."
        ) from error
    if refused := {k: v for k, v in changes.items() if not _resumable(k)}:
        raise _refusal(output_dir, saved, refused)
    changes.pop("train.output_dir", None)  # the same folder, however it is written
    return changes


def prepare_run(gin_files: Sequence[str | Path], bindings: Sequence[str]) -> PreparedRun:
    """Parse the config (it stays gin's active config) and check it before training: sane
    settings, an output folder, and, when the folder holds a run, the same config as that run
    but for :data:`RESUMABLE` settings. Raises :class:`ConfigError`; touches no file."""
    config = parse(gin_files, bindings)
    settings = active_settings()
    check_evaluation(settings)
    output_dir = Path(settings.output_dir)
    check_output_dir(output_dir)
    saved = output_dir / "config.gin"
    if not saved.is_file():
        return PreparedRun(config, output_dir)
    saved_text = saved.read_text()
    changes = _changes(output_dir, saved, saved_text, config)
    step = check_resume_step(output_dir, settings.steps)
    records = [line for line in saved_text.splitlines() if line.startswith(RESUME_RECORD)]
    if changes:
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
