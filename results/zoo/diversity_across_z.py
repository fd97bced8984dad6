"""How much a generator's output varies with z: the per-pixel standard deviation across 256
samples (one fixed batch of z, seed 0), in eval mode (running statistics), for each weight file.

    python results/zoo/diversity_across_z.py CONFIG_JSON WEIGHTS.safetensors...

CONFIG_JSON is a model folder's config.json (e.g. a run's best/config.json); the weights may be
a checkpoint's raw ``model.safetensors`` or its ``ema_generator.safetensors`` (whose keys carry
the ``module.`` prefix of the averaged copy)."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from zoo.model_folder import build, load_strict


def diversity(config: dict, weights: str) -> float:
    generator = build("generator", config["architecture"], config["model_args"], weights)
    tensors = {k.removeprefix("module."): v for k, v in load_file(weights).items()}
    load_strict(generator, tensors, weights)
    generator.eval()
    z = torch.randn(256, config["z_dim"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return generator(z).std(0).mean().item()


if __name__ == "__main__":
    config = json.loads(Path(sys.argv[1]).read_text())
    for path in sys.argv[2:]:
        print(f"{path}: per-pixel std across z {diversity(config, path):.3f}")
