"""How honest is the group verdict's interval? Coverage, power and equivalence on simulated groups
of known truth.

Each simulated run draws two groups of architectures from one accuracy-vs-MACs curve,
99 - 8 exp(-(log MACs - log 1M)) points, plus Gaussian noise, and adds a true difference of 0,
1, 2 or 4 points to the first group. Two layouts: both groups log-uniform over 1M-30M MACs
(`same`), and the first over 1M-4M, the second (twice as many) over 2M-30M (`apart`, where
the curve bends across the first group's range and the groups share only 2M-4M). Then
`t2tsearch.groups.matched_difference` (a least-squares line per group fitted to the
architectures in the MAC range both cover, read at its midpoint, bootstrap over architectures)
and, as the baseline, the estimator it replaced (the same lines fitted to each group's whole
range, read at the shared range's midpoint) answer the same question. Accuracies are not
clipped at 100: both estimators are unchanged by adding a constant to every accuracy.

Columns: `answers` how often an interval is given at all (too few architectures in the shared
range gives none, and no winner); among those, `covers` how often the 95% interval contains the
true difference, over all four true differences (0.95 is honest); `winner at 0` how often a
winner is named when there is none (0.05 at most is honest; runs with no interval name none);
`power d` how often the right group is named winner when it is d points better; `equiv at 0` and
`equiv at 1` how often the groups are called equivalent within +-1 point when they do not differ
and when they differ by exactly the margin (two one-sided tests at 5%: 0.05 at most is honest).
Noise levels: 1.2 points, and the seed noise of mnist5k at 3 epochs, measured on the tabular
benchmark's 45 architectures trained on two seeds: the standard deviation of seed 0 minus seed 1,
divided by sqrt(2).

Usage:
  OMP_NUM_THREADS=1 python3 benchmarks/bench_interval.py      # about 10 min on one core
  OMP_NUM_THREADS=1 python3 benchmarks/bench_interval.py --runs 100  # a look
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from t2tsearch.groups import matched_difference

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


# (first group's MAC range, second's, second's size as a multiple of the first's): `apart`
# gives the wider range twice the architectures, so that both have a few in the shared part.
LAYOUTS = {"same": ((1e6, 3e7), (1e6, 3e7), 1), "apart": ((1e6, 4e6), (2e6, 3e7), 2)}


def simulated_group(rng: np.random.Generator, size: int, shift: float, noise: float,
                    prefix: str, macs_range: tuple[float, float] = (1e6, 3e7)) -> pd.DataFrame:
    log_macs = rng.uniform(np.log(macs_range[0]), np.log(macs_range[1]), size)
    accuracy = 99 - 8 * np.exp(-(log_macs - np.log(1e6))) + shift + rng.normal(0, noise, size)
    return pd.DataFrame({"config_id": [f"{prefix}{i}" for i in range(size)],
                         "macs": np.exp(log_macs), "accuracy": accuracy})


def whole_range_interval(first: pd.DataFrame, second: pd.DataFrame, bootstrap: int,
                         rng: np.random.Generator) -> tuple[float, float, float] | None:
    """The replaced estimator: each group's line over its whole MAC range, read at the shared
    range's log midpoint, bootstrap over architectures widened by sqrt(n / (n - 2));
    (observed, 2.5%, 97.5%), or None when the ranges do not overlap."""
    low = max(first["macs"].min(), second["macs"].min())
    high = min(first["macs"].max(), second["macs"].max())
    if low > high:
        return None
    at = (np.log(low) + np.log(high)) / 2
    observed, spread = 0.0, 0.0
    for sign, rows in ((1, first), (-1, second)):
        x, y = np.log(rows["macs"].to_numpy(float)), rows["accuracy"].to_numpy(float)
        value = np.polyval(np.polyfit(x, y, 1), at)
        picks = rng.integers(0, len(x), (bootstrap, len(x)))
        xs, ys = x[picks], y[picks]
        dx = xs - xs.mean(1, keepdims=True)
        slope = (dx * (ys - ys.mean(1, keepdims=True))).sum(1) / np.maximum((dx * dx).sum(1),
                                                                            1e-12)
        drawn = ys.mean(1) + slope * (at - xs.mean(1))
        widen = np.sqrt(len(x) / (len(x) - 2))
        observed += sign * value
        spread = spread + sign * (value + widen * (drawn - value))
    low_q, high_q = np.percentile(spread, [2.5, 97.5])
    return observed, min(float(low_q), observed), max(float(high_q), observed)


def cell(estimator: str, layout: str, size: int, noise: float, runs: int, bootstrap: int,
         seed: int) -> dict[str, float]:
    """Rates over `runs` simulated comparisons at each true difference."""
    rng, bootstrap_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    first_range, second_range, second_scale = LAYOUTS[layout]
    rates: dict[str, float] = {"wrong": 0.0, "equiv at 0": float("nan"),
                               "equiv at 1": float("nan")}
    covered = answered = 0
    for shift in DIFFERENCES:
        right = equivalent = 0
        for _ in range(runs):
            first = simulated_group(rng, size, shift, noise, "a", first_range)
            second = simulated_group(rng, size * second_scale, 0.0, noise, "b", second_range)
            if estimator == "shared range (now)":
                diff = matched_difference(first, second, ("a", "b"), bootstrap,
                                          int(bootstrap_rng.integers(1 << 31)))
                low, high, winner = diff.ci_low, diff.ci_high, diff.winner
                equivalent += diff.equivalent
            else:
                found = whole_range_interval(first, second, bootstrap, bootstrap_rng)
                low = high = winner = None
                if found is not None:
                    observed, low, high = found
                    winner = None if low <= 0 <= high else ("a" if low > 0 else "b")
            if low is not None:
                answered += 1
                covered += low <= shift <= high
            if shift == 0:
                rates["winner at 0"] = rates.get("winner at 0", 0.0) + (winner is not None) / runs
            else:
                right += winner == "a"
                rates["wrong"] += (winner == "b") / (runs * (len(DIFFERENCES) - 1))
        if shift:
            rates[f"power {shift:g}"] = right / runs
        if estimator == "shared range (now)" and shift in (0.0, 1.0):
            rates[f"equiv at {shift:g}"] = equivalent / runs
    rates["answers"] = answered / (runs * len(DIFFERENCES))
    rates["covers"] = covered / max(answered, 1)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000,
                        help="simulated runs per true difference and estimator")
    parser.add_argument("--bootstrap", type=int, default=1000, help="replicates per interval")
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 12, 24],
                        help="architectures per group")
    args = parser.parse_args()

    seed_noise, pairs = mnist5k_seed_noise()
    print(f"mnist5k seed noise at 3 epochs: sd {seed_noise:.2f} points per run "
          f"(sd of the seed difference / sqrt 2, {pairs} architectures on two seeds)")
    print(f"{args.runs} simulated runs per true difference and estimator, {args.bootstrap} "
          f"bootstrap replicates, true differences "
          f"{', '.join(f'{d:g}' for d in DIFFERENCES)} points\n")
    columns = (["answers", "covers", "winner at 0"] + [f"power {d:g}" for d in DIFFERENCES[1:]]
               + ["wrong", "equiv at 0", "equiv at 1"])
    print("| layout | noise (points) | per group | estimator | " + " | ".join(columns) + " |")
    print("| --- | ---: | ---: | --- |" + " ---: |" * len(columns))
    started = time.perf_counter()
    for layout in LAYOUTS:
        for noise in (1.2, round(seed_noise, 1)):
            for size in args.sizes:
                for estimator in ("whole range (before)", "shared range (now)"):
                    rates = cell(estimator, layout, size, noise, args.runs, args.bootstrap,
                                 seed=size * 1000 + int(noise * 10))
                    values = " | ".join("-" if np.isnan(rates[c]) else f"{rates[c]:.3f}"
                                        for c in columns)
                    print(f"| {layout} | {noise:g} | {size} | {estimator} | {values} |",
                          flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
