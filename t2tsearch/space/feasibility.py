"""Rejection before training: whether an architecture can be built and meets the space's limits."""

from __future__ import annotations

import typing
from pathlib import Path

from t2tsearch.arch import ArchConfig
from t2tsearch.space.counts import format_count
from t2tsearch.space.fields import architecture_limit

if typing.TYPE_CHECKING:
    from t2tsearch.cost import Cost
    from t2tsearch.space.schema import SearchSpace


def check_architecture(cfg: ArchConfig, space: SearchSpace) -> str | None:
    """Why `cfg` cannot be built, passes a FIELD_LIMITS entry or breaks a token limit; None
    when fine. Needs no cost."""
    problems = cfg.problems()
    limit = architecture_limit(cfg)
    if problems or limit:
        return "infeasible: " + "; ".join([*problems, *([limit] if limit else [])])
    c = space.constraints
    if c.min_tokens is not None and cfg.num_tokens < c.min_tokens:
        return f"tokens {cfg.num_tokens} < min_tokens {c.min_tokens}"
    if c.max_tokens is not None and cfg.num_tokens > c.max_tokens:
        return f"tokens {cfg.num_tokens} > max_tokens {c.max_tokens}"
    return None


def check_cost(cost: Cost, space: SearchSpace) -> str | None:
    """Why a counted cost breaks max_macs / max_params; None when within both."""
    c = space.constraints
    if c.max_macs is not None and cost.macs > c.max_macs:
        return f"macs {format_count(cost.macs)} > max_macs {format_count(c.max_macs)}"
    if c.max_params is not None and cost.params > c.max_params:
        return f"params {format_count(cost.params)} > max_params {format_count(c.max_params)}"
    return None


def needs_cost(space: SearchSpace) -> bool:
    c = space.constraints
    return c.max_macs is not None or c.max_params is not None


def check_candidate(cfg: ArchConfig, space: SearchSpace, cost: Cost | None = None,
                    cache_dir: str | Path | None = None) -> str | None:
    """The reason to reject `cfg` before training ('infeasible: ...', 'macs 61.2M > max_macs
    50M', ...), or None. Counts the cost (cached) only when a MAC/param limit needs it."""
    reason = check_architecture(cfg, space)
    if reason is not None or not needs_cost(space):
        return reason
    if cost is None:
        from t2tsearch.cost import count_cost

        cost = count_cost(cfg, cache_dir)
    return check_cost(cost, space)


def rejection_kind(reason: str) -> str:
    """The limit a rejection reason is about ('max_macs', 'min_tokens', ...) or 'infeasible'."""
    if reason.startswith("infeasible"):
        return "infeasible"
    for kind in ("min_tokens", "max_tokens", "max_macs", "max_params"):
        if kind in reason:
            return kind
    return "other"
