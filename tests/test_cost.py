"""Cost counting: fvcore agrees with torch's counter, uncounted ops are listed, results cached."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from t2tsearch import cost as cost_module
from t2tsearch.cost import count_cost, measure_model_cost
from t2tsearch.models.vit import build_model, set_fused_attention

from .conftest import tiny_arch


def _random_config(rng: random.Random):
    heads = rng.choice([1, 2, 4])
    block = rng.choice(["plain", "se", "dense", "ghost"])
    changes = {
        "img_size": rng.choice([28, 32, 48]),
        "in_chans": rng.choice([1, 3]),
        "t2t.mixer": rng.choice(["transformer", "performer", "convolution"]),
        "t2t.token_dim": rng.choice([16, 32]),
        "t2t.soft_splits": rng.choice([[[7, 4, 2], [3, 2, 1], [3, 2, 1]], [[3, 2, 1], [3, 2, 1]],
                                       [[4, 4, 0]]]),
        "backbone.depth": rng.randint(1, 3),
        "backbone.embed_dim": heads * rng.choice([8, 16, 24]),
        "backbone.num_heads": heads,
        "backbone.mlp_ratio": rng.choice([1.0, 2.0, 4.0]),
        "backbone.block": block,
        "backbone.se_reduction": 4,
        "backbone.dense_growth": heads * 4,
        "backbone.ghost_ratio": 2,
    }
    return tiny_arch(**changes)


def _layer_norm_flops(input_shape, *args, out_shape=None, **kwargs) -> int:
    # torch's counter has no rule for layer norm; give it fvcore's (5 per element, affine), so
    # the two counters share one convention and the comparison tests the matmuls and einsums.
    return 2 * 5 * math.prod(input_shape)


_LAYER_NORM_AS_FVCORE = {torch.ops.aten.native_layer_norm: _layer_norm_flops}


def test_fvcore_agrees_with_torch_flop_counter_on_random_configs():
    rng = random.Random(7)
    checked = 0
    while checked < 12:
        cfg = _random_config(rng)
        if not cfg.feasible:
            continue
        cost = measure_model_cost(cfg)
        model = build_model(cfg).eval()
        set_fused_attention(model, False)
        with FlopCounterMode(display=False, custom_mapping=_LAYER_NORM_AS_FVCORE) as counter, \
                torch.no_grad():
            model(torch.zeros(1, cfg.in_chans, cfg.img_size, cfg.img_size))
        torch_macs = counter.get_total_flops() / 2  # torch counts 2 FLOPs per multiply-add
        assert cost.macs == pytest.approx(torch_macs, rel=0.01), cfg.short()
        checked += 1


def test_attention_matmuls_and_performer_einsums_are_counted(tiny):
    # A model whose backbone is attention-only in cost terms would lose these if dropped:
    # compare against the sum of its linear layers alone.
    for mixer in ("transformer", "performer"):
        cfg = tiny.replace(**{"t2t.mixer": mixer})
        model = build_model(cfg)
        tokens = cfg.num_tokens + 1
        linear_macs = 0
        grids = cfg.token_grids()
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear):
                if name.startswith("tokens_to_token.mixers.0"):
                    rows = grids[0] ** 2
                elif name.startswith("tokens_to_token.mixers.1"):
                    rows = grids[1] ** 2
                elif name.startswith("tokens_to_token.project"):
                    rows = grids[2] ** 2
                elif name == "head":
                    rows = 1
                else:
                    rows = tokens
                linear_macs += rows * module.in_features * module.out_features
        assert count_cost(cfg).macs > linear_macs * 1.01


@pytest.mark.parametrize("changes", [
    {"t2t.mixer": "transformer"},  # the T2T module's one-head attention
    {"backbone.block": "ghost", "backbone.ghost_ratio": 2},  # its own attention
    {"backbone.block": "se"},  # timm's Attention
    {"img_size": 64, "backbone.num_heads": 4, "backbone.embed_dim": 64},
])
def test_fused_attention_counts_what_its_matmuls_count(tiny, changes):
    # fvcore has no rule of its own for scaled_dot_product_attention (it would count 0):
    # cost.sdpa_macs counts it, so the model as it trains counts what its explicit form does.
    cfg = tiny.replace(**changes)
    model = build_model(cfg).eval()
    example = torch.zeros(1, cfg.in_chans, cfg.img_size, cfg.img_size)
    with torch.no_grad():
        fused, fused_uncounted = cost_module._fvcore_macs(model, example)
        set_fused_attention(model, False)
        explicit, _ = cost_module._fvcore_macs(model, example)
    assert fused == explicit == measure_model_cost(cfg).macs
    assert cost_module.SDPA_OP not in fused_uncounted


def test_the_sdpa_rule_counts_both_matmuls():
    from types import SimpleNamespace

    from fvcore.nn import jit_handles

    shapes = {"q": [2, 3, 5, 8], "k": [2, 3, 7, 8], "v": [2, 3, 7, 4]}
    values = [SimpleNamespace(name=name) for name in shapes]
    original = jit_handles.get_shape
    try:
        jit_handles.get_shape = lambda value: shapes[value.name]
        assert cost_module.sdpa_macs(values, []) == 2 * 3 * 5 * 7 * (8 + 4)
    finally:
        jit_handles.get_shape = original


def test_uncounted_ops_are_listed_not_dropped(tiny):
    cost = measure_model_cost(tiny)
    assert "aten::im2col" in cost.uncounted_ops  # the unfold of each soft split
    assert "aten::softmax" in cost.uncounted_ops
    assert all(count > 0 for count in cost.uncounted_ops.values())


def test_params_split_frozen_from_trainable(tiny):
    cost = count_cost(tiny)
    model = build_model(tiny)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert frozen > 0  # sinusoidal table and performer features
    assert cost.params - cost.trainable_params == frozen


def test_memory_and_disk_cache(tiny, tmp_path, monkeypatch):
    cost_module.clear_memory_cache()
    first = count_cost(tiny, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and tiny.id in files[0].name
    assert json.loads(files[0].read_text())["macs"] == first.macs

    def refuse(cfg):
        raise AssertionError("counted again instead of using the cache")

    monkeypatch.setattr(cost_module, "measure_model_cost", refuse)
    assert count_cost(tiny, cache_dir=tmp_path) == first  # from memory
    cost_module.clear_memory_cache()
    assert count_cost(tiny, cache_dir=tmp_path) == first  # from disk


def test_torn_cache_file_is_recounted(tiny, tmp_path):
    cost_module.clear_memory_cache()
    first = count_cost(tiny, cache_dir=tmp_path)
    path = next(tmp_path.glob("*.json"))
    path.write_text("{not json")
    cost_module.clear_memory_cache()
    assert count_cost(tiny, cache_dir=tmp_path) == first
    assert json.loads(path.read_text())["macs"] == first.macs


def test_a_cache_directory_gets_counts_known_from_memory(tiny, tmp_path):
    cost_module.clear_memory_cache()
    count_cost(tiny)  # counted, memory only
    assert count_cost(tiny, cache_dir=tmp_path / "run") == count_cost(tiny)
    assert len(list((tmp_path / "run").glob("*.json"))) == 1
