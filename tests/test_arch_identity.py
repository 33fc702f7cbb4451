"""ArchConfig.id sees built models: equal ids exactly when the built T2T-ViTs are equal."""

from __future__ import annotations

import itertools
import random

import torch
from torch import nn

from t2tsearch.arch import ArchConfig
from t2tsearch.models.vit import build_model

PRIMITIVE = (bool, int, float, str)


def structure(model: nn.Module) -> tuple:
    """Everything that makes two built models the same network, independent of ArchConfig:
    each module's type and its plain settings (widths, heads, kernel sizes, drop rates), every
    tensor's name, shape and trainability."""
    modules = []
    for name, module in model.named_modules():
        settings = sorted(
            (key, value if isinstance(value, PRIMITIVE) else tuple(value))
            for key, value in vars(module).items()
            if not key.startswith("_") and key != "training" and (
                isinstance(value, PRIMITIVE) or (isinstance(value, (list, tuple))
                                                 and all(isinstance(v, PRIMITIVE) for v in value))))
        modules.append((name, type(module).__name__, tuple(settings)))
    tensors = [(name, tuple(t.shape), t.requires_grad) for name, t in model.named_parameters()]
    buffers = [(name, tuple(t.shape)) for name, t in model.named_buffers()]
    return tuple(modules), tuple(tensors), tuple(buffers)


def variants() -> list[ArchConfig]:
    """Small configs over the settings a model may or may not use, some pairs equal models."""
    rng = random.Random(0)
    grid = {
        "backbone.block": ["plain", "se", "ghost", "dense"],
        "backbone.depth": [1, 2],
        "backbone.se_reduction": [2, 4],
        "backbone.ghost_ratio": [2, 4],
        "backbone.dense_growth": [8, 16],
        "backbone.drop_path_rate": [0.0, 0.1],
        "t2t.mixer": ["performer", "transformer", "convolution"],
        "t2t.token_dim": [8, 12],
        "t2t.kernel_ratio": [0.5, 0.55, 1.0],
        "splits": [1, 2],
        "dense_one_stage": [False, True],
    }
    keys = list(grid)
    combos = list(itertools.product(*grid.values()))
    picked = rng.sample(combos, 500)
    configs = []
    for combo in picked:
        values = dict(zip(keys, combo, strict=True))
        splits = [[3, 2, 1], [3, 2, 1]][: values.pop("splits")]
        one_stage = values.pop("dense_one_stage")
        cfg = ArchConfig(img_size=16, in_chans=1, num_classes=3).replace(
            **{"t2t.soft_splits": splits, "backbone.embed_dim": 16, "backbone.num_heads": 2,
               "backbone.mlp_ratio": 2.0, **values})
        if one_stage:
            cfg = cfg.replace(**{"backbone.dense_stages": [cfg.backbone.depth]})
        if cfg.feasible:
            configs.append(cfg)
    return configs


def test_equal_ids_exactly_when_the_built_models_are_equal():
    torch.manual_seed(0)
    by_id: dict[str, set] = {}
    by_structure: dict[tuple, set] = {}
    for cfg in variants():
        shape = structure(build_model(cfg))
        by_id.setdefault(cfg.id, set()).add(shape)
        by_structure.setdefault(shape, set()).add(cfg.id)
    # Equal ids => equal models, and equal models => equal ids; with real collisions to test.
    assert all(len(shapes) == 1 for shapes in by_id.values())
    assert all(len(ids) == 1 for ids in by_structure.values())
    assert len(by_id) < 400


def test_unused_settings_do_not_change_the_id():
    plain = ArchConfig()
    assert plain.replace(**{"backbone.se_reduction": 4}).id == plain.id
    assert plain.replace(**{"backbone.block": "se", "backbone.se_reduction": 4}).id != \
        plain.replace(**{"backbone.block": "se"}).id
    # A config at the defaults keeps the id it had before ids were canonical.
    import hashlib

    assert plain.id == hashlib.sha256(plain.to_json().encode()).hexdigest()[:12]


def test_the_shipped_table_answers_with_recomputed_ids():
    """The tabular benchmark's table stores pre-canonical ids; its rows are found by the new."""
    from pathlib import Path

    from t2tsearch.engine.evaluator import TableEvaluator, read_table
    from t2tsearch.engine.train import TrainBudget

    path = Path(__file__).resolve().parents[1] / "benchmarks/tabular/t2t_mnist5k_32px_v1.json.gz"
    table = TableEvaluator(path)
    _, rows = read_table(path)
    changed = 0
    for row in rows[:40]:
        cfg = ArchConfig.model_validate(row["arch"])
        changed += cfg.id != row["id"]
        answer = table.evaluate(cfg, TrainBudget(epochs=1, seed=int(row["seed"])))
        assert answer.status != "invalid", answer.reason
    assert changed  # the table does hold old ids (se_reduction 8 on plain blocks)
