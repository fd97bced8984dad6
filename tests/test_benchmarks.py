"""The benchmarks' set-ups and the torch-mimicry peer (benchmarks/, run by scripts/bench.py):
set-ups follow the trainer's settings, and the peer is imported without leaving anything of
its package in ``sys.modules``."""

import importlib.util
import sys

import pytest

import zoo
from benchmarks.cli import main
from benchmarks.setups import FAST, setup_for, setup_from_gin
from zoo.training import TrainSettings

MIMICRY = importlib.util.find_spec("torch_mimicry") is not None


def test_a_gin_setup_is_the_trainers_settings():
    """``bench.py step`` times what ``train.py --gin`` would run: its settings, and the
    channels of its dataset (Fashion-MNIST's 1, CIFAR-10's default 3)."""
    quickstart = setup_from_gin(["quickstart.gin"], ["train.batch_size = 8"])
    assert (quickstart.channels, quickstart.batch_size, quickstart.disc_iters) == (1, 8, 1)
    assert (quickstart.settings.steps, quickstart.settings.eval_extractor) == (
        3000,
        "fashion_classifier",
    )  # all of train.*, as gin binds it
    resnet = setup_from_gin(["cifar10_resnet_sbn.gin"])
    assert (resnet.channels, resnet.disc_iters, resnet.settings.beta1) == (3, 2, 0.0)


def test_an_architecture_setup_has_the_trainers_defaults_whatever_gin_binds():
    """A set-up by name takes TrainSettings' defaults, not a gin binding left by an earlier
    parse; FAST is those defaults' fast path."""
    zoo.parse(bindings=["train.disc_iters = 5", "train.learning_rate = 0.1"])
    setup = setup_for("sndcgan32", "bn", 0.0625, batch_size=4)
    assert (setup.disc_iters, setup.settings.learning_rate, setup.batch_size) == (1, 2e-4, 4)
    assert setup.settings.generator(channels=3).config["width"] == 0.0625
    zoo.parse()
    defaults = TrainSettings(dataset=None, generator=None, discriminator=None)
    fast = (defaults.mixed_precision, defaults.channels_last, defaults.fused_optimizer)
    assert (FAST.precision, FAST.channels_last, FAST.fused_optimizer) == fast
    assert not FAST.compile


@pytest.mark.skipif(MIMICRY, reason="torch-mimicry is installed")
def test_peer_without_torch_mimicry_says_how_to_install_it(capsys):
    assert main(["peer", "--steps", "1", "--rounds", "1", "--warmup", "0"]) == 1
    err = capsys.readouterr().err
    assert err == "error: torch_mimicry is not installed: pip install --no-deps torch-mimicry\n"
    assert not any(name.startswith("torch_mimicry") for name in sys.modules)


@pytest.mark.skipif(not MIMICRY, reason="needs torch-mimicry: pip install --no-deps torch-mimicry")
def test_peer_times_torch_mimicrys_step_beside_ours(capsys):
    """torch-mimicry's SNGAN-32 step and ours (fp32 contiguous, fast), interleaved; its
    package is imported without its __init__ (TensorFlow) and taken out of sys.modules."""
    before = {name for name in sys.modules if name.startswith("torch_mimicry")}
    argv = ["peer", "--batch-size", "2", "--steps", "1", "--rounds", "1", "--warmup", "0"]
    assert main([*argv, "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("peer: ResNet-32 width 1, batch 2: ")
    names = ["torch-mimicry SNGAN-32", "ours, fp32 contiguous", "ours, fast"]
    assert [line.split("  ")[1].strip() for line in lines[1:]] == names
    assert "1.00x the peer  (G 4.28M, D 1.05M parameters)" in lines[1]
    assert all("(G 4.42M, D 1.05M parameters)" in line for line in lines[2:])
    assert {name for name in sys.modules if name.startswith("torch_mimicry")} == before
