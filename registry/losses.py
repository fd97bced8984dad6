"""GAN losses on discriminator logits (Section 3.1), each as ``d_loss(real, fake)`` and
``g_loss(fake)`` to be *minimised*. The paper's V_D is maximised by D; we minimise −V_D."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from registry._registry import register

__all__ = ["GANLoss", "Hinge", "LeastSquares", "NonSaturating", "Wasserstein"]


class GANLoss:
    """A GAN loss: ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits)``."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register("loss", "non_saturating")
class NonSaturating(GANLoss):
    """Goodfellow et al. (2014): V_D = E log D(x) + E log(1 − D(G(z))), V_G = −E log D(G(z)),
    with D = sigmoid(logit)."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake).mean()


@register("loss", "hinge")
class Hinge(GANLoss):
    """Miyato et al. (2018): V_D = E min(0, −1 + D(x)) + E min(0, −1 − D(G(z))),
    V_G = −E D(G(z))."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()


@register("loss", "wasserstein")
class Wasserstein(GANLoss):
    """Arjovsky et al. (2017): D maximises E D(x) − E D(G(z)); use with a gradient penalty."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.mean() - real.mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()


@register("loss", "least_squares")
class LeastSquares(GANLoss):
    """Mao et al. (2016), targets 1 for real and 0 for fake."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((fake - 1.0) ** 2).mean()
