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

Each subcommand is a function ``bench_<name>(args) -> int`` plus an ``add_<name>_parser``
that registers its arguments; add a subcommand by writing both and listing it in
:data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable, Sequence

import torch

import registry
from zoo.cli.bench_data import add_data_parser
from zoo.cli.bench_features import add_features_parser
from zoo.cli.bench_gpu import add_gpu_parser
from zoo.cli.bench_limit import add_limit_parser
from zoo.errors import one_line


def _device(args: argparse.Namespace) -> str:
    if args.threads:
        torch.set_num_threads(args.threads)
    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def _rates(args: argparse.Namespace, runs: dict) -> dict[str, float]:
    from zoo.benchmark import step_throughput

    return step_throughput(runs, args.steps, args.rounds, args.warmup, _device(args))


def _header(args: argparse.Namespace, what: str) -> None:
    from zoo.benchmark import machine

    device = _device(args)
    print(
        f"{what}: {machine(device)}; {args.rounds} interleaved rounds of {args.steps} G steps "
        f"after {args.warmup} warm-up steps; images/s of G steps (D steps included)"
    )


def _measure(args: argparse.Namespace, arch: str, width: float, variants: dict) -> tuple:
    """The set-up of ``arch`` at ``width`` and its images/s under each of ``variants``."""
    from zoo.benchmark import setup_for, variants_of

    setup = setup_for(arch, args.norm, width, args.batch_size)
    return setup, _rates(args, variants_of(setup, **variants))


def bench_step(args: argparse.Namespace) -> int:
    """The user's own set-up (a gin file): the fast default against fp32 contiguous."""
    from zoo.benchmark import FAST, FP32_CONTIGUOUS, setup_from_gin

    setup = setup_from_gin(args.gin, args.bind)
    device = torch.device(_device(args))
    _header(args, f"step {setup.name}")
    runs = {"fp32 contiguous": (setup, FP32_CONTIGUOUS), "fast default": (setup, FAST)}
    rates = _rates(args, runs)
    for name, (_, variant) in runs.items():
        rate = rates[name]
        print(
            f"  {name:16s} {rate:8.1f} img/s  {rate / setup.batch_size:7.2f} G-steps/s  "
            f"({variant.describe(device)})"
        )
    print(f"  speed-up {rates['fast default'] / rates['fp32 contiguous']:.2f}x")
    return 0


def bench_variants(args: argparse.Namespace) -> int:
    """Each part of the fast path on its own, against fp32 contiguous (and compiled)."""
    from zoo.benchmark import FAST, FP32_CONTIGUOUS, Variant

    variants = {
        "fp32 contiguous": FP32_CONTIGUOUS,
        "+ channels_last": Variant("no", True, False),
        "+ fused Adam": Variant("no", False, True),
        "bf16 autocast": Variant("bf16", False, False),
        "bf16 + channels_last": Variant("bf16", True, False),
        "fast default": FAST,
    }
    if args.compile:
        variants["fast + compile"] = Variant(compile=True)
    device = torch.device(_device(args))
    _header(args, f"variants batch {args.batch_size}")
    for arch in args.arch:
        setup, rates = _measure(args, arch, args.width, variants)
        print(f"{setup.name}:")
        for name, variant in variants.items():
            ratio = rates[name] / rates["fp32 contiguous"]
            kind = variant.describe(device)
            print(f"  {name:22s} {rates[name]:8.1f} img/s  {ratio:5.2f}x  ({kind})")
    return 0


def bench_widths(args: argparse.Namespace) -> int:
    """Images/s at several widths, fast default and fp32 contiguous."""
    from zoo.benchmark import FAST, FP32_CONTIGUOUS

    _header(args, f"widths batch {args.batch_size}, {args.norm}")
    print("| model | width | fp32 contiguous img/s | fast default img/s | speed-up |")
    print("| --- | --- | --- | --- | --- |")
    for arch in args.arch:
        for width in args.widths:
            _, rates = _measure(args, arch, width, {"fp32": FP32_CONTIGUOUS, "fast": FAST})
            fp32, fast = rates["fp32"], rates["fast"]
            print(f"| {arch} | {width} | {fp32:.1f} | {fast:.1f} | {fast / fp32:.2f}x |")
    return 0


def bench_train(args: argparse.Namespace) -> int:
    """BN against sBN training throughput (images/s of G steps), interleaved in one process."""
    from zoo.benchmark import FAST, setup_for

    _header(args, f"bn vs sbn, fast default, batch {args.batch_size}, width {args.width}")
    for arch in args.arch:
        runs = {
            norm: (setup_for(arch, norm, args.width, args.batch_size), FAST)
            for norm in ("bn", "sbn")
        }
        rates = _rates(args, runs)
        print(
            f"{arch:10s} bn {rates['bn']:8.1f} img/s   sbn {rates['sbn']:8.1f} img/s   "
            f"sBN time overhead {rates['bn'] / rates['sbn'] - 1:+.1%}"
        )
    return 0


def bench_peer(args: argparse.Namespace) -> int:
    """Our ResNet-32 step (sBN G, SN D, hinge, batch 64, 1 D + 1 G step) against
    torch-mimicry's SNGAN-32 step (the same shapes), interleaved in one process."""
    from accelerate import Accelerator

    from zoo.benchmark import FAST, FP32_CONTIGUOUS, _random_batches, _sync, _trainer, setup_for
    from zoo.peer_benchmark import mimicry_step

    device = torch.device(_device(args))
    _header(args, f"peer: ResNet-32 width 1, batch {args.batch_size}")
    peer_step, netG, netD = mimicry_step(device, args.batch_size)
    accelerator = Accelerator(cpu=device.type == "cpu")
    setup = setup_for("resnet32", args.norm, 1.0, args.batch_size)
    ours = {}
    for name, variant in (("ours, fp32 contiguous", FP32_CONTIGUOUS), ("ours, fast", FAST)):
        trainer = _trainer(accelerator, setup, variant)
        batches = _random_batches(trainer, setup, variant)
        ours[name] = functools.partial(trainer.step, batches)
    steps = {"torch-mimicry SNGAN-32": peer_step, **ours}
    params = {
        "torch-mimicry SNGAN-32": (netG, netD),
        **{
            name: (
                accelerator.unwrap_model(t.func.__self__.G),
                accelerator.unwrap_model(t.func.__self__.D),
            )
            for name, t in ours.items()
        },
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    for _ in range(args.rounds):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            _sync(device)
            times[name].append((time.perf_counter() - start) / args.steps)
    peer = sorted(times["torch-mimicry SNGAN-32"])[args.rounds // 2]
    for name, samples in times.items():
        median = sorted(samples)[args.rounds // 2]
        g, d = (sum(p.numel() for p in m.parameters()) / 1e6 for m in params[name])
        print(
            f"  {name:24s} {median:7.3f} s/step  {args.batch_size / median:7.1f} img/s  "
            f"{peer / median:5.2f}x the peer  (G {g:.2f}M, D {d:.2f}M parameters)"
        )
    return 0


def _add_timing_arguments(parser: argparse.ArgumentParser, steps: int = 5) -> None:
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--steps", type=int, default=steps, help="timed G steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed G steps first")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", nargs="+", default=["sndcgan32", "resnet32"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--norm", default="sbn", help="generator norm (default sbn)")


def add_step_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "step",
        help="your gin set-up: fast default against fp32 contiguous",
        description="Images/s of the training step a gin file configures (its models, loss, "
        "penalty, disc_iters and batch size; random images of the data's shape), with the "
        "fast default and with fp32 contiguous, interleaved in one process.",
    )
    parser.add_argument("--gin", nargs="+", default=["quickstart.gin"], metavar="FILE")
    parser.add_argument("--bind", action="append", default=[], metavar="BINDING")
    _add_timing_arguments(parser, steps=10)
    parser.set_defaults(func=bench_step)


def add_variants_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "variants",
        help="each part of the fast path against fp32 contiguous",
        description="Images/s with each part of the fast path on its own (channels_last, "
        "fused Adam, bf16 autocast) and together, interleaved in one process.",
    )
    _add_model_arguments(parser)
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (slow start)")
    _add_timing_arguments(parser)
    parser.set_defaults(func=bench_variants)


def add_widths_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "widths",
        help="images/s at several widths, fast default and fp32 contiguous",
        description="A markdown table of images/s of G steps for each architecture and width.",
    )
    _add_model_arguments(parser)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.125, 0.25, 1.0])
    _add_timing_arguments(parser)
    parser.set_defaults(func=bench_widths)


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="training throughput, BN against sBN (images/s of G steps)",
        description="Images per second of generator steps (each with one D step) for BN and "
        "sBN generators of the same architecture, measured in alternating rounds.",
    )
    _add_model_arguments(parser)
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper)")
    _add_timing_arguments(parser)
    parser.set_defaults(func=bench_train)


def add_peer_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "peer",
        help="against torch-mimicry's SNGAN-32 step (install: pip install --no-deps torch-mimicry)",
        description="Seconds per step (1 D + 1 G) of torch-mimicry's SNGAN-32 and of our "
        "ResNet-32 (fp32 contiguous and the fast default), interleaved in one process. "
        "torch-mimicry is a benchmark peer only, never a dependency.",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--norm", default="sbn", help="our generator's norm (default sbn)")
    _add_timing_arguments(parser, steps=2)
    parser.set_defaults(func=bench_peer)


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
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (registry.RegistryError, FileNotFoundError, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
