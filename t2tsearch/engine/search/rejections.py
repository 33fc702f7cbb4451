"""Proposals a search rejects before training: how many in a row end it, when an Optuna sampler
gets a random feasible architecture queued instead, and what the run says when it stops."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna

from t2tsearch.arch import ArchConfig
from t2tsearch.space.sampling import queue_random_feasible
from t2tsearch.space.schema import SearchSpace

# Give up proposing when this many proposals in a row were rejected before training: the
# space's constraints leave (almost) nothing, and the sampler would spin for ever.
MAX_REJECTED_IN_A_ROW = 200
# After this many proposals that broke the space's constraints since a trial last started, an
# Optuna sampler gets a random feasible architecture queued (from this many draws). It leaves
# rejected trials out of its model, so it can propose one over-limit architecture until the limit
# above ends the run: Optuna's GP did, after 12 to 93 trials, on the Fashion-MNIST table
# (docs/search-quality.md).
INFEASIBLE_PATIENCE = 30
FALLBACK_DRAWS = 1000


def needs_fallback(sampler: optuna.samplers.BaseSampler) -> bool:
    """Whether a sampler can get stuck proposing rejected architectures: Optuna's, which leave
    failed trials out of their models. Not the cost-aware sampler, which proposes only
    architectures that pass, nor a grid, which never proposes a point twice (and would propose a
    queued point again later, as it marks only its own proposals visited)."""
    from t2tsearch.engine.sampler import CostAwareSampler

    return not isinstance(sampler, CostAwareSampler | optuna.samplers.GridSampler)


def gave_up_after(rejected: int, reasons: Counter[str], sampler: optuna.samplers.BaseSampler,
                  nothing_left: bool = False) -> str:
    """Why proposing stopped: the streak, its commonest reason, and what would get further."""
    line = (f"stopped proposing: {rejected} proposals in a row broke the space's constraints or "
            f"repeated running ones")
    if reasons:
        reason, times = reasons.most_common(1)[0]
        line += f" (most often, {times} times: {reason})"
    if nothing_left:
        line += (f"; and {FALLBACK_DRAWS} random draws found no feasible architecture not yet "
                 f"tried: the constraints leave too few for the budget")
    elif needs_fallback(sampler):
        line += ("; Optuna's samplers learn nothing from a rejected proposal, while `sampler: "
                 "ehvi` (one measured objective) proposes only architectures that pass the checks")
    return line


def queue_fallback(study: optuna.Study, space: SearchSpace, running: set[str],
                   cost_cache: str | Path | None,
                   wanted: Callable[[ArchConfig], bool] | None = None) -> bool:
    """Queue a random feasible architecture that no trial of the budget has had nor is training
    (`running`), and that is `wanted` (the quota gate's say); False when none of FALLBACK_DRAWS
    random draws is one."""
    consumed = {trial.user_attrs["config_id"] for trial in study.get_trials(deepcopy=False)
                if trial.user_attrs.get("consumed")}
    return queue_random_feasible(study, space, consumed | running, cost_cache, FALLBACK_DRAWS,
                                 wanted=wanted)


def fallback_note(broken: Counter[str]) -> str:
    """The run's note, the first time a fallback is queued."""
    reason, _ = broken.most_common(1)[0]
    return (f"{sum(broken.values())} proposals broke the space's constraints since a trial last "
            f"started (most often: {reason}): the sampler learns nothing from a rejection, so a "
            f"random feasible architecture is queued each time")
