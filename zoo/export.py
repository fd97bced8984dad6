"""Export a training run's model folder, ready to upload or ship.

The trainer writes ``RUN/best`` and ``RUN/final`` as model folders already
(:mod:`zoo.model_folder`). ``export_run(RUN, OUT)`` loads one strictly (so a damaged one is
never published), writes it into ``OUT`` with ``RUN/config.gin`` through the same
:func:`~zoo.model_folder.save_pretrained` (optionally without the discriminator), and adds what
publishing needs: ``samples.png``, an 8x8 grid (a conditional generator's: 64 rounded up to
full rows of its classes, one class per column) drawn from the generator as it loads back from
``OUT``, ``training_curve.png``, the run's evaluations against the step (when it evaluated), and
``README.md``, the model card, which states the evaluation protocol and the training record from
the run folder's own records (:mod:`zoo.run_facts`).

``weights_dtype="float16"`` stores the generator's weights rounded to half precision (half the
download; they load into the float32 model as before) and records in ``config.json`` how far
its samples move: the largest change of a pixel and the share of 8-bit pixel values that change,
over :data:`ROUNDING_SAMPLES` samples drawn with the same latents.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.card import write_card
from zoo.curve import CURVE_FILE, plot_curve
from zoo.errors import CheckpointError
from zoo.model_folder import (
    CARD_FILE,
    CONFIG_FILE,
    DISCRIMINATOR_FILE,
    MODEL_FILE,
    SAMPLES_FILE,
    load_discriminator,
    load_generator,
    read_config,
    save_pretrained,
)
from zoo.run_facts import RunFacts, read_run_facts
from zoo.sampling import sample_grid, to_uint8

__all__ = ["EXPORTED_FILES", "ROUNDING_SAMPLES", "SHIPPED_FILES", "WEIGHT_DTYPES", "export_run"]

EXPORTED_FILES = (
    MODEL_FILE, DISCRIMINATOR_FILE, CONFIG_FILE, CARD_FILE, SAMPLES_FILE, CURVE_FILE
)  # fmt: skip
SHIPPED_FILES = (MODEL_FILE, CONFIG_FILE, CARD_FILE, SAMPLES_FILE, CURVE_FILE)
"""What goes into ``zoo/pretrained/<name>/`` (no discriminator: sampling does not need it);
the curve only when the run evaluated."""
WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
ROUNDING_SAMPLES = 1000


def _source(run_dir: Path, which: str) -> Path:
    if which not in ("best", "final"):
        raise ValueError(f"which must be 'best' or 'final', not {which!r}.")
    source = run_dir / which
    if not (source / CONFIG_FILE).is_file():
        hint = (
            " best/ is written when the run evaluates (train.eval_metrics); export final/ "
            "instead (--from final)."
            if which == "best"
            else " final/ is written when training completes."
        )
        raise CheckpointError(f"{run_dir} has no {which}/ checkpoint ({source}).{hint}")
    return source


def _prepare(out_dir: Path) -> None:
    """An empty folder, or one holding only a previous export (which is replaced)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    others = sorted(p.name for p in out_dir.iterdir() if p.name not in EXPORTED_FILES)
    if others:
        raise CheckpointError(
            f"{out_dir} holds other files ({', '.join(others)}): everything in it would be "
            f"uploaded. Export into an empty folder."
        )
    for name in EXPORTED_FILES:
        (out_dir / name).unlink(missing_ok=True)


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    which: str = "best",
    name: str | None = None,
    repo_id: str | None = None,
    discriminator: bool = True,
    weights_dtype: str = "float32",
    limitations: str | None = None,
) -> dict[str, Any]:
    """Write the checkpoint folder of ``run_dir``'s ``which`` models into ``out_dir``, the
    generator's weights stored as ``weights_dtype`` (:data:`WEIGHT_DTYPES`); return its
    config.json contents. ``limitations``: what a user must know before trusting the model (a
    run that failed, a known flaw), kept in config.json and shown near the top of the card."""
    if weights_dtype not in WEIGHT_DTYPES:
        raise ValueError(
            f"weights_dtype {weights_dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}."
        )
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    source = _source(run_dir, which)
    other = "final" if which == "best" else "best"
    remedy = f"The run's {which}/ folder is damaged: export {other}/ instead, or retrain."
    gin_file = run_dir / "config.gin"
    gin_config = gin_file.read_text() if gin_file.is_file() else ""
    metrics = read_config(source).get("metrics", {})
    generator = load_generator(source, remedy)
    critic = load_discriminator(source, remedy) if discriminator else None
    _prepare(out_dir)
    stored = generator if weights_dtype == "float32" else _rounded(generator, weights_dtype)
    save_pretrained(
        stored, out_dir, discriminator=critic, gin_config=gin_config, metrics=metrics, card=False
    )
    exported = load_generator(out_dir, "Export again.")  # the samples prove the folder loads
    sample_grid(exported, out_dir / SAMPLES_FILE, n=64, seed=0)
    config = read_config(out_dir)
    if weights_dtype != "float32":
        config["weights"] = _rounding(generator, exported, weights_dtype)
    if limitations:
        config["limitations"] = limitations.strip()
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    facts = read_run_facts(run_dir, which, config)
    _plot(facts, out_dir / CURVE_FILE, config.get("eval_extractor"))
    write_card(out_dir, config, name=name or out_dir.name, repo_id=repo_id, facts=facts)
    return config


def _plot(facts: RunFacts, path: Path, extractor: str | None) -> None:
    """The training curve of the run's evaluations (none without them)."""
    metric = facts.settings["best_metric"]
    if any(metric in h for h in facts.history):
        best = facts.best
        note = f"{extractor} features" if extractor else ""
        plot_curve(facts.history, path, metric=metric, best_step=best and best["step"], note=note)


def _rounded(generator: torch.nn.Module, dtype: str) -> torch.nn.Module:
    """A copy of ``generator`` whose floating-point parameters and buffers are ``dtype``."""
    return copy.deepcopy(generator).to(WEIGHT_DTYPES[dtype])


@torch.no_grad()
def _rounding(trained: torch.nn.Module, exported: torch.nn.Module, dtype: str) -> dict[str, Any]:
    """How far the exported (rounded) generator's samples are from the trained one's: the same
    :data:`ROUNDING_SAMPLES` latents (and labels) in eval mode, images in [-1, 1]."""
    before, after = (
        copy.deepcopy(g).eval().sample(ROUNDING_SAMPLES, seed=0) for g in (trained, exported)
    )
    levels = np.abs(to_uint8(after).astype(int) - to_uint8(before).astype(int))
    return {
        "dtype": dtype,
        "trained_dtype": str(next(trained.parameters()).dtype).removeprefix("torch."),
        "samples_compared": ROUNDING_SAMPLES,
        "max_abs_difference": float((after - before).abs().max()),
        "pixel_values_changed": float((levels > 0).mean()),
        "max_levels_changed": int(levels.max()),
    }
