"""The GAN step of Section 3.1: ``disc_iters`` discriminator steps, then one generator step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from accelerate import Accelerator
from torch import nn

from registry.losses import GANLoss
from registry.modulated_batch_norm import closed_form_backward
from registry.penalties import Penalty
from zoo.train_settings import TrainSettings
from zoo.training.fastpath import autocast, make_adam
from zoo.training.precision import resolve_precision

__all__ = ["GANTrainer", "build_trainer"]


class GANTrainer:
    """Holds G, D, their Adam optimizers, the loss and the penalty; :meth:`step` is one
    generator step.

    ``precision = "bf16"`` runs the forward passes of G and D under bf16 autocast; the losses,
    the gradient penalty's norm and the weights (with their Adam state) stay in fp32. All but
    the accelerator and the two models are keywords.
    """

    def __init__(
        self,
        accelerator: Accelerator,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        loss: GANLoss,
        penalty: Penalty,
        disc_iters: int,
        learning_rate: float,
        betas: tuple[float, float],
        precision: str = "no",
        fused_optimizer: bool = False,
        closed_form_norm_backward: bool = True,
        skip_d_weight_grads: bool = True,
    ) -> None:
        self.accelerator, self.loss, self.penalty = accelerator, loss, penalty
        self.disc_iters, self.precision = disc_iters, precision
        self.closed_form, self.skip_d_weight_grads = closed_form_norm_backward, skip_d_weight_grads
        self.z_dim, self.g_classes = generator.z_dim, generator.num_classes
        self.d_classes = discriminator.num_classes
        opt_g = make_adam(generator.parameters(), learning_rate, betas, fused_optimizer)
        opt_d = make_adam(discriminator.parameters(), learning_rate, betas, fused_optimizer)
        self.G, self.D, self.opt_g, self.opt_d = accelerator.prepare(
            generator, discriminator, opt_g, opt_d
        )
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]

    def latents(self, n: int, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z ~ N(0, I) and, for a conditional G, uniformly drawn labels."""
        z = torch.randn(n, self.z_dim, device=labels.device)
        y = torch.randint(self.g_classes, (n,), device=labels.device) if self.g_classes else None
        return z, y

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.accelerator.device, self.precision)

    def step(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """``disc_iters`` D steps on fresh real batches, then one G step (Section 3.1)."""
        with closed_form_backward(self.closed_form):
            return self._step(batches)

    def _step(
        self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        for _ in range(self.disc_iters):
            real, real_y = next(batches)
            n = real.shape[0]
            z, y = self.latents(n, real_y)
            with torch.no_grad(), self.autocast():
                fake = self.G(z, y).to(real.dtype)
            points = self.penalty.points(real, fake)  # None without a gradient penalty
            inputs = [real, fake] if points is None else [real, fake, points.requires_grad_()]
            labels = torch.cat([real_y, y, real_y][: len(inputs)]) if self.d_classes else None
            with self.autocast():  # one D pass: real, fake, penalty points
                logits = self.D(torch.cat(inputs), labels).float().split(n)
            d_loss = self.loss.d_loss(logits[0], logits[1])
            penalty = d_loss.new_zeros(()) if points is None else self.penalty.at(logits[2], points)
            self.opt_d.zero_grad(set_to_none=True)
            self.accelerator.backward(d_loss + penalty)
            self.opt_d.step()

        z, y = self.latents(n, real_y)
        frozen = self.d_params if self.skip_d_weight_grads else []
        with self.accelerator.no_sync(self.D), _frozen(frozen):
            with self.autocast():
                logits = self.D(self.G(z, y), y if self.d_classes else None).float()
            g_loss = self.loss.g_loss(logits)
            self.opt_g.zero_grad(set_to_none=True)
            self.accelerator.backward(g_loss)
        self.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "penalty": penalty.detach()}


def build_trainer(
    settings: TrainSettings, accelerator: Accelerator, channels: int, precision: str | None = None
) -> GANTrainer:
    """The trainer that ``settings`` configure: G and D built for data of ``channels``
    channels from ``settings.seed``, in their memory layout (``channels_last``), with Adam of
    their learning rate, betas and kernel, their loss, penalty, ``disc_iters`` and the
    always-on parts. ``precision`` is the resolved one (``"no"`` or ``"bf16"``); None resolves
    ``settings.mixed_precision`` on this device (:func:`.precision.resolve_precision`)."""
    s = settings
    layout = torch.channels_last if s.channels_last else torch.contiguous_format
    if precision is None:
        precision = resolve_precision(s.mixed_precision, accelerator.device, layout)
    torch.manual_seed(s.seed)
    G = s.generator(channels=channels).to(memory_format=layout)
    D = s.discriminator(channels=channels).to(memory_format=layout)
    return GANTrainer(
        accelerator,
        G,
        D,
        loss=s.loss_fn(),
        penalty=s.penalty_fn(),
        disc_iters=s.disc_iters,
        learning_rate=s.learning_rate,
        betas=(s.beta1, s.beta2),
        precision=precision,
        fused_optimizer=s.fused_optimizer,
        closed_form_norm_backward=s.closed_form_norm_backward,
        skip_d_weight_grads=s.skip_d_weight_grads,
    )


@contextlib.contextmanager
def _frozen(params: list[nn.Parameter]) -> Iterator[None]:
    """No gradients for ``params`` inside: the G step backpropagates through D to G's
    weights only, skipping D's weight gradients (which it would discard)."""
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
