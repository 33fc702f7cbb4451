"""t2tsearch: design-space exploration for the Tokens-to-Token ViT family."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
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


# `timm.create_model("t2t_vit_14")` must work after a bare `import t2tsearch`, in either import
# order, while `import t2tsearch` itself stays free of timm and torch (3-4 s that `--help` and the
# reading side should not pay). So the presets are registered when timm is there: at once if it is
# already imported, otherwise right after timm's own import finishes, by a finder that wraps
# timm's loader. Registering costs about 0.1 s once torch and timm are loaded.
_PRESETS_MODULE = "t2tsearch.models.presets"


def _register_presets() -> None:
    try:
        importlib.import_module(_PRESETS_MODULE)
    except Exception as exc:  # a broken registration must never break `import timm`
        warnings.warn(f"t2tsearch: presets not registered with timm: {exc}", stacklevel=2)


class _AfterTimmLoader(importlib.abc.Loader):
    """timm's own loader, then the presets' registration."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:  # type: ignore[no-untyped-def]
        self._loader.exec_module(module)
        _register_presets()

    def __getattr__(self, name: str) -> Any:  # resources, code, is_package: timm's loader's
        return getattr(self._loader, name)


class _TimmWatcher(importlib.abc.MetaPathFinder):
    """Finds timm the usual way once, and hands its spec back with the loader wrapped."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname != "timm":
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the lookup below from finding us
        spec = importlib.util.find_spec("timm")
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _AfterTimmLoader(spec.loader)
        return spec


if "timm" in sys.modules:
    _register_presets()
elif not any(isinstance(finder, _TimmWatcher) for finder in sys.meta_path):
    sys.meta_path.insert(0, _TimmWatcher())
