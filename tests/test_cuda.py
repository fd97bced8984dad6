"""The CUDA acceptance tests (marker ``cuda``; ``python scripts/bench.py gpu`` runs them as
``pytest -m cuda``): training steps in fp32 and bf16, a real ``train()`` from a paper gin file,
bit-exact resume under deterministic algorithms, a CPU-written checkpoint and model folder used
on the GPU, the closed-form sBN backward, channels_last and fused Adam against the plain path.

Skipped without a CUDA device. Nothing forces these runs onto the CPU: Accelerate picks the
GPU, and its process-wide state is reset around each test, so a CPU ``Accelerator`` made by
another test cannot leak in (nor one of these leak out). ``SELFMOD_TEST_DEVICE=cpu`` runs the
same tests on the CPU (a dry run of their code where no GPU is).
"""

import itertools
import os

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from test_fastpath import FP32_CONTIGUOUS, assert_step_close, fast, one_step, resnet_trainer
from test_trainer import _tiny
from torch import nn

import registry
import zoo
from registry.penalties import GradientPenalty
from zoo.config import GIN_DIR
from zoo.training import TrainSettings, checkpoints, fastpath, train
from zoo.training.precision import cuda_has_bf16

# cuBLAS reads this when its first handle is made: set before any test touches the GPU, so
# that deterministic algorithms (the exact-resume test) are allowed for matrix products.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

DEVICE = os.environ.get("SELFMOD_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"
    ),
]

SNDCGAN = {
    "train.generator": "@generator.sndcgan32",
    "train.discriminator": "@discriminator.sndcgan32",
    "generator.sndcgan32.width": "0.0625",
    "discriminator.sndcgan32.width": "0.0625",
}


def _reset_accelerate() -> None:
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def _use(monkeypatch, device: str) -> None:
    """The next Accelerator (in ``train()`` too) lands on ``device``."""
    _reset_accelerate()
    if device == "cpu":
        monkeypatch.setenv("ACCELERATE_USE_CPU", "yes")
    else:
        monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)


@pytest.fixture(autouse=True)
def _accelerate_on_device(monkeypatch):
    _use(monkeypatch, DEVICE)
    yield
    _reset_accelerate()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@pytest.fixture
def no_tf32():
    """fp32 convolutions and matrix products in full fp32 (no TF32): the comparisons below
    measure a layout, a kernel or a device, not TF32's 10-bit mantissa."""
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        yield
    torch.backends.cuda.matmul.allow_tf32 = matmul


@pytest.fixture
def deterministic():
    """Deterministic algorithms (an error for an op that has none), cuDNN's deterministic
    convolutions and no autotuning; restored afterwards."""
    mode = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True):
        yield
    torch.use_deterministic_algorithms(mode)


def _needs_bf16(precision: str) -> None:
    if precision == "bf16" and DEVICE == "cuda" and not cuda_has_bf16(torch.device("cuda")):
        pytest.skip("bf16 needs compute capability 8.0 or newer")


def _accelerator() -> Accelerator:
    accelerator = Accelerator(cpu=DEVICE == "cpu")
    assert accelerator.device.type == DEVICE, f"Accelerate chose {accelerator.device}"
    return accelerator


def _real_batches(n: int, layout: torch.memory_format):
    """The same real batch every D step, on the device in ``layout``."""
    real = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    real = real.to(DEVICE).contiguous(memory_format=layout)
    return itertools.repeat((real, torch.zeros(n, dtype=torch.long, device=DEVICE)))


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_training_steps_on_the_device_are_finite_and_move_every_weight(precision):
    """Three steps (2 D steps each, gradient penalty: Section 3.1's double backward) of a
    ResNet-32 with sBN: finite losses, every weight of G and D changed, weights and Adam
    state fp32 on the device; bf16 autocast really runs the convolutions in bf16."""
    _needs_bf16(precision)
    trainer = resnet_trainer(
        _accelerator(), **fast(precision), penalty=GradientPenalty(10.0), disc_iters=2
    )
    models = {"G": trainer.G, "D": trainer.D}
    before = {
        f"{role}.{name}": p.detach().clone()
        for role, model in models.items()
        for name, p in model.named_parameters()
    }
    conv_dtypes = set()

    def record(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            conv_dtypes.add(output.dtype)

    handle = nn.modules.module.register_module_forward_hook(record)
    try:
        batches = _real_batches(16, torch.channels_last)
        losses = [trainer.step(batches) for _ in range(3)]
    finally:
        handle.remove()
    for step, out in enumerate(losses, 1):
        for key, value in out.items():
            assert value.device.type == DEVICE and torch.isfinite(value), f"{key} at step {step}"
    unchanged = [
        f"{role}.{name}"
        for role, model in models.items()
        for name, p in model.named_parameters()
        if torch.equal(p.detach(), before[f"{role}.{name}"])
    ]
    assert not unchanged, f"weights the optimizer never moved: {unchanged}"
    for role, model in models.items():
        for name, p in model.named_parameters():
            assert p.device.type == DEVICE and p.dtype == torch.float32, f"{role}.{name}"
    for optimizer in (trainer.opt_g, trainer.opt_d):
        for state in optimizer.state.values():
            for key in ("exp_avg", "exp_avg_sq"):
                assert state[key].device.type == DEVICE and state[key].dtype == torch.float32
    expected = torch.bfloat16 if precision == "bf16" else torch.float32
    assert expected in conv_dtypes, f"{precision}: convolutions ran in {conv_dtypes}"
    if precision == "no":
        assert conv_dtypes == {torch.float32}, "fp32 run has bf16 convolutions"


def test_train_from_a_paper_gin_file_runs_on_the_device(tmp_path, capsys):
    """``train()`` with ``gin/cifar10_resnet_sbn.gin`` (tiny width, synthetic data), left to
    pick its device and its ``auto`` precision, with EMA, samples and a checkpoint: it runs on
    the GPU, bf16 where the GPU multiplies bf16 natively (capability >= 8.0), finite losses,
    weights moved from their initial values, and the final model folder loads and samples."""
    bindings = _tiny(
        tmp_path,
        3,
        **{
            "generator.resnet32.width": "0.0625",
            "discriminator.resnet32.width": "0.0625",
            "train.ema_decay": "0.9",
            "train.sample_every": "3",
            "train.checkpoint_every": "3",
        },
    )
    zoo.parse([GIN_DIR / "cifar10_resnet_sbn.gin"], bindings)
    result = train()
    startup = capsys.readouterr().out
    assert f"device={DEVICE}" in startup and "data=in memory" in startup, startup
    if DEVICE == "cuda":
        expected = "bf16" if torch.cuda.get_device_capability()[0] >= 8 else "no"
        assert result.precision == expected
    assert all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    G = result.generator
    assert all(p.device.type == DEVICE for p in G.parameters())
    assert all(p.device.type == DEVICE for p in result.ema_generator.parameters())
    settings = TrainSettings()  # the parsed config: the same initial weights as the run's
    torch.manual_seed(settings.seed)
    initial = dict(settings.generator(channels=3).named_parameters())
    unchanged = [k for k, p in G.named_parameters() if torch.equal(p.detach().cpu(), initial[k])]
    assert not unchanged, f"weights training never moved: {unchanged}"
    assert (tmp_path / "samples" / "step_00000003.png").is_file()
    assert checkpoints.latest(tmp_path / "checkpoints").name == "step_00000003"
    images = zoo.load(tmp_path / "final", device=DEVICE).sample(4, seed=0)
    assert images.device.type == DEVICE and torch.isfinite(images).all()


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_resume_on_the_device_is_bitwise_exact(tmp_path, deterministic, precision):
    """4 steps straight against 2 steps, then a resume to 4 (the same command), on the same
    GPU under deterministic algorithms: the same losses and bit-identical G, D and EMA
    weights (2 D steps per G step, gradient penalty, EMA: what the state must carry)."""
    _needs_bf16(precision)
    common = {
        **SNDCGAN,
        "train.mixed_precision": f"'{precision}'",
        "train.checkpoint_every": "2",
        "train.disc_iters": "2",
        "train.penalty": "@penalty.gradient()",
        "train.ema_decay": "0.5",
    }
    zoo.parse(bindings=_tiny(tmp_path / "straight", 4, **common))
    straight = train()
    _reset_accelerate()
    zoo.parse(bindings=_tiny(tmp_path / "resumed", 2, **common))
    train()
    _reset_accelerate()
    zoo.parse(bindings=_tiny(tmp_path / "resumed", 4, **common))
    resumed = train()
    assert resumed.losses == straight.losses
    for role in ("generator", "discriminator", "ema_generator"):
        a, b = getattr(straight, role).state_dict(), getattr(resumed, role).state_dict()
        assert a.keys() == b.keys()
        for key, value in a.items():
            assert value.device.type == DEVICE, f"{role}.{key} is on {value.device}"
            assert torch.equal(b[key], value), f"{role}.{key} differs after resume"


def test_a_cpu_checkpoint_resumes_on_the_device(tmp_path, monkeypatch, capsys, no_tf32):
    """A run trained to step 2 on the CPU: its checkpoint restores onto the GPU bit for bit
    (weights, Adam state moved to the device), and the same command continues there."""
    common = {**SNDCGAN, "train.mixed_precision": "'no'", "train.checkpoint_every": "2"}
    _use(monkeypatch, "cpu")
    zoo.parse(bindings=_tiny(tmp_path, 2, **common))
    on_cpu = train()
    assert next(on_cpu.generator.parameters()).device.type == "cpu"

    _use(monkeypatch, DEVICE)
    accelerator = _accelerator()
    settings = TrainSettings()
    G = settings.generator(channels=3).to(memory_format=torch.channels_last)
    D = settings.discriminator(channels=3).to(memory_format=torch.channels_last)
    opts = [fastpath.make_adam(m.parameters(), 2e-4, (0.5, 0.999), True) for m in (G, D)]
    G, D, *opts = accelerator.prepare(G, D, *opts)
    path, state = checkpoints.restore_latest(accelerator, tmp_path / "checkpoints")
    assert path.name == "step_00000002" and state["step"] == 2
    for role, model in (("generator", G), ("discriminator", D)):
        saved = getattr(on_cpu, role).state_dict()
        for key, value in accelerator.unwrap_model(model).state_dict().items():
            assert value.device.type == DEVICE, f"{role}.{key} restored on {value.device}"
            assert torch.equal(value.cpu(), saved[key]), f"{role}.{key} changed in the move"
    for optimizer in opts:
        for group_state in optimizer.state.values():
            assert group_state["exp_avg"].device.type == DEVICE
            assert float(group_state["step"]) == 2.0

    _use(monkeypatch, DEVICE)
    capsys.readouterr()
    zoo.parse(bindings=_tiny(tmp_path, 4, **common))
    continued = train()
    out = capsys.readouterr().out
    assert "Resuming from" in out and "step 2" in out and f"device={DEVICE}" in out
    assert all(torch.isfinite(torch.tensor(v)) for v in continued.losses.values())
    assert all(p.device.type == DEVICE for p in continued.generator.parameters())


def test_a_cpu_model_folder_samples_the_same_on_the_device(tmp_path, no_tf32):
    """A conditional ResNet-32 (csbn) saved on the CPU, loaded with ``zoo.load(...,
    device=)``: the same samples (eval mode: BN running statistics) within fp32 rounding."""
    G = registry.create("generator", "resnet32", norm="csbn", num_classes=10, width=0.0625)
    G.train()
    with torch.no_grad():  # move the BN running statistics away from their initial values
        for _ in range(3):
            G(torch.randn(8, G.z_dim), torch.randint(10, (8,)))
    zoo.save_pretrained(G, tmp_path)
    on_cpu, on_device = zoo.load(tmp_path), zoo.load(tmp_path, device=DEVICE)
    assert next(on_device.parameters()).device.type == DEVICE
    labels = torch.arange(6) % 10
    expected = on_cpu.sample(6, labels=labels, seed=3)
    images = on_device.sample(6, labels=labels, seed=3)
    assert images.device.type == DEVICE
    torch.testing.assert_close(images.cpu(), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_closed_form_sbn_backward_equals_autograd_on_the_device(dtype, tolerance, layout):
    """``registry/modulated_batch_norm.py`` (Eq. 2-3's γ ⊙ BN(h) + β with the closed-form
    backward) against ``nn.BatchNorm2d`` then ``addcmul`` through autograd, on the device:
    outputs, the gradients of h, γ and β, and the running statistics after two updates."""
    from registry.modulated_batch_norm import modulated_batch_norm

    gen = torch.Generator().manual_seed(0)
    h = torch.randn(6, 5, 4, 4, generator=gen, dtype=torch.float64) * 3 + 1
    gamma, beta = (torch.randn(6, 5, generator=gen, dtype=torch.float64) for _ in range(2))
    weight = torch.randn(h.shape, generator=gen, dtype=torch.float64)
    h, gamma, beta, weight = (t.to(DEVICE, dtype) for t in (h, gamma, beta, weight))
    h = h.contiguous(memory_format=layout)
    results = []
    for fused in (True, False):
        bn = nn.BatchNorm2d(5, affine=False).to(DEVICE, dtype)
        x, g, b = (t.clone().requires_grad_() for t in (h, gamma, beta))
        for _ in range(2):
            if fused:
                out = modulated_batch_norm(x, g, b, bn)
            else:
                out = torch.addcmul(b[:, :, None, None], g[:, :, None, None], bn(x))
        (out * weight).sum().backward()
        results.append([out, x.grad, g.grad, b.grad, bn.running_mean, bn.running_var])
    names = ["output", "grad h", "grad gamma", "grad beta", "running mean", "running var"]
    for name, fused, plain in zip(names, *results, strict=True):
        assert fused.device.type == DEVICE and fused.dtype == dtype, name
        torch.testing.assert_close(fused, plain, rtol=tolerance, atol=tolerance, msg=name)


@pytest.mark.parametrize(
    ("settings", "tolerance"),
    [
        (fast("no", fused_optimizer=False), 1e-3),  # channels_last alone
        (fast("no"), 1e-3),  # channels_last and fused Adam
        (fast("bf16"), 5e-2),  # the fast default on a bf16 GPU
    ],
    ids=["channels_last", "channels_last+fused", "bf16"],
)
def test_fast_step_on_the_device_equals_the_fp32_contiguous_step(settings, tolerance, no_tf32):
    """As tests/test_fastpath.py on the CPU (:func:`assert_step_close`), with the gradient
    penalty, on the device."""
    _needs_bf16(settings["mixed_precision"])
    reference = one_step(FP32_CONTIGUOUS, "gradient", _accelerator())
    assert_step_close(one_step(settings, "gradient", _accelerator()), reference, tolerance)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fused_and_foreach_adam_follow_adams_update_on_the_device(layout):
    """Both Adam kernels (``fastpath.make_adam``) against Adam's update written out in
    float64 (Kingma & Ba, Algorithm 1), over 3 steps with the same gradients, for a
    convolution weight in ``layout`` and a bias."""
    lr, (beta1, beta2), eps = 2e-4, (0.5, 0.999), 1e-8  # one of Section 3.1's settings
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(8, 4, 3, 3, generator=gen), torch.randn(8, generator=gen)]
    grads = [[torch.randn(p.shape, generator=gen) for p in start] for _ in range(3)]
    results = {}
    for fused in (True, False):
        params = [nn.Parameter(p.to(DEVICE, copy=True)) for p in start]
        params[0].data = params[0].data.contiguous(memory_format=layout)
        optimizer = fastpath.make_adam(params, lr, (beta1, beta2), fused)
        for step_grads in grads:
            for p, g in zip(params, step_grads, strict=True):
                p.grad = torch.empty_like(p).copy_(g)  # on the device, in the weight's layout
            optimizer.step()
        results[fused] = [p.detach().cpu().double() for p in params]
    for i, p0 in enumerate(start):
        w, m, v = p0.double(), torch.zeros_like(p0.double()), torch.zeros_like(p0.double())
        for t, step_grads in enumerate(grads, 1):
            g = step_grads[i].double()
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            w = w - lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)
        for fused, name in ((True, "fused"), (False, "foreach")):
            torch.testing.assert_close(
                results[fused][i], w, rtol=0, atol=1e-6, msg=f"{name} Adam, weight {i}: not Adam"
            )
        assert not torch.equal(w, p0.double()), "the reference did not move"
