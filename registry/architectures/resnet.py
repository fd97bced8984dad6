"""ResNet GAN (Miyato et al. 2018) as in Appendix B.2: generators of Tables 10 and 12,
discriminators of Tables 11 and 13, and the projection discriminator of Appendix B.3."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from registry._registry import register
from registry.architectures.base import Discriminator, Generator
from registry.architectures.layer_options import maybe_sn, scaled
from registry.architectures.norm_factory import NormFactory

__all__ = ["ResNetDiscriminator", "ResNetGenerator"]


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class GeneratorBlock(nn.Module):
    """norm, ReLU, Upsample, Conv3x3 (c_in), norm, ReLU, Conv3x3 (c_out); the skip upsamples
    its input and applies a 1x1 convolution (Tables 10, 12)."""

    def __init__(self, c_in: int, c_out: int, make_norm: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.norm1 = make_norm(c_in)
        self.conv1 = nn.Conv2d(c_in, c_in, 3, padding=1)
        self.norm2 = make_norm(c_in)
        self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(_upsample(F.relu(self.norm1(x, z, y))))
        h = self.conv2(F.relu(self.norm2(h, z, y)))
        return h + self.shortcut(_upsample(x))


class ResNetGenerator(Generator):
    """Linear -> 4x4 -> ResNet up-blocks -> norm, ReLU, Conv3x3, Tanh."""

    resolution: int
    block_channels: tuple[int, ...]  # the FC's channels, then each block's output channels

    def build(self, width: float, make_norm: NormFactory) -> None:
        widths = [scaled(c, width) for c in self.block_channels]
        self.fc = nn.Linear(self.z_dim, 4 * 4 * widths[0])
        self.blocks = nn.ModuleList(
            GeneratorBlock(c_in, c_out, make_norm) for c_in, c_out in itertools.pairwise(widths)
        )
        self.norm = make_norm(widths[-1])
        self.conv = nn.Conv2d(widths[-1], self.channels, 3, padding=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], -1, 4, 4)
        for block in self.blocks:
            h = block(h, z, y)
        return torch.tanh(self.conv(F.relu(self.norm(h, z, y))))


class DiscriminatorBlock(nn.Module):
    """(ReLU,) Conv3x3 (c_in), ReLU, Conv3x3 (c_out), optional 2x2 average-pool downsample; the
    skip applies a 1x1 convolution where channels or size change (Tables 11, 13)."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, first: bool, use_sn: bool) -> None:
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = maybe_sn(nn.Conv2d(c_in, c_out if first else c_in, 3, padding=1), use_sn)
        self.conv2 = maybe_sn(nn.Conv2d(c_out if first else c_in, c_out, 3, padding=1), use_sn)
        learned = c_in != c_out or downsample
        self.shortcut = maybe_sn(nn.Conv2d(c_in, c_out, 1), use_sn) if learned else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)  # the first block sees the image itself
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        if self.shortcut is None:
            return h + x
        skip = self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))
        return h + skip


class ResNetDiscriminator(Discriminator):
    """ResNet blocks -> ReLU -> global sum pooling -> Linear (plus projection, Appendix B.3)."""

    resolution: int
    block_channels: tuple[int, ...]  # each block's output channels
    downsample: tuple[bool, ...]

    def build(self, width: float, channels: int, use_sn: bool) -> int:
        widths = [scaled(c, width) for c in self.block_channels]
        ins = [channels, *widths[:-1]]
        self.blocks = nn.Sequential(
            *(
                DiscriminatorBlock(c_in, c_out, down, i == 0, use_sn)
                for i, (c_in, c_out, down) in enumerate(
                    zip(ins, widths, self.downsample, strict=True)
                )
            )
        )
        return widths[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))


# The registered classes, one per table. Table 10's last rows read 128x128x3: 32x32x3 is meant.
@register("generator", "resnet32")
class ResNet32Generator(ResNetGenerator):
    """ResNet generator at 32x32 (Table 10)."""

    resolution = 32
    block_channels = (256, 256, 256, 256)


@register("generator", "resnet128")
class ResNet128Generator(ResNetGenerator):
    """ResNet generator at 128x128 (Table 12)."""

    resolution = 128
    block_channels = (1024, 1024, 512, 256, 128, 64)


@register("discriminator", "resnet32")
class ResNet32Discriminator(ResNetDiscriminator):
    """ResNet discriminator at 32x32 (Table 11)."""

    resolution = 32
    block_channels = (128, 128, 128, 128)
    downsample = (True, True, False, False)


@register("discriminator", "resnet128")
class ResNet128Discriminator(ResNetDiscriminator):
    """ResNet discriminator at 128x128 (Table 13)."""

    resolution = 128
    block_channels = (64, 128, 256, 512, 1024, 1024)
    downsample = (True, True, True, True, True, False)
