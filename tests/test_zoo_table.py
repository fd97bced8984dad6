"""The README's zoo table (zoo/zoo_table.py): built from the catalog, and the README holds it."""

from __future__ import annotations

from pathlib import Path

from zoo import catalog
from zoo.catalog import CatalogEntry
from zoo.zoo_table import readme_table, zoo_table

README = Path(__file__).resolve().parents[1] / "README.md"
GIN = "train.eval_extractor = 'fashion_classifier'\ntrain.eval_num_samples = {n}\n"


def _entry(name: str, norm: str, fid: float | None, samples: int = 10000, **kw) -> CatalogEntry:
    metrics = {"step": 9000, **({"fid": fid, "is": 4.0} if fid is not None else {})}
    return CatalogEntry(
        name=name,
        status=kw.pop("status", "published"),  # with a pinned revision: has weights
        architecture="sndcgan32",
        model_args={"norm": norm},
        repo_id=f"org/{name}",
        gin_config=GIN.format(n=samples),
        metrics=metrics,
        revision="a" * 40,
        sha256="0" * 64,
        **kw,
    )


def test_the_readme_holds_the_catalogs_table():
    assert readme_table(README) == zoo_table(catalog.load_catalog())


def test_rows_pairs_and_protocols():
    entries = {
        e.name: e
        for e in (
            _entry("selfmod-a-fm", "sbn", 20.5),
            _entry("baseline-a-fm", "bn", 31.25),
            _entry("selfmod-b-fm", "csbn", 40.0, samples=5000),
            _entry("baseline-b-fm", "cbn", 30.0),
            _entry("selfmod-c-fm", "sbn", 10.0),  # no twin
            _entry("baseline-d-fm", "bn", 12.0, status="recipe"),  # no weights: not listed
        )
    }
    lines = zoo_table(entries).splitlines()
    models = [line.split(" | ")[0].strip("| `") for line in lines[2:6]]
    assert models == ["baseline-a-fm", "baseline-b-fm", "selfmod-a-fm", "selfmod-b-fm"]
    assert "| `selfmod-a-fm` | sndcgan32 | sbn | 20.50 | 4.00 | – | – | 9000 |" in lines[4]
    assert lines[4].endswith("| fashion_classifier, 10000 samples vs `test` |")
    assert "| `a-fm` | 20.50 | 31.25 | -10.75 | yes |" in lines
    assert "| `b-fm` | 40.00 | 30.00 | 10.00 | no: not comparable |" in lines
    assert not any("`c-fm`" in line or "d-fm" in line for line in lines)


def test_an_empty_catalog_says_so():
    assert zoo_table({}) == "No model with weights in the catalog yet."
