"""Every model shipped inside the package (``zoo/pretrained/``, catalog status ``shipped``)
works by name with the two user scripts (issue 30, item 4): ``scripts/sample.py NAME`` writes
its images and ``scripts/evaluate.py NAME`` scores it against its own dataset with its own
feature extractor (Fashion-MNIST from the Debian package; few samples, to stay fast)."""

import importlib
import json

import numpy as np
import pytest

from zoo import catalog

SHIPPED = sorted(name for name, e in catalog.load_catalog().items() if e.status == "shipped")


def test_the_zoo_ships_models():
    assert any(name.startswith("selfmod-") for name in SHIPPED), SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_sample_script_by_name(name, tmp_path):
    sample = importlib.import_module("zoo.cli.sample")
    labels = ["--labels", "3"] if "-pcgan-" in name or "-gcond-" in name else []
    out = tmp_path / "images.npz"
    assert sample.main([name, "--num", "6", *labels, "--out", str(out), "--no-progress"]) == 0
    with np.load(out) as saved:
        images = next(iter(saved.values()))
    assert images.shape[0] == 6 and images.dtype == np.uint8 and images.std() > 0


@pytest.mark.parametrize("name", SHIPPED)
def test_evaluate_script_by_name(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the real-data statistics cache
    evaluate = importlib.import_module("zoo.cli.evaluate")
    out = tmp_path / "eval"
    argv = [name, "--metrics", "fid,is", "--num-samples", "64", "--out", str(out)]
    assert evaluate.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"].startswith("fashion_mnist") and metrics["fid"] > 0
    assert "fashion_classifier" in capsys.readouterr().out
