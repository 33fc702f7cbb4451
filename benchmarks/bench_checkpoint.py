"""What a per-epoch checkpoint (`search.checkpoint: true`) costs a trial, per epoch.

Each model is trained through the search's own Ray Tune trainable (`proxy_trainable`, one Tune
trial on a local Ray, the run directory's storage), once without checkpoints and once saving its
state (weights, AdamW's moments, schedule, random generators, history) after every epoch but the
last, handed to Tune, which copies it into the storage folder. The trainable times its per-epoch
reports, checkpoint included (`report_seconds` of its final result): the cost of a checkpoint is
the difference per epoch reported, set against the epoch's own time. The runs alternate (off, on,
off, on, ...) and the medians are kept, so that load from other processes hits both alike.

Usage:
  python3 benchmarks/bench_checkpoint.py                     # 3 models, 4 epochs, 3 repeats
  python3 benchmarks/bench_checkpoint.py --epochs 6 --train-subset 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from bench_train import models

from t2tsearch.budget import TrainBudget
from t2tsearch.cost import count_cost


def one_trial(cfg, budget: TrainBudget, checkpoint: bool, storage: Path) -> dict:
    """The final result of one Tune trial of the trainable, and its checkpoint's size (bytes)."""
    from ray import tune

    from t2tsearch.engine.trainable import proxy_trainable

    cost = count_cost(cfg)
    config = {"arch": cfg.to_json(), "budget": budget.model_dump(mode="json"), "macs": cost.macs,
              "params": cost.params, "cpus": 1, "evaluator": "train", "checkpoint": checkpoint}
    tuner = tune.Tuner(tune.with_resources(proxy_trainable, {"CPU": 1}), param_space=config,
                       run_config=tune.RunConfig(
                           storage_path=str(storage), verbose=0,
                           checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
    result = tuner.fit()[0]
    size = 0
    if result.checkpoint is not None:
        size = sum(f.stat().st_size for f in Path(result.checkpoint.path).rglob("*") if f.is_file())
    return {**result.metrics, "checkpoint_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-subset", type=int, default=1536)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's tables off, as in a search
    import logging

    import ray

    # Tune warns that a checkpoint with num_to_keep=1 snapshots the experiment each time: the
    # search keeps one checkpoint per trial all the same, and silences the same logger.
    logging.getLogger("ray.tune.execution.experiment_state").setLevel(logging.CRITICAL)

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             _temp_dir=tempfile.mkdtemp(prefix="t2ts-bc-", dir="/tmp"))
    budget = TrainBudget(dataset="mnist5k", img_size=28, epochs=args.epochs, batch_size=128,
                         lr=3e-3, measure_latency=False, train_subset=args.train_subset)
    checkpoints = args.epochs - 1  # none after the last epoch: the trial is over
    print(f"{args.epochs} epochs of {args.train_subset} images, {checkpoints} checkpoints per "
          f"trial, median of {args.repeats} trials each way\n")
    print("| model | params | checkpoint | epoch | reports per epoch, off | on | "
          "a checkpoint costs | of an epoch |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="t2ts-bc-runs-") as folder:
        for name, cfg in models(28).items():
            runs: dict[bool, list[dict]] = {False: [], True: []}
            for _ in range(args.repeats):
                for checkpoint in (False, True):
                    runs[checkpoint].append(one_trial(cfg, budget, checkpoint, Path(folder)))
            epoch = statistics.median(
                r["seconds"] / args.epochs for r in runs[False] + runs[True])
            off = statistics.median(r["report_seconds"] / checkpoints for r in runs[False])
            on = statistics.median(r["report_seconds"] / checkpoints for r in runs[True])
            size = max(r["checkpoint_bytes"] for r in runs[True])
            params = runs[True][0]["params"]
            print(f"| {name} | {params / 1e6:.2f}M | {size / 1e6:.2f} MB | {epoch:.2f} s | "
                  f"{off * 1000:.0f} ms | {on * 1000:.0f} ms | {(on - off) * 1000:.0f} ms | "
                  f"{(on - off) / epoch:.1%} |", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
