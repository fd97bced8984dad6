"""Generators and discriminators reproduce the output sizes of Tables 6-13. The full-width
128x128 models are built and run on the ``meta`` device (shapes without arithmetic)."""

import pytest
import torch
from torch import nn

import registry
from registry.norms import BatchNorm, SelfModulatedBatchNorm

NORMS = ["bn", "sbn", "smod", "cbn", "csbn"]
K = 4


def _outputs(model: nn.Module, layers: list[nn.Module], *inputs) -> list[tuple[int, ...]]:
    """Output shapes (C, H, W) of ``layers``, in call order, for one forward pass."""
    shapes = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, o: shapes.append(tuple(o.shape[1:]))) for m in layers
    ]
    model(*inputs)
    for hook in hooks:
        hook.remove()
    return shapes


# Output sizes after each Deconv / ResNet block / last layer, read off the tables (C, H, W).
TABLE_6 = [(256, 4, 4), (128, 8, 8), (64, 16, 16), (3, 32, 32)]
TABLE_8 = [(256, 16, 16), (128, 32, 32), (64, 64, 64), (3, 128, 128)]
TABLE_10 = [(256, 8, 8), (256, 16, 16), (256, 32, 32)]
TABLE_12 = [(1024, 8, 8), (512, 16, 16), (256, 32, 32), (128, 64, 64), (64, 128, 128)]
TABLE_7 = [
    (64, 32, 32),
    (128, 16, 16),
    (128, 16, 16),
    (256, 8, 8),
    (256, 8, 8),
    (512, 4, 4),
    (512, 4, 4),
]
TABLE_9 = [
    (64, 128, 128),
    (128, 64, 64),
    (128, 64, 64),
    (256, 32, 32),
    (256, 32, 32),
    (512, 16, 16),
    (512, 16, 16),
]
TABLE_11 = [(128, 16, 16), (128, 8, 8), (128, 8, 8), (128, 8, 8)]
TABLE_13 = [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8), (1024, 4, 4), (1024, 4, 4)]


def _generator(name: str, norm: str):
    return registry.create("generator", name, norm=registry.get("norm", norm), num_classes=K)


def _device(name: str) -> torch.device:
    """``meta`` for the 128x128 models: their shapes, without a second of arithmetic each."""
    return torch.device("meta" if name.endswith("128") else "cpu")


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(
    ("name", "first", "table"),
    [("sndcgan32", (512, 2, 2), TABLE_6), ("sndcgan128", (512, 8, 8), TABLE_8)],
)
def test_sndcgan_generator_matches_table(name, first, table, norm):
    with torch.device(_device(name)):
        g = _generator(name, norm)
        z, y = torch.randn(2, 128), torch.randint(K, (2,))
    shapes = _outputs(g, [g.norms[0], *g.deconvs], z, y)
    assert shapes == [first, *table]
    assert g(z, y).shape == (2, 3, g.resolution, g.resolution)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(
    ("name", "first", "table"),
    [("resnet32", (256, 4, 4), TABLE_10), ("resnet128", (1024, 4, 4), TABLE_12)],
)
def test_resnet_generator_matches_table(name, first, table, norm):
    with torch.device(_device(name)):
        g = _generator(name, norm)
        z, y = torch.randn(2, 128), torch.randint(K, (2,))
    shapes = _outputs(g, [g.blocks[0].norm1, *g.blocks, g.conv], z, y)
    res = g.resolution
    assert shapes == [first, *table, (3, res, res)]
    out = g(z, y)
    assert out.shape == (2, 3, res, res)
    assert out.is_meta or out.abs().max() <= 1  # tanh


def test_resnet_generator_block_inner_shapes_table_12():
    with torch.device("meta"):
        g = _generator("resnet128", "sbn")
        z = torch.randn(2, 128)
    block = g.blocks[1]  # Table 12's second block: 8x8x1024 -> 16x16x1024 -> 16x16x512
    shapes = _outputs(g, [block.conv1, block.conv2], z)
    assert shapes == [(1024, 16, 16), (512, 16, 16)]


@pytest.mark.parametrize(("name", "table"), [("sndcgan32", TABLE_7), ("sndcgan128", TABLE_9)])
def test_sndcgan_discriminator_matches_table(name, table):
    with torch.device(_device(name)):
        d = registry.create("discriminator", name)
        x = torch.randn(2, 3, d.resolution, d.resolution)
    res = d.resolution
    assert _outputs(d, list(d.convs), x) == table
    assert d.linear.in_features == 512 * (res // 8) ** 2
    assert d(x).shape == (2,)


@pytest.mark.parametrize(
    ("name", "table", "pooled"), [("resnet32", TABLE_11, 128), ("resnet128", TABLE_13, 1024)]
)
def test_resnet_discriminator_matches_table(name, table, pooled):
    with torch.device(_device(name)):
        d = registry.create("discriminator", name)
        x = torch.randn(2, 3, d.resolution, d.resolution)
    assert _outputs(d, list(d.blocks), x) == table
    assert d.features(x).shape == (2, pooled)
    assert d(x).shape == (2,)


@pytest.mark.parametrize("name", ["sndcgan32", "resnet32"])
def test_projection_discriminator_equals_appendix_b3(name):
    d = registry.create("discriminator", name, num_classes=K, width=0.25).eval()  # fixed SN
    x, y = torch.randn(3, 3, 32, 32), torch.randint(K, (3,))
    phi = d.features(x)
    psi = phi @ d.linear.weight.T + d.linear.bias
    expected = psi.squeeze(1) + (phi * d.embed.weight[y]).sum(1)
    torch.testing.assert_close(d(x, y), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="labels"):
        d(x)


def test_spectral_norm_switch():
    with_sn = registry.create("discriminator", "resnet32", width=0.25, spectral_norm=True)
    without = registry.create("discriminator", "resnet32", width=0.25, spectral_norm=False)
    assert any("parametrizations" in n for n, _ in with_sn.named_parameters())
    assert not any("parametrizations" in n for n, _ in without.named_parameters())
    # Spectral norm bounds each conv's largest singular value by about 1.
    weight = with_sn.blocks[1].conv1.weight.flatten(1)
    for _ in range(20):
        with_sn(torch.randn(2, 3, 32, 32))
    assert torch.linalg.matrix_norm(weight, ord=2) < 1.2


def test_width_multiplier_and_channels():
    g = registry.create("generator", "resnet32", width=0.125, channels=1)
    assert g.fc.out_features == 4 * 4 * 32
    assert g(torch.randn(2, 128)).shape == (2, 1, 32, 32)
    d = registry.create("discriminator", "sndcgan32", width=0.125, channels=1)
    assert d.convs[0].in_channels == 1 and d.convs[0].out_channels == 8


def test_modulated_layers_selects_sbn_layers():
    g = registry.create("generator", "resnet32", width=0.125, modulated_layers=[6])
    norms = [
        g.blocks[0].norm1,
        g.blocks[0].norm2,
        g.blocks[1].norm1,
        g.blocks[1].norm2,
        g.blocks[2].norm1,
        g.blocks[2].norm2,
        g.norm,
    ]
    assert [type(n) for n in norms] == [BatchNorm] * 6 + [SelfModulatedBatchNorm]
    with pytest.raises(ValueError, match="out of range"):
        registry.create("generator", "sndcgan32", width=0.125, modulated_layers=[4])


def test_generator_sample_is_seeded_and_checks_labels():
    g = registry.create(
        "generator", "sndcgan32", width=0.125, num_classes=K, norm=registry.get("norm", "csbn")
    ).eval()
    a, b = g.sample(4, seed=3), g.sample(4, seed=3)
    torch.testing.assert_close(a, b)
    assert g.sample(2, labels=[0, 1]).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="labels must have shape"):
        g.sample(2, labels=[0, 1, 2])


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_registered_classes_are_named_family_resolution_role(kind):
    for name in registry.list(kind):  # e.g. generator.sndcgan32 is SNDCGAN32Generator
        cls = registry.get(kind, name)
        assert cls.__name__.lower() == f"{name}{kind}" and name.endswith(str(cls.resolution))
        assert f"{cls.resolution}x{cls.resolution} (Table " in cls.__doc__
