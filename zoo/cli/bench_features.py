"""``python scripts/bench.py features``: the throughput of a feature extractor's forward pass."""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import torch

import registry

__all__ = ["add_features_parser", "bench_features"]


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
