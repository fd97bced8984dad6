"""Normalization layers of the generator: BN (Eq. 1), self-modulated BN (Eq. 2), conditional BN
(Appendix B.3), conditional self-modulated BN (Eq. 3) and self-modulation alone (Discussion).

CBN is BN and csBN is sBN with label-dependent parameters, which ``init_conditioning`` adds
(CBN's γ_y, β_y; csBN's E, E'); the others have none.

Every norm is built as ``norm(num_features, z_dim=..., num_classes=...)`` and called as
``norm(h, z, y)``, so a generator never knows which one it holds. The batch statistics live in a
standard ``nn.BatchNorm2d`` child named ``bn`` (affine only for plain BN), so
``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` converts every norm cleanly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from registry._registry import register
from registry.architectures.layer_options import maybe_sn
from registry.modulated_batch_norm import modulated_batch_norm

__all__ = [
    "BatchNorm",
    "ConditionalBatchNorm",
    "ConditionalSelfModulatedBatchNorm",
    "Modulation",
    "SelfModulatedBatchNorm",
    "SelfModulation",
]


INITS = ("zero", "normal")
"""How the modulation MLP starts (:class:`Modulation`)."""


def _raw_weight(layer: nn.Linear) -> torch.Tensor:
    """The weight to initialise: under spectral norm the parametrization's original (the
    ``weight`` attribute is then recomputed from it on every access)."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original
    return layer.weight


class Modulation(nn.Module):
    """γ(z) and β(z) of Eq. 2: ``γ = V_γ max(0, U z + b) + c_γ`` and likewise β.

    One hidden layer (``hidden_dim``, 32 as in compare_gan) is shared by the γ and β heads;
    ``hidden_dim=0`` makes both linear in z. γ's bias starts at 1 and β's at 0. ``init``:

    - ``"zero"`` (default): the heads start at zero weight, so an untrained modulation is the
      identity affine map (γ=1, β=0), as BN's initial γ, β; the hidden layer keeps PyTorch's
      default start. With spectral norm a zero weight is undefined, so the heads then keep
      their default (small random) start.
    - ``"normal"``: compare_gan's start, every weight N(0, 0.02) and the hidden bias 0, so γ(z)
      and β(z) vary a little with z from the first step.
    """

    def __init__(
        self,
        z_dim: int,
        num_features: int,
        hidden_dim: int = 32,
        use_sn: bool = False,
        init: str = "zero",
    ) -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown modulation init {init!r}: use one of {', '.join(INITS)}.")
        if hidden_dim > 0:
            self.hidden = nn.Sequential(maybe_sn(nn.Linear(z_dim, hidden_dim), use_sn), nn.ReLU())
            head_in = hidden_dim
        else:
            self.hidden = nn.Identity()
            head_in = z_dim
        self.gamma = nn.Linear(head_in, num_features)
        self.beta = nn.Linear(head_in, num_features)
        if init == "normal":
            linears = [m for m in self.hidden.modules() if isinstance(m, nn.Linear)]
            for layer in [*linears, self.gamma, self.beta]:
                nn.init.normal_(_raw_weight(layer), std=0.02)
                nn.init.zeros_(layer.bias)
        elif not use_sn:
            nn.init.zeros_(self.gamma.weight)
            nn.init.zeros_(self.beta.weight)
        nn.init.ones_(self.gamma.bias)
        nn.init.zeros_(self.beta.bias)
        self.gamma = maybe_sn(self.gamma, use_sn)
        self.beta = maybe_sn(self.beta, use_sn)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden(z)
        return self.gamma(h), self.beta(h)


@register("norm", "bn")
class BatchNorm(nn.Module):
    """Eq. 1: ``h' = γ ⊙ (h − μ)/σ + β`` with γ, β learned per channel (the paper's baseline):
    the affine parameters of the ``bn`` child."""

    affine = True

    def __init__(
        self,
        num_features: int,
        z_dim: int = 0,
        num_classes: int = 0,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=self.affine)
        self.init_conditioning(num_features, z_dim, num_classes)

    def init_conditioning(self, num_features: int, z_dim: int, num_classes: int) -> None:
        """The parameters that depend on the label y: none, Eq. 1 ignores it."""

    def forward(
        self, h: torch.Tensor, z: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.bn(h)


@register("norm", "sbn")
class SelfModulatedBatchNorm(nn.Module):
    """Eq. 2: ``h' = γ(z) ⊙ (h − μ)/σ + β(z)``, γ and β one-hidden-layer ReLU MLPs of z.

    ``normalize=False`` drops the normalization (the paper's Discussion: modulation alone).
    """

    def __init__(
        self,
        num_features: int,
        z_dim: int,
        num_classes: int = 0,
        hidden_dim: int = 32,
        use_sn: bool = False,
        normalize: bool = True,
        eps: float = 1e-5,
        momentum: float = 0.1,
        init: str = "zero",
    ) -> None:
        super().__init__()
        if z_dim <= 0:
            raise ValueError("sbn needs the generator's z_dim > 0 to modulate on z.")
        self.bn = (
            nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
            if normalize
            else nn.Identity()
        )
        self.modulation = Modulation(z_dim, num_features, hidden_dim, use_sn, init)
        self.init_conditioning(num_features, z_dim, num_classes)

    def init_conditioning(self, num_features: int, z_dim: int, num_classes: int) -> None:
        """The parameters that depend on the label y: none, Eq. 2 modulates on z alone."""

    def modulating_input(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """What γ and β are computed from: z itself (Eq. 2)."""
        return z

    def forward(
        self, h: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        if z is None:
            raise ValueError(f"{type(self).__name__} needs z: call norm(h, z, y).")
        gamma, beta = self.modulation(self.modulating_input(z, y))
        return modulated_batch_norm(h, gamma, beta, self.bn)  # bn: nn.Identity without normalizing


@register("norm", "smod")
class SelfModulation(SelfModulatedBatchNorm):
    """Self-modulation without normalization, ``h' = γ(z) ⊙ h + β(z)`` (Section 2, Discussion)."""

    def __init__(
        self,
        num_features: int,
        z_dim: int,
        num_classes: int = 0,
        hidden_dim: int = 32,
        use_sn: bool = False,
        init: str = "zero",
    ) -> None:
        super().__init__(
            num_features, z_dim, num_classes, hidden_dim, use_sn, normalize=False, init=init
        )


@register("norm", "cbn")
class ConditionalBatchNorm(BatchNorm):
    """Appendix B.3: ``h' = γ_y ⊙ (h − μ)/σ + β_y``, one (γ, β) per class (Miyato & Koyama)."""

    affine = False  # γ_y and β_y take the place of BN's own γ and β

    def init_conditioning(self, num_features: int, z_dim: int, num_classes: int) -> None:
        """γ_y and β_y, embeddings of the class starting at γ = 1 and β = 0 (plain BN)."""
        if num_classes <= 0:
            raise ValueError("cbn needs num_classes > 0: set the generator's num_classes.")
        self.gamma = nn.Embedding(num_classes, num_features)
        self.beta = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(
        self, h: torch.Tensor, z: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        if y is None:
            raise ValueError("cbn needs class labels y: call the generator as G(z, y).")
        return modulated_batch_norm(h, self.gamma(y), self.beta(y), self.bn)


@register("norm", "csbn")
class ConditionalSelfModulatedBatchNorm(SelfModulatedBatchNorm):
    """Eq. 3: sBN on ``z' = z + E(y) + z ⊙ E'(y)``.

    E and E' belong to each layer and start at zero, so an untrained csbn equals sbn.
    """

    def init_conditioning(self, num_features: int, z_dim: int, num_classes: int) -> None:
        """E and E' of Eq. 3, embeddings of the class into z's space."""
        if num_classes <= 0:
            raise ValueError("csbn needs num_classes > 0: set the generator's num_classes.")
        self.embed = nn.Embedding(num_classes, z_dim)  # E
        self.embed_scale = nn.Embedding(num_classes, z_dim)  # E'
        nn.init.zeros_(self.embed.weight)
        nn.init.zeros_(self.embed_scale.weight)

    def modulating_input(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Eq. 3: ``z' = z + E(y) + z ⊙ E'(y)``."""
        if y is None:
            raise ValueError("csbn needs class labels y: call the generator as G(z, y).")
        return z + self.embed(y) + z * self.embed_scale(y)
