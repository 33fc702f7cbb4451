"""Counts as a space file writes them: 50M, 1.5G, and back."""

from __future__ import annotations

import math
import re
from typing import Any

# Count suffixes accepted by max_macs / max_params.
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_count(value: Any) -> int:
    """50M -> 50_000_000, 1.5G -> 1_500_000_000; plain numbers pass through."""
    if isinstance(value, bool):
        raise ValueError(f"expected a count such as 50M or 1.5G, not {value!r}")
    if isinstance(value, (int, float)):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"expected a positive count, not {value!r}")
        return int(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*([kKmMgGtT]?)\s*", str(value))
    if match is None:
        raise ValueError(f"cannot read {value!r} as a count; write e.g. 50M or 1.5G")
    return int(float(match.group(1)) * _SUFFIX[match.group(2).upper()])


def format_count(value: float) -> str:
    """61234567 -> '61.2M': the inverse of parse_count, for messages and tables."""
    for suffix in ("T", "G", "M", "K"):
        if abs(value) >= _SUFFIX[suffix]:
            return f"{value / _SUFFIX[suffix]:.3g}{suffix}"
    return f"{value:g}"
