"""What a study report compares (Section 3.2): which columns of the results are settings, the
method axis (BN vs sBN) and its baseline, the tuned hyperparameters, and the metric, with the
direction its metric declares (:attr:`zoo.evaluation.metric.Metric.higher_is_better`: lower is
better for FID and KID, higher for IS and the PRD scores)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from zoo.evaluation.api import higher_is_better, metric_scores
from zoo.study.results import RUN_COLUMNS

__all__ = ["ReportSpec", "higher_is_better", "metric_scores", "report_spec"]


@dataclass(frozen=True)
class ReportSpec:
    """Which columns are settings, which one is the method and its baseline, which settings are
    tuned over in the unpaired comparison, and the metric (better lower, unless its metric
    declares it better higher: :func:`higher_is_better`)."""

    settings: tuple[str, ...]
    method: str = "norm"
    baseline: str = "bn"
    tuned: tuple[str, ...] = ()
    metric: str = "fid"
    seed: str = "seed"
    orders: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Display order of each axis's values (the grid's declared order)."""

    @property
    def higher_is_better(self) -> bool:
        """Whether a higher metric is better (IS, PRD) rather than a lower one (FID)."""
        return higher_is_better(self.metric) is True

    @property
    def better(self) -> str:
        """ "lower" or "higher", for the report's text."""
        return "higher" if self.higher_is_better else "lower"

    def loss(self, values: pd.Series) -> pd.Series:
        """``values`` turned lower-is-better (negated for a higher-is-better metric)."""
        return -values if self.higher_is_better else values

    @property
    def model(self) -> list[str]:
        """Columns that define a model of Table 2 (settings minus tuned and method)."""
        return [c for c in self.settings if c not in self.tuned and c != self.method]

    @property
    def pair(self) -> list[str]:
        """Columns that define a paired comparison (all settings but the method)."""
        return [c for c in self.settings if c != self.method]

    def methods(self, values: Sequence[str]) -> list[str]:
        """The non-baseline methods present in ``values``, in display order."""
        present = set(values) - {self.baseline}
        order = [m for m in self.orders.get(self.method, ()) if m in present]
        return order + sorted(present - set(order))

    def ordered(self, values: Sequence[str]) -> list[str]:
        """The baseline (when present in ``values``), then :meth:`methods`."""
        return [self.baseline] * (self.baseline in set(values)) + self.methods(values)

    def check(self, table: pd.DataFrame) -> None:
        """Raise ValueError when ``table`` has no method column or the baseline is not one of
        the method's values (the grid's declared ones, else those in the table)."""
        if self.method not in table:
            raise ValueError(f"method axis {self.method!r} is no column of the results table")
        values = self.orders.get(self.method) or table[self.method].dropna().astype(str).unique()
        if self.baseline not in set(values):
            raise ValueError(
                f"baseline {self.baseline!r} is not a value of {self.method!r} "
                f"({', '.join(map(str, values))}): name it with --baseline"
            )


def report_spec(
    table: pd.DataFrame, study: Mapping[str, Any] | None = None, **overrides: Any
) -> ReportSpec:
    """The spec of a results table: from the ``study.json`` a run writes (axes, tags, method,
    baseline, tuned) when there is one, else the settings are the text columns that are not
    the runner's; ``overrides`` (``method``, ``baseline``, ``tuned``, ``metric``; None keeps
    the study's) replace its values."""
    known = {k: v for k, v in overrides.items() if v is not None}
    if study:
        spec = {k: study[k] for k in ("method", "baseline") if k in study}
        spec["tuned"] = tuple(study.get("tuned", ()))
        spec["orders"] = {**study.get("tag_values", {}), **study["axes"]}
        return ReportSpec((*study["axes"], *study.get("tags", ())), **{**spec, **known})
    settings = tuple(
        c
        for c in table.columns
        if c not in RUN_COLUMNS
        and (table[c].dtype == object or pd.api.types.is_string_dtype(table[c]))
    )
    known.setdefault("tuned", tuple(c for c in ("opt",) if c in settings))
    return ReportSpec(settings, **known)
