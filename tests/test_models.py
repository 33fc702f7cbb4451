"""Models: every mixer x block variant runs at 28, 32 and 224 px; presets match the paper."""

from __future__ import annotations

import itertools

import pytest
import timm
import torch

import t2tsearch  # noqa: F401  (registers the presets with timm)
from t2tsearch.cost import count_cost
from t2tsearch.errors import InfeasibleArchError
from t2tsearch.models import PRESETS, build_model, get_preset
from t2tsearch.models.vit import count_parameters

from .conftest import tiny_arch

MIXERS = ["transformer", "performer", "convolution"]
BLOCKS = ["plain", "se", "dense", "ghost"]


def _variant(mixer: str, block: str, img_size: int, in_chans: int = 3):
    changes = {"img_size": img_size, "in_chans": in_chans, "t2t.mixer": mixer,
               "backbone.block": block, "backbone.se_reduction": 4, "backbone.dense_growth": 8,
               "backbone.ghost_ratio": 2}
    if block == "dense":
        changes["backbone.dense_stages"] = (1, 1)
    return tiny_arch(**changes)


@pytest.mark.parametrize("mixer,block", list(itertools.product(MIXERS, BLOCKS)))
@pytest.mark.parametrize("img_size", [28, 32, 224])
def test_every_mixer_and_block_runs_forward_and_backward(mixer, block, img_size):
    torch.manual_seed(0)
    cfg = _variant(mixer, block, img_size).check()
    model = build_model(cfg)
    images = torch.randn(2, cfg.in_chans, img_size, img_size)
    logits = model(images)
    assert logits.shape == (2, cfg.num_classes)
    logits.sum().backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in trainable)
    # The position table follows the real token grid (the official code assumes sizes / 16).
    assert model.pos_embed.shape[1] == cfg.num_tokens + 1


def test_timm_interface(tiny):
    model = build_model(tiny)
    images = torch.randn(2, 1, 28, 28)
    tokens = model.forward_features(images)
    assert tokens.shape == (2, tiny.num_tokens + 1, tiny.backbone.embed_dim)
    assert model.forward_head(tokens, pre_logits=True).shape == (2, 32)
    assert model.num_classes == 10
    model.reset_classifier(5)
    assert model(images).shape == (2, 5) and model.num_classes == 5
    assert model.get_classifier().out_features == 5
    assert {"cls_token", "pos_embed"} <= model.no_weight_decay()


def test_fused_and_explicit_attention_agree(tiny):
    from t2tsearch.models.vit import set_fused_attention

    for mixer in ("transformer", "performer"):
        model = build_model(tiny.replace(**{"t2t.mixer": mixer, "backbone.block": "ghost",
                                            "backbone.ghost_ratio": 2})).eval()
        images = torch.randn(3, 1, 28, 28)
        fused = model(images)
        set_fused_attention(model, False)
        assert torch.allclose(fused, model(images), atol=1e-5)


def test_token_attention_runs_fused_attention_on_batch_heads_tokens_dim(monkeypatch):
    # torch's flash and memory-efficient kernels take (batch, heads, tokens, dim) only; on 3-D
    # inputs it falls back to building the full score matrix.
    import torch.nn.functional as F

    from t2tsearch.models import t2t

    attention = t2t.TokenAttention(dim=49, out_dim=16).eval()
    tokens = torch.randn(3, 196, 49)
    with torch.no_grad():
        shapes = []
        fused_sdpa = F.scaled_dot_product_attention

        def recording(q, k, v, **kwargs):
            shapes.append(tuple(q.shape))
            return fused_sdpa(q, k, v, **kwargs)

        monkeypatch.setattr(t2t.F, "scaled_dot_product_attention", recording)
        fused = attention(tokens)
        attention.fused_attn = False
        explicit = attention(tokens)
    assert shapes == [(3, 1, 196, 16)]
    assert fused.shape == explicit.shape == (3, 196, 16)
    assert torch.allclose(fused, explicit, atol=1e-5, rtol=1e-4)


def test_learned_position_embedding_is_trainable(tiny):
    model = build_model(tiny.replace(pos_embed="learned"))
    assert model.pos_embed.requires_grad
    assert not build_model(tiny).pos_embed.requires_grad


def test_build_rejects_infeasible_config(tiny):
    with pytest.raises(InfeasibleArchError, match="not divisible"):
        build_model(tiny.replace(**{"backbone.num_heads": 3}))


def test_timm_create_model_builds_a_model_that_trains():
    torch.manual_seed(0)
    model = timm.create_model("t2t_vit_14", num_classes=10, img_size=32, in_chans=1)
    assert model.cfg == get_preset("t2t_vit_14").replace(num_classes=10, img_size=32, in_chans=1)
    model.train()
    images, labels = torch.randn(8, 1, 32, 32), torch.arange(8) % 10
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(4):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert set(timm.list_models("t2t_vit*")) >= set(PRESETS)


def test_unknown_preset_names_the_closest():
    with pytest.raises(KeyError, match="did you mean t2t_vit_14"):
        get_preset("t2t_vit_14x")


# Published (params M, GMACs) at 224 px, 1000 classes (T2T-ViT paper, Tables 1-2 and README).
PUBLISHED = {
    "t2t_vit_7": (4.3, 1.1), "t2t_vit_10": (5.9, 1.5), "t2t_vit_12": (6.9, 1.8),
    "t2t_vit_14": (21.5, 4.8), "t2t_vit_19": (39.2, 8.5), "t2t_vit_24": (64.1, 13.8),
    "t2t_vit_t_14": (21.5, 6.1), "t2t_vit_t_19": (39.2, 9.8), "t2t_vit_t_24": (64.1, 15.0),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_presets_match_the_published_figures(name):
    params, gmacs = PUBLISHED[name]
    cost = count_cost(PRESETS[name])
    assert round(cost.params / 1e6, 1) == params
    if name == "t2t_vit_24":
        # The paper's 13.8G sits 1.2G below its own T2T-ViT_t-24 (15.0G, which we match), yet
        # the two differ only in the T2T module, which its 14 and 19 pairs (and our count) put
        # 1.3G apart. We land at 13.69G: 0.11G off, the one published figure we cannot meet
        # without breaking the others. The gap test below pins the consistent part.
        assert abs(cost.macs / 1e9 - gmacs) < 0.12
    else:
        assert abs(cost.macs / 1e9 - gmacs) <= 0.1


def test_performer_and_transformer_t2t_differ_by_the_same_macs():
    gaps = [count_cost(PRESETS[f"t2t_vit_t_{d}"]).macs - count_cost(PRESETS[f"t2t_vit_{d}"]).macs
            for d in (14, 19, 24)]
    assert max(gaps) - min(gaps) < 0.002 * max(gaps)  # only `project` width differs


def test_preset_layers_match_the_official_models():
    # Shapes that pin down each official variant (from the reference implementation's layers).
    se = build_model(PRESETS["t2t_vit_14_se"]).state_dict()
    assert se["blocks.0.attn.se_layer.se.fc1.weight"].shape[:2] == (24, 384)
    ghost = build_model(PRESETS["t2t_vit_16_ghost"]).state_dict()
    assert ghost["blocks.0.attn.q.weight"].shape == (192, 384)
    assert ghost["blocks.0.mlp.fc1.weight"].shape == (384, 384)
    assert ghost["blocks.0.mlp.fc2.weight"].shape == (384, 1152)
    dense = build_model(PRESETS["t2t_vit_dense"])
    assert dense.num_features == 584 and dense.head.in_features == 584
    performer = build_model(PRESETS["t2t_vit_7"]).state_dict()
    assert performer["tokens_to_token.mixers.0.kqv.weight"].shape == (192, 147)
    assert performer["tokens_to_token.mixers.0.w"].shape == (32, 64)
    assert performer["tokens_to_token.project.weight"].shape == (256, 576)
    assert count_parameters(build_model(PRESETS["t2t_vit_14_resnext"])) == count_cost(
        PRESETS["t2t_vit_14"]).params
