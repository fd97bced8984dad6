"""``train.mixed_precision = "auto"`` decided by measurement (zoo/training/precision.py): the
probe's answer against the margin, the cache, the overrides, and the start-up line. The probe
is injected (no timing) except in the one test that asks for the real one."""

import json
import math

import pytest
import torch

from zoo.training import precision
from zoo.training.precision import MARGIN, decide

CPU = torch.device("cpu")
NHWC, NCHW = torch.channels_last, torch.contiguous_format


class Probe:
    """A probe that reports a fixed bf16 speed-up and counts its calls."""

    def __init__(self, speedup: float) -> None:
        self.speedup, self.calls = speedup, 0

    def __call__(self, device: torch.device, layout: torch.memory_format) -> float:
        self.calls += 1
        return self.speedup


@pytest.fixture
def auto(monkeypatch, tmp_path):
    """``auto`` left to the probe, with an empty cache in ``tmp_path``."""
    monkeypatch.delenv(precision.ENV_VAR, raising=False)
    monkeypatch.setenv(precision.CACHE_ENV_VAR, str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("speedup", "expected"),
    [(0.45, "no"), (1.0, "no"), (MARGIN - 0.01, "no"), (MARGIN, "bf16"), (2.1, "bf16")],
)
def test_bf16_only_when_measured_faster_by_the_margin(auto, speedup, expected):
    decision = decide("auto", CPU, NHWC, probe=Probe(speedup))
    assert decision.precision == expected
    assert decision.speedup == speedup
    assert decision.reason == f"auto: measured {speedup:.2f}x over fp32"


def test_a_cached_decision_is_reused_per_layout(auto):
    first = Probe(2.0)
    assert decide("auto", CPU, NHWC, probe=first).precision == "bf16"
    again = Probe(0.5)  # would say fp32 if it were asked
    cached = decide("auto", CPU, NHWC, probe=again)
    assert (cached.precision, cached.speedup, again.calls) == ("bf16", 2.0, 0)
    assert cached.reason.startswith("auto: measured 2.00x over fp32 on ")
    assert cached.reason.endswith(", cached")
    other_layout = decide("auto", CPU, NCHW, probe=again)  # another set-up: measured anew
    assert (other_layout.precision, again.calls) == ("no", 1)
    entries = json.loads((auto / "precision.json").read_text())
    assert sorted(e["speedup"] for e in entries.values()) == [0.5, 2.0]
    assert all(torch.__version__ in key for key in entries)


def test_an_unreadable_cache_is_measured_again(auto):
    (auto / "precision.json").write_text("{not json")
    probe = Probe(1.5)
    assert decide("auto", CPU, NHWC, probe=probe).precision == "bf16"
    assert probe.calls == 1
    assert len(json.loads((auto / "precision.json").read_text())) == 1


def test_explicit_settings_and_the_environment_win_over_the_probe(auto, monkeypatch):
    probe = Probe(2.0)
    explicit = decide("no", CPU, NHWC, probe=probe)
    assert (explicit.precision, explicit.reason) == ("no", "mixed_precision='no'")
    assert decide("bf16", CPU, NHWC, probe=Probe(0.5)).precision == "bf16"
    monkeypatch.setenv(precision.ENV_VAR, "no")
    forced = decide("auto", CPU, NHWC, probe=probe)
    assert (forced.precision, forced.reason) == ("no", "auto: SELFMOD_PRECISION=no")
    assert decide("bf16", CPU, NHWC, probe=probe).precision == "bf16"  # the setting still wins
    assert probe.calls == 0
    assert not (auto / "precision.json").exists()
    monkeypatch.setenv(precision.ENV_VAR, "fp8")
    with pytest.raises(ValueError, match=r"SELFMOD_PRECISION = 'fp8' is not one of 'bf16', 'no'"):
        decide("auto", CPU, NHWC, probe=probe)


def test_unknown_and_fp16_settings_are_refused():
    with pytest.raises(ValueError, match=r"loss scaling.*'bf16'"):
        decide("fp16", CPU)
    with pytest.raises(ValueError, match="'auto', 'bf16', 'no'"):
        decide("fp8", CPU)


def test_training_prints_and_records_the_measured_decision(auto, monkeypatch, tmp_path, capsys):
    """The start-up line says what auto chose and why; the run records it; a second run on
    the same machine reuses the cached measurement."""
    from test_fastpath import SNDCGAN
    from test_trainer import _tiny

    import zoo
    from zoo.training import train

    probe = Probe(2.0)
    monkeypatch.setattr(precision, "measure_bf16_speedup", probe)
    zoo.parse(bindings=_tiny(tmp_path / "one", 1, **SNDCGAN))
    first = train()
    assert first.precision == "bf16"
    assert "precision=bf16 (auto: measured 2.00x over fp32)" in capsys.readouterr().out
    zoo.parse(bindings=_tiny(tmp_path / "two", 1, **SNDCGAN))
    second = train()
    assert second.precision == "bf16" and probe.calls == 1
    assert "over fp32 on " in capsys.readouterr().out


def test_the_real_probe_measures_a_finite_ratio_in_seconds():
    import time

    start = time.perf_counter()
    speedup = precision.measure_bf16_speedup(CPU, NHWC, rounds=1, budget_s=1.0)
    assert math.isfinite(speedup) and speedup > 0
    assert time.perf_counter() - start < 30  # a few seconds on 2 cores; generous under load


ZEN3 = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n"
ZEN4 = ZEN3.replace("model\t\t: 1\n", "model\t\t: 17\n")


def test_the_cpu_name_tells_apart_cpus_a_cloud_names_alike():
    """A bare "AMD EPYC" is a Zen 3 or a Zen 4, whose bf16 rates differ 20x: the name runs
    record, and the precision cache is keyed on, carries the family and model numbers."""
    assert precision.cpu_name(ZEN3) == "AMD EPYC (family 25 model 1)"
    assert precision.cpu_name(ZEN4) == "AMD EPYC (family 25 model 17)"
    assert precision.cpu_name("model name\t: Some CPU\n") == "Some CPU"  # no numbers given
    assert precision.cpu_name("") != ""  # no /proc/cpuinfo: what platform knows
