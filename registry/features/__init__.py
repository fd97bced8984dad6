"""Feature extractors for sample-quality metrics (kind ``feature_extractor``).

All share one interface: an ``nn.Module`` in eval mode whose ``forward(images)`` takes
``N×C×H×W`` images in [-1, 1] (1 or 3 channels, any size) and returns
``{"features": N×D, "logits": N×K}``, with attributes ``feature_dim``, ``num_classes``, ``name``.
"""

from registry.features.fashion_classifier import FashionClassifier
from registry.features.inception import FIDInceptionV3, InceptionWeightsNotFoundError

__all__ = ["FIDInceptionV3", "FashionClassifier", "InceptionWeightsNotFoundError"]
