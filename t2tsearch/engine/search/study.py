"""The run's Optuna study: opened with the session's sampler, told each outcome, and its trials
cut off before their result marked interrupted and queued to train again first."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

from t2tsearch.engine.search.options import make_sampler
from t2tsearch.pareto import objective_specs
from t2tsearch.private_apis import live_trial
from t2tsearch.results.directory import STUDY_NAME, RunDir
from t2tsearch.space.schema import SearchSpace

TrialState = optuna.trial.TrialState


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
