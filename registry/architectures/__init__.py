"""Generators and discriminators of the paper's Appendix B, registered by name.

``base`` holds the ``Generator`` and ``Discriminator`` base classes, ``norm_factory`` the choice
of self-modulated layers (Figure 2(c)), ``norm_config`` how ``G.config`` records a norm,
``layer_options`` the width multiplier and spectral norm, ``variants`` the registration of one
class per table; ``sndcgan`` and ``resnet`` hold the architectures of Appendix B.1 and B.2-B.3.
"""

from registry.architectures import resnet, sndcgan
from registry.architectures.base import Discriminator, Generator
from registry.architectures.norm_factory import NormFactory

__all__ = ["Discriminator", "Generator", "NormFactory", "resnet", "sndcgan"]
