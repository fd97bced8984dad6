"""Feature extractors: the FID Inception-v3 (weight loading, shapes) and the Fashion-MNIST CNN."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import registry
from registry.features.fashion_classifier import SHIPPED_WEIGHTS, FashionClassifier
from registry.features.inception import (
    DEFAULT_FILENAME,
    ENV_VAR,
    FIDInceptionV3,
    InceptionWeightsNotFoundError,
    resolve_inception_weights,
)
from zoo.metrics.inception_score import inception_score_from_logits

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# A few entries of the public pt_inception-2015-12-05-6726825d.pth (torchvision Inception3
# layout, 1008 classes, no aux head), written out independently of the module.
PUBLIC_KEYS = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


@pytest.fixture(scope="module")
def random_inception_state():
    """Random weights with the module's key names and shapes that keep activations at unit
    scale through the 94 convolutions (He init, batch norm near identity): pool3 depends on
    the input, so the comparison with pytorch-fid is sensitive to every layer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = FIDInceptionV3(pretrained=False)
    generator = torch.Generator().manual_seed(1)
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("conv.weight"):
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=generator) * (2.0 / fan_in) ** 0.5
        elif key.endswith(("bn.weight", "running_var")):
            state[key] = torch.rand(value.shape, generator=generator) * 0.4 + 0.8
        elif key.endswith(("bn.bias", "running_mean")):
            state[key] = torch.randn(value.shape, generator=generator) * 0.1
        elif value.is_floating_point():  # fc
            state[key] = torch.randn(value.shape, generator=generator) * 0.02
        else:
            state[key] = value.clone()
    return state


def test_inception_layout_matches_public_weight_file(random_inception_state):
    for key, shape in PUBLIC_KEYS.items():
        assert tuple(random_inception_state[key].shape) == shape, key
    assert not any(k.startswith("AuxLogits") for k in random_inception_state)
    assert sum(k.endswith(".conv.weight") for k in random_inception_state) == 94


def test_inception_layout_matches_torchvision_inception3(random_inception_state):
    try:
        from torchvision.models.inception import Inception3
    except Exception as error:  # torchvision's compiled extension may not match torch
        pytest.skip(f"torchvision unavailable: {error!r}")
    reference = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in random_inception_state.items()} == expected


def test_inception_features_match_pytorch_fid(monkeypatch, random_inception_state):
    """pool3 features equal pytorch-fid's ``InceptionV3([3])`` (the FID reference network)
    with the same weights, at 299×299 and at a size it resizes, on the same images: ours
    takes [-1, 1], pytorch-fid [0, 1] (it rescales them itself). pytorch-fid's weight download
    is replaced by the random state dict, which it loads with ``strict=True`` into the
    public file's (torchvision) layout."""
    inception = pytest.importorskip("pytorch_fid.inception")
    state = random_inception_state

    def load_state_dict_from_url(url, *args, **kwargs):
        assert url.endswith(DEFAULT_FILENAME)  # the file our weights are a copy of
        return state

    monkeypatch.setattr(inception, "load_state_dict_from_url", load_state_dict_from_url)
    reference = inception.InceptionV3([3]).eval()  # resize and [0, 1] -> [-1, 1] scaling on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = FIDInceptionV3(pretrained=False)
    ours.load_state_dict(state, strict=True)

    generator = torch.Generator().manual_seed(3)
    features = []
    # One image each (a forward costs ~1 s on a CPU); 48×320 is up- and downsampled to 299.
    for size in [(299, 299), (48, 320)]:
        images = torch.rand(1, 3, *size, generator=generator)  # in [0, 1]
        with torch.no_grad():
            expected = reference(images)[0].flatten(1)
            got = ours(images * 2 - 1)["features"]
        assert got.shape == (1, 2048)
        torch.testing.assert_close(
            got, expected, rtol=1e-5, atol=1e-5, msg=lambda m, size=size: f"pool3 at {size}: {m}"
        )
        features.append(got)
    # The features of the two images differ well beyond the tolerance: the check is meaningful.
    assert (features[0] - features[1]).abs().max() > 1e-2


def _check_loaded(model: FIDInceptionV3, state: dict) -> None:
    """The model holds exactly ``state``, is in eval mode and named as pretrained."""
    assert model.name == "inception"
    loaded = model.state_dict()  # once: building it per key took seconds
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)
    assert not model.training


def _check_gray_input(model: FIDInceptionV3) -> None:
    """A gray 32×32 image is resized to 299 and treated as the same image on all three
    channels (the numerics are checked against pytorch-fid in the test above)."""
    gray = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        out = model(gray)
        assert out["features"].shape == (1, 2048) and out["logits"].shape == (1, 1008)
        assert torch.isfinite(out["features"]).all()
        torch.testing.assert_close(out["logits"], model(gray.expand(1, 3, 32, 32))["logits"])


def test_inception_loads_pth_from_path_and_safetensors_from_env(
    tmp_path, monkeypatch, random_inception_state
):
    pth = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_inception_state, pth)
    model = FIDInceptionV3(pth)
    _check_loaded(model, random_inception_state)
    _check_gray_input(model)

    st = tmp_path / "inception.safetensors"
    save_file(random_inception_state, str(st))
    monkeypatch.setenv(ENV_VAR, str(st))
    model = registry.create("feature_extractor", "inception")
    assert isinstance(model, FIDInceptionV3) and model.weights_path == st
    _check_loaded(model, random_inception_state)


def _independent_inception_score(logits: np.ndarray, splits: int) -> float:
    """Salimans et al.'s formula, written out in numpy: mean over splits of
    exp(mean_x KL(p(y|x) || p(y)))."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    scores = []
    for part in np.array_split(log_p, splits):
        p = np.exp(part)
        kl = p * (part - np.log(p.mean(axis=0, keepdims=True)))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores))


def test_inception_score_uses_the_logits_without_the_fc_bias():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = FIDInceptionV3(pretrained=False, resize=False)  # random weights, small inputs
    images = torch.rand(6, 3, 75, 75, generator=torch.Generator().manual_seed(2)) * 2 - 1
    rng = torch.Generator().manual_seed(1)
    with torch.no_grad():
        # Random features differ little between images: a weight orthogonal to their mean,
        # scaled to logits of spread 3, makes the class probabilities differ.
        mean = model(images)["features"].double().mean(dim=0)
        weight = torch.randn(1008, 2048, generator=rng, dtype=torch.float64)
        weight -= torch.outer(weight @ mean, mean) / (mean @ mean)
        weight *= 3 / (model(images)["features"].double() @ weight.T).std()
        model.fc.weight.copy_(weight)
        model.fc.bias.copy_(torch.randn(1008, generator=rng) * 3)
        out = model(images)
    features = out["features"].double().numpy()
    weight, bias = (p.detach().double().numpy() for p in (model.fc.weight, model.fc.bias))
    unbiased = features @ weight.T  # the logits of Salimans et al.'s code and torch-fidelity
    np.testing.assert_allclose(out["logits"].double().numpy(), unbiased, rtol=1e-4, atol=1e-3)
    score, _ = inception_score_from_logits(out["logits"], splits=2)
    assert score == pytest.approx(_independent_inception_score(unbiased, 2), rel=1e-4)
    assert score > 1.1  # the images are told apart: a meaningful comparison
    assert abs(score - _independent_inception_score(unbiased + bias, 2)) > 1e-2  # bias matters


class NotAStateDict:
    """An arbitrary class: unpickling it would import and run code."""


def test_inception_rejects_pickled_code(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"x": NotAStateDict()}, bad)
    with pytest.raises(pickle.UnpicklingError, match=r"Weights only load failed"):
        FIDInceptionV3(bad)


def test_inception_missing_weights_error_names_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hub_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InceptionWeightsNotFoundError, match=ENV_VAR) as info:
        resolve_inception_weights(repo_id="nobody/no-such-repo")
    assert "huggingface-cli download nobody/no-such-repo" in str(info.value)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.pth"))
    with pytest.raises(InceptionWeightsNotFoundError, match=ENV_VAR):
        FIDInceptionV3()
    with pytest.raises(InceptionWeightsNotFoundError, match=r"missing\.pth"):
        FIDInceptionV3(tmp_path / "missing.pth")


def test_extractors_are_registered():
    assert {"inception", "fashion_classifier"} <= set(registry.list("feature_extractor"))


def test_fashion_classifier_interface():
    model = registry.create("feature_extractor", "fashion_classifier")
    assert isinstance(model, FashionClassifier) and not model.training
    assert SHIPPED_WEIGHTS.is_file() and SHIPPED_WEIGHTS.stat().st_size < 2 * 2**20
    with torch.no_grad():
        for shape in [(3, 1, 32, 32), (3, 3, 64, 64), (3, 1, 28, 28), (3, 3, 17, 23)]:
            out = model(torch.rand(shape) * 2 - 1)
            assert out["features"].shape == (3, model.feature_dim)
            assert out["logits"].shape == (3, 10)
        # RGB input is averaged to gray: a gray image repeated thrice gives the same output.
        gray = torch.rand(2, 1, 32, 32) * 2 - 1
        rgb = gray.repeat(1, 3, 1, 1)
        torch.testing.assert_close(model(gray)["features"], model(rgb)["features"])


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Fashion-MNIST files not installed")
def test_fashion_classifier_accuracy_on_real_test_images():
    dataset = registry.create("dataset", "fashion_mnist", split="test", resolution=32)
    idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:500]
    images, labels = zip(*(dataset[int(i)] for i in idx), strict=True)
    model = registry.create("feature_extractor", "fashion_classifier")
    with torch.no_grad():
        logits = model(torch.stack(images))["logits"]
    accuracy = (logits.argmax(dim=1) == torch.stack(labels)).float().mean().item()
    assert accuracy > 0.85


def test_fashion_classifier_saves_the_same_bytes_for_the_same_weights(tmp_path):
    """``train_fashion_classifier`` writes its facts in one JSON metadata key: safetensors
    writes a map of several keys in a varying order, so the digest would vary."""
    from safetensors import safe_open

    from zoo.cli.train_fashion_classifier import save_classifier
    from zoo.model_folder import sha256_file

    model = registry.create("feature_extractor", "fashion_classifier")
    facts = {"test_accuracy": 0.9312, "epochs": 4, "seed": 0}
    digests = set()
    for attempt in range(8):
        save_classifier(model, tmp_path / f"c{attempt}.safetensors", facts)
        digests.add(sha256_file(tmp_path / f"c{attempt}.safetensors"))
    assert len(digests) == 1
    with safe_open(tmp_path / "c0.safetensors", "pt") as f:
        saved = json.loads(f.metadata()["training"])
    assert saved["test_accuracy"] == 0.9312 and saved["seed"] == 0 and "Inception" in saved["note"]
