"""Spherical interpolation of latents (``zoo.sampling.slerp``, behind ``scripts/sample.py
--interpolate``), checked numerically: the endpoints, the midpoint of two orthogonal unit
vectors, the norm along the path, the closed form and a constant angular speed."""

import math

import torch

from zoo.sampling import slerp

T = torch.linspace(0, 1, 11, dtype=torch.float64)


def _pair(seed: int, dim: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random latents of different norms, at a generic angle (float64)."""
    rng = torch.Generator().manual_seed(seed)
    a = torch.randn(dim, generator=rng, dtype=torch.float64)
    b = 2.5 * torch.randn(dim, generator=rng, dtype=torch.float64)
    return a, b


def test_endpoints_are_the_two_latents():
    a, b = _pair(0)
    path = slerp(a, b, torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(path[0], a, msg="slerp at t=0 is not a")
    torch.testing.assert_close(path[1], b, msg="slerp at t=1 is not b")


def test_midpoint_of_orthogonal_unit_vectors_is_on_the_sphere():
    """For orthogonal unit a, b (θ = π/2) the midpoint is (a + b)/√2, of norm 1, where a linear
    interpolation gives (a + b)/2, of norm 1/√2."""
    a = torch.zeros(8, dtype=torch.float64)
    b = torch.zeros(8, dtype=torch.float64)
    a[0], b[3] = 1.0, 1.0
    mid = slerp(a, b, torch.tensor([0.5], dtype=torch.float64))[0]
    torch.testing.assert_close(mid, (a + b) / math.sqrt(2), msg="midpoint: linear, not spherical?")


def test_unit_latents_stay_on_the_unit_sphere():
    a, b = _pair(1)
    a, b = a / a.norm(), b / b.norm()
    norms = slerp(a, b, T).norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms), msg="the path leaves the sphere")


def test_matches_the_closed_form():
    """slerp(a, b; t) = sin((1−t)θ)/sin θ · a + sin(tθ)/sin θ · b with cos θ = â·b̂, for latents
    of different norms."""
    a, b = _pair(2)
    theta = math.acos(float(a @ b / (a.norm() * b.norm())))
    expected = torch.stack(
        [
            math.sin((1 - t) * theta) / math.sin(theta) * a
            + math.sin(t * theta) / math.sin(theta) * b
            for t in T.tolist()
        ]
    )
    torch.testing.assert_close(slerp(a, b, T), expected)


def test_unit_path_is_a_rotation_at_constant_speed():
    """Independently of the sine formula: for unit a, b at angle θ, with e = the unit vector of
    b's component orthogonal to a, the path is cos(tθ)·a + sin(tθ)·e: the angle to a is tθ."""
    a, b = _pair(3)
    a, b = a / a.norm(), b / b.norm()
    theta = torch.arccos(a @ b)
    e = b - (a @ b) * a
    e = e / e.norm()
    rotation = torch.cos(T[:, None] * theta) * a + torch.sin(T[:, None] * theta) * e
    path = slerp(a, b, T)
    torch.testing.assert_close(path, rotation)
    torch.testing.assert_close(torch.arccos((path @ a).clamp(-1, 1)), T * theta)


def test_parallel_latents_interpolate_linearly_without_nan():
    a = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    path = slerp(a, 3 * a, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(path, torch.stack([a, 2 * a, 3 * a]))
