"""Micro-benchmarks for selfmod-zoo.

  python scripts/bench.py features [--extractor inception] [--batch-size 64] [--device cpu]
  python scripts/bench.py train [--arch sndcgan32 resnet32] [--batch-size 64] [--device cpu]
  python scripts/bench.py layout [--arch sndcgan32 resnet32] [--width 0.125] [--threads 1]

Each subcommand is a function ``bench_<name>(args) -> int`` plus an ``add_<name>_parser``
that registers its arguments; add a subcommand by writing both and listing it in
:data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch

import registry
from zoo.errors import one_line


def _build_extractor(name: str) -> tuple[torch.nn.Module, str]:
    """The extractor and a note on its weights (random Inception weights if none are found)."""
    if name == "inception":
        from registry.features.inception import InceptionWeightsNotFoundError

        try:
            return registry.create("feature_extractor", name), "real weights"
        except InceptionWeightsNotFoundError:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = registry.create("feature_extractor", name, pretrained=False)
            return model, "RANDOM weights (no FID weights found; fine for timing only)"
    return registry.create("feature_extractor", name), "shipped weights"


def bench_features(args: argparse.Namespace) -> int:
    """Time feature extraction: forward passes of ``--iters`` batches after a warm-up."""
    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available.", file=sys.stderr)
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, note = _build_extractor(args.extractor)
    model = model.to(device)
    shape = (args.batch_size, args.channels, args.resolution, args.resolution)
    images = torch.rand(shape, device=device) * 2 - 1

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.inference_mode():
        for _ in range(args.warmup):
            model(images)
        sync()
        start = time.perf_counter()
        for _ in range(args.iters):
            out = model(images)
        sync()
        elapsed = time.perf_counter() - start
    rate = args.iters * args.batch_size / elapsed
    print(
        f"features: extractor={model.name} ({note}), device={device}, "
        f"threads={torch.get_num_threads()}, input={'x'.join(map(str, shape))}, "
        f"feature_dim={out['features'].shape[1]}, logits={out['logits'].shape[1]}"
    )
    print(
        f"{rate:.1f} images/s ({elapsed / args.iters * 1000:.1f} ms per batch of {args.batch_size})"
    )
    return 0


def add_features_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "features",
        help="feature-extraction throughput (images/s)",
        description="Throughput of a feature extractor's forward pass on random images. "
        "Inception without its FID weights runs with random weights (timing only).",
    )
    parser.add_argument("--extractor", default="inception", help="registered feature_extractor")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--iters", type=int, default=5, help="timed batches")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches first")
    parser.add_argument("--resolution", type=int, default=32, help="input images' side")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.set_defaults(func=bench_features)


def _throughputs(
    args: argparse.Namespace, title: str, norms: tuple[str, ...], layouts: tuple[str, ...]
) -> Iterator[tuple[str, dict[tuple[str, str], float]]]:
    """(arch, images/s per (norm, layout)) for each ``--arch``, after a header line."""
    from zoo.benchmark import training_throughput

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"{title}: device={device}, batch={args.batch_size}, width={args.width}, "
        f"norms={','.join(norms)}, {args.rounds} interleaved rounds of {args.steps} G steps "
        f"(disc_iters=1, hinge, SN)"
    )
    for arch in args.arch:
        yield (
            arch,
            training_throughput(
                arch,
                norms,
                args.batch_size,
                args.width,
                args.steps,
                args.rounds,
                args.warmup,
                device,
                layouts,
            ),
        )


def bench_train(args: argparse.Namespace) -> int:
    """BN against sBN training throughput (images/s of G steps), interleaved in one process."""
    for arch, rates in _throughputs(args, "train", ("bn", "sbn"), ("contiguous",)):
        bn, sbn = rates["bn", "contiguous"], rates["sbn", "contiguous"]
        print(
            f"{arch:10s} bn {bn:8.1f} img/s   sbn {sbn:8.1f} img/s   "
            f"sBN time overhead {bn / sbn - 1:+.1%}"
        )
    return 0


def bench_layout(args: argparse.Namespace) -> int:
    """Contiguous (NCHW) against channels-last (NHWC) training throughput, interleaved."""
    layouts = ("contiguous", "channels_last")
    for arch, rates in _throughputs(args, "layout", (args.norm,), layouts):
        nchw, nhwc = (rates[args.norm, layout] for layout in layouts)
        print(
            f"{arch:10s} contiguous {nchw:8.1f} img/s   channels_last {nhwc:8.1f} img/s   "
            f"speed-up {nhwc / nchw:.2f}x"
        )
    return 0


def _add_throughput_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", nargs="+", default=["sndcgan32", "resnet32"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--steps", type=int, default=5, help="timed G steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed G steps first")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="training throughput, BN against sBN (images/s of G steps)",
        description="Images per second of generator steps (each with one D step) for BN and "
        "sBN generators of the same architecture, measured in alternating rounds.",
    )
    _add_throughput_arguments(parser)
    parser.set_defaults(func=bench_train)


def add_layout_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "layout",
        help="training throughput, contiguous against channels-last memory",
        description="Images per second of generator steps with images and convolution weights "
        "in NCHW (contiguous) against NHWC (channels_last, train.channels_last = True) order.",
    )
    _add_throughput_arguments(parser)
    parser.add_argument("--norm", default="sbn", help="generator norm (default sbn)")
    parser.set_defaults(func=bench_layout)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_features_parser,
    add_train_parser,
    add_layout_parser,
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
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (registry.RegistryError, FileNotFoundError, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
