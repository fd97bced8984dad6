"""zoo.evaluation: end to end on the synthetic dataset with the Fashion-MNIST extractor."""

from __future__ import annotations

import ast
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import registry
from zoo.evaluation import evaluate, generated_features, prd_curve, real_statistics
from zoo.evaluation.paper_metrics import KernelInceptionDistance
from zoo.metrics import (
    compute_prd_from_embedding,
    fid_from_features,
    inception_score_from_logits,
    kernel_inception_distance,
    plot_prd_curves,
    prd_to_max_f_beta_pair,
)

ROOT = Path(__file__).resolve().parents[1]


class TinyGenerator(nn.Module):
    """z (and optionally a label) -> 3×32×32 images in [-1, 1], with batch norm."""

    def __init__(self, z_dim: int = 8, num_classes: int = 0) -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.embed = nn.Embedding(max(num_classes, 1), z_dim)
        self.fc = nn.Linear(z_dim, 3 * 8 * 8)
        self.bn = nn.BatchNorm1d(3 * 8 * 8)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = z + self.embed(y)
        x = torch.tanh(self.bn(self.fc(z))).view(-1, 3, 8, 8)
        return nn.functional.interpolate(x, size=32, mode="nearest")


class CountingDataset(torch.utils.data.Dataset):
    """Wraps a dataset, counting item reads; keeps the metadata attributes."""

    def __init__(self, inner) -> None:
        self.inner, self.reads = inner, 0
        for attr in ("name", "split", "resolution", "channels", "num_classes"):
            setattr(self, attr, getattr(inner, attr))

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int):
        self.reads += 1
        return self.inner[index]


@pytest.fixture(scope="module")
def extractor():
    return registry.create("feature_extractor", "fashion_classifier")


@pytest.fixture
def dataset():
    return CountingDataset(registry.create("dataset", "synthetic", num_samples=300, resolution=32))


def test_evaluate_end_to_end_and_reuses_cached_real_stats(tmp_path, dataset, extractor):
    torch.manual_seed(0)
    generator = TinyGenerator().train()
    kwargs = dict(
        metrics=("fid", "is", "kid", "prd", "jacobian"),
        num_samples=200,
        extractor="fashion_classifier",
        batch_size=64,
        cache_dir=tmp_path,
        progress=False,
    )
    first = evaluate(generator, dataset, **kwargs)
    expected = {"fid", "is", "is_std", "kid", "kid_std", "prd_f8", "prd_f1_8", "log_cond"}
    assert set(first) == expected
    assert all(isinstance(v, float) and math.isfinite(v) for v in first.values()), first
    assert first["fid"] > 0 and 1 <= first["is"] <= 10
    assert 0 <= first["prd_f8"] <= 1 and 0 <= first["prd_f1_8"] <= 1
    assert generator.training  # mode restored

    cached = list(tmp_path.glob("*.safetensors"))
    assert len(cached) == 1 and dataset.name in cached[0].name
    assert "fashion_classifier" in cached[0].name and "n200" in cached[0].name
    assert dataset.reads == 200  # min(num_samples, len(dataset)) real images read once

    second = evaluate(generator, dataset, **kwargs)
    assert dataset.reads == 200  # real statistics came from the cache
    assert second == pytest.approx(first, rel=1e-9)


def test_metrics_from_evaluate_match_direct_computation(tmp_path, dataset, extractor):
    """Each metric of ``evaluate`` is its :mod:`zoo.metrics` function on the generated and the
    real features, in that order (PRD is not symmetric) and with the evaluation's seed (for
    the latents, KID's subsets and PRD's clusterings): FID, IS (10 splits), KID (here 20
    subsets of 50, so the seed matters), PRD (20 clusters, 10 runs) and its curve."""
    generator = TinyGenerator(num_classes=10)
    fake = generated_features(
        generator, extractor, num_samples=150, batch_size=40, seed=3, progress=False
    )
    assert fake["features"].shape == (150, 128) and fake["logits"].shape == (150, 10)
    real = real_statistics(dataset, extractor, num_samples=150, cache_dir=False, progress=False)
    assert real.features.shape == (150, 128)
    result = evaluate(
        generator,
        dataset,
        metrics=("fid", "is", "prd", KernelInceptionDistance(num_subsets=20, subset_size=50)),
        num_samples=150,
        extractor=extractor,
        batch_size=40,
        cache_dir=tmp_path,
        seed=3,
        progress=False,
    )
    assert result["fid"] == pytest.approx(fid_from_features(fake["features"], real.features))
    is_mean, is_std = inception_score_from_logits(fake["logits"], splits=10)
    assert (result["is"], result["is_std"]) == pytest.approx((is_mean, is_std), rel=1e-9)
    kid = kernel_inception_distance(
        fake["features"], real.features, num_subsets=20, subset_size=50, seed=3
    )
    assert (result["kid"], result["kid_std"]) == pytest.approx(kid, rel=1e-9)
    curve = compute_prd_from_embedding(fake["features"], real.features, num_runs=10, seed=3)
    f8, f1_8 = prd_to_max_f_beta_pair(*curve)
    assert f8 != pytest.approx(f1_8, rel=1e-3)  # a swap of generated and real would show
    assert (result["prd_f8"], result["prd_f1_8"]) == pytest.approx((f8, f1_8), rel=1e-9)
    for got, expected in zip(result.curves["prd"], curve, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_generated_samples_do_not_depend_on_batch_size_split(extractor):
    generator = TinyGenerator()
    kwargs = dict(num_samples=50, batch_size=25, progress=False)
    a = generated_features(generator, extractor, seed=3, **kwargs)
    b = generated_features(generator, extractor, seed=3, **kwargs)
    c = generated_features(generator, extractor, seed=4, **kwargs)
    torch.testing.assert_close(a["features"], b["features"])
    assert not torch.allclose(a["features"], c["features"])
    # The evaluation batch size (memory only) does not change the samples.
    small = generated_features(generator, extractor, seed=3, num_samples=50, batch_size=7)
    torch.testing.assert_close(a["features"], small["features"], rtol=1e-5, atol=1e-5)


def test_eval_batch_size_is_its_own_setting():
    import inspect

    for function in (evaluate, generated_features, real_statistics, prd_curve):
        assert inspect.signature(function).parameters["batch_size"].default == 250


def test_real_data_scores_better_than_noise(tmp_path, dataset, extractor):
    """A generator replaying real images beats one emitting noise, on every metric."""

    class Replay(nn.Module):
        z_dim, num_classes = 4, 0

        def __init__(self, images: torch.Tensor) -> None:
            super().__init__()
            self.images, self.calls = images, 0

        def forward(self, z, y=None):
            n = z.shape[0]
            out = self.images[self.calls : self.calls + n]
            self.calls += n
            return out

    class Noise(nn.Module):
        z_dim, num_classes = 4, 0

        def forward(self, z, y=None):
            return torch.rand(z.shape[0], 3, 32, 32) * 2 - 1

    other = registry.create("dataset", "synthetic", num_samples=200, resolution=32, seed=7)
    replay = Replay(torch.stack([other[i][0] for i in range(200)]))
    kwargs = dict(
        metrics=("fid", "kid", "prd"),
        num_samples=200,
        extractor=extractor,
        batch_size=50,
        cache_dir=tmp_path,
        progress=False,
    )
    good = evaluate(replay, dataset, **kwargs)
    bad = evaluate(Noise(), dataset, **kwargs)
    assert good["fid"] < bad["fid"] and good["kid"] < bad["kid"]
    assert good["prd_f8"] > bad["prd_f8"] and good["prd_f1_8"] > bad["prd_f1_8"]


def test_single_process_accelerator_and_prd_curve(tmp_path, dataset, extractor):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    generator = TinyGenerator()
    result = evaluate(
        generator,
        dataset,
        metrics=("fid", "is"),
        num_samples=100,
        extractor=extractor,
        accelerator=accelerator,
        cache_dir=tmp_path,
        progress=False,
    )
    plain = evaluate(
        generator,
        dataset,
        metrics=("fid", "is"),
        num_samples=100,
        extractor=extractor,
        cache_dir=tmp_path,
        progress=False,
    )
    assert result == pytest.approx(plain, rel=1e-9)
    precision, recall = prd_curve(
        generator,
        dataset,
        num_samples=100,
        extractor=extractor,
        cache_dir=tmp_path,
        progress=False,
        num_runs=2,
    )
    assert precision.shape == recall.shape == (1001,)
    # The curve of the generated vs the real features (cached above), with 2 runs.
    fake = generated_features(generator, extractor, num_samples=100, progress=False)
    real = real_statistics(dataset, extractor, num_samples=100, cache_dir=tmp_path, progress=False)
    expected = compute_prd_from_embedding(fake["features"], real.features, num_runs=2)
    np.testing.assert_allclose(precision, expected[0], rtol=1e-12)
    np.testing.assert_allclose(recall, expected[1], rtol=1e-12)
    png = plot_prd_curves([(precision, recall)], tmp_path / "prd.png", labels=["tiny"])
    assert png.stat().st_size > 0


def test_unknown_metric_is_rejected(dataset):
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate(TinyGenerator(), dataset, metrics=("fdi",), progress=False)


MULTIPROCESS_SCRIPT = """
import sys
import torch
from accelerate import Accelerator
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
import registry
from test_evaluation import TinyGenerator
from zoo.evaluation import evaluate

accelerator = Accelerator(cpu=True)
torch.manual_seed(0)
generator = TinyGenerator()
dataset = registry.create("dataset", "synthetic", num_samples=120, resolution=32)
result = evaluate(generator, dataset, metrics=("fid", "is", "kid"), num_samples=90,
                  extractor="fashion_classifier", batch_size=16, accelerator=accelerator,
                  cache_dir=sys.argv[1], progress=False)
with open(f"{{sys.argv[1]}}/result{{accelerator.process_index}}.txt", "w") as f:
    f.write(repr(sorted(result.items())))
accelerator.end_training()  # destroys the process group, so both processes exit cleanly
"""


@pytest.mark.slow
def test_two_processes_agree_with_one(tmp_path, run_two_processes):
    script = tmp_path / "mp_eval.py"
    script.write_text(
        textwrap.dedent(MULTIPROCESS_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests")))
    )
    run_two_processes(script, tmp_path)
    results = [ast.literal_eval((tmp_path / f"result{r}.txt").read_text()) for r in (0, 1)]
    assert results[0] == results[1]

    torch.manual_seed(0)
    generator = TinyGenerator()
    dataset = registry.create("dataset", "synthetic", num_samples=120, resolution=32)
    single = evaluate(
        generator,
        dataset,
        metrics=("fid", "is", "kid"),
        num_samples=90,
        extractor="fashion_classifier",
        batch_size=16,
        cache_dir=tmp_path / "single",
        progress=False,
    )
    assert dict(results[0]) == pytest.approx(single, rel=1e-5)


def test_prd_curve_takes_evaluate_settings_with_its_defaults():
    import inspect

    settings = [
        p
        for p in inspect.signature(evaluate).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != "metrics"
    ]
    own = list(inspect.signature(prd_curve).parameters.values())
    prd = ["num_clusters", "num_angles", "num_runs"]
    assert [p.name for p in own[:5]] == ["generator", "dataset", *prd]
    assert own[5:] == settings  # names, kinds, defaults and annotations, in evaluate's order
