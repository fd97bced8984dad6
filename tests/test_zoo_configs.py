"""The zoo's training configs (``gin/zoo/``, issue 30): each self-modulated model has a twin
that differs in the norm alone (and where it writes), and every config is one the trainer's
pre-flight accepts, training until the FID stops improving."""

from pathlib import Path

import pytest

import zoo
from zoo.config import GIN_DIR
from zoo.train_settings import TrainSettings
from zoo.training.preflight import changed_bindings

MODELS = ("sndcgan", "resnet", "pcgan")
NORMS = {"sndcgan": ("sbn", "bn"), "resnet": ("sbn", "bn"), "pcgan": ("csbn", "cbn")}


def _config(name: str) -> str:
    return zoo.parse([GIN_DIR / "zoo" / f"{name}.gin"])


@pytest.mark.parametrize("model", MODELS)
def test_each_selfmod_model_has_a_bn_twin_that_differs_in_the_norm_alone(model):
    selfmod, baseline = (
        _config(f"{kind}-{model}-fashion_mnist") for kind in ("selfmod", "baseline")
    )
    changes = changed_bindings(baseline, selfmod)
    modulated, plain = NORMS[model]
    assert changes.pop("NORM") == (f"@norm.{plain}", f"@norm.{modulated}")
    assert set(changes) == {"train.output_dir"}, changes
    for name in (f"selfmod-{model}-fashion_mnist", f"baseline-{model}-fashion_mnist"):
        assert changes["train.output_dir"][name.startswith("selfmod")].endswith(f"/{name}'")


@pytest.mark.parametrize("model", MODELS)
def test_zoo_configs_train_to_a_plateau_on_the_classifier_fid(model, tmp_path):
    _config(f"selfmod-{model}-fashion_mnist")
    settings = TrainSettings(output_dir=tmp_path)
    assert settings.plateau_stop == 0.2 and settings.eval_num_samples == 10_000
    assert settings.eval_extractor == "fashion_classifier" and "prd" in settings.eval_metrics
    assert settings.eval_every * 10 <= settings.steps  # at least ten points on the curve
    assert Path(settings.output_dir) == tmp_path
