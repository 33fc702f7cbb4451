"""A run's confirmations, read: their records, and the trials table with seeds averaged.

What `t2tsearch confirm` (confirm.py, the engine side: training on Ray) recorded, read with Optuna
and pandas alone, so that the report and the fidelity never load the engine.
"""

from __future__ import annotations

from typing import Any

import optuna
import pandas as pd

from t2tsearch.arch import trial_config_id
from t2tsearch.results import RunDir, trials_table
from t2tsearch.space.load import load_run_space
from t2tsearch.space.schema import SearchSpace

CONFIRM_STUDY = "t2tsearch-confirm"
# accuracy: on the validation set, as the search measured; test_accuracy: on the dataset's own
# test set, which the search never saw (None without one, and in records made before).
CONFIRM_COLUMNS = ["config_id", "seed", "split_seed", "epochs", "role", "status", "accuracy",
                   "test_accuracy", "seconds", "reason"]


def load_confirmations(run: RunDir, run_epochs: int | None = None) -> pd.DataFrame:
    """One row per recorded (config_id, seed, epochs) training; empty when confirm never ran.

    `epochs` is the budget the training ran for; records written before budgets were recorded
    ran at the run's own, `run_epochs` (read from the run's space when None). `split_seed` is
    the train/validation split it was measured on; records written before the split was pinned
    to the search's drew it from their own seed.
    """
    try:
        study = optuna.load_study(study_name=CONFIRM_STUDY, storage=run.storage_url)
    except KeyError:  # Optuna's answer for a study name the storage does not hold
        return pd.DataFrame(columns=CONFIRM_COLUMNS)
    trials = study.get_trials(deepcopy=False)
    if run_epochs is None and any("epochs_budget" not in t.user_attrs for t in trials):
        run_epochs = load_run_space(run.space_file).train.epochs
    rows = [{"config_id": trial_config_id(t.user_attrs),
             "seed": t.user_attrs.get("seed"),
             "split_seed": _split_of(t.user_attrs),
             "epochs": int(t.user_attrs.get("epochs_budget", run_epochs)),
             "role": t.user_attrs.get("role", "front"),
             "status": t.user_attrs.get("status", "failed"),
             "accuracy": t.value if t.state == optuna.trial.TrialState.COMPLETE else None,
             "test_accuracy": (t.user_attrs.get("test_accuracy")
                               if t.state == optuna.trial.TrialState.COMPLETE else None),
             "seconds": t.user_attrs.get("seconds"), "reason": t.user_attrs.get("reason", "")}
            for t in trials]
    return pd.DataFrame(rows, columns=CONFIRM_COLUMNS)


def _split_of(attrs: dict[str, Any]) -> Any:
    split = attrs.get("split_seed")
    return attrs.get("seed") if split is None else split


def search_split_confirmations(run: RunDir, space: SearchSpace) -> pd.DataFrame:
    """The confirmations measured on the search's own split (`space.train.data_seed`), at every
    budget. Others (recorded before the split was pinned: seed s on split s) are not comparable
    with the search's results; leaving them out here makes `run_confirm` train them again."""
    confirmations = load_confirmations(run, space.train.epochs)
    return confirmations[confirmations["split_seed"] == space.train.data_seed]


def test_accuracies(confirmations: pd.DataFrame) -> pd.DataFrame:
    """Per (config_id, epochs) of complete confirmations that measured the test set: role,
    seeds, and the mean validation and test accuracies over those seeds, sorted by budget and
    then by test accuracy, best first. Empty when none measured it (no test set: mnist5k)."""
    columns = ["config_id", "epochs", "role", "seeds", "val_accuracy", "test_accuracy"]
    done = confirmations[(confirmations["status"] == "complete")
                         & confirmations["test_accuracy"].notna()]
    if done.empty:
        return pd.DataFrame(columns=columns)
    done = done.assign(accuracy=done["accuracy"].astype(float),
                       test_accuracy=done["test_accuracy"].astype(float))
    grouped = done.groupby(["config_id", "epochs"])
    # An architecture on the front and among the controls at one budget is on the front.
    summary = pd.DataFrame({
        "role": grouped["role"].agg(lambda roles: "front" if "front" in set(roles) else "control"),
        "seeds": grouped.size(), "val_accuracy": grouped["accuracy"].mean(),
        "test_accuracy": grouped["test_accuracy"].mean()}).reset_index()
    return summary.sort_values(["epochs", "test_accuracy"], ascending=[True, False],
                               ignore_index=True)[columns]


def seed_runs(table: pd.DataFrame, confirmations: pd.DataFrame, base_seed: int) -> pd.DataFrame:
    """Every full-budget run (config_id, seed, accuracy) of the architectures with confirmations.

    The search's own full-budget result counts as the `base_seed` run of each architecture.
    """
    search = table[table["status"] == "complete"].drop_duplicates("config_id")
    search = search[["config_id", "accuracy"]].dropna().assign(seed=base_seed)
    extra = confirmations[confirmations["status"] == "complete"][["config_id", "seed", "accuracy"]]
    extra = extra[extra["config_id"].isin(search["config_id"])]
    runs = pd.concat([search, extra]).drop_duplicates(["config_id", "seed"], keep="last")
    return runs[runs["config_id"].isin(extra["config_id"])]


def seed_summary(table: pd.DataFrame, confirmations: pd.DataFrame, base_seed: int) -> pd.DataFrame:
    """Per architecture with confirmations: seeds, mean, sample standard deviation, min, max."""
    runs = seed_runs(table, confirmations, base_seed)
    if runs.empty:
        return pd.DataFrame(columns=["config_id", "seeds", "mean", "std", "min", "max"])
    runs = runs.assign(accuracy=runs["accuracy"].astype(float))
    grouped = runs.groupby("config_id")["accuracy"]
    return pd.DataFrame({"seeds": grouped.size(), "mean": grouped.mean(),
                         "std": grouped.std(ddof=1).fillna(0.0), "min": grouped.min(),
                         "max": grouped.max()}).reset_index()


def apply_confirmation(table: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The table with each confirmed architecture's accuracy replaced by its mean over seeds.

    Adds `accuracy_single` (the search's own value), `accuracy_std`, `accuracy_min`,
    `accuracy_max` and `seeds` (1 where nothing was confirmed).
    """
    out = table.copy()
    out["accuracy_single"] = out["accuracy"]
    out["seeds"] = 1
    for column in ("accuracy_std", "accuracy_min", "accuracy_max"):
        out[column] = float("nan")
    if summary.empty:
        return out
    by_id = summary.set_index("config_id")
    confirmed = (out["status"] == "complete") & out["config_id"].isin(by_id.index)
    ids = out.loc[confirmed, "config_id"]
    out.loc[confirmed, "accuracy"] = ids.map(by_id["mean"]).to_numpy()
    out.loc[confirmed, "seeds"] = ids.map(by_id["seeds"]).to_numpy()
    for column, source in (("accuracy_std", "std"), ("accuracy_min", "min"),
                           ("accuracy_max", "max")):
        out.loc[confirmed, column] = ids.map(by_id[source]).to_numpy()
    return out


def same_budget_confirmations(run: RunDir, space: SearchSpace) -> pd.DataFrame:
    """The confirmations at the run's own budget (more seeds); trainings at longer budgets are
    the fidelity's (t2tsearch.fidelity), never averaged with the search's results."""
    confirmations = search_split_confirmations(run, space)
    return confirmations[confirmations["epochs"] == space.train.epochs]


def confirmed_table(run: RunDir, space: SearchSpace, table: pd.DataFrame | None = None
                    ) -> pd.DataFrame:
    """The run's trials table with the confirmations at its own budget applied (the table the
    report draws)."""
    table = trials_table(run.load_study()) if table is None else table
    summary = seed_summary(table, same_budget_confirmations(run, space), space.train.seed)
    return apply_confirmation(table, summary)
