"""The study's grids (Section 3.2): expansion with the paper's non-product regularizer ×
optimizer structure, tags, exclusions, bad names, and the shipped grid files' stated run
counts."""

import re

import pytest

from zoo.config import GIN_DIR
from zoo.study import Grid, GridError, load_grid
from zoo.study.plan import validate

OPTS = {
    "b05": "optimizers/adam_b05_b0999_d1.gin",
    "b0d1": "optimizers/adam_b0_b09_d1.gin",
    "b0d2": "optimizers/adam_b0_b09_d2.gin",
}

PAPER_STYLE = """
study.grid.name = "paper"
study.grid.base = ["base/paper.gin", "data/fashion_mnist.gin"]
study.grid.bindings = ["train.steps = 10"]
study.grid.axes = {
    "loss": {"hinge": "losses/hinge.gin", "ns": "losses/non_saturating.gin"},
    "arch": {"sndcgan": "models/sndcgan32.gin", "resnet": "models/resnet32.gin"},
    "reg": {"sn": "penalties/sn.gin", "gp": "penalties/gp1.gin"},
    "lam": {"none": None, "1": "penalty.gradient.weight = 1.0",
            "10": ["penalty.gradient.weight = 10.0"]},
    "opt": {"b05": "optimizers/adam_b05_b0999_d1.gin", "b0d1": "optimizers/adam_b0_b09_d1.gin",
            "b0d2": "optimizers/adam_b0_b09_d2.gin"},
    "norm": {"bn": "norms/bn.gin", "sbn": "norms/sbn.gin"},
}
study.grid.exclude = [{"reg": "sn", "lam": ["1", "10"]}, {"reg": "gp", "lam": "none"}]
study.grid.seeds = [0, 1]
study.grid.tuned = ["lam", "opt"]
"""


def test_paper_grid_has_9_reg_opt_combinations_per_loss_arch_norm(tmp_path):
    (tmp_path / "paper.gin").write_text(PAPER_STYLE)
    grid = load_grid(tmp_path / "paper.gin")
    runs = grid.expand()
    assert len(runs) == 2 * 2 * 9 * 2 * 2 == 144
    assert len({r.id for r in runs}) == 144
    combos: dict = {}
    for run in runs:
        s = dict(run.settings)
        combos.setdefault((s["loss"], s["arch"], s["norm"], run.seed), set()).add(
            (s["reg"], s["lam"], s["opt"])
        )
    expected = {("sn", "none", o) for o in OPTS} | {
        ("gp", lam, o) for lam in ["1", "10"] for o in OPTS
    }
    assert len(combos) == 16
    assert all(found == expected for found in combos.values())

    run = next(
        r for r in runs if r.id == "loss=ns,arch=resnet,reg=gp,lam=10,opt=b0d2,norm=sbn,seed=1"
    )
    assert run.gin_files == (
        "base/paper.gin",
        "data/fashion_mnist.gin",
        "losses/non_saturating.gin",
        "models/resnet32.gin",
        "penalties/gp1.gin",
        "optimizers/adam_b0_b09_d2.gin",
        "norms/sbn.gin",
    )
    assert run.bindings == ("train.steps = 10", "penalty.gradient.weight = 10.0", "train.seed = 1")
    assert run.resolved[0] == str(GIN_DIR / "base" / "paper.gin")
    assert runs[0].id == "loss=hinge,arch=sndcgan,reg=sn,lam=none,opt=b05,norm=bn,seed=0"
    assert [r.seed for r in runs[:72]] == [0] * 72  # every setting at seed 0 comes first
    validate(runs[:3], tmp_path)  # the configs parse


def test_combined_axis_with_tags_is_the_full_3x3_product():
    reg = {
        "sn": {"gin": ["penalties/sn.gin"], "tags": {"reg_type": "sn"}},
        "gp1": {"gin": ["penalties/gp1.gin"], "tags": {"reg_type": "gp"}},
        "gp10": {"gin": ["penalties/gp10.gin"], "tags": {"reg_type": "gp"}},
    }
    grid = Grid.from_spec(axes={"reg": reg, "opt": OPTS, "norm": {"bn": None, "sbn": None}})
    runs = grid.expand()
    assert len(runs) == 18
    row = next(r for r in runs if r.id == "reg=gp10,opt=b05,norm=sbn,seed=0").row()
    assert row == {
        "id": "reg=gp10,opt=b05,norm=sbn,seed=0",
        "reg": "gp10",
        "opt": "b05",
        "norm": "sbn",
        "reg_type": "gp",
        "seed": 0,
    }
    summary = grid.summary()
    assert summary["tag_values"] == {"reg_type": ["sn", "gp"]} and summary["runs"] == 18


@pytest.mark.parametrize(
    ("exclude", "message"),
    [
        ([{"opt": "b1"}], "has no value"),
        ([{"optim": "b05"}], "unknown axis"),
        ([{"opt": "b05"}, {}], "empty exclude rule"),
        ([{"norm": ["bn", "sbn"]}], "no runs"),
    ],
)
def test_bad_exclusions_are_errors(exclude, message):
    with pytest.raises(GridError, match=message):
        Grid.from_spec(
            axes={"opt": OPTS, "norm": {"bn": None, "sbn": None}}, exclude=exclude
        ).expand()


def test_bad_names_are_errors():
    with pytest.raises(GridError, match="letters"):
        Grid.from_spec(axes={"norm": {"b n": None, "sbn": None}})
    with pytest.raises(GridError, match="reserved"):
        Grid.from_spec(axes={"seed": {"a": None}, "norm": {"bn": None}})
    for column in ("precision", "log_cond", "prd_f8"):  # a run's or a metric's results column
        with pytest.raises(GridError, match=f"{column!r} is reserved"):
            Grid.from_spec(axes={"norm": {"bn": {"tags": {column: "x"}}}})


@pytest.mark.parametrize("name", sorted(p.stem for p in (GIN_DIR / "study").glob("*.gin")))
def test_shipped_study_files_expand_as_documented(name, tmp_path):
    path = GIN_DIR / "study" / f"{name}.gin"
    runs = load_grid(path).expand()
    stated = re.search(r"^# Runs: (\d+)", path.read_text(), re.MULTILINE)
    assert stated and len(runs) == int(stated.group(1))
    validate(runs, tmp_path)  # every run's gin configuration parses
