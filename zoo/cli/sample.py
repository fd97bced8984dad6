"""Sample a trained generator: many images as PNG files or one .npz, a grid, or an interpolation.

    python scripts/sample.py selfmod-sndcgan-fashion_mnist --num 50000 --out samples.npz
    python scripts/sample.py runs/quickstart --num 1000 --out samples/        # 000000.png ...
    python scripts/sample.py selfmod-pcgan-fashion_mnist --grid --labels 3 --out grid.png
    python scripts/sample.py runs/quickstart --interpolate 0,1,2 --out path.gif

MODEL is a zoo name, hf-hub:ORG/NAME[@REV], a checkpoint folder or a run folder. An .npz holds
one uint8 N×H×W×3 array under ``arr_0`` (gray repeated to RGB), the layout FID tools read. Sample
i of --seed S is the image evaluation with seed S scores, whatever --batch-size. --labels
(conditional generators) lists class ids used in turn; without it labels are uniform (a grid
has one class per column, --num rounded up to full rows). --interpolate goes through the z of
each seed, --steps images per pair: a grid (one row per pair) or, when --out ends in .gif, the
frames of an animation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import zoo
from zoo.errors import one_line
from zoo.sampling import (
    class_grid_size,
    generate,
    interpolation,
    save_gif,
    save_grid,
    save_npz,
    save_pngs,
)


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="zoo name, hf-hub:ORG/NAME[@REV], checkpoint or run folder")
    parser.add_argument("--out", required=True, type=Path, help="FOLDER, FILE.npz, .png or .gif")
    parser.add_argument("--num", type=int, help="images (default 50000; 64 with --grid)")
    parser.add_argument("--labels", type=_ints, help="class ids used in turn, e.g. 3 or 0,1,2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=250, help="memory only (default 250)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--grid", action="store_true", help="one grid PNG of --num images")
    mode.add_argument("--interpolate", type=_ints, metavar="SEEDS", help="e.g. 0,1,2")
    parser.add_argument("--steps", type=int, default=8, help="interpolation images per pair")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check_out(args: argparse.Namespace) -> None:
    """Refuse an --out of the wrong kind, or one that exists (no data lost without --force)."""
    suffix = args.out.suffix.lower()
    if args.grid and suffix != ".png":
        raise ValueError(f"--out {args.out}: --grid writes one .png file.")
    if args.interpolate is not None and suffix not in (".png", ".gif"):
        raise ValueError(f"--out {args.out}: --interpolate writes a .png grid or a .gif.")
    bulk = not args.grid and args.interpolate is None
    if bulk and suffix in (".png", ".gif", ".jpg", ".jpeg"):
        raise ValueError(f"--out {args.out}: write a folder or an .npz (--grid for one PNG).")
    if bulk and suffix != ".npz" and args.out.is_file():
        raise ValueError(f"--out {args.out} is a file; PNG samples go to a folder.")
    taken = args.out.is_file() or (args.out.is_dir() and any(args.out.iterdir()))
    if taken and not args.force:
        raise ValueError(f"--out {args.out} exists; pass --force to overwrite it.")


def run(args: argparse.Namespace) -> str:
    """Write what ``args`` asks for; return what was written."""
    _check_out(args)
    generator = zoo.load(args.model, device=args.device)
    progress = not args.no_progress
    if args.interpolate is not None:
        label = args.labels[0] if args.labels else None
        images = interpolation(generator, args.interpolate, args.steps, label)
        if args.out.suffix.lower() == ".gif":  # each seed's image once: A ... B ... C
            last = len(images) - 1
            frames = images[[i for i in range(last + 1) if (i + 1) % args.steps or i == last]]
            return f"wrote {save_gif(frames, args.out)} ({len(frames)} frames)"
        return f"wrote {save_grid(images, args.out, nrow=args.steps)}"
    num = args.num or (64 if args.grid else 50_000)
    labels, nrow = args.labels, None
    if args.grid and labels is None and generator.num_classes:  # one class per column
        num, nrow = class_grid_size(num, generator.num_classes), generator.num_classes
        labels = list(range(generator.num_classes))
    batches = generate(generator, num, args.batch_size, args.seed, labels, progress)
    if args.grid:
        return f"wrote {save_grid(torch.cat(list(batches)), args.out, nrow)}"
    if args.out.suffix.lower() == ".npz":
        return f"wrote {save_npz(batches, num, args.out)} ({num} images, key arr_0)"
    return f"wrote {save_pngs(batches, args.out)} PNGs to {args.out}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if (args.num is not None and args.num < 1) or args.batch_size < 1:
            raise ValueError("--num and --batch-size must be >= 1.")
        print(run(args))
    except (zoo.ZooError, ValueError, OSError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
