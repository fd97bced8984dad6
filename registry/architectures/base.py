"""The base classes of every architecture: ``Generator`` (``G(z, y)``, its norms chosen per
layer) and ``Discriminator`` (``D(x, y)``, with the projection head of Appendix B.3).

Each holds the constructor arguments its registered subclasses share and records them in
``config``; a subclass only builds the layers of its table (``build``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from registry.architectures.layer_options import maybe_sn
from registry.architectures.norm_config import norm_name_and_kwargs
from registry.architectures.norm_factory import NormCls, NormFactory

__all__ = ["Discriminator", "Generator"]


class Generator(nn.Module):
    """Base of every generator: ``G(z, y=None)`` maps z ~ N(0, I) to images in [-1, 1].

    ``config`` holds the constructor arguments, norms by registry name with their keyword
    arguments (gin bindings of the norm included), so that
    ``registry.create("generator", name, **G.config)`` rebuilds the same architecture.
    """

    z_dim: int
    num_classes: int
    resolution: int
    channels: int
    config: dict

    def __init__(
        self,
        z_dim: int = 128,
        norm: NormCls | str = "sbn",
        num_classes: int = 0,
        width: float = 1.0,
        channels: int = 3,
        modulated_layers: Sequence[int] | None = None,
        fallback_norm: NormCls | str = "bn",
        norm_kwargs: Mapping[str, Any] | None = None,
        fallback_norm_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """Common arguments of every generator; ``build`` makes the layers of its table.
        ``norm_kwargs`` go to every ``norm`` (e.g. sBN's ``hidden_dim``)."""
        super().__init__()
        self.z_dim, self.num_classes, self.channels = z_dim, num_classes, channels
        norm_name, norm_kwargs = norm_name_and_kwargs(norm, norm_kwargs)
        fallback_name, fallback_norm_kwargs = norm_name_and_kwargs(
            fallback_norm, fallback_norm_kwargs
        )
        self.config = {
            "z_dim": z_dim,
            "norm": norm_name,
            "num_classes": num_classes,
            "width": width,
            "channels": channels,
            "modulated_layers": None if modulated_layers is None else list(modulated_layers),
            "fallback_norm": fallback_name,
        }
        if norm_kwargs:  # only when set: configs of default norms stay as they were
            self.config["norm_kwargs"] = norm_kwargs
        if fallback_norm_kwargs:
            self.config["fallback_norm_kwargs"] = fallback_norm_kwargs
        make_norm = NormFactory(
            norm,
            z_dim,
            num_classes,
            modulated_layers,
            fallback_norm,
            norm_kwargs,
            fallback_norm_kwargs,
        )
        self.build(width, make_norm)
        make_norm.check()

    def build(self, width: float, make_norm: NormFactory) -> None:
        """Create the layers; ``make_norm(channels)`` gives the next norm in table order."""
        raise NotImplementedError

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent vectors z ~ N(0, I) on the model's device."""
        device = next(self.parameters()).device
        return torch.randn(n, self.z_dim, generator=generator).to(device)

    @torch.no_grad()
    def sample(
        self, n: int, labels: torch.Tensor | Sequence[int] | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """n images in [-1, 1] in the model's current mode (eval mode: BN running statistics).

        Conditional generators draw uniform labels unless ``labels`` is given.
        """
        rng = torch.Generator().manual_seed(seed) if seed is not None else None
        z = self.sample_latents(n, rng)
        y = None
        if self.num_classes > 0:
            if labels is None:
                labels = torch.randint(self.num_classes, (n,), generator=rng)
            y = torch.as_tensor(labels, dtype=torch.long).to(z.device)
            if y.shape != (n,):
                raise ValueError(f"labels must have shape ({n},), got {tuple(y.shape)}.")
        return self(z, y)


class Discriminator(nn.Module):
    """Base of every discriminator: ``D(x, y=None)`` returns one logit per image (shape N).

    ``D(x) = ψ(φ(x))`` with φ the layers of the table (``build``) and ψ a linear layer; with
    ``num_classes > 0`` it adds the projection term of Appendix B.3:
    ``D(x, y) = ψ(φ(x)) + φ(x)ᵀ E(y)``. ``config`` holds the constructor arguments.
    """

    num_classes: int
    config: dict

    def __init__(
        self,
        num_classes: int = 0,
        width: float = 1.0,
        channels: int = 3,
        spectral_norm: bool = True,
    ) -> None:
        """Common arguments of every discriminator; ``build`` makes the layers of its table."""
        super().__init__()
        self.config = dict(
            num_classes=num_classes, width=width, channels=channels, spectral_norm=spectral_norm
        )
        feature_dim = self.build(width, channels, spectral_norm)
        self.num_classes = num_classes
        self.linear = maybe_sn(nn.Linear(feature_dim, 1), spectral_norm)  # ψ
        self.embed = (
            maybe_sn(nn.Embedding(num_classes, feature_dim), spectral_norm) if num_classes else None
        )

    def build(self, width: float, channels: int, use_sn: bool) -> int:
        """Create the layers of φ for ``channels``-channel images; return φ(x)'s dimension."""
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x): the final feature vector."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features(x)
        out = self.linear(phi).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("This projection discriminator needs labels: call D(x, y).")
            out = out + (phi * self.embed(y)).sum(dim=1)
        return out
