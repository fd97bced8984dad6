"""``python scripts/bench.py features``: the throughput of a feature extractor's forward pass."""

from __future__ import annotations

import argparse
import sys
import warnings

import torch

import registry
from benchmarks.timing import interleaved_seconds

__all__ = ["bench_features"]


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
    last = {}

    def forward() -> None:
        last["out"] = model(images)

    with torch.inference_mode():
        timed = interleaved_seconds({"forward": forward}, args.iters, 1, args.warmup, device)
    seconds, out = timed["forward"][0], last["out"]
    print(
        f"features: extractor={model.name} ({note}), device={device}, "
        f"threads={torch.get_num_threads()}, input={'x'.join(map(str, shape))}, "
        f"feature_dim={out['features'].shape[1]}, logits={out['logits'].shape[1]}"
    )
    print(
        f"{args.batch_size / seconds:.1f} images/s "
        f"({seconds * 1000:.1f} ms per batch of {args.batch_size})"
    )
    return 0
