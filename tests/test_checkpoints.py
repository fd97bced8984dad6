"""Checkpoints of a real (tiny) run: a damaged newest checkpoint is named, moved aside and the
previous one restored; with none left, one error naming the file; a learning rate changed on
resume is applied to the restored optimizers; ``keep_checkpoints`` keeps exactly the newest ones
and resume continues from the newest; a save interrupted by a failing write (a full disk) leaves
the previous checkpoint as the one to resume from."""

import errno
import io
import os
import pathlib
import shutil
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

import registry
import zoo
from zoo.errors import OutputWriteError
from zoo.training import TrainResult, checkpoints, train
from zoo.training.step import GANTrainer

WIDTH = 0.0625


def _bindings(out: Path, **extra: str) -> list[str]:
    """A 4-step run of a narrow SNDCGAN on 32 synthetic images, checkpoints at steps 2 and 4."""
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
        **extra,
    }
    return [f"{k} = {v}" for k, v in bindings.items()]


def _train(out: Path, **extra: str) -> TrainResult:
    """Train the run of :func:`_bindings` (one thread: tiny models on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        zoo.parse(bindings=_bindings(out, **extra))
        return train()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 4-step run with checkpoints at steps 2 and 4 (uninterrupted: the reference)."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    _train(out)
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


def _step_counter(monkeypatch) -> list[int]:
    """Count the generator steps trained from now on (the real step still runs)."""
    calls, real_step = [], GANTrainer.step

    def counted(self, batches):
        calls.append(1)
        return real_step(self, batches)

    monkeypatch.setattr(GANTrainer, "step", counted)
    return calls


def _assert_same_weights(checkpoint: Path, reference: Path) -> None:
    """G's and D's weights (``model.safetensors``, ``model_1.safetensors``) bitwise equal."""
    for name, role in (("model.safetensors", "G"), ("model_1.safetensors", "D")):
        got = checkpoints.load_file(checkpoint / name)
        want = checkpoints.load_file(reference / name)
        assert got.keys() == want.keys()
        for key in want:
            torch.testing.assert_close(
                got[key], want[key], rtol=0, atol=0, msg=f"{role}.{key}: not the uninterrupted run"
            )


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_keep_checkpoints_leaves_the_newest_and_resume_uses_the_newest(
    run, tmp_path, monkeypatch, capsys
):
    """``train.keep_checkpoints = 2`` with a checkpoint every step: after 3 steps exactly
    step_2 and step_3 are left (nothing half-written either); a rerun asking for 4 steps
    resumes from step_3, trains one step, and ends where the uninterrupted run ends."""
    out = tmp_path / "run"
    every_step = {"train.checkpoint_every": "1", "train.keep_checkpoints": "2"}
    _train(out, **every_step, **{"train.steps": "3"})
    assert _names(out / "checkpoints") == ["step_00000002", "step_00000003"], (
        "keep_checkpoints = 2 must leave exactly the newest two"
    )

    steps = _step_counter(monkeypatch)
    capsys.readouterr()
    _train(out, **every_step)
    assert f"Resuming from {out / 'checkpoints' / 'step_00000003'} at step 3." in (
        capsys.readouterr().out
    )
    assert len(steps) == 1, f"resumed at step 3 of 4 but trained {len(steps)} steps"
    assert _names(out / "checkpoints") == ["step_00000003", "step_00000004"]
    newest = out / "checkpoints" / "step_00000004"
    _assert_same_weights(newest, run / "checkpoints" / "step_00000004")


def _full_disk(path: os.PathLike) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _fail_writes_of_the_step_4_save(monkeypatch, which: str) -> list[list[str]]:
    """Make the save of step 4 stop part-way like a full disk: the first half of one file's
    bytes is written, then ``OSError(ENOSPC)``. ``which``: the optimizer state (written by
    Accelerate with ``torch.save``, after the weights) or the trainer state (the last file).
    Returns a list that gets the partial folder's file names at the moment of failure."""
    failing_dir = ".partial_step_00000004"
    seen: list[list[str]] = []
    if which == "optimizer":
        real_save = torch.save

        def save(obj, f, *args, **kwargs):
            path = Path(f) if isinstance(f, str | os.PathLike) else None
            if path is None or path.parent.name != failing_dir or path.suffix != ".bin":
                return real_save(obj, f, *args, **kwargs)
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            seen.append(sorted(p.name for p in path.parent.iterdir()))
            raise _full_disk(path)

        monkeypatch.setattr(torch, "save", save)
    else:
        real_write_text = pathlib.Path.write_text

        def write_text(self, data, *args, **kwargs):
            if self.parent.name != failing_dir or self.name != checkpoints.STATE_FILE:
                return real_write_text(self, data, *args, **kwargs)
            real_write_text(self, data[: len(data) // 2], *args, **kwargs)
            seen.append(sorted(p.name for p in self.parent.iterdir()))
            raise _full_disk(self)

        monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    return seen


@pytest.mark.parametrize("which", ["optimizer", "trainer_state"])
def test_interrupted_save_keeps_the_previous_checkpoint_and_resumes_from_it(
    run, tmp_path, monkeypatch, capsys, which
):
    """A save that fails part-way (disk full while writing one file) stops the run with one
    error naming the intact checkpoint; the half folder is removed (never a checkpoint: not
    listed, not restored, not moved aside as damaged), the step-2 checkpoint stays intact, and
    the same command resumes from step 2 and ends exactly where the uninterrupted run ends."""
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        seen = _fail_writes_of_the_step_4_save(patch, which)
        with pytest.raises(OutputWriteError, match="No space left on device") as raised:
            _train(out)
    directory = out / "checkpoints"
    assert seen and "model.safetensors" in seen[0], "the save did not get part-way"
    message = str(raised.value)
    assert f"could not write {directory / 'step_00000004'}" in message
    assert f"The newest complete checkpoint, {directory / 'step_00000002'}, is intact" in message
    assert "the write needs about" in message and "free there" in message
    assert not (directory / ".partial_step_00000004").exists(), "the partial save was left"
    assert [p.name for p in checkpoints.list_checkpoints(directory)] == ["step_00000002"], (
        "a half-written save is listed as a checkpoint"
    )
    assert checkpoints.find_damage(directory / "step_00000002") is None
    _assert_same_weights(directory / "step_00000002", run / "checkpoints" / "step_00000002")

    steps = _step_counter(monkeypatch)
    capsys.readouterr()
    _train(out)  # the same command again
    printed = capsys.readouterr().out
    assert f"Resuming from {directory / 'step_00000002'} at step 2." in printed, printed
    assert "damaged" not in printed, "the half-written save was taken for a checkpoint"
    assert len(steps) == 2, f"resumed at step 2 of 4 but trained {len(steps)} steps"
    assert _names(directory) == ["step_00000002", "step_00000004"], (
        "the half folder should be replaced by the complete step-4 checkpoint, nothing else"
    )
    _assert_same_weights(directory / "step_00000004", run / "checkpoints" / "step_00000004")
