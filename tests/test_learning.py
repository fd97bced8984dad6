"""A GAN learns: 150 steps of the real trainer (Section 3.1's step, the registry's losses and
penalties) on a 2-d Gaussian blob far from where G starts. D must score real data above G's
samples early on, and G's samples must move to the data (seen to pass with seeds 0-3; the
test uses 0).

G and D are tiny MLPs with the interface of the registered models (``G.z_dim``,
``G.num_classes``, ``G(z, y)``; ``D.num_classes``, ``D(x, y)`` giving one logit per sample), so
a run takes about a second on one CPU core.
"""

import pytest
import torch
from accelerate import Accelerator
from torch import nn

import registry
from zoo.training import GANTrainer

DATA_MEAN, DATA_STD = torch.tensor([3.0, -2.0]), 0.3
BATCH = 64


class MLPGenerator(nn.Module):
    z_dim, num_classes = 4, 0

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z, y=None):
        return self.net(z)


class MLPDiscriminator(nn.Module):
    num_classes = 0

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)


def _blob(n, generator):
    return DATA_MEAN + DATA_STD * torch.randn(n, 2, generator=generator)


def _real_batches():
    generator = torch.Generator().manual_seed(1)
    while True:
        yield _blob(BATCH, generator), torch.zeros(BATCH, dtype=torch.long)


def _distance_to_data(G):
    """Distance of the mean of 512 samples of G to the data's mean."""
    with torch.no_grad():
        samples = G(torch.randn(512, G.z_dim, generator=torch.Generator().manual_seed(2)))
    return float((samples.mean(dim=0) - DATA_MEAN).norm())


def _real_minus_fake_score(trainer):
    """Mean D(real) − mean D(G(z)) on fresh batches."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        real = _blob(256, generator)
        fake = trainer.G(torch.randn(256, trainer.z_dim, generator=generator))
        return float(trainer.D(real).mean() - trainer.D(fake).mean())


@pytest.mark.parametrize(
    ("loss", "penalty"),
    [("hinge", "none"), ("non_saturating", "r1")],
)
def test_gan_learns_a_gaussian_blob(loss, penalty):
    """Section 3.1's step with Adam (β1, β2) = (0, 0.9) at learning rate 5e-3: after 10 steps
    D scores real data above G's samples; over steps 110-150 G's samples are centred on the
    data (their mean within 0.5 of the data's on average, from 3.7 at start)."""
    torch.manual_seed(0)
    G, D = MLPGenerator(), MLPDiscriminator()
    trainer = GANTrainer(
        Accelerator(cpu=True),
        G,
        D,
        loss=registry.create("loss", loss),
        penalty=registry.create("penalty", penalty, weight=1.0),
        disc_iters=1,
        learning_rate=5e-3,
        betas=(0.0, 0.9),
        precision="no",
        fused_optimizer=False,
    )
    batches = _real_batches()
    start = _distance_to_data(G)
    for _ in range(10):
        trainer.step(batches)
    margin = _real_minus_fake_score(trainer)
    assert margin > 0.5, (
        f"after 10 steps D scores real data only {margin:.3f} above G's samples: D does not "
        "learn to tell them apart (D loss: real and fake logits swapped?)"
    )
    late = []
    for step in range(11, 151):
        trainer.step(batches)
        if step >= 110 and step % 10 == 0:
            late.append(_distance_to_data(G))
    end = sum(late) / len(late)
    assert end < 0.5, (
        f"G's samples centred {end:.2f} from the data's mean over steps 110-150 (from "
        f"{start:.2f} at start): G does not move to the data (G loss sign flipped? D loss "
        "swapped?)"
    )
