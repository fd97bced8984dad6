"""The model card's evaluation protocol and training record (zoo/card_sections.py, from the run
folder's records: zoo/run_facts.py) and the training curve (zoo/curve.py), on real tiny runs
exported as scripts/publish.py exports them (zoo/export.py)."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import registry
import zoo
import zoo.evaluation
from zoo.card import build_card, describe_model
from zoo.card_sections import METRICS, fmt, record_section
from zoo.curve import CURVE_FILE, value_scale
from zoo.errors import ConfigError
from zoo.export import export_run
from zoo.model_folder import CARD_FILE, CONFIG_FILE
from zoo.run_facts import RunFacts, reference_size, run_settings
from zoo.train_settings import TrainSettings
from zoo.training.checkpoints import STATE_FILE, latest
from zoo.training.record import STATUS_FILE, code_version

BINDINGS = {
    "train.dataset": "@dataset.synthetic",
    "dataset.synthetic.num_samples": "64",
    "dataset.synthetic.channels": "1",
    "train.batch_size": "8",
    "train.tracker": "None",
    "train.progress": "False",
    "train.generator": "@generator.sndcgan32",
    "train.discriminator": "@discriminator.sndcgan32",
    "generator.sndcgan32.norm": "@norm.sbn",
    "generator.sndcgan32.width": "0.0625",
    "discriminator.sndcgan32.width": "0.0625",
    "train.seed": "3",
    "train.checkpoint_every": "2",
}


def _train(root: Path, **bindings: str) -> Path:
    """A real run on the synthetic dataset, on one thread; its folder."""
    from zoo.training import train

    threads, stats_dir = torch.get_num_threads(), zoo.evaluation.DEFAULT_CACHE_DIR
    torch.set_num_threads(1)
    zoo.evaluation.DEFAULT_CACHE_DIR = root / "stats"  # the real-data statistics stay here
    all_bindings = {**BINDINGS, "train.output_dir": f"'{root / 'run'}'", **bindings}
    try:
        train(gin_config=zoo.parse(bindings=[f"{k} = {v}" for k, v in all_bindings.items()]))
    finally:
        zoo.evaluation.DEFAULT_CACHE_DIR = stats_dir
        torch.set_num_threads(threads)
    return root / "run"


EVALUATED = {
    "train.steps": "6",
    "train.eval_every": "2",
    "train.eval_metrics": "['fid', 'is', 'prd']",
    "train.eval_num_samples": "40",
    "train.eval_extractor": "'fashion_classifier'",
    "train.ema_decay": "0.9",
    "train.plateau_stop": "0.5",
    "train.plateau_min_steps": "100",
}


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    """6 steps evaluated every 2 (FID, IS, PRD on 40 samples, the Fashion-MNIST classifier),
    with EMA; plateau_stop set but never reached (plateau_min_steps)."""
    return _train(tmp_path_factory.mktemp("evaluated"), **EVALUATED)


def _history(run: Path) -> list[dict]:
    return json.loads((latest(run / "checkpoints") / STATE_FILE).read_text())["history"]


def _curve_rows(card: str) -> dict[str, list[str]]:
    """The curve table of a card: step cell -> the metric cells."""
    table = card.split("Every evaluation of the run")[1].split("\n\n")[1]
    rows = [line.strip("|").split(" | ") for line in table.splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def test_the_card_states_the_protocol_and_the_record_from_the_run(evaluated_run, tmp_path):
    export_run(evaluated_run, tmp_path / "out", name="selfmod-tiny")
    card = (tmp_path / "out" / CARD_FILE).read_text()
    history = _history(evaluated_run)
    best = min(history, key=lambda h: h["fid"])
    best_config = json.loads((evaluated_run / "best" / CONFIG_FILE).read_text())
    assert [h["step"] for h in history] == [2, 4, 6]
    assert best_config["metrics"]["step"] == best["step"]
    (session,) = json.loads((evaluated_run / STATUS_FILE).read_text())["sessions"]
    ending = _LAST_IS_BEST if best["step"] == 6 else ""
    command = shlex.join(["python", *sys.orig_argv[1:]])  # the run trained in this process
    assert session["command"] == command and session["code"] == code_version()
    for text in (
        "## Evaluation protocol",
        "`fashion_classifier`",
        "not comparable with Inception FIDs",
        "**Generated samples:** 40 (`train.eval_num_samples`)",
        "the `test` split of synthetic (`train.eval_split`), 64 images; 40 of them compared",
        "FID, IS, PRD (`train.eval_metrics`), every 2 steps",
        f"`best/`, the best of 3 evaluations by FID (`train.best_metric`), at step {best['step']}",
        "**Seed:** 3 (`train.seed`)",
        "yes, decay 0.9 (`train.ema_decay`)",
        "## Training record",
        f"- **Command:** `{command}`",
        f"`{code_version()}`",
        f"- **Steps trained:** all 6 (`train.steps`), finished{ending}.",
        "over 1 session(s)",
        f"![FID against step]({CURVE_FILE})",
        "## Training\n",  # the sections that were there stay
        "train.seed = 3",
    ):
        assert text in card, text
    rows = _curve_rows(card)
    assert list(rows) == [f"{h['step']}{' (best)' if h is best else ''}" for h in history]
    for h, cells in zip(history, rows.values(), strict=True):
        assert cells == [fmt(h[key]) for key in METRICS if key in h]  # FID, IS, F8, F1/8

    with Image.open(tmp_path / "out" / CURVE_FILE) as image:
        assert image.format == "PNG" and image.size == (600, 340)
    assert (tmp_path / "out" / CURVE_FILE).stat().st_size < 60_000


def test_a_final_export_says_so_with_its_step(evaluated_run, tmp_path):
    export_run(evaluated_run, tmp_path / "out", which="final")
    card = (tmp_path / "out" / CARD_FILE).read_text()
    assert "**Shipped weights:** `final/`, the weights at the end of training (step 6)" in card


def test_limitations_come_before_how_to_use_and_stay_in_the_config(evaluated_run, tmp_path):
    """A model shipped although its run failed says so where a user reads first."""
    note = "This run failed to learn (FID 235.6 against its BN twin's 88.4): seed 0's failure."
    export_run(evaluated_run, tmp_path / "out", weights_dtype="float16", limitations=note)
    card = (tmp_path / "out" / CARD_FILE).read_text()
    assert f"## Limitations\n\n{note}\n" in card
    assert card.index("## Limitations") < card.index("## How to use")
    config = json.loads((tmp_path / "out" / CONFIG_FILE).read_text())
    assert config["limitations"] == note and config["weights"]["dtype"] == "float16"
    assert zoo.load(tmp_path / "out").sample(2, seed=0).shape == (2, 1, 32, 32)
    export_run(evaluated_run, tmp_path / "plain")
    assert "## Limitations" not in (tmp_path / "plain" / CARD_FILE).read_text()
    assert "limitations" not in json.loads((tmp_path / "plain" / CONFIG_FILE).read_text())


def test_a_plateau_and_resumed_sessions_are_stated(evaluated_run, tmp_path):
    """A record as the trainer writes it for a run ended by train.plateau_stop and resumed
    once (zoo/training/record.py's format)."""
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    record = json.loads((run / STATUS_FILE).read_text())
    first = record["sessions"][0]
    assert first["precision"] == "no"  # accelerate's name for fp32, as the trainer records it
    record["sessions"].append(
        {**first, "from_step": 4, "command": "python resume.py", "precision": "bf16"}
    )
    record.update(step=4, plateau={"step": 4, "best_step": 2}, elapsed_s=3725.0)
    (run / STATUS_FILE).write_text(json.dumps(record))
    export_run(run, tmp_path / "out")
    card = (tmp_path / "out" / CARD_FILE).read_text()
    for text in (
        "4 of `train.steps = 6`: ended on a plateau, no evaluation better than step 2's over "
        "the last 50% of the run (`train.plateau_stop`)",
        "**Command:** one per session, below",
        "| 2 | 4 |",
        "`python resume.py`",
        f"| fp32 | `{first['command']}` |",  # session 1's precision by its name, not "no"
        "| bf16 | `python resume.py` |",
        "1 h 02 min (`elapsed_s` 3725.0) over 2 session(s)",
    ):
        assert text in card, text


def test_an_older_run_without_a_record_still_exports(evaluated_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run, ignore=shutil.ignore_patterns(STATUS_FILE))
    export_run(run, tmp_path / "out")
    card = (tmp_path / "out" / CARD_FILE).read_text()
    assert "The run's record (`status.json`) is missing" in card
    assert "commit, machine, steps trained and wall time are unknown" in card
    assert "## Evaluation protocol" in card and (tmp_path / "out" / CURVE_FILE).is_file()


def test_a_run_that_never_evaluated_has_no_curve(tmp_path):
    run = _train(tmp_path, **{"train.steps": "2", "train.eval_metrics": "[]"})
    export_run(run, tmp_path / "out", which="final")
    card = (tmp_path / "out" / CARD_FILE).read_text()
    assert not (tmp_path / "out" / CURVE_FILE).exists()
    assert "No evaluation history was found" in card and "![FID" not in card
    assert "**Metrics:** none: the run was not evaluated" in card
    assert "Feature extractor" not in card


def test_settings_and_reference_size_come_from_the_gin_config():
    config = "SEED = 5\ntrain.seed = %SEED\ntrain.dataset = @dataset.synthetic\n"
    settings = run_settings(config)
    assert (settings["seed"], settings["dataset"]) == (5, "synthetic")
    assert (settings["eval_split"], settings["ema_decay"]) == ("test", 0.0)  # the defaults
    bound = "dataset.synthetic.num_samples = 48\n"
    assert reference_size(bound, "synthetic", "test") == 48
    assert reference_size("", "synthetic", "test") == 256  # the factory's default
    assert reference_size("", "no_such_dataset", "test") is None


def _raw_fid(checkpoint: Path, root: Path) -> float:
    """FID of the raw (not averaged) G saved in a training checkpoint, evaluated here as the
    trainer evaluates (40 samples of the synthetic test split, the classifier, seed 0)."""
    G = registry.get("generator", "sndcgan32")(norm="sbn", width=0.0625, channels=1)
    G.load_state_dict(load_file(str(checkpoint / "model.safetensors")))  # accelerate's first model
    data = registry.get("dataset", "synthetic")(num_samples=64, channels=1, split="test")
    result = zoo.evaluation.evaluate(
        G.eval(), data, metrics=["fid"], num_samples=40, extractor="fashion_classifier",
        cache_dir=root / "stats", progress=False,
    )  # fmt: skip
    return result["fid"]


def test_the_raw_generator_is_evaluated_beside_its_ema_without_changing_training(
    evaluated_run, tmp_path
):
    run = _train(tmp_path, **EVALUATED, **{"train.eval_raw_generator": "True"})
    history, plain = _history(run), _history(evaluated_run)
    last = latest(run / "checkpoints")
    assert last.name == "step_00000006"
    for name in ("model.safetensors", "model_1.safetensors", "ema_generator.safetensors"):
        ours, theirs = (
            load_file(str(last / name)),
            load_file(str(latest(evaluated_run / "checkpoints") / name)),
        )
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert [{k: v for k, v in h.items() if not k.startswith("raw_")} for h in history] == plain
    assert all({"raw_fid", "raw_is", "raw_prd_f8"} <= set(h) for h in history)
    assert any(h["raw_fid"] != h["fid"] for h in history)  # EMA (0.9) is not G
    # The same FID by another call path: multi-threaded kernels may sum in another order
    # (seen: 3e-9 relative with 2 threads on an AVX512 CPU), far below EMA's change of it.
    raw, ema = history[-1]["raw_fid"], history[-1]["fid"]
    assert raw == pytest.approx(_raw_fid(last, tmp_path), rel=1e-6)
    assert raw != pytest.approx(ema, rel=1e-3)

    export_run(run, tmp_path / "out")
    card = (tmp_path / "out" / CARD_FILE).read_text()
    assert "G's own weights evaluated too (`train.eval_raw_generator`" in card
    exported = json.loads((tmp_path / "out" / CONFIG_FILE).read_text())["metrics"]
    assert f"| FID (`fid`) | {fmt(exported['fid'])} |" in card
    assert f"| FID of G without EMA (`raw_fid`) | {fmt(exported['raw_fid'])} |" in card
    rows = _curve_rows(card)
    assert [cells[-1] for cells in rows.values()] == [fmt(h["raw_fid"]) for h in history]


_LAST_IS_BEST = "; its best evaluation is the last one, so the FID may still have been improving"


@pytest.mark.parametrize("last_fid", [60.0, 80.0])
def test_a_run_whose_last_evaluation_is_its_best_says_so(last_fid):
    history = [{"step": 2, "fid": 90.0}, {"step": 4, "fid": 70.0}, {"step": 6, "fid": last_fid}]
    record = {"step": 6, "steps": 6, "status": "finished", "elapsed_s": 60.0, "sessions": []}
    facts = RunFacts("best", 6, run_settings(""), 40, history, record=record)
    ending = _LAST_IS_BEST if last_fid < 70 else ""  # 80: step 4 is the best
    assert f"- **Steps trained:** all 6 (`train.steps`), finished{ending}." in record_section(
        facts, curve=None
    )


_NO_PLATEAU = (
    "; no plateau: its best evaluation, at step 46, lies in the last 20% of the run "
    "(`train.plateau_stop`), so the FID may still have been improving"
)


_PLATEAU_AT_CAP = (
    "; on a plateau at the cap: no evaluation better than step {}'s over the last 20% of the "
    "run (`train.plateau_stop`)"
)


@pytest.mark.parametrize("best_step", [46, 40, 36])
def test_a_run_that_reached_its_cap_says_whether_it_levelled_off(best_step):
    """train.plateau_stop = 0.2 over 50 steps: a best evaluation at step 46, inside the last
    20%, means the plateau rule could not end the run; one at step 40 (the window's edge, the
    CBN twin's 16000 of 20000) or 36 means the rule holds at the cap."""
    history = [{"step": s, "fid": 40.0 if s == best_step else 50.0} for s in range(2, 51, 2)]
    record = {"step": 50, "steps": 50, "status": "finished", "elapsed_s": 60.0, "sessions": []}
    settings = run_settings("train.plateau_stop = 0.2\n")
    facts = RunFacts("best", best_step, settings, 40, history, record=record)
    ending = _NO_PLATEAU if best_step == 46 else _PLATEAU_AT_CAP.format(best_step)
    assert f"- **Steps trained:** all 50 (`train.steps`), finished{ending}." in record_section(
        facts, curve=None
    )


def test_the_curve_table_shows_g_without_ema_on_the_ranking_metric():
    history = [
        {"step": 2, "fid": 90.0, "is": 1.5, "raw_fid": 80.0, "raw_is": 1.75},
        {"step": 4, "fid": 70.0, "is": 2.25, "raw_fid": 75.0, "raw_is": 2.0},
    ]
    settings = run_settings("train.best_metric = 'is'\n")
    facts = RunFacts("best", 4, settings, 40, history, record=None)
    section = record_section(facts, curve=None)
    assert "| step | FID | IS | IS without EMA |" in section
    rows = _curve_rows(section)
    assert rows == {"2": ["90", "1.5", "1.75"], "4 (best)": ["70", "2.25", "2"]}


def test_the_raw_generator_needs_an_ema():
    with pytest.raises(
        ConfigError, match=r"train.eval_raw_generator = True .* train.ema_decay = 0"
    ):
        TrainSettings(dataset=None, generator=None, discriminator=None, eval_raw_generator=True)


def test_a_curve_spanning_more_than_10x_is_drawn_on_a_log_axis():
    """An FID from 387 to 17 on a linear axis hides its plateau; KID can be negative."""
    assert value_scale([387.1, 138.5, 66.1, 22.3, 17.3, 17.4]) == "log"
    assert value_scale([30.7, 26.8, 22.1, 21.1]) == "linear"
    assert value_scale([0.05, 0.001, -0.0002]) == "linear"


def test_the_description_says_what_a_conditional_model_is():
    """A P-cGAN's card and catalog entry name its classes and its projection discriminator;
    an unconditional model's name neither."""
    g_args = {"z_dim": 128, "norm": "csbn", "num_classes": 10, "width": 0.5, "channels": 1}
    d_args = {"num_classes": 10, "width": 0.5, "channels": 1, "spectral_norm": True}
    config = {
        "architecture": "sndcgan32",
        "model_args": g_args,
        "dataset": "fashion_mnist",
        "discriminator": {"architecture": "sndcgan32", "model_args": d_args},
    }
    assert describe_model(config) == (
        "class-conditional (10 classes) self-modulated (csbn) sndcgan32 GAN generator of width "
        "0.5 on Fashion-MNIST, trained against a projection discriminator"
    )
    card = build_card(config, name="pcgan")
    assert "class-conditional" in card.data.tags
    assert "z' = z + E(y) + z ⊙ E'(y) (Eq. 3)" in card.text
    unconditional = {
        **config,
        "model_args": {**g_args, "norm": "bn", "num_classes": 0},
        "discriminator": {"architecture": "sndcgan32", "model_args": {**d_args, "num_classes": 0}},
    }
    assert describe_model(unconditional) == (
        "baseline (bn) sndcgan32 GAN generator of width 0.5 on Fashion-MNIST"
    )
    card = build_card(unconditional, name="bn")
    assert "class-conditional" not in card.data.tags and "Eq. 3" not in card.text
