"""The registry's ``metric`` kind: the paper's metrics are registered, a plugin metric is
computed by evaluate() from the shared features, and evaluate() returns the PRD curve."""

from __future__ import annotations

import pickle

import gin
import numpy as np
import pytest
import torch
from test_evaluation import TinyGenerator

import registry
from zoo.evaluation import (
    METRICS,
    EvaluationResult,
    Metric,
    MetricInputs,
    evaluate,
    generated_features,
    metric_names,
    prd_curve,
)


@pytest.fixture
def dataset():
    return registry.create("dataset", "synthetic", num_samples=120, resolution=32)


@pytest.fixture
def toy_metric():
    """A plugin metric ``mytoy``: the mean generated feature and the real-feature count."""
    seen: list[MetricInputs] = []

    class MyToy(Metric):
        def __init__(self, scale: float = 1.0) -> None:
            self.scale = scale

        def __call__(self, inputs: MetricInputs) -> dict[str, float]:
            seen.append(inputs)
            return {
                "mytoy": self.scale * inputs.generated["features"].mean().item(),
                "mytoy_real": len(inputs.real.features),
            }

    with gin.unlock_config():  # earlier tests may have parsed (and so locked) a gin config
        registry.register("metric", "mytoy")(MyToy)

    try:
        yield seen
    finally:
        registry._registry._REGISTRY["metric"].pop("mytoy", None)
        if "metric.mytoy" in gin.config._REGISTRY:
            gin.config._REGISTRY.pop("metric.mytoy")


def test_the_paper_metrics_are_registered():
    assert set(METRICS) <= set(registry.list("metric"))
    assert metric_names()[: len(METRICS)] == METRICS
    assert registry.create("metric", "kid", num_subsets=5).num_subsets == 5


def test_a_plugin_metric_is_computed_from_the_shared_features(tmp_path, dataset, toy_metric):
    generator = TinyGenerator()
    kwargs = dict(num_samples=60, extractor="fashion_classifier", batch_size=32, progress=False)
    result = evaluate(
        generator, dataset, metrics=("mytoy", "fid", "is"), cache_dir=tmp_path, **kwargs
    )
    assert list(result) == ["fid", "is", "is_std", "mytoy", "mytoy_real"]  # the paper's first
    assert all(isinstance(v, float) for v in result.values())

    (inputs,) = toy_metric  # called once, with the features every metric uses
    fake = generated_features(generator, **kwargs)
    torch.testing.assert_close(inputs.generated["features"], fake["features"])
    assert result["mytoy"] == pytest.approx(fake["features"].mean().item())
    assert result["mytoy_real"] == 60.0
    assert "mytoy" in metric_names()


def test_unknown_metric_lists_plugins_too(dataset, toy_metric):
    with pytest.raises(ValueError, match=r"unknown metrics \['mytoi'\]; known: fid, .*mytoy"):
        evaluate(TinyGenerator(), dataset, metrics=("mytoi",), progress=False)


class CountingGenerator(TinyGenerator):
    """Counts the images it generates."""

    def __init__(self) -> None:
        super().__init__()
        self.generated = 0

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.generated += z.shape[0]
        return super().forward(z, y)


def test_evaluate_returns_the_prd_curve_from_one_generation(tmp_path, dataset):
    generator = CountingGenerator()
    kwargs = dict(
        num_samples=80, extractor="fashion_classifier", cache_dir=tmp_path, progress=False
    )
    result = evaluate(generator, dataset, metrics=("fid", "prd"), **kwargs)
    assert generator.generated == 80  # once for every metric
    precision, recall = result.curves["prd"]
    assert precision.shape == recall.shape == (1001,)

    expected = prd_curve(generator, dataset, **kwargs)
    np.testing.assert_array_equal(precision, expected[0])
    np.testing.assert_array_equal(recall, expected[1])
    assert evaluate(generator, dataset, metrics=("fid",), **kwargs).curves == {}


def test_an_evaluation_result_is_a_dict_that_pickles_with_its_curves():
    result = EvaluationResult({"prd_f8": 0.5}, curves={"prd": (np.ones(3), np.zeros(3))})
    result.add({"fid": np.float64(2)})
    assert result == {"prd_f8": 0.5, "fid": 2.0} and isinstance(result["fid"], float)
    copy = pickle.loads(pickle.dumps(result))
    assert copy == result and np.array_equal(copy.curves["prd"][0], np.ones(3))
