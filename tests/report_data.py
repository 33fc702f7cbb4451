"""Test data for the report modules: synthetic trials tables and one tiny real run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.conftest import tiny_arch

# Two groups the tiny run can fill: depth 2 is "deep", depth 1 "shallow" (at proxy scale).
TINY_REPORT_SPACE = {
    "name": "tiny_groups",
    "description": "Tiny report test space.",
    "base": {"t2t": {"soft_splits": [[7, 4, 2], [3, 2, 1]], "token_dim": 8},
             "backbone": {"num_heads": 2, "mlp_ratio": 1.0}},
    "parameters": {"backbone.depth": {"int": {"low": 1, "high": 2}},
                   "backbone.head_dim": {"choice": [8, 16, 24]}},
    "objectives": [{"metric": "accuracy", "direction": "maximize"},
                   {"metric": "macs", "direction": "minimize"}],
    "groups": {"deep": "backbone.depth >= 2", "shallow": "backbone.depth <= 1"},
    "train": {"dataset": "mnist5k", "img_size": 28, "epochs": 1, "batch_size": 100,
              "lr": 0.003, "measure_latency": False, "train_subset": 300, "val_subset": 100},
    # One at a time: repeats are then reused results, never "duplicate, still training".
    "search": {"trials": 4, "concurrency": 1, "scheduler": "none", "sampler": "random",
               "seed": 1},
}


def make_tiny_run(folder: Path, name: str = "run") -> Path:
    """Train a 4-trial run of the tiny space on Ray (about 15 s) and return its folder."""
    from t2tsearch.engine.search import SearchOptions, run_search

    space = folder / "tiny_groups.yaml"
    space.write_text(yaml.safe_dump(TINY_REPORT_SPACE, sort_keys=False))
    options = SearchOptions(echo=lambda line: None, command=["test"])
    return run_search(space, out=str(folder), name=name, options=options).run.path


def synthetic_table(macs, accuracy, groups=None, status=None, start=0) -> pd.DataFrame:
    """A trials table with the columns the report reads; one distinct architecture per row."""
    count = len(macs)
    groups = groups or [""] * count
    status = status or ["complete"] * count
    rows = []
    base = pd.Timestamp("2026-01-01T00:00:00")
    for index in range(count):
        number = start + index
        cfg = tiny_arch(backbone=tiny_arch().backbone.model_copy(
            update={"depth": 1 + number % 6, "embed_dim": 16 * (1 + number % 8)}))
        rows.append({
            "trial": number, "config_id": f"id{number:04d}", "status": status[index],
            "reason": "", "accuracy": float(accuracy[index]), "macs": float(macs[index]),
            "params": float(macs[index]) / 20, "latency_ms": None, "epochs": 3, "max_epochs": 3,
            "groups": groups[index], "arch": cfg.to_json(),
            "started": (base + pd.Timedelta(seconds=10 * number)).isoformat(),
            "finished": (base + pd.Timedelta(seconds=10 * number + 8)).isoformat(),
        })
    return pd.DataFrame(rows)


def two_groups(gap: float, noise: float, per_group: int = 10, seed: int = 0) -> pd.DataFrame:
    """Groups a and b over the same MAC range; a is `gap` points better at every cost."""
    rng = np.random.default_rng(seed)
    macs = np.geomspace(1e6, 3e7, per_group)
    trend = 60 + 8 * np.log10(macs / 1e6)
    a = trend + gap + rng.normal(0, noise, per_group)
    b = trend + rng.normal(0, noise, per_group)
    return synthetic_table(np.concatenate([macs * 0.99, macs]), np.concatenate([a, b]),
                           groups=["a"] * per_group + ["b"] * per_group)
