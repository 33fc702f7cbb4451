"""T2T-ViT models built from an ArchConfig; importing this registers the presets with timm."""

from t2tsearch.models.presets import PRESETS, get_preset
from t2tsearch.models.vit import T2TViT, build_model

__all__ = ["PRESETS", "T2TViT", "build_model", "get_preset"]
