"""``python scripts/bench.py peer``: our ResNet-32 step against torch-mimicry's SNGAN-32 step
(Miyato et al.'s ResNet-32 shapes, Kwon & Lee's torch-mimicry), interleaved in one process.

torch-mimicry is a benchmark peer only, never a dependency: ``pip install --no-deps
torch-mimicry``. Its package ``__init__`` imports every subpackage, among them its metrics
(TensorFlow) and its trainer's utilities (scikit-image), which its models and their
``train_step`` do not use and which this project does not install. So :func:`peer_classes`
imports the SNGAN-32 modules with those two package ``__init__`` files not run
(:func:`_uninitialized_packages`): the packages are made from their own import specs, held in
``sys.modules`` only while the modules they contain are imported, and taken out again after.
The imported classes keep their modules; the interpreter is left as it was (a torch-mimicry
imported before, in full, is used as it is).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from statistics import median_high

import torch
from accelerate import Accelerator
from torch import nn

from benchmarks.setups import FAST, FP32_CONTIGUOUS, random_batches, setup_for, timed_trainer
from benchmarks.timing import device_of, interleaved_seconds, print_header

__all__ = ["INSTALL", "PEER", "bench_peer", "mimicry_step", "peer_classes"]

PEER = "torch-mimicry SNGAN-32"
INSTALL = "pip install --no-deps torch-mimicry"


@contextmanager
def _uninitialized_packages(*names: str) -> Iterator[None]:
    """Inside, the packages ``names`` (parents first) import their submodules without running
    their own ``__init__``; afterwards ``sys.modules`` holds no module of theirs it did not
    hold before."""
    before = set(sys.modules)
    try:
        for name in names:
            if name not in sys.modules:
                spec = importlib.util.find_spec(name)
                if spec is None:
                    raise ModuleNotFoundError(f"{name} is not installed: {INSTALL}", name=name)
                sys.modules[name] = importlib.util.module_from_spec(spec)
        yield
    finally:
        for name in set(sys.modules) - before:
            if name.split(".")[0] == names[0].split(".")[0]:
                del sys.modules[name]


def peer_classes() -> tuple[type, type, type]:
    """torch-mimicry's SNGAN-32 generator and discriminator, and its ``MetricLog`` (which
    their ``train_step`` fills, reading each loss with ``.item()``)."""
    with _uninitialized_packages("torch_mimicry", "torch_mimicry.training"):
        sngan = importlib.import_module("torch_mimicry.nets.sngan.sngan_32")
        metric_log = importlib.import_module("torch_mimicry.training.metric_log")
    return sngan.SNGANGenerator32, sngan.SNGANDiscriminator32, metric_log.MetricLog


def mimicry_step(
    device: torch.device, batch_size: int
) -> tuple[Callable[[], None], nn.Module, nn.Module]:
    """One torch-mimicry training step (1 D + 1 G, its own ``train_step`` methods) on a fixed
    random batch, and its G and D."""
    Gm, Dm, MetricLog = peer_classes()
    torch.manual_seed(0)
    netG, netD = Gm().to(device), Dm().to(device)
    betas = (0.0, 0.9)  # mimicry's SNGAN-32 setting; Adam's speed does not depend on it
    optG = torch.optim.Adam(netG.parameters(), 2e-4, betas=betas)
    optD = torch.optim.Adam(netD.parameters(), 2e-4, betas=betas)
    real = (torch.rand(batch_size, 3, 32, 32, device=device) * 2 - 1, None)

    def step() -> None:
        log = MetricLog()
        netD.train_step(real, netG, optD, log, device=device)
        netG.train_step(real, netD, optG, log, device=device)

    return step, netG, netD


def _ours(
    accelerator: Accelerator, norm: str, batch_size: int
) -> dict[str, tuple[Callable[[], object], nn.Module, nn.Module]]:
    """Our ResNet-32 step (width 1, hinge, spectral norm, 1 D + 1 G step), fp32 contiguous and
    fast default, each with its G and D."""
    setup = setup_for("resnet32", norm, 1.0, batch_size)
    steps = {}
    for name, variant in (("ours, fp32 contiguous", FP32_CONTIGUOUS), ("ours, fast", FAST)):
        trainer = timed_trainer(accelerator, setup, variant)
        step = functools.partial(trainer.step, random_batches(trainer, setup, variant))
        G, D = (accelerator.unwrap_model(m) for m in (trainer.G, trainer.D))
        steps[name] = (step, G, D)
    return steps


def bench_peer(args: argparse.Namespace) -> int:
    """Seconds per step of the peer's and of ours, and ours as a multiple of the peer's speed."""
    device = torch.device(device_of(args))
    print_header(args, f"peer: ResNet-32 width 1, batch {args.batch_size}")
    runs = {PEER: mimicry_step(device, args.batch_size)}
    runs |= _ours(Accelerator(cpu=device.type == "cpu"), args.norm, args.batch_size)
    calls = {name: step for name, (step, _, _) in runs.items()}
    seconds = interleaved_seconds(calls, args.steps, args.rounds, args.warmup, device)
    peer = median_high(seconds[PEER])
    for name, (_, G, D) in runs.items():
        median = median_high(seconds[name])
        g, d = (sum(p.numel() for p in m.parameters()) / 1e6 for m in (G, D))
        print(
            f"  {name:24s} {median:7.3f} s/step  {args.batch_size / median:7.1f} img/s  "
            f"{peer / median:5.2f}x the peer  (G {g:.2f}M, D {d:.2f}M parameters)"
        )
    return 0
