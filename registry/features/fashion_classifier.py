"""A small Fashion-MNIST CNN used as a cheap feature extractor for FID/IS/KID/PRD.

**FID and IS computed with this extractor are NOT comparable to Inception FIDs/ISs** (nor to
any published number): it is a 32×32 gray-scale classifier trained in a few CPU minutes by
``scripts/train_fashion_classifier.py``, useful for quick relative comparisons on Fashion-MNIST
(e.g. tests, smoke runs, CPU-only sweeps). Features are its 128-d penultimate layer, logits
its 10 classes. Weights ship at ``registry/features/weights/fashion_mnist_classifier.safetensors``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from registry._registry import register

__all__ = ["SHIPPED_WEIGHTS", "FashionClassifier"]

SHIPPED_WEIGHTS = (
    Path(__file__).resolve().parent / "weights" / "fashion_mnist_classifier.safetensors"
)
INPUT_SIZE = 32


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


@register("feature_extractor", "fashion_classifier")
class FashionClassifier(nn.Module):
    """Fashion-MNIST CNN feature extractor: 128-d ``features`` and 10 ``logits``.

    Three conv-BN-ReLU-maxpool stages (32 -> 16 -> 8 -> 4 px, 32/64/128 channels), a 128-unit
    fully connected layer (the features) and a 10-way classifier. ``forward(images)`` takes
    ``N×C×H×W`` images in [-1, 1] with 1 or 3 channels and any size: RGB is averaged to gray,
    and images are brought to 32×32 as the ``fashion_mnist`` dataset does (28×28 padded with the
    background -1, other sizes resized bilinearly, antialiased when shrinking).

    Not comparable to Inception-based FID/IS (see the module docstring).
    ``pretrained=False`` gives an untrained network (used by the training script).
    """

    name = "fashion_classifier"
    feature_dim = 128
    num_classes = 10

    def __init__(self, weights_path: str | os.PathLike | None = None, *, pretrained: bool = True):
        super().__init__()
        self.body = nn.Sequential(_conv_block(1, 32), _conv_block(32, 64), _conv_block(64, 128))
        self.embed = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * 4 * 4, self.feature_dim), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.feature_dim, self.num_classes)
        if pretrained:
            path = Path(weights_path) if weights_path is not None else SHIPPED_WEIGHTS
            if not path.is_file():
                raise FileNotFoundError(
                    f"Fashion-MNIST classifier weights not found at {path}; "
                    f"train them with `python scripts/train_fashion_classifier.py`."
                )
            from safetensors.torch import load_file

            self.load_state_dict(load_file(str(path)), strict=True)
        elif weights_path is not None:
            raise ValueError("weights_path given with pretrained=False")
        self.eval()

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images, 1 or 3 channels, any size -> 1×32×32."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected N×C×H×W images with C in (1, 3), got {tuple(images.shape)}")
        x = images.float()
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        if x.shape[-2:] == (28, 28):  # native Fashion-MNIST: pad with the background, as the
            x = F.pad(x, (2, 2, 2, 2), value=-1.0)  # fashion_mnist dataset does for 32 px
        elif x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            shrink = x.shape[-1] > INPUT_SIZE or x.shape[-2] > INPUT_SIZE
            x = F.interpolate(
                x,
                size=(INPUT_SIZE, INPUT_SIZE),
                mode="bilinear",
                align_corners=False,
                antialias=shrink,
            )
        return x

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.embed(self.body(self.preprocess(images)))
        return {"features": features, "logits": self.head(self.dropout(features))}
