"""A run directory opened and checked, and a run read once: its space, run.json, study, trials
table, confirmations (read once, every view of them derived), front, reference point and whether
it is finished. The report, `export`, `confirm`, the fidelity and the CLI read a run through here.
"""

from __future__ import annotations

import os
import platform
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from t2tsearch.pareto import ObjectiveSpec, full_budget, objective_specs, pareto_front
from t2tsearch.results.directory import (
    STUDY_NAME,
    RunDamagedError,
    RunDir,
    RunError,
    holder_alive,
    read_holder,
    read_run_json,
    space_digest,
)
from t2tsearch.results.reference import read_reference
from t2tsearch.results.tables import (
    CONSUMED,
    check_trials_csv,
    search_split_confirmations,
    seed_runs,
    seeds_averaged,
    test_accuracies,
    trials_table,
    with_params,
)
from t2tsearch.space.errors import SpaceError
from t2tsearch.space.load import load_run_space
from t2tsearch.space.schema import SearchSpace

SQLITE_HEADER = b"SQLite format 3\x00"


class NoResultError(RunError):
    """A run with no finished full-budget trial yet: nothing to report or export."""


# ---- opening a run directory ----------------------------------------------------------------------
def open_run(path: str | os.PathLike[str]) -> RunDir:
    """The run directory at `path`, its files checked before anything reads or writes them:
    RunError when it is none, RunDamagedError naming the first damaged file and what to do."""
    run = RunDir(Path(path))
    if not run.path.is_dir():
        raise RunError(f"{run.path}: no such run directory")
    for needed in (run.space_file, run.study_db):
        if not needed.is_file():
            raise RunError(f"{run.path}: not a t2tsearch run ({needed.name} is missing)")
    check_run_files(run)
    return run


def check_run_files(run: RunDir) -> None:
    """Every file of the run that a command reads, checked: study.db, run.json, space.yaml and
    trials.csv (whose last row may be in the middle of its append while a driver is live)."""
    check_study_db(run)
    meta = read_run_json(run)
    check_space_yaml(run, meta)
    holder = read_holder(run)
    # A driver elsewhere cannot be checked from here: taken as live.
    live = holder_alive(holder) or bool(holder) and holder.get("host") != platform.node()
    check_trials_csv(run, live=live)


def check_study_db(run: RunDir) -> None:
    """study.db is an SQLite database, intact, holding the run's Optuna study."""
    path = run.study_db
    advice = ("restore it from a backup; trials.csv holds a copy of the trials table, but the "
              "run cannot go on without its study")
    with open(path, "rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        what = "empty" if not header else "not an SQLite database"
        raise RunDamagedError(f"{path}: damaged ({what}); {advice}")
    try:
        # mode=rw never creates; a hot journal left by a killed driver is rolled back, as
        # Optuna's own open would.
        connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                # SQLite's report spans lines; its first finding, on one, says enough.
                lines = [line for text in problems for line in text.splitlines()
                         if line.strip() and not line.startswith("***")]
                raise RunDamagedError(f"{path}: damaged ({(lines or ['malformed'])[0]}); {advice}")
            found = connection.execute(
                "SELECT 1 FROM studies WHERE study_name = ?", (STUDY_NAME,)).fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as err:
        raise RunDamagedError(f"{path}: damaged ({err}); {advice}") from None
    if found is None:
        raise RunDamagedError(f"{path}: holds no study named '{STUDY_NAME}'; {advice}")


def check_space_yaml(run: RunDir, meta: dict[str, Any]) -> None:
    """space.yaml reads as a space and, where run.json recorded its digest, is what the run wrote."""
    path = run.space_file
    command = meta.get("command")
    origin = f" (the run started with `{' '.join(command)}`)" if command else ""
    advice = f"restore the run's space from a backup or from the space file it started from{origin}"
    recorded = meta.get("space_sha256")
    if recorded:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise RunDamagedError(f"{path}: cannot be read ({err}); {advice}") from None
        if space_digest(text) != recorded:
            raise RunDamagedError(f"{path}: damaged (not the file the run wrote: run.json's "
                                  f"space_sha256 differs; truncated or edited by hand); {advice}")
    try:
        load_run_space(path)
    except SpaceError as err:
        raise RunDamagedError(f"{err} (damaged?); {advice}") from None


def load_trials(run_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The trials table of a run directory, rebuilt from its Optuna study (the source of truth).

    Args:
        run_path: a run directory, `results/NAME`.

    Returns:
        One row per trial with its number, status, accuracy, params and MACs, epochs reached,
        and every `ArchConfig` field as a column. Reading it needs neither torch nor Ray.

    Raises:
        RunError: the folder is not a run, or its files are damaged (one line saying which).
    """
    return trials_table(open_run(run_path).load_study())


# ---- a run read once ------------------------------------------------------------------------------
@dataclass
class Run:
    """A run as its readers see it, each file read once. `table` is the trials table with the
    confirmations at the run's own budget averaged in and a `param:NAME` column per searched
    parameter; `search_table` is as the search recorded it, one seed per architecture."""

    run: RunDir
    space: SearchSpace
    meta: dict[str, Any]
    study: optuna.Study
    search_table: pd.DataFrame
    # The confirmations measured on the search's own split, at every budget (read once).
    confirmations: pd.DataFrame
    table: pd.DataFrame
    params: list[str]
    specs: list[ObjectiveSpec]
    front: pd.DataFrame
    partial: str  # why the run is not finished; empty when it is
    unconfirmed: int = 0  # front architectures with one seed while others have more
    confirm_seeds: int = 1
    name: str = field(default="")

    @property
    def same_budget(self) -> pd.DataFrame:
        """The confirmations at the run's own budget (more seeds); longer budgets are the
        fidelity's, never averaged with the search's results."""
        return self.confirmations[self.confirmations["epochs"] == self.space.train.epochs]

    @property
    def seed_runs(self) -> pd.DataFrame:
        """Every full-budget run (config_id, seed, accuracy) of the confirmed architectures."""
        return seed_runs(self.search_table, self.same_budget, self.space.train.seed)

    @property
    def test_results(self) -> pd.DataFrame:
        """Confirmations that measured the dataset's test set (tables.test_accuracies)."""
        return test_accuracies(self.confirmations)

    @cached_property
    def _reference(self) -> tuple[dict[str, float], str]:
        return read_reference(self.meta, self.space, self.search_table, self.specs)

    @property
    def reference(self) -> dict[str, float]:
        """The run's hypervolume reference point (run.json's; t2tsearch.results.reference)."""
        return self._reference[0]

    @property
    def reference_note(self) -> str:
        """Where the reference point comes from, in a sentence without its numbers."""
        return self._reference[1]


def read_run(run_path: str | os.PathLike[str]) -> Run:
    """The run at `run_path`, read once; NoResultError when no full-budget trial finished."""
    run = open_run(run_path)
    space = load_run_space(run.space_file)
    study = run.load_study()
    search_table = trials_table(study)
    specs = objective_specs(space.objectives)
    if search_table.empty or full_budget(search_table, specs).empty:
        proposed = len(search_table)
        raise NoResultError(f"{run.path}: no finished full-budget trial yet ({proposed} "
                            f"proposal{'s' if proposed != 1 else ''} so far): nothing to report")
    confirmations = search_split_confirmations(run, space)
    same_budget = confirmations[confirmations["epochs"] == space.train.epochs]
    table, params = with_params(seeds_averaged(search_table, same_budget, space.train.seed), study)
    front = pareto_front(table, specs)
    seeds = front["seeds"].astype(int)
    meta = read_run_json(run)
    return Run(run=run, space=space, meta=meta, study=study, search_table=search_table,
               confirmations=confirmations, table=table, params=params, specs=specs, front=front,
               partial=partial_reason(search_table, space, meta),
               unconfirmed=int((seeds == 1).sum()) if (seeds > 1).any() else 0,
               confirm_seeds=int(seeds.max()), name=run.path.resolve().name)


def partial_reason(table: pd.DataFrame, space: SearchSpace, meta: dict[str, Any]) -> str:
    """Why a run is still in progress or was cut short; empty for a finished run."""
    running = int((table["status"] == "running").sum())
    if running:
        return (f"{running} trial{'s' if running != 1 else ''} still running (or the run was "
                f"killed: resume it with t2tsearch run --resume)")
    sessions = meta.get("sessions") or []
    consumed = int(table["status"].isin(CONSUMED).sum())
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
