"""What a space may search and how large it may grow: the searchable ArchConfig fields, the limits
on fields and run settings, and the objectives known before training."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from t2tsearch.arch import ArchConfig, BackboneConfig, SoftSplit, T2TConfig
from t2tsearch.conditions import FIELD_KINDS, MAX_SOFT_SPLITS, config_fields

# Objectives that count_cost knows before training; any other one is measured by training.
KNOWN_BEFORE_TRAINING = ("macs", "params")


def measured_objectives(metrics: list[str]) -> list[str]:
    """The metrics only training measures (all but KNOWN_BEFORE_TRAINING)."""
    return [metric for metric in metrics if metric not in KNOWN_BEFORE_TRAINING]


# ---- searchable fields -----------------------------------------------------------------------
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    info = model.model_fields[name]
    annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotation, config=ConfigDict(strict=True))


def _searchable() -> dict[str, TypeAdapter]:
    adapters: dict[str, TypeAdapter] = {"pos_embed": _adapter(ArchConfig, "pos_embed")}
    for name in ("token_dim", "mixer", "kernel_ratio"):
        adapters[f"t2t.{name}"] = _adapter(T2TConfig, name)
    adapters["t2t.num_splits"] = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_SOFT_SPLITS)],
                                             config=ConfigDict(strict=True))
    adapters["t2t.depth"] = TypeAdapter(Annotated[int, Field(ge=0, le=MAX_SOFT_SPLITS - 1)],
                                        config=ConfigDict(strict=True))
    for index in range(MAX_SOFT_SPLITS):
        for part in ("kernel", "stride", "padding"):
            adapters[f"t2t.soft_splits.{index}.{part}"] = _adapter(SoftSplit, part)
    for name in BackboneConfig.model_fields:
        if name != "dense_stages":  # a tuple: Optuna choices must be scalars; fix it in base
            adapters[f"backbone.{name}"] = _adapter(BackboneConfig, name)
    adapters["backbone.head_dim"] = TypeAdapter(Annotated[int, Field(ge=1)],
                                                config=ConfigDict(strict=True))
    return adapters


SEARCHABLE: dict[str, TypeAdapter] = _searchable()
NOT_SEARCHABLE = {
    "img_size": "set by train.img_size",
    "in_chans": "set by train.dataset",
    "num_classes": "set by train.dataset (or base.num_classes for imagefolder)",
    "backbone.dense_stages": "a list, not searchable; fix it in base",
    "t2t.soft_splits": "search t2t.num_splits and t2t.soft_splits.<i>.kernel/stride/padding",
}
_SPLIT_PATH = re.compile(r"t2t\.soft_splits\.(\d+)\.(kernel|stride|padding)")


def split_index(path: str) -> int | None:
    """2 for 't2t.soft_splits.2.kernel'; None for a parameter that is not per split."""
    match = _SPLIT_PATH.fullmatch(path)
    return int(match.group(1)) if match else None


def is_int_field(path: str) -> bool:
    """Whether the searched field takes integers (derived counts included)."""
    return FIELD_KINDS.get(path) == "int" or path in ("t2t.num_splits", "t2t.depth",
                                                        "backbone.head_dim")


def affected_fields(path: str) -> set[str]:
    """Condition fields whose value a parameter can change (derived fields included)."""
    if path in ("t2t.num_splits", "t2t.depth"):
        return {"t2t.num_splits", "t2t.depth", "num_tokens"} | {
            f for f in FIELD_KINDS if f.startswith("t2t.soft_splits.")}
    if split_index(path) is not None:
        return {path, "num_tokens"}
    if path in ("backbone.head_dim", "backbone.num_heads", "backbone.embed_dim"):
        return {path, "backbone.head_dim", "backbone.embed_dim"}
    return {path}


# ---- limits -------------------------------------------------------------------------------------
# The largest value an architecture field may take anywhere in a space (base, parameters, and
# every sample, where head_dim x num_heads sets embed_dim). Generous for T2T-ViT (T2T-ViT-24:
# depth 24, width 512; ViT-L: width 1024), and small enough that the largest legal model
# (48 blocks of width 1024 at MLP ratio 8: about 1G parameters) can still be built and counted.
FIELD_LIMITS: dict[str, float] = {
    "img_size": 1024, "num_classes": 100_000, "t2t.token_dim": 1024,
    "backbone.depth": 48, "backbone.embed_dim": 1024, "backbone.num_heads": 32,
    "backbone.head_dim": 1024, "backbone.mlp_ratio": 8.0, "backbone.se_reduction": 1024,
    "backbone.dense_growth": 256, "backbone.ghost_ratio": 64,
    **{f"t2t.soft_splits.{index}.{part}": limit for index in range(MAX_SOFT_SPLITS)
       for part, limit in (("kernel", 32), ("stride", 32), ("padding", 16))},
}
# Run settings that would crash or never end a run: (least, most). Seeds seed NumPy's
# generators, which take 0..2^32-1.
SETTING_LIMITS: dict[str, tuple[float, float]] = {
    "search.seed": (0, 2**32 - 1), "train.seed": (0, 2**32 - 1),
    "train.split_seed": (0, 2**32 - 1), "train.img_size": (1, FIELD_LIMITS["img_size"]),
    "train.epochs": (1, 10_000), "train.batch_size": (1, 65_536),
    "search.trials": (1, 100_000), "search.concurrency": (1, 1024),
    "search.grace_period": (1, 10_000), "search.cpus_per_trial": (0, 1024),
    "search.gpus_per_trial": (0, 64), "search.max_retries": (0, 100),
}


def over_limit(path: str, value: Any) -> str | None:
    """'VALUE is above the limit L for PATH' when `value` passes its FIELD_LIMITS entry."""
    limit = FIELD_LIMITS.get(path)
    if limit is None or isinstance(value, (bool, str)) or not isinstance(value, (int, float)):
        return None
    if value > limit:
        return f"{value!r} is above the limit {limit:g} for {path}"
    return None


def architecture_limit(cfg: ArchConfig) -> str | None:
    """'backbone.embed_dim 4096 is above the limit 1024' when a field of `cfg` passes its
    FIELD_LIMITS entry; None when every field is within its limit."""
    for path, value in config_fields(cfg).items():
        reason = over_limit(path, value)
        if reason is not None:
            return reason
    return None
