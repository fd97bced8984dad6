"""Ctrl-C (SIGINT) and SIGTERM stop a training gracefully: the step finishes, a checkpoint is
written, the exit code is 130 / 143 with one line naming the step, the checkpoint and the
command that resumes, and the resumed run continues bit for bit. A second signal stops at once
and leaves no half-written checkpoint."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from trainer_process import ROOT, start_training, tiny_study, train_here, wait_for

from zoo.training import checkpoints
from zoo.training.record import read_record

pytestmark = pytest.mark.slow


def _assert_same_weights(a: Path, b: Path) -> None:
    for name in ("model.safetensors", "model_1.safetensors"):  # G, D
        got, want = load_file(a / name), load_file(b / name)
        assert got.keys() == want.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=f"{name} {key}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_after_the_step_with_a_checkpoint_and_resumes_bitwise(
    tmp_path, capsys, signum
):
    out = tmp_path / "run"
    process = start_training(out)
    wait_for(out / "checkpoints" / "step_00000002", process)
    os.kill(process.pid, signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    found = re.fullmatch(
        rf"stopped by {name} at step (\d+) of 100000: checkpoint (\S+) written\. "
        rf"Resume with the same command: (.+)",
        last,
    )
    assert found, last
    step, checkpoint = int(found[1]), Path(found[2])
    assert "-m zoo.cli.train" in found[3] and f"--output {out}" in found[3]
    assert checkpoint == out / "checkpoints" / f"step_{step:08d}"
    assert checkpoints.latest(out / "checkpoints") == checkpoint
    assert checkpoints.find_damage(checkpoint) is None
    assert not list((out / "checkpoints").glob(".partial_*"))
    stopped = read_record(out)  # the run's record says so
    assert (stopped["status"], stopped["step"], stopped["steps"]) == ("stopped", step, 100_000)

    capsys.readouterr()
    assert train_here(out, step + 2) == 0  # the same run, two steps further
    assert f"Resuming from {checkpoint} at step {step}." in capsys.readouterr().out
    record = read_record(out)
    assert (record["status"], record["step"], record["error"]) == ("finished", step + 2, None)
    assert [session["from_step"] for session in record["sessions"]] == [0, step]
    assert record["elapsed_s"] > stopped["elapsed_s"] > 0  # the sessions' wall time adds up
    assert train_here(tmp_path / "reference", step + 2) == 0  # never interrupted
    last_step = f"step_{step + 2:08d}"
    _assert_same_weights(
        out / "checkpoints" / last_step, tmp_path / "reference" / "checkpoints" / last_step
    )


def test_a_second_signal_stops_at_once_and_leaves_no_half_written_checkpoint(
    tmp_path, monkeypatch, capsys
):
    """Both signals arrive while the step-4 checkpoint is being written (its files are in
    the partial folder): the run stops there, the partial folder goes, step 2 is the newest
    complete checkpoint and the same command resumes from it."""
    out, real_save = tmp_path / "run", Accelerator.save_state
    written = []

    def save_then_signalled_twice(self, output_dir=None, **kwargs):
        real_save(self, output_dir, **kwargs)
        if Path(output_dir).name == ".partial_step_00000004":
            written.extend(sorted(p.name for p in Path(output_dir).iterdir()))
            os.kill(os.getpid(), signal.SIGINT)  # the first: stop after this step
            os.kill(os.getpid(), signal.SIGINT)  # the second: stop now

    monkeypatch.setattr(Accelerator, "save_state", save_then_signalled_twice)
    assert train_here(out, 6) == 130
    assert "model.safetensors" in written, "the signals did not come mid-checkpoint"
    err = capsys.readouterr().err.strip().splitlines()
    directory = out / "checkpoints"
    assert err[-1].startswith(
        f"stopped at once by a second SIGINT; no half-written checkpoint is left: the newest "
        f"complete one is {directory / 'step_00000002'}. Resume with the same command: "
    ), err
    assert sorted(p.name for p in directory.iterdir()) == ["step_00000002"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    record = read_record(out)  # stopped at the newest step it recorded: the checkpoint's
    assert (record["status"], record["step"]) == ("stopped", 2)

    monkeypatch.setattr(Accelerator, "save_state", real_save)
    capsys.readouterr()
    assert train_here(out, 6) == 0
    assert f"Resuming from {directory / 'step_00000002'} at step 2." in capsys.readouterr().out


def test_a_signal_to_one_process_stops_every_process_at_the_same_step(tmp_path, run_two_processes):
    """Under torchrun, SIGTERM reaching rank 1 alone during step 2: both ranks stop after
    step 2 with the one checkpoint step 2; rank 0 held the folder's lock for both."""
    run_two_processes(Path(__file__).with_name("multiprocess_stop.py"), tmp_path)
    checkpoint = tmp_path / "run" / "checkpoints" / "step_00000002"
    for rank in (0, 1):
        assert (tmp_path / f"stopped_rank{rank}.txt").read_text() == (
            f"stopped by SIGTERM at step 2 of 1000: checkpoint {checkpoint} written."
        )
    assert checkpoints.latest(tmp_path / "run" / "checkpoints") == checkpoint
    assert checkpoints.find_damage(checkpoint) is None
    holders = [(tmp_path / f"holder_rank{rank}.txt").read_text() for rank in (0, 1)]
    assert holders[0] == holders[1]


def test_ctrl_c_to_a_study_stops_its_training_with_a_checkpoint(tmp_path):
    """The study forwards SIGINT to its training (in a session of its own), which saves a
    checkpoint and stops; the study exits 130 and the run stays unfinished, to resume."""
    output = tmp_path / "study"
    study = subprocess.Popen(
        [sys.executable, "-m", "zoo.cli.study", "run", "--gin", str(tiny_study(tmp_path, 100_000)),
         "--output", str(output)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    run_dir = output / "runs" / "norm=bn,seed=0"
    wait_for(run_dir / "checkpoints" / "step_00000002", study)
    study.send_signal(signal.SIGINT)
    _, err = study.communicate(timeout=120)
    assert study.returncode == 130, err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("error: norm=bn,seed=0 was stopped by SIGINT; it stays unfinished")
    ), err
    log = (run_dir / "train.log").read_text()
    step = int(re.search(r"stopped by SIGINT at step (\d+) of 100000", log)[1])
    assert checkpoints.latest(run_dir / "checkpoints").name == f"step_{step:08d}"
    record = read_record(run_dir)  # unfinished, not failed
    assert (record["status"], record["step"]) == ("stopped", step)
