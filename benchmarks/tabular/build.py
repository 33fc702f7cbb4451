"""Build a tabular T2T benchmark: train every grid point of a space and write the table.

    python3 benchmarks/tabular/build.py                # v1; resumes from the work file if present
    python3 benchmarks/tabular/build.py --workers 2    # two processes, one torch thread each
    python3 benchmarks/tabular/build.py --seeds 2      # v2: seeds 0 and 1 of every architecture
    python3 benchmarks/tabular/build.py --space benchmarks/tabular/fashion_space.yaml
                                                       # another grid (v2, 2 seeds by default)

Every architecture of the grid is trained with t2tsearch's own `train_proxy`. v1 (the default):
seed 0, and a seeded random quarter once more with seed 1 to measure noise, each seed on its own
train/validation split (`split_seed: null`, as v1 was built). v2 (`--seeds N`): seeds 0..N-1 of
every architecture, all on split 0 (`split_seed: 0`), so seeds differ in initialisation, batch
order and augmentation only and the table evaluator can serve a trial any of them. v1's seed-0
rows were trained on split 0 with v2's budget, so v2 copies them (after retraining a few to check
that this code reproduces them, `--verify-reused`) and trains the other seeds; `--no-reuse`
trains everything. One JSON line per finished (id, seed) goes to the work file as soon as it is
done, so a killed build goes on where it stopped. When every row is in, the versioned table
(header: command, date, versions, budget, seeds) is written.

`--space FILE` builds another grid, named after the space's `name`: every architecture the space
can sample that passes its constraints (MAC and parameter limits counted with fvcore, cached in
cost_cache/), each with seeds 0..N-1 (`--seeds`, default 2) on the space's own split_seed and
training budget. Only the default grid has v1 (one seed and a noise quarter) and reuse.
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
NAME = "t2t_mnist5k_32px"  # the default grid's table; another space's table takes its name
COST_CACHE = HERE / "cost_cache"
TABLE_FILE = HERE / f"{NAME}_v1.json.gz"
TABLE_VERSION = 1  # the default build; --seeds N builds version 2
# The train/validation split of each version: v1's follows the seed (None, built before
# train.split_seed existed); v2's is fixed, so every seed is measured on the same images.
SPLIT_SEED = {1: None, 2: 0}
NOISE_SEED = 1
NOISE_FRACTION = 0.25
# Fixed so that the noise quarter is the same set of architectures on every machine and restart.
NOISE_DRAW_SEED = 2024


def table_name(space_path: Path = SPACE) -> str:
    """The table's name: the default grid's NAME, else the space's own `name`."""
    from t2tsearch.space import load_space

    return NAME if space_path.resolve() == SPACE else load_space(space_path).name


def table_files(space_path: Path, version: int) -> tuple[Path, Path]:
    """(work file, table) of a grid's version, beside build.py."""
    name = table_name(space_path)
    return HERE / f"{name}_v{version}.work.jsonl", HERE / f"{name}_v{version}.json.gz"


def grid_configs(space_path: Path = SPACE, cache_dir: Path | None = COST_CACHE) -> list[Any]:
    """Every architecture the space can sample, in a fixed order (its `when` conditions honoured),
    less those its constraints reject before training (counted once, cached in `cache_dir`)."""
    from t2tsearch.space import build_config, load_space
    from t2tsearch.space.feasibility import check_candidate

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
    return [cfg for cfg in configs.values()
            if check_candidate(cfg, space, cache_dir=cache_dir) is None]


def planned_runs(configs: list[Any], seeds: int | None = None) -> list[tuple[Any, int]]:
    """(config, seed) pairs. v1 (seeds None): every config with seed 0, a seeded random quarter
    with seed 1. v2 (seeds N): every config with each of seeds 0..N-1, seed by seed."""
    if seeds is not None:
        return [(cfg, seed) for seed in range(seeds) for cfg in configs]
    draw = random.Random(NOISE_DRAW_SEED)
    noisy = draw.sample(range(len(configs)), k=round(NOISE_FRACTION * len(configs)))
    runs = [(cfg, 0) for cfg in configs]
    runs += [(configs[i], NOISE_SEED) for i in sorted(noisy)]
    return runs


def budget_for(seed: int, version: int = TABLE_VERSION, space_path: Path = SPACE) -> Any:
    """The space's training budget with `seed` and the split of its rows: for the default grid
    the version's (SPLIT_SEED), for another space its own `train.split_seed`."""
    from t2tsearch.space import load_space

    train = load_space(space_path).train
    if space_path.resolve() == SPACE:
        split_seed = SPLIT_SEED[version]
    elif train.split_seed is None:
        raise SystemExit(f"{space_path}: train.split_seed: a table needs one split for every "
                         f"seed, and null draws one per seed; set it (for example 0)")
    else:
        split_seed = train.split_seed
    return train.model_copy(
        update={"seed": seed, "split_seed": split_seed, "measure_latency": False})


def recipe_key(budget: Any) -> str:
    """A short hash of a training budget less its seed: rows of one table share it, so a build
    resumed after the recipe changed trains the old rows again instead of mixing recipes."""
    import hashlib

    text = budget.model_copy(update={"seed": 0}).model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def open_for_append(work_file: Path):
    """The work file opened to append rows. A kill can leave its last line cut short; that
    fragment is cut off first (its row is trained again), so the next row starts a line of its
    own instead of joining it, and every line stays a row a table reader can parse."""
    work_file.parent.mkdir(parents=True, exist_ok=True)
    if work_file.is_file():
        data = work_file.read_bytes()
        if data and not data.endswith(b"\n"):
            with work_file.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
    return work_file.open("a")


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def train_one(job: tuple[str, str]) -> dict[str, Any]:
    """Train one (arch JSON, budget JSON with the row's seed); the row for the work file."""
    from t2tsearch.arch import ArchConfig
    from t2tsearch.budget import TrainBudget
    from t2tsearch.cost import count_cost
    from t2tsearch.device import resolve_device
    from t2tsearch.engine.data import load_data
    from t2tsearch.engine.train import train_proxy

    arch_json, budget_json = job
    cfg = ArchConfig.from_json(arch_json)
    budget = TrainBudget.model_validate_json(budget_json)
    seed = budget.seed
    # The same split the trainer would load for this budget (load_data caches it per process).
    data = load_data(budget.dataset, budget.img_size, budget.data_dir,
                     split_seed=budget.data_seed,
                     train_limit=budget.train_subset, val_limit=budget.val_subset,
                     val_size=budget.val_size)
    cost = count_cost(cfg, COST_CACHE)  # counted once already, when the grid was listed
    result = train_proxy(cfg, data, budget)
    return {
        "id": cfg.id, "seed": seed, "split_seed": budget.split_seed,
        "recipe": recipe_key(budget), "device": resolve_device(budget.device).type,
        "status": result.status, "reason": result.reason,
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


def work_rows(work_file: Path, recipe: str | None = None) -> dict[tuple[str, int], dict[str, Any]]:
    """The work file's rows by (id, seed); a line torn by a kill is skipped (trained again).
    Ids are recomputed from each row's arch: old work files hold older ids (see README). With
    `recipe`, a row trained under another one (its `recipe` key differs) is left out; rows from
    before the key existed have none and are kept."""
    from t2tsearch.arch import recorded_id

    rows = {}
    if not work_file.is_file():
        return rows
    for line in work_file.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if recipe is not None and row.get("recipe", recipe) != recipe:
            continue
        rows[(recorded_id(row.get("arch"), row["id"]), row["seed"])] = row
    return rows


def write_table(work_file: Path, table_file: Path, runs: list[tuple[Any, int]],
                command: str, version: int = TABLE_VERSION, space_path: Path = SPACE) -> int:
    """The versioned table from the work file's rows, in grid order; returns the row count."""
    budget = budget_for(0, version, space_path)
    rows = work_rows(work_file, recipe_key(budget))
    ordered = [rows[(cfg.id, seed)] for cfg, seed in runs if (cfg.id, seed) in rows]
    header = {
        "name": table_name(space_path), "version": version, "command": command,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(), "space": space_path.read_text(),
        "budget": budget.model_dump(mode="json"), "recipe": recipe_key(budget),
        "architectures": len({cfg.id for cfg, _ in runs}), "rows": len(ordered),
        "complete": len(ordered) == len(runs),
    }
    if version == 1:
        header["noise"] = {"seed": NOISE_SEED, "fraction": NOISE_FRACTION,
                           "draw_seed": NOISE_DRAW_SEED}
    else:
        # Every architecture has each of these seeds, all on train/validation split split_seed.
        header["seeds"] = sorted({seed for _, seed in runs})
        header["split_seed"] = budget.split_seed
        reused = [row for row in ordered if row.get("reused_from")]
        header["reused"] = {"rows": len(reused),
                            "from": sorted({row["reused_from"] for row in reused})}
    with gzip.open(table_file, "wt") as out:
        json.dump({"header": header, "rows": ordered}, out, separators=(",", ":"))
    return len(ordered)


def reuse_v1_rows(v1_table: Path, work_file: Path, configs: list[Any], verify: int,
                  threads: int = 1, echo=print) -> int:
    """Copy v1's seed-0 rows into v2's work file (marked `reused_from`); returns how many.

    Only when v1's budget is v2's (v1's seed 0 trained on split 0, its split following the
    seed). First `verify` of them (the fastest) are trained again and must give the same
    accuracy to 0.01 points, else the build stops and asks for --no-reuse; the retrained rows
    go in as fresh v2 rows. Rows already in the work file are left as they are."""
    from t2tsearch.engine.evaluator import read_table
    from t2tsearch.engine.train import TrainBudget

    header, rows = read_table(v1_table)
    v1_budget = TrainBudget.model_validate({**header.get("budget", {}), "split_seed": None})
    # v1 drew seed 0's split with seed 0: the same split as v2's split_seed 0.
    as_v2 = v1_budget.model_copy(update={"split_seed": SPLIT_SEED[2]}).model_dump(mode="json")
    wanted = budget_for(0, 2).model_dump(mode="json")
    differ = sorted(key for key in wanted if as_v2.get(key) != wanted[key])
    if header.get("version") != 1 or differ:
        echo(f"{v1_table}: not reused (version {header.get('version')}, budget differs in "
             f"{', '.join(differ) or 'nothing'}); every row is trained")
        return 0
    from t2tsearch.arch import recorded_id  # v1 stored ids from before they were canonical

    grid = {cfg.id for cfg in configs}
    have = work_rows(work_file)
    rows = [{**row, "id": recorded_id(row.get("arch"), row["id"])} for row in rows]
    todo = sorted((row for row in rows if int(row["seed"]) == 0 and row["id"] in grid
                   and row["status"] == "complete" and (row["id"], 0) not in have),
                  key=lambda row: (row["seconds"], row["id"]))
    if not todo:
        return 0
    if verify > 0:
        _init_worker(threads)
    with open_for_append(work_file) as work:
        for old in todo[:verify]:
            fresh = train_one((json.dumps(old["arch"]), budget_for(0, 2).model_dump_json()))
            same = len(fresh["accuracy"]) == len(old["accuracy"]) and all(
                abs(a - b) <= 0.01 for a, b in zip(fresh["accuracy"], old["accuracy"], strict=True))
            if not same:
                raise SystemExit(f"{v1_table}: {old['id']} seed 0 trains to {fresh['accuracy']} "
                                 f"now, {old['accuracy']} in v1; this code does not reproduce "
                                 f"v1, build v2 with --no-reuse")
            work.write(json.dumps(fresh, separators=(",", ":")) + "\n")
            echo(f"verified {old['id']} seed 0: {fresh['accuracy']} as in v1")
        copied = todo[verify:]
        for old in copied:
            row = {**old, "split_seed": SPLIT_SEED[2], "reused_from": v1_table.name,
                   "recipe": recipe_key(budget_for(0, 2))}  # its budget is v2's (checked above)
            work.write(json.dumps(row, separators=(",", ":")) + "\n")
    echo(f"{len(copied)} seed-0 rows copied from {v1_table}, {min(verify, len(todo))} retrained "
         f"to check them")
    return len(copied)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--workers", type=int, default=2, help="training processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--limit", type=int, default=None, help="train at most this many now")
    parser.add_argument("--space", type=Path, default=SPACE,
                        help="the grid: every architecture this space can sample that passes "
                             "its constraints (default: space.yaml beside build.py)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="table version 2: seeds 0..N-1 of every architecture on one split "
                             "(default: version 1, seed 0 and seed 1 on a quarter, for the "
                             "default grid; 2 for another --space)")
    parser.add_argument("--no-reuse", action="store_true",
                        help="v2: train every row, copying none of v1's seed-0 rows")
    parser.add_argument("--verify-reused", type=int, default=2, metavar="K",
                        help="v2: retrain K of v1's seed-0 rows before copying the rest")
    parser.add_argument("--reuse-from", type=Path, default=TABLE_FILE, help="the v1 table")
    parser.add_argument("--work-file", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None)
    args = parser.parse_args(argv)
    command = "python3 benchmarks/tabular/build.py " + " ".join(sys.argv[1:] if argv is None
                                                                else argv)
    if args.seeds is not None and args.seeds < 1:
        parser.error("--seeds: at least 1")
    if not args.space.is_file():
        parser.error(f"--space: {args.space}: no such file")
    default_grid = args.space.resolve() == SPACE
    if not default_grid and (args.no_reuse or args.reuse_from != TABLE_FILE
                             or args.verify_reused != 2):
        parser.error("--no-reuse, --reuse-from and --verify-reused: only for the default grid "
                     "(reuse copies its v1 rows)")
    seeds = args.seeds if args.seeds is not None or default_grid else 2
    version = 1 if seeds is None else 2
    default_work, default_table = table_files(args.space, version)
    work_file = args.work_file or default_work
    table_file = args.table or default_table

    # Budgets first: a space they cannot come from is refused before the grid is counted.
    budgets = {seed: budget_for(seed, version, args.space)
               for seed in ([0, NOISE_SEED] if seeds is None else range(seeds))}
    recipe = recipe_key(budgets[0])
    print(f"{args.space}: listing the grid and counting costs (cached in {COST_CACHE})",
          flush=True)
    configs = grid_configs(args.space, COST_CACHE)
    runs = planned_runs(configs, seeds)
    if version == 2 and default_grid and not args.no_reuse and args.reuse_from.is_file():
        reuse_v1_rows(args.reuse_from, work_file, configs, args.verify_reused, args.threads)
    done = set(work_rows(work_file, recipe))
    other_recipe = len(work_rows(work_file)) - len(done)
    if other_recipe:
        print(f"{work_file}: {other_recipe} rows were trained under another recipe than "
              f"{args.space}'s now; they are left out and trained again", flush=True)
    todo = [(cfg.to_json(), budgets[seed].model_dump_json()) for cfg, seed in runs
            if (cfg.id, seed) not in done]
    if args.limit is not None:
        todo = todo[: args.limit]
    print(f"table version {version}: {len(runs)} runs planned "
          f"({len({c.id for c, _ in runs})} architectures), "
          f"{len(done)} done, {len(todo)} to train now", flush=True)
    started = time.perf_counter()
    with open_for_append(work_file) as work:
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
    written = write_table(work_file, table_file, runs, command, version, args.space)
    state = "complete" if written == len(runs) else f"partial ({written}/{len(runs)})"
    print(f"wrote {table_file} with {written} rows: {state}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
