"""scripts/evaluate.py on a real (tiny) run folder: a table, metrics.json and the PRD plot."""

import importlib.util
import json
from pathlib import Path

import zoo
from zoo.trainer import train

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "evaluate.py"


def _script():
    spec = importlib.util.spec_from_file_location("scripts_evaluate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
