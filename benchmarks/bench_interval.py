"""How honest is the group verdict's interval? Coverage and power on simulated groups of known truth.

Each simulated run draws two groups of architectures from one accuracy-vs-MACs curve,
99 - 8 exp(-(log MACs - log 1M)) points, MACs log-uniform over 1M-30M for both, plus Gaussian
noise, and adds a true difference of 0, 1, 2 or 4 points to the first group. Then it asks
`t2tsearch.groups.matched_difference` (a least-squares line per group, bootstrap over
architectures) and, as the baseline, the estimator it replaced (each group's front as a running
maximum, a bootstrap of it averaged over each replicate's own MAC range, the winner from the
observed sign) the same question. Accuracies are not clipped at 100: both estimators are
unchanged by adding a constant to every accuracy, so the curve's level does not matter. A run
whose two MAC ranges do not overlap (rare with 6 per group) names no winner and counts as covered.

Columns: `covers` is how often the 95% interval contains the true difference, over all four
true differences (0.95 is honest);
`winner at 0` how often a winner is named when there is none (0.05 at most is honest); `power d`
how often the right group is named winner when it is d points better; `wrong` how often the
wrong group is named, over all true differences. Noise levels: 1.2 points, and the seed noise of
mnist5k at 3 epochs, measured on the tabular benchmark's 45 architectures trained on two seeds:
the standard deviation of seed 0 minus seed 1, divided by sqrt(2) (the difference of two
independent runs has twice one run's variance).

Usage:
  OMP_NUM_THREADS=1 python3 benchmarks/bench_interval.py      # about 10 min on one core
  OMP_NUM_THREADS=1 python3 benchmarks/bench_interval.py --runs 200 --front-runs 20  # a look
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from t2tsearch.groups import GRID_POINTS, matched_difference

TABLE = Path(__file__).resolve().parent / "tabular" / "t2t_mnist5k_32px_v1.json.gz"
DIFFERENCES = (0.0, 1.0, 2.0, 4.0)


def mnist5k_seed_noise(path: Path = TABLE) -> tuple[float, int]:
    """One run's seed standard deviation (points) and the number of architectures behind it."""
    rows = json.loads(gzip.decompress(path.read_bytes()))["rows"]
    final: dict[str, dict[int, float]] = {}
    for row in rows:
        if row["status"] == "complete":
            final.setdefault(row["id"], {})[row["seed"]] = row["accuracy"][-1]
    gaps = np.array([runs[0] - runs[1] for runs in final.values() if len(runs) == 2])
    return float(gaps.std(ddof=1) / np.sqrt(2)), len(gaps)


def simulated_group(rng: np.random.Generator, size: int, shift: float, noise: float,
                    prefix: str) -> pd.DataFrame:
    log_macs = rng.uniform(np.log(1e6), np.log(3e7), size)
    accuracy = 99 - 8 * np.exp(-(log_macs - np.log(1e6))) + shift + rng.normal(0, noise, size)
    return pd.DataFrame({"config_id": [f"{prefix}{i}" for i in range(size)],
                         "macs": np.exp(log_macs), "accuracy": accuracy})


def front_interval(first: pd.DataFrame, second: pd.DataFrame, bootstrap: int,
                   rng: np.random.Generator) -> tuple[float, float, float]:
    """The replaced estimator, as it was: (observed, 2.5%, 97.5%) of the front difference."""
    a_macs, a_acc = first["macs"].to_numpy(float), first["accuracy"].to_numpy(float)
    b_macs, b_acc = second["macs"].to_numpy(float), second["accuracy"].to_numpy(float)
    low, high = max(a_macs.min(), b_macs.min()), min(a_macs.max(), b_macs.max())
    if low > high:  # it declined to decide, as the new one does
        return float("nan"), -np.inf, np.inf
    grid = np.geomspace(low, high, GRID_POINTS)
    observed = float(np.mean(_front(a_macs, a_acc, grid) - _front(b_macs, b_acc, grid)))
    replicates = []
    for _ in range(bootstrap):
        a_pick = rng.integers(0, len(a_macs), len(a_macs))
        b_pick = rng.integers(0, len(b_macs), len(b_macs))
        gap = (_front(a_macs[a_pick], a_acc[a_pick], grid)
               - _front(b_macs[b_pick], b_acc[b_pick], grid))
        if np.isfinite(gap).any():
            replicates.append(float(np.nanmean(gap)))
    ci_low, ci_high = np.percentile(replicates, [2.5, 97.5])
    return observed, float(ci_low), float(ci_high)


def _front(macs: np.ndarray, accuracy: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Best accuracy at or below each grid cost (NaN where nothing is that cheap)."""
    order = np.argsort(macs)
    best = np.maximum.accumulate(accuracy[order])
    index = np.searchsorted(macs[order], grid, side="right") - 1
    return np.where(index >= 0, best[np.maximum(index, 0)], np.nan)


def cell(estimator: str, size: int, noise: float, runs: int, bootstrap: int,
         seed: int) -> dict[str, float]:
    """Rates over `runs` simulated comparisons at each true difference."""
    rng, bootstrap_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    rates: dict[str, float] = {"wrong": 0.0}
    covered = 0
    for shift in DIFFERENCES:
        right = 0
        for _ in range(runs):
            first = simulated_group(rng, size, shift, noise, "a")
            second = simulated_group(rng, size, 0.0, noise, "b")
            if estimator == "line (new)":
                diff = matched_difference(first, second, ("a", "b"), bootstrap,
                                          int(bootstrap_rng.integers(1 << 31)))
                low, high, winner = diff.ci_low, diff.ci_high, diff.winner
                if low is None:  # MAC ranges that do not overlap: no claim at all
                    low, high = -np.inf, np.inf
            else:
                observed, low, high = front_interval(first, second, bootstrap, bootstrap_rng)
                decided = not low <= 0 <= high
                winner = ("a" if observed > 0 else "b") if decided else None
            covered += low <= shift <= high
            if shift == 0:
                rates["winner at 0"] = rates.get("winner at 0", 0.0) + (winner is not None) / runs
            else:
                right += winner == "a"
                rates["wrong"] += (winner == "b") / (runs * (len(DIFFERENCES) - 1))
        if shift:
            rates[f"power {shift:g}"] = right / runs
    rates["covers"] = covered / (runs * len(DIFFERENCES))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000,
                        help="simulated runs per true difference for the line (new)")
    parser.add_argument("--front-runs", type=int, default=250,
                        help="the same for the front (old), 40 times slower")
    parser.add_argument("--bootstrap", type=int, default=1000, help="replicates per interval")
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 12, 24],
                        help="architectures per group")
    args = parser.parse_args()

    seed_noise, pairs = mnist5k_seed_noise()
    print(f"mnist5k seed noise at 3 epochs: sd {seed_noise:.2f} points per run "
          f"(sd of the seed difference / sqrt 2, {pairs} architectures on two seeds)")
    print(f"{args.runs} simulated runs per true difference for the line, {args.front_runs} for "
          f"the front, {args.bootstrap} bootstrap replicates, true differences "
          f"{', '.join(f'{d:g}' for d in DIFFERENCES)} points\n")
    columns = ["covers", "winner at 0"] + [f"power {d:g}" for d in DIFFERENCES[1:]] + ["wrong"]
    print("| noise (points) | per group | estimator | " + " | ".join(columns) + " |")
    print("| ---: | ---: | --- |" + " ---: |" * len(columns))
    started = time.perf_counter()
    for noise in (1.2, round(seed_noise, 1)):
        for size in args.sizes:
            for estimator in ("front (old)", "line (new)"):
                runs = args.runs if estimator == "line (new)" else args.front_runs
                rates = cell(estimator, size, noise, runs, args.bootstrap,
                             seed=size * 1000 + int(noise * 10))
                values = " | ".join(f"{rates[c]:.3f}" for c in columns)
                print(f"| {noise:g} | {size} | {estimator} | {values} |", flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
