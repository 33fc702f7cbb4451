"""The cost-aware sampler: costs are known before training, so only accuracy is guessed.

Generic multi-objective samplers (NSGA-II, TPE, GP) model every objective as unknown and learn
the MACs of an architecture from trials, although `count_cost` gives them exactly, for free,
before anything trains. `CostAwareSampler` uses that: for each proposal it draws a pool of
architectures from the space, counts their costs, drops the infeasible and over-budget ones, and
proposes the one with the largest **expected hypervolume improvement** (EHVI) over the front
found so far, where the expectation is over a surrogate of accuracy alone (a linear trend in the
log costs plus a Gaussian process on what it leaves) and the cost coordinates are exact. Trials
still training count with their predicted accuracy (the "Kriging believer"), so concurrent
proposals spread out instead of piling onto one spot.

Before the surrogate has data (the start-up trials) it spreads the proposals over the cost
range: each is the pool member whose log-cost lies farthest from every trial so far, because a
front spans the whole cost range and its cheap end is found by no accuracy model.

Under `goal: compare_groups` the groups' quotas (t2tsearch.engine.quota) come first: while a group is
short, the proposal is the member of the group furthest behind with the largest expected
improvement of that group's own front, over the cost range all groups share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from t2tsearch.arch import ArchConfig, trial_config_id
from t2tsearch.cost import Cost
from t2tsearch.engine.quota import tally_groups
from t2tsearch.engine.sampler.improvement import expected_improvement
from t2tsearch.engine.sampler.surrogate import (
    DEFAULT_SURROGATE,
    Candidate,
    FeatureEncoder,
    SurrogateSettings,
    fit_surrogate,
)
from t2tsearch.pareto import METRIC_COLUMNS
from t2tsearch.private_apis import distribution_contains
from t2tsearch.results.reference import run_reference
from t2tsearch.space.fields import KNOWN_BEFORE_TRAINING, measured_objectives
from t2tsearch.space.sampling import random_draws
from t2tsearch.space.schema import SearchSpace


@dataclass
class _Observed:
    """The study's trials as the surrogate sees them, by config id."""

    ids: set[str] = field(default_factory=set)  # every architecture proposed (quota ones aside)
    done: dict[str, float] = field(default_factory=dict)  # measured objective, first complete
    stopped: dict[str, tuple[float, float]] = field(default_factory=dict)  # (accuracy, fidelity)
    pending: list[str] = field(default_factory=list)  # training now
    by_id: dict[str, Candidate] = field(default_factory=dict)  # of done, stopped and pending
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # of those in by_id


class CostAwareSampler(optuna.samplers.BaseSampler):
    """Optuna sampler: each trial is the pool candidate with the largest expected hypervolume
    improvement; costs exact, accuracy from a trend in the log costs plus a Gaussian process
    over the architecture's fields.

    `cost_of` counts (and caches) a config's cost; `rejection` says why a config may not be
    trained (infeasible, over a limit) or None. Both are the search's own checks, so the sampler
    never proposes what the search would reject.
    """

    def __init__(self, space: SearchSpace, cost_of: Callable[[ArchConfig], Cost],
                 rejection: Callable[[ArchConfig, Cost | None], str | None], *,
                 seed: int = 0, n_startup_trials: int = 5, draws_per_trial: int = 128,
                 max_pool: int = 4096, reference: Mapping[str, float] | None = None,
                 surrogate: SurrogateSettings = DEFAULT_SURROGATE) -> None:
        # load_space refuses `sampler: ehvi` for such spaces with a one-line error; this guards
        # direct construction.
        if len(measured_objectives([o.metric for o in space.objectives])) != 1:
            raise ValueError("CostAwareSampler models exactly one measured objective")
        self.space = space
        self.cost_of = cost_of
        self.rejection = rejection
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.draws_per_trial = draws_per_trial
        self.max_pool = max_pool
        self.surrogate = surrogate  # the surrogate's constants (defaults: the sampler's own)
        # The run's hypervolume reference ({column: value}, t2tsearch.results.reference.run_reference);
        # without one, the first pool places it (see _grow_pool).
        self.reference = dict(reference) if reference is not None else None
        self._fallback = optuna.samplers.RandomSampler(seed=seed)
        self._rng = np.random.default_rng(seed)
        self._pool: dict[str, Candidate] = {}  # config id -> candidate, feasible ones only
        self._rejected: set[str] = set()
        self._chosen: dict[int, dict[str, Any]] = {}  # trial number -> parameter values
        self._directions = [o.direction for o in space.objectives]
        self._metrics = [o.metric for o in space.objectives]
        self._measured = next(i for i, m in enumerate(self._metrics)
                              if m not in KNOWN_BEFORE_TRAINING)
        self._known = [i for i, m in enumerate(self._metrics) if m in KNOWN_BEFORE_TRAINING]
        self.quota = space.group_quota
        self.compare_groups = self.quota > 0
        self._groups: dict[str, frozenset[str]] = {}  # config id -> its groups

    # ---- Optuna's sampler interface --------------------------------------------------------------
    def reseed_rng(self) -> None:
        self._fallback.reseed_rng()
        self._rng = np.random.default_rng()

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}  # everything is decided in before_trial and served by sample_independent

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs:
            return  # an enqueued trial (a resumed one) already has its parameters
        candidate = self.propose(study.get_trials(deepcopy=False))
        if candidate is not None:
            self._chosen[trial.number] = candidate.params

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        chosen = self._chosen.get(trial.number, {})
        if param_name in chosen:
            value = chosen[param_name]
            if distribution_contains(param_distribution, value):
                return value
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._chosen.pop(trial.number, None)

    def warm(self) -> None:
        """Draw and cost the first pool now (the search calls it while Ray starts)."""
        if not self._pool:
            self._grow_pool()

    # ---- choosing ------------------------------------------------------------------------------
    def propose(self, trials: Sequence[FrozenTrial]) -> Candidate | None:
        """The next architecture to train, given the study's trials so far; None when the pool
        has nothing new (the sampler then draws at random)."""
        self._grow_pool()
        if self.compare_groups:
            candidate = self._propose_for_short_group(trials)
            if candidate is not None:
                return candidate
        seen = self._observe(trials)
        fresh = [c for cid, c in self._pool.items() if cid not in seen.ids]
        if not fresh:
            return None
        if len(seen.done) + len(seen.stopped) < self.n_startup_trials:
            return self._spread(fresh, list(seen.by_id.values()))
        return self._best_improvement(fresh, seen.by_id, seen.done, seen.stopped, seen.pending)

    def _observe(self, trials: Sequence[FrozenTrial]) -> _Observed:
        """What the study's trials tell the surrogate, in one pass (both proposal paths)."""
        seen = _Observed()
        for t in trials:
            config_id = trial_config_id(t.user_attrs)
            if not config_id or t.user_attrs.get("status") == "quota":
                continue  # rejected only for the quota: it may be proposed later
            seen.ids.add(config_id)
            if t.state == TrialState.COMPLETE and t.values is not None:
                seen.done.setdefault(config_id, float(t.values[self._measured]))
            elif (evidence := self._stopped_evidence(t)) is not None:
                seen.stopped.setdefault(config_id, evidence)
            elif t.state == TrialState.RUNNING and t.user_attrs.get("consumed"):
                seen.pending.append(config_id)
            else:
                continue
            # Trials of an earlier session (resume) may be missing from this session's pool.
            if config_id not in seen.by_id:
                candidate = self._pool_or_config(t)
                if candidate is not None:
                    seen.by_id[config_id] = candidate
                    seen.groups[config_id] = tuple(t.user_attrs.get("groups") or ())
        return seen

    def _stopped_evidence(self, trial: FrozenTrial) -> tuple[float, float] | None:
        """(last accuracy, fidelity) of a trial the scheduler stopped early, else None.

        Its last accuracy is evidence too, though never a point of the front. It enters the
        surrogate with its fidelity (epochs reached / budget) as an input, so that one epoch's
        accuracy is not read as a full training's (on the tabular benchmark better than leaving
        it out)."""
        curve = trial.user_attrs.get("accuracy_curve")
        if trial.state != TrialState.PRUNED or self._metrics[self._measured] != "accuracy" \
                or not curve:
            return None
        reached = trial.user_attrs.get("epochs") or len(curve)
        fidelity = reached / max(trial.user_attrs.get("max_epochs") or reached, 1)
        return float(curve[-1]), min(fidelity, 1.0)

    # ---- goal: compare_groups -------------------------------------------------------------------
    def _groups_of(self, candidate: Candidate) -> frozenset[str]:
        config_id = candidate.config.id
        if config_id not in self._groups:
            self._groups[config_id] = frozenset(self.space.groups_of(candidate.config))
        return self._groups[config_id]

    def _shared_cost_range(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(low, high) of the cost losses every group's pool members cover, or None when the
        groups' ranges do not overlap (then each group is spread over its own range)."""
        members = {group: [c for c in self._pool.values() if group in self._groups_of(c)]
                   for group in self.space.groups}
        losses = [self._known_losses(found) for found in members.values() if found]
        if not losses or not self._known:
            return None
        low = np.max([loss.min(axis=0) for loss in losses], axis=0)
        high = np.min([loss.max(axis=0) for loss in losses], axis=0)
        return (low, high) if np.all(low <= high) else None

    def _propose_for_short_group(self, trials: Sequence[FrozenTrial]) -> Candidate | None:
        """While a group is short of its quota: the next member of the group furthest behind.

        Among that group's fresh pool members inside the shared cost range, the one with the
        largest expected improvement of the group's own front, its reference point at the top
        of the shared range, so that its points spread over the range where the groups are
        compared; before the group has two results, the one farthest in cost from its trials.
        Once every group has its quota this returns None and the overall front takes over: the
        quotas are what the comparison needs, and the rest of the budget improves the front the
        user gets, which extends into whichever group leads at each cost.
        """
        tally = tally_groups(trials, list(self.space.groups), self.quota)
        deficits = tally.deficits
        if not deficits:
            return None
        seen = {trial_config_id(t.user_attrs) for t in trials
                if t.user_attrs.get("status") != "quota"}
        shared = self._shared_cost_range()
        # The group furthest behind first; a group with no fresh member left is passed over.
        for group in sorted(deficits, key=lambda g: -deficits[g]):
            fresh = [c for c in self._pool.values()
                     if c.config.id not in seen and group in self._groups_of(c)]
            for _ in range(3):  # a rare group: draw more before passing it over
                if fresh:
                    break
                self._grow_pool()
                fresh = [c for c in self._pool.values()
                         if c.config.id not in seen and group in self._groups_of(c)]
            if not fresh:
                continue
            ref_cost = None
            if shared is not None:
                low, high = shared
                losses = self._known_losses(fresh)
                inside = np.all((losses >= low) & (losses <= high), axis=1)
                if inside.any():
                    fresh = [c for c, keep in zip(fresh, inside, strict=True) if keep]
                    ref_cost = high + 0.1 * np.maximum(high - low, 1e-12)
            return self._best_for_group(group, fresh, trials, ref_cost)
        return None

    def _best_for_group(self, group: str, fresh: list[Candidate], trials: Sequence[FrozenTrial],
                        ref_cost: np.ndarray | None) -> Candidate:
        seen = self._observe(trials)
        members = {cid for cid, names in seen.groups.items() if group in names}
        group_done = [cid for cid in seen.done if cid in members]
        if len(group_done) < 2 or len(seen.done) + len(seen.stopped) < self.n_startup_trials:
            return self._spread(fresh, [seen.by_id[cid] for cid in members])
        return self._best_improvement(fresh, seen.by_id, seen.done, seen.stopped, seen.pending,
                                      front_of=frozenset(members), ref_cost=ref_cost)

    def _grow_pool(self) -> None:
        if len(self._pool) >= self.max_pool:
            return
        # Counting is the cost of a proposal (a 224 px model takes ~0.3 s): the first pool
        # counts up to draws_per_trial new architectures, each later proposal a quarter of that.
        limit = self.draws_per_trial if not self._pool else max(1, self.draws_per_trial // 4)
        counted = 0
        seed = int(self._rng.integers(2**31))
        for params, cfg in random_draws(self.space, self.draws_per_trial, seed):
            if cfg.id in self._pool or cfg.id in self._rejected:
                continue
            if counted >= limit:
                break
            counted += 1
            cost = None
            if cfg.feasible:
                cost = self.cost_of(cfg)
            if cost is None or self.rejection(cfg, cost) is not None:
                self._rejected.add(cfg.id)
                continue
            self._pool[cfg.id] = Candidate(params, cfg, cost)
        if self.reference is None and self._pool:
            self.reference = run_reference(self.space, [c.cost for c in self._pool.values()])

    def _pool_or_config(self, trial: FrozenTrial) -> Candidate | None:
        config_id = trial_config_id(trial.user_attrs)
        if config_id in self._pool:
            return self._pool[config_id]
        if "arch" not in trial.user_attrs or "macs" not in trial.user_attrs:
            return None
        cfg = ArchConfig.from_json(trial.user_attrs["arch"])
        cost = Cost(params=int(trial.user_attrs["params"]), trainable_params=0,
                    macs=int(trial.user_attrs["macs"]))
        return Candidate(dict(trial.params), cfg, cost)

    def _known_losses(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Cost objectives as losses (smaller is better), one column per known objective."""
        columns = []
        for i in self._known:
            values = np.array([float(getattr(c.cost, self._metrics[i])) for c in candidates])
            columns.append(values if self._directions[i] == "minimize" else -values)
        return np.stack(columns, axis=1) if columns else np.zeros((len(candidates), 0))

    def _reference_loss(self, objective: int, measured: np.ndarray | None = None) -> float:
        """The reference point's coordinate of objective `objective`, as a loss. A measured
        objective no run start can place (latency) stands at the worst loss `measured`."""
        column = METRIC_COLUMNS[self._metrics[objective]]
        if column not in self.reference and measured is not None:
            return float(np.max(measured))
        value = self.reference[column]
        return -value if self._directions[objective] == "maximize" else value

    def _spread(self, fresh: list[Candidate], evaluated: list[Candidate]) -> Candidate:
        """Start-up: the candidate farthest in log-cost from every trial so far (random first)."""
        if not evaluated or not self._known:
            return fresh[int(self._rng.integers(len(fresh)))]
        fresh_cost = np.log1p(np.abs(self._known_losses(fresh)))
        seen_cost = np.log1p(np.abs(self._known_losses(evaluated)))
        gaps = np.min(np.linalg.norm(fresh_cost[:, None, :] - seen_cost[None, :, :], axis=2),
                      axis=1)
        best = np.flatnonzero(gaps >= gaps.max() - 1e-12)
        return fresh[int(self._rng.choice(best))]

    def _best_improvement(self, fresh: list[Candidate], by_id: dict[str, Candidate],
                          done: dict[str, float], stopped: dict[str, tuple[float, float]],
                          pending: list[str], front_of: frozenset[str] | None = None,
                          ref_cost: np.ndarray | None = None) -> Candidate:
        """The candidate of `fresh` with the largest expected improvement. The surrogate learns
        from every observation (stopped trials at their fidelity); the front is that of the
        config ids in `front_of` (default: all), with the cost reference point `ref_cost`
        (default: the run's reference point)."""
        front_ids = [cid for cid in done if cid in by_id and (front_of is None or cid in front_of)]
        observed = {**{cid: v for cid, v in stopped.items() if cid in by_id},
                    **{cid: (done[cid], 1.0) for cid in done if cid in by_id}}
        if len(observed) < 2 or not front_ids:
            return self._spread(fresh, list(by_id.values()))
        sign = -1.0 if self._directions[self._measured] == "maximize" else 1.0
        encoder = FeatureEncoder(list(self._pool.values()) + list(by_id.values()))
        x_train = encoder.encode([by_id[cid] for cid in observed],
                                 fidelity=[f for _, f in observed.values()])
        y_train = np.array([sign * value for value, _ in observed.values()])  # as a loss
        model = fit_surrogate(x_train, y_train, self.seed, encoder.trend_columns(),
                              self.surrogate)
        mean, std = model.predict(encoder.encode(fresh), return_std=True)
        std = np.maximum(std, 1e-9)

        # The front so far, with pending trials at their predicted loss (Kriging believer).
        front_known = self._known_losses([by_id[cid] for cid in front_ids])
        front_loss = np.array([sign * done[cid] for cid in front_ids])
        running = [by_id[cid] for cid in pending
                   if cid in by_id and (front_of is None or cid in front_of)]
        if running:
            front_known = np.vstack([front_known, self._known_losses(running)])
            front_loss = np.concatenate([front_loss, model.predict(encoder.encode(running))])
        ref_known = np.array([self._reference_loss(i) for i in self._known])  # the run's
        ref_loss = self._reference_loss(self._measured, y_train)  # reference point, as losses
        if ref_cost is not None:  # a group's turn: its front over the groups' shared MAC range
            ref_known = ref_cost
        gains = expected_improvement(self._known_losses(fresh), mean, std, front_known,
                                     front_loss, ref_known, ref_loss)
        best = np.flatnonzero(gains >= gains.max() * (1 - 1e-9))
        return fresh[int(self._rng.choice(best))]
