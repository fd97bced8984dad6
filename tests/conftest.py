import gin
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _fp32_on_the_cpu():
    """``mixed_precision = "auto"`` means fp32 without timing anything (``SELFMOD_PRECISION``,
    inherited by subprocesses) and training runs on the CPU also on a machine with a GPU
    (``ACCELERATE_USE_CPU``), for the whole session: module-scoped fixtures that train are set
    up before any function-scoped fixture runs, and on a CPU where bf16 is measured faster
    (AMX) ``auto`` would otherwise train them in bf16 and the tests' own runs in fp32."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SELFMOD_PRECISION", "no")
    patch.setenv("ACCELERATE_USE_CPU", "yes")
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch, request):
    """Each test starts with no gin bindings and a fixed seed. Tests marked ``cuda`` keep
    ``auto`` as the GPU decides it (by its compute capability, without timing) and the GPU
    (the session's settings above removed); a test may set or remove them too."""
    if "cuda" in request.keywords:
        monkeypatch.delenv("SELFMOD_PRECISION", raising=False)
        monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
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
