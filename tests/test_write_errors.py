"""A write that fails (a full disk, a read-only or vanished folder) is one line: what could not
be written and why, the space it needed, what to do and what is intact; the partial files are
removed and the exit code is 1. For the trainer (checkpoint, sample grid, model folder, log),
the study runner and scripts/sample.py."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from trainer_process import tiny_study, train_here

import registry
import zoo
from zoo.cli import sample as sample_cli
from zoo.cli import study as study_cli
from zoo.errors import OutputWriteError
from zoo.training import checkpoints
from zoo.writing import atomic_path, guarded_write


def _error(number: int, path: Path | str = "x") -> OSError:
    return OSError(number, os.strerror(number), str(path))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("number", "advice"),
    [
        (errno.ENOSPC, "free space there, or write to a disk with room (--output)"),
        (errno.EROFS, "the file system is read-only: write to another folder (--output)"),
        (errno.ENOENT, "the folder vanished (deleted or unmounted) while writing: restore it"),
    ],
)
def test_a_failed_write_names_the_target_the_space_and_the_fix(tmp_path, number, advice):
    target, partial = tmp_path / "grid.png", tmp_path / ".partial_grid.png"
    with pytest.raises(OutputWriteError) as raised, guarded_write(target, partial, lambda: 5e6):
        partial.write_bytes(b"half a file")
        raise _error(number, partial)
    message = str(raised.value)
    assert message.startswith(f"could not write {target}: {os.strerror(number)}")
    assert f"What to do: {advice}." in message
    assert ("needs about 5.0 MB" in message and "free there" in message) == (number == errno.ENOSPC)
    assert not partial.exists(), "the partial file was left"


def test_an_interrupted_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("complete\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as partial:
        partial.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "complete\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def _fail_on(monkeypatch, owner, name: str, number: int, when=lambda *a, **k: True) -> list:
    """Make ``owner.name`` raise ``OSError(number)`` when ``when(*args)``; returns the calls
    that failed."""
    real, failed = getattr(owner, name), []

    def failing(*args, **kwargs):
        if when(*args, **kwargs):
            failed.append(args)
            raise _error(number)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)
    return failed


@pytest.mark.parametrize(
    ("what", "number"),
    [("sample grid", errno.ENOSPC), ("model folder", errno.EROFS), ("log", errno.ENOENT)],
)
def test_a_training_write_error_is_one_line_and_leaves_the_checkpoint(
    tmp_path, monkeypatch, capsys, what, number
):
    """Steps 1-2 train and checkpoint; the write at step 4 fails. The error is one line, the
    step-2 checkpoint is intact and no partial file is left."""
    import torchvision.utils

    out = tmp_path / "run"
    if what == "sample grid":
        target = out / "samples" / "step_00000004.png"
        failed = _fail_on(monkeypatch, torchvision.utils, "save_image", number)
        extra = ["train.sample_every = 4"]
    elif what == "model folder":
        target = out / "final"
        failed = _fail_on(monkeypatch, zoo.model_folder, "save_file", number)
        extra = []
    else:
        from accelerate import Accelerator

        target = out / "logs"
        failed = _fail_on(monkeypatch, Accelerator, "log", number, lambda *a, step: step == 4)
        extra = ["train.tracker = 'tensorboard'", "train.log_every = 2"]
    assert train_here(out, 4, *extra) == 1
    err = _one_error_line(capsys)
    assert failed, f"the {what} was not written"
    assert err.startswith(f"error: could not write {target}: {os.strerror(number)}"), err
    assert checkpoints.find_damage(out / "checkpoints" / "step_00000002") is None
    assert not [p for p in out.rglob(".partial_*")], "partial files were left"


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def test_a_real_full_disk_at_a_checkpoint(tmp_path, capsys):
    """On a 1.5 MB file system the step-2 checkpoint (about 0.93 MB) fits and the step-4 one
    does not: one line naming the size and the intact checkpoint; the same command on a disk
    with room resumes from step 2."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1500k"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        out = disk / "run"
        assert train_here(out, 4, "train.sample_every = 100") == 1
        err = _one_error_line(capsys)
        directory = out / "checkpoints"
        assert err.startswith(
            f"error: could not write {directory / 'step_00000004'}: No space left on device "
            f"(the write needs about "
        ), err
        assert "kB free there); the partial files were removed." in err
        assert f"The newest complete checkpoint, {directory / 'step_00000002'}, is intact" in err
        assert sorted(p.name for p in directory.iterdir()) == ["step_00000002"]
        assert checkpoints.find_damage(directory / "step_00000002") is None
        (disk / "room").mkdir()
        moved = disk.parent / "moved"
        subprocess.run(["cp", "-a", str(out), str(moved)], check=True)
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)
    capsys.readouterr()
    assert train_here(moved, 4, "train.sample_every = 100") == 0
    assert f"Resuming from {moved / 'checkpoints' / 'step_00000002'}" in capsys.readouterr().out


def test_a_study_that_cannot_write_its_table_is_one_line(tmp_path, monkeypatch, capsys):
    gin_file = tiny_study(tmp_path, 2)
    output = tmp_path / "study"

    def results_table(self, target):
        return Path(target).name == "results.csv"

    _fail_on(monkeypatch, Path, "replace", errno.ENOSPC, results_table)
    args = ["run", "--gin", str(gin_file), "--output", str(output), "--launcher", "inprocess"]
    assert study_cli.main(args) == 1
    err = _one_error_line(capsys)
    assert err.startswith(f"error: could not write {output / 'results.csv'}: No space left"), err
    assert not list(output.glob(".partial_*"))


def test_sample_script_write_error_is_one_line(tmp_path, monkeypatch, capsys):
    G = registry.create("generator", "sndcgan32", width=0.0625, channels=1)
    model = zoo.save_pretrained(G.eval(), tmp_path / "model", name="tiny")
    _fail_on(monkeypatch, np, "savez", errno.ENOSPC)
    out = tmp_path / "samples.npz"
    assert sample_cli.main([str(model), "--num", "8", "--out", str(out), "--no-progress"]) == 1
    err = _one_error_line(capsys)
    assert err.startswith(f"error: could not write {out}: No space left on device"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
