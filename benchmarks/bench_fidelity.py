"""How far can a short proxy be trusted? Rank 8 architectures at a short budget and at k x it.

Trains 8 architectures spread over spaces/deep_narrow.yaml (depth x width) on mnist5k with the
space's `train:` recipe, once at the short budget and once at `--factor` times its epochs, and
prints Kendall's tau between the two accuracy rankings. `--noise` also repeats the short budget
with another seed: tau between two seeds is the most any proxy ranking can be trusted.

Usage:
  python3 benchmarks/bench_fidelity.py                 # smoke run: 1 vs 5 epochs, 1024 images
  python3 benchmarks/bench_fidelity.py --full --noise  # the space's budget (3 vs 15 epochs)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scipy.stats import kendalltau

from t2tsearch.arch import ArchConfig, BackboneConfig, SoftSplit, T2TConfig
from t2tsearch.cost import count_cost
from t2tsearch.data import load_data
from t2tsearch.train import TrainBudget, train_proxy

SPACE_FILE = Path(__file__).resolve().parent.parent / "spaces" / "deep_narrow.yaml"

# (depth, num_heads, head_dim, mlp_ratio): shallow-wide to deep-narrow, all under 30M MACs.
SPREAD = [
    (2, 4, 48, 3.0),
    (3, 2, 64, 4.0),
    (4, 4, 32, 3.0),
    (6, 2, 32, 2.0),
    (8, 4, 24, 3.0),
    (10, 4, 16, 4.0),
    (12, 2, 32, 3.0),
    (16, 2, 24, 2.0),
]


def _values(depth: int, heads: int, head_dim: int, mlp: float) -> dict:
    return {"backbone.depth": depth, "backbone.num_heads": heads,
            "backbone.head_dim": head_dim, "backbone.mlp_ratio": mlp}


def architectures() -> tuple[list[ArchConfig], TrainBudget, str]:
    """The spread built through the space file when it loads, else a stand-in with its base."""
    try:
        from t2tsearch.space import build_config, check_candidate, load_space

        space = load_space(SPACE_FILE)
        configs = [build_config(space, _values(*point)) for point in SPREAD]
        rejected = [(cfg.short(), check_candidate(cfg, space)) for cfg in configs]
        rejected = [(name, why) for name, why in rejected if why]
        if rejected:
            raise ValueError(f"outside the space: {rejected[0]}")
        return configs, space.train, f"{SPACE_FILE.name}"
    except Exception as err:  # noqa: BLE001 - the space module may be mid-change; say so and go on
        print(f"(stand-in list: could not use {SPACE_FILE.name}: {err})")
    base = ArchConfig(img_size=28, in_chans=1, num_classes=10,
                      t2t=T2TConfig(soft_splits=(SoftSplit(kernel=7, stride=4, padding=2),
                                                 SoftSplit(kernel=3, stride=2, padding=1)),
                                    token_dim=32, mixer="performer"))
    configs = [base.model_copy(update={"backbone": BackboneConfig(
        depth=d, num_heads=h, embed_dim=h * hd, mlp_ratio=r)}) for d, h, hd, r in SPREAD]
    budget = TrainBudget(dataset="mnist5k", img_size=28, epochs=3, batch_size=128, lr=1e-3)
    return configs, budget, "stand-in list"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true",
                        help="the space's budget on all of mnist5k (default: a quick version)")
    parser.add_argument("--epochs", type=int, help="short budget in epochs (quick: 1)")
    parser.add_argument("--factor", type=int, default=5, help="long budget = factor x short")
    parser.add_argument("--train-subset", type=int, help="training images (quick: 1024)")
    parser.add_argument("--noise", action="store_true",
                        help="also train the short budget with seed+1 (tau between seeds)")
    args = parser.parse_args()

    configs, space_budget, source = architectures()
    quick = not args.full
    epochs = args.epochs or (1 if quick else space_budget.epochs)
    subset = args.train_subset or (1024 if quick else None)
    short = space_budget.model_copy(update={"epochs": epochs, "train_subset": subset,
                                            "measure_latency": False})
    if quick:  # smaller batches so that a few hundred images still make some steps
        short = short.model_copy(update={"batch_size": 32, "lr": 2e-3, "warmup_epochs": 0.2})
    long = short.model_copy(update={"epochs": epochs * args.factor})
    data = load_data(short.dataset, short.img_size, short.data_dir, split_seed=short.data_seed,
                     train_limit=subset)
    print(f"{len(configs)} architectures from {source}; {short.dataset} at {short.img_size} px, "
          f"{data.num_train} train / {data.num_val} val images, batch {short.batch_size}, "
          f"lr {short.lr:g}; short {short.epochs} epoch(s), long {long.epochs}")

    started = time.perf_counter()
    rows = []
    for cfg in configs:
        runs = {"short": train_proxy(cfg, data, short), "long": train_proxy(cfg, data, long)}
        if args.noise:
            runs["seed+1"] = train_proxy(cfg, data, short.model_copy(update={"seed": short.seed + 1}))
        rows.append((cfg, count_cost(cfg), runs))
        accs = "  ".join(f"{k} {r.val_acc or 0:.3f} ({r.status})" for k, r in runs.items())
        print(f"  {cfg.short():<45} {accs}", flush=True)

    print()
    header = f"{'architecture':<45} {'MACs':>7} {'params':>7} {'acc short':>9} {'acc long':>9}"
    print(header + (f" {'acc seed+1':>10}" if args.noise else ""))
    for cfg, cost, runs in rows:
        line = (f"{cfg.short():<45} {cost.macs / 1e6:>6.1f}M {cost.params / 1e6:>6.2f}M "
                f"{runs['short'].val_acc or 0:>9.3f} {runs['long'].val_acc or 0:>9.3f}")
        print(line + (f" {runs['seed+1'].val_acc or 0:>10.3f}" if args.noise else ""))

    def accuracies(key: str) -> list[float]:
        return [runs[key].val_acc or 0.0 for _, _, runs in rows]

    tau, p_value = kendalltau(accuracies("short"), accuracies("long"))
    if max(accuracies("short")) < 1.5 / data.num_classes:
        print("\nThe short budget left every model near chance: its ranking is noise;"
              " give more --epochs or --train-subset (or --full).")
    print(f"\nKendall tau, short ({short.epochs} ep) vs long ({long.epochs} ep) ranking: "
          f"{tau:.3f} (p = {p_value:.3f})")
    if args.noise:
        noise_tau, _ = kendalltau(accuracies("short"), accuracies("seed+1"))
        print(f"Kendall tau, short budget seed {short.seed} vs seed {short.seed + 1}: {noise_tau:.3f}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
