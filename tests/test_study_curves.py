"""The study report's metric direction (IS and PRD are better higher) and its training curves
(``curves.csv`` from the runs' TensorBoard events, the curves figure)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from torch.utils.tensorboard import SummaryWriter

from zoo.study import ReportSpec, write_report
from zoo.study import aggregate as agg
from zoo.study.load import StudyResults, load
from zoo.study.results import CURVES_FILE, collect_curves, read_curves, write_tables
from zoo.study.spec import higher_is_better, report_spec
from zoo.training.record import RunRecord


def _report(paths, out: Path, **overrides) -> Path:
    """``study.py report``: the results files loaded, the report written with ``overrides``."""
    results = load([paths] if isinstance(paths, str | Path) else paths)
    return write_report(results, out, report_spec(results.table, results.study, **overrides))


def _table(metric: str) -> pd.DataFrame:
    """Two models, two tuned settings, BN and sBN, two seeds each."""
    rows = []
    values = {  # (model, opt, norm) -> per seed
        ("a", "o1", "bn"): [2.0, 2.2],
        ("a", "o1", "sbn"): [3.0, 3.4],
        ("a", "o2", "bn"): [2.6, 2.8],
        ("a", "o2", "sbn"): [2.0, 2.1],
        ("b", "o1", "bn"): [4.0, 4.0],
        ("b", "o1", "sbn"): [3.0, 3.2],
        ("b", "o2", "bn"): [1.0, 1.2],
        ("b", "o2", "sbn"): [1.5, 1.5],
    }
    for (model, opt, norm), per_seed in values.items():
        for seed, value in enumerate(per_seed):
            rows.append({"model": model, "opt": opt, "norm": norm, "seed": seed, metric: value})
    return pd.DataFrame(rows)


def _spec(metric: str) -> ReportSpec:
    return ReportSpec(settings=("model", "opt", "norm"), tuned=("opt",), metric=metric)


def test_a_metrics_direction_is_the_one_its_metric_declares(monkeypatch):
    """The study reads Metric.higher_is_better: IS and PRD higher, FID and KID lower, the
    condition number and the spreads neither (the seed-pair table's "better" column)."""
    from zoo.evaluation.paper_metrics import InceptionScore

    assert [higher_is_better(s) for s in ("is", "prd_f8", "fid", "kid")] == [
        True,
        True,
        False,
        False,
    ]
    assert [higher_is_better(s) for s in ("log_cond", "is_std", "wall_time_s")] == [None] * 3
    monkeypatch.setattr(InceptionScore, "higher_is_better", {"is": False, "is_std": None})
    assert not _spec("is").higher_is_better


def test_a_higher_is_better_metric_is_ranked_the_other_way():
    """IS: Table 2 keeps the highest median, a paired win is a higher median, Table 3 is the
    relative increase, the top settings are the highest; FID on the same numbers: the reverse."""
    is_, fid = _spec("is"), _spec("fid")
    assert is_.higher_is_better and not fid.higher_is_better

    table2 = agg.unpaired(_table("is"), is_).set_index(["model", "norm"])
    assert table2.loc[("a", "bn"), ["opt", "median"]].tolist() == ["o2", pytest.approx(2.7)]
    assert table2.loc[("a", "sbn"), ["opt", "median"]].tolist() == ["o1", pytest.approx(3.2)]
    assert table2.loc[("b", "bn"), ["opt", "median"]].tolist() == ["o1", pytest.approx(4.0)]
    low = agg.unpaired(_table("fid"), fid).set_index(["model", "norm"])
    assert low.loc[("a", "bn"), "opt"] == "o1" and low.loc[("b", "sbn"), "opt"] == "o2"

    table3 = agg.reductions(agg.unpaired(_table("is"), is_), is_).set_index("model")
    assert table3.loc["a", "reduction"] == pytest.approx(100 * (3.2 - 2.7) / 2.7)  # better
    assert table3.loc["b", "reduction"] == pytest.approx(100 * (3.1 - 4.0) / 4.0)  # worse

    pairs = agg.paired(_table("is"), is_).set_index(["model", "opt"])["win"]
    assert pairs.to_dict() == {("a", "o1"): True, ("a", "o2"): False, ("b", "o1"): False,
                               ("b", "o2"): True}  # fmt: skip
    lower = agg.paired(_table("fid"), fid).set_index(["model", "opt"])["win"]
    assert (lower == ~pairs).all()

    top = agg.top_models(_table("is"), is_, fraction=0.25).set_index("norm")
    assert top["top"].to_dict() == {"bn": 1, "sbn": 1}  # 4.0 (b/o1/bn) and 3.2 (a/o1/sbn)
    medians = pd.Series([2.1, 3.2, 2.7, 2.05, 4.0, 3.1, 1.1, 1.5])  # the 8 settings
    assert top["threshold"].iloc[0] == pytest.approx(medians.quantile(0.75))


def test_report_text_follows_the_metric_direction(tmp_path):
    text = write_report(StudyResults(_table("is")), tmp_path / "is", _spec("is")).read_text()
    assert "higher is better" in text and "higher IS wins" in text
    assert "## Increase in IS vs bn (Table 3)" in text and "100 × (method − bn) / bn" in text
    assert "at or above the 80% quantile" in text
    fid = write_report(StudyResults(_table("fid")), tmp_path / "fid", _spec("fid")).read_text()
    assert "lower is better" in fid and "## Reduction in FID vs bn (Table 3)" in fid


def _log(folder: Path, scalars: dict[str, list[tuple[int, float]]]) -> None:
    """One TensorBoard event file of scalars, as the trainer's tracker writes them."""
    writer = SummaryWriter(str(folder))
    for tag, points in scalars.items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.close()


def _run(output: Path, run_id: str, finished: bool = True) -> Path:
    """A run folder with the trainer's record: finished, or still running."""
    run_dir = output / "runs" / run_id
    record = RunRecord(run_dir, steps=2000).__enter__()
    if finished:
        record.__exit__(None, None, None)
    return run_dir


def test_best_step_of_the_median_curve_follows_the_metric_direction():
    curves = pd.DataFrame(
        {"id": ["r0", "r0", "r0", "r1", "r1", "r1"], "tag": "eval/is",
         "step": [1, 2, 3] * 2, "value": [1.0, 3.0, 2.0, 1.2, 2.8, 2.6]}
    )  # fmt: skip
    table = pd.DataFrame({"id": ["r0", "r1"], "norm": ["bn", "bn"], "seed": [0, 1]})
    spec = ReportSpec(settings=("norm",), metric="is")
    during = agg.curve_medians(curves, table, spec)
    assert during.loc[0, ["1", "2", "3"]].tolist() == pytest.approx([1.1, 2.9, 2.3])
    assert during.loc[0, "best step"] == "2"  # the highest IS
    fid = agg.curve_medians(curves.assign(tag="eval/fid"), table, ReportSpec(settings=("norm",)))
    assert fid.loc[0, "best step"] == "1"


def test_curves_are_read_from_every_event_file_of_a_resumed_run(tmp_path):
    run_dir = _run(tmp_path, "r")
    logs = run_dir / "logs" / "tensorboard"
    _log(logs, {"eval/fid": [(1000, 90.0), (2000, 80.0)], "d_loss": [(100, 1.5)], "lr": [(1, 0)]})
    # resumed from the step-1000 checkpoint: step 2000 is logged again and wins
    _log(logs, {"eval/fid": [(2000, 70.0), (3000, 60.0)], "eval/step": [(3000, 3000.0)]})
    curves = read_curves(run_dir)
    fid = curves[curves["tag"] == "eval/fid"]
    assert fid[["step", "value"]].values.tolist() == [[1000, 90.0], [2000, 70.0], [3000, 60.0]]
    assert set(curves["tag"]) == {"eval/fid", "d_loss"}  # not the step counter, not "lr"
    assert read_curves(_run(tmp_path, "silent")).empty


def test_a_finished_run_keeps_its_committed_curves_when_its_event_files_are_gone(tmp_path):
    """The event files stay out of git: collecting on a fresh clone must not erase the curves."""
    import shutil

    done = _run(tmp_path, "done")
    _log(done / "logs", {"eval/fid": [(1000, 90.0), (2000, 80.0)], "d_loss": [(100, 1.5)]})
    again = _run(tmp_path, "again", finished=False)
    _log(again / "logs", {"eval/fid": [(1000, 70.0)]})
    write_tables(tmp_path)
    before = pd.read_csv(tmp_path / CURVES_FILE)
    assert set(before["id"]) == {"done", "again"}

    shutil.rmtree(done / "logs")
    shutil.rmtree(again / "logs")  # it starts again from step 0 and logs anew
    write_tables(tmp_path)
    after = pd.read_csv(tmp_path / CURVES_FILE)
    assert after.equals(before[before["id"] == "done"].reset_index(drop=True))

    _log(done / "logs", {"eval/fid": [(1000, 91.0)]})  # event files again: they are the truth
    assert collect_curves(tmp_path)["value"].tolist() == [91.0]


def test_collect_writes_curves_and_the_report_draws_them(tmp_path):
    fids = {("bn", 0): [200.0, 150.0], ("bn", 1): [210.0, 170.0], ("sbn", 0): [120.0, 60.0],
            ("sbn", 1): [110.0, 70.0]}  # fmt: skip
    for (norm, seed), values in fids.items():
        run_dir = _run(tmp_path, f"norm={norm},seed={seed}")
        _log(run_dir / "logs", {"eval/fid": list(zip((1000, 2000), values, strict=True))})
        (run_dir / "best").mkdir()
        metrics = {"step": 2000, "fid": values[-1]}
        (run_dir / "best" / "config.json").write_text(json.dumps({"metrics": metrics}))
    study = {"name": "toy", "axes": {"norm": ["bn", "sbn"]}, "method": "norm"}
    (tmp_path / "study.json").write_text(json.dumps(study))

    table = write_tables(tmp_path)
    assert table["fid"].tolist() == [150.0, 170.0, 60.0, 70.0]
    curves = pd.read_csv(tmp_path / CURVES_FILE)
    assert len(curves) == 8 and curves.equals(collect_curves(tmp_path))
    text = _report(tmp_path / "results.csv", tmp_path / "report").read_text()
    assert "![curves_fid](curves_fid.png)" in text
    assert "| norm | 1000 | 2000 | best step |" in text  # medians over the two seeds
    assert "| bn | 205.00 | 160.00 | 2000 |" in text and "| sbn | 115.00 | 65.00 | 2000 |" in text
    during = pd.read_csv(tmp_path / "report" / "curves_median.csv")
    assert during["norm"].tolist() == ["bn", "sbn"]
    assert (tmp_path / "report" / "curves_fid.png").stat().st_size > 5000

    (tmp_path / CURVES_FILE).unlink()  # no curves: no figure, the rest of the report stands
    text = _report(tmp_path / "results.csv", tmp_path / "bare").read_text()
    assert "curves_fid" not in text and "**sbn wins 1/1**" in text
    assert "During training" not in text


def test_plot_labels_leave_out_a_column_the_others_determine():
    """A tag that follows an axis (``opt`` is fixed by ``reg``) adds nothing to a panel's name;
    a column that varies within the others' groups stays."""
    from zoo.study.plots import _labels

    table = pd.DataFrame(
        {
            "loss": ["ns", "ns", "ns", "hinge"],
            "reg": ["sn", "gp10", "sn", "sn"],
            "opt": ["b05", "b0", "b05", "b05"],
            "seed": [0, 0, 1, 0],
        }
    )
    assert _labels(table, ["loss", "reg", "opt"]).tolist() == [
        "ns/sn", "ns/gp10", "ns/sn", "hinge/sn"
    ]  # fmt: skip
    assert _labels(table, ["reg", "seed"]).tolist() == ["sn/0", "gp10/0", "sn/1", "sn/0"]
    assert _labels(table, []).tolist() == ["all"] * 4


def test_curves_legend_names_every_method_even_one_missing_from_the_first_panel(
    tmp_path, monkeypatch
):
    from zoo.study import plots

    table = pd.DataFrame(
        {
            "id": ["a-bn", "b-bn", "b-new"],
            "model": ["a", "b", "b"],
            "norm": ["bn", "bn", "new"],
            "seed": [0, 0, 0],
        }
    )
    curves = pd.DataFrame(
        [(run, "eval/fid", step, 10.0 + step) for run in table["id"] for step in (1, 2)],
        columns=["id", "tag", "step", "value"],
    )
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or Path(path))
    spec = ReportSpec(settings=("model", "norm"), metric="fid")
    plots.plot_curves(curves, table, spec, tmp_path / "curves.png")
    legend = figures[0].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["bn", "new"]


def test_report_shows_the_samples_each_setting_saved_at_its_best_step(tmp_path, monkeypatch):
    """The samples figure takes the median-seed run of each setting and its grid at the best
    step (else the nearest saved one); a study whose runs saved no grids has no such figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    from zoo.study import plots

    fids = {("bn", 0): 150.0, ("bn", 1): 170.0, ("bn", 2): 190.0, ("sbn", 0): 60.0}
    for (norm, seed), fid in fids.items():
        run_dir = _run(tmp_path, f"norm={norm},seed={seed}")
        (run_dir / "best").mkdir()
        metrics = {"step": 2000, "fid": fid}
        (run_dir / "best" / "config.json").write_text(json.dumps({"metrics": metrics}))
    study = {"name": "toy", "axes": {"norm": ["bn", "sbn"]}, "method": "norm"}
    (tmp_path / "study.json").write_text(json.dumps(study))
    write_tables(tmp_path)
    text = _report(tmp_path / "results.csv", tmp_path / "bare").read_text()
    assert "samples" not in text and not (tmp_path / "bare" / "samples.png").exists()

    grids = tmp_path / "runs" / "norm=bn,seed=1" / "samples"  # bn's median seed
    grids.mkdir()
    for step in (1000, 2000, 3000):
        plt.imsave(grids / f"step_{step:08d}.png", np.full((8, 8), step / 3000.0), cmap="gray")
    shown = []
    real_imread = plt.imread
    monkeypatch.setattr(plots.plt, "imread", lambda f: shown.append(Path(f).name) or real_imread(f))
    text = _report(tmp_path / "results.csv", tmp_path / "report").read_text()
    assert "![samples](samples.png)" in text
    assert (tmp_path / "report" / "samples.png").stat().st_size > 5000
    assert shown == ["step_00002000.png"]  # bn seed 1 at its best step; sbn saved nothing

    assert plots._sample_file(grids.parent, 2400) == (grids / "step_00002000.png", 2000)
    assert plots._sample_file(grids.parent, 2500) == (grids / "step_00003000.png", 3000)
    assert plots._sample_file(grids.parent, float("nan"))[1] == 3000  # no best step: the last
    assert plots._sample_file(tmp_path / "runs" / "norm=sbn,seed=0", 2000) is None


def test_prd_figure_puts_recall_on_x_and_a_collapsed_model_to_the_left(tmp_path, monkeypatch):
    """F_8 weighs recall (a model covering one mode of twenty has F_8 near 1/20 and F_1/8 above
    0.7), so Figure 3's PRD plot draws F_8 as recall on x and F_1/8 as precision on y."""
    import numpy as np

    from zoo.metrics.prd import compute_prd, prd_to_max_f_beta_pair
    from zoo.study import plots

    one_mode = np.eye(20)[0]
    f8, f1_8 = prd_to_max_f_beta_pair(*compute_prd(one_mode, np.full(20, 1 / 20)))
    assert f8 < 0.1 and f1_8 > 0.7

    table = pd.DataFrame(
        {"id": ["c", "w"], "norm": ["bn", "sbn"], "seed": [0, 0], "fid": [200.0, 50.0],
         "prd_f8": [f8, 0.9], "prd_f1_8": [f1_8, 0.8]}
    )  # fmt: skip
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or Path(path))
    plots.plot_prd(table, ReportSpec(settings=("norm",)), tmp_path / "prd.png")
    ax = figures[0].axes[0]
    assert ax.get_xlabel() == "F_8 (recall)" and ax.get_ylabel() == "F_1/8 (precision)"
    collapsed = ax.collections[0].get_offsets()[0]  # bn's point
    assert tuple(collapsed) == pytest.approx((f8, f1_8))
