"""``python scripts/bench.py gpu`` on the CPU: the refusal without CUDA, its options, the
measurement functions run for real on the CPU (tiny widths, one step), the pytest runner on a
throw-away test folder, and the report rendered from made-up records."""

import os
import shlex
import subprocess

import pytest
import torch
from PIL import Image

import registry
from benchmarks import cli, gpu, gpu_measure, gpu_report, gpu_tests
from benchmarks.cli import build_parser, main
from benchmarks.gpu_measure import DataRecord, StepRecord
from benchmarks.gpu_report import Environment
from benchmarks.gpu_tests import PytestOutcome
from benchmarks.photos import write_photos
from registry.datasets import image_folder, synthetic


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the command runs instead")
@pytest.mark.parametrize("extra", [[], ["--skip-tests"]])
def test_gpu_command_refuses_without_cuda(tmp_path, capsys, extra):
    """Exit code 2 and one line naming what is missing and where to run it; nothing written."""
    assert main(["gpu", "--out", str(tmp_path / "out"), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {gpu.NO_CUDA}\n"
    assert captured.err.startswith("error: no CUDA device: this command is the GPU acceptance")
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


def test_gpu_options_and_the_recorded_command_round_trip():
    """The options parse, and the command written into the report parses back to them."""
    args = build_parser().parse_args(
        ["gpu", "--out", "my results", "--steps", "4", "--cell-seconds", "7.5", "--skip-tests"]
    )
    assert args.func is gpu.bench_gpu
    assert (args.out, args.steps, args.cell_seconds, args.skip_tests) == (
        "my results",
        4,
        7.5,
        True,
    )
    assert (args.rounds, args.warmup, args.batch_size) == (3, 3, 64)
    words = shlex.split(gpu_report.command_line(args))
    assert words[:3] == ["python", "scripts/bench.py", "gpu"]
    assert vars(build_parser().parse_args(words[2:])) == vars(args)
    defaults = build_parser().parse_args(["gpu"])
    assert defaults.out == "results/gpu" and not defaults.skip_tests


def test_measure_steps_runs_the_gin_setup_on_the_cpu():
    """The step measurement of ``gin/cifar10_resnet_sbn.gin`` (tiny width, batch 2): the
    config's disc_iters (2, gin/optimizers/adam_b0_b09_d2.gin), G's parameter count of that
    architecture, a positive rate for both precisions, and the time cap holding the timed
    steps to 1 when one step already exceeds it."""
    width = "0.0625"
    record = gpu_measure.measure_steps(
        "ResNet-32",
        "cifar10_resnet_sbn.gin",
        "cpu",
        batch_size=2,
        steps=3,
        rounds=1,
        warmup=0,
        cell_seconds=1e-6,
        bindings=(f"generator.resnet32.width = {width}", f"discriminator.resnet32.width = {width}"),
    )
    assert record.disc_iters == 2 and record.batch_size == 2 and record.error is None
    G = registry.create("generator", "resnet32", norm="sbn", width=float(width))
    assert record.g_params_m == pytest.approx(sum(p.numel() for p in G.parameters()) / 1e6)
    assert set(record.rates) == {"fp32", "bf16"}
    assert all(0 < rate < float("inf") for rate in record.rates.values())
    assert (record.timed_steps, record.rounds) == (1, 1), "the time cap was not applied"


def test_measure_data_times_the_trainers_batches(tmp_path):
    """The data-path figure is of real_batches' own batches: the in-memory path on the
    synthetic set and the streamed path on a folder of JPEGs (decoded, resized 40 -> 32), in
    channels_last on the device, the batches counted; a zero time limit still times one."""
    data = synthetic(num_samples=32, resolution=32)
    memory = gpu_measure.measure_data("synthetic", data, "cpu", batch_size=8, batches=3, warmup=1)
    assert memory.reading == "in memory" and memory.batches == 3
    assert memory.shape == (8, 3, 32, 32) and memory.channels_last and memory.device == "cpu"
    assert memory.images_per_s > 0

    folder = write_photos(tmp_path / "jpegs", 12, 40, 40)
    files = sorted(folder.iterdir())
    assert len(files) == 12 and Image.open(files[0]).size == (40, 40)
    streamed = gpu_measure.measure_data(
        "jpegs", image_folder(folder, resolution=32), "cpu", batch_size=4, in_memory=False,
        batches=5, seconds=0.0,
    )  # fmt: skip
    assert streamed.reading == "streamed (0 workers)" and streamed.batches == 1
    assert streamed.shape == (4, 3, 32, 32) and streamed.channels_last


def _fake_tests(folder, body: str) -> None:
    (folder / "tests").mkdir(parents=True)
    (folder / "tests" / "test_fake.py").write_text(body)


FAKE_TESTS = """
import os
import pytest

@pytest.mark.cuda
def test_cuda_passes():
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert "ACCELERATE_USE_CPU" not in os.environ

@pytest.mark.cuda
def test_cuda_fails():
    assert 1 == 2

def test_not_cuda_is_not_selected():
    assert False
"""


def test_run_cuda_tests_selects_the_cuda_marker_and_reports_failures(tmp_path, monkeypatch):
    """``pytest -m cuda -q`` really runs (a folder of throw-away tests): only marked tests,
    not forced onto the CPU, with the cuBLAS setting; a failure fails the run and is named."""
    monkeypatch.setenv("ACCELERATE_USE_CPU", "yes")
    _fake_tests(tmp_path, FAKE_TESTS)
    run = gpu_tests.run_cuda_tests(tmp_path, timeout=120)
    assert not run.ok
    assert run.summary.startswith("1 failed, 1 passed, 1 deselected"), run.summary
    assert len(run.failures) == 1 and "test_cuda_fails" in run.failures[0]

    missing = gpu_tests.run_cuda_tests(tmp_path / "nowhere")
    assert not missing.ok and "no tests/ folder" in missing.summary


def test_summarize_pytest_needs_a_pass():
    """Passes only with a pass and no failure: all skipped (no GPU seen by the tests) or an
    error at collection is not an acceptance."""
    passed = gpu_tests.summarize_pytest(0, "..s\n2 passed, 1 skipped in 3.4s\n", 3.5)
    assert passed.ok and passed.summary == "2 passed, 1 skipped in 3.4s" and not passed.failures
    skipped = gpu_tests.summarize_pytest(0, "sss\n3 skipped in 1.2s\n")
    assert not skipped.ok and skipped.summary == "3 skipped in 1.2s (no CUDA test ran)"
    errored = gpu_tests.summarize_pytest(1, "E\nERROR tests/test_cuda.py - boom\n1 error in 1s\n")
    assert not errored.ok and errored.failures == ("ERROR tests/test_cuda.py - boom",)


ENV = Environment(
    device="NVIDIA H100 80GB HBM3",
    capability="9.0",
    torch="2.15.0+cu132",
    cuda="13.2",
    cudnn="91000",
    flags="cudnn.allow_tf32=True, cuda.matmul.allow_tf32=False, cudnn.benchmark=False",
    commit="0123abc",
    date="2030-01-02 03:04 UTC",
    command="python scripts/bench.py gpu --out results/gpu --steps 10",
    wall_s=301.4,
)
STEPS = [
    StepRecord("SNDCGAN-32", "cifar10_sndcgan_sbn.gin", 64, 1, 3.1, 5.86,
               {"fp32": 40.0, "bf16": 65.0}, 10, 3),
    StepRecord("ResNet-128", "celebahq128_resnet_sbn.gin", 64, 2, 42.0, 29.0,
               error="CUDA out of memory"),
]  # fmt: skip
DATA = [
    DataRecord("synthetic, 8192 images", "in memory", 32, 64, 1234567.8, 50, 0.42),
    DataRecord("512 JPEGs of 160 px", "streamed (8 workers)", 128, 64, 2500.0, 20, 1.5),
]


def _table_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]


def test_render_report_from_records():
    """Every piece the report promises (device, capability, versions, commit, date, command,
    the pytest outcome with its failures) and the tables: speed-up computed as bf16 / fp32,
    img/s as G-steps/s x batch, a failed model named, every row as wide as its header."""
    tests = PytestOutcome(
        False, "1 failed, 15 passed in 80.0s", ("FAILED tests/test_cuda.py::t",), 80
    )
    text = gpu_report.render_report(ENV, tests, STEPS, DATA)
    for piece in (
        "# GPU acceptance: NVIDIA H100 80GB HBM3",
        "compute capability 9.0",
        "torch 2.15.0+cu132, CUDA 13.2, cuDNN 91000",
        "cudnn.allow_tf32=True",
        "commit: 0123abc",
        "date: 2030-01-02 03:04 UTC",
        "`python scripts/bench.py gpu --out results/gpu --steps 10` (301 s in all)",
        "FAILED: `1 failed, 15 passed in 80.0s` (80 s)",
        "  - FAILED tests/test_cuda.py::t",
    ):
        assert piece in text, piece
    rows = _table_rows(text)
    step_header = rows[0]
    sndcgan = next(r for r in rows if r[0].startswith("SNDCGAN-32"))
    assert dict(zip(step_header, sndcgan, strict=True)) == {
        "model (gin config)": "SNDCGAN-32 (`cifar10_sndcgan_sbn.gin`)",
        "batch": "64",
        "disc_iters": "1",
        "G / D params": "3.1M / 5.9M",
        "fp32 G-steps/s": f"40.00 ({40 * 64} img/s)",
        "bf16 G-steps/s": f"65.00 ({65 * 64} img/s)",
        "bf16 speed-up": f"{65 / 40:.2f}x",
        "timed": "3 x 10 steps",
    }
    resnet = next(r for r in rows if r[0].startswith("ResNet-128"))
    assert resnet[-1] == "failed: CUDA out of memory" and resnet[4] == "-"
    data_header = next(r for r in rows if r[0] == "data path")
    memory = next(r for r in rows if r[0].startswith("synthetic"))
    assert dict(zip(data_header, memory, strict=True))["images/s"] == "1,234,568"
    widths = {len(r) for r in rows[: rows.index(data_header)]}
    assert widths == {len(step_header)}, "a step row is not as wide as its header"
    assert {len(r) for r in rows[rows.index(data_header) :]} == {len(data_header)}

    skipped = gpu_report.render_report(ENV, None, STEPS, DATA)
    assert "CUDA tests (`pytest -m cuda -q`): not run (`--skip-tests`)" in skipped


def test_report_path_is_the_device_name_made_safe(tmp_path):
    assert gpu_report.report_path(tmp_path, "NVIDIA H100 80GB HBM3") == (
        tmp_path / "NVIDIA_H100_80GB_HBM3.md"
    )
    odd = gpu_report.report_path("results/gpu", "Tesla/V100: SXM2 (32GB)")
    assert odd.parent.as_posix() == "results/gpu" and odd.name == "Tesla_V100_SXM2_32GB.md"


def test_gpu_is_a_listed_subcommand():
    """``scripts/bench.py --help`` lists it (the module docstring too)."""
    assert "gpu" in build_parser().format_help()
    assert "scripts/bench.py gpu" in cli.__doc__


def test_acceptance_writes_the_report_on_the_cpu(tmp_path, capsys):
    """The whole command after its CUDA check, run on the CPU (tiny SNDCGAN-32, small data,
    --skip-tests): exit code 0, one report named after the machine with this checkout's
    commit, the exact command, one step row and the five data paths, and the same tables
    printed."""
    args = build_parser().parse_args(
        ["gpu", "--out", str(tmp_path), "--skip-tests", "--steps", "1", "--rounds", "1",
         "--warmup", "0", "--cell-seconds", "0.5", "--batch-size", "4"]
    )  # fmt: skip
    width = ("generator.sndcgan32.width = 0.0625", "discriminator.sndcgan32.width = 0.0625")
    tiny = ("SNDCGAN-32 tiny", "cifar10_sndcgan_sbn.gin", width)
    sizes = {"in_memory_32": 16, "in_memory_128": 8, "jpegs": 8}
    assert gpu.acceptance(args, "cpu", models=(tiny,), data_sizes=sizes) == 0
    reports = list(tmp_path.iterdir())
    assert len(reports) == 1 and reports[0].suffix == ".md"
    text = reports[0].read_text()
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    assert f"- commit: {head.stdout.strip()}" in text
    assert f"`{gpu_report.command_line(args)}`" in text and "--skip-tests" in text
    rows = _table_rows(text)
    step = next(r for r in rows if r[0].startswith("SNDCGAN-32 tiny"))
    assert step[1:3] == ["4", "1"] and step[-1] == "1 x 1 steps", step
    readings = [r[0] for r in rows if r[1] in ("32", "128")]
    workers = min(8, os.cpu_count())
    assert readings[:4] == [
        "synthetic, 16 images, in memory",
        "synthetic, 8 images, in memory",
        "8 JPEGs of 160 px, streamed (0 workers)",
        f"8 JPEGs of 160 px, streamed ({workers} workers)",
    ]
    assert readings[4].startswith("8 JPEGs of 160 px, prepared cache ")
    assert readings[4].endswith(" (index lookups)") and len(readings) == 5
    assert _table_rows(capsys.readouterr().out) == rows, "printed tables differ from the file's"
