"""Rank the trainings of several bench_fidelity work files against one reference, and answer
the space's group question from each.

    python3 benchmarks/fidelity/compare.py \\
        --reference benchmarks/fidelity/fashion_mnist_30k.jsonl:reference \\
        benchmarks/fidelity/fashion_mnist_30k.jsonl benchmarks/fidelity/fashion_mnist.jsonl

bench_fidelity ranks the recipes of one work file against that file's reference. This reads
work files as they are (no training), so recipes measured on different data sizes can be
ranked against one reference: for every (file, recipe) it prints Kendall's tau of the
architectures' mean accuracy (over the recipe's seeds) against the reference's mean, and the
space's first two groups compared at matched MACs by `t2tsearch.groups.matched_difference`
(the report's estimate: the architectures inside the MAC range both groups cover, each group's
line in log MACs, a bootstrap interval over architectures and seeds).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

HERE = Path(__file__).resolve().parent


def bench_fidelity():
    spec = importlib.util.spec_from_file_location("bench_fidelity", HERE.parent / "bench_fidelity.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_runs(path: Path) -> pd.DataFrame:
    """One row per complete training: file, recipe (its label without the seed), seed,
    config_id, accuracy in points."""
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("status") != "complete":
            continue
        recipe, _, seed = row["recipe"].rpartition(" s")
        rows.append({"file": path.name, "recipe": recipe, "seed": int(seed),
                     "config_id": row["key"].split("|")[0], "accuracy": 100.0 * row["accuracy"]})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("work", nargs="+", type=Path, help="bench_fidelity work files")
    parser.add_argument("--reference", required=True, metavar="FILE:RECIPE",
                        help="the trainings to rank against (their mean over seeds)")
    args = parser.parse_args(argv)
    from t2tsearch.cost import count_cost
    from t2tsearch.groups import matched_difference

    bench = bench_fidelity()
    space, configs = bench.architectures(bench.SPREAD)
    by_id = {cfg.id: cfg for cfg in configs}
    conditions = space.group_conditions
    names = tuple(conditions)[:2]
    if len(names) < 2:
        raise SystemExit(f"{bench.SPACE_FILE}: needs two groups to compare")
    groups = {cid: [n for n, c in conditions.items() if c.evaluate(cfg)]
              for cid, cfg in by_id.items()}
    macs = {cid: count_cost(cfg).macs for cid, cfg in by_id.items()}

    runs = pd.concat([read_runs(path) for path in args.work], ignore_index=True)
    runs = runs[runs["config_id"].isin(by_id)]
    ref_file, _, ref_recipe = args.reference.rpartition(":")
    chosen = runs[(runs["file"] == Path(ref_file).name) & (runs["recipe"] == ref_recipe)]
    if chosen.empty:
        raise SystemExit(f"--reference {args.reference}: no complete trainings of that recipe")
    reference = chosen.groupby("config_id")["accuracy"].mean()

    print(f"against {args.reference} (mean of {chosen['seed'].nunique()} seed(s), "
          f"{len(reference)} architectures); groups {names[0]} minus {names[1]} at matched MACs\n")
    print("| file | recipe | seeds | n | tau | p | difference | 95% interval | detectable |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    seen: dict[tuple[str, str], pd.DataFrame] = defaultdict(pd.DataFrame)
    for key, part in runs.groupby(["file", "recipe"], sort=False):
        seen[key] = part
    for (file, recipe), part in seen.items():
        means = part.groupby("config_id")["accuracy"].mean()
        shared = means.index.intersection(reference.index)
        tau, p = kendalltau(means[shared], reference[shared]) if len(shared) >= 3 else (np.nan,
                                                                                        np.nan)
        per_arch = pd.DataFrame({"config_id": means.index, "accuracy": means.values,
                                 "macs": [macs[c] for c in means.index]})
        members = [per_arch[[name in groups[c] for c in per_arch["config_id"]]] for name in names]
        seeds = part[["config_id", "seed", "accuracy"]] if part["seed"].nunique() > 1 else None
        result = matched_difference(members[0], members[1], names, seed_runs=seeds)
        if result.difference is None:
            cells = ["-", result.undecided_because, "-"]
        else:
            detectable = "-" if result.detectable is None else f"{result.detectable:.1f}"
            cells = [f"{result.difference:+.2f}", f"{result.ci_low:+.2f} to {result.ci_high:+.2f}",
                     detectable]
        print(f"| {file} | {recipe} | {part['seed'].nunique()} | {len(shared)} | {tau:.2f} | "
              f"{p:.2g} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
