"""The benchmark peer: torch-mimicry's SNGAN-32 (Miyato et al.'s ResNet-32 shapes), timed
against our ResNet-32 step by ``python scripts/bench.py peer``. A benchmark only, never a
dependency: ``pip install --no-deps torch-mimicry``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

__all__ = ["import_mimicry_sngan32", "mimicry_step"]


def import_mimicry_sngan32() -> tuple[type, type, type]:
    """torch-mimicry's SNGAN-32 G and D and its MetricLog, without running the package's
    ``__init__`` (it imports TensorFlow): the parent packages are stubbed in ``sys.modules``."""
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("torch_mimicry")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("torch-mimicry is not installed: pip install --no-deps torch-mimicry")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, folder in (("torch_mimicry", root), ("torch_mimicry.training", root / "training")):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [str(folder)]
            sys.modules[name] = stub
    sngan = importlib.import_module("torch_mimicry.nets.sngan.sngan_32")
    metric_log = importlib.import_module("torch_mimicry.training.metric_log")
    return sngan.SNGANGenerator32, sngan.SNGANDiscriminator32, metric_log.MetricLog


def mimicry_step(
    device: torch.device, batch_size: int
) -> tuple[Callable[[], None], nn.Module, nn.Module]:
    """One torch-mimicry training step (1 D + 1 G, its own ``train_step`` methods) on a fixed
    random batch, and its G and D."""
    Gm, Dm, MetricLog = import_mimicry_sngan32()
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
