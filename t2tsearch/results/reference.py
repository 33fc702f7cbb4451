"""The run's one hypervolume reference point: placed when the run starts, stored in run.json, and
read back (completed for what no start can know) by everything that measures the run.

The reference point of a run is chosen once, when the run starts: accuracy at chance level
(100 / num_classes percent), each cost at the space's constraint (`max_macs`, `max_params`) or,
without one, 1.1 x the largest cost in the first pool of feasible architectures the run counts.
Trials never move it, so a rejected giant cannot change a run's hypervolume, and the sampler's
expected improvement is measured in the same box the report shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from t2tsearch.groups import PLANE
from t2tsearch.pareto import REJECTED, ObjectiveSpec

if TYPE_CHECKING:
    from t2tsearch.arch import ArchConfig
    from t2tsearch.cost import Cost
    from t2tsearch.space.schema import SearchSpace

# The first pool: draws counted for the reference when a cost has no constraint (the
# cost-aware sampler's first pool is the same size), and the most drawn looking for a feasible
# architecture in a space where few are.
POOL_DRAWS = 128
MOST_POOL_DRAWS = 1024
# Headroom above the largest cost of the first pool, so its most expensive member still counts.
COST_MARGIN = 1.1


# Costs known before training, each with the constraint that bounds it.
COST_LIMITS = {"macs": "max_macs", "params": "max_params"}


def chance_accuracy(num_classes: int) -> float:
    """Accuracy (percent) of guessing one class: a model below it has learnt nothing."""
    return 100.0 / max(int(num_classes), 1)


def reference_costs(space: SearchSpace) -> list[str]:
    """The cost columns a run's reference holds: MACs always (reports, group comparisons and
    `compare` are drawn in the accuracy-MACs plane), and every cost objective."""
    costs = ["macs"]
    costs += [o.metric for o in space.objectives
              if o.metric in COST_LIMITS and o.metric not in costs]
    return costs


def needs_pool(space: SearchSpace) -> bool:
    """True when a cost of the reference has no constraint to stand at, so a pool is counted."""
    return any(getattr(space.constraints, COST_LIMITS[c]) is None for c in reference_costs(space))


def run_reference(space: SearchSpace, pool_costs: Sequence[Cost] = ()) -> dict[str, float]:
    """A run's reference point: accuracy at chance level, each cost at its constraint or else
    1.1 x its largest value over `pool_costs` (the first pool of feasible architectures).

    Measured objectives other than accuracy (latency) are not known before training and are
    left out; `with_measured` completes a reference for them.
    """
    reference = {"accuracy": chance_accuracy(space.base_config.num_classes)}
    for cost in reference_costs(space):
        limit = getattr(space.constraints, COST_LIMITS[cost])
        if limit is not None:
            reference[cost] = float(limit)
        elif pool_costs:
            reference[cost] = COST_MARGIN * float(max(getattr(c, cost) for c in pool_costs))
        else:
            raise ValueError(f"no {COST_LIMITS[cost]} and no pool costs to place the {cost} "
                             f"reference")
    return reference


def reference_pool(space: SearchSpace, seed: int, cost_of: Callable[[ArchConfig], Cost],
                   rejection: Callable[[ArchConfig, Cost], str | None]) -> list[Cost]:
    """Costs of the first pool: the distinct feasible architectures among POOL_DRAWS seeded
    random draws (more, up to MOST_POOL_DRAWS, while none is feasible). Infeasible and
    over-limit draws are left out, so they never move the reference."""
    from t2tsearch.space.sampling import random_draws

    costs: dict[str, Cost] = {}
    seen: set[str] = set()
    drawn = 0
    while drawn < MOST_POOL_DRAWS and (drawn == 0 or not costs):
        for _, cfg in random_draws(space, POOL_DRAWS, seed + drawn):
            if cfg.id in seen:
                continue
            seen.add(cfg.id)
            if not cfg.feasible:
                continue
            cost = cost_of(cfg)
            if rejection(cfg, cost) is None:
                costs[cfg.id] = cost
        drawn += POOL_DRAWS
    return list(costs.values())


def with_measured(reference: Mapping[str, float], specs: Sequence[ObjectiveSpec],
                  table: pd.DataFrame) -> dict[str, float]:
    """`reference` completed for objectives no run start can know (latency): 1.1 x the largest
    value any trained trial measured. Rejected proposals measure nothing, so they cannot move it."""
    out = dict(reference)
    for spec in specs:
        if spec.column in out:
            continue
        seen = table[spec.column].dropna() if spec.column in table else pd.Series(dtype=float)
        if spec.maximize:
            out[spec.column] = float(seen.min()) if len(seen) else 0.0
        else:
            out[spec.column] = COST_MARGIN * float(seen.max()) if len(seen) else 1.0
    return out


def table_reference(space: SearchSpace, table: pd.DataFrame) -> dict[str, float]:
    """The reference of a run that stored none (started before references were stored): the
    same rule with the run's trained trials standing in for the first pool."""
    trained = table[~table["status"].isin(REJECTED)]
    pool = []
    for _, row in trained.dropna(subset=reference_costs(space)).iterrows():
        pool.append(_Costs(**{c: float(row[c]) for c in ("macs", "params") if c in row}))
    try:
        return run_reference(space, pool)
    except ValueError:  # nothing trained yet: any box will do for an empty front
        return {"accuracy": chance_accuracy(space.base_config.num_classes),
                **{c: 1.0 for c in reference_costs(space)}}


@dataclass(frozen=True)
class _Costs:
    macs: float = 0.0
    params: float = 0.0


def reference_planes(specs: Sequence[ObjectiveSpec]) -> list[ObjectiveSpec]:
    """The objectives a run's reference covers: the run's own, then the accuracy-MACs plane's."""
    return [*specs, *(s for s in PLANE if s not in specs)]


def read_reference(meta: Mapping[str, Any], space: SearchSpace, table: pd.DataFrame,
                   specs: Sequence[ObjectiveSpec]) -> tuple[dict[str, float], str]:
    """The run's reference point for `reference_planes(specs)`, and a sentence saying where it
    comes from: run.json's, chosen when the run started (`run_reference`); for a run that stored
    none, the same rule with its trained trials as the first pool."""
    planes = reference_planes(specs)
    stored = meta.get("reference")
    if stored:
        reference = with_measured(stored, planes, table)
        note = ("Reference point, chosen when the run started (run.json): accuracy at chance "
                "level, each cost at the space's constraint or 1.1 x the largest cost of the "
                "first pool of feasible architectures")
    else:
        reference = with_measured(table_reference(space, table), planes, table)
        note = ("This run predates stored reference points: accuracy at chance level, each "
                "cost at the space's constraint or 1.1 x the largest cost of its trained trials")
    if any(s.column == "latency_ms" for s in planes):  # measured: no run start can place it
        note += "; latency at 1.1 x the largest measured"
    return reference, note
