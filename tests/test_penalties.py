"""Each gradient penalty (Section 3.1, "Controlling the Lipschitz constant") is taken at the right
points with the right weight, checked on a discriminator whose input gradient is known in
closed form: D(x) = ½ s ‖x‖² (s a weight, 1 at start) has ∇ₓD(x) = s x, so a penalty on
‖∇D(x̂)‖ is a function of the points x̂ alone, ‖x̂‖."""

import itertools

import pytest
import torch
from accelerate import Accelerator
from torch import nn

import registry
from zoo.training import GANTrainer

N, SHAPE = 6, (2, 3, 3)


class HalfSquaredNorm(nn.Module):
    """D(x) = ½ s ‖x‖² per sample, ∇ₓD = s x; records the inputs of each forward pass."""

    num_classes = 0

    def __init__(self) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.ones(()))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x, y=None):
        self.inputs.append(x.detach().clone())
        return 0.5 * self.s * x.flatten(1).pow(2).sum(dim=1)


class ConstantGenerator(nn.Module):
    """G(z) = a fixed batch (plus 0·z): the fake samples are known in advance."""

    z_dim, num_classes = 4, 0

    def __init__(self, fake: torch.Tensor) -> None:
        super().__init__()
        self.fake = nn.Parameter(fake.clone())

    def forward(self, z, y=None):
        return self.fake + 0 * z.sum()


def _real_and_fake():
    generator = torch.Generator().manual_seed(3)
    real = 0.3 * torch.randn(N, *SHAPE, generator=generator)
    fake = 0.3 * torch.randn(N, *SHAPE, generator=generator) + 0.5
    return real, fake


def _wgan_gp(points, weight):
    """λ E(‖x̂‖ − 1)², since ∇D(x̂) = x̂ (Gulrajani et al. 2017)."""
    return weight * ((points.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _position_on_segment(points, real, fake):
    """t with points = real + t (fake − real) per sample, and the distance off that line."""
    d, p = (fake - real).flatten(1), (points - real).flatten(1)
    t = (p * d).sum(1) / (d * d).sum(1)
    off = (p - t[:, None] * d).norm(dim=1)
    return t, off


@pytest.mark.parametrize("weight", [1.0, 10.0])
def test_gradient_penalty_is_taken_between_real_and_fake(weight):
    """WGAN-GP: λ E(‖∇D(x̂)‖ − 1)² at x̂ = real + α(fake − real), α ~ U(0, 1) drawn per sample
    as ``rand(n, 1, 1, 1)`` (the library puts α on the fake sample, which for a uniform α is
    Gulrajani et al.'s εx + (1 − ε)x̃ with ε = 1 − α)."""
    real, fake = _real_and_fake()
    D = HalfSquaredNorm()
    torch.manual_seed(7)
    value = registry.create("penalty", "gradient", weight=weight)(D, real, fake)
    torch.manual_seed(7)
    alpha = torch.rand(N, 1, 1, 1)
    expected_points = real + alpha * (fake - real)

    (points,) = D.inputs
    t, off = _position_on_segment(points, real, fake)
    assert off.max() < 1e-5, "gradient penalty: points are not on the segments real -> fake"
    assert t.min() > 0 and t.max() < 1 and t.std() > 0.05, (
        f"gradient penalty: points at fractions {t.tolist()} of the way from real to fake, "
        "not uniformly in between (taken at the fake or the real samples?)"
    )
    torch.testing.assert_close(points, expected_points, msg="gradient penalty: not at the seeded α")
    torch.testing.assert_close(
        value, _wgan_gp(expected_points, weight), msg="gradient penalty: wrong value (λ?)"
    )


def test_gradient_penalty_backpropagates_to_the_discriminator():
    """D's update goes through the penalty (``create_graph``): with ∇ₓD = s x,
    d/ds λ E(s‖x̂‖ − 1)² = λ E 2(s‖x̂‖ − 1)‖x̂‖ at s = 1."""
    real, fake = _real_and_fake()
    D = HalfSquaredNorm()
    torch.manual_seed(7)
    registry.create("penalty", "gradient", weight=10.0)(D, real, fake).backward()
    norm = D.inputs[0].flatten(1).norm(dim=1)
    expected = 10.0 * (2 * (norm - 1) * norm).mean()
    torch.testing.assert_close(D.s.grad, expected, msg="gradient penalty: no or wrong D gradient")


@pytest.mark.parametrize("weight", [1.0, 10.0])
def test_dragan_is_taken_around_the_real_data(weight):
    """DRAGAN (Kodali et al. 2017): λ E(‖∇D(x̂)‖ − 1)² at x̂ = x + c·std(x)·U(0, 1) noise,
    c = 0.5; the fake samples play no part."""
    real, fake = _real_and_fake()
    penalty = registry.create("penalty", "dragan", weight=weight)
    D = HalfSquaredNorm()
    torch.manual_seed(7)
    value = penalty(D, real, fake)
    torch.manual_seed(7)
    expected_points = real + 0.5 * real.std() * torch.rand_like(real)
    torch.testing.assert_close(D.inputs[0], expected_points, msg="DRAGAN: not at x + noise")
    torch.testing.assert_close(value, _wgan_gp(expected_points, weight), msg="DRAGAN: value")
    torch.manual_seed(7)
    other_fake = penalty(HalfSquaredNorm(), real, fake + 3.0)
    torch.testing.assert_close(other_fake, value, msg="DRAGAN: depends on the fake samples")


@pytest.mark.parametrize("weight", [1.0, 10.0])
def test_r1_is_taken_at_the_real_data(weight):
    """R1 (Mescheder et al. 2018): (γ/2) E‖∇D(x)‖² at the real data x, = (γ/2) E‖x‖² here."""
    real, fake = _real_and_fake()
    D = HalfSquaredNorm()
    value = registry.create("penalty", "r1", weight=weight)(D, real, fake)
    torch.testing.assert_close(D.inputs[0], real, msg="R1: not at the real data")
    expected = weight / 2 * (real.flatten(1).norm(dim=1) ** 2).mean()
    torch.testing.assert_close(value, expected, msg="R1: value")


def test_every_registered_penalty_is_checked_here():
    """A newly registered penalty must get its closed-form check in this file."""
    assert set(registry.list("penalty")) <= {"none", "gradient", "dragan", "r1"}


def test_no_penalty_has_no_points():
    real, fake = _real_and_fake()
    assert registry.create("penalty", "none").points(real, fake) is None


@pytest.mark.parametrize("weight", [1.0, 10.0])
def test_trainer_takes_the_gradient_penalty_between_its_real_and_fake(weight):
    """Through the trainer's one D pass (real, fake, points): the third part of D's input lies
    between the real batch and G's samples at the seeded α, and the penalty the step reports
    is λ E(‖x̂‖ − 1)² there."""
    real, fake = _real_and_fake()
    D = HalfSquaredNorm()
    trainer = GANTrainer(
        Accelerator(cpu=True),
        ConstantGenerator(fake),
        D,
        loss=registry.create("loss", "hinge"),
        penalty=registry.create("penalty", "gradient", weight=weight),
        disc_iters=1,
        learning_rate=1e-3,
        betas=(0.5, 0.999),
        precision="no",
        fused_optimizer=False,
    )
    torch.manual_seed(11)
    out = trainer.step(itertools.repeat((real, torch.zeros(N, dtype=torch.long))))
    torch.manual_seed(11)
    torch.randn(N, 4)  # the step draws z first
    alpha = torch.rand(N, 1, 1, 1)

    d_step_input = D.inputs[0]
    assert d_step_input.shape[0] == 3 * N, "the D step should see real, fake and penalty points"
    seen_real, seen_fake, points = d_step_input.split(N)
    torch.testing.assert_close(seen_real, real, msg="D step: real batch")
    torch.testing.assert_close(seen_fake, fake, msg="D step: fake batch")
    t, off = _position_on_segment(points, real, fake)
    assert off.max() < 1e-5 and t.min() > 0 and t.max() < 1 and t.std() > 0.05, (
        f"trainer's gradient penalty points at fractions {t.tolist()} from real to fake"
    )
    torch.testing.assert_close(points, real + alpha * (fake - real), msg="penalty points")
    torch.testing.assert_close(out["penalty"], _wgan_gp(points, weight), msg="penalty value")
