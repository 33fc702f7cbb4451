"""What the study says of the searched parameters: their importance for each objective."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import optuna

from t2tsearch.arch import trial_config_id
from t2tsearch.pareto import ObjectiveSpec

MIN_IMPORTANCE_TRIALS = 4


@dataclass
class Importances:
    values: dict[str, dict[str, float]]  # objective -> parameter -> importance
    notes: list[str]
    evaluator: str = ""  # the Optuna evaluator's class name


def param_importances(study: optuna.Study, specs: Sequence[ObjectiveSpec],
                      evaluator: optuna.importance.BaseImportanceEvaluator | None = None
                      ) -> Importances:
    """Optuna's importance of each searched parameter for each objective.

    Uses complete trials, one per architecture (reused results would count twice), and only
    parameters every such trial has and that took more than one value; the rest are noted.
    """
    trials, seen = [], set()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        config_id = trial_config_id(trial.user_attrs)
        if trial.user_attrs.get("status") == "complete" and config_id not in seen:
            seen.add(config_id)
            trials.append(trial)
    # Optuna 5's default, named here so the page can say which evaluator it was.
    evaluator = evaluator or optuna.importance.PedAnovaImportanceEvaluator()
    notes: list[str] = []
    if len(trials) < MIN_IMPORTANCE_TRIALS:
        notes.append(f"Parameter importance needs at least {MIN_IMPORTANCE_TRIALS} full-budget "
                     f"architectures; this run has {len(trials)}.")
        return Importances({}, notes)
    names = sorted({name for t in trials for name in t.params})
    conditional = [n for n in names if any(n not in t.params for t in trials)]
    constant = [n for n in names if n not in conditional
                and len({repr(t.params[n]) for t in trials}) == 1]
    usable = [n for n in names if n not in conditional and n not in constant]
    if conditional:
        notes.append("Left out of importance, as only some trials have them (conditional): "
                     + ", ".join(conditional) + ".")
    if constant:
        notes.append("Left out of importance, as every full-budget trial has the same value: "
                     + ", ".join(constant) + ".")
    if not usable:
        notes.append("No parameter varies across the full-budget trials: no importance to show.")
        return Importances({}, notes)
    # A private in-memory copy: one trial per architecture, same distributions.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(trials)
    values = {}
    for index, spec in enumerate(specs):
        # Some evaluators rank for low values: turn maximised objectives into losses.
        sign = -1.0 if spec.maximize else 1.0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values[spec.column] = dict(optuna.importance.get_param_importances(
                    copy, evaluator=evaluator, params=usable,
                    target=lambda t, i=index, s=sign: s * t.values[i]))
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            notes.append(f"Importance for {spec.column} could not be computed: {err}")
    return Importances(values, notes, type(evaluator).__name__)
