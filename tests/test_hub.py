"""The Hub side of the zoo, offline: a loopback server speaks the Hub's resolve protocol, the
Hugging Face cache lives in tmp_path. hf-hub names, pinned revisions and sha256, the offline
cache, publishing a real (2-step) training run and its model card. Uploads go through an
``HfApi`` autospec (huggingface_hub's real signatures) that commits into the loopback server."""

import hashlib
import importlib.util
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest.mock import call, create_autospec
from urllib.parse import unquote

import pytest
import torch
import yaml
from huggingface_hub import CommitInfo, HfApi, ModelCard, constants, hf_hub_download

import registry
import zoo
import zoo.evaluation
from zoo import catalog, hub
from zoo.config import GIN_DIR
from zoo.model_folder import CONFIG_FILE, MODEL_FILE, sha256_file
from zoo.training.record import STATUS_FILE

ROOT = Path(__file__).resolve().parents[1]


class LoopbackHub:
    """Repos in memory, served like huggingface.co's ``/{repo}/resolve/{revision}/{file}``."""

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Add a commit holding ``files``; move ``branch`` to it; return its sha."""
        repo = self.repos.setdefault(repo_id, {"refs": {}, "commits": {}})
        digest = hashlib.sha1(repr((repo_id, len(repo["commits"]))).encode())
        for name in sorted(files):
            digest.update(name.encode() + files[name])
        sha = digest.hexdigest()
        repo["commits"][sha] = dict(files)
        repo["refs"][branch] = sha
        return sha

    def _resolve(self, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = path.split("/", 4)  # '', org, name, 'resolve', 'rev/filename'
        if len(parts) < 5 or parts[3] != "resolve":
            return 404, {"X-Error-Code": "RepoNotFound"}, b""
        repo = self.repos.get(f"{parts[1]}/{parts[2]}")
        if repo is None:
            return 404, {"X-Error-Code": "RepoNotFound"}, b""
        revision, _, filename = parts[4].partition("/")
        revision, filename = unquote(revision), unquote(filename)
        sha = repo["refs"].get(revision, revision)
        if sha not in repo["commits"]:
            return 404, {"X-Error-Code": "RevisionNotFound"}, b""
        if filename not in repo["commits"][sha]:
            return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha}, b""
        body = repo["commits"][sha][filename]
        headers = {
            "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
            "X-Repo-Commit": sha,
            "Content-Type": "application/octet-stream",
        }
        return 200, headers, body

    def _handler(self):
        hub_ = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, send_body: bool) -> None:
                hub_.requests.append(f"{self.command} {self.path}")
                status, headers, body = hub_._resolve(self.path)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def do_HEAD(self):
                self._reply(send_body=False)

            def do_GET(self):
                self._reply(send_body=True)

            def log_message(self, *args):
                pass

        return Handler


def hub_api(loopback: LoopbackHub):
    """An ``HfApi`` with huggingface_hub's real method signatures (``create_autospec``: a call
    with a misspelled, missing or removed argument raises ``TypeError`` as the real client would)
    whose ``upload_folder`` commits the folder's files into the loopback Hub and answers the
    real ``CommitInfo``."""
    api = create_autospec(HfApi, instance=True)

    def upload_folder(*, repo_id, folder_path, commit_message=None, **kwargs):
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir() if p.is_file()}
        sha = loopback.commit(repo_id, files)
        return CommitInfo(
            commit_url=f"{loopback.endpoint}/{repo_id}/commit/{sha}",
            commit_message=commit_message,
            commit_description="",
            oid=sha,
            _endpoint=loopback.endpoint,
        )

    api.upload_folder.side_effect = upload_folder
    return api


@pytest.fixture(scope="module")
def loopback():
    server = LoopbackHub()
    yield server
    server.server.shutdown()


@pytest.fixture(autouse=True)
def hf_env(loopback, tmp_path, monkeypatch):
    """huggingface_hub pointed at the loopback server, its cache and catalog in tmp_path
    (constants are read at import time, so they are patched too)."""
    cache = tmp_path / "hf-cache"
    for key, value in {
        "HF_ENDPOINT": loopback.endpoint,
        "HF_HUB_CACHE": str(cache),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", loopback.endpoint)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        loopback.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(catalog, "CATALOG_PATH", tmp_path / "catalog.json")
    monkeypatch.setattr(catalog, "PRETRAINED_DIR", tmp_path / "pretrained")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a busy shared CPU
    yield cache
    torch.set_num_threads(threads)


def _folder(path: Path, **kwargs) -> tuple[Path, torch.nn.Module]:
    G = registry.get("generator", "sndcgan32")(width=0.0625, **kwargs)
    G.train()
    with torch.no_grad():
        G(torch.randn(4, G.z_dim), torch.arange(4) % 10 if G.num_classes else None)
    G.eval()
    return zoo.save_pretrained(G, path, name="tiny"), G


def _upload(loopback: LoopbackHub, repo_id: str, folder: Path, branch="main") -> str:
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    return loopback.commit(repo_id, files, branch)


def _same_images(a, b) -> bool:
    return torch.equal(a.sample(3, seed=0), b.sample(3, seed=0))


# --- hf-hub: names ---------------------------------------------------------------------------


def test_parse_hub_name():
    assert hub.parse_hub_name("hf-hub:org/repo") == ("org/repo", None)
    assert hub.parse_hub_name("hf-hub:org/repo@v1.0") == ("org/repo", "v1.0")
    assert hub.parse_hub_name("hf_hub:org/repo@" + "a" * 40) == ("org/repo", "a" * 40)
    for bad in ("hf-hub:repo", "hf-hub:org/repo@a@b", "hf-hub:/repo"):
        with pytest.raises(ValueError, match="hf-hub:ORG/NAME"):
            hub.parse_hub_name(bad)


def test_hf_hub_name_with_revision_loads_through_the_endpoint(loopback, tmp_path, hf_env):
    first, G1 = _folder(tmp_path / "one")
    second, G2 = _folder(tmp_path / "two", norm="bn")
    sha1 = _upload(loopback, "org/tiny-rev", first)
    sha2 = _upload(loopback, "org/tiny-rev", second)  # main moves on
    old = zoo.load(f"hf-hub:org/tiny-rev@{sha1}")
    assert _same_images(old, G1) and old.config["norm"] == "sbn"
    assert old.checkpoint_info["revision"] == sha1 and not old.training
    latest = zoo.load("hf-hub:org/tiny-rev")
    assert _same_images(latest, G2) and latest.config["norm"] == "bn"
    assert zoo.load("hf-hub:org/tiny-rev", revision=sha2).config["norm"] == "bn"
    assert (hf_env / "models--org--tiny-rev" / "snapshots" / sha1 / MODEL_FILE).exists()
    assert zoo.create("hf-hub:org/tiny-rev", width=0.125).config["width"] == 0.125
    with pytest.raises(ValueError, match="names revision"):
        zoo.load(f"hf-hub:org/tiny-rev@{sha1}", revision=sha2)


def test_hub_errors_say_what_is_wrong(loopback, tmp_path):
    with pytest.raises(zoo.WeightsNotAvailableError, match="does not exist or is private"):
        zoo.load("hf-hub:org/nothing-here")
    folder, _ = _folder(tmp_path / "f")
    (folder / MODEL_FILE).unlink()
    _upload(loopback, "org/no-weights", folder)
    with pytest.raises(zoo.CheckpointError, match=r"has no model\.safetensors"):
        zoo.load("hf-hub:org/no-weights")
    with pytest.raises(zoo.WeightsNotAvailableError, match="no revision 'v9'"):
        zoo.load("hf-hub:org/no-weights@v9")


# --- the offline cache ----------------------------------------------------------------------


def test_offline_loads_from_the_cache_and_names_what_to_download(loopback, tmp_path, monkeypatch):
    folder, G = _folder(tmp_path / "f")
    sha = _upload(loopback, "org/cached", folder)
    hf_hub_download("org/cached", CONFIG_FILE)  # fill the cache through the endpoint
    hf_hub_download("org/cached", MODEL_FILE)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    seen = len(loopback.requests)
    assert _same_images(zoo.load("hf-hub:org/cached"), G)  # main, through refs/main
    assert _same_images(zoo.load(f"hf-hub:org/cached@{sha}"), G)
    assert len(loopback.requests) == seen  # nothing went to the server

    _upload(loopback, "org/not-cached", folder)
    with pytest.raises(zoo.WeightsNotAvailableError) as info:
        zoo.load("hf-hub:org/not-cached@v2")
    message = str(info.value)
    assert "hf download org/not-cached config.json model.safetensors --revision v2" in message
    assert "HF_HUB_OFFLINE" in message and "not in the Hugging Face cache" in message


def _lay_out_cache(cache: Path, repo_id: str, revision: str, folder: Path) -> Path:
    """The cache as huggingface_hub writes it: blobs named by ETag, snapshot symlinks, refs."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for file in (CONFIG_FILE, MODEL_FILE):
        data = (folder / file).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / file)
    return snapshot


def test_catalog_entry_from_a_prefilled_cache_offline(tmp_path, monkeypatch, hf_env):
    folder, G = _folder(tmp_path / "f")
    revision = "c" * 40
    _lay_out_cache(hf_env, "selfmod-zoo/tiny", revision, folder)
    fields = dict(architecture="sndcgan32", model_args=G.config, repo_id="selfmod-zoo/tiny")
    catalog.update_entry(
        "tiny",
        status="published",
        revision=revision,
        sha256=sha256_file(folder / MODEL_FILE),
        **fields,
    )
    catalog.update_entry(
        "other",
        status="published",
        revision="d" * 40,
        sha256="0" * 64,
        **{**fields, "repo_id": "selfmod-zoo/other"},
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    loaded = zoo.load("tiny")
    assert _same_images(loaded, G)
    assert loaded.checkpoint_info["revision"] == revision
    assert zoo.list_models(pretrained=True) == ["other", "tiny"]
    with pytest.raises(zoo.WeightsNotAvailableError) as info:
        zoo.load("other")
    assert f"hf download selfmod-zoo/other config.json model.safetensors --revision {'d' * 40}" in (
        str(info.value)
    )


def test_cached_file_with_another_sha256_is_refused(tmp_path, monkeypatch, hf_env):
    folder, G = _folder(tmp_path / "f")
    revision = "e" * 40
    _lay_out_cache(hf_env, "selfmod-zoo/tiny", revision, folder)
    pinned = "1" * 64
    catalog.update_entry(
        "tiny",
        status="published",
        revision=revision,
        sha256=pinned,
        architecture="sndcgan32",
        model_args=G.config,
        repo_id="selfmod-zoo/tiny",
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(zoo.ChecksumError) as info:
        zoo.load("tiny")
    message = str(info.value)
    assert pinned in message and sha256_file(folder / MODEL_FILE) in message
    assert "hf cache rm model/selfmod-zoo/tiny" in message
    # the same repo@revision through an hf-hub: name is checked against the catalog's pin too,
    # also when no revision is named and the branch resolves to the pinned commit
    for name in (f"hf-hub:selfmod-zoo/tiny@{revision}", "hf-hub:selfmod-zoo/tiny"):
        with pytest.raises(zoo.ChecksumError, match=f"the catalog pins {pinned}"):
            zoo.load(name)
    with pytest.raises(zoo.ChecksumError, match=f"the catalog pins {pinned}"):
        zoo.load("tiny", revision="main")  # a branch name that resolves to the pin


def test_hub_name_resolving_to_the_pinned_commit_is_checked(tmp_path, monkeypatch, hf_env):
    folder, G = _folder(tmp_path / "f")
    revision = "a" * 40
    snapshot = _lay_out_cache(hf_env, "selfmod-zoo/tiny", revision, folder)
    catalog.update_entry(
        "tiny",
        status="published",
        revision=revision,
        sha256=sha256_file(folder / MODEL_FILE),
        architecture="sndcgan32",
        model_args=G.config,
        repo_id="selfmod-zoo/tiny",
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    loaded = zoo.load("hf-hub:selfmod-zoo/tiny")  # main -> the pinned commit: checked, loads
    assert loaded.checkpoint_info["sha256"] == sha256_file(folder / MODEL_FILE)
    assert loaded.checkpoint_info["commit"] == revision
    blob = (snapshot / MODEL_FILE).resolve()
    tampered = _folder(tmp_path / "other", norm="bn")[0] / MODEL_FILE
    blob.write_bytes(tampered.read_bytes())  # a valid file, but not the published one
    with pytest.raises(zoo.ChecksumError, match="catalog pins"):
        zoo.load("hf-hub:selfmod-zoo/tiny")


def test_truncated_file_in_the_cache_says_how_to_redownload(tmp_path, monkeypatch, hf_env):
    folder, _ = _folder(tmp_path / "f")
    snapshot = _lay_out_cache(hf_env, "org/broken", "f" * 40, folder)
    blob = (snapshot / MODEL_FILE).resolve()
    blob.write_bytes(blob.read_bytes()[:1000])
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(zoo.CheckpointError, match="corrupt or truncated") as info:
        zoo.load("hf-hub:org/broken")
    assert str(snapshot / MODEL_FILE) in str(info.value)
    assert "--force-download" in str(info.value)


# --- publishing a real run -------------------------------------------------------------------


publish = importlib.import_module("zoo.cli.publish")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real 2-step run on the synthetic dataset, evaluated (FID on 16 samples with the small
    Fashion-MNIST classifier), so that it has best/ and final/."""
    from zoo.training import train

    root = tmp_path_factory.mktemp("run")
    bindings = {
        "train.dataset": "@dataset.synthetic",
        "dataset.synthetic.num_samples": "32",
        "dataset.synthetic.channels": "1",
        "train.steps": "2",
        "train.batch_size": "8",
        "train.eval_metrics": "['fid']",
        "train.eval_num_samples": "16",
        "train.eval_extractor": "'fashion_classifier'",
        "train.tracker": "None",
        "train.progress": "False",
        "train.output_dir": f"'{root / 'run'}'",
        "train.generator": "@generator.sndcgan32",
        "train.discriminator": "@discriminator.sndcgan32",
        "generator.sndcgan32.norm": "@norm.sbn",
        "generator.sndcgan32.width": "0.0625",
        "discriminator.sndcgan32.width": "0.0625",
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    stats_dir = zoo.evaluation.DEFAULT_CACHE_DIR
    zoo.evaluation.DEFAULT_CACHE_DIR = root / "stats"  # keep the real-data statistics here
    try:
        config = zoo.parse(bindings=[f"{k} = {v}" for k, v in bindings.items()])
        train(gin_config=config)
    finally:
        zoo.evaluation.DEFAULT_CACHE_DIR = stats_dir
        torch.set_num_threads(threads)
    return root / "run"


def test_dry_run_builds_the_exact_folder(tiny_run, tmp_path):
    out = tmp_path / "export"
    argv = [str(tiny_run), "--repo-id", "selfmod-zoo/tiny", "--dry-run", "--out", str(out)]
    assert publish.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "discriminator.safetensors",
        "model.safetensors",
        "samples.png",
        "training_curve.png",
    ]

    config = json.loads((out / CONFIG_FILE).read_text())
    best = json.loads((tiny_run / "best" / CONFIG_FILE).read_text())
    assert config["architecture"] == "sndcgan32" and config["model_args"]["width"] == 0.0625
    assert config["discriminator"]["architecture"] == "sndcgan32"
    assert config["gin_config"] == (tiny_run / "config.gin").read_text()
    assert config["metrics"] == best["metrics"] and "fid" in config["metrics"]
    assert config["dataset"] == "synthetic" and config["eval_extractor"] == "fashion_classifier"

    card = ModelCard.load(out / "README.md")
    header = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    fid = header["model-index"][0]["results"][0]["metrics"][0]
    assert fid["type"] == "fid" and fid["value"] == pytest.approx(best["metrics"]["fid"])
    assert card.data.eval_results[0].metric_type == "fid"
    assert card.data.library_name == "selfmod-zoo"
    for text in (
        "samples.png",
        "Chen",
        'zoo.load("hf-hub:selfmod-zoo/tiny")',
        "running statistics",
        "train.steps = 2",
    ):
        assert text in card.text, text

    from PIL import Image

    with Image.open(out / "samples.png") as image:
        assert image.size == (8 * 32 + 9 * 2, 8 * 32 + 9 * 2)  # 8x8 grid, 2 px padding

    entry = catalog.get_entry("tiny")
    assert entry.status == "unpublished" and entry.revision is None
    assert entry.sha256 == sha256_file(out / MODEL_FILE)
    assert entry.gin_config == config["gin_config"] and entry.metrics == config["metrics"]
    assert "tiny" not in zoo.list_models(pretrained=True)
    loaded = zoo.load(out)
    trained = zoo.load(tiny_run / "best")  # the trainer's own folder loads as well
    assert _same_images(loaded, trained)
    D = zoo.model_folder.load_discriminator(out, "")
    assert D.num_classes == 0


def test_publish_uploads_pins_the_commit_and_loads_by_name(
    tiny_run, tmp_path, loopback, monkeypatch
):
    api = hub_api(loopback)
    monkeypatch.setattr(hub, "HfApi", lambda: api)
    catalog.update_entry(
        "selfmod-tiny",
        status="recipe",
        architecture="sndcgan32",
        model_args={},
        repo_id="selfmod-zoo/placeholder",
        gin_file="gin/quickstart.gin",
        description="width 0.25, 3000 steps",  # an older model's: replaced, not kept
    )
    out = tmp_path / "export"
    argv = [str(tiny_run), "--repo-id", "org/selfmod-tiny", "--from", "final", "--out", str(out)]
    assert publish.main(argv) == 0
    assert api.method_calls == [
        call.create_repo("org/selfmod-tiny", repo_type="model", private=None, exist_ok=True),
        call.upload_folder(
            repo_id="org/selfmod-tiny",
            folder_path=str(out),
            repo_type="model",
            commit_message="Upload export with selfmod-zoo",
        ),
    ]
    commit = loopback.repos["org/selfmod-tiny"]["refs"]["main"]
    uploaded = loopback.repos["org/selfmod-tiny"]["commits"][commit]
    assert sorted(uploaded) == sorted(p.name for p in out.iterdir())
    assert uploaded[MODEL_FILE] == (out / MODEL_FILE).read_bytes()

    entry = catalog.get_entry("selfmod-tiny")
    assert entry.status == "published" and entry.revision == commit
    assert entry.repo_id == "org/selfmod-tiny" and entry.gin_file == "gin/quickstart.gin"
    assert entry.sha256 == sha256_file(out / MODEL_FILE)
    assert entry.metrics == {"step": 2}
    assert entry.description == (
        "Self-modulated (sbn) sndcgan32 GAN generator of width 0.0625 on synthetic: "
        "the run's final weights at step 2."
    )
    assert zoo.list_models(pretrained=True) == ["selfmod-tiny"]

    G = zoo.load("selfmod-tiny")
    assert G.checkpoint_info["revision"] == commit and G.checkpoint_info["sha256"] == entry.sha256
    assert _same_images(G, zoo.load(tiny_run / "final"))


def test_the_catalog_names_the_gin_file_the_run_was_trained_from(tmp_path):
    """publish records the gin file of the run's recorded commands (``--gin PATH``) when they
    name one file of this checkout, whatever the working directory's spelling of it."""
    zoo_gin = "gin/zoo/selfmod-sndcgan-fashion_mnist.gin"

    def trained_from(*commands: str) -> str | None:
        record = {"sessions": [{"command": command} for command in commands]}
        (tmp_path / STATUS_FILE).write_text(json.dumps(record))
        return publish.trained_gin_file(tmp_path)

    resumed = f"python scripts/train.py --gin {zoo_gin} --bind 'train.progress = False'"
    assert trained_from(f"python scripts/train.py --gin {zoo_gin}", resumed) == zoo_gin
    absolute = GIN_DIR.parent / zoo_gin
    assert trained_from(f"accelerate launch scripts/train.py --gin {absolute}") == zoo_gin
    assert trained_from("python scripts/train.py") is None  # no file named
    assert trained_from(f"python scripts/train.py --gin {zoo_gin} --gin gin/quickstart.gin") is None
    (tmp_path / "mine.gin").write_text("train.steps = 2\n")
    assert (
        trained_from(f"python scripts/train.py --gin {tmp_path / 'mine.gin'}") is None
    )  # elsewhere
    assert trained_from("python scripts/train.py --gin gin/no_such.gin") is None


def test_push_folder_creates_the_repo_and_returns_the_commit_to_pin(loopback, tmp_path):
    """push_folder against HfApi's real signatures: the repo is created (private as asked, no
    error when it exists), the folder goes up in one commit with the given message, and the
    returned revision is that commit, the one the Hub serves the files at."""
    folder, G = _folder(tmp_path / "f")
    api = hub_api(loopback)
    sha = hub.push_folder(folder, "org/pushed", private=True, commit_message="v1", api=api)
    assert api.method_calls == [
        call.create_repo("org/pushed", repo_type="model", private=True, exist_ok=True),
        call.upload_folder(
            repo_id="org/pushed", folder_path=str(folder), repo_type="model", commit_message="v1"
        ),
    ]
    assert sha == loopback.repos["org/pushed"]["refs"]["main"]
    assert _same_images(zoo.load(f"hf-hub:org/pushed@{sha}"), G)


def test_publish_ship_copies_the_generator_into_the_package(tiny_run, tmp_path, monkeypatch):
    from huggingface_hub import constants as hub_constants

    out = tmp_path / "export"
    argv = [
        str(tiny_run),
        "--repo-id",
        "selfmod-zoo/selfmod-sndcgan-synthetic",
        "--ship",
        "--dry-run",
        "--out",
        str(out),
    ]
    assert publish.main(argv) == 0
    shipped = catalog.PRETRAINED_DIR / "selfmod-sndcgan-synthetic"
    assert sorted(p.name for p in shipped.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "samples.png",
        "training_curve.png",
    ]
    entry = catalog.get_entry("selfmod-sndcgan-synthetic")
    assert entry.status == "shipped" and entry.is_shipped_here and entry.revision is None
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    G = zoo.load("selfmod-sndcgan-synthetic")
    assert G.checkpoint_info["source"] == "shipped"
    assert G.sample(2, seed=0).shape == (2, 1, 32, 32)


def test_float16_weights_halve_the_file_and_record_how_far_the_samples_move(tiny_run, tmp_path):
    from safetensors.torch import load_file

    name = "selfmod-sndcgan-half"
    half, full = tmp_path / "half", tmp_path / "full"
    common = ["--repo-id", f"selfmod-zoo/{name}", "--dry-run", "--no-discriminator"]
    assert publish.main([str(tiny_run), *common, "--out", str(full)]) == 0
    argv = [str(tiny_run), *common, "--out", str(half), "--weights-dtype", "float16", "--ship"]
    assert publish.main(argv) == 0

    tensors = load_file(str(half / MODEL_FILE))
    assert {t.dtype for t in tensors.values()} == {torch.float16, torch.int64}  # BN's counters
    assert (half / MODEL_FILE).stat().st_size < 0.6 * (full / MODEL_FILE).stat().st_size
    assert catalog.get_entry(name).sha256 == sha256_file(half / MODEL_FILE)

    trained, shipped = zoo.load(tiny_run / "best"), zoo.load(name)
    for (key, value), loaded in zip(
        trained.state_dict().items(), shipped.state_dict().values(), strict=True
    ):
        assert loaded.dtype == value.dtype, key  # loads into the float32 model
        assert torch.equal(loaded, value.half().to(value.dtype)), key
    moved = (shipped.sample(1000, seed=0) - trained.sample(1000, seed=0)).abs().max().item()
    weights = json.loads((half / CONFIG_FILE).read_text())["weights"]
    assert weights["dtype"] == "float16" and weights["trained_dtype"] == "float32"
    assert weights["samples_compared"] == 1000
    assert weights["max_abs_difference"] == pytest.approx(moved) and 0 < moved < 0.05
    assert 0 <= weights["pixel_values_changed"] < 0.5
    card = (catalog.PRETRAINED_DIR / name / "README.md").read_text()
    assert "stored in float16, rounded from the float32" in card
    assert f"no pixel moves by more than\n{moved:.3g} in [-1, 1]" in card
    assert "weights" not in json.loads((full / CONFIG_FILE).read_text())


def test_an_unknown_weights_dtype_is_refused(tiny_run, tmp_path):
    from zoo.export import export_run

    with pytest.raises(ValueError, match="'int8' is not one of float32, float16, bfloat16"):
        export_run(tiny_run, tmp_path / "out", weights_dtype="int8")
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_publish_refuses_a_run_without_best(tmp_path, capsys):
    (tmp_path / "run" / "final").mkdir(parents=True)
    assert publish.main([str(tmp_path / "run"), "--repo-id", "o/x", "--dry-run"]) == 1
    assert "--from final" in capsys.readouterr().err


def test_the_trainer_writes_best_and_final_as_model_folders(tiny_run):
    """One format: RUN/best and RUN/final are what save_pretrained writes (no card yet), with
    the run's gin config, and load as they are."""
    for which in ("best", "final"):
        folder = tiny_run / which
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json",
            "discriminator.safetensors",
            "model.safetensors",
        ]
        config = json.loads((folder / CONFIG_FILE).read_text())
        assert config["format"] == "selfmod-zoo" and config["architecture"] == "sndcgan32"
        assert config["gin_config"] == (tiny_run / "config.gin").read_text()
        assert config["dataset"] == "synthetic" and config["discriminator"] is not None
    assert json.loads((tiny_run / "final" / CONFIG_FILE).read_text())["metrics"] == {"step": 2}
    # evaluated only at the end: best/ is the step-2 model, as final/ is
    assert _same_images(zoo.load(tiny_run / "best"), zoo.load(tiny_run / "final"))
