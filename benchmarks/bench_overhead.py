"""How much of a search's wall time is not training, and where does it go? Runs the smoke space.

Each budget runs `t2tsearch run` in a fresh process, as a user would. The share of its wall
time (process start to exit) not spent inside `train_proxy` (imports, Ray start, worker start,
scheduling, cost counting, study and table I/O, slots left idle) is
1 - sum(train_proxy seconds) / (concurrency x wall).
It is split by when it happens, from each trial's end (the study's `finished` time) and its
training seconds:
  before first   slots waiting for their first training (the command's imports, Ray start,
                 trial workers importing torch and timm, first proposals)
  between        gaps between one trial's end and the next one's start on the same slot
                 (result handling, proposal, cost counting, study and trials.csv writes)
  last alone     slots idle once the budget's last trial has started (the budget is spent:
                 nothing is left to give them, whatever the tool does)
  after          from the last trial's end until the command exits
As a baseline the first run's architectures are trained again by calling `train_proxy` directly
in a loop, in this process, one after another with one thread each (as a 1-CPU trial runs).

Usage: python3 benchmarks/bench_overhead.py [--space spaces/smoke.yaml] [--trials N [N ...]]
(the smoke space holds 24 architectures: a budget over 24 reuses results instead of training)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import torch

from t2tsearch.arch import ArchConfig
from t2tsearch.engine.train import train_proxy
from t2tsearch.space import load_space


@dataclass
class Breakdown:
    """Slot-seconds of one run, by what the slots were doing."""

    trials: int
    wall: float
    inside: float
    before_first: float
    between: float
    last_alone: float
    after: float
    trained: pd.DataFrame

    def share(self, slot_seconds: float, concurrency: int) -> str:
        return f"{slot_seconds / (concurrency * self.wall):.1%}"


def run_once(space_path: str, trials: int | None, concurrency: int) -> Breakdown:
    """One `t2tsearch run` as a user types it, in a fresh process: its wall time runs from the
    process's start (Python and library imports included) to its exit (Ray's shutdown too)."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "t2tsearch.cli", "run", space_path, "--out", out,
                   "--name", "bench"] + (["--trials", str(trials)] if trials else [])
        started_at = datetime.now()  # the study's times are local and naive too
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"bench_overhead: {' '.join(command)} exited {done.returncode}:\n"
                     f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
        table = pd.read_csv(Path(out) / "bench" / "trials.csv")
    trained = table[table["reused_from"].isna() & table["seconds"].notna()].copy()
    # A trial's training ends just before the study is told (one report away); it started
    # `seconds` earlier. Times are seconds from the run's start.
    trained["end"] = [(datetime.fromisoformat(f) - started_at).total_seconds()
                      for f in trained["finished"]]
    trained["start"] = trained["end"] - trained["seconds"]
    trained = trained.sort_values("start")
    inside = float(trained["seconds"].sum())

    starts = trained["start"].tolist()
    before_first = sum(starts[:concurrency]) + max(concurrency - len(starts), 0) * wall
    last_start, last_end = max(starts), float(trained["end"].max())
    # While the last trial trains, the slot-time nobody trains in is the budget's tail.
    busy_after_last_start = sum(max(0.0, end - max(start, last_start))
                                for start, end in zip(trained["start"], trained["end"], strict=True))
    last_alone = concurrency * (last_end - last_start) - busy_after_last_start
    after = concurrency * (wall - last_end)
    between = concurrency * wall - inside - before_first - last_alone - after
    return Breakdown(len(table), wall, inside, before_first, between, last_alone, after, trained)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="spaces/smoke.yaml")
    parser.add_argument("--trials", type=int, nargs="+", default=[None],
                        help="trial budgets to run (default: the space's own)")
    args = parser.parse_args()

    space = load_space(args.space)
    concurrency = space.search.concurrency
    runs = []
    for trials in args.trials:
        runs.append(run_once(args.space, trials, concurrency))

    # Baseline: the first run's architectures through train_proxy alone, one at a time.
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(space.search.cpus_per_trial)))
    loop_started = time.perf_counter()
    loop_inside = 0.0
    for arch in runs[0].trained["arch"]:
        loop_inside += train_proxy(ArchConfig.from_json(arch), None, space.train).seconds
    loop_wall = time.perf_counter() - loop_started
    torch.set_num_threads(threads)

    print(f"space {args.space}: concurrency {concurrency}, {space.train.epochs} epochs per trial; "
          f"shares are of concurrency x wall")
    header = (f"{'run':<28} {'wall (s)':>9} {'train (s)':>10} {'not training':>13} "
              f"{'before first':>13} {'between':>8} {'last alone':>11} {'after':>6}")
    print(header)
    for run in runs:
        not_training = concurrency * run.wall - run.inside
        print(f"{f't2tsearch run, {run.trials} trials':<28} {run.wall:>9.1f} {run.inside:>10.1f} "
              f"{run.share(not_training, concurrency):>13} "
              f"{run.share(run.before_first, concurrency):>13} "
              f"{run.share(run.between, concurrency):>8} "
              f"{run.share(run.last_alone, concurrency):>11} "
              f"{run.share(run.after, concurrency):>6}")
    first = runs[0]
    print(f"{f'plain loop, {len(first.trained)} trainings':<28} {loop_wall:>9.1f} "
          f"{loop_inside:>10.1f} {1 - loop_inside / loop_wall:>13.1%}")
    print(f"first run's wall / (plain loop wall / concurrency): "
          f"{first.wall / (loop_wall / concurrency):.2f}")
    for run in runs:
        per_gap = run.between / max(len(run.trained) - concurrency, 1)
        print(f"{run.trials} trials: {run.before_first / concurrency:.1f} s per slot before its "
              f"first training, {per_gap:.2f} s per gap between trials, "
              f"{run.last_alone:.1f} slot-s idle behind the last trial")


if __name__ == "__main__":
    main()
