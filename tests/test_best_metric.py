"""``train.best_metric``: the best evaluation is the lowest FID or KID and the highest IS or PRD
score (as each metric declares), and a metric or best score that cannot rank is refused by the
pre-flight before anything is written."""

from __future__ import annotations

import json

import pytest
import torch

import zoo
from zoo.errors import ConfigError
from zoo.model_folder import CONFIG_FILE
from zoo.training.checkpoints import STATE_FILE, latest
from zoo.training.hooks import best_evaluation
from zoo.training.preflight import prepare_run

QUICKSTART = zoo.config.GIN_DIR / "quickstart.gin"


def test_lower_fid_and_higher_is_are_better_and_the_first_of_equals_wins():
    history = [
        {"step": 1, "fid": 30.0, "is": 2.0, "is_std": 0.1},
        {"step": 2, "fid": 20.0, "is": 3.0, "is_std": 0.3},
        {"step": 3, "fid": 20.0, "is": 3.0, "is_std": 0.2},
        {"step": 4, "fid": 25.0},  # not scored by IS
    ]
    assert best_evaluation(history, "fid")["step"] == 2
    assert best_evaluation(history, "is")["step"] == 2
    assert best_evaluation(history, "prd_f8") is None


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        (
            ["train.eval_metrics = ['fdi']"],
            "train.eval_metrics: unknown metrics ['fdi']; known: fid",
        ),
        (
            ["train.eval_metrics = ['fid']", "train.best_metric = 'is'"],
            "train.best_metric = 'is' is not a score that train.eval_metrics = ['fid'] rank runs "
            "by (they give 'fid')",
        ),
        (
            ["train.eval_metrics = ['fid', 'is']", "train.best_metric = 'is_std'"],
            "(they give 'fid', 'is')",  # a spread ranks nothing
        ),
    ],
)
def test_the_preflight_refuses_what_cannot_rank(tmp_path, bindings, message):
    output = f"train.output_dir = '{tmp_path / 'run'}'"
    with pytest.raises(ConfigError) as error:
        prepare_run([QUICKSTART], [*bindings, output])
    assert message in str(error.value)
    assert not (tmp_path / "run").exists()


def test_no_evaluation_needs_no_best_metric(tmp_path):
    bindings = ["train.eval_metrics = []", "train.best_metric = 'nothing'"]
    prepare_run([QUICKSTART], [*bindings, f"train.output_dir = '{tmp_path}'"])


def test_a_run_ranked_by_is_keeps_its_highest_is(tmp_path):
    from zoo.training import train

    bindings = {
        "train.dataset": "@dataset.synthetic",
        "dataset.synthetic.num_samples": "64",
        "dataset.synthetic.channels": "1",
        "train.batch_size": "8",
        "train.steps": "8",
        "train.eval_every": "2",
        "train.eval_metrics": "['is']",
        "train.best_metric": "'is'",
        "train.eval_num_samples": "40",
        "train.eval_extractor": "'fashion_classifier'",
        "train.tracker": "None",
        "train.progress": "False",
        "train.generator": "@generator.sndcgan32",
        "train.discriminator": "@discriminator.sndcgan32",
        "generator.sndcgan32.width": "0.0625",
        "discriminator.sndcgan32.width": "0.0625",
        "train.output_dir": f"'{tmp_path / 'run'}'",
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(gin_config=zoo.parse(bindings=[f"{k} = {v}" for k, v in bindings.items()]))
    finally:
        torch.set_num_threads(threads)
    run = tmp_path / "run"
    history = json.loads((latest(run / "checkpoints") / STATE_FILE).read_text())["history"]
    scores = [h["is"] for h in history]
    assert len(scores) == 4 and len(set(scores)) > 1
    best = json.loads((run / "best" / CONFIG_FILE).read_text())["metrics"]
    assert best["is"] == max(scores) and best["step"] == history[scores.index(max(scores))]["step"]
