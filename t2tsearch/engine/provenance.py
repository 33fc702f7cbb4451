"""What run.json records of the machine and the library versions a run started on."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from typing import Any


def run_metadata(command: Sequence[str], seed: int) -> dict[str, Any]:
    """What run.json records at the start of a run: versions, seed, command, host."""
    import optuna
    import ray
    import timm
    import torch

    from t2tsearch import __version__

    return {
        "t2tsearch": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "timm": timm.__version__,
        "optuna": optuna.__version__,
        "ray": ray.__version__,
        "host": platform.node(),
        "platform": platform.platform(),
        "cuda": torch.cuda.is_available(),
        "seed": seed,
        "command": list(command),
        "sessions": [],
    }
