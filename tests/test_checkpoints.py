"""Checkpoints of a real (tiny) run: a damaged newest checkpoint is named, moved aside and the
previous one restored; with none left, one error naming the file; a learning rate changed on
resume is applied to the restored optimizers."""

import shutil
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

import registry
import zoo
from zoo.training import checkpoints, train

WIDTH = 0.0625


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 4-step run with checkpoints at steps 2 and 4."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    bindings = {
        "train.dataset": "@dataset.synthetic",
        "dataset.synthetic.num_samples": "32",
        "train.generator": "@generator.sndcgan32",
        "train.discriminator": "@discriminator.sndcgan32",
        "generator.sndcgan32.width": str(WIDTH),
        "discriminator.sndcgan32.width": str(WIDTH),
        "train.steps": "4",
        "train.batch_size": "8",
        "train.checkpoint_every": "2",
        "train.eval_metrics": "[]",
        "train.tracker": "None",
        "train.progress": "False",
        "train.output_dir": f"'{out}'",
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        zoo.parse(bindings=[f"{k} = {v}" for k, v in bindings.items()])
        train()
    finally:
        torch.set_num_threads(threads)
    return out


def _prepared(lr: float = 2e-4):
    """An accelerator with fresh G, D and Adam optimizers shaped like the run's."""
    accelerator = Accelerator(cpu=True)
    G = registry.create("generator", "sndcgan32", width=WIDTH, channels=3)
    D = registry.create("discriminator", "sndcgan32", width=WIDTH, channels=3)
    opts = [torch.optim.Adam(m.parameters(), lr=lr, betas=(0.5, 0.999)) for m in (G, D)]
    G, D, opt_g, opt_d = accelerator.prepare(G, D, *opts)
    return accelerator, G, (opt_g, opt_d)


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run / "checkpoints", tmp_path / "checkpoints"))


def test_intact_checkpoint_restores_the_newest(run, tmp_path):
    directory = _copy(run, tmp_path)
    accelerator, G, _ = _prepared()
    path, state = checkpoints.restore_latest(accelerator, directory)
    assert path.name == "step_00000004" and state["step"] == 4
    saved = checkpoints.load_file(directory / "step_00000004" / "model.safetensors")
    for key, value in accelerator.unwrap_model(G).state_dict().items():
        torch.testing.assert_close(value, saved[key], rtol=0, atol=0)
    assert checkpoints.restore_latest(accelerator, tmp_path / "none") == (None, None)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_newest_checkpoint_is_moved_aside(run, tmp_path, capsys, damage):
    directory = _copy(run, tmp_path)
    weights = directory / "step_00000004" / "model.safetensors"
    data = weights.read_bytes()
    damaged = data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 64 + data[512:]
    weights.write_bytes(damaged)
    accelerator, _, _ = _prepared()
    path, state = checkpoints.restore_latest(accelerator, directory)
    assert path.name == "step_00000002" and state["step"] == 2
    printed = capsys.readouterr().out
    assert f"{weights} is corrupt or truncated" in printed
    assert "corrupt_step_00000004" in printed and "step_00000002" in printed
    aside = directory / "corrupt_step_00000004" / "model.safetensors"
    assert aside.read_bytes() == damaged  # kept as it was, not deleted
    assert [p.name for p in checkpoints.list_checkpoints(directory)] == ["step_00000002"]


def test_no_good_checkpoint_left_is_one_error_naming_the_file(run, tmp_path):
    directory = _copy(run, tmp_path)
    for step in ("step_00000002", "step_00000004"):
        (directory / step / "optimizer_1.bin").write_bytes(b"not a pickle")
    accelerator, _, _ = _prepared()
    with pytest.raises(zoo.CheckpointError) as info:
        checkpoints.restore_latest(accelerator, directory)
    message = str(info.value)
    assert "\n" not in message
    assert str(directory / "step_00000002" / "optimizer_1.bin") in message
    assert "no complete earlier checkpoint" in message
    assert sorted(p.name for p in directory.iterdir()) == [
        "corrupt_step_00000002",
        "corrupt_step_00000004",
    ]


def test_learning_rate_changed_on_resume_is_applied(run, tmp_path):
    directory = _copy(run, tmp_path)
    accelerator, _, optimizers = _prepared(lr=1e-5)
    checkpoints.restore_latest(accelerator, directory)
    assert {g["lr"] for o in optimizers for g in o.param_groups} == {2e-4}  # the saved one
    assert checkpoints.apply_learning_rate(optimizers, 1e-5) == 2e-4
    assert {g["lr"] for o in optimizers for g in o.param_groups} == {1e-5}
    assert checkpoints.apply_learning_rate(optimizers, 1e-5) is None
