"""The official T2T-ViT models as plain ArchConfigs by name; no torch or timm (spaces load them)."""

from __future__ import annotations

import difflib
from typing import Any

from t2tsearch.arch import ArchConfig, BackboneConfig, T2TConfig
from t2tsearch.errors import UnknownPresetError


def _preset(mixer: str, depth: int, embed_dim: int, num_heads: int, mlp_ratio: float,
            **backbone: Any) -> ArchConfig:
    # Every official model: 224 px, 3 channels, 1000 classes, soft splits 7/4/2, 3/2/1, 3/2/1,
    # token_dim 64, no qkv bias, frozen sinusoidal position embedding.
    return ArchConfig(
        t2t=T2TConfig(mixer=mixer),
        backbone=BackboneConfig(depth=depth, embed_dim=embed_dim, num_heads=num_heads,
                                mlp_ratio=mlp_ratio, **backbone),
    )


PRESETS: dict[str, ArchConfig] = {
    "t2t_vit_7": _preset("performer", 7, 256, 4, 2.0),
    "t2t_vit_10": _preset("performer", 10, 256, 4, 2.0),
    "t2t_vit_12": _preset("performer", 12, 256, 4, 2.0),
    "t2t_vit_14": _preset("performer", 14, 384, 6, 3.0),
    "t2t_vit_19": _preset("performer", 19, 448, 7, 3.0),
    "t2t_vit_24": _preset("performer", 24, 512, 8, 3.0),
    "t2t_vit_t_14": _preset("transformer", 14, 384, 6, 3.0),
    "t2t_vit_t_19": _preset("transformer", 19, 448, 7, 3.0),
    "t2t_vit_t_24": _preset("transformer", 24, 512, 8, 3.0),
    "t2t_vit_14_resnext": _preset("performer", 14, 384, 32, 3.0),
    "t2t_vit_14_wide": _preset("performer", 4, 768, 12, 3.0),
    "t2t_vit_14_se": _preset("performer", 14, 384, 6, 3.0, block="se", se_reduction=16),
    "t2t_vit_16_ghost": _preset("performer", 16, 384, 6, 3.0, block="ghost", ghost_ratio=3),
    "t2t_vit_dense": _preset("performer", 19, 128, 8, 2.0, block="dense", dense_growth=64,
                             dense_stages=(3, 6, 6, 4)),
    # Not an official checkpoint: the paper's convolution T2T baseline on the T2T-ViT-14 backbone.
    "t2t_vit_c_14": _preset("convolution", 14, 384, 6, 3.0),
}


def get_preset(name: str) -> ArchConfig:
    """The preset of that name; an unknown name raises UnknownPresetError naming the closest."""
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(PRESETS)}"
        raise UnknownPresetError(f"unknown preset '{name}'{hint}") from None
