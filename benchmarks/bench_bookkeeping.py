"""Does a trial's bookkeeping (study tell, trials.csv, progress line) stay flat as a run grows?

Drives the search's own StudySearcher by hand, as Ray Tune would, with every trial answered at
once from the tabular benchmark (no Ray, no training), and times each call of its `_finish`:
the user attributes and the tell to the study, the trials.csv row, the progress line. Prints
the mean and the 90th percentile over the 50 proposals up to trial 50 and up to the last one;
for contrast, what rewriting trials.csv whole from the study (what every finished trial used
to cost) takes at each size.

Usage: python3 benchmarks/bench_bookkeeping.py [--trials 2000] [--at 50] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

from t2tsearch.arch import ArchConfig
from t2tsearch.atomic import atomic_write
from t2tsearch.engine.evaluator import TableEvaluator
from t2tsearch.engine.search import Progress, StudySearcher, apply_overrides, open_study
from t2tsearch.engine.train import TrainBudget
from t2tsearch.results import RunDir, trials_table
from t2tsearch.space import load_space

TABULAR = Path(__file__).resolve().parent / "tabular"
WINDOW = 50  # proposals each figure is taken over


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--at", type=int, default=50, help="the small size to compare with")
    parser.add_argument("--dir", default=None, help="where the run goes (default: a temporary "
                        "folder; /dev/shm leaves the disk's fsyncs out)")
    args = parser.parse_args()
    space = apply_overrides(load_space(TABULAR / "space.yaml"),
                            {"trials": args.trials, "sampler": "random", "goal": "front",
                             "seed": 0}, "bench")
    table = TableEvaluator(TABULAR / "t2t_mnist5k_32px_v1.json.gz")
    budget = TrainBudget(**space.train.model_dump())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(dir=args.dir) as out:
        run = RunDir.create(out, "bench")
        run.write_space(space)
        study = open_study(run, space, create=True)
        searcher = StudySearcher(space, study, run, args.trials, Progress(args.trials, _quiet))
        durations: list[float] = []  # one per finished proposal, in order
        full_rewrite: dict[int, float] = {}
        finish = searcher._finish

        def timed_finish(*call_args, **kwargs) -> None:
            started = time.perf_counter()
            finish(*call_args, **kwargs)
            durations.append(time.perf_counter() - started)
            if len(durations) in (args.at, args.trials) and len(durations) not in full_rewrite:
                started = time.perf_counter()
                atomic_write(run.path / "rewrite.csv", trials_table(study).to_csv(index=False))
                full_rewrite[len(durations)] = time.perf_counter() - started

        searcher._finish = timed_finish
        number = 0
        wall = time.perf_counter()
        while len(durations) < args.trials:
            config = searcher.suggest(f"t{number}")
            if not isinstance(config, dict):
                break
            answer = table.evaluate(ArchConfig.from_json(config["arch"]), budget,
                                    trial_seed=config["trial_seed"])
            curve = [m.val_acc * 100 for m in answer.epochs]
            searcher.on_trial_complete(f"t{number}", {
                "final": True, "status": answer.status, "reason": answer.reason,
                "epoch": len(curve), "accuracy": curve[-1] if curve else None,
                "accuracy_curve": curve, "seconds": answer.seconds}, error=False)
            number += 1
        wall = time.perf_counter() - wall
    print(f"{len(durations)} proposals ({number} answered from the table) in {wall:.0f} s; "
          f"per-proposal bookkeeping (tell + trials.csv row + progress line), ms:")
    print(f"{'proposals':>10} {'mean':>7} {'p90':>7}   {'whole-table rewrite (before)':>28}")
    for size in (args.at, len(durations)):
        window = np.array(durations[max(size - WINDOW, 0):size]) * 1e3
        rewrite = full_rewrite.get(size)
        shown = f"{rewrite * 1e3:.1f}" if rewrite is not None else "-"
        print(f"{size:>10} {window.mean():>7.2f} {np.percentile(window, 90):>7.2f}   "
              f"{shown:>28}")


def _quiet(line: str) -> None:
    pass


if __name__ == "__main__":
    main()
