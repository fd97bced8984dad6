"""The run's record, RUN/status.json (zoo/training/record.py): what a finished run states about
itself, and what a training killed outright (kill -9) leaves for the next session to add to.
(Stopped and failed runs: tests/test_stopping.py, tests/test_trainer.py; a study reading the
records: tests/test_study_runner.py.)"""

from __future__ import annotations

import shlex
import socket
import sys
import time

from trainer_process import start_training, train_here, wait_for

from zoo.training.precision import cpu_name
from zoo.training.record import code_version, read_record


def test_a_finished_run_records_how_it_ran(tmp_path):
    out = tmp_path / "run"
    assert read_record(out) is None
    assert train_here(out, 2) == 0
    record = read_record(out)
    assert (record["status"], record["step"], record["steps"]) == ("finished", 2, 2)
    assert (record["precision"], record["error"]) == ("no", None)
    assert 0 < record["elapsed_s"] < 600 and record["started"] <= record["updated"]
    (session,) = record["sessions"]
    assert session == {
        "code": code_version(),
        "host": socket.gethostname(),
        "cpu": cpu_name(),
        "command": shlex.join(["python", *sys.orig_argv[1:]]),  # this process's (pytest's)
        "started": record["started"],
        "device": "cpu",
        "precision": "no",
        "from_step": 0,
    }


def test_a_killed_training_leaves_its_step_and_time_and_the_resume_adds_to_them(tmp_path):
    """kill -9 gives the trainer no chance to write: the record says running, at the last
    step it logged or checkpointed, with the time until then; the resumed session adds its
    own time to it and finishes the record."""
    out = tmp_path / "run"
    process = start_training(out)
    wait_for(out / "checkpoints" / "step_00000004", process)
    deadline = time.monotonic() + 60
    while (read_record(out) or {}).get("step", 0) < 4:  # written right after the checkpoint
        assert time.monotonic() < deadline and process.poll() is None, "no record of step 4"
        time.sleep(0.02)
    process.kill()
    process.communicate(timeout=60)
    killed = read_record(out)
    assert killed["status"] == "running" and killed["step"] >= 4 and killed["elapsed_s"] > 0
    assert train_here(out, killed["step"] + 2) == 0
    record = read_record(out)
    assert (record["status"], record["step"]) == ("finished", killed["step"] + 2)
    assert len(record["sessions"]) == 2 and record["elapsed_s"] > killed["elapsed_s"]
