"""The prepared uint8 cache: item for item the streaming path's images, the same training, the
refusals, resuming, corrupt images, the command; and the shared transform leaving
Fashion-MNIST's 32 px items as they were. Small files written in tmp_path."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import datasets as hf
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import zoo
from registry import datasets as D
from registry.datasets import prepared_writer
from zoo.cli.prepare_data import main as prepare_main
from zoo.training import train
from zoo.training.data import EpochBatches, real_batches, resolve_workers

# --------------------------------------------------------------------------------------------
# Data made in the test
# --------------------------------------------------------------------------------------------


def _photo(rng: np.random.Generator, height: int, width: int, gray: bool) -> Image.Image:
    """A smooth picture with noise (JPEG-like content), RGB or gray."""
    coarse = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    smooth = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    noisy = np.asarray(smooth, dtype=np.int16) + rng.integers(-20, 21, (height, width, 3))
    image = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))
    return image.convert("L") if gray else image


def _folder(root: Path, count: int = 24, seed: int = 0) -> Path:
    """JPEGs and PNGs of mixed sizes (smaller and larger than 32, one exactly 32), gray and
    RGB, in two class folders."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        height, width = (32, 32) if i == 5 else rng.integers(12, 90, 2)
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ("png", "jpg")[i % 2]
        _photo(rng, height, width, gray=i % 3 == 0).save(folder / f"{i:03d}.{suffix}")
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _folder(tmp_path / "photos")


def _items(ds: D.ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ds[i] for i in range(len(ds))]
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def _assert_same_items(a: D.ImageDataset, b: D.ImageDataset) -> None:
    assert len(a) == len(b)
    for key in ("name", "split", "resolution", "channels", "num_classes"):
        assert getattr(a, key) == getattr(b, key), key
    (xa, ya), (xb, yb) = _items(a), _items(b)
    assert xa.dtype == xb.dtype == torch.float32 and ya.dtype == yb.dtype == torch.int64
    assert torch.equal(xa, xb) and torch.equal(ya, yb)


# --------------------------------------------------------------------------------------------
# The shared transform
# --------------------------------------------------------------------------------------------


def _idx(array: np.ndarray) -> bytes:
    return struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape) + array.tobytes()


def _old_fashion_mnist(images: np.ndarray, channels: int) -> torch.Tensor:
    """The items as Fashion-MNIST gave them before the uint8 transform: scaled to [-1, 1]
    in float, then padded with -1 to 32x32."""
    scaled = torch.from_numpy(images).float()[:, None] / 127.5 - 1.0
    return F.pad(scaled, (2, 2, 2, 2), value=-1.0).expand(-1, channels, -1, -1)


def _check_fashion_mnist(root: Path | None, images: np.ndarray, step: int = 1) -> None:
    for channels in (1, 3):
        ds = D.fashion_mnist(root=root, channels=channels)
        picked = range(0, len(ds), step)
        new = torch.stack([ds[i][0] for i in picked])
        assert torch.equal(new, _old_fashion_mnist(images[::step], channels)), channels


def test_fashion_mnist_32px_items_are_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    images[:, :3] = 0  # the background
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
    labels = rng.integers(0, 10, 50).astype(np.uint8)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))
    _check_fashion_mnist(tmp_path, images)


@pytest.mark.skipif(
    not D.FASHION_MNIST_DEFAULT_DIR.is_dir(), reason="dataset-fashion-mnist not installed"
)
def test_installed_fashion_mnist_32px_items_are_unchanged(monkeypatch):
    monkeypatch.delenv(D.FASHION_MNIST_ENV, raising=False)
    images = D.read_idx(D.FASHION_MNIST_DEFAULT_DIR / "train-images-idx3-ubyte.gz", 3)
    _check_fashion_mnist(None, images, step=29)


def test_transform_ends_in_uint8_levels(folder):
    """Streamed images lie on uint8 levels (resized by PIL, not between levels in float)."""
    images, _ = _items(D.image_folder(folder, resolution=16, prepared=False))
    levels = ((images + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(D.transforms.to_unit_range(levels), images)
    assert images.shape == (24, 3, 16, 16)


# --------------------------------------------------------------------------------------------
# Cache against streaming
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("resolution", "channels"), [(32, 3), (16, 1)])
def test_cache_equals_streaming_for_a_folder(folder, tmp_path, resolution, channels):
    streamed = D.image_folder(folder, resolution=resolution, channels=channels, prepared=False)
    manifest = D.prepare(streamed, tmp_path / "cache", workers=1, chunk_size=5, progress=False)
    assert manifest["images"] == manifest["count"] == 24 and manifest["skipped"] == []
    cached = D.prepared(tmp_path / "cache", resolution=resolution, channels=channels)
    _assert_same_items(streamed, cached)
    assert cached.classes == streamed.classes == ["cat", "dog"]
    through_factory = D.image_folder(
        folder, resolution=resolution, channels=channels, prepared=tmp_path / "cache"
    )
    assert isinstance(through_factory, D.PreparedImageDataset)
    _assert_same_items(streamed, through_factory)


def test_cache_next_to_the_data_is_found(folder):
    streamed = D.image_folder(folder, resolution=16)
    assert not isinstance(streamed, D.PreparedImageDataset)  # nothing prepared yet
    root = D.default_cache_root(streamed)
    assert root == folder.parent / "photos.prepared" / "16px_3ch"
    D.prepare(streamed, root, workers=2, chunk_size=4, progress=False)  # in 2 processes
    found = D.image_folder(folder, resolution=16)
    assert isinstance(found, D.PreparedImageDataset) and found.folder == root / "train"
    _assert_same_items(streamed, found)
    assert not isinstance(D.image_folder(folder, resolution=32), D.PreparedImageDataset)


def _hf_photos(count: int, seed: int) -> hf.Dataset:
    rng = np.random.default_rng(seed)
    sizes = [(int(h), int(w)) for h, w in rng.integers(20, 70, (count, 2))]
    images = [_photo(rng, h, w, gray=i % 4 == 0) for i, (h, w) in enumerate(sizes)]
    features = hf.Features({"img": hf.Image(), "label": hf.ClassLabel(num_classes=10)})
    return hf.Dataset.from_dict({"img": images, "label": [i % 10 for i in range(count)]}, features)


def test_cache_equals_streaming_for_a_datasets_dataset(tmp_path):
    data = tmp_path / "cifar"
    hf.DatasetDict({"train": _hf_photos(20, 0), "test": _hf_photos(6, 1)}).save_to_disk(data)
    for split in ("train", "test"):
        streamed = D.cifar10(split=split, data_dir=data, prepared=False)
        D.prepare(streamed, D.default_cache_root(streamed), workers=1, progress=False)
        found = D.cifar10(split=split, data_dir=data)
        assert isinstance(found, D.PreparedImageDataset)
        _assert_same_items(streamed, found)
    assert (tmp_path / "cifar.prepared" / "32px_3ch" / "test" / "manifest.json").is_file()


def test_cache_batches_follow_the_dataloader_order(folder, tmp_path):
    """The trainer's lookups give the DataLoader's batches over the same sampler, bit for bit."""
    streamed = D.image_folder(folder, resolution=16, prepared=False)
    D.prepare(streamed, tmp_path / "cache", workers=1, progress=False)
    cached = D.prepared(tmp_path / "cache")
    args = (torch.device("cpu"), torch.channels_last, None, 0)
    sampler = EpochBatches(len(streamed), 5, seed=3, rank=0, world=1, start=2)
    lookups, reading = real_batches(cached, sampler, *args)
    loaded, streaming = real_batches(streamed, sampler, *args)
    assert reading.startswith("prepared cache") and streaming == "streamed (0 workers)"
    for _ in range(9):  # across an epoch boundary (4 batches per epoch)
        (x, y), (x2, y2) = next(lookups), next(loaded)
        assert torch.equal(x, x2) and torch.equal(y, y2)
        assert x.is_contiguous(memory_format=torch.channels_last)


def _tiny_training(out: Path, root: Path, **extra: str) -> list[str]:
    bindings = {
        "train.dataset": "@dataset.image_folder",
        "dataset.image_folder.root": f"'{root}'",
        "train.generator": "@generator.sndcgan32",
        "train.discriminator": "@discriminator.sndcgan32",
        "generator.sndcgan32.width": "0.0625",
        "discriminator.sndcgan32.width": "0.0625",
        "train.steps": "3",
        "train.batch_size": "8",
        "train.disc_iters": "2",
        "train.data_in_memory": "False",
        "train.eval_metrics": "[]",
        "train.tracker": "None",
        "train.progress": "False",
        "train.output_dir": f"'{out}'",
        **extra,
    }
    return [f"{k} = {v}" for k, v in bindings.items()]


def test_training_from_the_cache_equals_streaming(folder, tmp_path, capsys):
    """Same seed: the run reading the cache ends with bitwise the weights of the run decoding
    the files (3 G steps, 2 D steps each, over two epochs of 24 images)."""
    D.prepare(D.image_folder(folder, prepared=False), tmp_path / "cache", progress=False)
    runs = []
    for name, prepared in (("streamed", "False"), ("cached", f"'{tmp_path / 'cache'}'")):
        extra = {"dataset.image_folder.prepared": prepared}
        zoo.parse(bindings=_tiny_training(tmp_path / name, folder, **extra))
        runs.append(train())
    out = capsys.readouterr().out
    assert re.search(r"data=streamed \(\d workers\)", out) and "data=prepared cache" in out
    for role in ("generator", "discriminator"):
        a, b = (getattr(run, role).state_dict() for run in runs)
        for key in a:
            assert torch.equal(a[key], b[key]), f"{role}.{key}"


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cache(folder: Path, tmp_path: Path) -> Path:
    """``folder`` prepared at 32 px, RGB, into ``tmp_path/cache``."""
    source = D.image_folder(folder, prepared=False)
    D.prepare(source, tmp_path / "cache", workers=1, chunk_size=8, made_by="cmd", progress=False)
    return tmp_path / "cache"


def _refusal(call, *words: str) -> str:
    with pytest.raises((D.PreparedCacheError, D.DatasetNotFoundError)) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_refuses_another_resolution(folder, cache):
    rebuild = f"selfmod-prepare-data --gin CONFIG --split train --out {cache} --overwrite"
    for call in (
        lambda: D.image_folder(folder, resolution=16, prepared=cache),
        lambda: D.prepared(cache, resolution=16),
    ):
        _refusal(call, "resolution is 32 in the cache, 16 asked", rebuild, "made by `cmd`")
    _refusal(lambda: D.prepared(cache, channels=1), "channels is 3 in the cache, 1 asked")


def test_refuses_another_transform_version(cache):
    manifest_path = cache / "train" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "transform_version": 0}))
    _refusal(lambda: D.prepared(cache), "transform version is 0 in the cache, 1 asked", "rebuild")


def test_refuses_a_truncated_file(cache):
    images = cache / "train" / "images.npy"
    images.write_bytes(images.read_bytes()[:-100])
    _refusal(lambda: D.prepared(cache), "images.npy is truncated", "--overwrite")


def test_refuses_a_changed_image_count(folder, cache):
    _photo(np.random.default_rng(1), 40, 40, gray=False).save(folder / "cat" / "new.png")
    call = lambda: D.image_folder(folder, prepared=cache)  # noqa: E731
    _refusal(call, "image count of the source is 24 in the cache, 25 asked", "rebuild")


def test_refuses_other_files_and_a_changed_checksum(folder, cache):
    (folder / "cat" / "001.jpg").rename(folder / "cat" / "001b.jpg")  # same count, other files
    _refusal(lambda: D.image_folder(folder, prepared=cache), "image files are not those")
    images = np.load(cache / "train" / "images.npy", mmap_mode="r+")
    images[3, 0, 0, 0] ^= 1
    images.flush()
    assert len(D.prepared(cache)) == 24  # the sizes still fit; only verify reads the bytes
    _refusal(lambda: D.prepared(cache, verify=True), "checksum differs")


def test_missing_and_incomplete_caches_say_how_to_make_them(folder, tmp_path, monkeypatch):
    _refusal(
        lambda: D.prepared(tmp_path / "none", split="test"), "no prepared cache", "--split test"
    )
    monkeypatch.setattr(prepared_writer, "_write_chunk", _interrupt_after(1))
    with pytest.raises(KeyboardInterrupt):
        D.prepare(
            D.image_folder(folder, prepared=False), tmp_path / "half", workers=1, chunk_size=8
        )
    _refusal(lambda: D.prepared(tmp_path / "half"), "incomplete (1 chunks written)", "resume")


def test_preparing_refuses_a_folder_that_is_not_a_cache(folder, tmp_path):
    (tmp_path / "out" / "train").mkdir(parents=True)
    (tmp_path / "out" / "train" / "notes.txt").write_text("mine")
    source = D.image_folder(folder, prepared=False)
    _refusal(lambda: D.prepare(source, tmp_path / "out", progress=False), "notes.txt")
    assert (tmp_path / "out" / "train" / "notes.txt").read_text() == "mine"


def test_preparing_refuses_a_disk_too_small(folder, tmp_path, monkeypatch):
    """24 images of 3x32x32 and their labels need 73,920 bytes: refused with 70,000 free."""
    import shutil

    free = shutil.disk_usage(tmp_path)._replace(free=70_000)
    monkeypatch.setattr(prepared_writer.shutil, "disk_usage", lambda path: free)
    source = D.image_folder(folder, prepared=False)
    call = lambda: D.prepare(source, tmp_path / "c", progress=False)  # noqa: E731
    _refusal(call, "need 73.9 kB but 70.0 kB are free", "--out on another disk")
    monkeypatch.setattr(
        prepared_writer.shutil, "disk_usage", lambda path: free._replace(free=73_920)
    )
    assert D.prepare(source, tmp_path / "c", progress=False)["images"] == 24


# --------------------------------------------------------------------------------------------
# Resuming and corrupt images
# --------------------------------------------------------------------------------------------


def _interrupt_after(chunks: int):
    """``_write_chunk`` that is interrupted (Ctrl-C) when it starts chunk number ``chunks``."""
    original, calls = prepared_writer._write_chunk, []

    def write(chunk: int):
        calls.append(chunk)
        if len(calls) > chunks:
            raise KeyboardInterrupt
        return original(chunk)

    return write


def test_an_interrupted_preparation_resumes_to_the_same_cache(folder, tmp_path, monkeypatch):
    source, write_chunk = D.image_folder(folder, prepared=False), prepared_writer._write_chunk
    straight = D.prepare(source, tmp_path / "straight", workers=1, chunk_size=5, progress=False)
    monkeypatch.setattr(prepared_writer, "_write_chunk", _interrupt_after(2))
    with pytest.raises(KeyboardInterrupt):
        D.prepare(source, tmp_path / "resumed", workers=1, chunk_size=5, progress=False)
    log = tmp_path / "resumed" / "train" / "chunks.jsonl"
    assert len(log.read_text().splitlines()) == 2
    with open(log, "a") as handle:
        handle.write('{"chunk": 4, "dig')  # a line cut short by a kill
    written = []
    monkeypatch.setattr(
        prepared_writer, "_write_chunk", lambda c: written.append(c) or write_chunk(c)
    )
    resumed = D.prepare(source, tmp_path / "resumed", workers=1, chunk_size=99, progress=False)
    assert written == [2, 3, 4], "only the chunks not logged are written again"
    assert resumed["checksum"] == straight["checksum"] and resumed["chunk_size"] == 5
    for name in ("images.npy", "labels.npy"):
        a, b = (tmp_path / w / "train" / name for w in ("straight", "resumed"))
        assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in (tmp_path / "resumed" / "train").iterdir()) == [
        "images.npy",
        "labels.npy",
        "manifest.json",
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_corrupt_image_is_named_or_skipped(folder, tmp_path, workers):
    bad = folder / "dog" / "004.png"  # index 14: cat's 12 files come first
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    source = D.image_folder(folder, prepared=False)
    with pytest.raises(D.CorruptDatasetError) as info:
        D.prepare(source, tmp_path / "cache", workers=workers, chunk_size=4, progress=False)
    assert f"{bad} (index 14) cannot be decoded" in str(info.value)
    assert "--skip-corrupt" in str(info.value)
    log = (tmp_path / "cache" / "train" / "chunks.jsonl").read_text().splitlines()
    logged = sorted(json.loads(line)["chunk"] for line in log)
    assert logged[:3] == [0, 1, 2] and 3 not in logged  # kept for the rerun
    manifest = D.prepare(
        source, tmp_path / "cache", workers=1, skip_corrupt=True, progress=False
    )  # resumes from chunk 3, skipping the image
    assert manifest["images"] == 23 and manifest["count"] == 24
    assert [(s["index"], s["origin"]) for s in manifest["skipped"]] == [(14, str(bad))]
    cached = D.prepared(tmp_path / "cache", verify=True)
    assert len(cached) == 23
    kept = [i for i in range(24) if i != 14]
    for j in (0, 13, 14, 22):
        x, y = cached[j]
        x2, y2 = source[kept[j]]
        assert torch.equal(x, x2) and torch.equal(y, y2)


# --------------------------------------------------------------------------------------------
# The command, and the workers setting
# --------------------------------------------------------------------------------------------


def test_the_command_prepares_what_the_training_config_names(folder, tmp_path, capsys):
    config = tmp_path / "photos.gin"
    config.write_text(
        "include 'quickstart.gin'\n"
        "train.dataset = @dataset.image_folder\n"
        f"dataset.image_folder.root = '{folder}'\n"
    )
    argv = ["--gin", str(config), "--bind", "dataset.image_folder.channels = 1", "--no-progress"]
    assert prepare_main([*argv, "--workers", "2", "--chunk-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "prepared: 24 images of image_folder_photos train at 32px, 1 channels" in out
    assert "dataset.image_folder finds it by itself" in out
    found = D.image_folder(folder, channels=1)
    assert found.manifest["made_by"].startswith("selfmod-prepare-data --gin")
    _assert_same_items(D.image_folder(folder, channels=1, prepared=False), found)
    assert prepare_main([*argv, "--out", str(tmp_path / "elsewhere"), "--split", "test"]) == 1
    assert "error: image_folder: no 'test' folder" in capsys.readouterr().err
    assert prepare_main(["--gin", "quickstart.gin", "--bind", "train.dataset = @dataset.synthetic",
                         "--out", str(tmp_path / "s")]) == 1  # fmt: skip
    assert "synthetic" in capsys.readouterr().err


def test_auto_workers(folder):
    """``auto``: none for data held in memory as tensors, the cores minus one (at most 8) for
    data decoded per item."""
    files, tensors = D.image_folder(folder, prepared=False), D.synthetic(num_samples=8)
    assert resolve_workers("auto", tensors) == 0
    assert resolve_workers("auto", files) == min(8, len(os.sched_getaffinity(0)) - 1)
    assert resolve_workers(3, tensors) == 3
    with pytest.raises(ValueError, match="'auto'"):
        resolve_workers("many", files)
    from zoo.training.preflight import active_settings

    bound = ["train.dataset = @dataset.synthetic", "train.generator = @generator.sndcgan32"]
    bound.append("train.discriminator = @discriminator.sndcgan32")
    zoo.parse(bindings=bound)
    assert active_settings().num_workers == "auto"  # the default is a valid setting
    zoo.parse(bindings=[*bound, "train.num_workers = 'lots'"])
    with pytest.raises(zoo.ConfigError, match="num_workers"):
        active_settings()


def test_bench_data_prints_both_paths_and_the_need(capsys):
    from benchmarks.cli import main as bench_main

    argv = ["data", "--images", "40", "--size", "60", "45", "--resolutions", "32", "--rounds", "1"]
    argv += ["--seconds", "0.01", "--batch-size", "8", "--workers", "2", "--storage-images", "64"]
    argv += ["--skip-training"]  # its G steps take seconds
    assert bench_main(argv) == 0
    out = capsys.readouterr().out
    assert "40 JPEGs of 60x45" in out and "| 32 | " in out
    assert "prepare 40 images at 32 px: 1 worker" in out and "2 workers" in out
    assert "| .npy memmap |" in out and "| Arrow |" in out
    assert "batch 64 x disc_iters 2 = 128 real images per G step" in out and "| 10 | 1280 |" in out


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cache_batches_on_the_gpu_equal_streamed_ones(folder, tmp_path):
    """On the GPU the cache's uint8 batches are scaled there, to exactly the CPU's values."""
    streamed = D.image_folder(folder, resolution=16, prepared=False)
    D.prepare(streamed, tmp_path / "cache", workers=1, progress=False)
    cuda, layout = torch.device("cuda"), torch.channels_last
    sampler = EpochBatches(len(streamed), 5, seed=0, rank=0, world=1)
    lookups = real_batches(D.prepared(tmp_path / "cache"), sampler, cuda, layout, None, 0)[0]
    loaded = real_batches(streamed, sampler, cuda, layout, None, 0)[0]
    for _ in range(5):
        (x, y), (x2, y2) = next(lookups), next(loaded)
        assert x.device.type == "cuda" and x.is_contiguous(memory_format=layout)
        assert torch.equal(x, x2) and torch.equal(y, y2)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_process_group_stops_gracefully_with_workers(folder, tmp_path, signum):
    """Ctrl-C in a terminal (SIGINT), or a scheduler (SIGTERM), signals the DataLoader's
    workers too: they leave the stop to the trainer, which finishes its step and checkpoints."""
    from trainer_process import ROOT, train_args, wait_for

    out = tmp_path / "run"
    extra = ["train.dataset = @dataset.image_folder", f"dataset.image_folder.root = '{folder}'"]
    extra += ["dataset.image_folder.prepared = False", "train.data_in_memory = False"]
    extra += ["train.num_workers = 1"]
    command = [sys.executable, "-m", "zoo.cli.train", *train_args(out, 100_000, *extra)]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(out / "checkpoints" / "step_00000002", process)
    os.killpg(process.pid, signum)  # the trainer and its worker, as a terminal's Ctrl-C does
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err and "DataLoader" not in err, err
    assert err.count(f"{signum.name}: finishing this step") == 1, err  # the trainer's alone
    assert re.search(rf"stopped by {signum.name} at step \d+ of 100000: checkpoint", err), err


@pytest.mark.slow
def test_ctrl_c_stops_the_command_and_the_rerun_resumes(tmp_path):
    """Ctrl-C (SIGINT to the process group) stops a preparation in 2 processes with exit 130
    and one line; the same command then writes the rest and gives the images of a straight
    run."""
    from trainer_process import ROOT

    photos = tmp_path / "big"
    rng = np.random.default_rng(0)
    (photos / "x").mkdir(parents=True)
    count = 120  # tens of ms each to decode: the signal lands well before the end, even idle
    for i in range(count):
        _photo(rng, 600, 800, gray=False).save(photos / "x" / f"{i:02d}.png", compress_level=1)
    config = tmp_path / "big.gin"
    config.write_text(
        f"include 'quickstart.gin'\ntrain.dataset = @dataset.image_folder\n"
        f"dataset.image_folder.root = '{photos}'\n"
    )
    argv = ["--gin", str(config), "--workers", "2", "--chunk-size", "1", "--no-progress"]
    command = [sys.executable, "-m", "zoo.cli.prepare_data", *argv, "--out", str(tmp_path / "c")]
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    log = tmp_path / "c" / "train" / "chunks.jsonl"
    while process.poll() is None and not (log.is_file() and log.read_text().count("\n") >= 2):
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted: rerun the same command to resume."
    assert "Traceback" not in err, err
    logged = len(log.read_text().splitlines())
    assert 2 <= logged < count
    assert prepare_main([*argv, "--out", str(tmp_path / "c")]) == 0
    source = D.image_folder(photos, prepared=False)
    D.prepare(source, tmp_path / "s", workers=1, chunk_size=5, progress=False)
    for name in ("images.npy", "labels.npy"):
        assert (tmp_path / "c" / "train" / name).read_bytes() == (
            tmp_path / "s" / "train" / name
        ).read_bytes()
    assert len(D.prepared(tmp_path / "c", verify=True)) == count
