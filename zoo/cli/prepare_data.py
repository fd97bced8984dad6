"""Prepare a training config's dataset once: every image decoded, resized and center-cropped
to uint8 at the training resolution, in parallel, into a cache that training reads by index
lookups (registry/datasets/prepared_*.py).

    python scripts/prepare_data.py --gin gin/imagenet_pcgan_sbn.gin                 # train split
    python scripts/prepare_data.py --gin gin/imagenet_pcgan_sbn.gin --split test
    python scripts/prepare_data.py --gin gin/cifar10_resnet_sbn.gin --out /fast/cifar10-32

It prepares the dataset that ``train.dataset`` names in the config, with its bindings: prepare
with the gin files and --bind options you train with. Without --out the cache goes next to the
data (``<data>.prepared/<resolution>px_<channels>ch``), where the dataset finds it by itself;
elsewhere, bind ``dataset.<name>.prepared = 'DIR'`` or train from ``dataset.prepared.path``.
Rerunning after an interrupt resumes; a finished cache is left as it is.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shlex
import sys
from pathlib import Path

import registry
from registry.datasets import CorruptDatasetError, ImageDataset, default_cache_root, prepare
from zoo.config import gin_binding, parse
from zoo.errors import one_line

__all__ = ["main", "source_dataset"]


def source_dataset(gin_files: list[str], bindings: list[str], split: str) -> ImageDataset:
    """The dataset ``train.dataset`` names after parsing ``gin_files`` and ``bindings``, built
    for ``split`` from its files (never from a cache)."""
    name = gin_binding(parse(gin_files, bindings), "train.dataset")
    if name is None:
        raise ValueError("the config binds no train.dataset; pass the gin file you train with.")
    if name == "prepared":
        raise ValueError(
            "train.dataset is already a prepared cache (dataset.prepared); pass the config that "
            "names the dataset it was made from."
        )
    if "prepared" not in inspect.signature(registry.get("dataset", name)).parameters:
        raise ValueError(
            f"dataset.{name} cannot be prepared: it reads no image files (its images are made "
            f"in memory, or it is a plugin without a prepared= parameter)."
        )
    return registry.create("dataset", name, split=split, prepared=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--gin", action="append", required=True, metavar="FILE", help="gin file (repeatable)")
    add("--bind", action="append", default=[], metavar="BINDING", help="a gin binding")
    add("--split", choices=("train", "test"), default="train")
    add("--out", metavar="DIR", help="cache folder (default: next to the data)")
    add("--workers", type=int, default=os.cpu_count(), help="processes (default: all cores)")
    add("--chunk-size", type=int, default=256, help="images per logged chunk")
    add("--skip-corrupt", action="store_true", help="leave out images that cannot be decoded")
    add("--overwrite", action="store_true", help="replace another cache in the --out folder")
    add("--no-progress", action="store_true", help="no progress bar")
    return parser


def _binding_hint(source: ImageDataset, root: Path, default: Path) -> str:
    """How training finds the cache at ``root``."""
    if root == default:
        return f"dataset.{source.source.factory} finds it by itself"
    return f"train with --bind \"dataset.{source.source.factory}.prepared = '{root}'\""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.workers < 1 or args.chunk_size < 1:
        print("error: --workers and --chunk-size must be at least 1.", file=sys.stderr)
        return 1
    try:
        source = source_dataset(args.gin, args.bind, args.split)
        default = default_cache_root(source)
        root = Path(args.out).resolve() if args.out else default
        manifest = prepare(
            source,
            root,
            workers=args.workers,
            chunk_size=args.chunk_size,
            skip_corrupt=args.skip_corrupt,
            overwrite=args.overwrite,
            made_by=shlex.join(["selfmod-prepare-data", *argv]),
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume.", file=sys.stderr)
        return 130
    except (registry.RegistryError, CorruptDatasetError, OSError, ValueError) as error:
        fix = "; pass --out DIR, a folder you can write" * isinstance(error, PermissionError)
        print(f"error: {one_line(error)}{fix}", file=sys.stderr)
        return 1
    skipped = f", {len(manifest['skipped'])} corrupt skipped" if manifest["skipped"] else ""
    print(
        f"prepared: {manifest['images']} images of {manifest['name']} {manifest['split']} at "
        f"{manifest['resolution']}px, {manifest['channels']} channels{skipped} -> "
        f"{root / args.split} ({manifest['checksum'][:19]}...); "
        f"{_binding_hint(source, root, default)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
