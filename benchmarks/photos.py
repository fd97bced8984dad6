"""Stand-ins for a folder of photos: JPEGs to time decoding, resizing and transfer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["write_photos"]


def write_photos(folder: Path, count: int, width: int, height: int, seed: int = 0) -> Path:
    """``count`` JPEGs (quality 90) of ``width``x``height``: smooth color fields with noise, a
    stand-in for photos (JPEG decoding time depends on the size more than the content)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.int16)
        noisy = smooth + rng.integers(-12, 13, smooth.shape, dtype=np.int16)
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(
            folder / f"{i:05d}.jpg", quality=90
        )
    return folder
