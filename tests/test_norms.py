"""Eq. 1-3 checked numerically against independent computations from the modules' parameters."""

import pytest
import torch
from torch import nn

import registry
from registry.norms import (
    BatchNorm,
    ConditionalBatchNorm,
    ConditionalSelfModulatedBatchNorm,
    Modulation,
    SelfModulatedBatchNorm,
    SelfModulation,
)

N, C, Z, K = 6, 5, 7, 3


def _randomize(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()


def _standardize(h: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = h.mean(dim=(0, 2, 3), keepdim=True)
    var = h.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (h - mean) / torch.sqrt(var + eps)


def _mlp(z, hidden: nn.Linear, head: nn.Linear) -> torch.Tensor:
    return torch.relu(z @ hidden.weight.T + hidden.bias) @ head.weight.T + head.bias


def test_sbn_equals_eq2():
    norm = SelfModulatedBatchNorm(C, z_dim=Z)
    _randomize(norm)
    h, z = torch.randn(N, C, 4, 4), torch.randn(N, Z)
    m = norm.modulation
    gamma = _mlp(z, m.hidden[0], m.gamma)
    beta = _mlp(z, m.hidden[0], m.beta)
    expected = gamma[:, :, None, None] * _standardize(h) + beta[:, :, None, None]
    torch.testing.assert_close(norm(h, z), expected, rtol=1e-5, atol=1e-5)


def test_sbn_linear_when_hidden_dim_zero():
    norm = SelfModulatedBatchNorm(C, z_dim=Z, hidden_dim=0)
    _randomize(norm)
    h, z = torch.randn(N, C, 3, 3), torch.randn(N, Z)
    m = norm.modulation
    gamma = z @ m.gamma.weight.T + m.gamma.bias
    beta = z @ m.beta.weight.T + m.beta.bias
    expected = gamma[:, :, None, None] * _standardize(h) + beta[:, :, None, None]
    torch.testing.assert_close(norm(h, z), expected, rtol=1e-5, atol=1e-5)


def test_csbn_equals_eq3():
    norm = ConditionalSelfModulatedBatchNorm(C, z_dim=Z, num_classes=K)
    _randomize(norm)
    h, z, y = torch.randn(N, C, 4, 4), torch.randn(N, Z), torch.randint(K, (N,))
    z_prime = z + norm.embed.weight[y] + z * norm.embed_scale.weight[y]
    m = norm.modulation
    gamma = _mlp(z_prime, m.hidden[0], m.gamma)
    beta = _mlp(z_prime, m.hidden[0], m.beta)
    expected = gamma[:, :, None, None] * _standardize(h) + beta[:, :, None, None]
    torch.testing.assert_close(norm(h, z, y), expected, rtol=1e-5, atol=1e-5)


def test_untrained_sbn_equals_bn_in_training_mode():
    h, z = torch.randn(N, C, 4, 4) * 3 + 1, torch.randn(N, Z)
    sbn, bn = SelfModulatedBatchNorm(C, z_dim=Z).train(), nn.BatchNorm2d(C).train()
    torch.testing.assert_close(sbn(h, z), bn(h))
    torch.testing.assert_close(sbn.bn.running_mean, bn.running_mean)


@pytest.mark.parametrize("cls", [SelfModulatedBatchNorm, SelfModulation])
def test_normal_init_starts_every_weight_as_compare_gan(cls):
    """``init="normal"``: hidden, γ and β weights N(0, 0.02) (compare_gan's ``linear``),
    biases 0 except γ's 1; γ(z) then already varies with z. The default starts the heads at 0."""
    torch.manual_seed(0)
    norm = cls(256, z_dim=128, init="normal")
    m = norm.modulation
    for layer in (m.hidden[0], m.gamma, m.beta):
        assert layer.weight.mean().abs() < 0.002 and 0.019 < layer.weight.std() < 0.021
    assert (m.hidden[0].bias == 0).all() and (m.gamma.bias == 1).all() and (m.beta.bias == 0).all()
    gamma, beta = m(torch.randn(64, 128))
    assert gamma.std(0).mean() > 1e-3 and beta.std(0).mean() > 1e-3
    default = cls(256, z_dim=128).modulation
    assert (default.gamma.weight == 0).all() and (default.beta.weight == 0).all()
    assert not torch.equal(default.hidden[0].weight.std(), m.hidden[0].weight.std())
    with pytest.raises(ValueError, match="init 'zeros': use one of zero, normal"):
        cls(C, z_dim=Z, init="zeros")


def test_normal_init_reaches_a_spectrally_normalized_hidden_layer():
    """With ``use_sn`` the hidden layer's ``weight`` is recomputed from the parametrization's
    original, so that original is what starts at N(0, 0.02)."""
    torch.manual_seed(0)
    hidden = Modulation(128, 256, use_sn=True, init="normal").hidden[0]
    original = hidden.parametrizations.weight.original
    assert original.mean().abs() < 0.002 and 0.019 < original.std() < 0.021
    default = Modulation(128, 256, use_sn=True).hidden[0].parametrizations.weight.original
    assert default.std() > 0.03  # PyTorch's default start, U(±1/sqrt(128)): std 0.051


def test_init_is_a_gin_setting_of_the_norm_and_kept_in_the_generator_config():
    import gin

    import zoo
    from zoo.config import GIN_DIR

    zoo.parse([GIN_DIR / "quickstart.gin"], ['norm.sbn.init = "normal"'])
    try:
        G = gin.query_parameter("train.generator").scoped_configurable_fn(channels=1)
    finally:
        gin.clear_config()
    assert G.config["norm_kwargs"] == {"init": "normal"}
    heads = [m.modulation.gamma.weight for m in G.modules() if hasattr(m, "modulation")]
    assert heads and all(w.std() > 0.01 for w in heads)


def test_untrained_csbn_equals_sbn():
    h, z, y = torch.randn(N, C, 4, 4), torch.randn(N, Z), torch.randint(K, (N,))
    csbn = ConditionalSelfModulatedBatchNorm(C, z_dim=Z, num_classes=K)
    _randomize(csbn.modulation)
    sbn = SelfModulatedBatchNorm(C, z_dim=Z)
    sbn.modulation.load_state_dict(csbn.modulation.state_dict())
    torch.testing.assert_close(csbn(h, z, y), sbn(h, z))


def test_cbn_uses_per_class_gamma_beta():
    norm = ConditionalBatchNorm(C, num_classes=K)
    _randomize(norm)
    h, y = torch.randn(N, C, 2, 2), torch.randint(K, (N,))
    g, b = norm.gamma.weight[y], norm.beta.weight[y]
    expected = g[:, :, None, None] * _standardize(h) + b[:, :, None, None]
    torch.testing.assert_close(norm(h, None, y), expected, rtol=1e-5, atol=1e-5)


def test_modulation_without_normalization():
    norm = SelfModulation(C, z_dim=Z)
    _randomize(norm)
    h, z = torch.randn(N, C, 2, 2), torch.randn(N, Z)
    gamma, beta = norm.modulation(z)
    torch.testing.assert_close(norm(h, z), gamma[:, :, None, None] * h + beta[:, :, None, None])


def test_spectral_norm_on_modulation_mlp():
    norm = SelfModulatedBatchNorm(C, z_dim=Z, use_sn=True)
    names = [n for n, _ in norm.named_parameters()]
    assert any("parametrizations" in n for n in names)
    assert torch.isfinite(norm(torch.randn(N, C, 2, 2), torch.randn(N, Z))).all()


def test_missing_conditioning_inputs_fail_clearly():
    with pytest.raises(ValueError, match="num_classes"):
        ConditionalBatchNorm(C)
    with pytest.raises(ValueError, match="labels"):
        ConditionalSelfModulatedBatchNorm(C, z_dim=Z, num_classes=K)(
            torch.randn(N, C, 2, 2), torch.randn(N, Z)
        )
    with pytest.raises(ValueError, match="needs z"):
        SelfModulatedBatchNorm(C, z_dim=Z)(torch.randn(N, C, 2, 2), None)


@pytest.mark.parametrize("name", ["bn", "sbn", "smod", "cbn", "csbn"])
def test_every_norm_converts_to_sync_batchnorm(name):
    generator = registry.create(
        "generator", "sndcgan32", norm=registry.get("norm", name), num_classes=K, width=1 / 16
    )
    keys = set(generator.state_dict())
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(generator)
    syncs = [m for m in converted.modules() if isinstance(m, nn.SyncBatchNorm)]
    expected = 0 if name == "smod" else 4
    assert len(syncs) == expected
    assert not any(type(m) is nn.BatchNorm2d for m in converted.modules())
    assert set(converted.state_dict()) == keys


def test_bn_is_affine_batchnorm():
    norm = BatchNorm(C)
    assert norm.bn.affine and norm.bn.weight.shape == (C,)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_fused_modulated_batch_norm_equals_batch_norm_then_modulation(layout, momentum):
    """The closed-form function (two passes forward) against F.batch_norm + addcmul: outputs,
    the gradients of h, γ and β, and the running statistics, in float64."""
    from registry.modulated_batch_norm import modulated_batch_norm

    gen = torch.Generator().manual_seed(0)
    h = torch.randn(6, 5, 4, 4, generator=gen, dtype=torch.float64) * 3 + 1
    h = h.contiguous(memory_format=layout)
    gamma, beta = (torch.randn(6, 5, generator=gen, dtype=torch.float64) for _ in range(2))
    weight = torch.randn(h.shape, generator=gen, dtype=torch.float64)
    results = []
    for fused in (True, False):
        bn = nn.BatchNorm2d(5, affine=False, momentum=momentum).double()
        x, g, b = (t.clone().requires_grad_() for t in (h, gamma, beta))
        for _ in range(2):  # two updates of the running statistics
            if fused:
                out = modulated_batch_norm(x, g, b, bn)
            else:
                out = torch.addcmul(b[:, :, None, None], g[:, :, None, None], bn(x))
        (out * weight).sum().backward()
        results.append([out, x.grad, g.grad, b.grad, bn.running_mean, bn.running_var])
    for fused, plain in zip(*results, strict=True):
        torch.testing.assert_close(fused, plain, rtol=1e-10, atol=1e-10)
