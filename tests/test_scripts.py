"""The other scripts end a user error in one line on stderr and a non-zero exit, no traceback."""

import importlib

import pytest


def _main(name: str):
    module = "benchmarks.cli" if name == "bench" else f"zoo.cli.{name}"  # bench: not installed
    return importlib.import_module(module).main


@pytest.mark.parametrize(
    ("script", "argv", "message"),
    [
        ("study", ["collect", "{tmp}/nowhere"], "no study folder at"),
        ("study", ["report", "{tmp}/nowhere.csv"], "nowhere.csv"),
        ("study", ["run", "--gin", "{tmp}/nowhere.gin"], "gin file not found"),
        ("bench", ["train", "--arch", "nosuch", "--rounds", "1"], "Unknown generator 'nosuch'"),
        ("bench", ["features", "--extractor", "nosuch"], "Unknown feature_extractor"),
        ("publish", ["{tmp}", "--repo-id", "no-org", "--dry-run"], "write ORG/NAME"),
        ("publish", ["{tmp}/nowhere", "--repo-id", "o/x", "--dry-run"], "no best/ checkpoint"),
        ("train_fashion_classifier", ["--epochs", "0", "--out", "{tmp}/c.st"], "--epochs"),
    ],
)
def test_user_errors_are_one_line(script, argv, message, tmp_path, capsys):
    assert _main(script)([a.format(tmp=tmp_path) for a in argv]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("error: ") and message in lines[-1], lines
    assert not any("Traceback" in line for line in lines)


def test_bench_step_measures_the_users_gin_setup(capsys):
    """``bench.py step`` on a gin file: the machine, both paths and their ratio."""
    narrow = ["generator.sndcgan32.width = 0.0625", "discriminator.sndcgan32.width = 0.0625"]
    binds = [a for b in [*narrow, "train.batch_size = 8"] for a in ("--bind", b)]
    argv = ["step", "--gin", "quickstart.gin", *binds, "--steps", "1", "--rounds", "1"]
    assert _main("bench")([*argv, "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "step quickstart.gin: " in out and "torch " in out
    assert "fp32 contiguous" in out and "fast default" in out and "speed-up" in out
    assert "(fp32, contiguous, for-loop Adam)" in out and "channels_last, fused Adam" in out
