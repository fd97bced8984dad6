"""Generator conditioning (Odena et al., 2018), as in Section 3.3 / Figure 3 of the paper.

For each ``z`` of a minibatch, the Jacobian ``J_z = dG(z)/dz`` of the flattened output is
computed, and the log condition number ``log(σ_max / σ_min)`` of its singular values; the paper
reports the mean over the batch.

Batch norm: the generator is put in **eval mode** while the Jacobians are taken (its previous
mode is restored afterwards). Batch norm then uses its running statistics, so each sample's
output depends on its own ``z`` only and the Jacobian is per-sample; in train mode the batch
statistics would couple the samples of a batch. Conditional generators get their label held
fixed (labels are not differentiated).

Precision: the Jacobians are taken in the generator's dtype. A condition number beyond what
that dtype resolves (``σ_max / σ_min > 1 / eps``; in float32 typically a sample whose tanh output
is saturated to exactly ±1 almost everywhere, which zeroes its Jacobian) is recomputed on a
float64 copy of the generator; a Jacobian still singular there gives ``inf``.
"""

from __future__ import annotations

import copy
import math
import warnings

import torch
from torch import nn

__all__ = [
    "JACOBIAN_BATCH",
    "generator_log_condition",
    "jacobian_log_condition",
    "per_sample_jacobians",
]

JACOBIAN_BATCH = 64
"""z's the conditioning of a generator is averaged over."""


def _forward(generator: nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    out = generator(z) if y is None else generator(z, y)
    return out.reshape(z.shape[0], -1)


def _jacobians_vmap(generator: nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Forward-mode Jacobians (z_dim JVPs, far fewer than the output size), vmapped."""
    from torch.func import jacfwd, vmap

    if y is None:

        def single(zi: torch.Tensor) -> torch.Tensor:
            return _forward(generator, zi[None], None)[0]

        return vmap(jacfwd(single))(z)

    def single_y(zi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return _forward(generator, zi[None], yi[None])[0]

    return vmap(jacfwd(single_y), in_dims=(0, 0))(z, y)


def _replicate(y: torch.Tensor | None, i: int, count: int) -> torch.Tensor | None:
    return None if y is None else y[i : i + 1].repeat(count, *([1] * (y.ndim - 1)))


def _jacobians_dual(generator: nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Forward-mode autograd without torch.func: each sample is replicated z_dim times along the
    batch, replica ``j`` carrying the tangent ``e_j``; one forward pass gives all columns."""
    import torch.autograd.forward_ad as fwad

    z_dim = z.shape[1]
    basis = torch.eye(z_dim, dtype=z.dtype, device=z.device)
    jacs = []
    with torch.no_grad(), fwad.dual_level():
        for i in range(z.shape[0]):
            primal = z[i : i + 1].expand(z_dim, z_dim).contiguous()
            out = _forward(generator, fwad.make_dual(primal, basis), _replicate(y, i, z_dim))
            jacs.append(fwad.unpack_dual(out).tangent.T)  # out_dim × z_dim
    return torch.stack(jacs)


def _jacobians_reverse(
    generator: nn.Module, z: torch.Tensor, y: torch.Tensor | None, chunk: int = 256
) -> torch.Tensor:
    """Plain reverse-mode autograd, sample by sample (slow: one backward row per output): the
    sample is replicated along the batch and replica ``r`` back-propagates ``e_j``, giving row
    ``j``."""
    rows = []
    for i in range(z.shape[0]):
        out_dim = _forward(generator, z[i : i + 1], _replicate(y, i, 1)).shape[1]
        jac = torch.empty(out_dim, z.shape[1], dtype=z.dtype, device=z.device)
        for start in range(0, out_dim, chunk):
            stop = min(start + chunk, out_dim)
            zi = z[i : i + 1].detach().repeat(stop - start, 1).requires_grad_(True)
            out = _forward(generator, zi, _replicate(y, i, stop - start))
            directions = torch.zeros_like(out)
            directions[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
            (grad,) = torch.autograd.grad(out, zi, grad_outputs=directions)
            jac[start:stop] = grad
        rows.append(jac)
    return torch.stack(rows)


def _jacobians(
    generator: nn.Module, z: torch.Tensor, y: torch.Tensor | None, rows: slice
) -> torch.Tensor:
    """The Jacobians at ``z[rows]`` by the first strategy that can transform the model."""
    zc, yc = z[rows], None if y is None else y[rows]
    for strategy in (_jacobians_vmap, _jacobians_dual):
        try:
            return strategy(generator, zc, yc).detach()
        except (RuntimeError, NotImplementedError):
            continue
    return _jacobians_reverse(generator, zc, yc).detach()


def per_sample_jacobians(
    generator: nn.Module,
    z: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    chunk_size: int = 8,
) -> torch.Tensor:
    """Jacobians ``B × out_dim × z_dim`` of the flattened ``G(z)``, generator in eval mode.

    Uses ``torch.func`` (vmap of jacfwd) on ``chunk_size`` samples at a time (memory grows as
    ``chunk_size × z_dim`` forward passes); models that ``torch.func`` cannot transform fall
    back to forward-mode autograd on replicated samples, then to reverse mode.

    A process's first forward-mode pass makes torch load its own JVP decompositions, which it
    compiles with ``torch.jit.script`` (``torch/_decomp/decompositions_for_jvp.py``) and so
    warns that ``torch.jit.script`` is deprecated: torch's internals, nothing a caller can act
    on, so that one warning is silenced here.
    """
    was_training = generator.training
    generator.eval()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "`torch.jit.script` is", FutureWarning)
            chunks = [slice(i, i + chunk_size) for i in range(0, z.shape[0], chunk_size)]
            return torch.cat([_jacobians(generator, z, y, rows) for rows in chunks])
    finally:
        generator.train(was_training)


def _log_condition(jac: torch.Tensor) -> torch.Tensor:
    """``log(σ_max / σ_min)`` per Jacobian (float64); ``inf`` where ``σ_min`` is 0."""
    sv = torch.linalg.svdvals(jac.to("cpu", torch.float64))  # descending, B × min(out, z_dim)
    # An all-zero Jacobian would give log 0 - log 0 = NaN: any σ_min = 0 is inf.
    return torch.where(sv[:, -1] > 0, sv[:, 0].log() - sv[:, -1].log(), math.inf)


def jacobian_log_condition(
    generator: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, *, chunk_size: int = 8
) -> tuple[torch.Tensor, float]:
    """Per-sample ``log(σ_max / σ_min)`` of the generator Jacobians at ``z`` and their mean.

    Returns ``(values, mean)`` with ``values`` a float64 CPU tensor of shape ``(B,)``. Samples
    whose condition number exceeds ``1 / eps`` of ``z``'s dtype are recomputed in float64 (see
    the module docstring); a Jacobian singular even there gives ``inf``, and so an ``inf`` mean.
    """
    values = _log_condition(per_sample_jacobians(generator, z, y, chunk_size=chunk_size))
    if z.dtype != torch.float64:
        unresolved = ~(values < -math.log(torch.finfo(z.dtype).eps))
        if unresolved.any():
            index = unresolved.nonzero().flatten().to(z.device)
            g64 = copy.deepcopy(generator).double()
            y_sub = None if y is None else y[index]
            jac = per_sample_jacobians(g64, z[index].double(), y_sub, chunk_size=chunk_size)
            values[unresolved] = _log_condition(jac)
    return values, float(values.mean())


def generator_log_condition(
    generator: nn.Module,
    num_z: int = JACOBIAN_BATCH,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    z_dim: int | None = None,
    num_classes: int | None = None,
) -> tuple[torch.Tensor, float]:
    """:func:`jacobian_log_condition` at ``num_z`` draws ``z ~ N(0, I)`` (uniform labels for a
    conditional generator), seeded; ``z_dim``/``num_classes`` default to the model's attributes."""
    z_dim = int(z_dim if z_dim is not None else generator.z_dim)
    num_classes = int(
        num_classes if num_classes is not None else getattr(generator, "num_classes", 0)
    )
    param = next(generator.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    if device is None:
        device = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(num_z, z_dim, generator=gen)
    y = torch.randint(num_classes, (num_z,), generator=gen) if num_classes > 0 else None
    z = z.to(device, dtype)
    y = None if y is None else y.to(device)
    return jacobian_log_condition(generator, z, y)
