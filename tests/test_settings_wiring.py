"""Every ``train.*`` setting a gin file binds reaches the component that uses it.

Two tiny runs of :func:`zoo.training.train` (the smallest SNDCGAN on synthetic data, 3 and 2
generator steps) from the shipped gin files plus bindings, every setting away from its default
in at least one of them. The trainer and the EMA are the real ones; subclasses only record what
their parts see: the optimizers, the loss and penalty objects, G's and D's forward passes, the
real batches each step takes, G's weights (initial and after each step) and the EMA weights
after each update. The tests then look at those components, never at the settings object.
"""

from typing import ClassVar

import gin
import pytest
import timm.utils
import torch
from test_trainer import _tiny
from timm.utils import ModelEmaV3

import registry
import zoo
import zoo.training.step as step
from registry.losses import Hinge, NonSaturating
from registry.norms import BatchNorm, SelfModulatedBatchNorm
from registry.penalties import GradientPenalty, NoPenalty
from zoo.training import GANTrainer, train

MODEL = {
    "Z_DIM": "16",
    "generator.sndcgan32.width": "0.0625",
    "discriminator.sndcgan32.width": "0.0625",
}
# Run "a": Section 3.1's (β1, β2, disc_iters) = (0, 0.9, 2), NS loss, gradient penalty λ = 1,
# and the rest away from the defaults, with the fast path off.
RUN_A = {
    "files": [
        "models/sndcgan32.gin",
        "norms/sbn.gin",
        "losses/non_saturating.gin",
        "penalties/gp1.gin",
        "optimizers/adam_b0_b09_d2.gin",
    ],
    "steps": 3,
    "bindings": {
        "train.batch_size": "6",
        "train.learning_rate": "0.0007",
        "train.ema_decay": "0.75",
        "train.seed": "5",
        "train.fused_optimizer": "False",
        "train.channels_last": "False",
        "train.mixed_precision": "'no'",
    },
}
# Run "b": (0.5, 0.999, 1), hinge loss, spectral norm, the default learning rate, no EMA, and
# the fast path on (bf16 autocast, channels_last, fused Adam).
RUN_B = {
    "files": [
        "models/sndcgan32.gin",
        "norms/bn.gin",
        "losses/hinge.gin",
        "penalties/sn.gin",
        "optimizers/adam_b05_b0999_d1.gin",
    ],
    "steps": 2,
    "bindings": {
        "train.batch_size": "4",
        "train.seed": "6",
        "train.fused_optimizer": "True",
        "train.channels_last": "True",
        "train.mixed_precision": "'bf16'",
    },
}


RUNS = {"a": RUN_A, "b": RUN_B}


class RecordingTrainer(GANTrainer):
    """The real trainer, recording what its components see."""

    made: ClassVar[list["RecordingTrainer"]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial_g = {k: v.detach().clone() for k, v in self.G.named_parameters()}
        self.d_passes: list[list[dict]] = []  # per step: one entry per D forward pass
        self.reals: list[list[torch.Tensor]] = []  # per step: the real batches taken
        self.g_after: list[dict[str, torch.Tensor]] = []
        self.g_dtypes: set[torch.dtype] = set()  # G's outputs inside the steps
        self.in_step = False
        self.D.register_forward_hook(self._record_d)
        self.G.register_forward_hook(self._record_g)
        RecordingTrainer.made.append(self)

    def _record_d(self, module, args, output):
        x = args[0]
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        entry = {"rows": x.shape[0], "dtype": output.dtype, "channels_last": channels_last}
        self.d_passes[-1].append(entry)

    def _record_g(self, module, args, output):
        if self.in_step:
            self.g_dtypes.add(output.dtype)

    def step(self, batches):
        self.d_passes.append([])
        self.reals.append([])
        self.in_step = True
        out = super().step(_Tap(batches, self.reals[-1]))
        self.in_step = False
        self.g_after.append({k: v.detach().clone() for k, v in self.G.named_parameters()})
        self.last_out = out
        return out


class RecordingEma(ModelEmaV3):
    """timm's EMA, recording its weights after each update."""

    made: ClassVar[list["RecordingEma"]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[dict[str, torch.Tensor]] = []
        RecordingEma.made.append(self)

    def update(self, model, step=None):
        super().update(model, step)
        self.history.append({k: v.detach().clone() for k, v in self.module.named_parameters()})


class _Tap:
    """An iterator that passes batches on and keeps their images."""

    def __init__(self, batches, kept) -> None:
        self.batches, self.kept = batches, kept

    def __next__(self):
        images, labels = next(self.batches)
        self.kept.append(images)
        return images, labels


def _fresh_generator(seed):
    """G as the active gin config builds it after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return registry.create("generator", "sndcgan32", channels=3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The two runs: result of train(), the recording trainer, and G built fresh at seeds 5
    and 6 under the same config."""
    patch = pytest.MonkeyPatch()
    patch.setattr(step, "GANTrainer", RecordingTrainer)  # what build_trainer makes
    patch.setattr(timm.utils, "ModelEmaV3", RecordingEma)  # loop imports it when EMA is on
    out = {}
    try:
        for name, run in (("a", RUN_A), ("b", RUN_B)):
            folder = tmp_path_factory.mktemp(f"run_{name}")
            bindings = _tiny(folder, run["steps"], **MODEL, **run["bindings"])
            zoo.parse(run["files"], bindings)
            RecordingTrainer.made.clear()
            RecordingEma.made.clear()
            result = train()
            (trainer,) = RecordingTrainer.made
            ema = RecordingEma.made[0] if RecordingEma.made else None
            fresh = {seed: _fresh_generator(seed) for seed in (5, 6)}
            out[name] = {"result": result, "trainer": trainer, "ema": ema, "fresh": fresh}
    finally:
        patch.undo()
        gin.clear_config()
    return out


def test_learning_rate_and_betas_reach_both_optimizers(runs):
    """train.learning_rate, beta1, beta2 (Section 3.1's Adam settings) in G's and D's Adam."""
    for name, lr, betas in (("a", 7e-4, (0.0, 0.9)), ("b", 2e-4, (0.5, 0.999))):
        trainer = runs[name]["trainer"]
        for role, optimizer in (("G", trainer.opt_g), ("D", trainer.opt_d)):
            (group,) = optimizer.param_groups
            assert group["lr"] == pytest.approx(lr), f"run {name}: {role}'s Adam learning rate"
            assert tuple(group["betas"]) == pytest.approx(betas), f"run {name}: {role}'s betas"


def test_disc_iters_d_steps_per_generator_step(runs):
    """train.disc_iters: that many D passes on fresh real batches, then the G step's pass."""
    for name, disc_iters in (("a", 2), ("b", 1)):
        trainer, steps = runs[name]["trainer"], RUNS[name]["steps"]
        assert len(trainer.d_passes) == steps, f"run {name}: train.steps = {steps} G steps"
        for passes, reals in zip(trainer.d_passes, trainer.reals, strict=True):
            assert len(reals) == disc_iters, f"run {name}: real batches taken per generator step"
            assert len(passes) == disc_iters + 1, f"run {name}: D passes per generator step"
    first, second = runs["a"]["trainer"].reals[0]
    assert not torch.equal(first, second), "each D step should take a fresh real batch"


def test_batch_size_is_the_batch_d_sees(runs):
    """train.batch_size: real batches of that size; D's pass in a D step holds real and fake
    (and the penalty points), its pass in the G step the G samples."""
    for name, batch, parts in (("a", 6, 3), ("b", 4, 2)):
        trainer = runs[name]["trainer"]
        for passes, reals in zip(trainer.d_passes, trainer.reals, strict=True):
            assert {r.shape[0] for r in reals} == {batch}, f"run {name}: real batch size"
            assert [p["rows"] for p in passes] == [parts * batch] * (len(passes) - 1) + [batch]


def test_loss_and_penalty_reach_the_trainer(runs):
    """train.loss and train.penalty (with penalty.gradient.weight) from the losses/ and
    penalties/ files are the trainer's loss and penalty; the penalty is paid in the step."""
    a, b = runs["a"]["trainer"], runs["b"]["trainer"]
    assert isinstance(a.loss, NonSaturating) and isinstance(b.loss, Hinge)
    assert isinstance(a.penalty, GradientPenalty) and a.penalty.weight == 1.0
    assert isinstance(b.penalty, NoPenalty)
    assert float(a.last_out["penalty"]) > 0 and float(b.last_out["penalty"]) == 0


def test_spectral_norm_and_norm_files_reach_the_models(runs):
    """penalties/gp1.gin turns D's spectral norm off, sn.gin on; norms/ files pick G's norm."""
    d_a, d_b = runs["a"]["result"].discriminator, runs["b"]["result"].discriminator
    assert not hasattr(d_a.convs[0], "parametrizations")
    assert hasattr(d_b.convs[0], "parametrizations")
    g_a, g_b = runs["a"]["result"].generator, runs["b"]["result"].generator
    assert isinstance(g_a.norms[0], SelfModulatedBatchNorm)
    assert isinstance(g_b.norms[0], BatchNorm)


def _ema_decays(runs):
    """Per EMA update k, the decay d_k with EMA_k = d_k·EMA_(k−1) + (1 − d_k)·G_k (G_k: G's
    weights after step k, EMA_0 = G's initial weights), fitted on all weights at once."""
    trainer, ema = runs["a"]["trainer"], runs["a"]["ema"]
    assert len(ema.history) == len(trainer.g_after) == RUN_A["steps"], "one EMA update a step"
    previous, decays = trainer.initial_g, []
    for after, g in zip(ema.history, trainer.g_after, strict=True):
        keys = list(g)
        old = torch.cat([previous[k].flatten() for k in keys])
        new = torch.cat([after[k].flatten() for k in keys])
        target = torch.cat([g[k].flatten() for k in keys])
        decay = float((new - target) @ (old - target) / ((old - target) @ (old - target)))
        expected = {k: decay * previous[k] + (1 - decay) * g[k] for k in keys}
        for k in keys:  # the update is such an average, for every weight
            torch.testing.assert_close(after[k], expected[k], msg=f"EMA update of {k}")
        decays.append(decay)
        previous = after
    return decays


def test_ema_decay_averages_the_generator(runs):
    """train.ema_decay = d: each EMA update is d·EMA + (1 − d)·G (after timm's warm-up copies
    of G at the start: see the next test), the sampled and saved generator is the EMA copy;
    0 (run b) means no EMA."""
    decays = _ema_decays(runs)
    assert decays[-1] == pytest.approx(0.75, abs=1e-4), f"EMA decays per update: {decays}"
    ema = runs["a"]["ema"]
    assert runs["a"]["result"].ema_generator is ema.module
    assert runs["b"]["ema"] is None and runs["b"]["result"].ema_generator is None


def test_ema_copies_g_on_its_first_update_only(runs):
    """timm's ModelEmaV3 with ``step`` counted from 1: the first update copies G (decay 0),
    every later one averages with decay d."""
    assert _ema_decays(runs)[:2] == pytest.approx([0.0, 0.75], abs=1e-4)


def test_seed_sets_the_initial_weights(runs):
    """train.seed: G starts with the weights torch.manual_seed(seed) gives, not another seed's."""
    for name, seed, other in (("a", 5, 6), ("b", 6, 5)):
        trainer, fresh = runs[name]["trainer"], runs[name]["fresh"]
        expected = dict(fresh[seed].named_parameters())
        unexpected = dict(fresh[other].named_parameters())
        key = "fc.weight"
        assert torch.equal(trainer.initial_g[key], expected[key]), f"run {name}: seed {seed}"
        assert not torch.equal(trainer.initial_g[key], unexpected[key])


def test_fused_optimizer_picks_the_adam_kernel(runs):
    """train.fused_optimizer: the single-kernel Adam or the multi-tensor one."""
    for name, fused in (("a", False), ("b", True)):
        for optimizer in (runs[name]["trainer"].opt_g, runs[name]["trainer"].opt_d):
            assert bool(optimizer.param_groups[0]["fused"]) == fused, f"run {name}: fused Adam"


def test_channels_last_sets_the_weights_and_batches_layout(runs):
    """train.channels_last: conv weights and the real batches in NHWC, or contiguous."""
    for name, nhwc in (("a", False), ("b", True)):
        result, trainer = runs[name]["result"], runs[name]["trainer"]
        for role, conv in (
            ("G", result.generator.deconvs[0].weight),
            ("D", _d_weight(result.discriminator.convs[1])),
        ):
            layout = conv.is_contiguous(memory_format=torch.channels_last) and not (
                conv.is_contiguous()
            )
            assert layout == nhwc, f"run {name}: {role}'s conv weight layout"
        for reals in trainer.reals:
            for images in reals:
                assert images.is_contiguous(memory_format=torch.channels_last) == nhwc
                assert images.is_contiguous() != nhwc, f"run {name}: real batch layout"
        assert {p["channels_last"] for passes in trainer.d_passes for p in passes} == {nhwc}


def _d_weight(conv):
    parametrized = getattr(conv, "parametrizations", None)
    return parametrized.weight.original if parametrized is not None else conv.weight


def test_mixed_precision_sets_the_forward_dtype(runs):
    """train.mixed_precision: bf16 autocast makes G's and D's outputs bf16 (weights stay fp32);
    'no' keeps every pass in fp32."""
    for name, dtype in (("a", torch.float32), ("b", torch.bfloat16)):
        result, trainer = runs[name]["result"], runs[name]["trainer"]
        d_dtypes = {p["dtype"] for passes in trainer.d_passes for p in passes}
        assert d_dtypes == {dtype}, f"run {name}: D's output dtype"
        assert trainer.g_dtypes == {dtype}, f"run {name}: G's output dtype"
        assert result.precision == ("bf16" if dtype == torch.bfloat16 else "no")
        for role in ("generator", "discriminator"):
            assert {p.dtype for p in getattr(result, role).parameters()} == {torch.float32}
