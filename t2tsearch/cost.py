"""What an architecture costs: parameters and MACs counted with fvcore (cached by config id), and
its measured latency."""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from t2tsearch.arch import ArchConfig
from t2tsearch.atomic import atomic_write
from t2tsearch.device import resolve_device

# Bump when the model code changes what it builds, so cached counts of old models are not reused.
COST_MODEL_VERSION = 1

# Convention: fvcore's. Matmuls, convolutions and einsums count one per multiply-add, and
# normalisation layers count too (a few operations per element), as in the MACs the T2T-ViT
# paper reports. Elementwise ops (GELU, softmax, exp, add) and data movement (im2col) have
# no rule: they count zero and are listed in Cost.uncounted_ops, never silently dropped.


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

# fvcore has no rule for fused attention and would count it as zero (about 14% of a ViT at
# 224 px); ours counts what the two matmuls it fuses count, so a model counts the same whether
# its attention is fused (as it trains) or written out (as measure_model_cost counts it).
SDPA_OP = "aten::scaled_dot_product_attention"


def sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle: q (..., L, E), k (..., S, E), v (..., S, Ev) -> L*S*E + L*S*Ev MACs per
    batch and head, as q @ k^T and the weights @ v count (softmax and scaling are elementwise)."""
    from fvcore.nn.jit_handles import get_shape

    q_shape, k_shape, v_shape = (get_shape(value) for value in inputs[:3])
    batch = 1
    for size in q_shape[:-2]:
        batch *= size
    queries, width = q_shape[-2], q_shape[-1]
    keys, value_width = k_shape[-2], v_shape[-1]
    return batch * queries * keys * (width + value_width)


def _fvcore_macs(model: torch.nn.Module, example: torch.Tensor) -> tuple[int, dict[str, int]]:
    with warnings.catch_warnings():
        # fvcore imports deprecated modules and torch.jit.trace warns about Python values in
        # the graph; neither changes the count.
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model, example).set_op_handle(SDPA_OP, sdpa_macs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        macs = int(analysis.total())
        uncounted = dict(sorted(Counter(analysis.unsupported_ops()).items()))
    return macs, uncounted


def measure_model_cost(cfg: ArchConfig) -> Cost:
    """Build the model and count it; no caching. Raises InfeasibleArchError for a bad config."""
    from t2tsearch.models.vit import build_model, count_parameters, set_fused_attention

    # Counting needs shapes, not values: build on the meta device and allocate zeroed storage,
    # which skips weight initialisation (most of the time a build takes, 0.8-3 s at 224 px).
    with torch.device("meta"):
        model = build_model(cfg)
    model = model.to_empty(device="cpu").eval()
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.zero_()
    # Counted through the explicit matmuls, so that the ops left uncounted (softmax, scaling)
    # are listed as before; fused attention counts the same (sdpa_macs, tests/test_cost.py).
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

    Returns a `Cost`: `params` (every tensor, frozen ones included), `trainable_params`, `macs`
    per image as fvcore counts them with attention as explicit matmuls, and `uncounted_ops`
    (the operations fvcore skipped, by name).

    The on-disk cache holds one small JSON file per config id, written atomically, so several
    processes (Ray trials) can share a directory without locks.
    """
    key = f"{cfg.id}-v{COST_MODEL_VERSION}"
    path = Path(cache_dir) / f"{key}.json" if cache_dir is not None else None
    cost = _memory_cache.get(key)
    if cost is not None:
        # A directory holds every count asked of it, even one this process knew already, so
        # that a run folder carries its own costs; a memory hit reads nothing from disk.
        if path is not None and not path.is_file():
            _write_cached(path, cost)
        return cost
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
        _write_cached(path, cost)
    return cost


def _write_cached(path: Path, cost: Cost) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(cost.to_dict()))


def clear_memory_cache() -> None:
    _memory_cache.clear()


# ---- measured latency ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    """Measured inference time on one device: medians over timed runs after a warm-up."""

    ms_b1: float  # one image
    ms_batch: float  # one batch of `batch_size` images
    batch_size: int
    device: str

    @property
    def throughput(self) -> float:
        """Images per second at `batch_size`."""
        return self.batch_size / (self.ms_batch / 1000.0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "throughput": self.throughput}


def _median_ms(model: torch.nn.Module, example: torch.Tensor, runs: int, warmup: int,
               amp: bool) -> float:
    import contextlib
    import statistics
    import time

    on_cuda = example.device.type == "cuda"
    autocast = (torch.autocast(example.device.type, dtype=torch.bfloat16) if amp
                else contextlib.nullcontext())
    times = []
    with torch.inference_mode(), autocast:
        for index in range(warmup + runs):
            if on_cuda:
                torch.cuda.synchronize(example.device)
            start = time.perf_counter()
            model(example)
            if on_cuda:  # kernels run asynchronously: wait for them before reading the clock
                torch.cuda.synchronize(example.device)
            if index >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def measure_latency(model_or_cfg: torch.nn.Module | ArchConfig, batch_size: int = 128,
                    device: str | torch.device = "auto", runs: int = 20, warmup: int = 5,
                    amp: bool | None = None) -> Latency:
    """Inference latency at batch 1 and at `batch_size` on `device`, and the throughput.

    A model must carry its ArchConfig as `.cfg` (every T2TViT does) for the input shape.
    On CUDA the model runs as it trains (bf16 autocast, channels-last) unless amp=False.
    The model is left in eval mode on `device`. Not cached: a measurement belongs to a machine.
    """
    from t2tsearch.models.vit import build_model

    if runs < 1:
        raise ValueError("runs must be at least 1")
    target = resolve_device(device)
    if isinstance(model_or_cfg, ArchConfig):
        with torch.random.fork_rng():
            model = build_model(model_or_cfg)
        cfg = model_or_cfg
    else:
        model = model_or_cfg
        cfg = getattr(model, "cfg", None)
        if not isinstance(cfg, ArchConfig):
            raise ValueError("measure_latency needs an ArchConfig or a model with .cfg")
    on_cuda = target.type == "cuda"
    use_amp = on_cuda if amp is None else amp
    memory_format = torch.channels_last if on_cuda else torch.contiguous_format
    model = model.to(target, memory_format=memory_format).eval()
    shape = (cfg.in_chans, cfg.img_size, cfg.img_size)
    # Fixed inputs from a private generator: the global RNG of a training run is left alone.
    generator = torch.Generator().manual_seed(0)
    single = torch.randn(1, *shape, generator=generator).to(target, memory_format=memory_format)
    batch = torch.randn(batch_size, *shape, generator=generator)
    batch = batch.to(target, memory_format=memory_format)
    return Latency(
        ms_b1=_median_ms(model, single, runs, warmup, use_amp),
        ms_batch=_median_ms(model, batch, runs, warmup, use_amp),
        batch_size=batch_size,
        device=str(target),
    )
