"""The trainer: every shipped gin graph steps, resume equals an uninterrupted run, two processes
agree, and bad input (NaN loss, missing data, gin typo) stops with a clear message."""

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import zoo
from registry.losses import Hinge
from zoo.config import GIN_DIR
from zoo.errors import ConfigError
from zoo.training import TrainingDiverged, checkpoints, train
from zoo.training.record import read_record

ROOT = Path(__file__).resolve().parents[1]
PAPER_CONFIGS = sorted(p.name for p in GIN_DIR.glob("*.gin"))


def _tiny(out: Path, steps: int, **extra: str) -> list[str]:
    """Bindings for a tiny CPU run on the synthetic dataset."""
    bindings = {
        "train.dataset": "@dataset.synthetic",
        "dataset.synthetic.num_samples": "64",
        "train.steps": str(steps),
        "train.batch_size": "8",
        "train.eval_metrics": "[]",
        "train.tracker": "None",
        "train.progress": "False",
        "train.log_every": "1",
        "train.sample_every": "1000",
        "train.checkpoint_every": "1000",
        "train.output_dir": f"'{out}'",
        **extra,
    }
    return [f"{k} = {v}" for k, v in bindings.items()]


FASHION = ("quickstart", "fashion_mnist")


def _architecture(config: str) -> tuple[str, int]:
    resolution = 32 if config.startswith(("cifar10", *FASHION)) else 128
    family = "sndcgan" if "_sndcgan_" in config or config.startswith(FASHION) else "resnet"
    return f"{family}{resolution}", resolution


def test_every_paper_config_is_there():
    assert "imagenet_pcgan_sbn.gin" in PAPER_CONFIGS and "quickstart.gin" in PAPER_CONFIGS
    datasets = ("cifar10", "celebahq128", "lsun_bedroom128", "imagenet128")
    for dataset in datasets:
        for model in ("sndcgan", "resnet"):
            for norm in ("bn", "sbn"):
                assert f"{dataset}_{model}_{norm}.gin" in PAPER_CONFIGS
    for dataset in ("cifar10", "imagenet128"):
        for model in ("gcond", "pcgan"):
            for norm in ("cbn", "csbn"):
                assert f"{dataset}_{model}_{norm}.gin" in PAPER_CONFIGS


@pytest.mark.parametrize("config", PAPER_CONFIGS)
def test_every_gin_graph_builds_and_steps(config, tmp_path):
    arch, resolution = _architecture(config)
    classes = "1000" if config.startswith("imagenet") else "10"
    bindings = _tiny(
        tmp_path,
        2,
        **{
            "dataset.synthetic.resolution": str(resolution),
            "dataset.synthetic.channels": "1" if config.startswith(FASHION) else "3",
            "dataset.synthetic.num_classes": classes,
            "train.batch_size": "2",
            f"generator.{arch}.width": "0.0625",
            f"discriminator.{arch}.width": "0.0625",
        },
    )
    zoo.parse([GIN_DIR / config], bindings)
    result = train()
    assert set(result.losses) == {"d_loss", "g_loss", "penalty"}
    assert all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    g, d = result.generator, result.discriminator
    conditional = "_gcond_" in config or "_pcgan_" in config
    assert (g.num_classes > 0) == conditional
    assert (d.num_classes > 0) == ("_pcgan_" in config)
    assert (tmp_path / "config.gin").read_text().count("train.") > 5
    assert checkpoints.latest(tmp_path / "checkpoints").name == "step_00000002"


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _logged_sessions(run_dir: Path) -> list[dict[int, float]]:
    """The D loss the tracker logged, step -> value, one dict per training session (TensorBoard
    event file) in the order they ran."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sessions = []
    for file in sorted((run_dir / "logs").rglob("events.out.tfevents.*"), key=_event_order):
        events = EventAccumulator(str(file), size_guidance={"scalars": 0})
        events.Reload()
        if "d_loss" in events.Tags()["scalars"]:
            sessions.append({e.step: e.value for e in events.Scalars("d_loss")})
    return sessions


def _event_order(path: Path) -> tuple[int, int]:
    """``events.out.tfevents.<unix time>.<host>.<pid>.<counter>``: by time, then counter."""
    parts = path.name.split(".")
    return int(parts[3]), int(parts[-1])


def test_resumed_run_continues_exactly(tmp_path, monkeypatch, capsys):
    """Killed during step 5 with a checkpoint at step 3, the same command resumes at step 3
    (not from step 0): it trains steps 4-6 only, logs exactly the losses the uninterrupted run
    logged at those steps, and ends with bitwise the same G, D and EMA weights."""
    common = {
        "train.checkpoint_every": "3",
        "train.disc_iters": "2",
        "train.penalty": "@penalty.gradient()",
        "train.ema_decay": "0.5",
        "train.generator": "@generator.sndcgan32",
        "train.discriminator": "@discriminator.sndcgan32",
        "generator.sndcgan32.width": "0.0625",
        "discriminator.sndcgan32.width": "0.0625",
        "train.tracker": "'tensorboard'",
    }
    zoo.parse(bindings=_tiny(tmp_path / "straight", 6, **common))
    straight = train()

    crashing = _tiny(tmp_path / "crashed", 6, **common)
    zoo.parse(bindings=crashing)
    original_step, calls = zoo.training.step.GANTrainer.step, []

    def crash_at_step_five(self, batches):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt("killed")
        return original_step(self, batches)

    monkeypatch.setattr(zoo.training.step.GANTrainer, "step", crash_at_step_five)
    with pytest.raises(KeyboardInterrupt, match="killed"):
        train()
    assert checkpoints.latest(tmp_path / "crashed" / "checkpoints").name == "step_00000003"
    resumed_calls = []

    def counted(self, batches):
        resumed_calls.append(1)
        return original_step(self, batches)

    monkeypatch.setattr(zoo.training.step.GANTrainer, "step", counted)
    capsys.readouterr()
    zoo.parse(bindings=crashing)  # the same command again
    resumed = train()

    checkpoint = tmp_path / "crashed" / "checkpoints" / "step_00000003"
    assert f"Resuming from {checkpoint} at step 3." in capsys.readouterr().out
    assert len(resumed_calls) == 3, f"resumed at step 3 of 6 but trained {len(resumed_calls)}"
    (logged_straight,) = _logged_sessions(tmp_path / "straight")
    killed, again = _logged_sessions(tmp_path / "crashed")
    assert sorted(killed) == [1, 2, 3, 4]
    assert sorted(again) == [4, 5, 6], "the resumed session must log the steps after 3 only"
    assert again == {step: logged_straight[step] for step in (4, 5, 6)}, "resumed steps differ"
    assert resumed.losses == straight.losses
    for role in ("generator", "discriminator", "ema_generator"):
        a, b = _weights(getattr(straight, role)), _weights(getattr(resumed, role))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{role}.{key}")


def test_partial_checkpoint_is_never_the_newest(tmp_path):
    directory = tmp_path / "checkpoints"
    (directory / "step_00000005").mkdir(parents=True)
    (directory / "step_00000005" / checkpoints.STATE_FILE).write_text("{}")
    (directory / ".partial_step_00000009").mkdir()
    (directory / "step_00000007").mkdir()  # no trainer state: incomplete
    assert checkpoints.latest(directory).name == "step_00000005"


def test_train_refuses_to_resume_past_its_steps_untouched(tmp_path):
    """``train()`` called from Python (no pre-flight) checks it too: a run at step 4 resumed
    with ``steps=2`` would end at once and label its step-4 weights as step 2's."""
    tiny_models = {
        "train.generator": "@generator.sndcgan32",
        "train.discriminator": "@discriminator.sndcgan32",
        "generator.sndcgan32.width": "0.0625",
        "discriminator.sndcgan32.width": "0.0625",
    }
    zoo.parse(bindings=_tiny(tmp_path, 4, **{"train.checkpoint_every": "2", **tiny_models}))
    train()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match=r"holds a run at step 4, past train\.steps = 2"):
        train(steps=2)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert train(steps=6).steps == 6  # a larger cap trains on


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = []

    def d_loss(self, real, fake):
        calls.append(1)
        value = (
            torch.nn.functional.relu(1 - real).mean() + torch.nn.functional.relu(1 + fake).mean()
        )
        return value * float("nan") if len(calls) > 4 else value

    monkeypatch.setattr(Hinge, "d_loss", d_loss)
    zoo.parse(
        bindings=_tiny(
            tmp_path,
            10,
            **{
                "train.checkpoint_every": "2",
                "train.loss": "@loss.hinge()",
                "train.generator": "@generator.sndcgan32",
                "train.discriminator": "@discriminator.sndcgan32",
                "generator.sndcgan32.width": "0.0625",
                "discriminator.sndcgan32.width": "0.0625",
            },
        )
    )
    with pytest.raises(TrainingDiverged, match=r"(?s)not finite at step 5.*step_00000004"):
        train()
    kept = checkpoints.latest(tmp_path / "checkpoints")
    assert kept.name == "step_00000004"
    record = read_record(tmp_path)  # the run's record: failed, with the error on one line
    assert (record["status"], record["step"]) == ("failed", 4)
    assert record["error"].startswith("TrainingDiverged: Loss is not finite at step 5 ")
    assert "\n" not in record["error"]
    state = load_file(kept / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_missing_dataset_fails_before_models_are_built(tmp_path, monkeypatch, capsys):
    import registry.architectures.sndcgan as sndcgan

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built before the dataset was checked")

    monkeypatch.setattr(sndcgan.SNDCGANGenerator, "__init__", no_model)
    from zoo.cli.train import main

    code = main(
        [
            "--bind",
            f"dataset.fashion_mnist.root = '{tmp_path / 'nowhere'}'",
            "--output",
            str(tmp_path / "run"),
        ]
    )
    assert code == 1
    assert "dataset-fashion-mnist" in capsys.readouterr().err


def test_gin_typo_fails_with_its_name(tmp_path, capsys):
    from zoo.cli.train import main

    assert main(["--bind", "train.setps = 5", "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "setps" in err and "Did you mean 'steps'" in err


@pytest.mark.slow
def test_two_processes_hold_the_same_weights(tmp_path, run_two_processes, monkeypatch):
    """Same weights on both ranks, and one precision: rank 0's (its probe says fp32; rank 1's
    own probe would say bf16)."""
    monkeypatch.delenv("SELFMOD_PRECISION")
    run_two_processes(ROOT / "tests" / "multiprocess_train.py", tmp_path)
    assert [(tmp_path / f"world_rank{r}.txt").read_text() for r in (0, 1)] == ["2", "2"]
    assert [(tmp_path / f"precision_rank{r}.txt").read_text() for r in (0, 1)] == ["no", "no"]
    for role in ("generator", "discriminator"):
        rank0 = load_file(tmp_path / f"{role}_rank0.safetensors")
        rank1 = load_file(tmp_path / f"{role}_rank1.safetensors")
        assert rank0.keys() == rank1.keys()
        params = [k for k in rank0 if not re.search(r"running_|num_batches|_u$|_v$", k)]
        assert params
        for key in params:
            torch.testing.assert_close(rank0[key], rank1[key], msg=key)
    assert checkpoints.latest(tmp_path / "run" / "checkpoints").name == "step_00000003"


def test_channels_last_trains_like_contiguous_and_zero_intervals_mean_the_end(tmp_path):
    """``channels_last`` changes the memory layout only; ``*_every = 0`` acts at the last step."""
    common = {
        "train.generator": "@generator.resnet32",
        "train.discriminator": "@discriminator.resnet32",
        "generator.resnet32.width": "0.0625",
        "discriminator.resnet32.width": "0.0625",
        "train.penalty": "@penalty.gradient()",
        "train.log_every": "0",
        "train.sample_every": "0",
        "train.checkpoint_every": "0",
    }
    results = {}
    for layout in ("False", "True"):
        out = tmp_path / layout
        zoo.parse(bindings=_tiny(out, 3, **common, **{"train.channels_last": layout}))
        results[layout] = train()
        assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_00000003"]
        assert [p.name for p in (out / "samples").iterdir()] == ["step_00000003.png"]
    conv = results["True"].generator.blocks[0].conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for key, value in results["False"].losses.items():
        assert results["True"].losses[key] == pytest.approx(value, rel=1e-3, abs=1e-5), key
