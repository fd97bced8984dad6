"""The registry: listing, lookup errors with suggestions, duplicate names, overriding."""

import pytest
from torch import nn

import registry
from registry import RegistryError


def test_lists_every_component_of_the_paper(monkeypatch):
    # A third-party plugin's norm is listed too: the paper's must be there, not only them.
    monkeypatch.setitem(registry._registry._REGISTRY["norm"], "plugin_norm", nn.Identity)
    assert set(registry.list("norm")) >= {"bn", "cbn", "csbn", "sbn", "smod"}
    assert "plugin_norm" in registry.list("norm")
    assert set(registry.list("generator")) >= {"sndcgan32", "sndcgan128", "resnet32", "resnet128"}
    assert set(registry.list("discriminator")) >= {
        "sndcgan32",
        "sndcgan128",
        "resnet32",
        "resnet128",
    }
    assert set(registry.list("loss")) >= {"non_saturating", "hinge"}
    assert set(registry.list("penalty")) >= {"none", "gradient"}
    assert registry.list("generator", "resnet*") == ["resnet128", "resnet32"]


def test_unknown_name_suggests_close_matches():
    with pytest.raises(RegistryError, match=r"Did you mean 'resnet32'.*Registered generators:"):
        registry.get("generator", "resnet23")
    with pytest.raises(RegistryError, match="Unknown registry kind 'norms'"):
        registry.list("norms")


def test_taken_name_fails_unless_override():
    with pytest.raises(RegistryError, match="already registered"):
        registry.register("norm", "sbn")(type("Impostor", (nn.Module,), {}))

    @registry.register("norm", "test_identity_norm")
    class First(nn.Module):
        def __init__(self, num_features, z_dim=0, num_classes=0):
            super().__init__()

    @registry.register("norm", "test_identity_norm", override=True)
    class Second(First):
        pass

    assert registry.get("norm", "test_identity_norm") is Second
    assert isinstance(registry.create("norm", "test_identity_norm", num_features=3), Second)


def test_create_applies_gin_bindings():
    import gin

    gin.parse_config("generator.sndcgan32.width = 0.125")
    assert registry.create("generator", "sndcgan32").fc.out_features == 2 * 2 * 64
