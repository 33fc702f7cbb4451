"""t2tsearch: design-space exploration for the Tokens-to-Token ViT family."""

from t2tsearch.arch import ArchConfig, BackboneConfig, SoftSplit, T2TConfig
from t2tsearch.errors import InfeasibleArchError, UnknownPresetError, UserError
from t2tsearch.models import PRESETS, build_model, get_preset

__version__ = "0.1.0"

__all__ = [
    "ArchConfig",
    "BackboneConfig",
    "InfeasibleArchError",
    "PRESETS",
    "SoftSplit",
    "T2TConfig",
    "UnknownPresetError",
    "UserError",
    "build_model",
    "get_preset",
]
