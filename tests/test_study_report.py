"""The study report's aggregations checked against hand-computed numbers (Tables 2 and 3,
paired wins, Figure 2(b), Figure 2(c)), conditional and ablation grids, the Markdown and
figures, and the command line (dry run, report)."""

import json
import math
import statistics
from pathlib import Path

import pandas as pd
import pytest

from zoo.config import GIN_DIR
from zoo.study import ReportSpec, load_grid, write_report
from zoo.study import aggregate as agg
from zoo.study.load import StudyResults, load
from zoo.study.spec import report_spec

# ------------------------------------------------------------------------------- the report

BN = {  # (reg, opt): FID per seed 0, 1, 2
    ("sn", "a"): [30.0, 20.0, 25.0],  # median 25
    ("sn", "b"): [40.0, 10.0, 22.0],  # median 22: bn's best SN setting
    ("gp1", "a"): [50.0, 60.0, 55.0],  # median 55
    ("gp10", "a"): [45.0, float("nan"), 41.0],  # a diverged seed: median of 45, 41 = 43
}
SBN = {
    ("sn", "a"): [21.0, 19.0, 23.0],  # median 21: sbn's best SN setting
    ("sn", "b"): [24.0, 26.0, 18.0],  # median 24
    ("gp1", "a"): [35.0, 38.0, 30.0],  # median 35: sbn's best GP setting
    ("gp10", "a"): [44.0, 47.0, 40.0],  # median 44
}


def _report(paths, out: Path, **overrides) -> Path:
    """``study.py report``: the results files loaded, the report written with ``overrides``."""
    results = load([paths] if isinstance(paths, str | Path) else paths)
    return write_report(results, out, report_spec(results.table, results.study, **overrides))


def _hand_table() -> pd.DataFrame:
    rows = []
    for norm, values in (("bn", BN), ("sbn", SBN)):
        for (reg, opt), fids in values.items():
            for seed, fid in enumerate(fids):
                rows.append(
                    {
                        "id": f"{reg}{opt}{norm}{seed}",
                        "loss": "hinge",
                        "arch": "resnet",
                        "reg": reg,
                        "opt": opt,
                        "norm": norm,
                        "reg_type": "sn" if reg == "sn" else "gp",
                        "seed": seed,
                        "status": "done" if fid == fid else "failed",
                        "fid": fid,
                        "log_cond": fid / 10,
                        "prd_f8": 1 - fid / 100,
                        "prd_f1_8": 0.5 + seed / 10,
                    }
                )
    return pd.DataFrame(rows)


SPEC = ReportSpec(settings=("loss", "arch", "reg", "opt", "norm", "reg_type"), tuned=("reg", "opt"))


def test_median_over_seeds_and_spread():
    stats = agg.seed_stats(_hand_table(), SPEC).set_index(["reg", "opt", "norm"])
    assert stats.loc[("sn", "b", "bn"), ["median", "q1", "q3", "min", "max", "n"]].tolist() == [
        22.0,
        16.0,
        31.0,
        10.0,
        40.0,
        3,
    ]
    assert stats.loc[("gp10", "a", "bn"), ["median", "n", "runs"]].tolist() == [43.0, 2, 3]


def test_table2_takes_the_best_tuned_setting_per_model():
    table2 = agg.unpaired(_hand_table(), SPEC)
    assert SPEC.model == ["loss", "arch", "reg_type"]
    got = {(r.reg_type, r.norm): (r.median, r.reg, r.opt) for r in table2.itertuples()}
    assert got == {
        ("sn", "bn"): (22.0, "sn", "b"),
        ("sn", "sbn"): (21.0, "sn", "a"),
        ("gp", "bn"): (43.0, "gp10", "a"),
        ("gp", "sbn"): (35.0, "gp1", "a"),
    }


def test_table3_relative_reduction():
    table3 = agg.reductions(agg.unpaired(_hand_table(), SPEC), SPEC).set_index("reg_type")
    assert table3.loc["sn", "reduction"] == pytest.approx(100 * (22 - 21) / 22)  # 4.545 %
    assert table3.loc["gp", "reduction"] == pytest.approx(100 * (43 - 35) / 43)  # 18.605 %
    assert table3.loc["gp", ["baseline", "value"]].tolist() == [43.0, 35.0]


def test_paired_wins_compare_medians_at_the_same_hyperparameters():
    pairs = agg.paired(_hand_table(), SPEC)
    wins = {(r.reg, r.opt): r.win for r in pairs.itertuples()}
    assert wins == {("sn", "a"): True, ("sn", "b"): False, ("gp1", "a"): True, ("gp10", "a"): False}
    total = agg.win_counts(pairs, SPEC)
    assert total[["norm", "wins", "total"]].values.tolist() == [["sbn", 2, 4]]
    per_type = agg.win_counts(pairs, SPEC, by=["reg_type"]).set_index("reg_type")
    assert per_type.loc["sn", "wins"] == 1 and per_type.loc["gp", "total"] == 2


def test_seed_pairs_count_run_against_run_at_the_same_setting_and_seed():
    # FID, sbn against bn per seed: sn/a 3 lower; sn/b 24<40, 26>10, 18<22; gp1/a 3 lower;
    # gp10/a 44<45, 40<41 and seed 1 has no bn value: 10 lower, 1 higher of 11 pairs
    counts = agg.seed_pairs(_hand_table(), SPEC, ["fid", "prd_f8", "prd_f1_8", "kid"])
    got = {r.metric: (r.higher, r.lower, r.total) for r in counts.itertuples()}
    assert got == {
        "fid": (1, 10, 11),
        "prd_f8": (10, 1, 11),  # 1 - fid / 100: the mirror image
        "prd_f1_8": (0, 0, 12),  # equal in every pair (a tie is neither); no NaN here
    }  # kid is no column: left out
    assert counts["norm"].unique().tolist() == ["sbn"]


def test_top_settings_and_representative_runs():
    # medians, sorted: 21 22 24 25 35 43 44 55; the 40% quantile is 24 + 0.8 * (25 - 24) = 24.8
    top = agg.top_models(_hand_table(), SPEC, fraction=0.4).set_index("norm")
    assert top.loc["sbn", "top"] == 2 and top.loc["bn", "top"] == 1
    assert top.loc["bn", "threshold"] == pytest.approx(24.8)
    chosen = agg.representatives(_hand_table(), SPEC).set_index(["reg", "opt", "norm"])
    assert chosen.loc[("sn", "a", "bn"), "seed"] == 2  # FID 25 is the median
    assert chosen.loc[("gp10", "a", "bn"), "seed"] == 2  # 45 and 41 tie around 43: the lower


def test_several_methods_against_one_baseline():
    """Figure 2(c): each single modulated layer and all layers against BN."""
    table = pd.DataFrame(
        {
            "norm": ["bn", "bn", "l0", "l0", "all", "all"],
            "seed": [0, 1] * 3,
            "fid": [10.0, 20.0, 12.0, 14.0, 9.0, 11.0],
        }
    )
    spec = ReportSpec(settings=("norm",), orders={"norm": ["bn", "l0", "all"]})
    table3 = agg.reductions(agg.unpaired(table, spec), spec)
    assert table3["norm"].tolist() == ["l0", "all"]
    assert table3["reduction"].tolist() == pytest.approx([100 * 2 / 15, 100 * 5 / 15])
    counts = agg.win_counts(agg.paired(table, spec), spec)
    assert counts[["norm", "wins", "total"]].values.tolist() == [["l0", 1, 1], ["all", 1, 1]]


# Conditional (Table 4) and layer-ablation (Figure 2(c)) grids: FIDs per seed 0, 1, 2
CONDITIONAL = {
    ("pcgan", "cbn"): [30.0, 34.0, 31.0],
    ("pcgan", "csbn"): [29.0, 25.0, 33.0],
    ("gcond", "cbn"): [40.0, 44.0, 47.0],
    ("gcond", "csbn"): [46.0, 45.0, 50.0],
}
ABLATION = {  # layer_ablation_v2: one model, a layer at a time against BN
    "bn": [50.0, 54.0, 58.0],
    "l0": [60.0, 57.0, 61.0],
    "l1": [52.0, float("nan"), 56.0],  # a diverged seed
    "l2": [49.0, 53.0, 51.0],
    "l3": [45.0, 47.0, 52.0],
    "all": [44.0, 40.0, 48.0],
}


def _grid_results(tmp_path: Path, study: str, fids) -> Path:
    """A results.csv and study.json as `run` writes them for a shipped grid, with the FID
    ``fids(settings)[seed]`` per run."""
    grid = load_grid(GIN_DIR / "study" / f"{study}.gin")
    runs = grid.expand()
    rows = [{**r.row(), "status": "done", "fid": fids(dict(r.settings))[r.seed]} for r in runs]
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    summary = {**grid.summary(), "order": [r.id for r in runs]}
    (tmp_path / "study.json").write_text(json.dumps(summary))
    return tmp_path / "results.csv"


def _median(values) -> float:
    return statistics.median(v for v in values if not math.isnan(v))


def test_report_of_a_conditional_grid(tmp_path):
    """fashion_mnist_conditional.gin: models pcgan and gcond, cbn the baseline of csbn."""
    results = _grid_results(
        tmp_path, "fashion_mnist_conditional", lambda s: CONDITIONAL[s["model"], s["norm"]]
    )
    text = _report(results, tmp_path / "report").read_text()
    median = {key: _median(fids) for key, fids in CONDITIONAL.items()}
    table2 = pd.read_csv(tmp_path / "report" / "table2.csv")
    assert table2[["model", "norm"]].values.tolist() == [list(k) for k in CONDITIONAL]
    assert table2["median"].tolist() == list(median.values())
    q1, _, q3 = statistics.quantiles(CONDITIONAL["pcgan", "csbn"], n=4, method="inclusive")
    assert f"| pcgan | csbn | {median['pcgan', 'csbn']:.2f} | {q1:.2f}–{q3:.2f} |" in text

    table3 = pd.read_csv(tmp_path / "report" / "table3.csv").set_index("model")
    for model in ("pcgan", "gcond"):
        base, value = median[model, "cbn"], median[model, "csbn"]
        assert table3.loc[model, "reduction"] == pytest.approx(100 * (base - value) / base)
        assert f"| {model} | csbn | {base:.2f} | {value:.2f} |" in text
    assert "| model | norm | FID (cbn) | FID | reduction (%) |" in text

    wins = {m: median[m, "csbn"] < median[m, "cbn"] for m in ("pcgan", "gcond")}
    assert wins == {"pcgan": True, "gcond": False}
    assert f"**csbn wins {sum(wins.values())}/2**" in text  # the names are the grid's
    assert "Method axis `norm`, baseline `cbn`." in text and "vs cbn (Table 3)" in text
    assert "| csbn | pcgan | 1 | 1 |" in text and "| csbn | gcond | 0 | 1 |" in text
    assert "Figure 2(c)" not in text  # one method: no per-method summary
    assert (tmp_path / "report" / "figure2a_distributions.png").stat().st_size > 1000

    # Without study.json the settings are guessed and "bn" is no value: the baseline is asked for
    (tmp_path / "study.json").unlink()
    with pytest.raises(ValueError, match=r"baseline 'bn' is not a value of 'norm' \(cbn, csbn\)"):
        _report(results, tmp_path / "guessed")
    guessed = _report(results, tmp_path / "guessed", baseline="cbn").read_text()
    assert f"**csbn wins {sum(wins.values())}/2**" in guessed


def test_report_of_a_layer_ablation_has_a_row_per_layer(tmp_path):
    """layer_ablation_v2.gin: sBN on one layer at a time and on all layers against BN."""
    results = _grid_results(tmp_path, "layer_ablation_v2", lambda s: ABLATION[s["norm"]])
    text = _report(results, tmp_path / "report").read_text()
    median = {norm: _median(fids) for norm, fids in ABLATION.items()}
    layers = ["l0", "l1", "l2", "l3", "all"]  # the grid's order, the baseline left out
    reduction = {m: 100 * (median["bn"] - median[m]) / median["bn"] for m in layers}

    table3 = pd.read_csv(tmp_path / "report" / "table3.csv")
    assert table3["norm"].tolist() == layers
    assert table3["reduction"].tolist() == pytest.approx([reduction[m] for m in layers])
    pairs = pd.read_csv(tmp_path / "report" / "paired.csv")
    assert pairs["win"].tolist() == [median[m] < median["bn"] for m in layers]
    for m in layers:
        assert f"**{m} wins {int(median[m] < median['bn'])}/1**" in text
    assert "Per model:" not in text  # one model: the totals say it all

    section = text[text.index("## Per norm (Figure 2(c))") :]
    for norm, fids in ABLATION.items():
        kept = [f for f in fids if not math.isnan(f)]
        row = f"| {norm} | {median[norm]:.2f} |"
        tail = "– | – |" if norm == "bn" else f"{reduction[norm]:.2f} | "
        tail += "" if norm == "bn" else f"{int(median[norm] < median['bn'])}/1 |"
        line = next(x for x in section.splitlines() if x.startswith(row))
        assert line.endswith(f"| {len(kept)}/3 | {tail}"), line
    # several layers against BN: the distributions are Figure 2(c), and the file says so
    assert (tmp_path / "report" / "figure2c_distributions.png").stat().st_size > 1000
    assert "![figure2c_distributions](figure2c_distributions.png)" in text
    assert not (tmp_path / "report" / "figure2a_distributions.png").exists()


def test_per_method_pools_models_of_a_layer_ablation():
    """layer_ablation.gin's loss axis makes two models: a layer's row pools both losses' runs
    and takes the median of its two Table 3 reductions."""
    fids = {("hinge", "bn"): [20.0, 22.0], ("hinge", "l3"): [18.0, 19.0],
            ("ns", "bn"): [30.0, 34.0], ("ns", "l3"): [33.0, 35.0]}  # fmt: skip
    table = pd.DataFrame(
        [
            {"loss": loss, "norm": norm, "seed": seed, "fid": fid}
            for (loss, norm), values in fids.items()
            for seed, fid in enumerate(values)
        ]
    )
    spec = ReportSpec(settings=("loss", "norm"), orders={"norm": ["bn", "l3"]})
    pairs = agg.paired(table, spec)
    rows = agg.per_method(table, agg.reductions(agg.unpaired(table, spec), spec), pairs, spec)
    rows = rows.set_index("norm")
    assert rows.index.tolist() == ["bn", "l3"]
    assert rows.loc["l3", "median"] == statistics.median([18.0, 19.0, 33.0, 35.0])
    assert rows.loc["l3", ["min", "max", "n", "runs"]].tolist() == [18.0, 35.0, 4, 4]
    hinge, ns = 100 * (21 - 18.5) / 21, 100 * (32 - 34) / 32
    assert rows.loc["l3", "reduction"] == pytest.approx((hinge + ns) / 2)
    assert rows.loc["l3", ["wins", "total"]].tolist() == [1, 2]
    assert math.isnan(rows.loc["bn", "reduction"]) and math.isnan(rows.loc["bn", "total"])


def test_report_writes_markdown_tables_and_figures(tmp_path):
    path = write_report(StudyResults(_hand_table()), tmp_path, SPEC, title="hand")
    text = path.read_text()
    assert "**sbn wins 2/4**" in text
    assert "| sbn | fid | 1 | 10 | 11 | lower |" in text  # paired by seed
    assert "| sbn | log_cond | 1 | 10 | 11 | – |" in text  # no direction: neither better
    assert (tmp_path / "seed_pairs.csv").is_file()
    assert "| hinge | resnet | sn | sbn | 21.00 | 20.00–22.00 | 19.00–23.00 | 3 | sn | a |" in text
    assert "4.55" in text and "18.60" in text
    assert "Pearson r between log condition number and fid: bn 1.00, sbn 1.00" in text
    for name in ("figure2a_distributions", "figure3_log_cond", "figure3_prd"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert pd.read_csv(tmp_path / "table2.csv").shape[0] == 4


def test_report_leaves_unfinished_runs_out_of_the_tables(tmp_path):
    """A run still training has a best-so-far FID; it must not count as a result yet."""
    still_training = {**_hand_table().iloc[0].to_dict(), "id": "x", "seed": 3, "fid": 1.0}
    table = pd.concat(
        [_hand_table(), pd.DataFrame([{**still_training, "status": "unfinished"}])],
        ignore_index=True,
    )
    text = write_report(StudyResults(table), tmp_path, SPEC, title="partial").read_text()
    assert "25 runs (23 done, 1 failed, 1 unfinished); unfinished runs and 1 without" in text
    assert "**sbn wins 2/4**" in text  # as without the unfinished run
    assert pd.read_csv(tmp_path / "table2.csv")["median"].min() == 21.0
    assert "- `x`: unfinished" in text


def test_the_recorded_precision_is_reported_and_is_no_setting(tmp_path):
    """The runner's precision column (blank for runs from before it recorded one) must not
    split a setting's seeds into two settings; the overview counts it."""
    table = _hand_table()
    table["precision"] = ["no"] * (len(table) - 3) + ["bf16", None, None]
    assert "precision" not in report_spec(table).settings
    text = write_report(StudyResults(table), tmp_path, SPEC, title="precisions").read_text()
    assert "Precision: fp32 21, not recorded 2, bf16 1." in text
    assert "**sbn wins 2/4**" in text  # as without the column


def _study_cli():
    from zoo.cli.study import main

    return main


def test_cli_dry_run_and_report(tmp_path, capsys):
    main = _study_cli()
    assert main(["run", "--gin", str(GIN_DIR / "study" / "tiny.gin"), "--output", str(tmp_path),
                 "--dry-run"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "new  norm=bn,seed=0" in out and "-m zoo.cli.train" in out
    assert not (tmp_path / "runs").exists()
    tiny = str(GIN_DIR / "study" / "tiny.gin")
    assert main(["--gin", tiny, "--output", str(tmp_path), "--jobs", "2", "--dry-run"]) == 0
    assert "new  norm=sbn,seed=0" in capsys.readouterr().out  # `run` is the default command

    _hand_table().to_csv(tmp_path / "results.csv", index=False)
    study = {
        "name": "hand",
        "axes": {"loss": ["hinge"], "arch": ["resnet"], "reg": ["sn", "gp1", "gp10"],
                 "opt": ["a", "b"], "norm": ["bn", "sbn"]},
        "tags": ["reg_type"],
        "tag_values": {"reg_type": ["sn", "gp"]},
        "method": "norm",
        "baseline": "bn",
        "tuned": ["reg", "opt"],
    }  # fmt: skip
    (tmp_path / "study.json").write_text(json.dumps(study))
    assert main(["report", str(tmp_path / "results.csv")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "**sbn wins 2/4**" in text
    assert "| hinge | resnet | sn | sbn | 21.00 |" in text  # SN before GP: the declared order
    assert text.index("| hinge | resnet | sn | bn |") < text.index("| hinge | resnet | gp | bn |")
    assert main(["run", "--gin", str(tmp_path / "missing.gin")]) == 1


def _study_folder(folder: Path, name: str, fids: dict[tuple[str, int], float]) -> Path:
    """results.csv and study.json of a one-axis (norm) study with the given FIDs."""
    folder.mkdir()
    rows = [
        {"id": f"norm={n},seed={s}", "norm": n, "seed": s, "status": "done", "fid": fid}
        for (n, s), fid in fids.items()
    ]
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    norms = list(dict.fromkeys(n for n, _ in fids))
    study = {"name": name, "axes": {"norm": norms}, "method": "norm", "baseline": norms[0]}
    (folder / "study.json").write_text(json.dumps(study))
    return folder / "results.csv"


def test_a_variant_grid_is_reported_next_to_the_study_it_extends(tmp_path, capsys):
    """sbn_init.gin's runs beside the v2 runs of the same settings: one table, one report."""
    v2 = {("bn", 0): 50.0, ("bn", 1): 60.0, ("sbn", 0): 40.0, ("sbn", 1): 70.0}
    main_study = _study_folder(tmp_path / "v2", "v2", v2)
    init = {("sbn_normal", 0): 30.0, ("sbn_normal", 1): 44.0}
    variant = _study_folder(tmp_path / "init", "init", init)
    text = _report([main_study, variant], tmp_path / "both").read_text()
    assert text.startswith("# Study report: v2 + init")
    assert "**sbn wins 0/1**" in text and "**sbn_normal wins 1/1**" in text  # 55 vs 37 vs 55
    against_sbn = _report([main_study, variant], tmp_path / "s", baseline="sbn").read_text()
    assert "**sbn_normal wins 1/1**" in against_sbn and "baseline `sbn`" in against_sbn

    with pytest.raises(ValueError, match=r"run norm=bn,seed=0 is in more than one results table"):
        _report([main_study, main_study], tmp_path / "twice")
    from zoo.cli.study import main

    assert main(["report", str(main_study), str(variant)]) == 1
    assert "needs --out FOLDER" in capsys.readouterr().err
    assert main(["report", str(main_study), str(variant), "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "report.md").is_file()
