"""One writer per run or study folder: a second training into a folder in use is refused with
one line naming the holder and leaves the first alone; a lock left by a killed process is
taken over, saying whose it was. (A study folder's runner: tests/test_study_runner.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from trainer_process import ROOT, start_training, train_here, wait_for

from zoo.errors import FolderLockedError
from zoo.folder_lock import HOLDER_FILE, FolderLock
from zoo.training import checkpoints
from zoo.training.record import read_record


@pytest.mark.slow
def test_a_second_trainer_is_refused_and_the_first_goes_on(tmp_path, capsys):
    out = tmp_path / "run"
    first = start_training(out)
    try:
        wait_for(out / "checkpoints" / "step_00000002", first)
        config = (out / "config.gin").read_text()
        capsys.readouterr()
        assert train_here(out, 100_000) == 1
        assert len(read_record(out)["sessions"]) == 1  # the refused one left the record alone
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith(f"error: {out} is being written by PID ")
        assert f"PID {first.pid} on " in err and "-m zoo.cli.train" in err
        assert f"kill -TERM {first.pid}" in err and "--output" in err
        assert (out / "config.gin").read_text() == config
        newest = checkpoints.latest(out / "checkpoints")
        wait_for(newest.with_name(f"step_{int(newest.name[5:]) + 2:08d}"), first)  # goes on
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 143
    assert not (out / HOLDER_FILE).exists()  # released: the next run starts without a note


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from zoo.folder_lock import FolderLock; "
         "lock = FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(600)",
         str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(FolderLockedError, match=f"PID {holder.pid} on"):
        FolderLock(out).acquire()
    holder.kill()  # kill -9: no chance to release
    holder.wait()
    assert json.loads((out / HOLDER_FILE).read_text())["pid"] == holder.pid  # left behind
    assert train_here(out, 2) == 0
    printed = capsys.readouterr().out
    assert f"note: took over the lock of {out} from PID {holder.pid} on " in printed, printed
    assert "no longer running" in printed
    assert not (out / HOLDER_FILE).exists()
