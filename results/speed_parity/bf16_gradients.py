"""How far bf16 autocast moves the generator's gradient from fp32, against how far another
batch of z moves it (issue 26, item 3: does bf16 hurt sBN?).

On the parity study's trained quickstart models (`runs/norm=*,path=bf16,seed=0/best`, G and D
at their best evaluation; not committed, made by the study run), one G step's gradient of the
hinge G loss, -mean D(G(z)), over all of G's parameters, relative to the fp32 gradient:

    python results/speed_parity/bf16_gradients.py     (from the repository root)

Variants: bf16 autocast in G and D (the trainer's bf16 path), in G alone, in D alone; for sBN
also with the modulation MLP (gamma(z), beta(z)) or the whole norm layer kept in fp32 under
autocast; and, for scale, the fp32 gradient of another batch of 64 z.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from pathlib import Path

import torch
from accelerate import Accelerator
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.setups import setup_from_gin, with_norm
from registry.modulated_batch_norm import modulated_batch_norm
from registry.norms import SelfModulatedBatchNorm
from zoo.training import build_trainer

RUNS = Path(__file__).parent / "runs"


def models(norm: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The trained G and D of the bf16 seed-0 run of ``norm``, in training mode."""
    setup = with_norm(setup_from_gin(["gin/quickstart.gin"]), norm)
    settings = replace(setup.settings, mixed_precision="no")
    trainer = build_trainer(settings, Accelerator(cpu=True), setup.channels)
    G, D = trainer.G, trainer.D
    best = RUNS / f"norm={norm},path=bf16,seed=0" / "best"
    G.load_state_dict(load_file(best / "model.safetensors"))
    D.load_state_dict(load_file(best / "discriminator.safetensors"), strict=False)
    return G.train(), D.train()


def bf16(enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def gradient(G, D, z, g_bf16: bool, d_bf16: bool) -> list[torch.Tensor]:
    """G's gradient of -mean D(G(z)), per parameter (G's batch-norm running statistics
    restored)."""
    state = {k: v.clone() for k, v in G.state_dict().items()}
    G.zero_grad()
    D.zero_grad()
    with bf16(g_bf16):
        x = G(z)
    with bf16(d_bf16):
        (-D(x if d_bf16 else x.float()).float().mean()).backward()
    G.load_state_dict(state)
    return [p.grad.clone() for p in G.parameters()]


def norm_in_fp32(whole: bool):
    """sBN's forward with gamma(z), beta(z) (and with ``whole`` the normalization too) in fp32."""

    def forward(self, h, z, y=None):
        with torch.autocast("cpu", enabled=False):
            gamma, beta = self.modulation(self.modulating_input(z, y).float())
            return modulated_batch_norm(h.float() if whole else h, gamma, beta, self.bn)

    return forward


def relative(grads: list[torch.Tensor], ref: list[torch.Tensor]) -> str:
    """||grads - ref|| / ||ref|| over G's parameters, leaving out those whose reference gradient
    is zero up to rounding (conv biases before a batch norm)."""
    kept = [i for i, g in enumerate(ref) if g.abs().max() > 1e-5]
    a = torch.cat([grads[i].flatten() for i in kept])
    b = torch.cat([ref[i].flatten() for i in kept])
    return f"{((a - b).norm() / b.norm()).item():.3f}"


def row(norm: str) -> list[str]:
    """The table's row of ``norm`` (a z batch of 64 from seed 0)."""
    torch.manual_seed(0)
    G, D = models(norm)
    z, other = torch.randn(2, 64, G.z_dim)
    ref = gradient(G, D, z, False, False)
    pairs = ((True, True), (True, False), (False, True))
    cells = [relative(gradient(G, D, z, g, d), ref) for g, d in pairs]
    plain = SelfModulatedBatchNorm.forward
    for whole in (False, True):
        if norm != "sbn":
            cells.append("")
            continue
        SelfModulatedBatchNorm.forward = norm_in_fp32(whole)
        cells.append(relative(gradient(G, D, z, True, True), ref))
        SelfModulatedBatchNorm.forward = plain
    cells.append(relative(gradient(G, D, other, False, False), ref))
    return cells


def main() -> None:
    print(
        "| G | bf16 in G and D | in G alone | in D alone | G and D, sBN MLP fp32 "
        "| G and D, sBN layer fp32 | fp32, another batch of z |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for norm in ("bn", "sbn"):
        print(f"| {norm} | " + " | ".join(row(norm)) + " |")


if __name__ == "__main__":
    main()
