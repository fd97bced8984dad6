"""Batch norm followed by a per-sample modulation, ``γ ⊙ (h − μ)/σ + β`` with γ, β of shape
N×C (Eq. 2, 3), as one autograd function: the forward is batch norm's own (statistics,
running averages, normalization) then one multiply-add; the backward is written in closed form,
about half the passes over the activations of autograd's ``addcmul`` and batch-norm backward.
The batch statistics and running averages are those of the ``nn.BatchNorm2d`` it is given;
anything else (eval mode, a ``SyncBatchNorm``, bf16 inputs) takes the plain path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["closed_form_backward", "modulated_batch_norm"]

_closed_form = True


@contextlib.contextmanager
def closed_form_backward(enabled: bool) -> Iterator[None]:
    """Inside, :func:`modulated_batch_norm` uses the closed-form backward (``enabled``, the
    default everywhere) or autograd's plain path (``train.closed_form_norm_backward = False``:
    to measure what the closed form changes in training)."""
    global _closed_form
    previous, _closed_form = _closed_form, enabled
    try:
        yield
    finally:
        _closed_form = previous


def _expand(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel ``v`` (N×C) broadcast over the spatial axes of ``like``."""
    return v.view(*v.shape, *([1] * (like.dim() - 2)))


class _ModulatedBatchNorm(torch.autograd.Function):
    """Forward ``y = γ ⊙ x̂ + β`` from ``x̂ = (x − μ)·invstd``, which the caller normalized with
    the batch statistics outside autograd: ``x`` is an input only for its gradient, which the
    backward computes through the statistics."""

    @staticmethod
    def forward(ctx, x, xhat, gamma, beta, invstd):  # type: ignore[override]
        ctx.save_for_backward(xhat, gamma, invstd)
        return torch.addcmul(_expand(beta, xhat), xhat, _expand(gamma, xhat))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        xhat, gamma, invstd = ctx.saved_tensors
        grad_beta = grad.sum((2, 3))  # (N, C)
        grad_gamma = (grad * xhat).sum((2, 3))
        # Batch norm's backward with ∂L/∂x̂ = g·γ: invstd·(g·γ − mean(g·γ) − x̂·mean(g·γ·x̂)),
        # both means over N, H, W, from the sums above.
        count = grad.numel() / grad.shape[1]
        mean_dxhat = (gamma * grad_beta).sum(0) / count
        mean_dxhat_xhat = (gamma * grad_gamma).sum(0) / count
        grad_x = torch.addcmul(
            (-mean_dxhat * invstd)[None, :, None, None],
            xhat,
            (-mean_dxhat_xhat * invstd)[None, :, None, None],
        )
        grad_x.addcmul_(grad, _expand(gamma * invstd, grad))
        return grad_x, None, grad_gamma, grad_beta, None


def _fused_applies(h: torch.Tensor, bn: nn.Module) -> bool:
    return (
        _closed_form
        and type(bn) is nn.BatchNorm2d
        and h.dim() == 4
        and h.dtype in (torch.float32, torch.float64)
        and h.device.type in ("cpu", "cuda")  # others (meta: shapes only) take the plain path
        and not torch.is_autocast_enabled(h.device.type)
        and bn.training  # eval mode (sampling, the Jacobian's forward-mode AD): plain path
        and bn.track_running_stats
    )


def modulated_batch_norm(
    h: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, bn: nn.Module
) -> torch.Tensor:
    """``γ ⊙ bn(h) + β`` for an affine-free ``bn``, with γ, β per sample and channel (N×C),
    updating ``bn``'s running statistics as ``bn(h)`` would; ``bn=nn.Identity()`` gives the
    modulation alone, ``γ ⊙ h + β``."""
    if not _fused_applies(h, bn):
        return torch.addcmul(_expand(beta, h), _expand(gamma, h), bn(h))
    bn.num_batches_tracked.add_(1)
    momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    with torch.no_grad():  # the normalization as nn.BatchNorm2d does it (running stats too)
        xhat, _, invstd = torch.native_batch_norm(
            h, None, None, bn.running_mean, bn.running_var, True, momentum, bn.eps
        )
    return _ModulatedBatchNorm.apply(h, xhat, gamma, beta, invstd)
