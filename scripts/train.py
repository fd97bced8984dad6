"""Train a GAN from gin configs, on one CPU, one GPU or many (run under ``accelerate launch``).

    python scripts/train.py                                   # the quickstart: Fashion-MNIST, sBN
    python scripts/train.py --gin gin/cifar10_resnet_sbn.gin --bind 'train.steps = 500'
    accelerate launch scripts/train.py --gin gin/imagenet_pcgan_sbn.gin

Rerunning the same command resumes from the newest checkpoint in the output folder; the
folder's config.gin reproduces the run: ``python scripts/train.py --gin RUN/config.gin``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import zoo
from zoo.trainer import TrainingDiverged, train

QUICKSTART = Path(__file__).resolve().parents[1] / "gin" / "quickstart.gin"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--gin",
        action="append",
        default=[],
        metavar="FILE",
        help="gin config file (repeatable; later files win). Default: gin/quickstart.gin",
    )
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="a gin binding such as 'train.steps = 500' (repeatable, applied last)",
    )
    parser.add_argument(
        "--output", metavar="DIR", help="output folder (default: train.output_dir from the config)"
    )
    args = parser.parse_args(argv)
    bindings = list(args.bind)
    if args.output:
        bindings.append(f"train.output_dir = {str(args.output)!r}")
    try:
        config = zoo.parse(args.gin or [QUICKSTART], bindings)
        result = train(gin_config=config)
    except (zoo.ConfigError, FileNotFoundError, TrainingDiverged) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"done: {result['steps']} steps; best {result['best']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
