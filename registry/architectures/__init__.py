"""Generators and discriminators of the paper's Appendix B, registered by name.

``base`` holds the ``Generator`` and ``Discriminator`` base classes, ``norm_factory`` the choice
of self-modulated layers (Figure 2(c)), ``norm_config`` how ``G.config`` records a norm,
``layer_options`` the width multiplier and spectral norm; ``sndcgan`` and ``resnet`` hold the
architectures of Appendix B.1 and B.2-B.3, each ending with its registered classes, one per table
(``generator.sndcgan32`` is ``SNDCGAN32Generator``, the SNDCGAN generator of Table 6).
"""

from registry.architectures import resnet, sndcgan
from registry.architectures.base import Discriminator, Generator
from registry.architectures.norm_factory import NormFactory

__all__ = ["Discriminator", "Generator", "NormFactory", "resnet", "sndcgan"]
