"""Run by tests/test_stopping.py under torchrun: rank 1 alone gets SIGTERM during step 2; both
ranks must stop after that same step, with one checkpoint, and say so in OUT/stopped_rankR.txt.

ACCELERATE_USE_CPU=yes torchrun --standalone --nproc_per_node 2 tests/multiprocess_stop.py OUT
"""

import os
import signal
import sys
from pathlib import Path

import zoo
from zoo.folder_lock import HOLDER_FILE
from zoo.training import TrainingStopped, train
from zoo.training.step import GANTrainer

out = Path(sys.argv[1])
rank = int(os.environ.get("RANK", "0"))
real_step, steps = GANTrainer.step, []


def step_signalled_on_rank_1(self, batches):
    steps.append(1)
    if rank == 1 and len(steps) == 2:
        os.kill(os.getpid(), signal.SIGTERM)
    if len(steps) == 2:  # every rank sees the run's one holder while it trains
        (out / f"holder_rank{rank}.txt").write_text((out / "run" / HOLDER_FILE).read_text())
    return real_step(self, batches)


GANTrainer.step = step_signalled_on_rank_1
zoo.parse(
    bindings=[
        "train.dataset = @dataset.synthetic",
        "dataset.synthetic.num_samples = 64",
        "train.generator = @generator.sndcgan32",
        "train.discriminator = @discriminator.sndcgan32",
        "generator.sndcgan32.width = 0.0625",
        "discriminator.sndcgan32.width = 0.0625",
        "train.steps = 1000",
        "train.batch_size = 4",
        "train.checkpoint_every = 0",
        "train.eval_metrics = []",
        "train.tracker = None",
        "train.progress = False",
        f"train.output_dir = '{out / 'run'}'",
    ]
)
try:
    train()
except TrainingStopped as stopped:
    (out / f"stopped_rank{rank}.txt").write_text(str(stopped))
