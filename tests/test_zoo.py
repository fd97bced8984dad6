"""The model zoo without a network: create/load round trips for every generator, strict loading,
damaged files, sha256 pins, recipes, the catalog and listing, sampling, shipped checkpoints."""

import json
from pathlib import Path

import gin
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import registry
import zoo
from zoo import catalog
from zoo.config import GIN_DIR
from zoo.model_folder import CONFIG_FILE, DISCRIMINATOR_FILE, MODEL_FILE, sha256_file
from zoo.models import parse_model_name
from zoo.sampling import class_grid_size

TINY = 0.0625
CASES = [(name, {"norm": "sbn"}) for name in registry.list("generator")] + [
    ("resnet32", {"norm": "csbn", "num_classes": 10}),
    ("sndcgan32", {"norm": "bn", "channels": 1}),
    ("sndcgan32", {"norm": "sbn", "modulated_layers": [0, 2]}),
]


def _tiny(name: str = "sndcgan32", **kwargs) -> torch.nn.Module:
    G = registry.get("generator", name)(width=TINY, **kwargs)
    G.train()
    with torch.no_grad():  # move the BN running statistics away from their initial values
        for _ in range(2):
            y = torch.randint(max(G.num_classes, 1), (4,)) if G.num_classes else None
            G(torch.randn(4, G.z_dim), y)
    return G


def _inputs(G, n=3):
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(1))
    y = torch.arange(n) % G.num_classes if G.num_classes else None
    return z, y


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a busy shared CPU: one intra-op thread is many times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tmp_catalog(tmp_path, monkeypatch):
    """An empty catalog and pretrained folder in tmp_path in place of the package's."""
    monkeypatch.setattr(catalog, "CATALOG_PATH", tmp_path / "catalog.json")
    monkeypatch.setattr(catalog, "PRETRAINED_DIR", tmp_path / "pretrained")
    return tmp_path / "catalog.json"


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=lambda c: str(c))
def test_save_load_round_trip_gives_the_same_images(name, kwargs, tmp_path):
    G = _tiny(name, **kwargs)
    zoo.save_pretrained(G, tmp_path / "ckpt", gin_config="train.steps = 2\n")
    loaded = zoo.load(tmp_path / "ckpt")
    assert type(loaded) is type(G) and not loaded.training
    assert loaded.config == G.config
    z, y = _inputs(G)
    G.eval()
    with torch.no_grad():
        assert torch.equal(loaded(z, y), G(z, y))
    for key, value in G.state_dict().items():  # BN running statistics included
        assert torch.equal(loaded.state_dict()[key], value), key
    assert (tmp_path / "ckpt" / "README.md").is_file()
    assert json.loads((tmp_path / "ckpt" / CONFIG_FILE).read_text())["gin_config"]


def test_the_same_weights_save_to_the_same_bytes(tmp_path):
    """The catalog pins weights by sha256: saving them again (republishing) must not change
    it. (safetensors writes a metadata map of several keys in a varying order.)"""
    G = _tiny("sndcgan32", norm="sbn")
    D = registry.create("discriminator", "sndcgan32", width=TINY)
    digests = set()
    for attempt in range(8):
        folder = tmp_path / f"ckpt{attempt}"
        zoo.save_pretrained(G, folder, discriminator=D, card=False)
        digests.add((sha256_file(folder / MODEL_FILE), sha256_file(folder / DISCRIMINATOR_FILE)))
    assert len(digests) == 1


def test_load_puts_the_model_on_the_device_in_eval_mode(tmp_path):
    zoo.save_pretrained(_tiny(), tmp_path)
    G = zoo.load(str(tmp_path), device="cpu")
    assert not G.training
    assert all(p.device.type == "cpu" for p in G.parameters())
    assert G.checkpoint_info["source"] == "local-dir"
    assert G.checkpoint_info["path"].endswith(MODEL_FILE)


def test_sample_does_not_depend_on_the_batch(tmp_path):
    """Eval mode: BN uses running statistics, so one z gives one image, alone or in a batch."""
    zoo.save_pretrained(_tiny(), tmp_path)
    G = zoo.load(tmp_path)
    images = G.sample(6, seed=3)
    assert images.shape == (6, 3, 32, 32) and images.abs().max() <= 1
    z = G.sample_latents(6, torch.Generator().manual_seed(3))
    with torch.no_grad():
        alone = torch.cat([G(z[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(alone, images, rtol=0, atol=1e-5)
    assert torch.equal(G.sample(6, seed=3), images)


def test_save_grid_and_sample_grid(tmp_path):
    G = _tiny("resnet32", norm="csbn", num_classes=10)
    images = zoo.sample_grid(G, tmp_path / "grid.png", n=12, seed=0)
    assert G.training  # the mode is restored
    assert images.shape == (20, 3, 32, 32)  # one class per column: 2 full rows of 10
    torch.testing.assert_close(
        images, G.eval().sample(20, labels=torch.arange(20) % 10, seed=0), rtol=0, atol=0
    )
    G.train()
    with Image.open(tmp_path / "grid.png") as image:
        assert image.size == (10 * 32 + 11 * 2, 2 * 32 + 3 * 2)
    assert [class_grid_size(n, 10) for n in (1, 10, 64, 70)] == [10, 10, 70, 70]
    zoo.sample_grid(G, tmp_path / "five.png", n=12, seed=0, nrow=5)  # an explicit nrow wins
    with Image.open(tmp_path / "five.png") as image:
        assert image.size == (5 * 32 + 6 * 2, 4 * 32 + 5 * 2)
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    zoo.save_grid(images, tmp_path / "again.png", nrow=4)
    assert (tmp_path / "again.png").stat().st_size > 0


# --- strict loading and damaged files ---------------------------------------------------------


def _checkpoint(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    folder = zoo.save_pretrained(_tiny(), tmp_path / "ckpt", card=False)
    return folder, load_file(folder / MODEL_FILE)


def test_missing_key_is_named(tmp_path):
    folder, tensors = _checkpoint(tmp_path)
    del tensors["fc.weight"]
    save_file(tensors, folder / MODEL_FILE)
    with pytest.raises(zoo.CheckpointError, match=r"missing keys: fc\.weight"):
        zoo.load(folder)


def test_unexpected_key_is_named(tmp_path):
    folder, tensors = _checkpoint(tmp_path)
    tensors["extra.weight"] = torch.zeros(2)
    save_file(tensors, folder / MODEL_FILE)
    with pytest.raises(zoo.CheckpointError, match=r"unexpected keys: extra\.weight"):
        zoo.load(folder)


def test_shape_mismatch_is_named(tmp_path):
    folder, _ = _checkpoint(tmp_path)
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["model_args"]["width"] = 2 * TINY
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(zoo.CheckpointError, match=r"shape mismatches: .*fc\.weight \(checkpoint"):
        zoo.load(folder)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_weight_file_names_the_file_and_the_fix(tmp_path, damage):
    folder, _ = _checkpoint(tmp_path)
    path = folder / MODEL_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a safetensors file")
    with pytest.raises(zoo.CheckpointError, match="corrupt or truncated") as info:
        zoo.load(folder)
    assert str(path) in str(info.value) and "again" in str(info.value)


def test_config_without_architecture_is_refused(tmp_path):
    folder, _ = _checkpoint(tmp_path)
    (folder / CONFIG_FILE).write_text('{"hello": 1}')
    with pytest.raises(zoo.CheckpointError, match="architecture"):
        zoo.load(folder)


# --- catalog: shipped, sha256, recipes, listing -------------------------------------------


def _ship(name: str, sha256: str | None = None, **fields) -> catalog.CatalogEntry:
    """A shipped entry whose folder is in the (monkeypatched) PRETRAINED_DIR."""
    G = _tiny()
    folder = zoo.save_pretrained(G, catalog.PRETRAINED_DIR / name, name=name)
    from zoo.model_folder import sha256_file

    return catalog.update_entry(
        name,
        status="shipped",
        architecture="sndcgan32",
        model_args=G.config,
        repo_id=f"selfmod-zoo/{name}",
        sha256=sha256 or sha256_file(folder / MODEL_FILE),
        **fields,
    )


def test_shipped_entry_loads_offline_and_checks_sha256(tmp_catalog, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    entry = _ship("selfmod-sndcgan-tiny")
    G = zoo.load("selfmod-sndcgan-tiny")
    assert G.checkpoint_info["source"] == "shipped"
    assert G.checkpoint_info["sha256"] == entry.sha256
    assert G.sample(2, seed=0).shape == (2, 3, 32, 32)


def test_weights_whose_sha256_differs_are_refused(tmp_catalog):
    entry = _ship("selfmod-sndcgan-tiny")
    weights = entry.local_dir / MODEL_FILE
    tensors = load_file(weights)
    tensors["fc.bias"] = tensors["fc.bias"] + 1  # a valid file, but not the pinned one
    save_file(tensors, weights)
    from zoo.model_folder import sha256_file

    actual = sha256_file(weights)
    with pytest.raises(zoo.ChecksumError) as info:
        zoo.load("selfmod-sndcgan-tiny")
    assert entry.sha256 in str(info.value) and actual in str(info.value)
    assert "reinstall" in str(info.value)


def test_recipe_says_how_to_train_and_publish_it():
    with pytest.raises(zoo.NotPublishedError) as info:
        zoo.load("selfmod-resnet-cifar10")
    message = str(info.value)
    assert "recipe" in message
    assert "accelerate launch scripts/train.py --gin gin/cifar10_resnet_sbn.gin" in message
    assert (
        "python scripts/publish.py runs/cifar10_resnet_sbn "
        "--repo-id selfmod-zoo/selfmod-resnet-cifar10" in message
    )


def test_unpublished_entry_says_to_publish(tmp_catalog):
    catalog.update_entry(
        "tiny",
        status="unpublished",
        architecture="sndcgan32",
        model_args={"width": TINY},
        repo_id="me/tiny",
        sha256="0" * 64,
    )
    with pytest.raises(zoo.NotPublishedError, match="--dry-run"):
        zoo.load("tiny")


def test_unknown_names_get_suggestions():
    with pytest.raises(zoo.UnknownModelError, match="Did you mean 'selfmod-resnet-cifar10'"):
        zoo.load("selfmod-resnet-cifar")
    with pytest.raises(zoo.UnknownModelError, match=r"zoo\.create\('resnet32'\)"):
        zoo.load("resnet32")
    with pytest.raises(zoo.UnknownModelError, match="hf-hub:org/repo"):
        zoo.load("org/repo")


def test_a_name_is_parsed_once_into_what_it_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet32").mkdir()  # a folder named like an architecture
    hub_name = parse_model_name("hf-hub:org/repo@v1")
    assert (hub_name.kind, hub_name.repo_id, hub_name.revision) == ("hub", "org/repo", "v1")
    entry = parse_model_name("selfmod-resnet-cifar10").entry
    assert entry is not None and entry.architecture == "resnet32"
    # create() takes the architecture before a folder; load(), which needs weights, the folder.
    assert parse_model_name("resnet32", architectures=True).kind == "registry"
    assert parse_model_name("resnet32").path == Path("resnet32")
    assert parse_model_name("local-dir:resnet32", architectures=True).kind == "folder"


def test_missing_paths_get_no_hub_hint(tmp_path):
    for path in ("/tmp/nonexistent-selfmod", "./runs/nothing", "runs/a/b", "~/x/y"):
        with pytest.raises(zoo.UnknownModelError, match="does not exist") as info:
            zoo.load(path)
        assert "hf-hub" not in str(info.value)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(zoo.UnknownModelError, match="is a file, not a checkpoint folder"):
        zoo.load(tmp_path / "weights.bin")


def test_list_models_filters(tmp_catalog):
    common = {"architecture": "sndcgan32", "model_args": {}, "repo_id": "o/x"}
    catalog.update_entry("selfmod-a-cifar10", status="recipe", gin_file="gin/x.gin", **common)
    catalog.update_entry(
        "baseline-a-cifar10", status="published", revision="a" * 40, sha256="0" * 64, **common
    )
    catalog.update_entry("selfmod-b-celeba", status="unpublished", sha256="0" * 64, **common)
    catalog.update_entry("selfmod-gone-x", status="shipped", sha256="0" * 64, **common)
    _ship("selfmod-here-x")
    assert zoo.list_models() == sorted(
        [
            "selfmod-a-cifar10",
            "baseline-a-cifar10",
            "selfmod-b-celeba",
            "selfmod-gone-x",
            "selfmod-here-x",
        ]
    )
    assert zoo.list_models(pretrained=True) == ["baseline-a-cifar10", "selfmod-here-x"]
    assert zoo.list_models("selfmod-*") == [
        "selfmod-a-cifar10",
        "selfmod-b-celeba",
        "selfmod-gone-x",
        "selfmod-here-x",
    ]
    assert zoo.list_models("*-cifar10", pretrained=True) == ["baseline-a-cifar10"]
    assert zoo.list_models(["*celeba", "baseline-*"]) == ["baseline-a-cifar10", "selfmod-b-celeba"]
    with pytest.raises(zoo.NotPublishedError, match="reinstall"):
        zoo.load("selfmod-gone-x")


def test_catalog_entries_must_be_consistent(tmp_catalog):
    with pytest.raises(zoo.CheckpointError, match="lacks revision"):
        catalog.update_entry(
            "x", status="published", architecture="a", model_args={}, repo_id="o/x", sha256="0"
        )
    with pytest.raises(zoo.CheckpointError, match="status 'nope'"):
        catalog.update_entry("x", status="nope", architecture="a", model_args={}, repo_id="o/x")


def test_the_package_catalog_covers_the_paper_settings():
    entries = catalog.load_catalog()
    for dataset in ("cifar10", "celebahq128", "lsun_bedroom128", "imagenet128"):
        for model in ("sndcgan", "resnet"):
            for norm in ("bn", "sbn"):
                assert catalog.catalog_name(model, dataset, norm) in entries
    for dataset in ("cifar10", "imagenet128"):
        for model in ("gcond", "pcgan"):
            for norm in ("cbn", "csbn"):
                assert catalog.catalog_name(model, dataset, norm) in entries
    assert catalog.catalog_name("resnet", "cifar10", "sbn") == "selfmod-resnet-cifar10"
    assert catalog.catalog_name("pcgan", "imagenet128", "cbn") == "baseline-pcgan-imagenet128"
    assert set(zoo.list_models(pretrained=True)) == {n for n, e in entries.items() if e.has_weights}


RECIPES = sorted(n for n, e in catalog.load_catalog().items() if e.gin_file)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_matches_its_gin_file(name):
    """The catalog's architecture and arguments are what the recipe's gin file builds."""
    entry = catalog.get_entry(name)
    assert (GIN_DIR.parent / entry.gin_file).is_file()
    gin_file = GIN_DIR.parent / entry.gin_file
    zoo.parse([gin_file])
    try:
        width = gin.query_parameter(f"generator.{entry.architecture}.width")
    except ValueError:  # not bound: the paper's width
        width = 1.0
    zoo.parse([gin_file], [f"generator.{entry.architecture}.width = {TINY}"])
    assert gin.query_parameter("train.generator").selector == f"generator.{entry.architecture}"
    channels = 1 if entry.dataset == "fashion_mnist" else 3  # what the dataset gives the trainer
    G = registry.create("generator", entry.architecture, channels=channels)
    assert {**G.config, "width": width} == entry.model_args
    assert entry.repo_id == f"selfmod-zoo/{name}"
    assert entry.dataset in entry.gin_file


def test_create_builds_untrained_architectures():
    G = zoo.create("selfmod-pcgan-cifar10", width=TINY)
    assert type(G).__name__ == "ResNet32Generator" and G.training
    assert G.config["norm"] == "csbn" and G.num_classes == 10 and G.config["width"] == TINY
    assert zoo.create("sndcgan128", width=TINY).resolution == 128
    with pytest.raises(zoo.UnknownModelError, match="Did you mean 'selfmod-resnet-cifar10'"):
        zoo.create("selfmod-resnet-cifar")


def test_create_from_a_folder(tmp_path):
    zoo.save_pretrained(_tiny("resnet32", norm="csbn", num_classes=10), tmp_path)
    G = zoo.create(str(tmp_path))
    assert G.config["norm"] == "csbn" and G.config["width"] == TINY


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_load_on_cuda_matches_cpu(tmp_path):
    zoo.save_pretrained(_tiny("resnet32", norm="csbn", num_classes=10), tmp_path)
    cpu, gpu = zoo.load(tmp_path), zoo.load(tmp_path, device="cuda")
    images = gpu.sample(4, seed=0)
    assert images.device.type == "cuda"
    torch.testing.assert_close(images.cpu(), cpu.sample(4, seed=0), rtol=0, atol=1e-3)


# --- shipped checkpoints (added by the lead in zoo/pretrained/) -----------------------------

PRETRAINED = sorted(p.name for p in catalog.PRETRAINED_DIR.glob("*") if p.is_dir())


@pytest.mark.parametrize("name", PRETRAINED)
def test_every_pretrained_folder_is_a_shipped_catalog_entry(name):
    """A folder in zoo/pretrained/ loads by name only with a catalog entry pinning its sha256
    (``publish.py --ship`` writes both)."""
    entries = catalog.load_catalog()
    assert name in entries, f"zoo/pretrained/{name} has no entry in zoo/catalog.json"
    assert entries[name].status == "shipped" and entries[name].sha256


SHIPPED = sorted(n for n, e in catalog.load_catalog().items() if e.status == "shipped")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_loads_and_samples(name):
    entry = catalog.get_entry(name)
    assert entry.is_shipped_here, f"{entry.local_dir}/model.safetensors is not installed"
    G = zoo.load(name)
    assert not G.training and G.checkpoint_info["source"] == "shipped"
    images = G.sample(4, seed=0)
    assert images.shape == (4, G.channels, G.resolution, G.resolution)
    assert images.min() >= -1 and images.max() <= 1 and torch.isfinite(images).all()


def test_norm_bindings_travel_with_an_exported_generator(tmp_path):
    """A G trained with ``norm.sbn.hidden_dim = 7`` reloads as that G, without gin."""
    from zoo.model_folder import load_generator, save_pretrained

    zoo.parse(
        [GIN_DIR / "quickstart.gin"],
        ["norm.sbn.hidden_dim = 7", f"generator.sndcgan32.width = {TINY}"],
    )
    G = gin.query_parameter("train.generator").scoped_configurable_fn(channels=1)
    assert G.config["norm_kwargs"] == {"hidden_dim": 7}
    assert "fallback_norm_kwargs" not in G.config  # defaults leave the config as it was
    gin.clear_config()
    save_pretrained(G, tmp_path / "g", card=False)
    loaded = load_generator(tmp_path / "g", remedy="re-export it")
    hidden = [m.hidden[0] for m in loaded.modules() if hasattr(m, "hidden")]
    assert hidden and all(layer.out_features == 7 for layer in hidden)
    z = torch.randn(3, G.z_dim)
    torch.testing.assert_close(loaded.eval()(z), G.eval()(z))


def test_a_norm_argument_a_config_cannot_hold_is_refused_early():
    with pytest.raises(ValueError, match=r"config\.json cannot hold"):
        registry.create("generator", "sndcgan32", width=TINY, norm_kwargs={"hidden_dim": object()})


def test_run_folders_written_before_0_2_still_load(tmp_path):
    """A best/ folder of the pre-0.2 trainer (generator.safetensors, a nested config.json)
    loads without conversion and gives the images of the generator that wrote it."""
    G = registry.create("generator", "sndcgan32", width=0.125, norm="sbn", channels=1).eval()
    D = registry.create("discriminator", "sndcgan32", width=0.125, channels=1)
    folder = tmp_path / "run" / "best"
    folder.mkdir(parents=True)
    for name, model in (("generator", G), ("discriminator", D)):
        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, folder / f"{name}.safetensors")
    old = {
        "generator": {"name": "sndcgan32", "config": G.config},
        "discriminator": {"name": "sndcgan32", "config": D.config},
        "metrics": {"fid": 12.5, "step": 7},
    }
    (folder / CONFIG_FILE).write_text(json.dumps(old))

    loaded = zoo.load(tmp_path / "run")
    assert torch.equal(loaded.sample(4, seed=1), G.sample(4, seed=1))
    config = zoo.model_folder.read_config(folder)
    assert config["architecture"] == "sndcgan32" and config["metrics"]["fid"] == 12.5
    assert zoo.model_folder.load_discriminator(folder, "").num_classes == 0
