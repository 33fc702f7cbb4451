"""A search's settings and the Optuna and Ray objects they make: the command line's overrides of
the space's `search:` section, the sampler (seeded per session) and the early-stopping scheduler."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna

from t2tsearch.cost import count_cost
from t2tsearch.pareto import objective_specs
from t2tsearch.space.errors import SpaceError
from t2tsearch.space.feasibility import check_candidate
from t2tsearch.space.load import parse_space
from t2tsearch.space.sampling import grid_space
from t2tsearch.space.schema import SearchSpace


@dataclass
class SearchOptions:
    """Command-line overrides of the space's `search:` section, plus how and where to run."""

    trials: int | None = None
    concurrency: int | None = None
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    sampler: str | None = None
    seed: int | None = None
    scheduler: str | None = None
    goal: str | None = None
    address: str | None = None
    verbose: bool = False
    # "train" or "table:FILE" (t2tsearch.engine.evaluator): what answers each trial. None: "train" for
    # a new run, the run's own on resume.
    evaluator: str | None = None
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    echo: Callable[[str], None] = print

    def search_overrides(self) -> dict[str, Any]:
        fields = ("trials", "concurrency", "cpus_per_trial", "gpus_per_trial", "sampler", "seed",
                  "scheduler", "goal")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


def apply_overrides(space: SearchSpace, overrides: dict[str, Any], source: str) -> SearchSpace:
    """The space with its `search:` section overridden, validated as if written in the file."""
    if not overrides:
        return space
    data = space.as_data()  # keeps train.split_seed: None (an old run's split follows its seed)
    data["search"] = {**data["search"], **overrides}
    return parse_space(data, f"{source} (with command-line overrides)")


def startup_trials(sampler: str, trials: int) -> int:
    """Trials proposed before a sampler's model takes over (NSGA-II: its population size).

    Optuna's defaults (a population of 50, 10 random start-up trials) make any short run a
    random search: a third of the trials, at most 10, explore before the model takes over. The
    cost-aware sampler spreads its start-up over the cost range, which needs fewer: a fifth, 2
    to 5 (in development runs on the tabular benchmark, before its kernel took one length
    scale, 10 start-up trials took a median 31 trials to 98% over 5 seeds, 5 took 22 over 3).
    """
    if sampler in ("random", "grid"):
        return 0  # no model to take over
    if sampler == "ehvi":
        return max(2, min(5, trials // 5))
    if sampler == "nsga2":
        return max(4, min(10, trials // 3))
    return max(2, min(10, trials // 3))


def session_seed(run_seed: int, session: int) -> int:
    """The sampler's seed in a run's `session`-th session (1 for the first): the run's seed, then
    a 32-bit draw from (run seed, session). A sampler rebuilt with the run's seed would propose
    the first session's architectures again: Optuna's RandomSampler (and NSGA-II's first
    generation, TPE's start-up) is a fixed sequence per seed, and re-queued trials draw nothing
    from it, so each would be reused and use up budget."""
    if session <= 1:
        return int(run_seed)
    sequence = np.random.SeedSequence(int(run_seed), spawn_key=(int(session),))
    return int(sequence.generate_state(1)[0])


def make_sampler(space: SearchSpace, cost_cache: str | os.PathLike[str] | None = None,
                 reference: Mapping[str, float] | None = None,
                 seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler a space asks for, seeded, sized for short searches; `cost_cache` is
    where the cost-aware sampler keeps the costs it counts (the run's cache), `reference` the
    run's hypervolume reference (None: the cost-aware sampler places it from its first pool),
    `seed` the session's seed (default the space's, `session_seed` on resume)."""
    settings = space.search
    seed = settings.seed if seed is None else seed
    name = settings.sampler
    startup = startup_trials(name, settings.trials)
    if name == "ehvi":
        from t2tsearch.engine.sampler import CostAwareSampler

        return CostAwareSampler(space, lambda cfg: count_cost(cfg, cost_cache),
                                lambda cfg, cost: check_candidate(cfg, space, cost),
                                seed=seed, n_startup_trials=startup, reference=reference)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=startup, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=startup, multivariate=True,
                                          group=True, seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    raise SpaceError(f"search.sampler: unknown sampler '{name}'")


def make_scheduler(space: SearchSpace):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from t2tsearch.engine.pareto_asha import ParetoASHA, RungMetric

    settings = space.search
    epochs = space.train.epochs
    by_group = space.effective_goal == "compare_groups"
    if settings.effective_scheduler == "none" or epochs <= settings.grace_period:
        return FIFOScheduler()
    if settings.effective_scheduler == "asha" and by_group:
        # Ray's ASHA has one bracket for all trials: ours, on accuracy alone, is ASHA's rule
        # with a bracket per group.
        return ParetoASHA([RungMetric("accuracy", True)], max_t=epochs,
                          grace_period=settings.grace_period,
                          reduction_factor=settings.reduction_factor, by_group=True)
    if settings.effective_scheduler == "asha":
        return ASHAScheduler(time_attr="epoch", metric="accuracy", mode="max", max_t=epochs,
                             grace_period=settings.grace_period,
                             reduction_factor=settings.reduction_factor)
    metrics = [RungMetric(spec.column, spec.maximize) for spec in objective_specs(space.objectives)]
    # Latency is measured only after training: rank rungs on what is known by then.
    metrics = [m for m in metrics if m.key != "latency_ms"] or [RungMetric("accuracy", True)]
    return ParetoASHA(metrics, max_t=epochs, grace_period=settings.grace_period,
                      reduction_factor=settings.reduction_factor, by_group=by_group)
