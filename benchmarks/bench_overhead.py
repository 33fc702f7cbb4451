"""How much of a search's wall time is not training? Runs the smoke space and compares.

The share not spent inside `train_proxy` (Ray start, worker start, scheduling, cost counting,
study and table I/O) is 1 - sum(train_proxy seconds) / (concurrency x wall). As a baseline the
same architectures are trained again by calling `train_proxy` directly in a loop, in this
process, one after another (concurrency 1), in the same run.

Usage: python3 benchmarks/bench_overhead.py [--space spaces/smoke.yaml] [--trials N]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from t2tsearch.arch import ArchConfig
from t2tsearch.search import SearchOptions, run_search
from t2tsearch.space import load_space
from t2tsearch.train import train_proxy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--space", default="spaces/smoke.yaml")
    parser.add_argument("--trials", type=int, default=None)
    args = parser.parse_args()

    space = load_space(args.space)
    concurrency = space.search.concurrency
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = run_search(args.space, out=out, name="bench",
                             options=SearchOptions(trials=args.trials, echo=lambda line: None,
                                                   command=["bench_overhead"]))
        wall = time.perf_counter() - started
    table = summary.table
    trained = table[table["reused_from"].isna() & table["seconds"].notna()]
    inside = float(trained["seconds"].sum())
    overhead = 1 - inside / (concurrency * wall)

    # Baseline: the same architectures through train_proxy alone, one at a time, 1 thread each
    # (as a trial with 1 CPU runs), so the figure is the pure training time of the same work.
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(space.search.cpus_per_trial)))
    loop_started = time.perf_counter()
    loop_inside = 0.0
    for arch in trained["arch"]:
        result = train_proxy(ArchConfig.from_json(arch), None, space.train)
        loop_inside += result.seconds
    loop_wall = time.perf_counter() - loop_started
    torch.set_num_threads(threads)

    print(f"space {args.space}: {len(table)} proposals, {len(trained)} trained, "
          f"concurrency {concurrency}, {space.train.epochs} epochs")
    print(f"{'':<34} {'wall (s)':>9} {'in train_proxy (s)':>19} {'not training':>13}")
    print(f"{'t2tsearch run (Ray Tune)':<34} {wall:>9.1f} {inside:>19.1f} {overhead:>12.1%}")
    loop_overhead = 1 - loop_inside / loop_wall
    print(f"{'plain loop over train_proxy':<34} {loop_wall:>9.1f} {loop_inside:>19.1f} "
          f"{loop_overhead:>12.1%}")
    print(f"search wall / (plain loop wall / concurrency): {wall / (loop_wall / concurrency):.2f}")


if __name__ == "__main__":
    main()
