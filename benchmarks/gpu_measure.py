"""The measurements of the GPU acceptance check (:mod:`benchmarks.gpu`), on any device:
G-steps/s of a gin set-up in fp32 and bf16, and images/s of the trainer's real-batch path
(:func:`zoo.training.data.real_batches`) on the data sources the report lists."""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from benchmarks.photos import write_photos
from benchmarks.setups import FAST, Setup, setup_from_gin, step_throughput
from benchmarks.timing import sync
from registry.datasets import image_folder, prepare, prepared, synthetic
from zoo.errors import one_line
from zoo.training import EpochBatches
from zoo.training.data import real_batches
from zoo.training.precision import cuda_has_bf16

__all__ = [
    "DATA_SIZES",
    "DataRecord",
    "StepRecord",
    "data_records",
    "free_memory",
    "measure_data",
    "measure_steps",
]

DATA_SIZES = {"in_memory_32": 8192, "in_memory_128": 1024, "jpegs": 512}
"""Images in each data source: synthetic at 32 and 128 px, and JPEGs of 160 px."""


@dataclass(frozen=True)
class StepRecord:
    """G-steps/s (each G step with its ``disc_iters`` D steps) of one model per precision."""

    model: str
    config: str
    batch_size: int
    disc_iters: int
    g_params_m: float
    d_params_m: float
    rates: dict[str, float] = field(default_factory=dict)  # precision -> G-steps/s
    timed_steps: int = 0  # per round and precision
    rounds: int = 0
    error: str | None = None


@dataclass(frozen=True)
class DataRecord:
    """Images/s of the trainer's real-batch path: batches on the device, in its layout."""

    source: str
    reading: str  # real_batches' own word: "in memory" or "streamed (N workers)"
    resolution: int
    batch_size: int
    images_per_s: float
    batches: int
    setup_s: float  # decoding into memory, or starting the loader
    shape: tuple[int, ...] = ()
    device: str = ""
    channels_last: bool = False
    error: str | None = None


def _params_m(setup: Setup) -> tuple[float, float]:
    """Millions of parameters of the set-up's G and D (built on the CPU, then dropped)."""
    G = setup.settings.generator(channels=setup.channels)
    D = setup.settings.discriminator(channels=setup.channels)
    return tuple(sum(p.numel() for p in m.parameters()) / 1e6 for m in (G, D))


def measure_steps(
    model: str,
    gin_file: str,
    device: str,
    batch_size: int = 64,
    steps: int = 10,
    rounds: int = 3,
    warmup: int = 3,
    cell_seconds: float = 20.0,
    bindings: tuple[str, ...] = (),
) -> StepRecord:
    """G-steps/s of ``gin_file``'s set-up in fp32 and in bf16 (interleaved rounds,
    :func:`~benchmarks.setups.step_throughput`, which synchronizes CUDA around each round); a GPU
    older than compute capability 8.0 (no bf16 units) is measured in fp32 only.

    A one-step probe after ``warmup`` sets the timed steps per round: at most ``steps``, and
    few enough that ``rounds`` of them take about ``cell_seconds`` per precision."""
    setup = setup_from_gin([gin_file], [f"train.batch_size = {batch_size}", *bindings])
    bf16 = device != "cuda" or cuda_has_bf16(torch.device(device))  # no bf16 units: fp32 only
    precisions = {"fp32": "no", "bf16": "bf16"} if bf16 else {"fp32": "no"}
    runs = {name: (setup, replace(FAST, precision=p)) for name, p in precisions.items()}
    g, d = _params_m(setup)
    probe = step_throughput(runs, steps=1, rounds=1, warmup=warmup, device=device)
    slowest = max(batch_size / rate for rate in probe.values())  # seconds per G step
    timed = max(1, min(steps, int(cell_seconds / (rounds * slowest))))
    rates = step_throughput(runs, steps=timed, rounds=rounds, warmup=warmup, device=device)
    return StepRecord(
        model,
        gin_file,
        batch_size,
        setup.disc_iters,
        g,
        d,
        {p: rate / batch_size for p, rate in rates.items()},
        timed,
        rounds,
    )


def measure_data(
    source: str,
    data,
    device: str,
    batch_size: int = 64,
    in_memory: bool = True,
    num_workers: int = 0,
    batches: int = 50,
    warmup: int = 2,
    seconds: float = 10.0,
) -> DataRecord:
    """Images/s of :func:`~zoo.training.data.real_batches` as the trainer calls it (its
    sampler, channels_last, on ``device``): ``batches`` batches after ``warmup``, or fewer
    when ``seconds`` have passed. Set-up (decoding into memory, starting workers) is timed
    apart."""
    dev = torch.device(device)
    sampler = EpochBatches(len(data), batch_size, seed=0, rank=0, world=1)
    start = time.perf_counter()
    stream, reading = real_batches(
        data, sampler, dev, torch.channels_last, 1e6 if in_memory else None, num_workers
    )
    try:
        for _ in range(warmup):
            next(stream)
        sync(dev)
        setup_s = time.perf_counter() - start
        start, done = time.perf_counter(), 0
        while done < max(batches, 1) and (done == 0 or time.perf_counter() - start < seconds):
            images, _ = next(stream)
            done += 1
        sync(dev)
        elapsed = time.perf_counter() - start
    finally:
        stream.close()  # stops a DataLoader's workers
    return DataRecord(
        source,
        reading,
        data.resolution,
        batch_size,
        done * batch_size / elapsed,
        done,
        setup_s,
        tuple(images.shape),
        str(images.device),
        images.is_contiguous(memory_format=torch.channels_last),
    )


def free_memory() -> None:
    """Drop what the last measurement held (on the GPU too)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def data_records(args: argparse.Namespace, device: str, sizes: dict[str, int]) -> list[DataRecord]:
    """The in-memory path at 32 and 128 px (synthetic images), the streamed path at 128 px on
    a temporary folder of 160 px JPEGs (decode, resize, crop), with 0 workers and with up to
    8, and the same JPEGs prepared (``scripts/prepare_data.py``) read by index lookups."""
    workers = min(8, os.cpu_count() or 1)
    common = {"device": device, "batch_size": args.batch_size, "seconds": args.cell_seconds / 2}
    n32, n128, jpegs = sizes["in_memory_32"], sizes["in_memory_128"], sizes["jpegs"]
    cases = [
        (f"synthetic, {n32} images", lambda: synthetic(num_samples=n32, resolution=32), True, 0),
        (f"synthetic, {n128} images", lambda: synthetic(num_samples=n128, resolution=128), True, 0),
    ]
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_photos(Path(tmp) / "jpegs", jpegs, 160, 160)
        from_folder = lambda: image_folder(folder, resolution=128, prepared=False)  # noqa: E731
        cases += [(f"{jpegs} JPEGs of 160 px", from_folder, False, n) for n in (0, workers)]
        cache = Path(tmp) / "prepared"
        prepare(from_folder(), cache, progress=False)
        cases.append((f"{jpegs} JPEGs of 160 px", lambda: prepared(cache), False, 0))
        for source, make, in_memory, num_workers in cases:
            print(f"data: {source}, {'in memory' if in_memory else f'{num_workers} workers'}")
            try:
                data = make()
                record = measure_data(
                    source, data, in_memory=in_memory, num_workers=num_workers, **common
                )
            except Exception as error:  # one failed path must not lose the others' figures
                record = DataRecord(source, "-", 0, args.batch_size, 0.0, 0, 0.0)
                record = replace(record, error=one_line(error))
            records.append(record)
            free_memory()
    return records
