"""Metrics: FID (and its streaming statistics), IS, KID, PRD and generator conditioning."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

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
    kmeans,
    plot_prd_curves,
    polynomial_mmd2_unbiased,
    prd_to_max_f_beta_pair,
)


def _reference_fid_sqrtm(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||² + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)), written out directly."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _trace_sqrt_product(s1, s2) -> float:
    """Tr(sqrtm(S1 S2)) = Σ sqrt(eig(S1^½ S2 S1^½)) for symmetric PSD S1, S2 (no sqrtm)."""
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def _reference_fid_eig(mu1, s1, mu2, s2) -> float:
    """Same quantity via eigenvalues (:func:`_trace_sqrt_product`)."""
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * _trace_sqrt_product(s1, s2))


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


def _pytorch_fid_distance(mu1, s1, mu2, s2) -> float:
    """pytorch-fid's ``calculate_frechet_distance`` (the reference FID code), or skip."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its sqrtm(disp=False) is deprecated from scipy 1.16
        return float(fid_score.calculate_frechet_distance(mu1, s1, mu2, s2))


def _random_gaussian(rng, dim, rank=None):
    """A random mean and a random covariance (full rank unless ``rank`` is given)."""
    factor = rng.normal(size=(dim, rank or dim)) * rng.uniform(0.1, 2.0, size=rank or dim)
    return rng.normal(size=dim) * rng.uniform(0.1, 3.0), factor @ factor.T / (rank or dim)


@pytest.mark.parametrize("seed", range(4))
def test_fid_matches_pytorch_fid_on_random_statistics(seed):
    """Heusel et al.'s FID against pytorch-fid's ``calculate_frechet_distance`` (and the
    eigenvalue form), on random means and covariances of different dimensions and ranks."""
    rng = np.random.default_rng(seed)
    dim = (8, 32, 64, 128)[seed]
    mu1, s1 = _random_gaussian(rng, dim)
    mu2, s2 = _random_gaussian(rng, dim, rank=dim if seed % 2 else dim // 2)
    got = frechet_distance(mu1, s1, mu2, s2)
    reference = _pytorch_fid_distance(mu1, s1, mu2, s2)
    assert got > 0.1
    assert got == pytest.approx(reference, rel=1e-9, abs=1e-9), "FID differs from pytorch-fid"
    assert got == pytest.approx(_reference_fid_eig(mu1, s1, mu2, s2), rel=1e-7)


# Two samples in 3-d for each set: rank-1 covariances whose product is singular in a way that
# makes scipy's Schur-based sqrtm return NaN (division by a zero pair of eigenvalues). That is
# the case of pytorch-fid's eps retry; it happens with fewer samples than feature dimensions.
SINGULAR_X = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 2.0]])
SINGULAR_Y = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 2.0]])


def test_fid_singular_covariance_product_retries_with_offset(capsys):
    """``sqrtm(S1 S2)`` is not finite here: FID warns, adds eps = 1e-6 to both diagonals and
    retries, as pytorch-fid does; the result is the formula with the offset applied."""
    s1, s2 = np.cov(SINGULAR_X, rowvar=False), np.cov(SINGULAR_Y, rowvar=False)
    mu1, mu2 = SINGULAR_X.mean(axis=0), SINGULAR_Y.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = scipy.linalg.sqrtm(s1 @ s2)
    if np.isfinite(plain).all():
        pytest.skip("this scipy/LAPACK computes sqrtm of the singular product: no retry needed")

    with pytest.warns(RuntimeWarning, match=r"singular; adding 1e-06 to the diagonals"):
        got = frechet_distance(mu1, s1, mu2, s2)
    with pytest.warns(RuntimeWarning, match="singular"):
        from_features = fid_from_features(SINGULAR_X, SINGULAR_Y)
    assert from_features == pytest.approx(got, rel=1e-12)

    # As pytorch-fid: the offset enters the square root only, not the traces of S1 and S2.
    offset = 1e-6 * np.eye(3)
    dmu = mu1 - mu2
    expected = dmu @ dmu + np.trace(s1) + np.trace(s2)
    expected -= 2 * _trace_sqrt_product(s1 + offset, s2 + offset)
    assert got == pytest.approx(expected, rel=1e-9), "FID retry: not the formula with the offset"
    # Without the offset the exact value is 6.25: ||dmu||² = 0.75, Tr S1 = 4.5, Tr S2 = 3, and
    # S1 S2 has rank one with trace 1, so Tr sqrtm(S1 S2) = sqrt(1) = 1.
    assert got == pytest.approx(6.25, abs=1e-4)
    assert got == pytest.approx(_pytorch_fid_distance(mu1, s1, mu2, s2), rel=1e-9)
    assert "singular product" in capsys.readouterr().out  # pytorch-fid retried as well


def test_fid_rejects_a_significant_imaginary_square_root():
    """A "covariance" with a negative eigenvalue (not PSD, e.g. corrupted statistics) gives a
    complex ``sqrtm``: an imaginary diagonal above 1e-3 raises, below it the real part is used
    (pytorch-fid's tolerance for rounding noise)."""
    mu = np.zeros(3)
    with pytest.raises(ValueError, match=r"significant imaginary component 0\.00(2|19)"):
        frechet_distance(mu, np.eye(3), mu, np.diag([1.0, 1.0, -4e-6]))  # sqrt: 2e-3 i
    # sqrt(-2.5e-7) = 5e-4 i is rounding-sized: dropped. FID = 3 + (2 - 2.5e-7) - 2 * 2.
    got = frechet_distance(mu, np.eye(3), mu, np.diag([1.0, 1.0, -2.5e-7]))
    assert got == pytest.approx(1.0 - 2.5e-7, rel=1e-12)
    assert got == pytest.approx(
        _pytorch_fid_distance(mu, np.eye(3), mu, np.diag([1.0, 1.0, -2.5e-7])), rel=1e-12
    )


def test_fid_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="mean shapes differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(3))
    with pytest.raises(ValueError, match="covariance shapes differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


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


def test_inception_score_matches_torch_fidelity():
    """IS against torch-fidelity's ``isc_features_to_metric`` on the same logits and splits
    (its shuffling off): mean and std over the 10 splits."""
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = torch.randn(500, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    logits *= torch.linspace(0.5, 4, 500, dtype=torch.float64)[:, None]  # splits differ
    reference = metric_isc.isc_features_to_metric(logits, splits=10, shuffle=False)
    mean, std = inception_score_from_logits(logits, splits=10)
    assert mean == pytest.approx(reference["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(reference["inception_score_std"], rel=1e-8)
    assert std > 0.01


# --- KID ---------------------------------------------------------------------------------


def _mmd2_unbiased_written_out(x, y) -> float:
    """The unbiased MMD² estimate of Bińkowski et al. (2018) with k(a, b) = (aᵀb / d + 1)³:
    the means of k over the off-diagonal pairs of X and of Y, minus twice the mean of k over
    all pairs (X, Y)."""
    d = x.shape[1]
    k_xx = np.array([[(a @ b / d + 1) ** 3 for b in x] for a in x])
    k_yy = np.array([[(a @ b / d + 1) ** 3 for b in y] for a in y])
    k_xy = np.array([[(a @ b / d + 1) ** 3 for b in y] for a in x])
    off_x, off_y = ~np.eye(len(x), dtype=bool), ~np.eye(len(y), dtype=bool)
    return float(k_xx[off_x].mean() + k_yy[off_y].mean() - 2 * k_xy.mean())


def test_kid_mmd2_matches_the_unbiased_estimator_written_out():
    """``polynomial_mmd2_unbiased`` is Bińkowski et al.'s unbiased MMD² with the cubic kernel,
    for sets of different sizes; KID on whole sets (every subset a permutation) is that value."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 6)), rng.normal(size=(45, 6)) * 1.3 + 0.2
    expected = _mmd2_unbiased_written_out(x, y)
    assert polynomial_mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-10, abs=1e-12), (
        "KID: not the unbiased cubic-kernel MMD² (diagonals kept? kernel degree?)"
    )
    mean, std = kernel_inception_distance(x, y[:30], num_subsets=4, subset_size=30)
    assert mean == pytest.approx(_mmd2_unbiased_written_out(x, y[:30]), rel=1e-10, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_matches_torch_fidelity():
    """KID against torch-fidelity's (Bińkowski et al.'s code, adapted) on features: the
    kernel-MMD of one subset and the whole-set KID (subsets are then permutations, so the
    different random subset draws of the two implementations do not matter)."""
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(64, 16)), rng.normal(size=(64, 16)) + 0.3
    reference = metric_kid.kernel_mmd(x, y, kid_kernel="poly")  # degree 3, gamma 1/d, coef0 1
    assert polynomial_mmd2_unbiased(x, y) == pytest.approx(reference, rel=1e-10)
    out = metric_kid.kid_features_to_metric(
        torch.from_numpy(x), torch.from_numpy(y), kid_subsets=5, kid_subset_size=64, verbose=False
    )
    mean, std = kernel_inception_distance(x, y, num_subsets=5, subset_size=64)
    assert mean == pytest.approx(out["kernel_inception_distance_mean"], rel=1e-10)
    assert std == pytest.approx(out["kernel_inception_distance_std"], abs=1e-12)


def _population_mmd2_cubic(c: float, d: int) -> float:
    """MMD² between N(0, I_d) and N(mu, I_d), |mu|² = c, for k = (aᵀb / d + 1)³.

    With s = aᵀb / d, k = 1 + 3s + 3s² + s³ and the Gaussian moments
    E(xᵀx')² = d, E(xᵀy)² = c + d, E(yᵀy') = c, E(yᵀy')² = c² + 2c + d,
    E(yᵀy')³ = c³ + 6c² + 3cd + 6c (odd moments of centred terms vanish), one gets
    MMD² = E k(x, x') + E k(y, y') - 2 E k(x, y) = 3c/d + 3c(c + 1)/d² + (c³ + 6c² + 6c)/d³.
    """
    return 3 * c / d + 3 * c * (c + 1) / d**2 + (c**3 + 6 * c**2 + 6 * c) / d**3


def test_kid_is_unbiased_and_matches_the_population_mmd():
    """The estimator's expectation is the population MMD²: about 0 for two samples of one
    Gaussian (the biased estimator, diagonals kept, would give about +15/1000 here) and the
    closed form for a shifted Gaussian (1.029 for d = 16, |mu|² = 4; a quadratic kernel
    would give 0.56)."""
    rng = np.random.default_rng(5)
    d = 16
    x, same = rng.normal(size=(2000, d)), rng.normal(size=(2000, d))
    shifted = rng.normal(size=(2000, d)) + 0.5
    null, _ = kernel_inception_distance(x, same, num_subsets=10, subset_size=1000)
    assert abs(null) < 0.004, f"KID of one distribution is {null}: a biased estimator?"
    value, std = kernel_inception_distance(x, shifted, num_subsets=10, subset_size=1000)
    assert value == pytest.approx(_population_mmd2_cubic(4.0, d), abs=0.1)
    assert 0 < std < 0.1


def test_kid_caps_subset_size_at_the_smaller_set():
    """Subsets have min(subset_size, n1, n2) rows: with 50 rows in the first set every subset is
    the whole set; with identical rows in the second, KID is then exactly one MMD² value."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 4))
    y = np.repeat(rng.normal(size=(1, 4)), 80, axis=0)
    mean, std = kernel_inception_distance(x, y, num_subsets=5)
    assert mean == pytest.approx(_mmd2_unbiased_written_out(x, y[:50]), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-10)


def test_kid_rejects_bad_inputs():
    with pytest.raises(ValueError, match="feature dims differ"):
        kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        polynomial_mmd2_unbiased(np.zeros((1, 3)), np.zeros((5, 3)))


# --- PRD ---------------------------------------------------------------------------------


def test_compute_prd_identical_and_disjoint_histograms():
    p = np.array([0.5, 0.3, 0.2, 0.0])
    precision, recall = compute_prd(p, p)
    assert precision.shape == recall.shape == (1001,)
    assert prd_to_max_f_beta_pair(precision, recall) == pytest.approx((1.0, 1.0), abs=1e-6)
    precision, recall = compute_prd(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert np.all(precision == 0) and np.all(recall == 0)


def _slopes(num_angles: int, epsilon: float = 1e-10) -> np.ndarray:
    """The slopes λ = tan(θ) of the PRD curve: θ evenly spaced in [ε, π/2 - ε] (Sajjadi et
    al.'s reference code)."""
    return np.tan(np.linspace(epsilon, math.pi / 2 - epsilon, num_angles))


def _f_beta_written_out(precision, recall, beta):
    """Sajjadi et al. (2018), Section 4: F_β = (1 + β²) α β_r / (β² α + β_r), for precision α
    and recall β_r."""
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


# (reference histogram P, evaluated histogram Q, α(λ), β(λ)) with α(λ) = Σ min(λ P, Q) and
# β(λ) = Σ min(P, Q / λ) (Sajjadi et al., Theorem 1), worked out by hand for each case.
PRD_CASES = {
    # Half-overlapping supports: only the middle bin is shared.
    "half_overlap": (
        [0.5, 0.5, 0.0],
        [0.0, 0.5, 0.5],
        lambda lam: np.minimum(lam, 1) / 2,
        lambda lam: np.minimum(1, 1 / lam) / 2,
    ),
    # Mode dropping: Q covers only the first of P's two modes (precise but half the recall).
    "mode_dropping": (
        [0.5, 0.5],
        [1.0, 0.0],
        lambda lam: np.minimum(lam / 2, 1),
        lambda lam: np.minimum(0.5, 1 / lam),
    ),
    # Mode invention: Q puts a quarter of its mass where P has none.
    "mode_invention": (
        [1.0, 0.0],
        [0.75, 0.25],
        lambda lam: np.minimum(lam, 0.75),
        lambda lam: np.minimum(1, 0.75 / lam),
    ),
}


@pytest.mark.parametrize("case", sorted(PRD_CASES))
def test_compute_prd_matches_closed_form_curve(case):
    """The PRD curve of two histograms at every slope λ: precision α(λ), recall β(λ)."""
    ref, eval_, alpha, beta = PRD_CASES[case]
    precision, recall = compute_prd(np.array(eval_), np.array(ref), num_angles=501)
    lam = _slopes(501)
    np.testing.assert_allclose(precision, alpha(lam), rtol=1e-9, atol=1e-12, err_msg="precision")
    np.testing.assert_allclose(recall, beta(lam), rtol=1e-9, atol=1e-12, err_msg="recall")


# (F_8, F_1/8) at the curve's corner (α, β) = (max precision, max recall), which dominates the
# curve in these cases: F_β(1, 1/2) = (1 + β²) / 2 / (β² + 1/2), etc.
PRD_F_BETA = {
    "half_overlap": (0.5, 0.5),
    "mode_dropping": (65 * 0.5 / 64.5, (65 / 64) * 0.5 / (1 / 64 + 0.5)),  # 0.504, 0.985
    "mode_invention": ((65 * 0.75) / (64 * 0.75 + 1), (65 / 64) * 0.75 / (0.75 / 64 + 1)),
}


@pytest.mark.parametrize("case", sorted(PRD_CASES))
def test_prd_f8_and_f1_8_match_closed_form(case):
    """``prd_to_max_f_beta_pair`` returns (F_8, F_1/8): F_8 weighs recall (low when modes are
    dropped), F_1/8 precision (low when modes are invented)."""
    ref, eval_, _, _ = PRD_CASES[case]
    precision, recall = compute_prd(np.array(eval_), np.array(ref), num_angles=100_001)
    f8, f1_8 = prd_to_max_f_beta_pair(precision, recall)
    expected_f8, expected_f1_8 = PRD_F_BETA[case]
    assert f8 == pytest.approx(expected_f8, abs=1e-4), "F_8 (recall-weighted)"
    assert f1_8 == pytest.approx(expected_f1_8, abs=1e-4), "F_1/8 (precision-weighted)"
    # The maxima of F_β written out, along the library's curve.
    assert f8 == pytest.approx(np.max(_f_beta_written_out(precision, recall, 8)), rel=1e-8)
    assert f1_8 == pytest.approx(np.max(_f_beta_written_out(precision, recall, 1 / 8)), rel=1e-8)


def test_prd_to_max_f_beta_pair_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        prd_to_max_f_beta_pair(np.array([1.2]), np.array([0.5]))
    with pytest.raises(ValueError, match="beta must be positive"):
        prd_to_max_f_beta_pair(np.array([0.5]), np.array([0.5]), beta=0)


def _three_blobs(rng, counts):
    """Points around (0, 0), (100, 0) and (0, 100), ``counts[k]`` in blob k; and their blob."""
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    blob = np.repeat(np.arange(3), counts)
    return centres[blob] + rng.normal(size=(len(blob), 2)), blob


def test_kmeans_recovers_separable_clusters():
    """On three far-apart blobs, k-means (k = 3) gives each blob one label of its own, for
    every seed."""
    rng = np.random.default_rng(7)
    points, blob = _three_blobs(rng, [40, 70, 10])
    for seed in range(5):
        labels = kmeans(points, 3, seed=seed)
        assert labels.shape == (120,) and labels.dtype == np.int64
        mapping = {int(b): set(labels[blob == b].tolist()) for b in range(3)}
        assert all(len(v) == 1 for v in mapping.values()), f"a blob split: {mapping}"
        assert len(set().union(*mapping.values())) == 3, f"blobs merged: {mapping}"


def test_kmeans_labels_are_a_lloyd_fixed_point():
    """On one Gaussian blob (no obvious clusters, so the k-means++ seeds are not the answer),
    the converged labels are stable under Lloyd's step: every point is nearest to the mean of
    its own cluster (means computed here in float64), and no cluster is empty."""
    rng = np.random.default_rng(9)
    points = rng.normal(size=(400, 3))
    for seed in range(3):
        labels = kmeans(points, 6, seed=seed)
        assert np.bincount(labels, minlength=6).min() > 0
        means = np.stack([points[labels == k].mean(axis=0) for k in range(6)])
        nearest = ((points[:, None] - means[None]) ** 2).sum(axis=2).argmin(axis=1)
        np.testing.assert_array_equal(nearest, labels, err_msg="k-means did not converge")


def test_prd_from_embedding_histograms_separable_clusters_exactly():
    """With one cluster per blob, the histograms are the exact blob proportions: evaluated
    (1/6, 1/3, 1/2), reference (1/3, 2/3, 0), so the curve is ``compute_prd`` of those; the
    curve is not symmetric, so evaluated and reference must not be swapped."""
    rng = np.random.default_rng(8)
    eval_points, _ = _three_blobs(rng, [10, 20, 30])
    ref_points, _ = _three_blobs(rng, [20, 40, 0])
    precision, recall = compute_prd_from_embedding(
        eval_points, ref_points, num_clusters=3, num_runs=4
    )
    q, p = np.array([1, 2, 3]) / 6, np.array([1, 2, 0]) / 3
    expected_precision, expected_recall = compute_prd(q, p)
    np.testing.assert_allclose(precision, expected_precision, rtol=1e-12, err_msg="precision")
    np.testing.assert_allclose(recall, expected_recall, rtol=1e-12, err_msg="recall")
    # Half of the evaluated mass lies in the first two blobs: max precision 1/2, full recall.
    assert precision.max() == pytest.approx(0.5, abs=1e-6)
    assert recall.max() == pytest.approx(1.0, abs=1e-6)


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


def test_log_condition_keeps_torchs_own_jit_script_warning_from_the_caller():
    """The first forward-mode pass of a process loads torch's JVP decompositions, which torch
    compiles with ``torch.jit.script`` and warns about; a fresh process shows the caller none."""
    script = (
        "import torch\n"
        "from zoo.metrics import generator_log_condition\n"
        "generator = torch.nn.Sequential(torch.nn.Linear(4, 12))\n"
        "generator_log_condition(generator, num_z=2, z_dim=4, num_classes=0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
