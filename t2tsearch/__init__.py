"""t2tsearch: design-space exploration for the Tokens-to-Token ViT family."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# What `from t2tsearch import X` offers, and the module that holds it. Loaded on first use: the
# models pull in torch and timm (3-4 s), which `t2tsearch --help`, `report` and every other
# command that trains nothing should not wait for.
_EXPORTS = {
    "ArchConfig": "t2tsearch.arch",
    "BackboneConfig": "t2tsearch.arch",
    "SoftSplit": "t2tsearch.arch",
    "T2TConfig": "t2tsearch.arch",
    "InfeasibleArchError": "t2tsearch.errors",
    "UnknownPresetError": "t2tsearch.errors",
    "UserError": "t2tsearch.errors",
    "PRESETS": "t2tsearch.models",
    "build_model": "t2tsearch.models",
    "get_preset": "t2tsearch.models",
}

__all__ = [
    "PRESETS",
    "ArchConfig",
    "BackboneConfig",
    "InfeasibleArchError",
    "SoftSplit",
    "T2TConfig",
    "UnknownPresetError",
    "UserError",
    "build_model",
    "get_preset",
]

if TYPE_CHECKING:
    from t2tsearch.arch import ArchConfig, BackboneConfig, SoftSplit, T2TConfig
    from t2tsearch.errors import InfeasibleArchError, UnknownPresetError, UserError
    from t2tsearch.models import PRESETS, build_model, get_preset


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # the next access is a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
