"""SNDCGAN (Miyato et al. 2018) as in Appendix B.1: generators of Tables 6 and 8,
discriminators of Tables 7 and 9. The generator's norm is injected (``@norm.sbn`` etc.)."""

from __future__ import annotations

import torch
from torch import nn

from registry._registry import register
from registry.architectures.base import Discriminator, Generator
from registry.architectures.layer_options import maybe_sn, scaled
from registry.architectures.norm_factory import NormFactory

__all__ = ["SNDCGANDiscriminator", "SNDCGANGenerator"]


class SNDCGANGenerator(Generator):
    """Table 6 (32x32) / Table 8 (128x128): Linear -> (norm, ReLU, Deconv4x4 s2) x 4 -> Tanh."""

    resolution: int

    def build(self, width: float, make_norm: NormFactory) -> None:
        self.bottom = self.resolution // 16  # 2 for Table 6, 8 for Table 8
        widths = [scaled(c, width) for c in (512, 256, 128, 64)]
        self.fc = nn.Linear(self.z_dim, self.bottom * self.bottom * widths[0])
        self.norms = nn.ModuleList(make_norm(c) for c in widths)
        outs = [*widths[1:], self.channels]
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
            for c_in, c_out in zip(widths, outs, strict=True)
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], -1, self.bottom, self.bottom)
        for norm, deconv in zip(self.norms, self.deconvs, strict=True):
            h = deconv(torch.relu(norm(h, z, y)))
        return torch.tanh(h)


class SNDCGANDiscriminator(Discriminator):
    """Table 7 (32x32) / Table 9 (128x128): pairs of Conv3x3 s1 and Conv4x4 s2 with
    LeakyReLU(0.1), a last Conv3x3, then Linear; optional spectral norm and projection head."""

    resolution: int

    def build(self, width: float, channels: int, use_sn: bool) -> int:
        c64, c128, c256, c512 = (scaled(c, width) for c in (64, 128, 256, 512))
        spec = [  # (in, out, kernel, stride) as in the table
            (channels, c64, 3, 1),
            (c64, c128, 4, 2),
            (c128, c128, 3, 1),
            (c128, c256, 4, 2),
            (c256, c256, 3, 1),
            (c256, c512, 4, 2),
            (c512, c512, 3, 1),
        ]
        self.convs = nn.ModuleList(
            maybe_sn(nn.Conv2d(i, o, k, stride=s, padding=1), use_sn) for i, o, k, s in spec
        )
        return c512 * (self.resolution // 8) ** 2

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), 0.1)
        return x.flatten(1)


# The registered classes, one per table.
@register("generator", "sndcgan32")
class SNDCGAN32Generator(SNDCGANGenerator):
    """SNDCGAN generator at 32x32 (Table 6)."""

    resolution = 32


@register("generator", "sndcgan128")
class SNDCGAN128Generator(SNDCGANGenerator):
    """SNDCGAN generator at 128x128 (Table 8)."""

    resolution = 128


@register("discriminator", "sndcgan32")
class SNDCGAN32Discriminator(SNDCGANDiscriminator):
    """SNDCGAN discriminator at 32x32 (Table 7)."""

    resolution = 32


@register("discriminator", "sndcgan128")
class SNDCGAN128Discriminator(SNDCGANDiscriminator):
    """SNDCGAN discriminator at 128x128 (Table 9)."""

    resolution = 128
