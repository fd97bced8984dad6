"""The GAN step of Section 3.1 against an update written out in this file.

Each test builds one tiny G and D, gives :class:`~zoo.training.step.GANTrainer` the models and
deep copies of them to a reference written here with plain autograd and ``torch.optim.Adam``:
``disc_iters`` D steps, each on a fresh real batch, on the paper's D loss (plus the gradient
penalty), then one G step on the paper's G loss. The losses and penalties are written out from
the papers here, not taken from :mod:`registry.losses` or :mod:`registry.penalties`. Both sides
draw z, labels and penalty points from the same seeded global RNG in the trainer's order (for
each D step ``z = randn(n, z_dim)``, then the labels, then the penalty's draw; then z and labels
of the G step), so after two generator steps (Adam's first step only sees the gradients' signs,
the second their magnitudes) D's and G's gradients and weights must agree to fp32 rounding.
"""

import copy

import pytest
import torch
from accelerate import Accelerator
from torch.nn import functional as F

import registry
from zoo.training import GANTrainer

LR, BETAS = 2e-4, (0.5, 0.999)
BATCH, CLASSES, Z_DIM = 4, 3, 16
STEPS = 2  # generator steps compared

# Section 3.1's losses, written as what D and G minimise (−V_D and V_G): (D loss, G loss).
REFERENCE_LOSSES = {
    # Miyato et al. 2018: D loss = E relu(1 − D(x)) + E relu(1 + D(G(z))), G loss = −E D(G(z)).
    "hinge": (
        lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
        lambda fake: -fake.mean(),
    ),
    # Goodfellow et al. 2014 with D = sigmoid(logit): −log σ(a) = softplus(−a),
    # −log(1 − σ(a)) = softplus(a); the non-saturating G loss is −E log σ(D(G(z))).
    "non_saturating": (
        lambda real, fake: F.softplus(-real).mean() + F.softplus(fake).mean(),
        lambda fake: F.softplus(-fake).mean(),
    ),
    # Arjovsky et al. 2017: D maximises E D(x) − E D(G(z)); G maximises E D(G(z)).
    "wasserstein": (
        lambda real, fake: fake.mean() - real.mean(),
        lambda fake: -fake.mean(),
    ),
    # Mao et al. 2016, targets 1 (real) and 0 (fake): ½E(D(x) − 1)² + ½E D(G(z))², ½E(D(G(z)) − 1)².
    "least_squares": (
        lambda real, fake: 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean(),
        lambda fake: 0.5 * ((fake - 1) ** 2).mean(),
    ),
}


def _reference_penalty(name, weight, D, real, fake, labels):
    """The penalty term of D's loss, from the papers: WGAN-GP (Gulrajani et al. 2017)
    λ E(‖∇D(x̂)‖ − 1)² at x̂ = (1 − α)x + αx̃, α ~ U(0, 1) per sample (drawn as
    ``rand(n, 1, 1, 1)``; the trainer puts α on the fake sample); DRAGAN (Kodali et al. 2017)
    the same at x̂ = x + 0.5·std(x)·U(0, 1) noise; R1 (Mescheder et al. 2018) (λ/2) E‖∇D(x)‖²."""
    if name == "none":
        return 0.0
    if name == "gradient":
        alpha = torch.rand(real.shape[0], 1, 1, 1)
        points = (1 - alpha) * real + alpha * fake
    elif name == "dragan":
        points = real + 0.5 * real.std() * torch.rand_like(real)
    elif name == "r1":
        points = real.clone()
    else:
        raise AssertionError(f"penalty {name!r} has no reference here: write its formula")
    points.requires_grad_(True)
    (grad,) = torch.autograd.grad(D(points, labels).sum(), points, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    if name == "r1":
        return weight / 2 * (norm**2).mean()
    return weight * ((norm - 1) ** 2).mean()


def _set_grads_and_step(optimizer, params, loss):
    grads = torch.autograd.grad(loss, params)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    optimizer.step()


def _reference_step(G, D, opt_g, opt_d, batches, loss, penalty, weight, disc_iters):
    """One generator step of Section 3.1 with plain autograd: ``disc_iters`` D steps on fresh
    real batches, then one G step through the updated D (D's weights untouched by it)."""
    d_loss_of, g_loss_of = REFERENCE_LOSSES[loss]
    d_params, g_params = list(D.parameters()), list(G.parameters())
    for _ in range(disc_iters):
        real, real_y = next(batches)
        n = real.shape[0]
        z = torch.randn(n, G.z_dim)
        y = torch.randint(G.num_classes, (n,)) if G.num_classes else None
        with torch.no_grad():
            fake = G(z, y)
        # One D pass on real and fake together: spectral norm's power iteration runs once.
        labels = torch.cat([real_y, y]) if D.num_classes else None
        d_real, d_fake = D(torch.cat([real, fake]), labels).split(n)
        term = _reference_penalty(penalty, weight, D, real, fake, real_y if D.num_classes else None)
        _set_grads_and_step(opt_d, d_params, d_loss_of(d_real, d_fake) + term)
    z = torch.randn(n, G.z_dim)
    y = torch.randint(G.num_classes, (n,)) if G.num_classes else None
    _set_grads_and_step(opt_g, g_params, g_loss_of(D(G(z, y), y if D.num_classes else None)))


def _models(conditional=False, spectral_norm=False):
    """The smallest registered SNDCGAN (Tables 6 and 7 at width 1/16): an sBN generator, or a
    csbn generator with a projection discriminator (Appendix B.3) when ``conditional``."""
    torch.manual_seed(0)
    classes = CLASSES if conditional else 0
    G = registry.create(
        "generator",
        "sndcgan32",
        z_dim=Z_DIM,
        norm="csbn" if conditional else "sbn",
        num_classes=classes,
        width=0.0625,
    )
    D = registry.create(
        "discriminator",
        "sndcgan32",
        num_classes=classes,
        width=0.0625,
        spectral_norm=spectral_norm,
    )
    return G, D


def _batches(seed):
    """Real batches in [-1, 1], a different one each D step, with labels."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        images = torch.rand(BATCH, 3, 32, 32, generator=generator) * 2 - 1
        yield images, torch.randint(CLASSES, (BATCH,), generator=generator)


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: the trainer (one D pass over real, fake and penalty points) and the
    reference (the same sums grouped otherwise) then round alike. With two threads their
    reductions round apart by ~1e-7, which the gradient penalty's second derivative through
    leaky ReLU kinks turns into gradient differences of ~1e-4 after an Adam step."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _compare(loss="hinge", penalty="none", weight=10.0, disc_iters=1, **model_options):
    """Run the trainer and the reference side by side; check D, then G (gradients and weights)."""
    G, D = _models(**model_options)
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    opt_g = torch.optim.Adam(G_ref.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D_ref.parameters(), lr=LR, betas=BETAS)
    penalty_fn = registry.create("penalty", penalty, weight=weight)
    trainer = GANTrainer(
        Accelerator(cpu=True),
        G,
        D,
        loss=registry.create("loss", loss),
        penalty=penalty_fn,
        disc_iters=disc_iters,
        learning_rate=LR,
        betas=BETAS,
        precision="no",
        fused_optimizer=False,
    )
    options = "".join(f", {key}={value}" for key, value in model_options.items())
    case = f"loss {loss}, penalty {penalty}, disc_iters {disc_iters}{options}"
    plus_penalty = "" if penalty == "none" else f" plus the {penalty} penalty"
    ours, theirs = _batches(1), _batches(1)
    for step in range(1, STEPS + 1):
        torch.manual_seed(100 + step)
        trainer.step(ours)
        torch.manual_seed(100 + step)
        _reference_step(G_ref, D_ref, opt_g, opt_d, theirs, loss, penalty, weight, disc_iters)
        # D first (its update comes first); D's .grad is its last D step's gradient, as the
        # G step freezes D's weights.
        where = f"generator step {step} ({case})"
        _assert_same(D, D_ref, f"D update, {where}: not Section 3.1's D loss{plus_penalty}")
        _assert_same(G, G_ref, f"G update, {where}; D matched: not Section 3.1's G loss")


def _assert_same(model, reference, what):
    """Gradients (atol 1e-6: a few biases before a batch norm have gradients of pure rounding
    noise) and weights (atol 1e-6, 1/200 of one Adam step of size lr) equal to fp32 rounding
    (seen: at most 1e-9 apart in D's gradients, identical otherwise)."""
    pairs = [
        (f"{name}.grad", p.grad, q.grad, 1e-4)
        for (name, p), (_, q) in zip(
            model.named_parameters(), reference.named_parameters(), strict=True
        )
    ]
    pairs += [
        (name, p.data, q.data, 1e-5)
        for (name, p), (_, q) in zip(
            model.named_parameters(), reference.named_parameters(), strict=True
        )
    ]
    pairs += [
        (f"buffer {name}", b, c, 1e-5)
        for (name, b), (_, c) in zip(model.named_buffers(), reference.named_buffers(), strict=True)
    ]
    for name, ours, theirs, rtol in pairs:
        if not torch.allclose(ours, theirs, rtol=rtol, atol=1e-6):  # (fast path when equal)
            torch.testing.assert_close(
                ours, theirs, rtol=rtol, atol=1e-6, msg=lambda m, name=name: f"{what}: {name}\n{m}"
            )


def test_every_registered_loss_has_a_reference_here():
    """A newly registered loss must get its formula in ``REFERENCE_LOSSES`` to be tested."""
    assert set(registry.list("loss")) <= set(REFERENCE_LOSSES), registry.list("loss")


@pytest.mark.parametrize("loss", sorted(REFERENCE_LOSSES))
def test_one_step_of_each_loss_equals_the_hand_written_update(loss):
    """Section 3.1: one D step on the paper's D loss, then one G step on its G loss."""
    _compare(loss)


@pytest.mark.parametrize(
    ("loss", "penalty"),
    [("hinge", "gradient"), ("non_saturating", "dragan"), ("non_saturating", "r1")],
)
def test_step_with_each_penalty_equals_the_hand_written_update(loss, penalty):
    """The D loss plus λ times the penalty at the right points (Section 3.1, λ = 10; no
    spectral norm with a penalty, as in the paper)."""
    _compare(loss, penalty, weight=10.0)


@pytest.mark.parametrize("penalty", ["none", "gradient"])
def test_two_d_steps_per_g_step(penalty):
    """disc_iters = 2 (Section 3.1): two D steps, each on a fresh real batch, then one G step."""
    _compare("hinge", penalty, weight=1.0, disc_iters=2)


def test_spectral_norm_discriminator():
    """With spectral norm the power iteration runs on each D forward pass: the reference makes
    the same passes (one on real and fake, one in the G step)."""
    _compare("hinge", spectral_norm=True)


@pytest.mark.parametrize(
    ("loss", "penalty", "spectral_norm"),
    [("hinge", "none", True), ("non_saturating", "gradient", False)],
)
def test_conditional_step(loss, penalty, spectral_norm):
    """Appendix B.3: a csbn generator and a projection discriminator; D sees the real labels
    with the real images and G's drawn labels with the fake ones (and in the G step)."""
    _compare(loss, penalty, weight=1.0, conditional=True, spectral_norm=spectral_norm)
