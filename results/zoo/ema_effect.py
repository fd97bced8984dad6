"""EMA's effect, measured in the zoo's runs (issue 30): at every evaluation, the FID of the
average of G's weights (EMA: what the trainer evaluates, keeps in ``best/`` and ships) beside
the FID of G's own weights (``train.eval_raw_generator = True``: ``raw_fid``), and each run's
best of both. Prints markdown; reads the newest checkpoint's evaluation history of each run.

    python results/zoo/ema_effect.py runs/zoo/selfmod-sndcgan-fashion_mnist \
        runs/zoo/baseline-sndcgan-fashion_mnist
"""

from __future__ import annotations

import sys
from pathlib import Path

from zoo.run_facts import evaluation_history


def history(run: Path) -> dict[int, dict[str, float]]:
    """step -> the evaluation at that step, from the run's newest complete checkpoint."""
    evaluations = evaluation_history(run)
    if not evaluations:
        sys.exit(f"{run}: no checkpoint with an evaluation history")
    if not all("raw_fid" in h for h in evaluations):
        sys.exit(f"{run}: trained without train.eval_raw_generator = True (no raw_fid)")
    return {h["step"]: h for h in evaluations}


def best(evaluations: dict[int, dict[str, float]], key: str) -> str:
    step = min(evaluations, key=lambda s: evaluations[s][key])
    return f"{evaluations[step][key]:.1f} (step {step})"


def main(runs: list[Path]) -> None:
    histories = {run.name: history(run) for run in runs}
    steps = sorted(set().union(*histories.values()))
    print("| step | " + " | ".join(f"{n}: EMA | {n}: G" for n in histories) + " |")
    print("|---|" + "---|---|" * len(histories))
    for step in steps:
        cells = []
        for evaluations in histories.values():
            h = evaluations.get(step)
            cells += [f"{h['fid']:.1f}", f"{h['raw_fid']:.1f}"] if h else ["–", "–"]
        print(f"| {step} | " + " | ".join(cells) + " |")
    print()
    print("| run | best FID with EMA | best FID of G | EMA better at |")
    print("|---|---|---|---|")
    for name, evaluations in histories.items():
        wins = sum(h["fid"] < h["raw_fid"] for h in evaluations.values())
        print(
            f"| {name} | {best(evaluations, 'fid')} | {best(evaluations, 'raw_fid')} "
            f"| {wins} of {len(evaluations)} evaluations |"
        )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main([Path(a) for a in sys.argv[1:]])
