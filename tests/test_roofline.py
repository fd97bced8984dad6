"""The step's FLOP count and the convolution rate behind ``bench.py limit``."""

import math

import pytest
import torch
from accelerate import Accelerator

from benchmarks.cli import main
from benchmarks.limit import conv_rate, step_flops
from benchmarks.setups import FP32_CONTIGUOUS, random_batches, setup_for, timed_trainer


def _flops(disc_iters: int) -> int:
    setup = setup_for("sndcgan32", "sbn", 0.0625, batch_size=4).changed(disc_iters=disc_iters)
    trainer = timed_trainer(Accelerator(cpu=True), setup, FP32_CONTIGUOUS)
    return step_flops(trainer, random_batches(trainer, setup, FP32_CONTIGUOUS))


def test_a_step_counts_every_d_step_once():
    """FLOPs(k D steps + 1 G step) = F_G + k F_D: each further D step adds the same work."""
    one, two, three = _flops(1), _flops(2), _flops(3)
    assert two - one == three - two > 0
    assert one > two - one  # the G step (G forward and backward through D) is counted too


def test_the_convolution_rate_is_its_flops_over_its_time():
    """A 3x3 convolution forward and backward is 3 x 2·N·C²·9·H·W FLOPs (forward, input
    gradient, weight gradient); the rate is positive and finite."""
    from torch.utils.flop_counter import FlopCounterMode

    n, c, s = 2, 8, 6
    conv = torch.nn.Conv2d(c, c, 3, padding=1)
    x = torch.randn(n, c, s, s, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        conv(x).sum().backward()
    assert counter.get_total_flops() == 3 * 2 * n * c * c * 9 * s * s
    rate = conv_rate(torch.device("cpu"), channels=c, size=s, batch=n, repeats=1)
    assert math.isfinite(rate) and rate > 0


def test_bench_limit_prints_both_precisions_against_their_conv_rate(capsys):
    argv = ["limit", "--arch", "sndcgan32", "--width", "0.0625", "--batch-size", "4"]
    argv += ["--conv-channels", "16", "--conv-batch", "2"]
    assert main([*argv, "--steps", "1", "--rounds", "1", "--warmup", "0", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "auto's probe here: bf16 at " in out
    rows = [line for line in out.splitlines() if line.startswith(("| fp32 |", "| bf16 |"))]
    assert len(rows) == 2
    for row in rows:
        _peak, flops, seconds, rate, share = row.strip("|").split("|")[1:]
        assert float(rate) == pytest.approx(float(flops) / float(seconds), rel=0.01)
        assert share.strip().endswith("%")
