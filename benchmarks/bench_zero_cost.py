"""Training-free (zero-cost) proxies against the parameter count: do they rank a table's
architectures as their trained accuracies do?

    python3 benchmarks/bench_zero_cost.py                      # the mnist5k table (v2)
    python3 benchmarks/bench_zero_cost.py --table FILE --json benchmarks/tabular/zero_cost.json

For every architecture of a tabular benchmark (benchmarks/tabular/), at initialisation, with no
training:

- gradient norm: the L2 norm of all parameters' gradients of the cross-entropy on one batch of
  the table's own training images (the same batch for every architecture);
- SynFlow (Tanaka et al., NeurIPS 2020): every weight made positive, an all-ones input, R the
  sum of the outputs; the score is the sum over parameters of |theta * dR/dtheta|, reported as
  log10 (it changes geometrically with depth). In float32: the performer mixer computes its
  random features in float32 whatever the model's dtype, as the official code does.

Each is the mean over `--init-seeds` initialisations. The table prints Kendall's tau of each
against the table's per-architecture mean final accuracy (over its seeds), beside ranking by
parameters and by MACs, with the tau between two initialisations (how repeatable the proxy is).
A proxy is worth feeding the sampler only if it ranks better than params on every table.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent
DEFAULT_TABLE = ROOT / "tabular" / "t2t_mnist5k_32px_v2.json.gz"
BATCH = 64


def gradient_norm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """L2 norm over all parameters of d(cross-entropy)/d(theta) on one batch, at `model`'s
    current weights (eval mode: no dropout or drop-path noise)."""
    model.eval()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(images), labels).backward()
    # torch's own total norm: clipping at an infinite bound changes nothing and returns it.
    return float(torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf))


def synflow(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """log10 of SynFlow: sum over parameters of |theta * dR/dtheta|, R the sum of the outputs
    for an all-ones input with every weight made positive (summed in float64). Changes
    `model`'s weights (their absolute values): score a fresh model."""
    model.eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    model.zero_grad(set_to_none=True)
    model(torch.ones((1, *input_shape))).sum().backward()
    total = sum(float((p.detach().double() * p.grad.double()).abs().sum()) for p in model.parameters()
                if p.grad is not None)
    return math.log10(total) if total > 0 else -math.inf


def table_architectures(table: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The table's header and one record per architecture: id, arch, params, MACs and its mean
    final accuracy over the table's complete seeds (an architecture with none is left out)."""
    from t2tsearch.engine.evaluator import read_table

    header, rows = read_table(table)
    epochs = int(header["budget"]["epochs"])
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["status"] != "complete" or len(row["accuracy"]) < epochs:
            continue
        record = found.setdefault(row["id"], {"id": row["id"], "arch": row["arch"],
                                              "params": row["params"], "macs": row["macs"],
                                              "finals": []})
        record["finals"].append(float(row["accuracy"][epochs - 1]))
    for record in found.values():
        record["accuracy"] = statistics.fmean(record.pop("finals"))
    return header, list(found.values())


def one_batch(budget: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first BATCH images of the table's training split, normalised as training sees them."""
    from t2tsearch.engine.data import load_data

    data = load_data(budget["dataset"], budget["img_size"], budget.get("data_dir"),
                     split_seed=budget.get("split_seed") or 0, num_workers=0)
    generator = torch.Generator().manual_seed(0)
    data.augment = "none"  # the batch as it is, not a random crop of it
    images, labels = next(data.train_batches(BATCH, generator, torch.device("cpu")))
    return images, labels


def score(records: list[dict[str, Any]], images: torch.Tensor, labels: torch.Tensor,
          init_seeds: int, echo=print) -> None:
    """Adds `grad_norm` and `synflow` (lists, one per initialisation) to every record."""
    from t2tsearch.arch import ArchConfig
    from t2tsearch.models import build_model

    started = time.perf_counter()
    for index, record in enumerate(records, start=1):
        cfg = ArchConfig.model_validate(record["arch"])
        record["grad_norm"], record["synflow"] = [], []
        for seed in range(init_seeds):
            torch.manual_seed(seed)
            model = build_model(cfg)
            # SynFlow rewrites the weights, so it scores a copy of the same initialisation.
            record["synflow"].append(synflow(copy.deepcopy(model), tuple(images.shape[1:])))
            record["grad_norm"].append(gradient_norm(model, images, labels))
        if index % 20 == 0 or index == len(records):
            echo(f"[{index}/{len(records)}] {time.perf_counter() - started:.0f}s")


def summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kendall tau (and p) of each ranking against the mean accuracies, and, for the proxies,
    the tau between their first two initialisations."""
    from scipy.stats import kendalltau

    accuracy = [r["accuracy"] for r in records]
    rankings = {"params": [r["params"] for r in records], "MACs": [r["macs"] for r in records]}
    for proxy in ("grad_norm", "synflow"):
        rankings[proxy] = [statistics.fmean(r[proxy]) for r in records]
    rows = []
    for name, values in rankings.items():
        tau, p = kendalltau(values, accuracy)
        row = {"ranking": name, "tau": float(tau), "p": float(p), "repeat_tau": None}
        if name in ("grad_norm", "synflow") and len(records[0][name]) > 1:
            row["repeat_tau"] = float(kendalltau([r[name][0] for r in records],
                                                 [r[name][1] for r in records])[0])
        rows.append(row)
    return rows


def format_summary(rows: list[dict[str, Any]], count: int) -> str:
    lines = [f"| ranking ({count} architectures) | Kendall tau vs mean accuracy | p | "
             "tau between 2 initialisations |", "| --- | ---: | ---: | ---: |"]
    for row in rows:
        repeat = "" if row["repeat_tau"] is None else f"{row['repeat_tau']:.2f}"
        lines.append(f"| {row['ranking']} | {row['tau']:.2f} | {row['p']:.2g} | {repeat} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--init-seeds", type=int, default=2,
                        help="initialisations per architecture (the proxies are their mean)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N architectures (a smoke test)")
    parser.add_argument("--json", type=Path, default=None, help="every architecture's scores")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    header, records = table_architectures(args.table)
    records = records[: args.limit] if args.limit else records
    if len(records) < 3:
        raise SystemExit(f"{args.table}: {len(records)} complete architectures; need 3")
    images, labels = one_batch(header["budget"])
    started = time.perf_counter()
    score(records, images, labels, args.init_seeds)
    rows = summary(records)
    print(f"\ntable {args.table}: {len(records)} architectures, {args.init_seeds} "
          f"initialisation(s) each, {time.perf_counter() - started:.0f}s\n")
    print(format_summary(rows, len(records)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        command = ["bench_zero_cost.py", *(argv if argv is not None else sys.argv[1:])]
        args.json.write_text(json.dumps({"command": command, "table": str(args.table),
                                         "summary": rows, "architectures": records}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
