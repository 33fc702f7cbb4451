"""Build the tabular T2T benchmark: train every grid point of space.yaml and write the table.

    python3 benchmarks/tabular/build.py                # resumes from the work file if present
    python3 benchmarks/tabular/build.py --workers 2    # two processes, one torch thread each

Every architecture of the grid is trained with t2tsearch's own `train_proxy` (seed 0), and a
seeded random quarter of them once more with seed 1 to measure noise. One JSON line per finished
(id, seed) goes to the work file as soon as it is done, so a killed build goes on where it stopped.
When every row is in, the versioned table (header: command, date, versions, budget) is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import itertools
import json
import multiprocessing as mp
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPACE = HERE / "space.yaml"
WORK_FILE = HERE / "t2t_mnist5k_32px_v1.work.jsonl"
TABLE_FILE = HERE / "t2t_mnist5k_32px_v1.json.gz"
TABLE_VERSION = 1
NOISE_SEED = 1
NOISE_FRACTION = 0.25
# Fixed so that the noise quarter is the same set of architectures on every machine and restart.
NOISE_DRAW_SEED = 2024


def grid_configs(space_path: Path = SPACE) -> list[Any]:
    """Every architecture the space can sample, in a fixed order (its `when` conditions honoured)."""
    from t2tsearch.space import build_config, load_space

    space = load_space(space_path)
    paths = list(space.parameters)
    configs: dict[str, Any] = {}

    def expand(position: int, values: dict[str, Any]) -> None:
        if position == len(paths):
            cfg = build_config(space, values)
            configs.setdefault(cfg.id, cfg)
            return
        path = paths[position]
        condition = space.condition(path)
        if condition is not None and not condition.evaluate(build_config(space, values)):
            expand(position + 1, values)
            return
        for value in space.parameters[path].values() or []:
            expand(position + 1, {**values, path: value})

    expand(0, {})
    return list(configs.values())


def planned_runs(configs: list[Any]) -> list[tuple[Any, int]]:
    """(config, seed) pairs: every config with seed 0, a seeded random quarter with seed 1."""
    draw = random.Random(NOISE_DRAW_SEED)
    noisy = draw.sample(range(len(configs)), k=round(NOISE_FRACTION * len(configs)))
    runs = [(cfg, 0) for cfg in configs]
    runs += [(configs[i], NOISE_SEED) for i in sorted(noisy)]
    return runs


def budget_for(seed: int) -> Any:
    from t2tsearch.space import load_space

    return load_space(SPACE).train.model_copy(update={"seed": seed, "measure_latency": False})


def done_keys(work_file: Path) -> set[tuple[str, int]]:
    if not work_file.is_file():
        return set()
    keys = set()
    for line in work_file.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill: that run is simply trained again
        keys.add((row["id"], row["seed"]))
    return keys


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def train_one(job: tuple[str, int]) -> dict[str, Any]:
    """Train one (arch JSON, seed); the row for the work file."""
    from t2tsearch.arch import ArchConfig
    from t2tsearch.cost import count_cost
    from t2tsearch.data import load_data
    from t2tsearch.train import train_proxy

    arch_json, seed = job
    cfg = ArchConfig.from_json(arch_json)
    budget = budget_for(seed)
    # The same split the trainer would load for this budget (load_data caches it per process).
    data = load_data(budget.dataset, budget.img_size, budget.data_dir,
                     split_seed=budget.data_seed,
                     train_limit=budget.train_subset, val_limit=budget.val_subset)
    cost = count_cost(cfg)
    result = train_proxy(cfg, data, budget)
    return {
        "id": cfg.id, "seed": seed, "status": result.status, "reason": result.reason,
        "params": cost.params, "macs": cost.macs, "seconds": round(result.seconds, 3),
        "accuracy": [round(100.0 * e.val_acc, 3) for e in result.epochs],
        "val_loss": [round(e.val_loss, 5) for e in result.epochs],
        "arch": json.loads(cfg.to_json()),
    }


def versions() -> dict[str, str]:
    import timm
    import torch

    import t2tsearch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "timm": timm.__version__, "t2tsearch": t2tsearch.__version__,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus"}


def write_table(work_file: Path, table_file: Path, runs: list[tuple[Any, int]],
                command: str) -> int:
    """The versioned table from the work file's rows, in grid order; returns the row count."""
    rows = {}
    for line in work_file.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[(row["id"], row["seed"])] = row
    ordered = [rows[(cfg.id, seed)] for cfg, seed in runs if (cfg.id, seed) in rows]
    header = {
        "name": "t2t_mnist5k_32px", "version": TABLE_VERSION, "command": command,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(), "space": SPACE.read_text(),
        "budget": budget_for(0).model_dump(mode="json"),
        "noise": {"seed": NOISE_SEED, "fraction": NOISE_FRACTION, "draw_seed": NOISE_DRAW_SEED},
        "architectures": len({cfg.id for cfg, _ in runs}), "rows": len(ordered),
        "complete": len(ordered) == len(runs),
    }
    with gzip.open(table_file, "wt") as out:
        json.dump({"header": header, "rows": ordered}, out, separators=(",", ":"))
    return len(ordered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="training processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--limit", type=int, default=None, help="train at most this many now")
    parser.add_argument("--work-file", type=Path, default=WORK_FILE)
    parser.add_argument("--table", type=Path, default=TABLE_FILE)
    args = parser.parse_args(argv)
    command = "python3 benchmarks/tabular/build.py " + " ".join(sys.argv[1:] if argv is None
                                                                else argv)

    runs = planned_runs(grid_configs())
    done = done_keys(args.work_file)
    todo = [(cfg.to_json(), seed) for cfg, seed in runs if (cfg.id, seed) not in done]
    if args.limit is not None:
        todo = todo[: args.limit]
    print(f"{len(runs)} runs planned ({len({c.id for c, _ in runs})} architectures), "
          f"{len(done)} done, {len(todo)} to train now", flush=True)
    started = time.perf_counter()
    args.work_file.parent.mkdir(parents=True, exist_ok=True)
    with args.work_file.open("a") as work:
        if args.workers <= 1:
            _init_worker(args.threads)
            results = map(train_one, todo)
            pool = None
        else:
            # spawn, not fork: a forked torch with threads already started can hang.
            pool = mp.get_context("spawn").Pool(args.workers, _init_worker, (args.threads,))
            results = pool.imap_unordered(train_one, todo)
        for count, row in zip(itertools.count(1), results):
            work.write(json.dumps(row, separators=(",", ":")) + "\n")
            work.flush()
            elapsed = time.perf_counter() - started
            eta = elapsed / count * (len(todo) - count)
            print(f"[{count}/{len(todo)}] {row['id']} seed {row['seed']} {row['status']} "
                  f"acc {row['accuracy']} {row['seconds']:.1f}s "
                  f"(elapsed {elapsed / 60:.1f} min, eta {eta / 60:.1f} min)", flush=True)
        if pool is not None:
            pool.close()
            pool.join()
    written = write_table(args.work_file, args.table, runs, command)
    state = "complete" if written == len(runs) else f"partial ({written}/{len(runs)})"
    print(f"wrote {args.table} with {written} rows: {state}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
