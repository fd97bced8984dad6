"""Micro-benchmarks for selfmod-zoo.

  python scripts/bench.py features [--extractor inception] [--batch-size 64] [--device cpu]
  python scripts/bench.py step [--gin quickstart.gin] [--bind 'train.batch_size = 128']
  python scripts/bench.py variants [--arch resnet32] [--width 1] [--compile]
  python scripts/bench.py widths [--arch sndcgan32 resnet32] [--widths 0.125 0.25 1]
  python scripts/bench.py train [--arch sndcgan32 resnet32] [--width 0.25]   # BN vs sBN
  python scripts/bench.py peer [--steps 3]      # against torch-mimicry's SNGAN-32 step
  python scripts/bench.py limit [--arch resnet32] [--width 1]   # step FLOP/s vs conv rate
  python scripts/bench.py gpu [--skip-tests]    # the GPU acceptance check: CUDA tests, report
  python scripts/bench.py data [--images 600]   # streamed JPEGs against a prepared cache

Each subcommand is a function ``bench_<name>(args) -> int`` in its module of benchmarks/
plus an ``add_<name>_parser`` in benchmarks/cli.py that registers its arguments; add a
subcommand by writing both and listing it in :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import registry
from benchmarks import data
from benchmarks.data import bench_data
from benchmarks.features import bench_features
from benchmarks.gpu import bench_gpu
from benchmarks.limit import bench_limit
from benchmarks.peer import INSTALL, bench_peer
from benchmarks.steps import bench_step, bench_train, bench_variants, bench_widths
from zoo.errors import one_line

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

ARCHS = ("sndcgan32", "resnet32")
WIDTH_HELP = "channel multiplier (1 = paper)"
Subcommand = Callable[[argparse.Namespace], int]


def _subcommand(
    subparsers: argparse._SubParsersAction,
    name: str,
    func: Subcommand,
    help: str,  # noqa: A002 - argparse's word
    description: str,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """The subcommand ``name`` that runs ``func(args)``."""
    parser = subparsers.add_parser(name, help=help, description=description, **kwargs)
    parser.set_defaults(func=func)
    return parser


def _timing_arguments(
    parser: argparse.ArgumentParser, steps: int = 5, warmup: int = 2, per: str = "variant"
) -> None:
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--steps", type=int, default=steps, help="timed G steps per round")
    parser.add_argument("--rounds", type=int, default=3, help=f"alternating rounds per {per}")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed G steps first")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")


def _model_arguments(
    parser: argparse.ArgumentParser, archs: tuple[str, ...] | str, width: float | None = None
) -> None:
    """``--arch`` (several names, or one), ``--batch-size``, ``--norm`` and, given a default
    ``width``, ``--width``."""
    if isinstance(archs, str):
        parser.add_argument("--arch", default=archs)
    else:
        parser.add_argument("--arch", nargs="+", default=list(archs))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--norm", default="sbn", help="generator norm (default sbn)")
    if width is not None:
        parser.add_argument("--width", type=float, default=width, help=WIDTH_HELP)


def add_features_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "features",
        bench_features,
        "feature-extraction throughput (images/s)",
        "Throughput of a feature extractor's forward pass on random images. Inception without "
        "its FID weights runs with random weights (timing only).",
    )
    parser.add_argument("--extractor", default="inception", help="registered feature_extractor")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--iters", type=int, default=5, help="timed batches")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches first")
    parser.add_argument("--resolution", type=int, default=32, help="input images' side")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")


def add_step_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "step",
        bench_step,
        "your gin set-up: fast default against fp32 contiguous",
        "Images/s of the training step a gin file configures (its models, loss, penalty, "
        "disc_iters and batch size; random images of the data's shape), with the fast default "
        "and with fp32 contiguous, interleaved in one process.",
    )
    parser.add_argument("--gin", nargs="+", default=["quickstart.gin"], metavar="FILE")
    parser.add_argument("--bind", action="append", default=[], metavar="BINDING")
    _timing_arguments(parser, steps=10)


def add_variants_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "variants",
        bench_variants,
        "each part of the fast path against fp32 contiguous",
        "Images/s with each part of the fast path on its own (channels_last, fused Adam, bf16 "
        "autocast) and together, interleaved in one process.",
    )
    _model_arguments(parser, ARCHS, width=1.0)
    parser.add_argument("--compile", action="store_true", help="also torch.compile (slow start)")
    _timing_arguments(parser)


def add_widths_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "widths",
        bench_widths,
        "images/s at several widths, fast default and fp32 contiguous",
        "A markdown table of images/s of G steps for each architecture and width.",
    )
    _model_arguments(parser, ARCHS)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.125, 0.25, 1.0])
    _timing_arguments(parser)


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "train",
        bench_train,
        "training throughput, BN against sBN (images/s of G steps)",
        "Images per second of generator steps (each with one D step) for BN and sBN generators "
        "of the same architecture, measured in alternating rounds.",
    )
    _model_arguments(parser, ARCHS, width=1.0)
    _timing_arguments(parser)


def add_peer_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "peer",
        bench_peer,
        f"against torch-mimicry's SNGAN-32 step (install: {INSTALL})",
        "Seconds per step (1 D + 1 G) of torch-mimicry's SNGAN-32 and of our ResNet-32 (fp32 "
        "contiguous and the fast default), interleaved in one process. torch-mimicry is a "
        "benchmark peer only, never a dependency.",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--norm", default="sbn", help="our generator's norm (default sbn)")
    _timing_arguments(parser, steps=2)


def add_limit_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "limit",
        bench_limit,
        "the step's FLOP rate against the machine's convolution rate, fp32 and bf16",
        "How close the training step (fast default layout) runs to the rate of a 3x3 "
        "convolution's forward and backward on this device, in fp32 and in bf16.",
    )
    _model_arguments(parser, "resnet32", width=1.0)
    _timing_arguments(parser, steps=2, warmup=1, per="precision")
    parser.add_argument("--conv-channels", type=int, default=256, help="the reference conv's C")
    parser.add_argument("--conv-batch", type=int, default=64, help="the reference conv's batch")


def add_gpu_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "gpu",
        bench_gpu,
        "the GPU acceptance check: CUDA tests, G-steps/s, data path; writes a report",
        "On a CUDA machine: runs pytest -m cuda, measures G-steps/s of SNDCGAN-32, ResNet-32 "
        "and ResNet-128 (their paper gin configs) at batch 64 in fp32 and bf16, and images/s "
        "of the trainer's data path, then writes OUT/<device>.md (3-5 minutes on an H100, "
        "estimated; under 8). Exits 2 without a CUDA device, 1 when a test or a measurement "
        "failed.",
    )
    parser.add_argument("--out", default="results/gpu", help="report folder (results/gpu)")
    parser.add_argument("--steps", type=int, default=10, help="most timed G steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed G steps first")
    parser.add_argument(
        "--cell-seconds",
        type=float,
        default=20.0,
        help="about this many timed seconds per model and precision, or per data path",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-timeout", type=float, default=240.0, help="seconds for pytest")
    parser.add_argument("--skip-tests", action="store_true", help="measure only")


def add_data_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        subparsers,
        "data",
        bench_data,
        "images/s per core: streamed JPEGs against a prepared cache; what a step needs",
        data.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--images", type=int, default=600, help="JPEGs in the folder")
    parser.add_argument("--size", type=int, nargs=2, default=(500, 375), metavar=("W", "H"))
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per path")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per path and round")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="to prepare with")
    parser.add_argument("--storage-images", type=int, default=2048)
    parser.add_argument("--train-steps", type=int, default=10, help="timed CPU training steps")
    parser.add_argument("--skip-training", action="store_true", help="no CPU training section")
    parser.add_argument("--gin", nargs="+", default=["imagenet_pcgan_sbn.gin"], metavar="FILE")
    parser.add_argument("--bind", action="append", default=[], metavar="BINDING")
    parser.add_argument("--g-steps-per-s", type=float, nargs="+", default=[1.0, 5.0, 10.0])


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_features_parser,
    add_step_parser,
    add_variants_parser,
    add_widths_parser,
    add_train_parser,
    add_peer_parser,
    add_limit_parser,
    add_gpu_parser,
    add_data_parser,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a user error (an unknown name, a missing file or package, a bad
    value) ends in one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (registry.RegistryError, FileNotFoundError, ModuleNotFoundError, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
