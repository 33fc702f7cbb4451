"""The torch device a training or a timing runs on: 'auto', 'cpu', 'cuda', 'cuda:1', checked."""

from __future__ import annotations

import torch

from t2tsearch.errors import UserError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else as torch spells it."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise UserError(f"unknown device '{device}': {err}") from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"device '{device}' asked for, but torch sees no CUDA device here")
        if resolved.index is not None and resolved.index >= count:
            raise UserError(f"device '{device}' asked for, but torch sees {count} CUDA device(s)")
    return resolved
