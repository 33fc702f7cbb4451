"""The search run: Ray Tune trains proposals, a persistent Optuna study proposes and records them."""

from __future__ import annotations

import atexit
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from t2tsearch.arch import ArchConfig, trial_config_id
from t2tsearch.cost import count_cost
from t2tsearch.errors import UserError
from t2tsearch.evaluator import trial_seed
from t2tsearch.groups import describe_plan
from t2tsearch.pareto import objective_specs, pareto_front
from t2tsearch.private_apis import init_local_ray, live_trial
from t2tsearch.provenance import run_metadata
from t2tsearch.quota import FILLS_QUOTA, describe_deficits, tally_groups
from t2tsearch.resources import TrialRequest, check_cluster, waiting_notice
from t2tsearch.results.directory import (
    STUDY_NAME,
    DriverLock,
    RunDir,
    now_iso,
    storage_error,
    storage_fault,
    take_driver_lock,
    took_over_note,
)
from t2tsearch.results.reference import (
    MOST_POOL_DRAWS,
    needs_pool,
    reference_pool,
    run_reference,
    table_reference,
)
from t2tsearch.results.run import open_run
from t2tsearch.results.tables import CONSUMED, FAILED, TrialsCsv, status_counts, trials_table
from t2tsearch.space.errors import SpaceError
from t2tsearch.space.feasibility import check_architecture, check_candidate, check_cost
from t2tsearch.space.load import load_run_space, load_space, parse_space
from t2tsearch.space.sampling import grid_space, random_draws, suggest
from t2tsearch.space.schema import SearchSpace
from t2tsearch.trainable import proxy_trainable
from t2tsearch.worker_loss import worker_lost

# Give up proposing when this many proposals in a row were rejected before training: the
# space's constraints leave (almost) nothing, and the sampler would spin for ever.
MAX_REJECTED_IN_A_ROW = 200
# Under goal: compare_groups, after this many proposals in a row rejected for the quota (the
# sampler keeps missing the short groups), the searcher queues a random member of one itself.
QUOTA_PATIENCE = 30
# Random draws searched for a member of a short group before its quota is given up as out of reach.
QUOTA_DRAWS = 1000

TrialState = optuna.trial.TrialState


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
    # "train" or "table:FILE" (t2tsearch.evaluator): what answers each trial. None: "train" for
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


# ---- Optuna --------------------------------------------------------------------------------------
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
        from t2tsearch.sampler import CostAwareSampler

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


def open_study(run: RunDir, space: SearchSpace, create: bool,
               reference: Mapping[str, float] | None = None,
               seed: int | None = None) -> optuna.Study:
    """The run's study, its sampler seeded with `seed` (default the space's)."""
    directions = [objective.direction for objective in space.objectives]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature warnings of some samplers
        sampler = make_sampler(space, run.cost_cache, reference, seed)
    if create:
        study = optuna.create_study(study_name=STUDY_NAME, storage=run.storage_url,
                                    directions=directions, sampler=sampler)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # set_metric_names is marked experimental
            study.set_metric_names([objective.metric for objective in space.objectives])
        return study
    return optuna.load_study(study_name=STUDY_NAME, storage=run.storage_url, sampler=sampler)


def tell(study: optuna.Study, trial: optuna.Trial, state: TrialState,
         values: list[float] | None = None) -> None:
    """study.tell, outside study.optimize: GridSampler calls study.stop() once its grid is used
    up, which raises there; the trial is already told by then (Optuna stores the state first)."""
    try:
        if state == TrialState.COMPLETE:
            study.tell(trial, values)
        else:
            study.tell(trial, state=state)
    except RuntimeError as err:
        if "Study.stop" not in str(err):
            raise


def objective_values(space: SearchSpace, attrs: dict[str, Any]) -> list[float] | None:
    """The study's objective values from a trial's recorded metrics; None if one is missing."""
    values = [attrs.get(spec.column) for spec in objective_specs(space.objectives)]
    if any(value is None or not math.isfinite(float(value)) for value in values):
        return None
    return [float(value) for value in values]


# ---- the searcher: Optuna's ask/tell behind Ray's Searcher interface -------------------------------
# The trainer's `invalid` (cannot be built, or not in the table) stays `invalid`: unlike an
# `infeasible` proposal it was found out only after it took a trial of the budget.
_TRAIN_STATUS = {"complete": "complete", "diverged": "diverged", "oom": "oom",
                 "invalid": "invalid", "stopped": "stopped_early"}


def tune_searcher(searcher: StudySearcher):
    """Ray Tune's view of `searcher`: a Ray `Searcher` whose calls go to it."""
    from ray.tune.search import Searcher

    class StudyTuneSearcher(Searcher):
        def __init__(self, searcher: StudySearcher) -> None:
            super().__init__()
            # Not `searcher`: Tune takes a searcher with that attribute for a wrapper of it.
            self.study_searcher = searcher

        def suggest(self, trial_id: str):
            return self.study_searcher.guarded(self.study_searcher.suggest, trial_id,
                                               fallback=Searcher.FINISHED)

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            self.study_searcher.guarded(self.study_searcher.on_trial_result, trial_id, result)

        def on_trial_complete(self, trial_id: str, result: dict | None = None,
                              error: bool = False) -> None:
            self.study_searcher.guarded(self.study_searcher.on_trial_complete, trial_id,
                                        result, error)

    return StudyTuneSearcher(searcher)


class StudySearcher:
    """Proposes architectures from the Optuna study; rejects infeasible, over-budget and
    already-seen ones before Ray spends anything on them; tells the study every outcome."""

    def __init__(self, space: SearchSpace, study: optuna.Study, run: RunDir, budget_left: int,
                 progress: Progress, evaluator: str = "train") -> None:
        self.ray_searcher = tune_searcher(self)
        self.space = space
        self.study = study
        self.run = run
        self.budget_left = budget_left
        self.progress = progress
        self.evaluator = evaluator
        self.live: dict[str, optuna.Trial] = {}  # Ray trial id -> Optuna trial
        self.curves: dict[str, list[float]] = {}
        self.seconds: dict[str, float] = {}  # training time so far, for trials stopped early
        self.errored: dict[str, dict | None] = {}  # Ray trial id -> last result, error pending
        self.configs: dict[str, dict[str, Any]] = {}  # Ray trial id -> the config it was given
        # Trials to train once more, as new Ray trials of the same Optuna trial: one that ran out
        # of memory sharing a GPU (alone on a whole one), one whose worker process died (on any
        # node, from its last checkpoint if it has one). Ray trial ids of the failed attempts,
        # which stay in `live`, their configs as the retry gets them in `configs`, until retried.
        self.retry_queue: list[str] = []
        self.said_finished = False  # Tune asks nothing more once told FINISHED
        self.max_retries = space.search.max_retries  # per trial, for a worker that died
        self.checkpoints: dict[str, str] = {}  # Ray trial id -> its last checkpoint's folder
        self.nodes: dict[str, str] = {}  # Ray trial id -> the node of its last result
        self.running_ids: dict[str, int] = {}  # config id -> trial number, while training
        self.done_ids: dict[str, int] = {}  # config id -> number of its complete trial
        self.gave_up: str | None = None
        # goal: compare_groups: each group's quota of full-budget architectures (t2tsearch.quota).
        self.quota = space.group_quota
        self.compare_groups = self.quota > 0
        self.out_of_reach: set[str] = set()  # groups whose quota no random draw could fill
        self.notes: list[str] = []
        self.trials_csv = TrialsCsv(run)
        # Why the run directory stopped taking writes (full, read-only): the run then stops.
        self.storage_fault: str | None = None
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            config_id = trial_config_id(trial.user_attrs)
            if config_id and trial.user_attrs.get("status") == "complete":
                self.done_ids.setdefault(config_id, trial.number)

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its search algorithm, callbacks and stopper (all of which reach this
        # object) when it builds a Tuner, for `Tuner.restore`. A run resumes from its study,
        # never through Tune's restore, so the pickled copy leaves out the study and its live
        # trials: Optuna's samplers need not pickle (5.1's NSGA-II holds a thread lock).
        return {**self.__dict__, "study": None, "live": {}}

    def guarded(self, call: Callable[..., Any], *args: Any, fallback: Any = None) -> Any:
        """`call` as Ray calls it; a run directory that stops taking writes is noted (the
        run stops, see _fit) instead of raised inside Tune. After that nothing is recorded:
        the trials in flight stay running in the study, and --resume trains them again."""
        if self.storage_fault is not None:
            return fallback
        try:
            return call(*args)
        except Exception as err:
            fault = storage_fault(err)
            if fault is None:
                raise
            self.storage_fault = fault
            return fallback

    # Ray: a new trial wants a config.
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        from ray.tune.search import Searcher

        if self.retry_queue:
            return self._retry(trial_id)
        if any(config.get("alone") for config in self.configs.values()):
            # A retry alone needs a whole GPU: new trials, taking fractions of the GPUs as
            # others free them, could keep it waiting for ever. They wait until it has run.
            return None
        # Having given up, it proposes nothing more (proposing again would repeat the search
        # that gave up), but may still retry a trial in flight.
        config = Searcher.FINISHED if self.gave_up else self._propose(trial_id)
        if config is not Searcher.FINISHED:
            return config
        if self._may_retry():
            return None  # ask again: a trial in flight may yet need its retry
        self.said_finished = True
        return config

    @property
    def shares_gpus(self) -> bool:
        """Whether trials share a GPU (0 < gpus_per_trial < 1), so that whether one runs out of
        memory depends on its neighbours, not only on its architecture."""
        return 0 < self.space.search.gpus_per_trial < 1

    def _may_retry(self) -> bool:
        """Whether a trial in flight may yet be trained again: its worker may die, or it may
        run out of memory sharing a GPU."""
        if self.max_retries > 0 and self.live:
            return True
        return self.shares_gpus and any(not config.get("alone")
                                        for config in self.configs.values())

    def _retry(self, trial_id: str) -> dict[str, Any]:
        """The next trial of the retry queue as a new Ray trial (`trial_id`): the same Optuna
        trial, budget and architecture, with the config its retry was given (alone on a whole
        GPU, resources_of; or from its last checkpoint)."""
        failed_id = self.retry_queue.pop(0)
        trial = self.live.pop(failed_id)
        config = self.configs.pop(failed_id)
        seconds = self.seconds.pop(failed_id, None)
        curve = self.curves.pop(failed_id, [])
        self.nodes.pop(failed_id, None)
        self.live[trial_id] = trial
        # From a checkpoint, the epochs before it stand (each epoch's result came with one).
        self.curves[trial_id] = curve if config.get("resume_from") else []
        if config.get("resume_from") and seconds is not None:
            self.seconds[trial_id] = seconds
        self.configs[trial_id] = config
        if trial.user_attrs.get("awaiting_retry"):
            trial.set_user_attr("awaiting_retry", False)
        return config

    def _propose(self, trial_id: str) -> dict[str, Any] | None:
        from ray.tune.search import Searcher

        rejected = quota_rejected = 0
        while self.budget_left > 0:
            if self._holding_reserve():
                return None  # Tune asks again once a trial in flight has ended
            if isinstance(self.study.sampler, optuna.samplers.GridSampler) and \
                    self.study.sampler.is_exhausted(self.study):
                self.gave_up = "stopped proposing: every point of the grid has been tried"
                return Searcher.FINISHED
            if rejected >= MAX_REJECTED_IN_A_ROW:
                self.gave_up = (f"stopped proposing: {rejected} proposals in a row broke the "
                                f"space's constraints or repeated running ones")
                return Searcher.FINISHED
            if quota_rejected >= QUOTA_PATIENCE:
                self._queue_short_group_member()
                quota_rejected = 0
            trial = self.study.ask()
            cfg = suggest(trial, self.space)
            groups = self.space.groups_of(cfg)
            trial.set_user_attr("arch", cfg.to_json())
            trial.set_user_attr("config_id", cfg.id)
            trial.set_user_attr("groups", groups)
            trial.set_user_attr("max_epochs", self.space.train.epochs)
            reason = check_architecture(cfg, self.space)
            cost = None
            if reason is None:
                cost = count_cost(cfg, self.run.cost_cache)
                trial.set_user_attr("params", cost.params)
                trial.set_user_attr("macs", cost.macs)
                reason = check_cost(cost, self.space)
            if reason is not None:
                self._finish(trial, TrialState.FAIL, status="infeasible", reason=reason)
                rejected += 1
                continue
            fills, quota_reason = self._quota_check(cfg.id, groups)
            if quota_reason is not None:
                self._finish(trial, TrialState.FAIL, status="quota", reason=quota_reason)
                quota_rejected += 1
                continue
            if cfg.id in self.done_ids:
                self._reuse(trial, self.done_ids[cfg.id])
                continue
            if cfg.id in self.running_ids:
                self._finish(trial, TrialState.FAIL, status="duplicate",
                             reason=f"same architecture as trial {self.running_ids[cfg.id]}, "
                                    f"still training")
                rejected += 1
                continue
            assert cost is not None
            self.budget_left -= 1
            trial.set_user_attr("consumed", True)
            if fills:
                trial.set_user_attr(FILLS_QUOTA, True)
            self.live[trial_id] = trial
            self.curves[trial_id] = []
            self.running_ids[cfg.id] = trial.number
            self.configs[trial_id] = {
                "arch": cfg.to_json(), "budget": self.space.train.model_dump(mode="json"),
                "macs": cost.macs, "params": cost.params, "trial_number": trial.number,
                # picks the seed's row on a table with several (t2tsearch.evaluator)
                "trial_seed": trial_seed(self.space.search.seed, trial.number),
                "cpus": self.space.search.cpus_per_trial, "evaluator": self.evaluator,
                "checkpoint": self.space.search.checkpoint,
                # for the early-stopping scheduler's group brackets (t2tsearch.pareto_asha)
                "groups": groups, FILLS_QUOTA: fills}
            return self.configs[trial_id]
        return Searcher.FINISHED

    def deficits(self) -> dict[str, int]:
        """Groups short of their quota (goal: compare_groups), with how many they still need."""
        return self._quota_state()[0]

    def _quota_state(self) -> tuple[dict[str, int], int]:
        """(the short groups' deficits, trials held back for quota trials in flight)."""
        if not self.compare_groups:
            return {}, 0
        tally = tally_groups(self.study.get_trials(deepcopy=False), list(self.space.groups),
                             self.quota)
        deficits = {g: n for g, n in tally.deficits.items() if g not in self.out_of_reach}
        return deficits, tally.reserve

    def _holding_reserve(self) -> bool:
        """Every quota is filled or training, and what is left of the budget is the reserve
        for those still training: wait for their results before spending it elsewhere."""
        if not self.compare_groups:
            return False
        deficits, reserve = self._quota_state()
        return not deficits and 0 < self.budget_left <= reserve

    def _quota_check(self, config_id: str, groups: list[str]) -> tuple[bool, str | None]:
        """(whether a proposal fills a short group's quota, why it is rejected or None).

        Proposals outside every short group are trained while the budget left exceeds what the
        short groups still need plus the reserve for quota trials in flight; from then on only
        a new architecture of a short group is."""
        deficits, reserve = self._quota_state()
        new = config_id not in self.done_ids and config_id not in self.running_ids
        fills = new and any(group in deficits for group in groups)
        if fills or self.budget_left > sum(deficits.values()) + reserve:
            return fills, None
        where = f"in {', '.join(groups)}" if groups else "in no group"
        if not new:
            where = "already trained or training"
        return False, (f"{describe_deficits(deficits, self.quota)} with {self.budget_left} "
                       f"trial(s) left; this one is {where}")

    def _queue_short_group_member(self) -> None:
        """The sampler keeps missing the short groups: queue a random feasible, untried member
        of one (the next ask returns it), or give up the quotas no random draw can fill."""
        deficits = self.deficits()
        seed = self.space.search.seed + len(self.study.get_trials(deepcopy=False))
        tried = set(self.done_ids) | set(self.running_ids)
        for params, cfg in random_draws(self.space, QUOTA_DRAWS, seed):
            if cfg.id in tried or not set(self.space.groups_of(cfg)) & set(deficits):
                continue
            tried.add(cfg.id)
            # The architecture is checked before any count: counting one that cannot be built
            # raises, and this runs inside Ray's suggest, where that would end the run.
            if check_candidate(cfg, self.space, cache_dir=self.run.cost_cache) is None:
                self.study.enqueue_trial(params, skip_if_exists=False)
                return
        self.out_of_reach |= set(deficits)
        note = (f"quota given up for {', '.join(deficits)}: no new feasible architecture of "
                f"{'it' if len(deficits) == 1 else 'them'} in {QUOTA_DRAWS} random draws")
        self.notes.append(note)
        self.progress.echo(note)

    def _reuse(self, trial: optuna.Trial, source_number: int) -> None:
        source = self.study.get_trials(deepcopy=False)[source_number]
        for key in ("accuracy", "latency_ms", "epochs", "seconds", "images_per_s", "accuracy_curve"):
            if key in source.user_attrs:
                trial.set_user_attr(key, source.user_attrs[key])
        trial.set_user_attr("reused_from", source_number)
        trial.set_user_attr("consumed", True)
        self.budget_left -= 1
        self._finish(trial, TrialState.COMPLETE, status="complete",
                     reason=f"same architecture as trial {source_number}: result reused",
                     values=source.values)

    def _finish(self, trial: optuna.Trial, state: TrialState, status: str, reason: str = "",
                values: list[float] | None = None) -> None:
        trial.set_user_attr("status", status)
        if reason:
            trial.set_user_attr("reason", reason)
        tell(self.study, trial, state, values)
        self.progress.finished(self.trials_csv.add(self.study, trial))

    # Ray: an epoch's metrics.
    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.live and result.get("node"):
            self.nodes[trial_id] = str(result["node"])
        if trial_id in self.curves and not result.get("final") and "accuracy" in result:
            self.curves[trial_id].append(float(result["accuracy"]))
            self.seconds[trial_id] = self.seconds.get(trial_id, 0.0) + result["epoch_seconds"]

    # Ray: the trial ended, finished or stopped by the scheduler or failed.
    def on_trial_complete(self, trial_id: str, result: dict | None, error: bool) -> None:
        if error and trial_id in self.live:
            # Wait for the error's text (trial_errored, from a Tune callback that runs next):
            # Ctrl-C reaches the workers too, and a trial killed by it is interrupted, not failed.
            self.errored[trial_id] = result
            return
        config = self.configs.get(trial_id, {})
        if (result and result.get("final") and result.get("status") == "oom"
                and self.shares_gpus and not config.get("alone") and not self.said_finished
                and trial_id in self.live):
            # Out of memory beside other trials on its GPU: maybe theirs, not its own. Trained
            # once more alone before `oom` becomes the architecture's result.
            trial = self.live[trial_id]
            trial.set_user_attr("oom_shared", str(result.get("reason", "")))
            # Alone, it trains from scratch: its checkpoints (search.checkpoint) go now, or
            # nothing would ever delete them, and its curve starts again (_retry).
            self._drop_checkpoints(trial_id, config)
            config = {key: value for key, value in config.items() if key != "resume_from"}
            self.configs[trial_id] = {**config, "alone": True}
            self.retry_queue.append(trial_id)
            self.progress.echo(f"trial {trial.number} ran out of memory sharing a GPU "
                               f"({self.space.search.gpus_per_trial:g} each): trained again "
                               f"alone on a whole GPU")
            return
        self._record_outcome(trial_id, result, None)

    def trial_errored(self, trial_id: str, text: str | None) -> None:
        """The text of a trial's error: a KeyboardInterrupt leaves the trial to --resume, a
        worker that died has it trained again (t2tsearch.worker_loss), an exception is its
        result."""
        if trial_id not in self.errored:
            return
        result = self.errored.pop(trial_id)
        if text and "KeyboardInterrupt" in text:
            return  # stays in self.live and RUNNING in the study: counted as interrupted
        lost = worker_lost(text)
        if lost is not None:
            self._lost(trial_id, result, lost)
            return
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        reason = f"raised {lines[-1][:200]}" if lines else "the trial raised an error"
        self._record_outcome(trial_id, result, reason)

    def _lost(self, trial_id: str, result: dict | None, reason: str) -> None:
        """A trial whose worker process died: queued to train again on any node (from its last
        checkpoint, where it has one) while it has retries left, else recorded `lost`. Either
        way it used one trial of the budget, when it was proposed, and no more."""
        trial = self.live.get(trial_id)
        if trial is None:
            return
        node = self.nodes.get(trial_id)
        if node and "(node " not in reason:
            reason = f"{reason} (on node {node[:8]})"
        losses = [*trial.user_attrs.get("lost_reasons", []), reason]
        trial.set_user_attr("lost_reasons", losses)
        retries = int(trial.user_attrs.get("retries", 0))
        if retries >= self.max_retries:
            self._record_outcome(trial_id, result, None, lost=losses)
            return
        trial.set_user_attr("retries", retries + 1)
        # Until its retry starts, a driver killed now leaves it to --resume (mark_interrupted).
        trial.set_user_attr("awaiting_retry", True)
        config = dict(self.configs.get(trial_id, {}))
        checkpoint = self.checkpoints.pop(trial_id, None)
        if checkpoint is not None:
            # A newer one than the checkpoint this attempt went on from, if it had one.
            if config.get("resume_from"):
                shutil.rmtree(config["resume_from"], ignore_errors=True)
            config["resume_from"] = checkpoint
        checkpoint = config.get("resume_from")
        self.configs[trial_id] = config
        self.retry_queue.append(trial_id)
        self.progress.echo(f"trial {trial.number} lost: {reason}; trained again"
                           f"{' from its last checkpoint' if checkpoint else ''} (retry "
                           f"{retries + 1} of {self.max_retries})")

    def checkpointed(self, trial_id: str, path: str) -> None:
        """Ray: a trial saved a checkpoint (search.checkpoint), its latest so far."""
        if trial_id in self.live:
            self.checkpoints[trial_id] = path

    def flush_errors(self, stopped: bool = False) -> None:
        """Errors whose text never came: record them as failed all the same, unless the run was
        `stopped` (Ctrl-C), which is what most likely ended them: they stay to be interrupted."""
        for trial_id in list(self.errored):
            result = self.errored.pop(trial_id)
            if not stopped:
                self._record_outcome(trial_id, result,
                                     "the trial raised an error; see its error.txt under ray/")

    def interrupt_live(self) -> int:
        """Trials still in flight when Tune was stopped: recorded `interrupted` and queued to be
        trained again first on resume (see mark_interrupted); how many there were."""
        count = 0
        for trial_id, trial in list(self.live.items()):
            self.live.pop(trial_id)
            self.curves.pop(trial_id, None)
            self.seconds.pop(trial_id, None)
            self.running_ids.pop(trial.user_attrs.get("config_id", ""), None)
            self.nodes.pop(trial_id, None)
            self._drop_checkpoints(trial_id, self.configs.pop(trial_id, {}))
            mark_interrupted(self.study, trial, dict(trial.params))
            self.progress.finished(self.trials_csv.add(self.study, trial))
            count += 1
        self.retry_queue.clear()
        return count

    def _drop_checkpoints(self, trial_id: str, config: dict[str, Any]) -> None:
        """A trial with a result (or interrupted: trained again from scratch on resume) needs
        its checkpoints no more, its latest and the one its attempt went on from: a model's
        weights and optimizer state, per trial, would add up."""
        for path in (self.checkpoints.pop(trial_id, None), config.get("resume_from")):
            if path:
                shutil.rmtree(path, ignore_errors=True)

    def _record_outcome(self, trial_id: str, result: dict | None, error: str | None,
                        lost: list[str] | None = None) -> None:
        trial = self.live.pop(trial_id, None)
        config = self.configs.pop(trial_id, {})
        alone = config.get("alone", False)
        self._drop_checkpoints(trial_id, config)
        node = self.nodes.pop(trial_id, None)
        if trial is None:
            return
        curve = self.curves.pop(trial_id, [])
        seconds = self.seconds.pop(trial_id, None)
        self.running_ids.pop(trial.user_attrs.get("config_id", ""), None)
        result = result or {}
        retries = int(trial.user_attrs.get("retries", 0))
        if lost is not None:
            status = "lost"
            spent = (f"its {retries} retr{'y' if retries == 1 else 'ies'} spent" if retries
                     else "no retries")
            reason = (f"{'; then '.join(lost)}: not trained again, {spent} "
                      f"(search.max_retries {self.max_retries})")
        elif error is not None:
            status, reason = "failed", error
        elif result.get("final"):
            status = _TRAIN_STATUS.get(result.get("status", ""), "failed")
            reason = result.get("reason", "")
            curve = list(result.get("accuracy_curve") or curve)
        else:
            status = "stopped_early"
            reason = f"stopped by the scheduler after epoch {result.get('epoch', '?')}"
            # The result the scheduler stopped on comes here, not through on_trial_result: a
            # trial stopped at its first rung would otherwise keep an empty curve.
            if "accuracy" in result and len(curve) < int(result.get("epoch") or 0):
                curve.append(float(result["accuracy"]))
        if not result.get("final") and seconds is not None:
            result = {**result, "seconds": seconds}
        for key in ("accuracy", "latency_ms", "seconds", "images_per_s"):
            value = result.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                trial.set_user_attr(key, float(value))
        trial.set_user_attr("epochs", int(result.get("epoch", len(curve)) or 0))
        trial.set_user_attr("accuracy_curve", curve)
        if result.get("device"):  # what trained it (t2tsearch.trainable.device_label)
            trial.set_user_attr("device", str(result["device"]))
        if result.get("node") or node:
            trial.set_user_attr("node", str(result.get("node") or node))
        if retries and lost is None:
            # What happened on the way: the worker of each earlier attempt died.
            again = f"trained again after: {'; then '.join(trial.user_attrs['lost_reasons'])}"
            if result.get("resumed_from_epoch"):
                again += f" (resumed from epoch {result['resumed_from_epoch']})"
            reason = f"{reason}; {again}" if reason else again
        if alone:
            trial.set_user_attr("retried_alone", True)
            if status == "oom":
                reason = f"{reason} (alone on a whole GPU too, after running out sharing one)"
        if status == "complete":
            values = objective_values(self.space, {**trial.user_attrs})
            if values is None:
                status, reason = "failed", "an objective was not measured"
            else:
                self.done_ids.setdefault(trial_config_id(trial.user_attrs), trial.number)
                self._finish(trial, TrialState.COMPLETE, status=status, reason=reason,
                             values=values)
                return
        # Early-stopped trials are pruned, not complete: they never sit on a front.
        state = TrialState.PRUNED if status == "stopped_early" else TrialState.FAIL
        self._finish(trial, state, status=status, reason=reason)


# ---- progress lines ------------------------------------------------------------------------------
class Progress:
    """One line per finished proposal, with the run's count of trials done out of its budget
    (`done` of them before this session) and an ETA from this session's measured throughput.

    The ETA counts from the first trial's end, not from the session's start: before it lie the
    imports, Ray's start and each slot's worker start, which the rest of the run does not pay
    again, and with `concurrency` slots the first trials end together. So the rate is that of
    the trials ended after the first, shown once a full round of slots has ended since then
    ("ETA estimating" before); from the start it read 2-3x too high."""

    def __init__(self, total: int, echo: Callable[[str], None], done: int = 0,
                 concurrency: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.echo = echo
        self.done = done
        self.concurrency = max(concurrency, 1)
        self.clock = clock
        self.trained = 0
        self.counted = 0  # this session's trials of the budget (results.CONSUMED), reused too
        self.first_end: tuple[float, int] | None = None  # (time, trained) at the first end

    def eta(self, remaining: int) -> str:
        """' | ETA 3m05s', ' | ETA estimating', or '' when nothing remains."""
        if not remaining:
            return ""
        if self.first_end is None:
            return " | ETA estimating"
        since, trained_then = self.first_end
        ended = self.trained - trained_then
        elapsed = self.clock() - since
        if ended < self.concurrency or elapsed <= 0:
            return " | ETA estimating"
        return f" | ETA {_duration(elapsed / ended * remaining)}"

    def finished(self, row: pd.Series) -> None:
        if row["status"] in CONSUMED:
            self.counted += 1
            if pd.isna(row.get("reused_from")):
                self.trained += 1
                if self.first_end is None:
                    self.first_end = (self.clock(), self.trained)
        remaining = max(self.total - self.done - self.counted, 0)
        eta = self.eta(remaining) if self.trained else ""
        accuracy = "" if pd.isna(row.get("accuracy")) else f"acc {row['accuracy']:5.1f}%"
        macs = "" if pd.isna(row.get("macs")) else f"{row['macs'] / 1e6:8.2f} MMACs"
        status = row["status"]
        if status == "complete" and not pd.isna(row.get("reused_from")):
            status = "reused"  # as the run's counts have it (results.status_counts)
        retries = 0 if pd.isna(row.get("retries", 0)) else int(row.get("retries", 0))
        if status == "complete" and retries:
            status = f"complete after {retries} retr{'y' if retries == 1 else 'ies'}"
        if not status.startswith("complete"):
            status = f"{status}: {row['reason']}" if row["reason"] else status
        cfg = ArchConfig.from_json(row["arch"])
        self.echo(f"[{self.done + self.counted:>3}/{self.total}] trial {row['trial']:>3} {cfg.short():<52} "
                  f"{accuracy:>11} {macs:>15} | {status}{eta}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# ---- Ray ------------------------------------------------------------------------------------------
def start_ray(address: str | None, verbose: bool) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local, single-user Ray
    # Tune's own progress tables go unless asked for (ours print one line per trial); the
    # legacy reporter is the one that stays silent at verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": verbose,
                              "logging_level": logging.INFO if verbose else logging.ERROR}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            # Ray's socket paths must stay under 107 bytes: a short temp dir of its own.
            temp_dir = tempfile.mkdtemp(prefix="t2ts-ray-", dir="/tmp")
            # Ray's session logs are only worth keeping when the user asked to see them.
            if not verbose:
                atexit.register(_shutdown_and_remove, temp_dir)
            init_local_ray(temp_dir, num_cpus=os.cpu_count() or 1,
                           object_store_memory=256 * 1024**2, **kwargs)
    except ConnectionError as err:
        raise UserError(f"--address {address}: cannot reach a Ray cluster there ({err})") from None


def _shutdown_and_remove(temp_dir: str) -> None:
    import ray

    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def resources_of(request: TrialRequest, config: Mapping[str, Any]):
    """A trial's Ray resources: its request, or a whole GPU for one trained again alone after it
    ran out of memory sharing one (StudySearcher._retry_alone)."""
    from ray import tune

    gpus = max(request.gpus, 1.0) if config.get("alone") else request.gpus
    bundle = {"CPU": request.cpus, **({"GPU": gpus} if gpus else {})}
    return tune.PlacementGroupFactory([bundle])


def error_text(trial) -> str | None:
    """The text of a Tune trial's error. Tune writes it to the trial's local folder before it
    tells callbacks, and copies it to the run directory (where `trial.get_error()` reads) only
    later: read there, every error read as unknown ("the trial raised an error")."""
    try:
        local = trial.error_file
        if local and os.path.isfile(local):
            with open(local, encoding="utf-8", errors="replace") as file:
                return file.read()
        text = trial.get_error()
    except Exception:  # an error we cannot read is still an error: flush_errors records it
        return None
    return str(text) if text else None


def make_scheduler(space: SearchSpace):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from t2tsearch.pareto_asha import ParetoASHA, RungMetric

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


# ---- the run ----------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    run: RunDir
    table: pd.DataFrame
    front: pd.DataFrame
    note: str = ""
    interrupted: int = 0  # this session's trials cut off by Ctrl-C; `--resume` trains them again
    # Trials of the budget never started because Ctrl-C stopped the run between two trials.
    unstarted: int = 0
    # goal: compare_groups: each group's quota and its distinct full-budget architectures.
    quota: int = 0
    group_counts: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """The run's trials by category (results.status_counts)."""
        return status_counts(self.table)

    @property
    def failed(self) -> int:
        """The run's trials that diverged, ran out of memory, raised or lost their worker on
        every attempt (in any session)."""
        if self.table.empty:
            return 0
        return int(self.table["status"].isin(FAILED).sum())


def run_search(space_path: str | os.PathLike[str] | None, *, out: str = "results",
               name: str | None = None, resume: str | os.PathLike[str] | None = None,
               options: SearchOptions | None = None) -> RunSummary:
    """Run (or resume) a search; returns the run directory, the trials table and the front.
    One process at a time drives a run directory (t2tsearch.results)."""
    locks: list[DriverLock] = []
    try:
        return _run_search(space_path, out, name, resume, options or SearchOptions(), locks)
    except UserError:
        raise
    except Exception as err:
        fault = storage_fault(err)
        if fault is None or not locks:
            raise
        raise storage_error(RunDir(locks[0].path.parent), fault) from None
    finally:
        for lock in locks:
            lock.release()


def resume_evaluator(run: RunDir, asked: str | None) -> str | None:
    """The evaluator a resumed session uses: the run's own. What answered the run's trials
    answers the rest (a run half answered by a table and half trained would compare numbers of
    two kinds); `asked` (a resolved --evaluator, or None) may name the same table at a new place,
    when the recorded file is gone or holds the same bytes, and nothing else."""
    import filecmp

    from t2tsearch.evaluator import evaluator_from_spec

    recorded = run.evaluator()
    if recorded is None or asked == recorded:
        return asked
    table = Path(recorded.removeprefix("table:")) if recorded.startswith("table:") else None
    if asked is None:
        if table is not None and not table.is_file():
            raise UserError(f"--resume {run.path}: the run's table {table} is gone; give its new "
                            f"place with --evaluator table:FILE")
        return evaluator_from_spec(recorded).spec  # loads the table now, before any trial
    if table is not None and asked.startswith("table:") and (
            not table.is_file() or filecmp.cmp(table, asked.removeprefix("table:"),
                                               shallow=False)):
        return asked  # the same table at a new place
    raise UserError(f"--resume {run.path}: --evaluator cannot change on resume; the run goes on "
                    f"with the evaluator it started with ({recorded})")


def _run_search(space_path: str | os.PathLike[str] | None, out: str, name: str | None,
                resume: str | os.PathLike[str] | None, options: SearchOptions,
                locks: list[DriverLock]) -> RunSummary:
    if resume is not None:
        run = open_run(resume)
        locks.append(take_driver_lock(run, options.command))
        source = str(run.space_file)
        space = load_run_space(run.space_file)
        create = False
    else:
        if space_path is None:
            raise UserError("run: give a space file, or --resume RUN_DIR")
        space = load_space(space_path)
        source = str(space_path)
        run = None
        create = True
    overrides = options.search_overrides()
    if run is not None:
        changed = sorted(set(overrides) & {"sampler", "seed", "scheduler"})
        if changed:
            raise UserError(f"--resume {run.path}: --{changed[0]} cannot change on resume; the run "
                            f"goes on with the sampler, seed and scheduler it started with")
    from t2tsearch.evaluator import evaluator_from_spec

    asked = evaluator_from_spec(options.evaluator).spec if options.evaluator else None
    if run is not None:
        asked = resume_evaluator(run, asked)
    options = replace(options, evaluator=asked or "train")
    space = apply_overrides(space, overrides, source)
    if run is not None and overrides:
        run.write_space(space)  # e.g. --trials 40: the next resume sees it
    # A missing or malformed dataset or table is the run's fault, not a trial's: say so first.
    from t2tsearch.data import load_data

    train = space.train
    load_data(train.dataset, train.img_size, train.data_dir, split_seed=train.data_seed,
              train_limit=10, val_limit=10, val_size=train.val_size)
    if run is None:
        run = RunDir.create(out, name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        locks.append(take_driver_lock(run, options.command))
        run.write_meta(run_metadata(options.command, space.search.seed))
        run.write_space(space)
    # The driver only counts costs (small ops) while the trials hold the cores: more than one
    # OpenMP thread here spins against them and made counting ten times slower on 2 cores.
    import torch

    torch.set_num_threads(1)
    # The run's reference point: read back on resume, never recomputed.
    meta = run.read_meta()
    reference = meta.get("reference")
    # Each session's sampler has a seed of its own (the run's in the first): a resumed one
    # proposes new architectures instead of the first session's again.
    number = len(meta.get("sessions") or []) + 1
    sampler_seed = session_seed(space.search.seed, number)
    study = open_study(run, space, create, reference, sampler_seed)
    requeue_interrupted(study)
    TrialsCsv(run).rewrite(study)  # the one full write of a session: its rows may have changed
    # Interrupted trials, re-queued (by Ctrl-C or just now, after a kill): the first proposals.
    requeued = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    consumed = sum(1 for t in study.get_trials(deepcopy=False) if t.user_attrs.get("consumed"))
    if reference is None and consumed and hasattr(study.sampler, "reference"):
        # A run from before references were stored: the report's stand-in, from its trials.
        study.sampler.reference = table_reference(space, trials_table(study))
    budget_left = max(space.search.trials - consumed, 0)
    meta = run.read_meta()
    session = {"start": now_iso(), "command": list(options.command), "budget_left": budget_left,
               "requeued": requeued, "sampler": space.search.sampler, "seed": space.search.seed,
               "sampler_seed": sampler_seed, "evaluator": options.evaluator}
    meta.setdefault("sessions", []).append(session)
    run.write_meta(meta)

    echo = options.echo
    if (note := took_over_note(locks[0])) is not None:
        echo(note)
    goal = ""
    if space.group_quota:
        plan = describe_plan(space.group_quota, space.comparison.scatter,
                             space.comparison.margin)
        goal = f"comparing {len(space.groups)} groups ({plan}), "
    echo(f"run {run.path}: space '{space.name}', {space.search.sampler} sampler, "
         f"{space.search.effective_scheduler} scheduler, {goal}{space.search.trials} trials "
         f"({budget_left} to go{f', first {requeued} interrupted, again' if requeued else ''}), "
         f"{space.train.epochs} epochs each on {space.train.dataset} at {space.train.img_size}px")
    progress = Progress(space.search.trials, echo, done=consumed,
                        concurrency=space.search.concurrency)
    note, interrupted, unstarted = "", 0, 0
    if budget_left > 0:
        try:
            note, interrupted, unstarted = _fit(
                space, study, run, budget_left, progress, options, len(meta["sessions"]),
                choose_reference=reference is None and not consumed, source=source)
        except UserError:
            # A new run that cannot start (no feasible architecture to place its reference)
            # leaves no directory behind: there is nothing in it to resume.
            if create and not study.get_trials(deepcopy=False):
                shutil.rmtree(run.path, ignore_errors=True)
            raise
    table = TrialsCsv(run).catch_up(study)
    meta = run.read_meta()
    meta["sessions"][-1]["end"] = now_iso()
    # How it ended, for the report's partial-run banner: an interrupted session leaves the
    # budget unspent; a finished one may too (the space or grid ran out), and then is no
    # partial run.
    meta["sessions"][-1]["outcome"] = "interrupted" if interrupted or unstarted else "finished"
    meta["sessions"][-1]["counts"] = status_counts(table)
    run.write_meta(meta)
    front = pareto_front(table, objective_specs(space.objectives)) if not table.empty else table
    counts = {}
    if space.group_quota:
        # The count the quota was filled by (t2tsearch.quota): distinct complete architectures.
        tally = tally_groups(study.get_trials(deepcopy=False), list(space.groups),
                             space.group_quota)
        counts = {group: len(ids) for group, ids in tally.complete.items()}
    return RunSummary(run=run, table=table, front=front, note=note, interrupted=interrupted,
                      unstarted=unstarted, quota=space.group_quota, group_counts=counts)


def mark_interrupted(study: optuna.Study, trial: optuna.Trial, params: dict[str, Any]) -> None:
    """A trial cut off before its result (Ctrl-C, or a run killed): `interrupted`, kept in the
    table, counted neither as failed nor against the budget, and its architecture queued so
    that it is the first one trained when the run resumes."""
    reason = "cut off before its result; trained again first on resume"
    if trial.user_attrs.get("awaiting_retry"):
        # Its worker had died and its retry had not started: say what happened first.
        lost = trial.user_attrs.get("lost_reasons") or ["its worker process died"]
        reason = (f"{lost[-1]}, then the run was cut off before its retry; trained again "
                  f"first on resume")
    trial.set_user_attr("status", "interrupted")
    trial.set_user_attr("reason", reason)
    trial.set_user_attr("consumed", False)
    tell(study, trial, TrialState.FAIL)
    if params:
        study.enqueue_trial(params, skip_if_exists=False)


def requeue_interrupted(study: optuna.Study) -> None:
    """Trials left RUNNING by a session that was killed (kill -9, a lost machine): marked
    interrupted and queued again (the search counts every queued trial after). Ctrl-C marks
    its own as it stops."""
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial = live_trial(study, frozen)
        mark_interrupted(study, trial, frozen.params)


def start_reference(space: SearchSpace, sampler: optuna.samplers.BaseSampler,
                    run: RunDir, source: str | None = None) -> dict[str, float]:
    """The run's hypervolume reference, chosen as it starts (t2tsearch.results.reference.run_reference):
    costs at their constraints, else from the first pool, the cost-aware sampler's own or, for
    other samplers, one drawn and counted the same way from the run's seed. `source` names the
    space in an error (default: the run's space.yaml)."""
    if not needs_pool(space):
        return run_reference(space)
    own = getattr(sampler, "reference", None)
    if own is not None:
        return dict(own)
    pool = reference_pool(space, space.search.seed,
                          lambda cfg: count_cost(cfg, run.cost_cache),
                          lambda cfg, cost: check_candidate(cfg, space, cost))
    if not pool:
        raise UserError(f"{source or run.space_file}: parameters: no feasible architecture among "
                        f"{MOST_POOL_DRAWS} random draws (t2tsearch validate says why)")
    return run_reference(space, pool)


def _fit(space: SearchSpace, study: optuna.Study, run: RunDir, budget_left: int,
         progress: Progress, options: SearchOptions, session: int,
         choose_reference: bool = False, source: str | None = None) -> tuple[str, int, int]:
    """Run Ray Tune until the searcher's budget is spent; (note, trials cut off by Ctrl-C,
    trials of the budget not started because Ctrl-C came between two trials). With
    `choose_reference`, the run's reference point is chosen and stored in run.json first
    (`source` names the space if that fails)."""
    from ray import tune

    # Ray's start is mostly waiting on the processes it spawns: the cost-aware sampler counts
    # the costs of its first pool meanwhile (and the reference is placed), instead of before
    # the first trial can start.
    warm = getattr(study.sampler, "warm", None)
    prepared: dict[str, dict[str, float]] = {}
    failed: list[BaseException] = []

    def prepare() -> None:
        # Its error is raised again in the main thread, after join: left to escape here, the
        # thread's excepthook would print a traceback before the one-line user error.
        try:
            if warm is not None:
                warm()
            if choose_reference:
                prepared["reference"] = start_reference(space, study.sampler, run, source)
        except BaseException as err:  # raised again below
            failed.append(err)

    warming = threading.Thread(target=prepare, name="warm-sampler", daemon=True)
    warming.start()
    try:
        start_ray(options.address, options.verbose)
    finally:
        warming.join()
    if failed:
        raise failed[0]
    # Before anything is recorded: a request no node can hold would leave Tune waiting for ever.
    request = TrialRequest(space.search.cpus_per_trial, space.search.gpus_per_trial)
    check_cluster(request, progress.echo)
    if choose_reference:
        reference = prepared["reference"]
        meta = run.read_meta()
        meta["reference"] = reference
        run.write_meta(meta)
        if hasattr(study.sampler, "reference"):
            study.sampler.reference = reference
    searcher = StudySearcher(space, study, run, budget_left, progress, options.evaluator)

    class TrialEvents(tune.Callback):
        """Hands the searcher what Tune tells callbacks alone: a failed trial's error text (the
        searcher gets only its id) and each checkpoint a trial saves."""

        def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
            searcher.trial_errored(trial.trial_id, error_text(trial))

        def on_checkpoint(self, iteration: int, trials: list, trial, checkpoint, **info) -> None:
            searcher.guarded(searcher.checkpointed, trial.trial_id, str(checkpoint.path))

    class StopOnStorageFault(tune.Stopper):
        """Stops every trial once the run directory stopped taking writes."""

        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return searcher.storage_fault is not None

    settings = space.search
    tuner = tune.Tuner(
        tune.with_resources(proxy_trainable, lambda config: resources_of(request, config)),
        tune_config=tune.TuneConfig(
            search_alg=searcher.ray_searcher,
            scheduler=make_scheduler(space),
            num_samples=-1,  # the searcher says when the budget is spent
            max_concurrent_trials=settings.concurrency,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"session-{session}",
            storage_path=str(run.ray_dir.resolve()),
            verbose=2 if options.verbose else 0,
            # The searcher retries a trial whose worker died (search.max_retries), as a new Tune
            # trial of the same Optuna trial: Tune's own retries would retry exceptions too.
            failure_config=tune.FailureConfig(max_failures=0),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[TrialEvents(), waiting_notice(request, progress.echo)],
            stop=StopOnStorageFault(),
        ),
    )
    if not options.verbose:
        # Tune logs a traceback each time it cannot save its state to a full or read-only run
        # directory; the run stops with one line saying so instead (below).
        logging.getLogger("ray.tune.execution.experiment_state").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        if not options.verbose:
            warnings.simplefilter("ignore")
        try:
            tuner.fit()
        except Exception as err:
            fault = searcher.storage_fault or storage_fault(err)
            if fault is None:
                raise
            raise storage_error(run, fault) from None
    # The searcher only says FINISHED with its budget spent or on giving up, and Tune then
    # waits for the trials in flight, so budget left, or a trial still in flight whose end
    # never came, means Tune was stopped (Ctrl-C), though perhaps with no trial in flight.
    in_flight = len(searcher.live) > len(searcher.errored)
    stopped = not searcher.gave_up and (searcher.budget_left > 0 or in_flight)
    searcher.guarded(searcher.flush_errors, stopped)
    # On Ctrl-C Tune stops gracefully without completing the trials in flight: they are
    # recorded as interrupted, and the next --resume trains them again first.
    interrupted = searcher.guarded(searcher.interrupt_live, fallback=0)
    if searcher.storage_fault is not None:
        raise storage_error(run, searcher.storage_fault)
    unstarted = searcher.budget_left if stopped else 0
    note = "\n".join([*searcher.notes, *([searcher.gave_up] if searcher.gave_up else [])])
    return note, interrupted, unstarted
