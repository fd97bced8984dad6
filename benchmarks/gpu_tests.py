"""The CUDA tests of the GPU acceptance check (:mod:`benchmarks.gpu`): ``pytest -m cuda`` on
the checkout's ``tests/`` in a subprocess, and its outcome."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DETERMINISTIC_CUBLAS", "ROOT", "PytestOutcome", "run_cuda_tests", "summarize_pytest"]

ROOT = Path(__file__).resolve().parents[1]
"""The checkout: benchmarks/ beside tests/."""

DETERMINISTIC_CUBLAS = ":4096:8"
"""cuBLAS workspace setting that deterministic algorithms need (the exact-resume test)."""


@dataclass(frozen=True)
class PytestOutcome:
    """The outcome of ``pytest -m cuda``: its summary line and the failed tests."""

    ok: bool
    summary: str
    failures: tuple[str, ...] = ()
    seconds: float = 0.0


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
