import gin
import pytest
import torch


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch, request):
    """Each test starts with no gin bindings and a fixed seed; ``mixed_precision = "auto"``
    means fp32 without timing anything (``SELFMOD_PRECISION``, inherited by subprocesses),
    unless a test sets or removes it. Tests not marked ``cuda`` train on the CPU also on a
    machine with a GPU (``ACCELERATE_USE_CPU``); those marked ``cuda`` keep ``auto`` as the
    GPU decides it (by its compute capability, without timing)."""
    if "cuda" not in request.keywords:
        monkeypatch.setenv("SELFMOD_PRECISION", "no")
        monkeypatch.setenv("ACCELERATE_USE_CPU", "yes")
    gin.clear_config()
    torch.manual_seed(0)
    yield
    gin.clear_config()


@pytest.fixture
def run_two_processes():
    """Run ``script args...`` as 2 CPU processes under torchrun (gloo); fail with its stderr."""
    import os
    import subprocess
    import sys

    def run(script, *args: str) -> None:
        env = {**os.environ, "ACCELERATE_USE_CPU": "yes", "OMP_NUM_THREADS": "1"}
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(script),
            *map(str, args),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    return run
