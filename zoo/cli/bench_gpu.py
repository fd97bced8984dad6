"""``python scripts/bench.py gpu``: the GPU acceptance check, one command for the day a GPU is
there. It runs the CUDA tests (``pytest -m cuda``, ``tests/test_cuda.py``), measures G-steps/s
of the paper's SNDCGAN-32, ResNet-32 and ResNet-128 (their gin configs: loss, spectral norm,
disc_iters) at batch 64 in fp32 and in bf16, and images/s of the trainer's real-batch path
(:func:`zoo.training.data.real_batches`), then writes ``results/gpu/<device>.md``.

Everything but the refusal to run without CUDA is a function of a ``device`` argument, so the
measurements and the report run on the CPU in the tests (tiny widths, one step).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from zoo.errors import one_line

__all__ = [
    "DATA_SIZES",
    "GPU_MODELS",
    "NO_CUDA",
    "DataRecord",
    "Environment",
    "PytestOutcome",
    "StepRecord",
    "acceptance",
    "add_gpu_parser",
    "bench_gpu",
    "command_line",
    "measure_data",
    "measure_steps",
    "render_report",
    "render_tables",
    "report_path",
    "run_cuda_tests",
    "summarize_pytest",
    "write_jpegs",
]

ROOT = Path(__file__).resolve().parents[2]
NO_CUDA = "no CUDA device: this command is the GPU acceptance check; run it on a machine with a GPU"
GPU_MODELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("SNDCGAN-32", "cifar10_sndcgan_sbn.gin", ()),
    ("ResNet-32", "cifar10_resnet_sbn.gin", ()),
    ("ResNet-128", "celebahq128_resnet_sbn.gin", ()),
)
"""The paper's architectures (Appendix B) at full width with one of their paper settings each
(name, gin file, extra bindings): the gin file gives the loss, spectral norm, Adam betas and
disc_iters (2 for the ResNets)."""

DETERMINISTIC_CUBLAS = ":4096:8"
"""cuBLAS workspace setting that deterministic algorithms need (the exact-resume test)."""


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


@dataclass(frozen=True)
class PytestOutcome:
    """The outcome of ``pytest -m cuda``: its summary line and the failed tests."""

    ok: bool
    summary: str
    failures: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class Environment:
    """What the figures were taken on and with."""

    device: str
    capability: str
    torch: str
    cuda: str
    cudnn: str
    flags: str  # TF32 and cuDNN settings in force
    commit: str
    date: str
    command: str
    wall_s: float = 0.0


# --- measurements (any device) -------------------------------------------------------------


def _params_m(setup) -> tuple[float, float]:
    """Millions of parameters of the set-up's G and D (built on the CPU, then dropped)."""
    G = setup.generator(channels=setup.channels)
    D = setup.discriminator(channels=setup.channels)
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
    :func:`zoo.benchmark.step_throughput`, which synchronizes CUDA around each round); a GPU
    older than compute capability 8.0 (no bf16 units) is measured in fp32 only.

    A one-step probe after ``warmup`` sets the timed steps per round: at most ``steps``, and
    few enough that ``rounds`` of them take about ``cell_seconds`` per precision."""
    from zoo.benchmark import Variant, setup_from_gin, step_throughput, variants_of
    from zoo.training.precision import cuda_has_bf16

    setup = setup_from_gin([gin_file], [f"train.batch_size = {batch_size}", *bindings])
    bf16 = device != "cuda" or cuda_has_bf16(torch.device(device))  # no bf16 units: fp32 only
    variants = {"fp32": Variant("no", True, True)}
    if bf16:
        variants["bf16"] = Variant("bf16", True, True)
    runs = variants_of(setup, **variants)
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
    from zoo.benchmark import _sync
    from zoo.training.data import EpochBatches, real_batches

    dev = torch.device(device)
    sampler = EpochBatches(len(data), batch_size, seed=0, rank=0, world=1)
    start = time.perf_counter()
    stream, reading = real_batches(
        data, sampler, dev, torch.channels_last, 1e6 if in_memory else None, num_workers
    )
    try:
        for _ in range(warmup):
            next(stream)
        _sync(dev)
        setup_s = time.perf_counter() - start
        start, done = time.perf_counter(), 0
        while done < max(batches, 1) and (done == 0 or time.perf_counter() - start < seconds):
            images, _ = next(stream)
            done += 1
        _sync(dev)
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


def write_jpegs(folder: Path, count: int, size: int) -> Path:
    """``count`` JPEGs of ``size``×``size`` (the synthetic dataset's pictures) in ``folder``:
    a stand-in for a folder of real photos, to time decoding, resizing and transfer."""
    from PIL import Image

    from registry.datasets import synthetic

    folder.mkdir(parents=True, exist_ok=True)
    pictures = synthetic(num_samples=count, resolution=size, num_classes=10).images
    pixels = ((pictures + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    for i, image in enumerate(pixels.permute(0, 2, 3, 1).numpy()):
        Image.fromarray(image).save(folder / f"{i:05d}.jpg", quality=90)
    return folder


# --- the CUDA tests -------------------------------------------------------------------------


def summarize_pytest(returncode: int, output: str, seconds: float = 0.0) -> PytestOutcome:
    """``pytest -q`` output as a :class:`PytestOutcome`: its last line is the summary;
    ``FAILED`` and ``ERROR`` lines name the failures. It passes only with no failure and at
    least one pass (all skipped means no CUDA test ran)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    summary = lines[-1] if lines else "no output"
    failures = tuple(line for line in lines if line.startswith(("FAILED ", "ERROR ")))
    passed = re.search(r"\b(\d+) passed\b", summary)
    ok = returncode == 0 and not failures and passed is not None and int(passed.group(1)) > 0
    if returncode == 0 and passed is None:
        summary += " (no CUDA test ran)"
    return PytestOutcome(ok, summary, failures, seconds)


def run_cuda_tests(root: Path = ROOT, timeout: float = 240.0) -> PytestOutcome:
    """``pytest -m cuda -q`` on ``root/tests`` in a subprocess (not forced onto the CPU; with
    the cuBLAS workspace setting that deterministic algorithms need)."""
    if not (root / "tests").is_dir():
        return PytestOutcome(
            False, f"no tests/ folder in {root}: run from a checkout, or --skip-tests"
        )
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": DETERMINISTIC_CUBLAS}
    env.pop("ACCELERATE_USE_CPU", None)
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [*command, "tests"], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return PytestOutcome(False, f"pytest -m cuda timed out after {timeout:.0f} s", (), timeout)
    seconds = time.perf_counter() - start
    run = summarize_pytest(done.returncode, done.stdout, seconds)
    if not run.ok:
        print(done.stdout[-6000:] + done.stderr[-2000:], file=sys.stderr)
    return run


# --- the report (pure) ----------------------------------------------------------------------


def _rate(record: StepRecord, precision: str) -> str:
    rate = record.rates.get(precision)
    if rate is None:
        return "-"
    return f"{rate:.2f} ({rate * record.batch_size:.0f} img/s)"


def render_tables(steps: list[StepRecord], data: list[DataRecord]) -> str:
    """The two markdown tables: G-steps/s per model and precision, images/s per data path."""
    lines = [
        "| model (gin config) | batch | disc_iters | G / D params | fp32 G-steps/s "
        "| bf16 G-steps/s | bf16 speed-up | timed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in steps:
        fp32, bf16 = r.rates.get("fp32"), r.rates.get("bf16")
        ratio = f"{bf16 / fp32:.2f}x" if fp32 and bf16 else "-"
        timed = f"{r.rounds} x {r.timed_steps} steps" if r.rates else f"failed: {r.error}"
        lines.append(
            f"| {r.model} (`{r.config}`) | {r.batch_size} | {r.disc_iters} | "
            f"{r.g_params_m:.1f}M / {r.d_params_m:.1f}M | {_rate(r, 'fp32')} | "
            f"{_rate(r, 'bf16')} | {ratio} | {timed} |"
        )
    lines += [
        "",
        "| data path | resolution | batch | images/s | batches timed | set-up s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in data:
        rate = f"{r.images_per_s:,.0f}" if r.error is None else f"failed: {r.error}"
        lines.append(
            f"| {r.source}, {r.reading} | {r.resolution} | {r.batch_size} | {rate} | "
            f"{r.batches} | {r.setup_s:.2f} |"
        )
    return "\n".join(lines)


def render_report(
    env: Environment, tests: PytestOutcome | None, steps: list[StepRecord], data: list[DataRecord]
) -> str:
    """The whole ``results/gpu/<device>.md``: the machine, versions, commit, date, command,
    the pytest summary and the tables."""
    if tests is None:
        outcome = "not run (`--skip-tests`)"
    else:
        outcome = f"{'passed' if tests.ok else 'FAILED'}: `{tests.summary}` ({tests.seconds:.0f} s)"
    lines = [
        f"# GPU acceptance: {env.device}",
        "",
        f"- device: {env.device}, compute capability {env.capability}",
        f"- torch {env.torch}, CUDA {env.cuda}, cuDNN {env.cudnn}; {env.flags}",
        f"- commit: {env.commit}",
        f"- date: {env.date}",
        f"- command: `{env.command}` ({env.wall_s:.0f} s in all)",
        f"- CUDA tests (`pytest -m cuda -q`): {outcome}",
        *(f"  - {failure}" for failure in (tests.failures if tests else ())),
        "",
        "G-steps/s: generator steps per second, each with its disc_iters D steps (a batch "
        "of real and as many fake images per D step), median of interleaved rounds after warm-up "
        "steps, CUDA synchronized around each round; both precisions with channels_last and "
        "fused Adam (the trainer's defaults), bf16 as autocast of the forward passes ('-' "
        "on a GPU without bf16 units). "
        "Images/s of the data path: batches of the trainer's real-batch path "
        "(`zoo/training/data.py`, `real_batches`) on the GPU in channels_last.",
        "",
        render_tables(steps, data),
        "",
    ]
    return "\n".join(lines)


def report_path(out: str | Path, device: str) -> Path:
    """``out/<device name with anything but letters, digits, '.', '-' as '_'>.md``."""
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", device).strip("_.") or "gpu"
    return Path(out) / f"{name}.md"


def command_line(args: argparse.Namespace) -> str:
    """The command with every option spelled out (what reruns this measurement)."""
    words = ["python", "scripts/bench.py", "gpu", "--out", str(args.out)]
    for name in ("steps", "rounds", "warmup", "cell_seconds", "batch_size", "test_timeout"):
        words += [f"--{name.replace('_', '-')}", f"{getattr(args, name):g}"]
    if args.skip_tests:
        words.append("--skip-tests")
    return shlex.join(words)


# --- the command ------------------------------------------------------------------------------


def _git(*words: str) -> str:
    try:
        done = subprocess.run(
            ["git", *words], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def _environment(args: argparse.Namespace, device: str) -> Environment:
    """The device, versions and flags in force, commit (noting local changes), date."""
    from zoo.benchmark import machine

    commit = _git("rev-parse", "HEAD") or "unknown (not a git checkout)"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    if device == "cuda":
        name, capability = torch.cuda.get_device_name(), torch.cuda.get_device_capability()
        capability = f"{capability[0]}.{capability[1]}"
    else:
        name, capability = machine(device).split(";")[0], "- (not a GPU)"
    flags = (
        f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
        f"cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}, "
        f"cudnn.benchmark={torch.backends.cudnn.benchmark}"
    )
    return Environment(
        name,
        capability,
        torch.__version__,
        str(torch.version.cuda),
        str(torch.backends.cudnn.version()),
        flags,
        commit,
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command_line(args),
    )


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _data_records(args: argparse.Namespace, device: str, sizes: dict[str, int]) -> list[DataRecord]:
    """The in-memory path at 32 and 128 px (synthetic images), the streamed path at 128 px on
    a temporary folder of 160 px JPEGs (decode, resize, crop), with 0 workers and with up to
    8, and the same JPEGs prepared (``scripts/prepare_data.py``) read by index lookups."""
    from registry.datasets import image_folder, prepare, prepared, synthetic

    workers = min(8, os.cpu_count() or 1)
    common = {"device": device, "batch_size": args.batch_size, "seconds": args.cell_seconds / 2}
    n32, n128, jpegs = sizes["in_memory_32"], sizes["in_memory_128"], sizes["jpegs"]
    cases = [
        (f"synthetic, {n32} images", lambda: synthetic(num_samples=n32, resolution=32), True, 0),
        (f"synthetic, {n128} images", lambda: synthetic(num_samples=n128, resolution=128), True, 0),
    ]
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_jpegs(Path(tmp) / "jpegs", jpegs, 160)
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
            _free_memory()
    return records


DATA_SIZES = {"in_memory_32": 8192, "in_memory_128": 1024, "jpegs": 512}


def acceptance(
    args: argparse.Namespace,
    device: str,
    models: tuple[tuple[str, str, tuple[str, ...]], ...] = GPU_MODELS,
    data_sizes: dict[str, int] = DATA_SIZES,
) -> int:
    """Tests (unless ``--skip-tests``), step and data measurements on ``device``, the report
    written and the tables printed; 1 when a test or a measurement failed, else 0.
    ``models`` are (name, gin file, extra gin bindings)."""
    start = time.perf_counter()
    env = _environment(args, device)
    print(f"GPU acceptance on {env.device} (capability {env.capability}), torch {env.torch}")
    tests = None
    if not args.skip_tests:
        print("running pytest -m cuda ...", flush=True)
        tests = run_cuda_tests(timeout=args.test_timeout)
        print(f"CUDA tests: {'passed' if tests.ok else 'FAILED'}: {tests.summary}", flush=True)
    steps = []
    timing = {k: getattr(args, k) for k in ("steps", "rounds", "warmup", "cell_seconds")}
    for model, gin_file, bindings in models:
        print(f"steps: {model} ({gin_file}) ...", flush=True)
        try:
            record = measure_steps(
                model, gin_file, device, args.batch_size, bindings=bindings, **timing
            )
        except Exception as error:  # e.g. out of memory: keep the other models' figures
            record = StepRecord(model, gin_file, args.batch_size, 0, 0.0, 0.0)
            record = replace(record, error=one_line(error))
        steps.append(record)
        _free_memory()
    data = _data_records(args, device, data_sizes)
    env = replace(env, wall_s=time.perf_counter() - start)
    path = report_path(args.out, env.device)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(env, tests, steps, data))
    print(render_tables(steps, data))
    print(f"wrote {path} ({env.wall_s:.0f} s)")
    failed = any(r.error for r in [*steps, *data]) or (tests is not None and not tests.ok)
    return 1 if failed else 0


def bench_gpu(args: argparse.Namespace) -> int:
    """The GPU acceptance check (the module docstring): exit code 2 without a CUDA device,
    else :func:`acceptance` on the GPU (1 when a CUDA test or a measurement failed; the report
    is written either way)."""
    if not torch.cuda.is_available():
        print(f"error: {NO_CUDA}", file=sys.stderr)
        return 2
    return acceptance(args, "cuda")


def add_gpu_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gpu",
        help="the GPU acceptance check: CUDA tests, G-steps/s, data path; writes a report",
        description="On a CUDA machine: runs pytest -m cuda, measures G-steps/s of SNDCGAN-32, "
        "ResNet-32 and ResNet-128 (their paper gin configs) at batch 64 in fp32 and bf16, and "
        "images/s of the trainer's data path, then writes OUT/<device>.md (3-5 minutes on an "
        "H100, estimated; under 8). "
        "Exits 2 without a CUDA device, 1 when a test or a measurement failed.",
    )
    parser.add_argument("--out", default="results/gpu", help="report folder (results/gpu)")
    parser.add_argument("--steps", type=int, default=10, help="most timed G steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed G steps first")
    parser.add_argument(
        "--cell-seconds",
        type=float,
        default=20.0,
        help="about this many timed seconds per model and precision, or per data path",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-timeout", type=float, default=240.0, help="seconds for pytest")
    parser.add_argument("--skip-tests", action="store_true", help="measure only")
    parser.set_defaults(func=bench_gpu)
