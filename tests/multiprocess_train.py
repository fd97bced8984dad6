"""Run by tests/test_trainer.py under torchrun: train a few steps, then save this rank's weights.

ACCELERATE_USE_CPU=yes torchrun --standalone --nproc_per_node 2 tests/multiprocess_train.py OUT
"""

import os
import sys
from pathlib import Path

from safetensors.torch import save_file

import zoo
from zoo.training import train

out = Path(sys.argv[1])
zoo.parse(
    bindings=[
        "train.dataset = @dataset.synthetic",
        "dataset.synthetic.num_samples = 64",
        "dataset.synthetic.num_classes = 4",
        "train.generator = @generator.resnet32",
        "train.discriminator = @discriminator.resnet32",
        "generator.resnet32.width = 0.0625",
        "generator.resnet32.num_classes = 4",
        "discriminator.resnet32.width = 0.0625",
        "discriminator.resnet32.num_classes = 4",
        "train.penalty = @penalty.gradient()",
        "train.ema_decay = 0.9",
        "train.steps = 3",
        "train.batch_size = 4",
        "train.disc_iters = 2",
        "train.eval_metrics = []",
        "train.tracker = None",
        "train.progress = False",
        f"train.output_dir = '{out / 'run'}'",
    ]
)
result = train()
rank = int(os.environ.get("RANK", "0"))
(out / f"world_rank{rank}.txt").write_text(str(result["num_processes"]))
for role in ("generator", "discriminator"):
    state = {k: v.detach().contiguous() for k, v in result[role].state_dict().items()}
    save_file(state, out / f"{role}_rank{rank}.safetensors")
