"""How the report writes things in words: labels, counts with SI suffixes, epochs, a reference
point, an architecture in a few hover lines."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from t2tsearch.arch import ArchConfig
from t2tsearch.budget import TrainBudget
from t2tsearch.datasets import DATASETS
from t2tsearch.pareto import ObjectiveSpec

LABELS = {"accuracy": "accuracy (%)", "macs": "MACs", "params": "parameters",
          "latency_ms": "latency (ms)"}


def describe_validation(train: TrainBudget) -> str:
    """Which images a run's accuracies were measured on, and where its test images went."""
    info = DATASETS.get(train.dataset)
    if info is None or info.name == "imagefolder":
        return "the val/ folder of train.data_dir"
    if not info.has_test_set:
        return (f"1,000 of {info.name}'s 5,000 images, stratified, drawn by split seed "
                f"{train.data_seed}; the search trains on the other 4,000 (no test set of its own)")
    if train.val_size is None:
        return (f"the test images of {info.name}: the run was made before train.val_size "
                f"existed, and its search validated on the test set")
    trained = f" ({train.train_subset:,} of them at most)" if train.train_subset else ""
    return (f"{train.val_size:,} of {info.name}'s training images, stratified, drawn by split "
            f"seed {train.data_seed}; the search trains on the rest{trained}. Its test images "
            f"are never used by the search: t2tsearch confirm measures what it re-trains on them")


def describe_arch(arch_json: str) -> str:
    """The whole architecture in a few hover lines."""
    cfg = ArchConfig.from_json(arch_json)
    data = cfg.to_dict()
    splits = ", ".join(f"k{s['kernel']}s{s['stride']}p{s['padding']}"
                       for s in data["t2t"]["soft_splits"])
    t2t = {k: v for k, v in data["t2t"].items() if k != "soft_splits"}
    lines = [
        cfg.short(),
        f"input {data['in_chans']}x{data['img_size']}x{data['img_size']}, "
        f"{data['num_classes']} classes, {cfg.num_tokens} tokens, pos_embed {data['pos_embed']}",
        f"t2t: splits {splits}; " + ", ".join(f"{k} {v}" for k, v in t2t.items()),
        "backbone: " + ", ".join(f"{k} {v}" for k, v in data["backbone"].items()),
    ]
    return "<br>".join(html.escape(line) for line in lines)


def short_count(value: Any) -> str:
    """61234567 -> '61.2M'; '-' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"


def describe_reference(reference: Mapping[str, float], specs: Sequence[ObjectiveSpec]) -> str:
    """'accuracy 10.0%, MACs 10M' for the objectives of `specs`."""
    parts = []
    for spec in specs:
        value = reference[spec.column]
        parts.append(f"accuracy {value:.1f}%" if spec.column == "accuracy"
                     else f"{LABELS.get(spec.column, spec.column)} {short_count(value)}")
    return ", ".join(parts)


def epochs_text(count: int) -> str:
    """'1 epoch', '5 epochs'."""
    return f"{count} epoch" if count == 1 else f"{count} epochs"
