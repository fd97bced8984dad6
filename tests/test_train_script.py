"""scripts/train.py before training: settings that cannot train, an output that is a file, and a
rerun into an existing run with another config (refused, nothing touched) or with settings that
may change on resume (applied and recorded)."""

from pathlib import Path

import gin
import pytest

from zoo.cli.train import main
from zoo.training import preflight


def _args(out: Path, steps: int = 2, *extra: str) -> list[str]:
    bindings = [
        "train.dataset = @dataset.synthetic",
        "dataset.synthetic.num_samples = 16",
        "generator.sndcgan32.width = 0.0625",
        "discriminator.sndcgan32.width = 0.0625",
        "train.batch_size = 8",
        "train.eval_metrics = []",
        "train.tracker = None",
        "train.progress = False",
        f"train.steps = {steps}",
        *extra,
    ]
    return [a for b in bindings for a in ("--bind", b)] + ["--output", str(out)]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("steps", [-5, 0])
def test_steps_below_one_is_an_error(tmp_path, capsys, steps):
    assert main(_args(tmp_path / "run", steps)) == 1
    assert f"train.steps = {steps}" in _error(capsys)
    assert not (tmp_path / "run").exists()


def test_output_that_is_a_file_is_an_error(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    assert main(_args(tmp_path / "file")) == 1
    assert f"{tmp_path / 'file'} is a file" in _error(capsys)
    assert (tmp_path / "file").read_text() == "mine"


def test_resuming_past_train_steps_is_refused_untouched(tmp_path, capsys):
    """A run continued past its gin file's cap (--bind 'train.steps = N') resumed without that
    bind would end at once, its newer weights labelled with the old cap."""
    out = tmp_path / "run"
    assert main(_args(out, 4, "train.checkpoint_every = 2")) == 0
    capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(_args(out, 2, "train.checkpoint_every = 2")) == 1
    err = _error(capsys)
    assert "holds a run at step 4, past train.steps = 2" in err and "train.steps = N" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert main(_args(out, 6, "train.checkpoint_every = 2")) == 0  # a larger cap trains on


def test_rerun_with_another_config_is_refused_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(out)) == 0
    capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    changed = _args(out, 2, "NORM = @norm.bn", "train.seed = 3")  # the quickstart's norm macro
    assert main(changed) == 1
    err = _error(capsys)
    assert "NORM: @norm.sbn -> @norm.bn" in err
    assert "train.seed: 0 -> 3" in err
    assert f"--gin {out / 'config.gin'}" in err and "--output" in err
    assert "unreadable" not in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    # The run's own config.gin resumes it (more steps may be asked for).
    assert main(["--gin", str(out / "config.gin"), "--bind", "train.steps = 3"]) == 0
    assert (out / "checkpoints" / "step_00000003").is_dir()


def test_allowed_change_on_resume_is_applied_and_recorded(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(out)) == 0
    capsys.readouterr()
    assert main(_args(out, 3, "train.learning_rate = 1e-4", "train.log_every = 7")) == 0
    printed = capsys.readouterr().out
    assert "changed on resume: train.learning_rate: 0.0002 -> 0.0001" in printed
    config = (out / "config.gin").read_text()
    assert "train.learning_rate = 0.0001" in config and "train.steps = 3" in config
    record = [line for line in config.splitlines() if line.startswith(preflight.RESUME_RECORD)]
    assert record == [
        "# resumed at step 2: train.learning_rate: 0.0002 -> 0.0001; train.log_every: 25 -> 7; "
        "train.steps: 2 -> 3"
    ]


def test_changed_bindings_ignore_formatting_and_defaults():
    old = "# a comment\ntrain.steps = 5\ntrain.eval_metrics = [\n    'fid',\n    'is']\n"
    new = "train.steps = 5\ntrain.eval_metrics = ['fid', 'is']\ntrain.seed = 0\n"
    assert preflight.changed_bindings(old, new) == {}
    assert preflight.changed_bindings(old, new + "train.seed = 1\n") == {"train.seed": ("0", "1")}


def test_startup_and_done_lines_name_the_run(tmp_path, capsys):
    """One start-up line (device, processes, precision, layout, output) and one ``done:``
    summary with the output folder and the extractor the FID used."""
    args = _args(
        tmp_path / "run",
        2,
        "train.eval_metrics = ['fid']",
        "train.eval_num_samples = 16",
        "train.eval_extractor = 'fashion_classifier'",
        "dataset.synthetic.channels = 1",
    )
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    startup = [line for line in out if line.startswith("selfmod-zoo: ")]
    assert len(startup) == 1
    for part in ("device=cpu", "processes=1", "precision=", "layout=", f"output={tmp_path}"):
        assert part in startup[0], part
    done = [line for line in out if line.startswith("done: ")]
    assert len(done) == 1
    assert "done: 2 steps in 0 min" in done[0] and str(tmp_path / "run") in done[0]
    assert "fid " in done[0] and "(fashion_classifier features)" in done[0]


def test_damaged_newest_checkpoint_falls_back_through_the_trainer(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_args(run, 4, "train.checkpoint_every = 2", "train.keep_checkpoints = 3")) == 0
    weights = run / "checkpoints" / "step_00000004" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:500])
    capsys.readouterr()
    assert main(_args(run, 6, "train.checkpoint_every = 2", "train.keep_checkpoints = 3")) == 0
    out = capsys.readouterr().out
    assert "model.safetensors" in out and "step_00000002 at step 2" in out
    assert (run / "checkpoints" / "corrupt_step_00000004" / "model.safetensors").is_file()
    assert (run / "checkpoints" / "step_00000006").is_dir()


def test_accelerate_cpu_launch_of_several_processes_is_warned(monkeypatch):
    """``accelerate launch --cpu --num_processes 2`` on 2 cores starts one process with
    OMP_NUM_THREADS=1 (seen with accelerate 1.x): say so and give the torchrun command."""
    monkeypatch.setattr(preflight.os, "cpu_count", lambda: 2)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    warning = preflight.launch_warning(1, "cpu")
    assert warning and "only one process" in warning and "torchrun" in warning
    assert preflight.launch_warning(2, "cpu") is None  # torchrun started both
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # accelerate launch of one process
    assert preflight.launch_warning(1, "cpu") is None
    monkeypatch.delenv("ACCELERATE_USE_CPU")  # python scripts/train.py
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert preflight.launch_warning(1, "cpu") is None


def _saved_run(out: Path, files: list[str], bindings: list[str]) -> None:
    """A run folder holding the config.gin of ``files`` and ``bindings`` (no training)."""
    out.mkdir(parents=True)
    (out / "config.gin").write_text(preflight.prepare_run(files, bindings).config)


def test_resumable_dataset_paths_match_however_gin_shortens_the_selector(tmp_path):
    """gin writes ``fashion_mnist.root`` (the shortest unique selector): it is the
    ``dataset.*.root`` that RESUMABLE lets change, applied and recorded under its full name."""
    out = tmp_path / "run"
    bindings = ["train.dataset = @dataset.fashion_mnist", f"train.output_dir = '{out}'"]
    bindings += ["train.generator = @generator.sndcgan32"]
    bindings += ["train.discriminator = @discriminator.sndcgan32"]
    _saved_run(out, [], bindings)
    assert "fashion_mnist.root" not in (out / "config.gin").read_text()
    run = preflight.prepare_run([], [*bindings, "dataset.fashion_mnist.root = '/data/fm'"])
    assert run.changes == {"dataset.fashion_mnist.root": ("None", "'/data/fm'")}
    assert "# resumed at step 0: dataset.fashion_mnist.root: None -> '/data/fm'" in run.config
    with pytest.raises(preflight.ConfigError, match=r"fashion_mnist\.resolution: 32 -> 28"):
        preflight.prepare_run([], [*bindings, "dataset.fashion_mnist.resolution = 28"])


def test_resume_parses_the_config_once_and_reads_the_saved_one_as_text(tmp_path, monkeypatch):
    """gin's active config is parsed once per pre-flight, also on resume: the run's config.gin
    is compared as text read by gin's parser, not applied."""
    out = tmp_path / "run"
    bindings = [a for a in _args(out)[1::2] if "=" in a] + [f"train.output_dir = '{out}'"]
    _saved_run(out, ["quickstart.gin"], bindings)
    calls = []
    real = gin.parse_config_files_and_bindings
    monkeypatch.setattr(
        gin, "parse_config_files_and_bindings", lambda *a: calls.append(a) or real(*a)
    )
    run = preflight.prepare_run(["quickstart.gin"], [*bindings, "train.steps = 9"])
    assert len(calls) == 1 and run.changes == {"train.steps": ("2", "9")}
    assert gin.query_parameter("train.steps") == 9  # the new config is the active one


def test_preflight_refuses_unbound_required_settings_and_an_unreadable_run_config(tmp_path):
    with pytest.raises(preflight.ConfigError, match=r"(?s)^Required bindings for `train`.*--bind"):
        preflight.prepare_run([], [f"train.output_dir = '{tmp_path}'"])
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.gin").write_text("train.steps = = 3\n")
    with pytest.raises(preflight.ConfigError, match=r"config\.gin cannot be read .*Nothing was"):
        preflight.prepare_run(["quickstart.gin"], [f"train.output_dir = '{out}'"])
    assert (out / "config.gin").read_text() == "train.steps = = 3\n"
