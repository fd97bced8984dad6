"""Sampling: image grids, many samples as PNG files or one ``.npz``, and latent interpolations.

Latents come in a fixed stream per seed (:func:`latents`): sample ``i`` of seed ``s`` has the
same z (and, for a conditional generator, the same uniform label) whatever the batch size or the
number of processes, so ``scripts/sample.py --seed s`` writes the images that evaluation with
``seed=s`` scores.

Batch norm at sampling time: models from :func:`zoo.load` are in eval mode, so every batch-norm
layer (BN, sBN, cBN, csBN) normalises with the running mean and variance accumulated during
training instead of the statistics of the current batch. Samples then do not depend on what else
is in the batch nor on its size: a z drawn alone gives the same image as in a batch of 64. (In
train mode the batch statistics would couple the samples of a batch and a batch of one would
normalise away all variation.) Call ``G.train()`` only to keep training.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from registry.architectures import Generator
from zoo.writing import atomic_path

__all__ = [
    "class_grid_size",
    "generate",
    "interpolation",
    "latents",
    "sample_grid",
    "save_gif",
    "save_grid",
    "save_npz",
    "save_pngs",
    "slerp",
    "to_uint8",
]

BLOCK = 1000
"""Latents are drawn in blocks of this many samples, each from its own seeded generator."""


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Save N×C×H×W images in [-1, 1] as one PNG grid (``nrow`` per row, default √N)."""
    if images.ndim != 4:
        raise ValueError(f"expected N×C×H×W images, got shape {tuple(images.shape)}")
    from torchvision.utils import save_image  # torchvision takes seconds to import

    path = Path(path)
    nrow = nrow or max(1, round(images.shape[0] ** 0.5))
    images = images.detach().float().cpu()
    with atomic_path(path) as partial:
        save_image(images, partial, nrow=nrow, normalize=True, value_range=(-1, 1), format="PNG")
    return path


def class_grid_size(n: int, num_classes: int) -> int:
    """How many images a grid of at least ``n`` samples of a conditional generator holds when
    each of its rows has every class once, in order (one class per column): ``n`` rounded up to
    full rows of ``num_classes``."""
    return -(-n // num_classes) * num_classes


@torch.no_grad()
def sample_grid(
    generator: Generator,
    path: str | Path,
    n: int = 64,
    seed: int | None = 0,
    labels: torch.Tensor | Sequence[int] | None = None,
    nrow: int | None = None,
) -> torch.Tensor:
    """Sample ``n`` images in eval mode (the mode is restored) and save them as a grid.

    Unless ``labels`` is given, a conditional generator's grid has one class per column:
    rows of labels ``0, 1, ..., num_classes - 1``, ``n`` rounded up to full rows
    (:func:`class_grid_size`; an explicit ``nrow`` still wins). Returns the images.
    """
    if labels is None and generator.num_classes:
        n = class_grid_size(n, generator.num_classes)
        labels = torch.arange(n) % generator.num_classes
        nrow = nrow or generator.num_classes
    was_training = generator.training
    generator.eval()
    try:
        images = generator.sample(n, labels=labels, seed=seed)
    finally:
        generator.train(was_training)
    save_grid(images, path, nrow)
    return images


def _block_seed(seed: int, block: int) -> int:
    return (seed * 1_000_003 + block) % (2**63 - 1)


def latents(
    z_dim: int, num_classes: int, start: int, count: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z ~ N(0, I) (and uniform labels when ``num_classes`` > 0) of samples ``start`` to
    ``start + count - 1`` of the stream of ``seed``, on the CPU; independent of how the stream
    is cut into batches."""
    zs, ys = [], []
    for block in range(start // BLOCK, (start + count - 1) // BLOCK + 1):
        rng = torch.Generator().manual_seed(_block_seed(seed, block))
        z = torch.randn(BLOCK, z_dim, generator=rng)
        y = torch.randint(num_classes, (BLOCK,), generator=rng) if num_classes else None
        lo, hi = max(start - block * BLOCK, 0), min(start + count - block * BLOCK, BLOCK)
        zs.append(z[lo:hi])
        ys.append(None if y is None else y[lo:hi])
    return torch.cat(zs), (torch.cat(ys) if num_classes else None)


def generate(
    generator: Generator,
    num: int,
    batch_size: int = 250,
    seed: int = 0,
    labels: Sequence[int] | None = None,
    progress: bool = True,
) -> Iterator[torch.Tensor]:
    """``num`` images in [-1, 1] (CPU, float) in batches, G in eval mode (restored after).

    A conditional generator gets the stream's uniform labels, or ``labels`` repeated in turn.
    Bad arguments raise :class:`ValueError` here, before any image is made."""
    if num < 1 or batch_size < 1:
        raise ValueError(f"num and batch_size must be >= 1, got {num} and {batch_size}.")
    classes = int(generator.num_classes or 0)
    if labels is not None:
        if not classes or not labels:
            raise ValueError("labels given, but the generator is unconditional.")
        if bad := [y for y in labels if not 0 <= y < classes]:
            raise ValueError(f"labels {bad} are out of range: the generator has {classes} classes.")
    return _batches(generator, num, batch_size, seed, labels, progress)


@torch.no_grad()
def _batches(
    generator: Generator,
    num: int,
    batch_size: int,
    seed: int,
    labels: Sequence[int] | None,
    progress: bool,
) -> Iterator[torch.Tensor]:
    classes = int(generator.num_classes or 0)
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        for start in tqdm(range(0, num, batch_size), desc="sampling", disable=not progress):
            count = min(batch_size, num - start)
            z, y = latents(generator.z_dim, classes, start, count, seed)
            if labels is not None:
                y = torch.tensor([labels[i % len(labels)] for i in range(start, start + count)])
            images = generator(z.to(device), None if y is None else y.to(device))
            yield images.float().cpu()
    finally:
        generator.train(was_training)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """N×C×H×W images in [-1, 1] -> N×H×W×C uint8 (clamped, rounded)."""
    scaled = torch.round((images.clamp(-1.0, 1.0) + 1.0) * 127.5).to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).contiguous().numpy()


def save_npz(batches: Iterator[torch.Tensor], num: int, path: str | Path) -> Path:
    """All images as one uint8 N×H×W×3 array under ``arr_0`` (the layout FID tools read; gray
    is repeated to RGB), written to a temporary file and renamed."""
    path = Path(path)
    array = None
    start = 0
    for batch in batches:
        pixels = to_uint8(batch)
        if pixels.shape[-1] == 1:
            pixels = np.repeat(pixels, 3, axis=-1)
        if array is None:
            array = np.empty((num, *pixels.shape[1:]), dtype=np.uint8)
        array[start : start + len(pixels)] = pixels
        start += len(pixels)
    with atomic_path(path) as partial, open(partial, "wb") as file:
        np.savez(file, arr_0=array)
    return path


def save_pngs(batches: Iterator[torch.Tensor], directory: str | Path) -> int:
    """Each image as ``directory/000000.png``, ``000001.png``...; returns how many."""
    from PIL import Image

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for batch in batches:
        for pixels in to_uint8(batch):
            image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
            with atomic_path(directory / f"{count:06d}.png") as partial:
                image.save(partial, format="PNG")
            count += 1
    return count


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent vectors ``a`` and ``b`` at fractions ``t``
    (one row per t); linear when they are parallel."""
    cos = torch.dot(a, b) / (a.norm() * b.norm())
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    t = t[:, None]
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def interpolation(
    generator: Generator, seeds: Sequence[int], steps: int = 8, label: int | None = None
) -> torch.Tensor:
    """Images along the latent path through the z of each seed (``G.sample(1, seed=s)``'s z):
    ``steps`` images from each seed to the next, ``(len(seeds) - 1) * steps`` in all, every row
    of a ``steps``-wide grid one pair. A conditional generator keeps ``label`` (default 0)."""
    if len(seeds) < 2 or steps < 2:
        raise ValueError(f"need at least 2 seeds and 2 steps, got {list(seeds)} and {steps}.")
    ends = [generator.sample_latents(1, torch.Generator().manual_seed(s))[0] for s in seeds]
    t = torch.linspace(0, 1, steps, device=ends[0].device)
    z = torch.cat([slerp(a, b, t) for a, b in itertools.pairwise(ends)])
    y = None
    if generator.num_classes:
        y = torch.full((len(z),), label or 0, dtype=torch.long, device=z.device)
    was_training = generator.training
    generator.eval()
    try:
        return generator(z, y).float().cpu()
    finally:
        generator.train(was_training)


def save_gif(images: torch.Tensor, path: str | Path, duration_ms: int = 100) -> Path:
    """The images as the frames of a looping GIF."""
    from PIL import Image

    frames = [Image.fromarray(p.squeeze(-1) if p.shape[-1] == 1 else p) for p in to_uint8(images)]
    path = Path(path)
    with atomic_path(path) as partial:
        frames[0].save(partial, format="GIF", save_all=True, append_images=frames[1:],
                       duration=duration_ms, loop=0)  # fmt: skip
    return path
