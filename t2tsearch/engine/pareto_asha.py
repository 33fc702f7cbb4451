"""Pareto-aware asynchronous successive halving (MO-ASHA, Schmucker et al. 2021) for Ray Tune.

Single-metric ASHA ranks trials by accuracy alone, so at every rung it stops the small models
whose accuracy trails, even when they are the best at their cost. Here a trial reaching a rung
is ranked among the trials recorded there by non-domination over (accuracy so far, cost), with
NSGA-II's crowding distance breaking ties inside a front; it continues if it is in the top 1/eta.

With `by_group` (a space whose goal is to compare groups) a trial is ranked only among the
trials of exactly its groups at each rung (its bracket; a trial in no group is in the bracket of
no group), so a group that learns slower is never stopped for trailing a faster one; and a trial
that fills its group's quota (t2tsearch.engine.quota) is recorded at the rung but never stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from t2tsearch.engine.quota import FILLS_QUOTA
from t2tsearch.private_apis import non_domination_rank


@dataclass(frozen=True)
class RungMetric:
    """A reported metric and whether larger is better."""

    key: str
    maximize: bool


def crowding_distance(losses: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of points on one front (larger: more isolated, kept first)."""
    count, dims = losses.shape
    distance = np.zeros(count)
    if count <= 2:
        return np.full(count, np.inf)
    for dim in range(dims):
        order = np.argsort(losses[:, dim], kind="stable")
        span = losses[order[-1], dim] - losses[order[0], dim]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            gaps = (losses[order[2:], dim] - losses[order[:-2], dim]) / span
            distance[order[1:-1]] += gaps
    return distance


def rank_and_crowding(losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-domination rank (0 = Pareto front) and crowding distance of each row of `losses`."""
    ranks = non_domination_rank(losses)
    crowding = np.zeros(len(losses))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        crowding[members] = crowding_distance(losses[members])
    return ranks, crowding


def strictly_ahead(losses: np.ndarray, index: int) -> int:
    """How many rows are more deserving of promotion than row `index`: a lower rank, or the same
    rank and a larger crowding distance. Ties do not count, as ASHA keeps a trial whose value
    equals the cut-off."""
    ranks, crowding = rank_and_crowding(losses)
    better_rank = ranks < ranks[index]
    same_rank_wider = (ranks == ranks[index]) & (crowding > crowding[index])
    return int(np.count_nonzero(better_rank | same_rank_wider))


class ParetoASHA(FIFOScheduler):
    """Asynchronous successive halving whose promotion rule is Pareto rank over several metrics."""

    def __init__(self, metrics: list[RungMetric], max_t: int, grace_period: int = 1,
                 reduction_factor: float = 3, time_attr: str = "epoch",
                 by_group: bool = False) -> None:
        super().__init__()
        if not metrics:
            raise ValueError("ParetoASHA needs at least one metric")
        self.metrics = metrics
        self.time_attr = time_attr
        self.max_t = max_t
        self.reduction_factor = reduction_factor
        self.rungs: list[int] = []
        milestone = float(grace_period)
        while milestone < max_t:
            self.rungs.append(int(round(milestone)))
            milestone *= reduction_factor
        self.recorded: dict[int, dict[str, np.ndarray]] = {rung: {} for rung in self.rungs}
        self.stopped: set[str] = set()
        self.by_group = by_group
        self.bracket_of: dict[str, tuple[str, ...]] = {}  # trial id -> its groups, sorted

    def _losses(self, result: dict) -> np.ndarray:
        values = []
        for metric in self.metrics:
            value = result.get(metric.key)
            if value is None or not math.isfinite(float(value)):
                values.append(math.inf)  # a diverged or unreported metric ranks last
            else:
                values.append(-float(value) if metric.maximize else float(value))
        return np.array(values)

    def decide(self, trial_id: str, progress: float, result: dict,
               groups: tuple[str, ...] = (), protected: bool = False) -> str:
        """Record the trial at the highest rung it has newly reached and say whether it goes on.

        `groups` (used with by_group) picks the trials it is ranked among; a `protected` trial
        is recorded, so that it ranks the others, but always goes on."""
        bracket = tuple(sorted(groups)) if self.by_group else ()
        self.bracket_of[trial_id] = bracket
        for rung in reversed(self.rungs):
            if progress < rung or trial_id in self.recorded[rung]:
                continue
            at_rung = self.recorded[rung]
            at_rung[trial_id] = self._losses(result)
            if protected:
                return TrialScheduler.CONTINUE
            ids = [i for i in at_rung if self.bracket_of.get(i, ()) == bracket]
            keep = math.ceil(len(ids) / self.reduction_factor)
            ahead = strictly_ahead(np.stack([at_rung[i] for i in ids]), ids.index(trial_id))
            if ahead >= keep:
                self.stopped.add(trial_id)
                return TrialScheduler.STOP
            return TrialScheduler.CONTINUE
        return TrialScheduler.CONTINUE

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        progress = result.get(self.time_attr)
        if progress is None or result.get("final") or progress >= self.max_t:
            return TrialScheduler.CONTINUE
        config = getattr(trial, "config", None) or {}
        # A trial trained again after its worker died (t2tsearch.engine.search) is a new Tune trial of
        # the same search trial: keyed by the search's trial number, it is one entry per rung,
        # judged once at each, not a second competitor beside its own lost attempt.
        key = (f"trial {config['trial_number']}" if config.get("trial_number") is not None
               else trial.trial_id)
        return self.decide(key, float(progress), result,
                           groups=tuple(config.get("groups") or ()),
                           protected=bool(config.get(FILLS_QUOTA)))

    def debug_string(self) -> str:
        filled = ", ".join(f"epoch {rung}: {len(self.recorded[rung])}" for rung in self.rungs)
        return f"ParetoASHA(rungs: {filled or 'none'}; stopped {len(self.stopped)})"
