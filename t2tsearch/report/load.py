"""A run loaded once for its report: the tables, the front, the reference point, whether it is
finished, and its groups compared."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd

from t2tsearch.confirmations import (
    confirmed_table,
    same_budget_confirmations,
    search_split_confirmations,
    seed_runs,
    test_accuracies,
)
from t2tsearch.errors import UserError
from t2tsearch.groups import PLANE, GroupComparison, Scale, compare_groups, group_members
from t2tsearch.pareto import table_reference, with_measured
from t2tsearch.report.figures import TRAINED
from t2tsearch.report.importance import with_params
from t2tsearch.report.text import describe_reference
from t2tsearch.results import (
    ObjectiveSpec,
    RunDir,
    full_budget,
    objective_specs,
    pareto_front,
    trials_table,
)
from t2tsearch.space.load import load_run_space
from t2tsearch.space.schema import SearchSpace


class ReportError(UserError):
    """A run that cannot be reported (nothing finished, groups matching nothing)."""


@dataclass
class RunData:
    run: RunDir
    space: SearchSpace
    meta: dict[str, Any]
    study: optuna.Study
    search_table: pd.DataFrame  # as the search recorded it, one seed per architecture
    table: pd.DataFrame  # confirmations applied, searched parameters added
    params: list[str]
    specs: list[ObjectiveSpec]
    front: pd.DataFrame
    partial: str  # why the run is not finished; empty when it is
    unconfirmed: int = 0  # front architectures with one seed while others have more
    confirm_seeds: int = 1
    name: str = field(default="")
    # The run's hypervolume reference point (run.json) and where it comes from, in words.
    reference: dict[str, float] = field(default_factory=dict)
    reference_note: str = ""
    # Confirmations that measured the dataset's test set (confirmations.test_accuracies).
    test_results: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_run(run_path: str | os.PathLike[str]) -> RunData:
    """Everything a report needs from a run directory; raises ReportError if nothing finished."""
    run = RunDir.open(run_path)
    space = load_run_space(run.space_file)
    study = run.load_study()
    search_table = trials_table(study)
    specs = objective_specs(space.objectives)
    if search_table.empty or full_budget(search_table, specs).empty:
        proposed = len(search_table)
        raise ReportError(f"{run.path}: no finished full-budget trial yet ({proposed} "
                          f"proposal{'s' if proposed != 1 else ''} so far): nothing to report")
    table, params = with_params(confirmed_table(run, space, search_table), study)
    front = pareto_front(table, specs)
    seeds = front["seeds"].astype(int)
    unconfirmed = int((seeds == 1).sum()) if (seeds > 1).any() else 0
    meta = run.read_meta()
    reference, note = run_reference(meta, space, search_table, specs)
    return RunData(run=run, space=space, meta=meta, study=study,
                   search_table=search_table, table=table, params=params, specs=specs,
                   front=front, partial=partial_reason(search_table, space, meta),
                   unconfirmed=unconfirmed, confirm_seeds=int(seeds.max()),
                   name=run.path.resolve().name, reference=reference, reference_note=note,
                   test_results=test_accuracies(search_split_confirmations(run, space)))


def run_reference(meta: Mapping[str, Any], space: SearchSpace, table: pd.DataFrame,
                  specs: Sequence[ObjectiveSpec]) -> tuple[dict[str, float], str]:
    """The run's reference point for its objectives and the accuracy-MACs plane, and a sentence
    saying where it comes from: run.json's, chosen when the run started (t2tsearch.pareto);
    for a run that stored none, the same rule with its trained trials as the first pool."""
    planes = [*specs, *(s for s in PLANE if s not in specs)]
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
    return reference, f"{note}: {describe_reference(reference, planes)}."


def partial_reason(table: pd.DataFrame, space: SearchSpace, meta: Mapping[str, Any]) -> str:
    """Why a run is still in progress or was cut short; empty for a finished run."""
    running = int((table["status"] == "running").sum())
    if running:
        return (f"{running} trial{'s' if running != 1 else ''} still running (or the run was "
                f"killed: resume it with t2tsearch run --resume)")
    sessions = meta.get("sessions") or []
    consumed = int(table["status"].isin(TRAINED).sum())
    if consumed >= space.search.trials or not sessions:
        return ""
    if "end" not in sessions[-1]:
        return (f"{consumed} of {space.search.trials} trials done and the last session has not "
                f"ended (still running, or killed: resume it with t2tsearch run --resume)")
    # Runs from before sessions recorded their outcome: as they always were, finished.
    if sessions[-1].get("outcome") == "interrupted":
        return (f"{consumed} of {space.search.trials} trials done: the last session was "
                f"interrupted (resume it with t2tsearch run --resume)")
    return ""


def run_scale(data: RunData) -> Scale:
    train = data.space.train
    return Scale(dataset=train.dataset, img_size=train.img_size, epochs=train.epochs,
                 seeds=data.confirm_seeds, train_images=train.train_subset)


def group_comparison(data: RunData, bootstrap: int = 1000) -> GroupComparison | None:
    """The space's groups compared; None without groups. Raises if no trial is in any group."""
    names = list(data.space.groups)
    if not names:
        return None
    table = data.table
    if not any(len(group_members(table, name)) for name in names):
        raise ReportError(f"{data.run.path}: none of its {len(table)} trials belongs to any of "
                          f"the space's groups ({', '.join(names)}); check their conditions in "
                          f"{data.run.space_file}")
    # Confirmed architectures bring every seed's run, which the interval resamples too.
    runs = seed_runs(data.search_table, same_budget_confirmations(data.run, data.space),
                     data.space.train.seed)
    return compare_groups(table, names, run_scale(data), bootstrap=bootstrap,
                          seed=data.space.search.seed, reference=data.reference,
                          seed_runs=runs, margin=data.space.comparison.margin)
