"""Which proxy recipe ranks architectures as a longer training does? Kendall tau per recipe.

Trains 16 architectures spread over spaces/deep_narrow.yaml (depth 1-16, width 32-192, six
in each group and four in neither, 0.8-22 MMACs) on mnist5k at each candidate proxy recipe and at
a reference budget (default: the space's recipe at 5 x the longest candidate's epochs) on two
seeds, then prints, per candidate: Kendall tau against the reference's mean accuracy, the best accuracy, and minutes per
trial; beside them the tau of the naive rankings by parameters and by MACs and the reference's
own seed-to-seed tau, and, simulated from the seeds' spread, the tau a noiseless ranking would
reach against the reference mean (`noise_ceiling`: no proxy can do better).

Every training is one process-pool job at one thread (as a trial runs at concurrency 2 on 2
cores) and is appended to a work file as it ends, so an interrupted benchmark resumes where it
stopped. The train/validation split is the same for every training (split seed 0); seeds vary
initialisation and batch order only.

Usage:
  python3 benchmarks/bench_fidelity.py --quick                 # 4 architectures, tiny budgets
  python3 benchmarks/bench_fidelity.py --work benchmarks/fidelity/deep_narrow.jsonl  # hours
  python3 benchmarks/bench_fidelity.py --work fid.jsonl \\
      --recipe e8:epochs=8 --recipe e8_lr3:epochs=8,lr=0.003 --reference epochs=40
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

SPACE_FILE = Path(__file__).resolve().parent.parent / "spaces" / "deep_narrow.yaml"

# (depth, num_heads, head_dim, mlp_ratio): shallow-wide (depth <= 4, width >= 128), deep-narrow
# (depth >= 8, width <= 96) and between, from ~1 to ~30 MMACs.
SPREAD = [
    (1, 2, 16, 2.0), (1, 4, 48, 4.0), (2, 4, 32, 2.0), (2, 4, 48, 3.0),
    (3, 2, 24, 4.0), (3, 2, 64, 4.0), (4, 4, 32, 3.0), (4, 4, 48, 2.0),
    (5, 4, 24, 3.0), (6, 2, 32, 2.0), (8, 2, 16, 2.0), (8, 4, 24, 3.0),
    (10, 4, 16, 4.0), (12, 2, 32, 3.0), (14, 4, 24, 2.0), (16, 2, 24, 2.0),
]
QUICK_SPREAD = [SPREAD[0], SPREAD[3], SPREAD[11], SPREAD[15]]

# Candidate proxy recipes (overrides of the space's train section, which is the first): shorter
# ones and the previous default (3 epochs at batch 128, lr 0.001). Batch size and rate at 12 and
# 20 epochs were chosen by the recipe probe (README), so they are not repeated here.
CANDIDATES = {
    "space": {},
    "16_epochs": {"epochs": 16},
    "10_epochs": {"epochs": 10},
    "old_default": {"epochs": 3, "batch_size": 128, "lr": 0.001},
}


def parse_overrides(text: str) -> dict[str, Any]:
    """`epochs=8,lr=0.003` -> {"epochs": 8, "lr": 0.003} (numbers parsed, the rest kept)."""
    out: dict[str, Any] = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def architectures(spread: list[tuple[int, int, int, float]]):
    """The spread built through the space file, each checked against its constraints."""
    from t2tsearch.space import build_config, check_candidate, load_space

    space = load_space(SPACE_FILE)
    configs = []
    for depth, heads, head_dim, mlp in spread:
        cfg = build_config(space, {"backbone.depth": depth, "backbone.num_heads": heads,
                                   "backbone.head_dim": head_dim, "backbone.mlp_ratio": mlp})
        why = check_candidate(cfg, space)
        if why:
            raise SystemExit(f"{SPACE_FILE.name}: d{depth} h{heads}x{head_dim}: {why}")
        configs.append(cfg)
    return space, configs


def _watch_parent() -> None:
    """Pool workers end with the benchmark: a killed benchmark leaves no orphans training on."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _train_job(arch_json: str, budget_json: str) -> dict[str, Any]:
    """One training in a pool worker (one thread); what the work file records."""
    import torch

    from t2tsearch.arch import ArchConfig
    from t2tsearch.engine.data import load_data
    from t2tsearch.engine.train import TrainBudget, train_proxy

    torch.set_num_threads(1)
    cfg = ArchConfig.from_json(arch_json)
    budget = TrainBudget.model_validate_json(budget_json)
    # One split for every training (split seed 0): seeds vary initialisation and order only.
    data = load_data(budget.dataset, budget.img_size, budget.data_dir, split_seed=budget.data_seed,
                     train_limit=budget.train_subset, val_limit=budget.val_subset,
                     val_size=budget.val_size)
    result = train_proxy(cfg, data, budget)
    return {"status": result.status, "accuracy": result.val_acc,
            "curve": [e.val_acc for e in result.epochs], "seconds": result.seconds}


def job_key(cfg_id: str, budget) -> str:
    """A training's identity: the architecture and the whole budget (seed included), so a work
    file stays valid when recipes are renamed, reordered or added."""
    digest = hashlib.sha256(budget.model_dump_json().encode()).hexdigest()[:12]
    return f"{cfg_id}|{digest}"


def run_jobs(jobs: list[tuple[str, str, Any, Any]], work: Path, workers: int,
             train: bool = True) -> dict[str, dict]:
    """Train what the work file lacks (unless `train` is off); return every recorded result by
    job key."""
    done: dict[str, dict] = {}
    if work.exists():
        for line in work.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["key"]] = row
    todo = [(key, label, cfg, budget) for key, label, cfg, budget in jobs if key not in done]
    print(f"{len(jobs)} trainings, {len(jobs) - len(todo)} already in {work}, {len(todo)} to run "
          f"on {workers} worker(s)", flush=True)
    if not todo or not train:
        return done
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_watch_parent) as pool:
        futures = {pool.submit(_train_job, cfg.to_json(), budget.model_dump_json()):
                   (key, label, cfg, budget) for key, label, cfg, budget in todo}
        for count, future in enumerate(as_completed(futures), 1):
            key, label, cfg, budget = futures[future]
            row = {"key": key, "recipe": label, "arch": cfg.short(),
                   "budget": budget.model_dump(mode="json"), **future.result()}
            done[key] = row
            with work.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            elapsed = time.perf_counter() - started
            print(f"  [{count}/{len(todo)}] {label:<24} {cfg.short():<44} "
                  f"{(row['accuracy'] or 0) * 100:5.1f}% {row['seconds']:6.0f}s "
                  f"({elapsed / 60:.1f} min)", flush=True)
    return done


def tau(x: list[float], y: list[float]) -> float:
    """Kendall tau over the pairs where both are measured (NaN: not trained yet, or failed)."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if np.isfinite(a) and np.isfinite(b)]
    if len(pairs) < 3:
        return float("nan")
    value, _ = kendalltau([a for a, _ in pairs], [b for _, b in pairs])
    return float(value)


def noise_ceiling(ref_runs: np.ndarray, draws: int = 2000,
                  seed: int = 0) -> tuple[float, float, float]:
    """What a noiseless ranking could reach against this reference's mean, by simulation.

    `ref_runs` is [architectures, seeds] (NaN where missing; architectures with fewer than two
    seeds are left out). The seed noise sigma is the pooled within-architecture standard
    deviation; the true means are the observed means shrunk toward their grand mean so that
    their spread is the observed spread less the noise's share (method of moments). Each draw
    adds fresh seed noise to the true means, averages it as the reference does, and ranks the
    true means against that. Returns (mean tau, its standard deviation over draws, sigma): the
    tau of a perfect proxy, so a target above it cannot be met on this reference, however good
    the proxy."""
    runs = ref_runs[np.sum(np.isfinite(ref_runs), axis=1) >= 2]
    if len(runs) < 3:
        return float("nan"), float("nan"), float("nan")
    seeds = runs.shape[1]
    sigma = float(np.sqrt(np.nanmean(np.nanvar(runs, axis=1, ddof=1))))
    means = np.nanmean(runs, axis=1)
    spread = max(float(np.var(means, ddof=1)) - sigma**2 / seeds, 0.0)
    if spread == 0.0:
        return 0.0, 0.0, sigma  # all the spread the means show is the seeds' noise
    shrink = np.sqrt(spread / float(np.var(means, ddof=1)))
    truth = means.mean() + shrink * (means - means.mean())
    generator = np.random.default_rng(seed)
    taus = [kendalltau(truth, truth + generator.normal(0, sigma, (seeds, len(truth))).mean(0))[0]
            for _ in range(draws)]
    return float(np.nanmean(taus)), float(np.nanstd(taus)), sigma


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--recipe", action="append", default=[], metavar="NAME:K=V,...",
                        help="a candidate proxy recipe: overrides of the space's train section "
                             "(repeatable; default: CANDIDATES, the space's own recipe first)")
    parser.add_argument("--reference", default=None, metavar="K=V,...",
                        help="the reference budget's overrides (default: epochs = 5 x the "
                             "longest candidate's, the rest as that candidate)")
    parser.add_argument("--seeds", type=int, default=2, help="reference seeds (default 2)")
    parser.add_argument("--work", default="bench_fidelity.jsonl",
                        help="work file: one line per finished training (resumable)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true",
                        help="4 architectures, 1 vs 5 epochs on 1,024 images (a smoke test)")
    parser.add_argument("--pick", help="only these architectures, as 0-based indices into SPREAD "
                                       "(e.g. 3,11,15: d2 w192, d8 w96, d16 w48)")
    parser.add_argument("--json", help="also write the summary table as JSON here")
    parser.add_argument("--summary-only", action="store_true",
                        help="train nothing: summarise what the work file holds (partial tables "
                             "say so and give n per tau)")
    args = parser.parse_args()

    spread = QUICK_SPREAD if args.quick else SPREAD
    if args.pick:
        spread = [SPREAD[int(i)] for i in args.pick.split(",")]
    space, configs = architectures(spread)
    base = space.train.model_copy(update={"measure_latency": False})
    if args.quick:
        base = base.model_copy(update={"epochs": 1, "train_subset": 1024, "batch_size": 64,
                                       "lr": 0.003, "warmup_epochs": 0.2})
    recipes = {name: base.model_copy(update=overrides) for name, overrides in CANDIDATES.items()}
    if args.quick:
        recipes = {"space": base}
    if args.recipe:
        recipes = {}
        for text in args.recipe:
            name, _, overrides = text.partition(":")
            recipes[name] = base.model_copy(update=parse_overrides(overrides))
    # The reference: the first recipe (the space's own, by default) trained 5x as long as the
    # longest candidate.
    first = next(iter(recipes.values()))
    longest = max(b.epochs for b in recipes.values())
    reference = first.model_copy(update={"epochs": 5 * longest})
    if args.reference:
        reference = first.model_copy(update=parse_overrides(args.reference))

    from t2tsearch.cost import count_cost

    costs = {cfg.id: count_cost(cfg) for cfg in configs}
    # The first recipe (the space's own), then the reference seed by seed, then the other
    # candidates: an interrupted benchmark has measured the tau that decides first.
    runs: dict[tuple[str, int], Any] = {(name, budget.seed): budget
                                        for name, budget in recipes.items()}
    for seed in range(args.seeds):
        runs[("reference", seed)] = reference.model_copy(update={"seed": seed})
    first_name = next(iter(recipes))
    order = ([(first_name, first.seed)] + [("reference", s) for s in range(args.seeds)]
             + [key for key in runs if key[0] not in (first_name, "reference")])
    jobs = [(job_key(cfg.id, runs[key]), f"{key[0]} s{key[1]}", cfg, runs[key])
            for key in order for cfg in configs]
    print(f"{len(configs)} architectures from {SPACE_FILE.name}; reference: "
          f"{reference.epochs} epochs, batch {reference.batch_size}, lr {reference.lr:g}, "
          f"{args.seeds} seeds")
    done = run_jobs(jobs, Path(args.work), args.workers, train=not args.summary_only)
    # A partial table has all-NaN columns; NumPy's warnings about them would bury the table.
    warnings.simplefilter("ignore", RuntimeWarning)
    missing = sum(key not in done for key, *_ in jobs)
    if missing:
        print(f"PARTIAL: {missing} of {len(jobs)} trainings not in the work file yet; the figures "
              f"below cover what is there (n = architectures measured on both sides)")

    def accuracy(cfg, recipe: str, seed: int) -> float:
        row = done.get(job_key(cfg.id, runs[(recipe, seed)]))
        if row is None or row["status"] != "complete":
            return float("nan")
        return 100.0 * (row["accuracy"] or 0.0)

    def minutes(cfg, recipe: str, seed: int) -> float:
        row = done.get(job_key(cfg.id, runs[(recipe, seed)]))
        return row["seconds"] / 60 if row else float("nan")

    ref_runs = np.array([[accuracy(cfg, "reference", s) for s in range(args.seeds)]
                         for cfg in configs]).reshape(len(configs), args.seeds)
    ref_mean = ref_runs.mean(axis=1) if args.seeds else np.full(len(configs), np.nan)

    print(f"\n{'architecture':<16} {'MMACs':>6} {'params':>7} "
          + " ".join(f"{name:>9}" for name in recipes)
          + " " + " ".join(f"{'ref s' + str(s):>8}" for s in range(args.seeds)))
    for i, cfg in enumerate(configs):
        b = cfg.backbone
        label = f"d{b.depth} w{b.embed_dim} h{b.num_heads} r{b.mlp_ratio:g}"
        cells = " ".join(f"{accuracy(cfg, n, r.seed):>8.1f}%" for n, r in recipes.items())
        refs = " ".join(f"{v:>7.1f}%" for v in ref_runs[i])
        print(f"{label:<16} {costs[cfg.id].macs / 1e6:>6.1f} "
              f"{costs[cfg.id].params / 1e6:>6.2f}M {cells} {refs}")

    if not args.seeds:
        return  # candidates only (exploring recipes): no reference to rank against
    macs = [costs[c.id].macs for c in configs]
    params = [costs[c.id].params for c in configs]
    summary = []
    print(f"\nKendall tau against the reference ({reference.epochs} epochs, mean of "
          f"{args.seeds} seeds), {len(configs)} architectures:")
    print(f"{'ranking':<28} {'epochs':>6} {'batch':>5} {'lr':>7} {'tau':>6} {'best acc':>8} "
          f"{'min/trial':>9} {'n':>3}")
    for name, budget in recipes.items():
        accs = [accuracy(c, name, budget.seed) for c in configs]
        mins = float(np.nanmean([minutes(c, name, budget.seed) for c in configs]))
        measured = int(np.sum(np.isfinite(accs) & np.isfinite(ref_mean)))
        row = {"ranking": name, "epochs": budget.epochs, "batch_size": budget.batch_size,
               "lr": budget.lr, "tau": tau(accs, list(ref_mean)), "n": measured,
               "best": float(np.nanmax(accs)), "minutes": mins}
        summary.append(row)
        print(f"{name:<28} {budget.epochs:>6} {budget.batch_size:>5} {budget.lr:>7g} "
              f"{row['tau']:>6.3f} {row['best']:>7.1f}% {mins:>9.2f} {measured:>3}")
    for name, values in (("params (naive)", params), ("MACs (naive)", macs)):
        row = {"ranking": name, "tau": tau(values, list(ref_mean)),
               "n": int(np.sum(np.isfinite(ref_mean)))}
        summary.append(row)
        print(f"{name:<28} {'':>6} {'':>5} {'':>7} {row['tau']:>6.3f} {'':>8} {'':>9} "
              f"{row['n']:>3}")
    ref_minutes = float(np.nanmean([minutes(c, "reference", 0) for c in configs]))
    if args.seeds >= 2:
        ceiling = tau(list(ref_runs[:, 0]), list(ref_runs[:, 1]))
        summary.append({"ranking": "reference seed 0 vs 1 (ceiling)", "tau": ceiling,
                        "epochs": reference.epochs, "best": float(np.nanmax(ref_mean)),
                        "minutes": ref_minutes, "n": int(np.sum(np.isfinite(ref_mean)))})
        print(f"{'reference seed 0 vs 1':<28} {reference.epochs:>6} {reference.batch_size:>5} "
              f"{reference.lr:>7g} {ceiling:>6.3f} {np.nanmax(ref_mean):>7.1f}% "
              f"{ref_minutes:>9.2f} {summary[-1]['n']:>3}")
        perfect, spread, sigma = noise_ceiling(ref_runs)
        summary.append({"ranking": "a noiseless ranking (simulated)", "tau": perfect,
                        "tau_sd": spread, "seed_sd": sigma, "n": summary[-1]["n"]})
        print(f"{'a noiseless ranking (sim.)':<28} {'':>6} {'':>5} {'':>7} {perfect:>6.3f} "
              f"{'':>8} {'':>9} {summary[-1]['n']:>3}   (sd {spread:.2f} over draws; seed "
              f"noise sd {sigma:.2f} points)")
    seed0 = ref_runs[:, 0] if args.seeds else np.full(len(configs), np.nan)
    if np.sum(np.isfinite(seed0)) > np.sum(np.isfinite(ref_mean)):
        # Seed 0 of the reference ends first: its tau is an early reading, not the figure.
        print("\nPARTIAL: reference seed 1 missing; tau against reference seed 0 alone:")
        for name, values in [*((n, [accuracy(c, n, b.seed) for c in configs])
                               for n, b in recipes.items()),
                             ("params (naive)", params), ("MACs (naive)", macs)]:
            measured = int(np.sum(np.isfinite(values) & np.isfinite(seed0)))
            summary.append({"ranking": f"{name} vs reference seed 0", "n": measured,
                            "tau": tau(list(values), list(seed0))})
            print(f"{name:<28} {summary[-1]['tau']:>6.3f} {measured:>3}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
