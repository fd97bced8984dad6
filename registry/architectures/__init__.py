"""Generators and discriminators of the paper's Appendix B, registered by name."""

from registry.architectures import resnet, sndcgan
from registry.architectures.layers import Discriminator, Generator, NormFactory

__all__ = ["Discriminator", "Generator", "NormFactory", "resnet", "sndcgan"]
