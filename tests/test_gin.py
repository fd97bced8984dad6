"""A full G/D/loss/penalty graph from gin, and typos that fail with a message naming them."""

import gin
import pytest
import torch

import registry
import zoo
import zoo.study  # registers study.grid
from registry.losses import Hinge
from registry.norms import SelfModulatedBatchNorm
from registry.penalties import GradientPenalty
from zoo.config import GIN_DIR

GRAPH = """
generator.resnet32.norm = @norm.sbn
generator.resnet32.width = 0.125
norm.sbn.hidden_dim = 16
discriminator.resnet32.width = 0.125
discriminator.resnet32.spectral_norm = False
penalty.gradient.weight = 1.0

build.generator = @generator.resnet32()
build.discriminator = @discriminator.resnet32()
build.loss = @loss.hinge()
build.penalty = @penalty.gradient()
"""


@gin.configurable
def build(generator, discriminator, loss, penalty):
    return generator, discriminator, loss, penalty


def test_builds_full_graph_from_gin():
    zoo.parse(bindings=[GRAPH])
    g, d, loss, penalty = build()
    assert isinstance(g.blocks[0].norm1, SelfModulatedBatchNorm)
    assert g.blocks[0].norm1.modulation.hidden[0].out_features == 16
    assert isinstance(loss, Hinge) and isinstance(penalty, GradientPenalty)
    assert penalty.weight == 1.0
    x = g(torch.randn(4, 128))
    d_loss = loss.d_loss(d(torch.randn(4, 3, 32, 32)), d(x)) + penalty(d, x, x)
    assert torch.isfinite(d_loss)


@pytest.mark.parametrize(
    ("binding", "named", "suggested"),
    [
        ("generator.resnet32.norm = @norm.sbnn", "'@norm.sbnn'", "'norm.sbn'"),
        ("generator.resnet32.nrom = @norm.sbn", "'nrom'", "'norm'"),
        ("generator.resnt32.width = 1.0", "'generator.resnt32'", "'generator.resnet32'"),
        ("penalty.gradient.wieght = 1.0", "'wieght'", "'weight'"),
        ("trian.steps = 10", "'trian'", "'train'"),
        ("study.gird.name = 'x'", "'study.gird'", "'study.grid'"),  # outside the registry
    ],
)
def test_typo_fails_naming_it(binding, named, suggested):
    """An unknown configurable, reference or parameter is named, and the closest existing name
    is the first suggestion."""
    with pytest.raises(zoo.ConfigError) as info:
        zoo.parse(bindings=[binding])
    message = str(info.value)
    assert named in message, f"the typo is not named: {message}"
    assert f"Did you mean {suggested}" in message, f"no suggestion {suggested}: {message}"


def test_unknown_registry_name_in_gin_suggests_the_registered_one():
    """A norm given by name (``'sbnn'``) is looked up in the registry when the model is built:
    the error names it, suggests ``'sbn'`` and lists the registered norms."""
    zoo.parse(bindings=["generator.sndcgan32.norm = 'sbnn'", "generator.sndcgan32.width = 0.125"])
    expected = r"Unknown norm 'sbnn'\. Did you mean 'sbn'.*Registered norms: "
    with pytest.raises(registry.RegistryError, match=expected):
        registry.create("generator", "sndcgan32")


def test_typo_in_a_file_names_file_and_line(tmp_path):
    path = tmp_path / "bad.gin"
    path.write_text("generator.resnet32.width = 0.5\ngenerator.resnet32.widht = 0.5\n")
    with pytest.raises(zoo.ConfigError, match=r"(?s)widht.*line 2.*Did you mean 'width'"):
        zoo.parse([path])
    with pytest.raises(zoo.ConfigError, match="gin file not found"):
        zoo.parse([tmp_path / "missing.gin"])


def test_shipped_configs_are_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_name = zoo.parse(["quickstart.gin"])
    assert by_name == zoo.parse([GIN_DIR / "quickstart.gin"])
    assert "train.steps" in by_name
    with pytest.raises(zoo.ConfigError, match=r"Did you mean quickstart\.gin"):
        zoo.parse(["quickstrat.gin"])


def test_read_bindings_reads_gin_text_without_applying_it():
    """gin's own parser, binding by binding: values as Python values, references and macros as
    written, complete selectors, later bindings winning; gin's active config is untouched."""
    from zoo.config import gin_binding, read_bindings

    zoo.parse(bindings=["train.steps = 7"])
    text = (
        "# a comment\nNORM = @norm.sbn\nfashion_mnist.root = '/data'\n"
        "train.eval_metrics = [\n    'fid',\n    'is']\ntrain.dataset = @dataset.cifar10\n"
        "train.loss = @loss.hinge()\ngenerator.resnet32.norm = %NORM\ntrain.steps = 3\n"
        "train.steps = 4\nmissing_plugin.thing.x = @norm.gone\n"
    )
    bindings = read_bindings(text)
    assert bindings["train.eval_metrics"] == ["fid", "is"] and bindings["train.steps"] == 4
    assert bindings["dataset.fashion_mnist.root"] == "/data"
    assert [repr(bindings[k]) for k in ("NORM", "train.loss", "generator.resnet32.norm")] == [
        "@norm.sbn",
        "@loss.hinge()",
        "%NORM",
    ]
    assert repr(bindings["missing_plugin.thing.x"]) == "@norm.gone"
    assert gin.query_parameter("train.steps") == 7
    assert gin_binding(text, "train.dataset") == "cifar10"
    assert gin_binding(text, "dataset.fashion_mnist.root") == "/data"
    assert gin_binding(text, "train.steps") == "4" and gin_binding(text, "train.seed") is None
    with pytest.raises(zoo.ConfigError, match="not a gin config"):
        read_bindings("train.steps = = 3")
