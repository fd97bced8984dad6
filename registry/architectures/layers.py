"""Pieces shared by the architectures: the generator base class, the per-layer norm factory
(which layers are self-modulated, Figure 2(c)) and spectral normalization switches."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gin
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from registry._registry import get, name_of, resolve
from registry.norms import BatchNorm

__all__ = ["Discriminator", "Generator", "NormFactory", "maybe_sn", "scaled"]

NormCls = Callable[..., nn.Module]


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels`` times the width multiplier (at least 1)."""
    return max(1, round(channels * width))


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalization (Miyato et al. 2018) on ``module`` when ``enabled``."""
    return spectral_norm(module) if enabled else module


def norm_spec(norm: NormCls | str, kwargs: Mapping[str, Any] | None = None) -> tuple[str, dict]:
    """A norm's registry name and the keyword arguments it is built with: ``kwargs`` over the
    gin bindings of ``norm.<name>`` when ``norm`` is gin's configurable copy (``@norm.sbn``),
    so that a rebuilt model matches one trained with e.g. ``norm.sbn.hidden_dim = 64``."""
    name = norm if isinstance(norm, str) else name_of("norm", norm)
    from_gin = not isinstance(norm, str) and norm is not get("norm", name)
    spec = {**(gin.get_bindings(f"norm.{name}") if from_gin else {}), **(kwargs or {})}
    try:
        json.dumps(spec)
    except TypeError as error:
        raise ValueError(
            f"norm {name!r} is configured with {spec}, which a checkpoint's config.json cannot "
            f"hold ({error}); bind numbers, strings or lists, or register what you pass."
        ) from None
    return name, spec


class NormFactory:
    """Builds the generator's norms in table order (layer 0 is the first norm of the table).

    ``modulated_layers=None`` puts ``norm`` on every layer; a list of indices puts it on those
    layers and ``fallback`` (plain BN) elsewhere: the single-layer ablation of Figure 2(c), A.2.
    """

    def __init__(
        self,
        norm: NormCls | str,
        z_dim: int,
        num_classes: int,
        modulated_layers: Sequence[int] | None = None,
        fallback: NormCls | str = BatchNorm,
        norm_kwargs: Mapping[str, Any] | None = None,
        fallback_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.norm, self.fallback = resolve("norm", norm), resolve("norm", fallback)
        self.kwargs, self.fallback_kwargs = dict(norm_kwargs or {}), dict(fallback_kwargs or {})
        self.z_dim, self.num_classes = z_dim, num_classes
        self.modulated = None if modulated_layers is None else set(modulated_layers)
        self.count = 0

    def __call__(self, num_features: int) -> nn.Module:
        chosen = self.modulated is None or self.count in self.modulated
        self.count += 1
        cls, kwargs = (self.norm, self.kwargs) if chosen else (self.fallback, self.fallback_kwargs)
        return cls(num_features, z_dim=self.z_dim, num_classes=self.num_classes, **kwargs)

    def check(self) -> None:
        """Fail if a requested layer index does not exist."""
        if self.modulated is not None and (
            bad := sorted(i for i in self.modulated if not 0 <= i < self.count)
        ):
            raise ValueError(
                f"modulated_layers {bad} out of range: this generator has "
                f"{self.count} norm layers, numbered 0..{self.count - 1}."
            )


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
        norm_name, norm_kwargs = norm_spec(norm, norm_kwargs)
        fallback_name, fallback_norm_kwargs = norm_spec(fallback_norm, fallback_norm_kwargs)
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

    With ``num_classes > 0`` it adds the projection term of Appendix B.3:
    ``D(x, y) = ψ(φ(x)) + φ(x)ᵀ E(y)``.
    """

    num_classes: int
    config: dict

    def init_head(self, feature_dim: int, num_classes: int, use_sn: bool) -> None:
        self.num_classes = num_classes
        self.linear = maybe_sn(nn.Linear(feature_dim, 1), use_sn)  # ψ
        self.embed = (
            maybe_sn(nn.Embedding(num_classes, feature_dim), use_sn) if num_classes else None
        )

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
