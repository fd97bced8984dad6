"""Discriminator regularisers (Section 3.1, "Controlling the Lipschitz constant").

A penalty is called as ``penalty(D, real, fake, labels)`` and returns the weighted term to add
to D's loss. Spectral normalization is not a penalty: it is the discriminators'
``spectral_norm`` argument.
"""

from __future__ import annotations

import torch
from torch import nn

from registry._registry import register

__all__ = ["DRAGAN", "R1", "GradientPenalty", "NoPenalty", "Penalty"]


class Penalty:
    """Base class: ``weight`` times a penalty on D's gradient at some input points.

    The trainer puts :meth:`points` into its one D forward pass (real, fake and points at once)
    and gets the term from D's outputs at the points with :meth:`at`; calling the penalty does
    both with a forward pass of its own.
    """

    def __init__(self, weight: float = 10.0) -> None:
        self.weight = weight

    def points(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """Where the gradient is taken (``None``: no penalty)."""
        raise NotImplementedError

    def gradient_term(self, grad_norm: torch.Tensor) -> torch.Tensor:
        """The per-sample penalty as a function of ‖∇D‖."""
        raise NotImplementedError

    def from_gradient(self, grad: torch.Tensor) -> torch.Tensor:
        """``weight`` times the batch mean of :meth:`gradient_term` of ‖grad‖."""
        return self.weight * self.gradient_term(grad.flatten(1).norm(2, dim=1)).mean()

    def at(self, outputs: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """The penalty from D's ``outputs`` at ``points`` (which require grad): the input
        gradient is taken with ``create_graph`` so that D's update backpropagates through it."""
        (grad,) = torch.autograd.grad(outputs.sum(), points, create_graph=True)
        return self.from_gradient(grad.float())

    def __call__(
        self,
        discriminator: nn.Module,
        real: torch.Tensor,
        fake: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        points = self.points(real.detach(), fake.detach())
        if points is None:
            return real.new_zeros(())
        points.requires_grad_(True)
        return self.at(discriminator(points, labels), points)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight={self.weight})"


@register("penalty", "none")
class NoPenalty(Penalty):
    """No regulariser (use with spectral norm on D)."""

    def __init__(self, weight: float = 0.0) -> None:
        super().__init__(weight)

    def points(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        return None


@register("penalty", "gradient")
class GradientPenalty(Penalty):
    """Gulrajani et al. (2017): λ E (‖∇D(x̂)‖ − 1)², x̂ uniformly between real and fake.
    The paper uses λ ∈ {1, 10}."""

    def points(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
        return real + alpha * (fake - real)

    def gradient_term(self, grad_norm: torch.Tensor) -> torch.Tensor:
        return (grad_norm - 1.0) ** 2


@register("penalty", "dragan")
class DRAGAN(Penalty):
    """Kodali et al. (2017): λ E (‖∇D(x̂)‖ − 1)², x̂ = x + δ, δ ~ U(0, c·std(x)) noise."""

    def __init__(self, weight: float = 10.0, scale: float = 0.5) -> None:
        super().__init__(weight)
        self.scale = scale

    def points(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return real + self.scale * real.std() * torch.rand_like(real)

    def gradient_term(self, grad_norm: torch.Tensor) -> torch.Tensor:
        return (grad_norm - 1.0) ** 2


@register("penalty", "r1")
class R1(Penalty):
    """Mescheder et al. (2018): (λ/2) E ‖∇D(x)‖² on real data."""

    def points(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return real.clone()

    def gradient_term(self, grad_norm: torch.Tensor) -> torch.Tensor:
        return 0.5 * grad_norm**2
