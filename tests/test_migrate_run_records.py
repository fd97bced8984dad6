"""scripts/migrate_run_records.py: the former study runner's run folders (``run.json``,
``result.json``) rewritten into the trainer's record give the results rows the former reader
gave, resume like any unfinished run, and a folder converted once is left as it is."""

import importlib.util
import json
from pathlib import Path

import pytest
from trainer_process import tiny_study

from zoo.study import load_grid, run_study
from zoo.study.executors import InProcessExecutor
from zoo.study.results import collect, run_state
from zoo.training.record import code_version, read_record

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("migrate", ROOT / "scripts/migrate_run_records.py")
migrate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(migrate)


def _legacy(run_dir: Path, row: dict, elapsed: float, **files: dict) -> None:
    """A run folder of the former runner: its run.json (and ``files``, e.g. result.json)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = {"id": row["id"], "row": row, "elapsed_s": elapsed, "commits": ["abc123"]}
    (run_dir / "run.json").write_text(json.dumps(spec))
    for name, content in files.items():
        (run_dir / f"{name}.json").write_text(json.dumps(content))


def test_a_converted_folder_gives_the_row_the_former_runner_wrote(tmp_path):
    """A failed run (a multi-line error), a finished one and one never finished, with the
    study.json ``order`` of the former runner: the same rows, in order, and ``rows``."""
    rows = [{"id": f"norm=bn,seed={s}", "norm": "bn", "tag": "t", "seed": s} for s in (0, 1, 2)]
    failed = {"status": "failed", "returncode": 1, "error": "line 1\nline 2", "wall_time_s": 7.5}
    _legacy(tmp_path / "runs" / rows[2]["id"], rows[2], 7.5, result=failed)
    done = {"status": "done", "returncode": 0, "error": None, "wall_time_s": 3.25}
    _legacy(tmp_path / "runs" / rows[0]["id"], rows[0], 3.25, result=done)
    _legacy(tmp_path / "runs" / rows[1]["id"], rows[1], 100.0)  # killed mid-training
    (tmp_path / "study.json").write_text(json.dumps({"order": [r["id"] for r in rows]}))
    with pytest.raises(ValueError, match=r"convert it with python scripts/migrate_run_records\.py"):
        collect(tmp_path)  # not read as if it had never started
    assert migrate.main([str(tmp_path)]) == 0

    table = collect(tmp_path)
    columns = ["status", "wall_time_s", "best_step", "steps", "error", "commit", "precision"]
    assert list(table.columns) == ["id", "norm", "tag", "seed", *columns]
    assert list(table["id"]) == [r["id"] for r in rows]
    assert list(table["status"]) == ["done", "unfinished", "failed"]
    assert list(table["wall_time_s"]) == [3.25, 100.0, 7.5]
    assert table.loc[2, "error"] == "line 1\nline 2" and set(table["commit"]) == {"abc123"}
    assert table["precision"].isna().all()
    assert json.loads((tmp_path / "study.json").read_text()) == {"rows": rows}
    assert not list(tmp_path.glob("runs/*/run.json")) + list(tmp_path.glob("runs/*/result.json"))
    assert migrate.migrate(tmp_path) == 0  # converted once: left as it is
    assert collect(tmp_path).equals(table)


def test_an_unfinished_converted_folder_resumes_with_the_trainers_record(tmp_path):
    """A run the former runner left unfinished (run.json, checkpoints, no record) resumes from
    its checkpoint once converted; its row adds the new session's time and commit to the
    former ones. A folder that a session resumed under the record before its conversion keeps
    its record, after the former sessions."""
    output = tmp_path / "study"
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    short, longer = tiny_study(tmp_path / "a", 2), tiny_study(tmp_path / "b", 4)
    run_study(load_grid(short), output, InProcessExecutor(), echo=lambda _: None)
    run_dir = output / "runs" / "norm=bn,seed=0"
    (run_dir / "status.json").unlink()  # as the former runner left it: its own files only
    row = {"id": run_dir.name, "norm": "bn", "seed": 0}
    _legacy(run_dir, row, 50.0)
    migrate.migrate(output)
    assert run_state(run_dir) == "unfinished"
    said: list[str] = []
    table = run_study(load_grid(longer), output, InProcessExecutor(), echo=said.append)
    assert "norm=bn,seed=0: resuming from step 2" in "\n".join(said)
    (row,) = table.to_dict("records")
    assert (row["status"], row["steps"], row["precision"]) == ("done", 4, "no")
    assert row["wall_time_s"] > 50.0 and row["commit"] == f"abc123 {code_version()}"

    record = read_record(run_dir)  # as if a session had resumed it before the conversion
    _legacy(run_dir, {"id": run_dir.name, "norm": "bn", "seed": 0}, 20.0)
    migrate.migrate(output)
    merged = read_record(run_dir)
    assert merged["elapsed_s"] == round(20.0 + record["elapsed_s"], 2)
    assert merged["sessions"] == [{"code": "abc123"}, *record["sessions"]]
