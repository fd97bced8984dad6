"""Run by tests/test_trainer.py under torchrun: train a few steps, then save this rank's weights.

ACCELERATE_USE_CPU=yes torchrun --standalone --nproc_per_node 2 tests/multiprocess_train.py OUT
"""

import os
import sys
from pathlib import Path

from safetensors.torch import save_file

import zoo
from zoo.training import precision, train

out = Path(sys.argv[1])
rank = int(os.environ.get("RANK", "0"))
# auto precision: a probe that says bf16 is fast on rank 1 only, each rank with its own cache;
# every rank must take rank 0's decision (fp32).
os.environ["SELFMOD_CACHE"] = str(out / f"precision_cache_rank{rank}")
precision.measure_bf16_speedup = lambda device, layout: 2.0 if rank == 1 else 0.5
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
(out / f"world_rank{rank}.txt").write_text(str(result.num_processes))
(out / f"precision_rank{rank}.txt").write_text(result.precision)
for role in ("generator", "discriminator"):
    state = {k: v.detach().contiguous() for k, v in getattr(result, role).state_dict().items()}
    save_file(state, out / f"{role}_rank{rank}.safetensors")
