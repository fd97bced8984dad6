"""A real installed distribution registers a norm through the entry-point group, used from gin."""

import sys
import textwrap

import pytest
import torch

import registry
import zoo
from registry import ENTRY_POINT_GROUP


def test_entry_point_plugin_used_from_gin(tmp_path, monkeypatch):
    (tmp_path / "gated_norm_plugin.py").write_text(
        textwrap.dedent("""
        import torch
        from torch import nn
        import registry

        @registry.register("norm", "gated_sbn")
        class GatedSelfModulation(nn.Module):
            '''sBN whose gamma is squashed into (0, 2): a user's own modulation plugin.'''
            def __init__(self, num_features, z_dim, num_classes=0, sharpness=1.0):
                super().__init__()
                self.bn = nn.BatchNorm2d(num_features, affine=False)
                self.gamma = nn.Linear(z_dim, num_features)
                self.sharpness = sharpness

            def forward(self, h, z, y=None):
                gate = 2 * torch.sigmoid(self.sharpness * self.gamma(z))
                return gate[:, :, None, None] * self.bn(h)
    """)
    )
    dist = tmp_path / "gated_norm_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gated-norm-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ngated = gated_norm_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry._registry, "_PLUGINS_LOADED", False)
    try:
        zoo.parse(
            bindings=[
                "generator.sndcgan32.norm = @norm.gated_sbn",
                "norm.gated_sbn.sharpness = 3.0",
                "generator.sndcgan32.width = 0.125",
            ]
        )
        assert "gated_sbn" in registry.list("norm")
        g = registry.create("generator", "sndcgan32")
        assert type(g.norms[0]).__name__ == "GatedSelfModulation"
        assert g.norms[0].sharpness == 3.0
        assert g(torch.randn(2, 128)).shape == (2, 3, 32, 32)
    finally:
        registry._registry._REGISTRY["norm"].pop("gated_sbn", None)
        sys.modules.pop("gated_norm_plugin", None)


def test_a_broken_plugin_is_named_and_does_not_hide_the_others(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('needs a package not here')\n")
    (tmp_path / "good_plugin.py").write_text(
        textwrap.dedent("""
        from torch import nn
        import registry

        registry.register("norm", "after_broken_bn")(nn.BatchNorm2d)
    """)
    )
    dist = tmp_path / "two_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: two-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(  # the broken one first
        f"[{ENTRY_POINT_GROUP}]\nbroken = broken_plugin\ngood = good_plugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry._registry, "_PLUGINS_LOADED", False)
    monkeypatch.setattr(registry._registry, "_BROKEN_PLUGINS", {})
    try:
        with pytest.warns(RuntimeWarning, match=r"Plugin 'broken' \(broken_plugin\) failed"):
            loaded = registry.load_plugins()
        assert "good" in loaded and "broken" not in loaded
        assert registry.get("norm", "after_broken_bn") is torch.nn.BatchNorm2d
        with pytest.raises(registry.RegistryError, match=r"failed to load: 'broken'.*not here"):
            registry.get("norm", "from_the_broken_plugin")
    finally:
        registry._registry._REGISTRY["norm"].pop("after_broken_bn", None)
        for module in ("broken_plugin", "good_plugin"):
            sys.modules.pop(module, None)
