"""What ``train.mixed_precision = "auto"`` means on this device: bf16 autocast where it is
measured to be clearly faster than fp32, else fp32.

CPUs differ too much to guess from their flags: bf16 training steps have run at 0.5x (Intel
with AVX512-BF16, no AMX) to 2x (AMD Zen 4 with AVX512-BF16) the fp32 rate on this project's
machines. So on a CPU ``auto`` times a small convolution workload, forward and backward, in
both precisions and in the memory layout the run uses (:func:`measure_bf16_speedup`, about a
second or two), and picks bf16 only when it is at least :data:`MARGIN` times faster, so that
timing noise cannot flip the choice. The decision is cached per machine, torch version, layout
and thread count (``~/.cache/selfmod_zoo/precision.json``; ``$SELFMOD_CACHE`` moves the folder),
so the probe runs once. CUDA devices of compute capability 8.0 or newer (bf16 tensor cores)
skip the probe; older ones and other devices use fp32.

An explicit ``mixed_precision`` ("bf16" or "no") is used as it is; for ``auto``,
``$SELFMOD_PRECISION`` (``bf16`` or ``no``) stands in for the decision (tests set it, so they
never time anything).
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import torch
from filelock import FileLock
from torch import nn

__all__ = [
    "ENV_VAR",
    "MARGIN",
    "PRECISIONS",
    "Decision",
    "cpu_name",
    "cuda_has_bf16",
    "decide",
    "measure_bf16_speedup",
    "precision_name",
    "resolve_precision",
]

PRECISIONS = ("no", "bf16")
MARGIN = 1.2
"""bf16 is chosen only when the probe measures it at least this much faster than fp32."""
ENV_VAR = "SELFMOD_PRECISION"
CACHE_ENV_VAR = "SELFMOD_CACHE"

Probe = Callable[[torch.device, torch.memory_format], float]


def precision_name(precision: str) -> str:
    """How a resolved precision reads for people: ``"bf16"``, or ``"fp32"`` for accelerate's
    ``"no"`` (what runs record)."""
    return "fp32" if precision == "no" else precision


@dataclass(frozen=True)
class Decision:
    """A resolved precision (``"bf16"`` or ``"no"``) and why: ``speedup`` is the measured
    bf16 rate over fp32 when a probe decided it."""

    precision: str
    reason: str
    speedup: float | None = None

    def describe(self) -> str:
        """For the start-up line, e.g. ``bf16 (auto: measured 2.01x over fp32)``."""
        return f"{precision_name(self.precision)} ({self.reason})"


def resolve_precision(
    setting: str, device: torch.device, layout: torch.memory_format = torch.channels_last
) -> str:
    """``"bf16"`` or ``"no"`` for a ``train.mixed_precision`` setting (see :func:`decide`)."""
    return decide(setting, device, layout).precision


def decide(
    setting: str,
    device: torch.device,
    layout: torch.memory_format = torch.channels_last,
    probe: Probe | None = None,
    cache_dir: Path | None = None,
) -> Decision:
    """The precision for ``train.mixed_precision = setting`` on ``device``: an explicit setting
    as it is, ``auto`` as ``$SELFMOD_PRECISION``, the device's known answer, the cached
    measurement, or a new one by ``probe`` (default :func:`measure_bf16_speedup`)."""
    if setting != "auto":
        return Decision(_checked(setting, "train.mixed_precision"), f"mixed_precision={setting!r}")
    if forced := os.environ.get(ENV_VAR):
        return Decision(_checked(forced, ENV_VAR), f"auto: {ENV_VAR}={forced}")
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        fast = cuda_has_bf16(device)
        return Decision("bf16" if fast else "no", f"auto: CUDA capability {major}.{minor}")
    if device.type != "cpu":
        return Decision("no", f"auto: fp32 on {device.type}")
    return _measured(device, layout, probe or measure_bf16_speedup, cache_dir or _cache_dir())


def cuda_has_bf16(device: torch.device) -> bool:
    """Whether a CUDA device has bf16 tensor cores (compute capability 8.0 or newer)."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def _checked(value: str, where: str) -> str:
    if value == "fp16":
        raise ValueError(
            f"{where} = 'fp16' needs loss scaling, which this trainer does not do; "
            "use 'bf16' (same speed on GPUs that have it) or 'no'."
        )
    if value not in PRECISIONS:
        choices = "'bf16', 'no'" if where == ENV_VAR else "'auto', 'bf16', 'no'"
        raise ValueError(f"{where} = {value!r} is not one of {choices}.")
    return value


def _measured(device: torch.device, layout: torch.memory_format, probe: Probe, folder: Path):
    """The cached decision for this machine and set-up, measured and stored if there is none
    (under a file lock, so concurrent runs measure once)."""
    key = _cache_key(layout)
    path = folder / "precision.json"
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        cache = _read_cache(path)
        if key in cache:
            entry = cache[key]
            speedup = float(entry["speedup"])
            return Decision(
                _choice(speedup),
                f"auto: measured {speedup:.2f}x over fp32 on {entry['date']}, cached",
                speedup,
            )
        speedup = probe(device, layout)
        cache[key] = {"speedup": round(speedup, 4), "date": date.today().isoformat()}
        path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return Decision(_choice(speedup), f"auto: measured {speedup:.2f}x over fp32", speedup)


def _choice(speedup: float) -> str:
    return "bf16" if speedup >= MARGIN else "no"


def _read_cache(path: Path) -> dict:
    """The cache's entries; an unreadable file counts as empty (it is rewritten)."""
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _cache_dir() -> Path:
    if folder := os.environ.get(CACHE_ENV_VAR):
        return Path(folder)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "selfmod_zoo"


def _cache_key(layout: torch.memory_format) -> str:
    """The machine (CPU model and the kernels torch uses on it), torch, layout and threads."""
    return " | ".join(
        (
            cpu_name(),
            f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})",
            "channels_last" if layout == torch.channels_last else "contiguous",
            f"{torch.get_num_threads()} threads",
        )
    )


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name with its family and model numbers, e.g. "AMD EPYC (family 25
    model 1)": clouds often report a bare "AMD EPYC", and a Zen 3 (model 1) ran this project's
    bf16 ResNet step about 20x slower than a Zen 4 (model 17). Read from ``cpuinfo``
    (``/proc/cpuinfo``'s text; the file by default), else what ``platform`` knows."""
    if cpuinfo is None:
        cpuinfo = _read_cpuinfo()
    name = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    if name is None:
        return platform.processor() or platform.machine()
    family = re.search(r"^cpu family\s*:\s*(\d+)$", cpuinfo, re.MULTILINE)
    model = re.search(r"^model\s*:\s*(\d+)$", cpuinfo, re.MULTILINE)
    numbers = f" (family {family[1]} model {model[1]})" if family and model else ""
    return name[1].strip() + numbers


def _read_cpuinfo() -> str:
    """``/proc/cpuinfo``'s text where there is one, else nothing."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def measure_bf16_speedup(
    device: torch.device, layout: torch.memory_format, rounds: int = 3, budget_s: float = 3.0
) -> float:
    """fp32 time over bf16-autocast time of one forward and backward pass of a small
    convolution stack (the 3x3 convolutions that dominate SNDCGAN and ResNet steps): one
    warm-up pass each, then interleaved rounds, the fastest of each counting. Where bf16 is
    plainly slow (the warm-up already 3x slower: CPUs without bf16 instructions run it about
    10x slower) that ratio is the answer; else it stops early once the ratio is below
    1 / :data:`MARGIN` or ``budget_s`` is spent."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(64, 128, 3, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(128, 128, 3, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(128, 64, 4, stride=2, padding=1),
    ).to(device=device, memory_format=layout)
    x = torch.randn(4, 64, 16, 16, device=device).contiguous(memory_format=layout)

    def seconds(bf16: bool) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        out.float().square().mean().backward()
        net.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    warm_up = seconds(False) / seconds(True)  # kernel selection, allocations
    if warm_up < 1 / 3:
        return warm_up
    start, fp32, bf16 = time.perf_counter(), [], []
    for _ in range(rounds):
        fp32.append(seconds(False))
        bf16.append(seconds(True))
        if min(fp32) / min(bf16) < 1 / MARGIN or time.perf_counter() - start > budget_s:
            break
    return min(fp32) / min(bf16)
