"""Metrics: FID (and its streaming statistics), IS, KID, PRD and generator conditioning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from zoo.metrics import (
    StreamingStats,
    compute_prd,
    compute_prd_from_embedding,
    fid_from_features,
    frechet_distance,
    generator_log_condition,
    inception_score,
    inception_score_from_logits,
    jacobian_log_condition,
    kernel_inception_distance,
    plot_prd_curves,
    prd_to_max_f_beta_pair,
)


def _reference_fid_sqrtm(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||² + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)), written out directly."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _reference_fid_eig(mu1, s1, mu2, s2) -> float:
    """Same quantity via eigenvalues: Tr(sqrtm(S1 S2)) = Σ sqrt(eig(S1^½ S2 S1^½))."""
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root1 @ s2 @ root1)
    diff = mu1 - mu2
    trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)


@pytest.fixture
def feature_sets():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3000, 32)) @ rng.normal(size=(32, 32)) * 0.3
    b = rng.normal(size=(2500, 32)) @ rng.normal(size=(32, 32)) * 0.3 + 0.2
    return a, b


# --- FID ---------------------------------------------------------------------------------


def test_streaming_stats_match_numpy_and_merge(feature_sets):
    a, _ = feature_sets
    whole = StreamingStats(32)
    for chunk in np.array_split(a, 7):  # uneven batches
        whole.update(torch.from_numpy(chunk).float())
    a32 = a.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(whole.mean, a32.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(whole.covariance, np.cov(a32, rowvar=False), rtol=1e-10, atol=1e-12)

    first, second = StreamingStats(32).update(a[:1234]), StreamingStats(32).update(a[1234:])
    merged = first.merge(second)
    assert merged.n == len(a)
    np.testing.assert_allclose(merged.mean, a.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(merged.covariance, np.cov(a, rowvar=False), rtol=1e-10, atol=1e-12)


class _TwoRankAccelerator:
    """Stands in for rank 0 of two: ``gather`` appends the other rank's tensors."""

    device = torch.device("cpu")

    def __init__(self, other: StreamingStats) -> None:
        state = other.state_dict()
        self._others = [state["n"].double(), state["mean"][None], state["m2"][None]]

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return torch.cat([tensor, self._others.pop(0).to(tensor.dtype)])


def test_streaming_stats_reduce_across_processes(feature_sets):
    a, _ = feature_sets
    mine, other = StreamingStats(32).update(a[:1000]), StreamingStats(32).update(a[1000:])
    total = mine.reduce(_TwoRankAccelerator(other))
    assert total.n == len(a)
    np.testing.assert_allclose(total.covariance, np.cov(a, rowvar=False), rtol=1e-10, atol=1e-12)


def test_streaming_stats_save_load_roundtrip(tmp_path, feature_sets):
    a, _ = feature_sets
    stats = StreamingStats(32).update(a)
    stats.save(tmp_path / "stats.safetensors")
    loaded = StreamingStats.load(tmp_path / "stats.safetensors")
    assert loaded.n == stats.n
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.covariance, stats.covariance)
    # Further updates continue from the saved state.
    loaded.update(a[:10])
    assert loaded.n == len(a) + 10


def test_fid_of_a_set_with_itself_is_zero(feature_sets):
    a, _ = feature_sets
    assert abs(fid_from_features(a, a)) < 1e-6


def test_fid_matches_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    d1, d2 = rng.uniform(0.1, 3.0, size=16), rng.uniform(0.1, 3.0, size=16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2)
    got = frechet_distance(mu1, np.diag(d1), mu2, np.diag(d2))
    assert got == pytest.approx(expected, rel=1e-9)


def test_fid_matches_reference_formula(feature_sets):
    a, b = feature_sets
    s1, s2 = StreamingStats(32).update(a), StreamingStats(32).update(b)
    args = (s1.mean, s1.covariance, s2.mean, s2.covariance)
    got = frechet_distance(*args)
    assert got > 1.0
    assert got == pytest.approx(_reference_fid_sqrtm(*args), rel=1e-6)
    assert got == pytest.approx(_reference_fid_eig(*args), rel=1e-6)


def test_fid_singular_covariances_use_offset():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 8))  # 5 samples in 8-d: rank-deficient covariances
    y = rng.normal(size=(5, 8)) + 1.0
    value = fid_from_features(x, y)
    assert np.isfinite(value) and value > 0


# --- IS ----------------------------------------------------------------------------------


def test_inception_score_uniform_is_one():
    mean, std = inception_score(np.full((1000, 10), 0.1))
    assert mean == pytest.approx(1.0, abs=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_balanced_one_hot_is_num_classes():
    probs = np.eye(10)[np.arange(1000) % 10]
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_from_logits_matches_softmax():
    logits = torch.randn(200, 7, generator=torch.Generator().manual_seed(0)) * 3
    assert inception_score_from_logits(logits, splits=4) == pytest.approx(
        inception_score(torch.softmax(logits.double(), dim=1), splits=4)
    )
    # Confident, diverse predictions score higher than unconfident ones.
    assert inception_score_from_logits(logits * 10)[0] > inception_score_from_logits(logits)[0]


# --- KID ---------------------------------------------------------------------------------


def test_kid_identical_near_zero_and_shift_larger():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 16))
    y = rng.normal(size=(2000, 16))
    same, _ = kernel_inception_distance(x, y, num_subsets=20, subset_size=500)
    shifted, _ = kernel_inception_distance(x, y + 0.5, num_subsets=20, subset_size=500)
    assert abs(same) < 0.02
    assert shifted > 0.2
    assert shifted > 10 * abs(same)


def test_kid_caps_subset_size_at_sample_size():
    rng = np.random.default_rng(4)
    mean, std = kernel_inception_distance(rng.normal(size=(50, 4)), rng.normal(size=(80, 4)))
    assert np.isfinite(mean) and np.isfinite(std)


# --- PRD ---------------------------------------------------------------------------------


def test_compute_prd_identical_and_disjoint_histograms():
    p = np.array([0.5, 0.3, 0.2, 0.0])
    precision, recall = compute_prd(p, p)
    assert precision.shape == recall.shape == (1001,)
    assert prd_to_max_f_beta_pair(precision, recall) == pytest.approx((1.0, 1.0), abs=1e-6)
    precision, recall = compute_prd(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert np.all(precision == 0) and np.all(recall == 0)


def test_prd_identical_sets_reach_one_and_separated_sets_stay_near_zero():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 8))
    f8, f1_8 = prd_to_max_f_beta_pair(*compute_prd_from_embedding(x, x.copy(), num_runs=3))
    assert f8 > 0.99 and f1_8 > 0.99
    far = rng.normal(size=(600, 8)) + 50.0
    f8, f1_8 = prd_to_max_f_beta_pair(*compute_prd_from_embedding(x, far, num_runs=3))
    assert f8 < 0.05 and f1_8 < 0.05


def test_prd_half_mode_dropping_loses_recall_not_precision():
    rng = np.random.default_rng(6)
    ref = np.concatenate([rng.normal(size=(400, 4)), rng.normal(size=(400, 4)) + 30.0])
    eval_ = rng.normal(size=(800, 4))  # only the first mode
    f8, f1_8 = prd_to_max_f_beta_pair(*compute_prd_from_embedding(eval_, ref, num_runs=2))
    assert f1_8 > 0.9  # precision-like: every sample is realistic
    assert f8 < 0.6  # recall-like: half the data is missed


def test_prd_enforces_balance():
    with pytest.raises(ValueError, match="as many"):
        compute_prd_from_embedding(np.zeros((10, 2)), np.zeros((12, 2)))


def test_plot_prd_curves_writes_png(tmp_path):
    p = np.linspace(0, 1, 11)
    out = plot_prd_curves([(p, p[::-1]), (p**2, p)], tmp_path / "prd.png", labels=["a", "b"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- conditioning ------------------------------------------------------------------------


class _Linear(nn.Module):
    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        self.z_dim, self.num_classes = matrix.shape[1], 0
        self.layer = nn.Linear(matrix.shape[1], matrix.shape[0], bias=False, dtype=matrix.dtype)
        self.layer.weight.data.copy_(matrix)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.layer(z).view(z.shape[0], 1, 5, -1)


def test_log_condition_of_linear_generator_equals_log_cond_of_matrix():
    a = torch.randn(40, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sv = np.linalg.svd(a.numpy(), compute_uv=False)
    values, mean = generator_log_condition(_Linear(a), num_z=8)
    assert values.shape == (8,)
    np.testing.assert_allclose(values.numpy(), np.log(sv[0] / sv[-1]), rtol=1e-9)
    assert mean == pytest.approx(np.log(sv[0] / sv[-1]), rel=1e-9)


class _SaturatedTanh(nn.Module):
    """``tanh(W z + b)`` with ``b`` so large that float32 rounds every output to exactly 1 (a zero
    Jacobian in float32), while float64 still resolves ``1 - tanh² > 0``."""

    def __init__(self, matrix: torch.Tensor, bias: float) -> None:
        super().__init__()
        self.z_dim, self.num_classes = matrix.shape[1], 0
        self.layer = nn.Linear(matrix.shape[1], matrix.shape[0])
        self.layer.weight.data.copy_(matrix)
        self.layer.bias.data.fill_(bias)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.layer(z)).view(z.shape[0], 1, 5, -1)


def test_log_condition_of_float32_saturated_output_is_recomputed_in_float64():
    a = torch.randn(40, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = _SaturatedTanh(a.float(), bias=14.0)
    z = torch.randn(3, 6, generator=torch.Generator().manual_seed(1)) * 0.1
    with torch.no_grad():
        assert bool((g(z) == 1).all())  # float32: saturated, the Jacobian is exactly zero
    values, mean = jacobian_log_condition(g, z)
    # Exact: J = diag(1 - tanh²(W z + b)) W, in float64.
    w, b = g.layer.weight.double().detach(), g.layer.bias.double().detach()
    for i in range(3):
        pre = w @ z[i].double() + b
        jac = (1 - torch.tanh(pre) ** 2)[:, None] * w
        sv = torch.linalg.svdvals(jac)
        assert values[i].item() == pytest.approx(torch.log(sv[0] / sv[-1]).item(), rel=1e-6)
    assert math.isfinite(mean)


def test_log_condition_of_constant_generator_is_inf_not_nan():
    g = _Linear(torch.zeros(40, 6, dtype=torch.float64))  # J = 0 in any precision
    values, mean = generator_log_condition(g, num_z=4)
    assert torch.isinf(values).all() and mean == math.inf


class _BatchNormGenerator(nn.Module):
    """Non-linear, with batch norm and a label embedding: exercises eval mode and labels."""

    def __init__(self) -> None:
        super().__init__()
        self.z_dim, self.num_classes = 4, 3
        self.embed = nn.Embedding(3, 4)
        self.fc = nn.Linear(4, 12)
        self.bn = nn.BatchNorm1d(12)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.bn(self.fc(z + self.embed(y)))).view(-1, 3, 2, 2)


def test_log_condition_per_sample_in_eval_mode_and_restores_mode():
    torch.manual_seed(0)
    g = _BatchNormGenerator().train()
    with torch.no_grad():
        g.bn.running_mean.uniform_(-1, 1)
        g.bn.running_var.uniform_(0.5, 2)
    z, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    values, _ = jacobian_log_condition(g, z, y)
    assert g.training  # mode restored
    # Each value equals the one computed for that sample alone (no batch interaction).
    g.eval()
    for i in range(5):
        jac = torch.autograd.functional.jacobian(lambda zi, i=i: g(zi, y[i : i + 1]), z[i : i + 1])
        sv = torch.linalg.svdvals(jac.reshape(12, 4).double())
        assert values[i].item() == pytest.approx(torch.log(sv[0] / sv[-1]).item(), rel=1e-5)


@pytest.mark.parametrize("refused", [("_jacobians_vmap",), ("_jacobians_vmap", "_jacobians_dual")])
def test_log_condition_fallbacks_agree(monkeypatch, refused):
    from zoo.metrics import conditioning

    torch.manual_seed(0)
    g = _BatchNormGenerator().double()
    with torch.no_grad():
        g.bn.running_mean.uniform_(-1, 1)
    z, y = torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])
    expected, _ = jacobian_log_condition(g, z, y)

    def refuse(*args, **kwargs):
        raise RuntimeError("not supported here")

    for name in refused:
        monkeypatch.setattr(conditioning, name, refuse)
    values, _ = jacobian_log_condition(g, z, y, chunk_size=2)
    torch.testing.assert_close(values, expected, rtol=1e-9, atol=1e-12)
