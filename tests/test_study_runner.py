"""The study runner: resumable from the trainer's records (finished runs skipped, unfinished
ones resumed, a killed training stops the study), the trainer's refusal of a changed config
as a study error, several runs at once, each run's commit recorded, one precision per study,
and a tiny study trained for real."""

import csv
import json
import math
import os
import re
import threading
import time
from pathlib import Path

import pytest
import torch

import zoo
from zoo.config import GIN_DIR
from zoo.errors import FolderLockedError
from zoo.folder_lock import FolderLock
from zoo.study import Grid, GridError, StudyError, load_grid, run_study, write_report
from zoo.study.executors import InProcessExecutor, SubprocessExecutor
from zoo.study.load import load
from zoo.study.results import run_state
from zoo.study.spec import report_spec
from zoo.training import TrainingDiverged
from zoo.training.record import RunRecord, code_version, read_record


def _tiny_grid(*bindings: str) -> Grid:
    return Grid.from_spec(
        axes={"norm": {"bn": "norms/bn.gin", "sbn": "norms/sbn.gin"}},
        seeds=[0, 1],
        base=["base/paper.gin", "models/sndcgan32.gin", "losses/hinge.gin", "penalties/sn.gin"],
        bindings=["train.dataset = @dataset.synthetic", *bindings],
    )


def _precision(run) -> str:
    """The train.mixed_precision the study bound for ``run`` (its last binding of it)."""
    bound = [b for b in run.bindings if b.startswith("train.mixed_precision")]
    return bound[-1].split("=")[1].strip().strip("'")


def _fake_trained(run_dir: Path, fid: float, precision: str = "no") -> None:
    """What a finished training leaves: its record (the trainer's own writer), best/, final/."""
    with RunRecord(run_dir, steps=10) as record:
        record.begin(0, precision, torch.device("cpu"))
        for name, metrics in (("best", {"fid": fid, "step": 5}), ("final", {"step": 10})):
            (run_dir / name).mkdir(parents=True, exist_ok=True)
            (run_dir / name / "config.json").write_text(json.dumps({"metrics": metrics}))


def _killed(run_dir: Path) -> None:
    """What a training killed outright (kill -9) leaves: a record that says running."""
    RunRecord(run_dir, steps=10).__enter__()


class FakeTrainer:
    """Stands in for the train command: keeps the runs it was asked to train and writes what
    the trainer writes (its record through :class:`RunRecord`); ``fail`` diverges."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[str] = []
        self.precision: dict[str, str] = {}
        self.fail = fail

    def __call__(self, run, run_dir: Path) -> int:
        self.calls.append(run.id)
        self.precision[run.id] = _precision(run)
        if run.id == self.fail:
            with pytest.raises(TrainingDiverged), RunRecord(run_dir, steps=10):
                raise TrainingDiverged("Loss is not finite at step 3")
            return 1
        _fake_trained(run_dir, fid=10.0 + len(self.calls), precision=self.precision[run.id])
        return 0


def test_resume_skips_finished_runs_and_reruns_unfinished_ones(tmp_path):
    grid = _tiny_grid()
    done, old_done, old_unfinished, new = grid.expand()  # bn/0, sbn/0, bn/1, sbn/1
    runs = tmp_path / "runs"
    _fake_trained(runs / done.id, fid=1.0)
    _fake_trained(runs / old_done.id, fid=2.0)
    _killed(runs / old_unfinished.id)  # killed mid-training
    checkpoint = runs / old_unfinished.id / "checkpoints" / "step_00000005"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")  # complete: the trainer resumes here
    (checkpoint.parent / "step_00000009").mkdir()  # no state file: not a complete checkpoint

    said: list[str] = []
    listed = run_study(grid, tmp_path, FakeTrainer(), dry_run=True, echo=said.append)
    assert f"unfinished  {old_unfinished.id}  (resumes from step 5)" in "\n".join(said)
    assert len(listed) == 3  # the three started runs, nothing trained

    fake = FakeTrainer(fail=new.id)
    said.clear()
    table = run_study(grid, tmp_path, fake, echo=said.append)
    assert f"{old_unfinished.id}: resuming from step 5" in "\n".join(said)
    assert f"{new.id}: starting" in "\n".join(said)
    assert f"{new.id}: failed in" in "\n".join(said) and "not finite" in "\n".join(said)
    assert fake.calls == [old_unfinished.id, new.id]
    assert list(table["id"]) == [done.id, old_done.id, old_unfinished.id, new.id]
    assert list(table["status"]) == ["done", "done", "done", "failed"]
    assert table["fid"].tolist()[:3] == [1.0, 2.0, 11.0] and math.isnan(table["fid"].iloc[3])
    assert table.loc[2, "commit"] == code_version()  # the killed session's and the resumed one's
    assert table.loc[3, "error"] == "TrainingDiverged: Loss is not finite at step 3"
    with (tmp_path / "results.csv").open() as file:
        written = list(csv.DictReader(file))
    assert [(r["best_step"], r["steps"]) for r in written] == [("5", "10")] * 3 + [("", "")]

    again = FakeTrainer()
    run_study(grid, tmp_path, again, echo=lambda _: None)
    assert again.calls == []  # finished and failed runs are skipped
    run_study(grid, tmp_path, again, retry_failed=True, echo=lambda _: None)
    assert again.calls == [new.id]

    dry = FakeTrainer()
    (tmp_path / "other").mkdir()
    run_study(grid, tmp_path / "other", dry, dry_run=True, echo=lambda _: None)
    assert dry.calls == [] and not (tmp_path / "other" / "runs").exists()


def test_a_killed_training_stops_the_study_and_stays_unfinished(tmp_path):
    grid = _tiny_grid()
    first = grid.expand()[0]

    def killed(run, run_dir):
        _killed(run_dir)
        return -9

    with pytest.raises(StudyError, match="stopped by SIGKILL"):
        run_study(grid, tmp_path, killed, echo=lambda _: None)
    assert run_state(tmp_path / "runs" / first.id) == "unfinished"
    fake = FakeTrainer()
    run_study(grid, tmp_path, fake, echo=lambda _: None)
    assert fake.calls == [r.id for r in grid.expand()]


def test_a_changed_study_gin_is_the_trainers_refusal_before_any_training(tmp_path, capsys):
    """A run folder holds a config the changed grid no longer gives: the study stops before it
    trains anything (also when that run is finished), naming the run and the binding."""
    grid = _tiny_grid()
    run = grid.expand()[0]
    run_dir = tmp_path / "runs" / run.id
    _fake_trained(run_dir, fid=1.0)
    (run_dir / "config.gin").write_text(zoo.parse(run.resolved, run.bindings))
    changed = _tiny_grid("train.batch_size = 16")  # not a setting that may change on resume
    fake = FakeTrainer()
    with pytest.raises(StudyError, match=rf"run {re.escape(run.id)}: .* another config"):
        run_study(changed, tmp_path, fake, echo=lambda _: None)
    assert fake.calls == []

    from zoo.cli.study import main

    study = tmp_path / "changed.gin"
    study.write_text(
        f"study.grid.base = {list(grid.base)!r}\nstudy.grid.bindings = "
        f"{[*grid.bindings, 'train.batch_size = 16']!r}\nstudy.grid.axes = "
        '{"norm": {"bn": "norms/bn.gin", "sbn": "norms/sbn.gin"}}\nstudy.grid.seeds = [0, 1]\n'
    )
    assert main(["run", "--gin", str(study), "--output", str(tmp_path), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: run {run.id}: ") and "train.batch_size: 64 -> 16" in err

    said: list[str] = []  # a setting that may change on resume is applied, and said
    run_study(_tiny_grid("train.steps = 7"), tmp_path, fake, echo=said.append)
    assert f"note: {run.id} (done) was started with other settings: train.steps" in said[1]
    assert run.id not in fake.calls


def test_a_training_that_does_not_start_stops_the_study_with_its_error(tmp_path):
    """The trainer ends before its record starts (here: its folder is locked by another
    writer): that is the study's error, not a failed run."""
    grid = _tiny_grid()
    first = grid.expand()[0]
    refused = r"did not start \(exit code 1\): error: .* is being written"
    with FolderLock(tmp_path / "runs" / first.id), pytest.raises(StudyError, match=refused):
        run_study(grid, tmp_path, InProcessExecutor(), echo=lambda _: None)
    assert run_state(tmp_path / "runs" / first.id) == "new"


def test_tiny_study_trains_and_reports_end_to_end(tmp_path):
    """gin/study/tiny.gin for real (in process): 2 runs of 4 steps with FID, then a report."""
    grid = load_grid(GIN_DIR / "study" / "tiny.gin")
    table = run_study(grid, tmp_path, InProcessExecutor(), echo=lambda _: None)
    assert list(table["status"]) == ["done", "done"]
    assert table["fid"].notna().all() and (table["steps"] == 4).all()
    record = read_record(tmp_path / "runs" / table["id"][0])
    assert (record["status"], record["step"], record["precision"]) == ("finished", 4, "no")
    assert "done: 4 steps" in (tmp_path / "runs" / table["id"][0] / "train.log").read_text()
    report = write_report(load([tmp_path / "results.csv"]), tmp_path / "report")
    text = report.read_text()
    assert "sbn wins" in text and "Table 2" in text
    assert (tmp_path / "report" / "figure2a_distributions.png").stat().st_size > 0


def test_jobs_train_runs_at_the_same_time(tmp_path):
    grid = _tiny_grid()
    together = threading.Barrier(2, timeout=10)  # breaks unless two runs are in it at once
    fake = FakeTrainer()

    def paired(run, run_dir):
        together.wait()
        return fake(run, run_dir)

    table = run_study(grid, tmp_path, paired, jobs=2, echo=lambda _: None)
    assert sorted(fake.calls) == sorted(r.id for r in grid.expand())
    assert list(table["status"]) == ["done"] * 4
    assert list(table["id"]) == [r.id for r in grid.expand()]  # grid order, not finish order


def test_a_killed_run_stops_parallel_workers_from_starting_more(tmp_path):
    grid = _tiny_grid()
    first, second, *rest = grid.expand()
    calls, both_started = [], threading.Barrier(2, timeout=10)

    def first_killed(run, run_dir):
        calls.append(run.id)
        if run.id in (first.id, second.id):
            both_started.wait()
        if run.id == first.id:
            _killed(run_dir)
            return -15
        time.sleep(0.5)
        _fake_trained(run_dir, fid=1.0)
        return 0

    with pytest.raises(StudyError, match="stopped by SIGTERM"):
        run_study(grid, tmp_path, first_killed, jobs=2, echo=lambda _: None)
    assert sorted(calls) == sorted([first.id, second.id])  # no new run after the kill
    assert run_state(tmp_path / "runs" / first.id) == "unfinished"
    assert run_state(tmp_path / "runs" / second.id) == "done"
    assert all(run_state(tmp_path / "runs" / r.id) == "new" for r in rest)


def test_jobs_need_separate_processes_and_set_their_threads(tmp_path):
    with pytest.raises(ValueError, match="one run at a time"):
        run_study(_tiny_grid(), tmp_path, InProcessExecutor(), jobs=2, echo=lambda _: None)
    with pytest.raises(ValueError, match="at least 1"):
        run_study(_tiny_grid(), tmp_path, FakeTrainer(), jobs=0, echo=lambda _: None)
    env = SubprocessExecutor(threads=3).environment()
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert SubprocessExecutor().environment().get("OMP_NUM_THREADS") == os.environ.get(
        "OMP_NUM_THREADS"
    )


def test_runs_record_their_code_commit_and_it_is_no_setting(tmp_path):
    """Each run's record names the commit(s) that trained it; the results column is not a
    setting, so runs of one setting trained at two commits still pair."""
    table = run_study(_tiny_grid(), tmp_path, FakeTrainer(), echo=lambda _: None)
    assert set(table["commit"]) == {code_version()}
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?|unknown", code_version())
    table.loc[0, "commit"] = "another"
    spec = report_spec(table.drop(columns=["run_dir"], errors="ignore"))
    assert "commit" not in spec.settings and "norm" in spec.settings


def test_only_trains_part_of_the_grid_and_names_what_it_does_not_know(tmp_path):
    grid = _tiny_grid()  # norm bn/sbn x seeds 0, 1
    fake = FakeTrainer()
    said: list[str] = []
    run_study(grid, tmp_path, fake, only={"seed": ["1"]}, echo=said.append)
    assert fake.calls == ["norm=bn,seed=1", "norm=sbn,seed=1"]
    assert "(--only seed=1: 2 of 4)" in said[0]
    rows = json.loads((tmp_path / "study.json").read_text())["rows"]
    assert rows == [r.row() for r in grid.expand()]  # the whole grid's runs for the report

    run_study(grid, tmp_path, fake, only={"norm": ["sbn"], "seed": ["0", "1"]}, echo=said.append)
    assert fake.calls[2:] == ["norm=sbn,seed=0"]  # sbn/1 is done already

    for only, message in (
        ({"loss": ["ns"]}, r"the grid has no 'loss' \(it has norm, seed\)"),
        ({"norm": ["bn", "cbn"]}, r"norm=cbn: no such value \(the grid has bn, sbn\)"),
    ):
        with pytest.raises(GridError, match=message):
            run_study(grid, tmp_path, fake, only=only, echo=said.append)


def test_cli_only_filters(tmp_path, capsys):
    from zoo.cli.study import main

    tiny = str(GIN_DIR / "study" / "tiny.gin")
    args = ["run", "--gin", tiny, "--output", str(tmp_path), "--dry-run"]
    assert main([*args, "--only", "norm=sbn", "--only", "seed=0"]) == 0
    out = capsys.readouterr().out
    assert "new  norm=sbn,seed=0" in out and "norm=bn,seed=0" not in out
    assert main([*args, "--only", "norm"]) == 1
    assert "write KEY=VALUE[,VALUE...]" in capsys.readouterr().err


def test_auto_precision_is_one_choice_for_the_whole_study(tmp_path, monkeypatch):
    """'auto' resolves per machine; a study resumed on a machine that resolves it otherwise
    keeps the precision it started with, and a contradicting request stops it."""
    grid = _tiny_grid()
    first_half = {"seed": ["0"]}
    monkeypatch.setenv("SELFMOD_PRECISION", "no")  # machine 1: auto decides fp32
    one = FakeTrainer()
    run_study(grid, tmp_path, one, only=first_half, echo=lambda _: None)
    assert one.precision == {"norm=bn,seed=0": "no", "norm=sbn,seed=0": "no"}
    assert json.loads((tmp_path / "study.json").read_text())["auto_precision"] == "no"

    monkeypatch.setenv("SELFMOD_PRECISION", "bf16")  # machine 2: auto decides bf16
    two = FakeTrainer()
    table = run_study(grid, tmp_path, two, echo=lambda _: None)
    assert two.precision == {"norm=bn,seed=1": "no", "norm=sbn,seed=1": "no"}
    assert list(table["precision"]) == ["no"] * 4  # as the records state it

    with pytest.raises(StudyError, match=r"resolved train.mixed_precision = 'auto' to 'no'"):
        run_study(grid, tmp_path, FakeTrainer(), auto_precision="bf16", echo=lambda _: None)

    fresh = FakeTrainer()  # a new study on machine 2 resolves auto there, or as requested
    run_study(grid, tmp_path / "new", fresh, only=first_half, echo=lambda _: None)
    assert set(fresh.precision.values()) == {"bf16"}
    asked = FakeTrainer()
    run_study(grid, tmp_path / "asked", asked, auto_precision="no", echo=lambda _: None)
    assert set(asked.precision.values()) == {"no"}


def test_a_grid_that_varies_the_precision_keeps_its_explicit_settings(tmp_path, monkeypatch):
    """Like gin/study/speed_parity.gin: an explicit train.mixed_precision stays as bound; only
    'auto' runs follow the study's choice. The dry run shows each run's precision."""
    monkeypatch.setenv("SELFMOD_PRECISION", "bf16")  # auto decides bf16 here
    grid = Grid.from_spec(
        axes={"path": {"fp32": "train.mixed_precision = 'no'", "fast": None}},
        seeds=[0],
        base=[*_tiny_grid().base, "norms/sbn.gin"],
        bindings=["train.dataset = @dataset.synthetic"],
        method="path",
        baseline="fp32",
    )
    said: list[str] = []
    run_study(grid, tmp_path, SubprocessExecutor(), dry_run=True, echo=said.append)
    listing = "\n".join(said)
    assert "path=fp32,seed=0  [fp32]" in listing and "path=fast,seed=0  [bf16]" in listing
    assert listing.count("--bind \"train.mixed_precision = 'bf16'\"") == 1
    recorder = FakeTrainer()
    table = run_study(grid, tmp_path, recorder, echo=lambda _: None)
    assert recorder.precision == {"path=fp32,seed=0": "no", "path=fast,seed=0": "bf16"}
    assert list(table["precision"]) == ["no", "bf16"]


SUBPROCESS_STUDY = """
study.grid.name = "subprocess"
study.grid.base = ["base/paper.gin", "models/sndcgan32.gin", "norms/sbn.gin", "losses/hinge.gin",
                   "penalties/sn.gin"]
study.grid.bindings = [
    "train.dataset = @dataset.synthetic",
    "dataset.synthetic.num_samples = 16",
    "generator.sndcgan32.width = 0.0625",
    "discriminator.sndcgan32.width = 0.0625",
    "train.steps = 2",
    "train.batch_size = 8",
    "train.log_every = 1",
    "train.checkpoint_every = 1",
    "train.eval_metrics = []",
    "train.tracker = None",
    "train.progress = False",
]
study.grid.axes = {"data": {"ok": None, "broken": "dataset.synthetic.resolution = 64"}}
study.grid.seeds = [0]
study.grid.method = "data"
study.grid.baseline = "ok"
"""


def test_subprocess_executor_trains_a_real_run_and_records_a_failing_one(
    tmp_path, monkeypatch, capsys
):
    """``scripts/study.py run`` as a user runs it (the default subprocess launcher, two runs at
    once): one real 2-step training, ``python -m zoo.cli.train`` in its own process, finishes
    (its command and output in RUN/train.log, its record and results.csv say done); the other,
    whose data do not fit the generator (64x64 images for a 32x32 G), exits with code 1 and
    its record says failed with the error line, without stopping the study."""
    from zoo.cli.study import main

    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("PYTHONPATH", str(root))  # the training processes import this checkout
    study = tmp_path / "subprocess.gin"
    study.write_text(SUBPROCESS_STUDY)
    out = tmp_path / "study"
    argv = ["run", "--gin", str(study), "--output", str(out), "--jobs", "2", "--threads", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out

    ok, broken = out / "runs" / "data=ok,seed=0", out / "runs" / "data=broken,seed=0"
    log = (ok / "train.log").read_text()
    command = log.strip().splitlines()[0]
    assert command.startswith("$ ") and "-m zoo.cli.train" in command
    assert f"--output {ok}" in command and "--gin" in command
    assert "done: 2 steps" in log and str(ok) in log, log
    record = read_record(ok)
    assert (record["status"], record["step"], record["error"]) == ("finished", 2, None)
    assert (ok / "final" / "model.safetensors").is_file()
    assert sorted(p.name for p in (ok / "checkpoints").iterdir()) == [
        "step_00000001",
        "step_00000002",
    ]

    reason = "The generator makes 32x32 images but the dataset 'synthetic_s0_n16_k10' is 64x64"
    failed = read_record(broken)
    assert failed["status"] == "failed"
    assert failed["error"] == f"ValueError: {reason}: set the dataset's resolution or pick a 64 " \
        "architecture."  # fmt: skip
    assert f"error: {reason}" in (broken / "train.log").read_text()
    assert not (broken / "final").exists()
    assert "data=broken,seed=0: failed" in printed and reason in printed

    with (out / "results.csv").open() as file:
        rows = {row["id"]: row for row in csv.DictReader(file)}
    assert rows["data=ok,seed=0"]["status"] == "done" and rows["data=ok,seed=0"]["steps"] == "2"
    assert rows["data=broken,seed=0"]["status"] == "failed"
    assert reason in rows["data=broken,seed=0"]["error"]


def test_a_study_folder_has_one_runner(tmp_path):
    """A second ``study run`` into a folder in use stops before writing anything."""
    with FolderLock(tmp_path, "study"), pytest.raises(FolderLockedError, match="study folder"):
        run_study(_tiny_grid(), tmp_path, FakeTrainer(), echo=lambda _: None)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "study.json").exists()
