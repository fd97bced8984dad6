"""The fast training path: one step equals the fp32 contiguous step within a stated tolerance,
each setting really turns its part off, data in memory gives the very batches a DataLoader
gives, and resume stays exact (or says why not, across precisions)."""

import itertools

import pytest
import torch
from accelerate import Accelerator
from test_trainer import _tiny

import zoo
from registry.penalties import GradientPenalty
from zoo.training import (
    EpochBatches,
    GANTrainer,
    TrainSettings,
    build_trainer,
    fastpath,
    loop,
    train,
)

SNDCGAN = {
    "train.generator": "@generator.sndcgan32",
    "train.discriminator": "@discriminator.sndcgan32",
    "generator.sndcgan32.width": "0.0625",
    "discriminator.sndcgan32.width": "0.0625",
}


RESNET = [
    "train.dataset = @dataset.synthetic",
    "train.generator = @generator.resnet32",
    "train.discriminator = @discriminator.resnet32",
    "generator.resnet32.norm = 'sbn'",
    "generator.resnet32.width = 0.125",
    "discriminator.resnet32.width = 0.125",
    "train.batch_size = 16",
]
FP32_CONTIGUOUS = {"mixed_precision": "no", "channels_last": False, "fused_optimizer": False}
"""The trainer's path before the fast defaults."""


def fast(precision: str, channels_last: bool = True, fused_optimizer: bool = True) -> dict:
    """Fast-path settings: precision, memory layout, Adam kernel."""
    return {
        "mixed_precision": precision,
        "channels_last": channels_last,
        "fused_optimizer": fused_optimizer,
    }


def resnet_trainer(accelerator: Accelerator, **settings: object) -> GANTrainer:
    """The trainer (:func:`zoo.training.build_trainer`) of a ResNet-32 with sBN at width 0.125,
    batch 16, with ``settings`` (of :class:`~zoo.training.TrainSettings`) changed."""
    zoo.parse(bindings=RESNET)
    return build_trainer(TrainSettings(**settings), accelerator, channels=3)


def one_step(settings: dict, penalty: str, accelerator: Accelerator | None = None) -> tuple:
    """Losses and the gradients of G's and D's weights (on the CPU) after one step (the D
    step's for D, the G step's for G) with the fast-path ``settings`` from the same initial
    weights, data and randomness, on ``accelerator``'s device (default: the CPU)."""
    accelerator = accelerator or Accelerator(cpu=True)
    if penalty == "gradient":
        settings = {**settings, "penalty": GradientPenalty(10.0)}
    trainer = resnet_trainer(accelerator, **settings)
    device = accelerator.device
    real = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    layout = torch.channels_last if settings["channels_last"] else torch.contiguous_format
    real = real.to(device).contiguous(memory_format=layout)
    batches = itertools.repeat((real, torch.zeros(16, dtype=torch.long, device=device)))
    torch.manual_seed(5)
    losses = {k: float(v) for k, v in trainer.step(batches).items()}
    grads = {
        f"{role}.{name}": p.grad.float().cpu().clone()
        for role, model in (("G", trainer.G), ("D", trainer.D))
        for name, p in model.named_parameters()
    }
    return losses, grads


def assert_step_close(step: tuple[dict, dict], reference: tuple[dict, dict], tolerance: float):
    """Losses within ``tolerance`` (relative), and G's and D's gradients (all weights as one
    vector: the biases before a batch norm have gradients of pure rounding noise) within
    ``tolerance`` of the reference's in relative norm."""
    (losses, grads), (reference_losses, reference_grads) = step, reference
    for key, value in reference_losses.items():
        assert losses[key] == pytest.approx(value, rel=tolerance, abs=1e-6), key
    assert grads.keys() == reference_grads.keys()
    for role in ("G", "D"):
        keys = [k for k in grads if k.startswith(f"{role}.")]
        ours = torch.cat([grads[k].flatten() for k in keys])
        expected = torch.cat([reference_grads[k].flatten() for k in keys])
        error = float((ours - expected).norm() / expected.norm())
        assert error < tolerance, f"{role} gradients off by {error:.2e}"


@pytest.mark.parametrize(
    ("settings", "tolerance"),
    [
        (fast("no"), 1e-3),  # layout, Adam kernel: fp32 rounding (seen: 1e-4)
        (fast("bf16"), 5e-2),  # bf16 products (seen: 1.4e-2)
    ],
    ids=["fp32", "bf16"],
)
@pytest.mark.parametrize("penalty", ["none", "gradient"])
def test_one_fast_step_equals_the_fp32_step(settings, tolerance, penalty):
    """One step of the fast path against the fp32 contiguous step (:func:`assert_step_close`)."""
    reference = one_step(FP32_CONTIGUOUS, penalty)
    assert_step_close(one_step(settings, penalty), reference, tolerance)


def test_settings_turn_each_part_off(tmp_path, capsys):
    seen: set[torch.dtype] = set()

    def record_conv_dtype(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            seen.add(output.dtype)

    results, dtypes, startup = {}, {}, {}
    for name, settings in {
        "off": {
            "train.mixed_precision": "'no'",
            "train.channels_last": "False",
            "train.fused_optimizer": "False",
            "train.data_in_memory": "False",
        },
        "bf16": {"train.mixed_precision": "'bf16'"},
    }.items():
        zoo.parse(bindings=_tiny(tmp_path / name, 2, **SNDCGAN, **settings))
        seen.clear()
        handle = torch.nn.modules.module.register_module_forward_hook(record_conv_dtype)
        try:
            results[name] = train()
        finally:
            handle.remove()
        dtypes[name], startup[name] = set(seen), capsys.readouterr().out

    off, off_startup = results["off"], startup["off"]
    assert off.precision == "no" and dtypes["off"] == {torch.float32}
    assert off.discriminator.convs[1].parametrizations.weight.original.is_contiguous()
    assert "layout=contiguous" in off_startup and "adam=foreach" in off_startup
    assert "data=streamed" in off_startup and "precision=fp32" in off_startup
    bf16, bf16_startup = results["bf16"], startup["bf16"]
    assert bf16.precision == "bf16" and torch.bfloat16 in dtypes["bf16"]
    assert (
        "precision=bf16 (mixed_precision='bf16')" in bf16_startup
        and "layout=channels_last" in bf16_startup
    )
    assert "data=in memory" in bf16_startup and "adam=fused" in bf16_startup
    assert "device=cpu, processes=1" in bf16_startup


def test_data_in_memory_gives_the_dataloaders_batches():
    from torch.utils.data import DataLoader

    from registry.datasets import synthetic

    data = synthetic(split="train", num_samples=40, resolution=32, channels=1, num_classes=10)
    sampler = EpochBatches(len(data), 8, seed=3, rank=0, world=1, start=2)
    memory = fastpath.InMemoryBatches.load(data, torch.device("cpu"), torch.channels_last)
    fast = memory.batches(sampler)
    slow = iter(DataLoader(data, batch_sampler=sampler))
    for _ in range(12):  # across epoch boundaries (5 batches per epoch)
        (a, ya), (b, yb) = next(fast), next(slow)
        assert a.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert torch.equal(ya, yb)
    assert fastpath.fits_in_memory(data, 1.0) and not fastpath.fits_in_memory(data, 1e-6)


def test_bf16_resume_is_exact_and_a_precision_change_is_announced(tmp_path, capsys):
    common = {**SNDCGAN, "train.mixed_precision": "'bf16'", "train.checkpoint_every": "2"}
    zoo.parse(bindings=_tiny(tmp_path / "straight", 4, **common))
    straight = train()
    zoo.parse(bindings=_tiny(tmp_path / "resumed", 2, **common))
    train()
    zoo.parse(bindings=_tiny(tmp_path / "resumed", 4, **common))
    resumed = train()
    assert resumed.losses == straight.losses
    for role in ("generator", "discriminator"):
        for key, value in getattr(straight, role).state_dict().items():
            assert torch.equal(getattr(resumed, role).state_dict()[key], value), f"{role}.{key}"

    capsys.readouterr()
    changed = {**common, "train.mixed_precision": "'no'"}
    zoo.parse(bindings=_tiny(tmp_path / "resumed", 6, **changed))
    assert train().precision == "no"
    out = capsys.readouterr().out
    assert "started with mixed_precision='bf16' and resumes with 'no'" in out
    assert "train.mixed_precision = 'bf16'" in out


def test_nan_is_caught_between_log_steps_before_a_checkpoint(tmp_path, monkeypatch):
    from registry.losses import Hinge
    from zoo.training import TrainingDiverged, checkpoints

    calls = []
    original = Hinge.d_loss

    def d_loss(self, real, fake):
        calls.append(1)
        value = original(self, real, fake)
        return value * float("nan") if len(calls) == 3 else value

    monkeypatch.setattr(Hinge, "d_loss", d_loss)
    bindings = {**SNDCGAN, "train.log_every": "100", "train.checkpoint_every": "2"}
    zoo.parse(bindings=_tiny(tmp_path, 10, **bindings))
    with pytest.raises(TrainingDiverged, match=r"(?s)not finite at step 3.*step_00000002"):
        train()
    assert checkpoints.latest(tmp_path / "checkpoints").name == "step_00000002"


def _measured_step(**switches: bool) -> tuple[set[str], dict]:
    """One fp32 step of the fast layout with the measurement switches of the always-on parts
    (``TrainSettings`` fields, as ``train()`` reads them): the autograd nodes of sBN's outputs
    with a gradient (the G step's), and the weights' gradients after the step."""
    trainer = resnet_trainer(Accelerator(cpu=True), **fast("no"), **switches)
    real = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    batches = itertools.repeat(
        (real.contiguous(memory_format=torch.channels_last), torch.zeros(16).long())
    )
    kernels: set[str] = set()
    norm = trainer.G.blocks[0].norm1
    handle = norm.register_forward_hook(lambda m, i, out: kernels.add(type(out.grad_fn).__name__))
    torch.manual_seed(5)
    trainer.step(batches)
    handle.remove()
    grads = {
        f"{role}.{name}": p.grad.clone()
        for role, model in (("G", trainer.G), ("D", trainer.D))
        for name, p in model.named_parameters()
    }
    return kernels, grads


def test_the_always_on_parts_can_be_switched_off_to_measure_them():
    """``closed_form_norm_backward = False`` takes autograd's path through sBN with the same
    gradients up to rounding; ``skip_d_weight_grads = False`` lets the G step add its
    gradients to D's weights (which the next D step discards), G's unchanged."""
    kernels, default = _measured_step()
    plain_kernels, plain = _measured_step(closed_form_norm_backward=False)
    assert kernels - {"NoneType"} == {"_ModulatedBatchNormBackward"}  # NoneType: no_grad fakes
    assert plain_kernels - {"NoneType"} == {"AddcmulBackward0"}
    for key, value in default.items():
        torch.testing.assert_close(plain[key], value, rtol=1e-3, atol=1e-5, msg=key)
    _, with_d_grads = _measured_step(skip_d_weight_grads=False)
    for key, value in default.items():
        if key.startswith("G."):
            torch.testing.assert_close(with_d_grads[key], value, rtol=1e-4, atol=1e-6, msg=key)
    changed = [
        k for k in default if k.startswith("D.") and not torch.equal(with_d_grads[k], default[k])
    ]
    assert changed, "the G step's D weight gradients were skipped although asked for"


def test_build_trainer_builds_what_train_trains(tmp_path, monkeypatch):
    """:func:`zoo.training.build_trainer` follows the settings as ``train()`` does: the same
    initial G and D from the seed (those of a run, before its first step), in the settings'
    memory layout, with their loss, penalty, disc_iters, Adam and precision."""
    initial = []

    def build_and_record(*args, **kwargs):
        made = loop_build_trainer(*args, **kwargs)
        for model in (made.G, made.D):
            state = made.accelerator.unwrap_model(model).state_dict()
            initial.append({k: v.clone() for k, v in state.items()})
        return made

    loop_build_trainer = loop.build_trainer
    monkeypatch.setattr(loop, "build_trainer", build_and_record)
    zoo.parse(bindings=[*_tiny(tmp_path, 1, **SNDCGAN), "train.disc_iters = 2"])
    train()
    penalty = GradientPenalty(1.0)
    settings = TrainSettings(seed=0, penalty=penalty, channels_last=False, mixed_precision="bf16")
    trainer = build_trainer(settings, Accelerator(cpu=True), channels=3)
    for built, ran in zip((trainer.G, trainer.D), initial, strict=True):
        assert built.state_dict().keys() == ran.keys()
        for key, value in ran.items():
            assert torch.equal(built.state_dict()[key], value), key
    assert (trainer.disc_iters, trainer.penalty, trainer.precision) == (2, penalty, "bf16")
    assert trainer.opt_g.param_groups[0]["betas"] == (0.5, 0.999)
    other = build_trainer(TrainSettings(seed=1), Accelerator(cpu=True), channels=3)
    assert not torch.equal(next(other.G.parameters()), next(trainer.G.parameters()))
    assert other.precision == "no"  # "auto" resolved (SELFMOD_PRECISION in the tests)
    for built, layout in ((trainer, torch.contiguous_format), (other, torch.channels_last)):
        kernels = [p for p in built.D.parameters() if p.dim() == 4 and p.shape[-1] > 1]
        assert kernels and all(p.is_contiguous(memory_format=layout) for p in kernels)
