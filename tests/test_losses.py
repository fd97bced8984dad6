"""Section 3.1's losses as written, and the gradient penalties on a linear D."""

import math

import pytest
import torch

import registry


def test_non_saturating_matches_section_3_1():
    loss = registry.create("loss", "non_saturating")
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    v_d = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
    torch.testing.assert_close(loss.d_loss(real, fake), -v_d)
    torch.testing.assert_close(loss.g_loss(fake), -torch.log(d_fake).mean())


def test_hinge_matches_section_3_1():
    loss = registry.create("loss", "hinge")
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.25])
    v_d = torch.clamp(-1 + real, max=0).mean() + torch.clamp(-1 - fake, max=0).mean()
    torch.testing.assert_close(loss.d_loss(real, fake), -v_d)
    assert loss.d_loss(real, fake).item() == pytest.approx((0.5 + 1.25) / 2)
    torch.testing.assert_close(loss.g_loss(fake), -fake.mean())


def test_wasserstein_and_least_squares():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0])
    assert registry.create("loss", "wasserstein").d_loss(real, fake).item() == -1.5
    ls = registry.create("loss", "least_squares")
    assert ls.d_loss(real, fake).item() == pytest.approx(0.5 * 2.0 + 0.5 * 0.5)
    assert ls.g_loss(fake).item() == pytest.approx(0.25)


class LinearD(torch.nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((dim,), 0.5))

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gradient", lambda n: 10 * (n - 1) ** 2),
        ("dragan", lambda n: 10 * (n - 1) ** 2),
        ("r1", lambda n: 10 * 0.5 * n**2),
    ],
)
def test_penalties_on_a_linear_discriminator(name, expected):
    d = LinearD(12)  # ‖∇D‖ = ‖w‖ = 0.5·√12 everywhere
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    value = registry.create("penalty", name, weight=10.0)(d, real, fake)
    assert value.item() == pytest.approx(expected(0.5 * math.sqrt(12)), rel=1e-5)
    value.backward()  # differentiable w.r.t. D's parameters
    assert d.w.grad is not None and d.w.grad.abs().sum() > 0


def test_no_penalty_is_zero():
    assert registry.create("penalty", "none")(LinearD(4), torch.randn(2, 4), torch.randn(2, 4)) == 0
