"""The README's zoo table, from the catalog: every model with weights (shipped or published)
with its metrics and the protocol they were measured under, then each self-modulated model
against its baseline twin (``selfmod-X`` and ``baseline-X``).

    python -m zoo.zoo_table        # prints the table that README.md's "Model zoo" holds

``tests/test_zoo_table.py`` checks that the README holds exactly this table, so the README's
figures are the catalog's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from zoo.catalog import CatalogEntry, load_catalog
from zoo.run_facts import run_settings

__all__ = ["BEGIN", "END", "readme_table", "zoo_table"]

BEGIN, END = "<!-- zoo-table: python -m zoo.zoo_table -->", "<!-- /zoo-table -->"
_COLUMNS = {"fid": "FID", "is": "IS", "prd_f8": "PRD F8", "prd_f1_8": "PRD F1/8"}


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else "–" if value is None else str(value)


def _protocol(entry: CatalogEntry) -> str:
    """The evaluation protocol of an entry's metrics, read from the gin config that trained it."""
    if not entry.gin_config:
        return "not recorded"
    s = run_settings(entry.gin_config)
    return f"{s['eval_extractor']}, {s['eval_num_samples']} samples vs `{s['eval_split']}`"


def _model_rows(entries: list[CatalogEntry]) -> list[str]:
    header = ["model", "G", "norm", *_COLUMNS.values(), "step", "protocol"]
    rows = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    for e in entries:
        metrics = [_cell(e.metrics.get(key)) for key in _COLUMNS]
        cells = [f"`{e.name}`", e.architecture, e.model_args.get("norm", "?"), *metrics]
        rows.append(f"| {' | '.join([*cells, _cell(e.metrics.get('step')), _protocol(e)])} |")
    return rows


def _pair_rows(entries: Mapping[str, CatalogEntry]) -> list[str]:
    """One row per self-modulated model whose baseline twin also has weights: both FIDs and the
    difference (negative: self-modulation is better); a pair measured under two protocols is
    marked so."""
    rows = []
    for name, ours in entries.items():
        model = name.removeprefix("selfmod-")
        if model == name or (twin := entries.get(f"baseline-{model}")) is None:
            continue
        fids = ours.metrics.get("fid"), twin.metrics.get("fid")
        diff = _cell(fids[0] - fids[1]) if None not in fids else "–"
        same = _protocol(ours) == _protocol(twin)
        cells = [f"`{model}`", _cell(fids[0]), _cell(fids[1]), diff]
        rows.append(f"| {' | '.join(cells)} | {'yes' if same else 'no: not comparable'} |")
    if not rows:
        return []
    header = "| pair | self-modulated FID | baseline FID | difference | same protocol |"
    return ["", header, "|---|---|---|---|---|", *rows]


def zoo_table(catalog: Mapping[str, CatalogEntry] | None = None) -> str:
    """The markdown table of the catalog's models with weights, then their pairs."""
    catalog = load_catalog() if catalog is None else catalog
    entries = {n: e for n, e in sorted(catalog.items()) if e.has_weights}
    if not entries:
        return "No model with weights in the catalog yet."
    return "\n".join([*_model_rows(list(entries.values())), *_pair_rows(entries)])


def readme_table(readme: str | Path) -> str:
    """The table between :data:`BEGIN` and :data:`END` in a README."""
    text = Path(readme).read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme} has no zoo table between {BEGIN} and {END}.")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


if __name__ == "__main__":
    print(zoo_table())
