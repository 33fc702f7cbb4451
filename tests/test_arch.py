"""ArchConfig: frozen value, canonical serialisation, stable id, one-line feasibility reasons."""

from __future__ import annotations

import subprocess
import sys

import pydantic
import pytest

from t2tsearch.arch import ArchConfig, SoftSplit, T2TConfig
from t2tsearch.errors import InfeasibleArchError

from .conftest import tiny_arch


def test_frozen_and_hashable(tiny):
    with pytest.raises(pydantic.ValidationError):
        tiny.img_size = 64
    with pytest.raises(pydantic.ValidationError):
        tiny.backbone.depth = 3
    same = tiny_arch()
    assert tiny == same and hash(tiny) == hash(same)
    assert len({tiny, same, tiny_arch(**{"backbone.depth": 3})}) == 2


def test_json_and_yaml_round_trip(tiny):
    assert ArchConfig.from_json(tiny.to_json()) == tiny
    assert ArchConfig.from_yaml(tiny.to_yaml()) == tiny
    # Canonical: key order in the input does not change the text or the id.
    data = tiny.to_dict()
    reordered = {key: data[key] for key in reversed(list(data))}
    assert ArchConfig.model_validate(reordered).to_json() == tiny.to_json()


def test_id_is_stable_across_processes(tiny):
    code = (
        "from t2tsearch.arch import ArchConfig, BackboneConfig, T2TConfig;"
        "print(ArchConfig(img_size=28, in_chans=1, num_classes=10, t2t=T2TConfig(token_dim=16),"
        "backbone=BackboneConfig(depth=2, embed_dim=32, num_heads=2, mlp_ratio=2.0)).id)"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == tiny.id
    assert len(tiny.id) == 12
    assert tiny_arch(**{"backbone.depth": 3}).id != tiny.id


def test_soft_splits_accept_triples_and_t2t_depth():
    t2t = T2TConfig(soft_splits=[[7, 4, 2], [3, 2, 1]])
    assert t2t.soft_splits[1] == SoftSplit(kernel=3, stride=2, padding=1)
    assert t2t.depth == 1
    with pytest.raises(pydantic.ValidationError):
        T2TConfig(soft_splits=[])
    with pytest.raises(pydantic.ValidationError):
        T2TConfig(soft_splits=[[3, 2, 1]] * 5)


def test_unknown_field_is_rejected():
    with pytest.raises(pydantic.ValidationError, match="dept"):
        ArchConfig.model_validate({"backbone": {"dept": 3}})


def test_replace_by_dotted_path(tiny):
    changed = tiny.replace(**{"backbone.embed_dim": 64, "t2t.soft_splits.0.kernel": 5})
    assert changed.backbone.embed_dim == 64
    assert changed.t2t.soft_splits[0].kernel == 5
    with pytest.raises(KeyError):
        tiny.replace(**{"backbone.nope": 1})


def test_token_grid_follows_the_real_image_size():
    assert tiny_arch().token_grids() == [7, 4, 2]  # 28 px: the official code assumes /16
    assert tiny_arch(img_size=224).token_grids() == [56, 28, 14]
    assert tiny_arch(img_size=32).num_tokens == 4


def test_check_explains_in_one_line():
    no_tokens = tiny_arch(img_size=16, **{"t2t.soft_splits": [[7, 4, 2], [3, 2, 1], [7, 4, 2]]})
    with pytest.raises(InfeasibleArchError) as err:
        no_tokens.check()
    message = str(err.value)
    assert "\n" not in message
    assert "soft split 3 (kernel 7, stride 4, padding 2) leaves no tokens at img_size 16" in message

    heads = tiny_arch(**{"backbone.embed_dim": 200, "backbone.num_heads": 6})
    assert heads.problems() == ["embed_dim 200 is not divisible by num_heads 6"]
    assert not heads.feasible
    assert tiny_arch().check() == tiny_arch()


def test_check_block_variant_knobs():
    ghost = tiny_arch(**{"backbone.block": "ghost", "backbone.embed_dim": 34, "backbone.num_heads": 1,
                         "backbone.mlp_ratio": 1.0})
    assert any("ghost MLP" in p for p in ghost.problems())
    dense = tiny_arch(**{"backbone.block": "dense", "backbone.dense_stages": (1, 2)})
    assert "dense_stages [1, 2] sum to 3, not depth 2" in dense.problems()
    dense_heads = tiny_arch(**{"backbone.block": "dense", "backbone.dense_growth": 3})
    assert any("dense block width" in p for p in dense_heads.problems())
