"""The presets of t2tsearch/presets.py registered with timm, so timm.create_model builds them."""

from __future__ import annotations

from typing import Any

from timm.models import register_model
from torch import nn

from t2tsearch.presets import PRESETS as PRESETS
from t2tsearch.presets import get_preset as get_preset

# Keyword arguments timm.create_model may pass that map onto ArchConfig fields.
_TOP_LEVEL_OVERRIDES = ("img_size", "in_chans", "num_classes", "pos_embed")


def _timm_entry(name: str):
    def create(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        from t2tsearch.models.vit import build_model

        if pretrained:
            raise ValueError(f"{name}: t2tsearch ships no pretrained weights")
        for ignored in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(ignored, None)
        changes = {key: kwargs.pop(key) for key in _TOP_LEVEL_OVERRIDES if key in kwargs}
        if "drop_path_rate" in kwargs:
            changes["backbone.drop_path_rate"] = kwargs.pop("drop_path_rate")
        if kwargs:
            raise TypeError(f"{name}: unsupported arguments {sorted(kwargs)}")
        return build_model(PRESETS[name].replace(**changes))

    create.__name__ = name
    create.__qualname__ = name
    create.__doc__ = f"{name}: {PRESETS[name].short()}"
    return create


for _name in PRESETS:
    register_model(_timm_entry(_name))
