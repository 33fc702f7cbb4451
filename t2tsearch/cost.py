"""Parameters and MACs of an ArchConfig, counted with fvcore and cached by config id."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from t2tsearch.arch import ArchConfig

# Bump when the model code changes what it builds, so cached counts of old models are not reused.
COST_MODEL_VERSION = 1

# Ops fvcore cannot count that are elementwise or reductions: cheap next to the matmuls,
# but still listed in Cost.uncounted_ops so a user sees what the MAC figure leaves out.


@dataclass(frozen=True)
class Cost:
    """What an architecture costs before it is trained (batch 1, one forward pass)."""

    params: int
    trainable_params: int
    macs: int
    # op name -> number of calls fvcore had no counting rule for (elementwise ops, im2col, ...)
    uncounted_ops: dict[str, int] = field(default_factory=dict)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def mparams(self) -> float:
        return self.params / 1e6

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cost:
        return cls(**data)


_memory_cache: dict[str, Cost] = {}


def _fvcore_macs(model: torch.nn.Module, example: torch.Tensor) -> tuple[int, dict[str, int]]:
    with warnings.catch_warnings():
        # fvcore imports deprecated modules and torch.jit.trace warns about Python values in
        # the graph; neither changes the count.
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model, example)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        macs = int(analysis.total())
        uncounted = dict(sorted(Counter(analysis.unsupported_ops()).items()))
    return macs, uncounted


def measure_model_cost(cfg: ArchConfig) -> Cost:
    """Build the model and count it; no caching. Raises InfeasibleArchError for a bad config."""
    from t2tsearch.models.vit import build_model, count_parameters, set_fused_attention

    with torch.random.fork_rng():
        model = build_model(cfg).eval()
    # Fused attention (SDPA) is invisible to fvcore on the CPU: count the explicit matmuls.
    set_fused_attention(model, False)
    example = torch.zeros(1, cfg.in_chans, cfg.img_size, cfg.img_size)
    with torch.no_grad():
        macs, uncounted = _fvcore_macs(model, example)
    return Cost(
        params=count_parameters(model),
        trainable_params=count_parameters(model, trainable_only=True),
        macs=macs,
        uncounted_ops=uncounted,
    )


def count_cost(cfg: ArchConfig, cache_dir: str | os.PathLike[str] | None = None) -> Cost:
    """Params and MACs of `cfg`, from the in-memory cache, then `cache_dir`, then by counting.

    The on-disk cache holds one small JSON file per config id, written atomically, so several
    processes (Ray trials) can share a directory without locks.
    """
    key = f"{cfg.id}-v{COST_MODEL_VERSION}"
    cached = _memory_cache.get(key)
    if cached is not None:
        return cached
    path = Path(cache_dir) / f"{key}.json" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            cost = Cost.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError):
            cost = None  # a torn or foreign file: count again and overwrite it
        if cost is not None:
            _memory_cache[key] = cost
            return cost
    cost = measure_model_cost(cfg)
    _memory_cache[key] = cost
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
            json.dump(cost.to_dict(), tmp)
        os.replace(tmp.name, path)
    return cost


def clear_memory_cache() -> None:
    _memory_cache.clear()
