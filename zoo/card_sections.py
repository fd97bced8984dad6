"""The model card's sections about how the model was evaluated and trained, in Markdown, from
the run folder's own records (:class:`~zoo.run_facts.RunFacts`): the evaluation protocol
(feature extractor, generated samples, reference split and size, best-of-evaluations or final
and its step, seed, EMA) and the training record (command, commits and machines, steps, plateau,
wall time, the curve and its numbers). A fact the run did not record is written as unknown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.training.precision import precision_name

if TYPE_CHECKING:
    from zoo.run_facts import RunFacts

__all__ = ["METRICS", "fmt", "protocol_section", "record_section"]

METRICS = {  # metrics key -> (model-index metric type, pretty name, column name)
    "fid": ("fid", "FID", "FID"),
    "is": ("inception_score", "Inception Score", "IS"),
    "kid": ("kid", "KID", "KID"),
    "prd_f8": ("prd_f8", "PRD F8 (recall)", "PRD F8"),
    "prd_f1_8": ("prd_f1_8", "PRD F1/8 (precision)", "PRD F1/8"),
}
_EXTRACTORS = {
    "inception": "InceptionV3 pool features (the paper's, Section 3.1)",
    "fashion_classifier": "the Fashion-MNIST classifier's features (`fashion_classifier`, "
    "shipped with selfmod-zoo): its FID and IS are **not comparable with Inception FIDs**",
}
_UNKNOWN = "unknown (not recorded)"


def fmt(value: Any) -> str:
    """A metric as the card prints it: 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def metric_label(key: str) -> str:
    """A metrics key as the card's evaluation table names it: ``fid`` -> "FID (`fid`)",
    ``raw_fid`` (``train.eval_raw_generator``) -> "FID of G without EMA (`raw_fid`)"."""
    base = key.removeprefix("raw_")
    names = {k: v[2] for k, v in METRICS.items()} | {"is_std": "IS std"}
    if base not in names:
        return f"`{key}`"
    without_ema = " of G without EMA" if key != base else ""
    return f"{names[base]}{without_ema} (`{key}`)"


def _shipped(facts: RunFacts) -> str:
    s, at = facts.settings, f"step {facts.step}" if facts.step is not None else "an unknown step"
    if facts.which == "final":
        return f"`final/`, the weights at the end of training ({at})"
    count = f"{len(facts.history)} evaluations" if facts.history else "the evaluations"
    metric = s["best_metric"].upper()
    return f"`best/`, the best of {count} by {metric} (`train.best_metric`), at {at}"


def _reference(facts: RunFacts, dataset: str) -> str:
    s, size = facts.settings, facts.reference_size
    split = f"the `{s['eval_split']}` split of {dataset} (`train.eval_split`)"
    if size is None:
        return f"{split}, size unknown (the dataset could not be read at export)"
    used = min(size, s["eval_num_samples"])
    return f"{split}, {size} images; {'all' if used == size else used} of them compared"


def protocol_section(facts: RunFacts, dataset: str) -> str:
    """The evaluation protocol, one bullet per fact."""
    s = facts.settings
    extractor = s["eval_extractor"]
    metrics = ", ".join(m.upper() for m in s["eval_metrics"])
    every = s["eval_every"]
    ema = "no (`train.ema_decay = 0`): the trained weights themselves"
    if s["ema_decay"]:
        ema = (
            f"yes, decay {s['ema_decay']} (`train.ema_decay`): the evaluations, the samples "
            f"and these weights are the average of G's weights"
        )
    if s["eval_raw_generator"]:
        ema += "; G's own weights evaluated too (`train.eval_raw_generator`: FID without EMA)"
    evaluation = [
        f"- **Feature extractor:** {_EXTRACTORS.get(extractor, f'`{extractor}`')}.",
        f"- **Generated samples:** {s['eval_num_samples']} (`train.eval_num_samples`), "
        f"from the generator in eval mode.",
        f"- **Reference:** {_reference(facts, dataset)}.",
        f"- **Metrics:** {metrics} (`train.eval_metrics`), "
        + (f"every {every} steps and at the end." if every else "at the end of training."),
    ]
    if not s["eval_metrics"]:
        evaluation = ["- **Metrics:** none: the run was not evaluated (`train.eval_metrics`)."]
    lines = [
        *evaluation,
        f"- **Shipped weights:** {_shipped(facts)}.",
        f"- **Seed:** {s['seed']} (`train.seed`).",
        f"- **EMA of the generator:** {ema}.",
    ]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _at_the_cap(record: dict[str, Any], settings: dict[str, Any], best: int | None) -> str:
    """A note on a run that reached ``train.steps``: not levelled off when its best evaluation
    is its last, or (with ``train.plateau_stop``) lies in the last fraction the plateau rule
    watches, so the rule could not have ended it; levelled off when the rule holds at the cap."""
    step, window = record.get("step"), settings.get("plateau_stop")
    if best is None or step is None:
        return ""
    metric = settings["best_metric"]
    name = METRICS[metric][2] if metric in METRICS else metric
    if best == step:
        return f"; its best evaluation is the last one, so the {name} may still have been improving"
    if window and best > (1 - window) * step:
        return (
            f"; no plateau: its best evaluation, at step {best}, lies in the last {window:.0%} "
            f"of the run (`train.plateau_stop`), so the {name} may still have been improving"
        )
    if window:
        return (
            f"; on a plateau at the cap: no evaluation better than step {best}'s over the last "
            f"{window:.0%} of the run (`train.plateau_stop`)"
        )
    return ""


def _ending(record: dict[str, Any], settings: dict[str, Any], best: int | None) -> str:
    step, steps, status = record.get("step"), record.get("steps"), record.get("status")
    if plateau := record.get("plateau"):
        return (
            f"{plateau['step']} of `train.steps = {steps}`: ended on a plateau, no evaluation "
            f"better than step {plateau['best_step']}'s over the last "
            f"{settings['plateau_stop']:.0%} of the run (`train.plateau_stop`)"
        )
    if status == "finished":
        return f"all {steps} (`train.steps`), finished{_at_the_cap(record, settings, best)}"
    error = f": {record['error']}" if record.get("error") else ""
    return f"{step} of {steps}: the run is `{status}`{error}"


def _sessions(sessions: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| session | from step | started | commit | host | device | CPU | precision | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = ("from_step", "started", "code", "host", "device", "cpu", "precision")
    for number, session in enumerate(sessions, 1):
        cells = [f"{session[k]}" if session.get(k) is not None else "?" for k in keys]
        cells[-1] = precision_name(cells[-1])  # accelerate's "no" reads "fp32"
        command = session.get("command")
        cells[2] = f"`{cells[2]}`"
        cells.append(f"`{command}`" if command else "not recorded")
        rows.append(f"| {number} | {' | '.join(cells)} |")
    return rows


def _record_lines(facts: RunFacts) -> list[str]:
    record = facts.record
    if record is None:
        return [
            "The run's record (`status.json`) is missing: the run was trained before the "
            "trainer kept one. The command, commit, machine, steps trained and wall time are "
            "unknown."
        ]
    sessions = record.get("sessions", [])
    commands = {s["command"] for s in sessions if s.get("command")}
    return [
        f"- **Command:** `{commands.pop()}`" if len(commands) == 1 else
        f"- **Command:** {'one per session, below' if commands else _UNKNOWN}",
        f"- **Steps trained:** {_ending(record, facts.settings, (facts.best or {}).get('step'))}.",
        f"- **Wall time:** {_duration(record.get('elapsed_s', 0.0))} "
        f"(`elapsed_s` {record.get('elapsed_s')}) over {len(sessions)} session(s).",
        "",
        *_sessions(sessions),
    ]  # fmt: skip


def _curve_table(facts: RunFacts) -> list[str]:
    """One row per evaluation: the metrics measured, and G's own score on the ranking metric
    beside its EMA's (``raw_<best_metric>``, ``train.eval_raw_generator``), as the curve shows."""
    ranked = facts.settings["best_metric"]
    names = {k: v[2] for k, v in METRICS.items()}
    names[f"raw_{ranked}"] = f"{names.get(ranked, ranked)} without EMA"
    keys = [k for k in names if any(isinstance(h.get(k), int | float) for h in facts.history)]
    best = facts.best
    rows = [
        f"| step | {' | '.join(names[k] for k in keys)} |",
        f"|---|{'---|' * len(keys)}",
    ]
    for h in facts.history:
        mark = " (best)" if best is not None and h["step"] == best["step"] else ""
        rows.append(f"| {h['step']}{mark} | {' | '.join(fmt(h.get(k, '')) for k in keys)} |")
    return rows


def record_section(facts: RunFacts, curve: str | None) -> str:
    """The training record: command, steps and how the run ended, wall time, the sessions
    (commit, machine), then the curve (``curve``: the PNG's file name) and its numbers."""
    lines = [*_record_lines(facts), "", "### Training curve", ""]
    if not facts.history:
        lines.append(
            "No evaluation history was found (no checkpoint of the run keeps a "
            "`trainer_state.json`), so there is no curve."
        )
        return "\n".join(lines)
    if curve:
        lines += [f"![{facts.settings['best_metric'].upper()} against step]({curve})", ""]
    lines += [f"Every evaluation of the run ({len(facts.history)}):", "", *_curve_table(facts)]
    return "\n".join(lines)
