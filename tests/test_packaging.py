"""Packaging: every third-party package the code imports is declared in pyproject.toml."""

import ast
import os
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"benchmarks", "registry", "zoo", "scripts"}


def _imported_modules() -> set[str]:
    modules = set()
    for folder in ("benchmarks", "registry", "zoo", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                modules.update(name.split(".")[0] for name in names)  # optional ones too
    return modules - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_normalized(re.split(r"[<>=!~;\[ ]", d)[0]) for d in project["dependencies"]}
    distributions = packages_distributions()
    imported = _imported_modules()
    assert {"numpy", "pandas", "PIL", "tqdm", "torch", "httpx"} <= imported  # the scan sees them
    undeclared = {
        module: distributions.get(module, [module])
        for module in imported
        if not any(_normalized(d) in declared for d in distributions.get(module, [module]))
    }
    assert not undeclared, f"imported but not in pyproject.toml dependencies: {undeclared}"


def test_every_program_is_a_module_a_script_and_a_command():
    """Each zoo/cli program has main(argv) -> int, a scripts/ file that calls it and a
    [project.scripts] command; --help works through the module without a file path."""
    import importlib
    import subprocess

    programs = sorted(p.stem for p in (ROOT / "zoo" / "cli").glob("*.py") if p.stem != "__init__")
    commands = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"train", "evaluate", "sample", "publish", "study", "prepare_data"} <= set(programs)
    entry_points = set(commands.values())
    for name in programs:
        assert callable(importlib.import_module(f"zoo.cli.{name}").main)
        assert f"zoo.cli.{name}:main" in entry_points, name
        assert f"from zoo.cli.{name} import main" in (ROOT / "scripts" / f"{name}.py").read_text()
    assert entry_points == {f"zoo.cli.{name}:main" for name in programs}, "a stray command"
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli.train", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--gin" in done.stdout


def test_the_benchmarks_run_from_the_checkout_and_are_not_installed(tmp_path):
    """benchmarks/ (beside zoo/, as timm keeps benchmark.py) is not a package of the wheel and
    has no installed command: scripts/bench.py is its one entry, and it finds benchmarks/ from
    any working folder; every other script is a zoo/cli program, but the one-time conversion of
    the former study runner's run folders (scripts/migrate_run_records.py)."""
    import subprocess

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any("bench" in name for name in project["project"]["scripts"])
    assert "benchmarks*" not in project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "from benchmarks.cli import main" in (ROOT / "scripts" / "bench.py").read_text()
    programs = {p.stem for p in (ROOT / "zoo" / "cli").glob("*.py")}
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    assert scripts - programs == {"bench", "migrate_run_records"}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for subcommand in ("features", "step", "variants", "widths", "train", "peer", "limit"):
        assert f"scripts/bench.py {subcommand}" in done.stdout, subcommand
    assert "scripts/bench.py gpu" in done.stdout and "scripts/bench.py data" in done.stdout
