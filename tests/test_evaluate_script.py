"""scripts/evaluate.py on a real (tiny) run folder: a table, metrics.json and the PRD plot."""

import importlib
import json

import zoo
from zoo.training import train


def _script():
    return importlib.import_module("zoo.cli.evaluate")


def test_evaluate_a_run_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # real-data statistics cache
    run = tmp_path / "run"
    zoo.parse(
        bindings=[
            "train.dataset = @dataset.synthetic",
            "dataset.synthetic.num_samples = 96",
            "dataset.synthetic.channels = 1",
            "train.generator = @generator.sndcgan32",
            "train.discriminator = @discriminator.sndcgan32",
            "generator.sndcgan32.width = 0.0625",
            "discriminator.sndcgan32.width = 0.0625",
            "train.steps = 2",
            "train.batch_size = 8",
            "train.eval_metrics = []",
            "train.eval_extractor = 'fashion_classifier'",
            "train.tracker = None",
            "train.progress = False",
            f"train.output_dir = '{run}'",
        ]
    )
    train()
    code = _script().main([str(run), "--metrics", "fid,is,prd", "--num-samples", "64"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "fid" in printed and "prd_f8" in printed and "fashion_classifier" in printed
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["dataset"].startswith("synthetic") and metrics["fid"] > 0
    assert 0 <= metrics["prd_f8"] <= 1 and 0 <= metrics["prd_f1_8"] <= 1
    assert (run / "eval" / "prd.png").stat().st_size > 1000


def test_evaluate_unknown_model_fails_clearly(capsys):
    assert _script().main(["no-such-model-anywhere"]) == 1
    assert "no-such-model-anywhere" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_missing_inception_weights_is_one_line(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("SELFMOD_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    argv = ["selfmod-sndcgan-fashion_mnist", "--dataset", "synthetic", "--extractor", "inception"]
    assert _script().main([*argv, "--metrics", "fid", "--out", str(tmp_path / "eval")]) == 1
    err = _one_line_error(capsys)
    assert "SELFMOD_INCEPTION_WEIGHTS" in err and "hf download" in err
    assert "In call to configurable" not in err


def test_bad_arguments_are_one_line(tmp_path, capsys):
    script = _script()
    assert script.main(["/tmp/nonexistent-selfmod-run"]) == 1
    err = _one_line_error(capsys)
    assert "does not exist" in err and "hf-hub:" not in err
    assert script.main(["selfmod-sndcgan-fashion_mnist", "--metrics", "fid,foo"]) == 1
    assert "unknown metrics ['foo']" in _one_line_error(capsys)
    assert script.main(["selfmod-sndcgan-fashion_mnist", "--dataset", "nosuch"]) == 1
    assert "Unknown dataset 'nosuch'" in _one_line_error(capsys)


def test_the_prd_plot_names_a_folder_by_its_name_not_its_path(tmp_path):
    curve_label = _script().curve_label
    (tmp_path / "runs" / "zoo" / "my-run" / "best").mkdir(parents=True)
    assert curve_label(str(tmp_path / "runs" / "zoo" / "my-run")) == "my-run"
    assert curve_label(str(tmp_path / "runs" / "zoo" / "my-run" / "best")) == "my-run/best"
    assert curve_label("selfmod-sndcgan-fashion_mnist") == "selfmod-sndcgan-fashion_mnist"
    assert curve_label("hf-hub:org/name@v1") == "hf-hub:org/name@v1"
