"""``python scripts/bench.py gpu``: the GPU acceptance check, one command for the day a GPU is
there. It runs the CUDA tests (``pytest -m cuda``, ``tests/test_cuda.py``), measures G-steps/s
of the paper's SNDCGAN-32, ResNet-32 and ResNet-128 (their gin configs: loss, spectral norm,
disc_iters) at batch 64 in fp32 and in bf16, and images/s of the trainer's real-batch path
(:func:`zoo.training.data.real_batches`), then writes ``results/gpu/<device>.md``.

Everything but the refusal to run without CUDA is a function of a ``device`` argument, so the
measurements and the report run on the CPU in the tests (tiny widths, one step). The
measurements are :mod:`benchmarks.gpu_measure`, the CUDA tests :mod:`benchmarks.gpu_tests`
and the report :mod:`benchmarks.gpu_report`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch

from benchmarks.gpu_measure import DATA_SIZES, StepRecord, data_records, free_memory, measure_steps
from benchmarks.gpu_report import environment, render_report, render_tables, report_path
from benchmarks.gpu_tests import run_cuda_tests
from zoo.errors import one_line

__all__ = ["GPU_MODELS", "NO_CUDA", "acceptance", "bench_gpu"]

NO_CUDA = "no CUDA device: this command is the GPU acceptance check; run it on a machine with a GPU"
GPU_MODELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("SNDCGAN-32", "cifar10_sndcgan_sbn.gin", ()),
    ("ResNet-32", "cifar10_resnet_sbn.gin", ()),
    ("ResNet-128", "celebahq128_resnet_sbn.gin", ()),
)
"""The paper's architectures (Appendix B) at full width with one of their paper settings each
(name, gin file, extra bindings): the gin file gives the loss, spectral norm, Adam betas and
disc_iters (2 for the ResNets)."""


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
    env = environment(args, device)
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
        free_memory()
    data = data_records(args, device, data_sizes)
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
