"""``python scripts/bench.py data``: how fast real images reach the trainer.

On a temporary folder of JPEGs the size of ImageNet's (500x375), in one process:

* images/s per core (one thread) of the trainer's two paths (:func:`zoo.training.data.
  real_batches`), side by side in interleaved rounds at 32 and 128 px: streamed (PIL decodes
  and resizes each item in the training process) and prepared (index lookups in the cache's
  memory map);
* the time to prepare the folder with 1 worker process and with ``--workers``;
* the storage formats the cache could use: a ``.npy`` memory map against Arrow (``datasets``
  ``save_to_disk``/``load_from_disk``, a fixed-shape uint8 ``Array3D`` feature), write time
  and random batches read;
* a CPU training step fed by the streamed path with 0 and with cores-1 DataLoader workers
  (what ``train.num_workers = "auto"`` chooses on a CPU);
* what a training step needs: real images per G step (batch x ``disc_iters`` of ``--gin``)
  times G-steps/s (``--g-steps-per-s``, e.g. from ``bench.py step``), in cores of each path.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from benchmarks.photos import write_photos
from benchmarks.setups import FAST, setup_for, setup_from_gin, timed_trainer
from benchmarks.timing import machine
from registry.datasets import image_folder, prepare, prepared, synthetic
from zoo.training import EpochBatches
from zoo.training.data import real_batches

__all__ = ["bench_data"]


def _rate(batches: Iterator, batch_size: int, seconds: float) -> float:
    """Images/s of ``batches`` over at least 2 batches or ``seconds``."""
    start, done = time.perf_counter(), 0
    while done < 2 or time.perf_counter() - start < seconds:
        next(batches)
        done += 1
    return done * batch_size / (time.perf_counter() - start)


def interleaved(streams: dict[str, Iterator], batch_size: int, rounds: int, seconds: float):
    """Median images/s of each stream over interleaved rounds (after one warm-up batch)."""
    for stream in streams.values():
        next(stream)
    rates: dict[str, list[float]] = {name: [] for name in streams}
    for _ in range(rounds):
        for name, stream in streams.items():
            rates[name].append(_rate(stream, batch_size, seconds))
    return {name: sorted(r)[len(r) // 2] for name, r in rates.items()}


def path_streams(streamed, cached, batch_size: int) -> dict[str, Iterator]:
    """The trainer's real batches on the CPU (:func:`~zoo.training.data.real_batches`,
    channels_last, not in memory, no workers) streamed and from the cache, and the cache's
    uint8 lookups alone (the host's part of a GPU run, which scales on the GPU)."""
    cpu, layout = torch.device("cpu"), torch.channels_last
    sampler = lambda: EpochBatches(len(streamed), batch_size, seed=0, rank=0, world=1)  # noqa: E731
    return {
        "streamed": real_batches(streamed, sampler(), cpu, layout, None, 0)[0],
        "prepared": real_batches(cached, sampler(), cpu, layout, None, 0)[0],
        "uint8": (cached.raw_batch(indices) for indices in sampler()),
    }


def prepare_seconds(source, out: Path, workers: int) -> float:
    """Seconds to prepare ``source`` into ``out`` with ``workers`` processes."""
    start = time.perf_counter()
    prepare(source, out, workers=workers, chunk_size=64, progress=False)
    return time.perf_counter() - start


def storage_rates(folder: Path, count: int, resolution: int, batch_size: int) -> dict:
    """(write s, random-batch read images/s) of ``count`` uint8 images as a ``.npy`` memory
    map and as an Arrow dataset (``datasets`` ``Array3D``, ``save_to_disk``, numpy format)."""
    import datasets

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, 3, resolution, resolution), dtype=np.uint8)
    order = rng.permutation(count)
    start = time.perf_counter()
    np.save(folder / "images.npy", images)
    npy_write = time.perf_counter() - start
    features = datasets.Features({"image": datasets.Array3D(images.shape[1:], "uint8")})
    start = time.perf_counter()
    arrow = datasets.Dataset.from_dict({"image": images}, features=features)
    arrow.save_to_disk(str(folder / "arrow"))
    arrow_write = time.perf_counter() - start
    memmap = np.load(folder / "images.npy", mmap_mode="r")
    table = datasets.load_from_disk(str(folder / "arrow")).with_format("numpy")
    readers = {".npy memmap": lambda i: np.asarray(memmap[i]), "Arrow": lambda i: table[i]["image"]}
    out = {}
    for (name, read), write in zip(readers.items(), (npy_write, arrow_write), strict=True):
        read(order[:batch_size])  # warm-up
        start = time.perf_counter()
        for i in range(0, count - batch_size + 1, batch_size):
            read(order[i : i + batch_size])
        out[name] = (write, count // batch_size * batch_size / (time.perf_counter() - start))
    return out


def cpu_training_rates(folder: Path, args: argparse.Namespace, workers: int) -> dict:
    """Median G-steps/s of a CPU training step (SNDCGAN-32 width 0.25, the quickstart model)
    fed by the trainer's streamed path with 0 and with ``workers`` DataLoader workers: from the
    JPEGs at 32 px, and from a dataset held as a tensor (nothing to decode). Each round starts
    a fresh loader per setting and times ``--train-steps`` after one warm-up step (so no idle
    loader's workers run during another's timing)."""
    torch.set_num_threads(os.cpu_count() or 1)
    trainer = timed_trainer(Accelerator(cpu=True), setup_for("sndcgan32", width=0.25), FAST)
    sources = {
        "JPEGs": image_folder(folder, resolution=32, prepared=False),
        "tensor": synthetic(num_samples=4096, resolution=32),
    }
    rates = {(name, n): [] for name in sources for n in (0, workers)}
    for _ in range(args.rounds):
        for name, n in rates:
            data = sources[name]
            sampler = EpochBatches(len(data), args.batch_size, seed=0, rank=0, world=1)
            cpu, layout = torch.device("cpu"), torch.channels_last
            batches = real_batches(data, sampler, cpu, layout, None, n)[0]
            trainer.step(batches)
            start = time.perf_counter()
            for _ in range(args.train_steps):
                trainer.step(batches)
            rates[name, n].append(args.train_steps / (time.perf_counter() - start))
            batches.close()  # stops the DataLoader's workers
    torch.set_num_threads(1)
    return {key: sorted(r)[len(r) // 2] for key, r in rates.items()}


def _print_paths(rates: dict[int, dict[str, float]]) -> None:
    print(
        "| resolution | streamed img/s per core | prepared img/s per core (ratio) "
        "| prepared uint8 lookups img/s per core (ratio) |"
    )
    print("| --- | --- | --- | --- |")
    for resolution, r in rates.items():
        streamed, prepared, uint8 = r["streamed"], r["prepared"], r["uint8"]
        print(
            f"| {resolution} | {streamed:.0f} | {prepared:.0f} ({prepared / streamed:.0f}x) "
            f"| {uint8:.0f} ({uint8 / streamed:.0f}x) |"
        )


def _print_need(args: argparse.Namespace, rates: dict[str, float]) -> None:
    setup = setup_from_gin(args.gin, args.bind)
    per_step = setup.batch_size * setup.disc_iters
    print(
        f"step {setup.name}: batch {setup.batch_size} x disc_iters {setup.disc_iters} = "
        f"{per_step} real images per G step; G-steps/s from `bench.py step --gin ...` on the "
        f"GPU; cores of this CPU needed to feed it (a GPU run scales on the GPU: uint8 lookups)"
    )
    print("| G-steps/s | real img/s needed | streamed cores | prepared cores |")
    print("| --- | --- | --- | --- |")
    for g in args.g_steps_per_s:
        need = g * per_step
        streamed, prepared = need / rates["streamed"], need / rates["uint8"]
        print(f"| {g:g} | {need:.0f} | {streamed:.1f} | {prepared:.3f} |")


def bench_data(args: argparse.Namespace) -> int:
    """Print the tables of the module docstring."""
    torch.set_num_threads(1)
    width, height = args.size
    print(
        f"data: {machine('cpu')}; {args.images} JPEGs of "
        f"{width}x{height}, batches of {args.batch_size}, {args.rounds} interleaved rounds "
        f"of {args.seconds} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_photos(Path(tmp) / "photos", args.images, width, height)
        rates, prep = {}, {}
        for resolution in args.resolutions:
            source = image_folder(folder, resolution=resolution, prepared=False)
            cache = Path(tmp) / f"cache{resolution}"
            prep[resolution] = {
                n: prepare_seconds(source, cache / str(n), n) for n in (1, args.workers)
            }
            streams = path_streams(source, prepared(cache / str(args.workers)), args.batch_size)
            rates[resolution] = interleaved(streams, args.batch_size, args.rounds, args.seconds)
        _print_paths(rates)
        for resolution, seconds in prep.items():
            one, many = seconds[1], seconds[args.workers]
            print(
                f"prepare {args.images} images at {resolution} px: 1 worker {one:.2f} s, "
                f"{args.workers} workers {many:.2f} s ({one / many:.2f}x)"
            )
        _print_storage(Path(tmp), args)
        if not args.skip_training:
            _print_cpu_workers(folder, args)
    _print_need(args, rates[max(rates)])
    return 0


def _print_storage(tmp: Path, args: argparse.Namespace) -> None:
    (tmp / "storage").mkdir()
    storage = storage_rates(tmp / "storage", args.storage_images, 128, args.batch_size)
    print(f"storage: {args.storage_images} images at 128 px, random batches of {args.batch_size}")
    print("| format | write s | read img/s |")
    print("| --- | --- | --- |")
    for name, (write, read) in storage.items():
        print(f"| {name} | {write:.2f} | {read:.0f} |")


def _print_cpu_workers(folder: Path, args: argparse.Namespace) -> None:
    workers = max(1, (os.cpu_count() or 1) - 1)
    rates = cpu_training_rates(folder, args, workers)
    print(
        f"CPU training (SNDCGAN-32 w0.25, batch {args.batch_size}, {os.cpu_count()} threads) "
        f"fed by the streamed path, G-steps/s:"
    )
    print(f"| data | 0 workers | {workers} workers | ratio |")
    print("| --- | --- | --- | --- |")
    for name in ("JPEGs", "tensor"):
        none, some = rates[name, 0], rates[name, workers]
        print(f"| {name} | {none:.2f} | {some:.2f} | {some / none:.2f}x |")
