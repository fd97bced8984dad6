"""The fast-path ablation's per-arm statistics (README table): median, IQR and range of FID
over the seeds, how often the arm beats `fast` at the same seed, and the exact two-sided
Mann-Whitney U test of the arm's FIDs against `fast`'s.

    python results/fastpath_ablation/arm_stats.py results/fastpath_ablation/results.csv
"""

import sys

import pandas as pd
from scipy.stats import mannwhitneyu

ARMS = ["fast", "autograd_norm", "d_weight_grads", "contiguous", "foreach_adam", "none"]


def row(arm: pd.Series, fast: pd.Series, name: str) -> str:
    """One markdown row: the arm's spread and its comparison with ``fast`` (seed -> FID)."""
    q1, q3 = arm.quantile(0.25), arm.quantile(0.75)
    spread = f"{arm.median():.1f} | {q1:.1f}-{q3:.1f} | {arm.min():.1f}-{arm.max():.1f}"
    if name == "fast":
        return f"| {name} | {len(arm)} | {spread} | – | – |"
    common = arm.index.intersection(fast.index)
    better = int((arm[common] < fast[common]).sum())
    equal = int((arm[common] == fast[common]).sum())
    sign = f"{better} of {len(common)}" + (f" ({equal} equal)" if equal else "")
    p = mannwhitneyu(arm, fast, alternative="two-sided", method="exact").pvalue
    return f"| {name} | {len(arm)} | {spread} | {sign} | {p:.2f} |"


def main(path: str) -> None:
    runs = pd.read_csv(path)
    runs = runs[runs.status == "done"]
    fid = {name: runs[runs.path == name].set_index("seed")["fid"].sort_index() for name in ARMS}
    print("| path | seeds | median | IQR | range | better than fast (same seed) | p vs fast |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in ARMS:
        print(row(fid[name], fid["fast"], name))


if __name__ == "__main__":
    main(sys.argv[1])
