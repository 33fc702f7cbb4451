"""Pareto ranking and hypervolume.

Every part of t2tsearch that ranks by non-domination or measures a hypervolume (the sampler,
the scheduler, the report, the group comparison, `compare`, the search benchmark) does it here,
so they all optimise and report the same quantity, with Optuna's ranking and hypervolume
functions (private: t2tsearch.private_apis wraps them). A run's one reference point is placed
and read by `t2tsearch.results.reference`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from t2tsearch.private_apis import hypervolume_of_losses, non_domination_rank

# Statuses of proposals rejected before training (t2tsearch.results.STATUSES): they cost no time
# or budget, and their costs never place a reference.
REJECTED = ("infeasible", "duplicate", "quota")


@dataclass(frozen=True)
class ObjectiveSpec:
    """A table column and whether larger is better (accuracy) or smaller (macs, params, latency)."""

    column: str
    maximize: bool


# The table column that holds each objective metric of a space.
METRIC_COLUMNS = {"accuracy": "accuracy", "macs": "macs", "params": "params",
                  "latency": "latency_ms"}


def objective_specs(objectives: Sequence[Any]) -> list[ObjectiveSpec]:
    """From the space's objectives ({metric, direction}) to table columns."""
    return [ObjectiveSpec(METRIC_COLUMNS[o.metric], o.direction == "maximize") for o in objectives]


# ---- trials tables ------------------------------------------------------------------------
def as_losses(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec]) -> np.ndarray:
    """The objective columns as losses: maximised ones negated."""
    values = frame[[s.column for s in specs]].to_numpy(dtype=float)
    signs = np.array([-1.0 if s.maximize else 1.0 for s in specs])
    return values * signs


def reference_losses(reference: Mapping[str, float], specs: Sequence[ObjectiveSpec]) -> np.ndarray:
    """A reference point ({column: value}) as losses, in the order of `specs`."""
    return np.array([-reference[s.column] if s.maximize else reference[s.column] for s in specs],
                    dtype=float)


def full_budget(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec]) -> pd.DataFrame:
    """Complete trials with every objective measured, one row per architecture (the first)."""
    done = frame[frame["status"] == "complete"]
    done = done.dropna(subset=[s.column for s in specs])
    return done.drop_duplicates(subset="config_id", keep="first")


def pareto_front(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec]) -> pd.DataFrame:
    """The non-dominated full-budget trials, best first by the first objective.

    Args:
        frame: a trials table (`t2tsearch.results.load_trials`), one row per trial.
        specs: the objectives, each a column and a direction; `objective_specs(space.objectives)`
            gives a space's.

    Returns:
        The rows of `frame` no other full-budget row dominates. Trials stopped early never
        qualify, since their accuracy is not a full-budget result.
    """
    candidates = full_budget(frame, specs)
    if candidates.empty:
        return candidates
    front = candidates[non_domination_rank(as_losses(candidates, specs)) == 0]
    first = specs[0]
    return front.sort_values(first.column, ascending=not first.maximize)


def hypervolume(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec],
                reference: Mapping[str, float]) -> float:
    """Hypervolume of the full-budget trials against `reference` (Optuna's WFG algorithm).

    Args:
        frame: a trials table; only full-budget rows count.
        specs: the objectives (`objective_specs(space.objectives)`).
        reference: one value per objective column, e.g. a run's stored point
            (`{"accuracy": 10.0, "macs": 3e7}`); every point worse than it adds nothing.

    Returns:
        The volume dominated by the full-budget rows and bounded by `reference`, in the
        objectives' own units (accuracy points times MACs, say); 0.0 without such rows.
    """
    candidates = full_budget(frame, specs)
    if candidates.empty:
        return 0.0
    return hypervolume_of_losses(as_losses(candidates, specs), reference_losses(reference, specs))


def box_volume(specs: Sequence[ObjectiveSpec], reference: Mapping[str, float]) -> float:
    """Volume of the box between `reference` and the ideal point (100% accuracy, zero cost):
    hypervolume / box_volume is the normalised hypervolume, 1.0 for a perfect free model."""
    volume = 1.0
    for spec in specs:
        ideal = 100.0 if spec.maximize else 0.0
        volume *= abs(ideal - reference[spec.column]) or 1.0
    return volume


# ---- the reference point --------------------------------------------------------------------
def common_reference(references: Sequence[Mapping[str, float]],
                     specs: Sequence[ObjectiveSpec]) -> dict[str, float]:
    """One reference for several runs, from theirs: the worst of each objective (the lowest
    accuracy reference, the largest of each cost), so every run's box fits inside."""
    out = {}
    for spec in specs:
        values = [float(r[spec.column]) for r in references if spec.column in r]
        if not values:
            raise ValueError(f"no reference has {spec.column}")
        out[spec.column] = min(values) if spec.maximize else max(values)
    return out
