"""``train.plateau_stop``: a run ends early, as finished, at the first evaluation where none of
the evaluations over the last fraction of the run beat the best, and nowhere before; the end
is checkpointed and recorded, a rerun stays ended, and a rerun without the stop continues
exactly as a run that never stopped."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from zoo.cli.train import main
from zoo.errors import ConfigError
from zoo.train_settings import TrainSettings
from zoo.training import checkpoints
from zoo.training.record import read_record

STEPS, FRACTION, MIN_STEPS = 24, 0.5, 6


def _args(out: Path, *extra: str) -> list[str]:
    bindings = [
        "train.dataset = @dataset.synthetic",
        "dataset.synthetic.num_samples = 32",
        "dataset.synthetic.channels = 1",
        "generator.sndcgan32.width = 0.0625",
        "discriminator.sndcgan32.width = 0.0625",
        "train.batch_size = 8",
        f"train.steps = {STEPS}",
        "train.eval_every = 2",
        "train.eval_metrics = ['fid']",
        "train.eval_num_samples = 16",
        "train.eval_extractor = 'fashion_classifier'",
        "train.checkpoint_every = 1000",
        "train.tracker = None",
        "train.progress = False",
        *extra,
    ]
    return [a for b in bindings for a in ("--bind", b)] + ["--output", str(out)]


def _history(run: Path) -> list[dict]:
    newest = checkpoints.latest(run / "checkpoints")
    return json.loads((newest / checkpoints.STATE_FILE).read_text())["history"]


def _plateaued(history: list[dict], done: int) -> bool:
    """The issue's rule, written out: no evaluation of the last FRACTION of ``done`` steps is
    better than the best before it."""
    before = [m["fid"] for m in history if m["step"] <= (1 - FRACTION) * done]
    after = [m["fid"] for m in history if (1 - FRACTION) * done < m["step"] <= done]
    return bool(before) and done >= MIN_STEPS and min(after, default=float("inf")) >= min(before)


def test_a_run_ends_at_the_first_plateau_and_a_rerun_without_it_continues_exactly(tmp_path, capsys):
    stop = (f"train.plateau_stop = {FRACTION}", f"train.plateau_min_steps = {MIN_STEPS}")
    run = tmp_path / "plateau"
    assert main(_args(run, *stop)) == 0
    record = read_record(run)
    end = record["step"]
    assert record["status"] == "finished" and end < STEPS, "no plateau in 24 steps of a tiny GAN?"
    history = _history(run)
    assert history[-1]["step"] == end and checkpoints.latest(run / "checkpoints").name.endswith(
        f"{end:08d}"
    )
    eval_steps = [m["step"] for m in history]
    assert _plateaued(history, end)
    assert not any(_plateaued(history, step) for step in eval_steps if step < end)
    best = min(history, key=lambda m: m["fid"])["step"]
    assert record["plateau"] == {"step": end, "best_step": best}
    assert f"ending at step {end}" in capsys.readouterr().out
    assert json.loads((run / "final" / "config.json").read_text())["metrics"]["step"] == end

    assert main(_args(run, *stop)) == 0  # the same command again: still ended, no step trained
    assert read_record(run)["step"] == end and _history(run) == history

    assert main(_args(run, "train.plateau_stop = 0.0")) == 0  # continue to the end
    straight = tmp_path / "straight"
    assert main(_args(straight)) == 0
    assert read_record(run)["step"] == STEPS and "plateau" not in read_record(run)
    resumed = load_file(run / "final" / "model.safetensors")
    for key, value in load_file(straight / "final" / "model.safetensors").items():
        assert torch.equal(resumed[key], value), key


@pytest.mark.parametrize("value", [-0.1, 1.0, "0.2"])
def test_plateau_stop_must_be_a_fraction(value):
    with pytest.raises(ConfigError, match=r"train.plateau_stop = .*a number in \[0, 1\)"):
        TrainSettings(dataset=None, generator=None, discriminator=None, plateau_stop=value)


def test_a_log_file_shows_the_losses_and_every_evaluation(tmp_path, capsys):
    """With ``train.progress = False`` (a run writing to a log file) the losses and the rate
    come as a line every ``train.log_every`` steps, and every evaluation as a line naming the
    best so far; the numbers are the ones the run records."""
    run = tmp_path / "logged"
    assert main(_args(run, "train.steps = 6", "train.log_every = 3")) == 0
    lines = capsys.readouterr().out.splitlines()
    for step in (3, 6):
        (logged,) = [line for line in lines if line.startswith(f"step {step}/6: ")]
        assert all(key in logged for key in ("d_loss", "g_loss", "img/s")), logged
    evaluations = [line for line in lines if line.startswith("evaluation at step ")]
    history = _history(run)
    assert len(evaluations) == len(history) == 3
    best = None
    for line, metrics in zip(evaluations, history, strict=True):
        assert line.startswith(f"evaluation at step {metrics['step']}: fid {metrics['fid']:.4g}")
        if best is None or metrics["fid"] < best["fid"]:
            best = metrics
            assert line.endswith("(the best)"), line
        else:
            assert line.endswith(f"(the best: step {best['step']}, fid {best['fid']:.4g})"), line
