"""A run's tables, read from its studies: the trials table (one row per proposal, every
ArchConfig field a column), the statuses and their counts, trials.csv kept current row by row, and
the confirmations `t2tsearch confirm` recorded (seeds averaged into the trials table).

Read with Optuna and pandas alone: what confirm.py (the engine: training on Ray) recorded is read
here, so that the report and the fidelity never load the engine.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pandas as pd

from t2tsearch.arch import ArchConfig, trial_config_id
from t2tsearch.atomic import atomic_write
from t2tsearch.private_apis import stored_trial
from t2tsearch.results.directory import RunDamagedError, RunDir
from t2tsearch.space.load import load_run_space

if TYPE_CHECKING:
    from t2tsearch.space.schema import SearchSpace

# Status of a trial in the table. Only `complete` rows are full-budget results.
STATUSES = ("complete", "stopped_early", "infeasible", "invalid", "duplicate", "quota",
            "interrupted", "diverged", "oom", "failed", "lost", "running")
# Proposals rejected before training (REJECTED, from t2tsearch.pareto) cost no time or budget.
# Trainings that went wrong: the exit status counts them (64 + N). `lost`: the trial's worker
# process died (a signal, the OOM killer, its node lost) on every attempt, search.max_retries
# retries included; until then it is trained again and stays `running`.
FAILED = ("diverged", "oom", "failed", "lost")
# Trials that used one trial of the budget: a reused result (`complete` with `reused_from`) and
# an architecture the trainer found `invalid` too. An `interrupted` one did not: it is trained
# again, as a new trial, when the run resumes.
CONSUMED = ("complete", "stopped_early", "invalid", *FAILED)
# The categories a run's trials are counted in, in the order every count is shown (progress
# line, the run's summary, the report): each status, with `reused` (a `complete` row with
# `reused_from`) apart from `complete` and diverged, oom and failed together as `failed`.
COUNTED = ("complete", "reused", "stopped_early", "infeasible", "invalid", "duplicate", "quota",
           "interrupted", "running", "failed")

# Columns every table has, in this order; ArchConfig fields follow, then the rest.
LEADING_COLUMNS = [
    "trial", "config_id", "status", "reason", "accuracy", "macs", "params", "latency_ms",
    "epochs", "max_epochs", "seconds", "images_per_s", "reused_from", "groups", "arch",
]


# ---- the trials table -----------------------------------------------------------------------
def arch_columns(cfg: ArchConfig) -> dict[str, Any]:
    """Every ArchConfig field as a flat column (img_size, t2t.mixer, t2t.soft_splits.0.kernel,
    backbone.depth, ...) plus the derived ones conditions use (t2t.depth, num_tokens, ...)."""
    from t2tsearch.conditions import config_fields

    return config_fields(cfg)


def trial_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """One table row from an Optuna trial's user attributes; None for a trial never proposed."""
    attrs = trial.user_attrs
    if "arch" not in attrs:
        return None
    cfg = ArchConfig.from_json(attrs["arch"])
    status = attrs.get("status")
    if status is None:
        status = "running" if trial.state == optuna.trial.TrialState.RUNNING else "failed"
    row: dict[str, Any] = {
        "trial": trial.number,
        "config_id": cfg.id,
        "status": status,
        "reason": attrs.get("reason", ""),
        "accuracy": attrs.get("accuracy"),
        "macs": attrs.get("macs"),
        "params": attrs.get("params"),
        "latency_ms": attrs.get("latency_ms"),
        "epochs": attrs.get("epochs", 0),
        "max_epochs": attrs.get("max_epochs"),
        "seconds": attrs.get("seconds"),
        "images_per_s": attrs.get("images_per_s"),
        "reused_from": attrs.get("reused_from"),
        "groups": ",".join(attrs.get("groups", [])),
        "arch": attrs["arch"],
        "accuracy_curve": json.dumps(attrs.get("accuracy_curve", [])),
        # What trained it: "cpu", "cuda:0 (NVIDIA H200, Ray GPU 3)"; none for a table's answer.
        "device": attrs.get("device"),
        # The Ray node that trained it (its id), and how often it was trained again after its
        # worker process died (search.max_retries).
        "node": attrs.get("node"),
        "retries": attrs.get("retries", 0),
        "started": trial.datetime_start.isoformat() if trial.datetime_start else None,
        "finished": trial.datetime_complete.isoformat() if trial.datetime_complete else None,
    }
    row.update(arch_columns(cfg))
    return row


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """The flat table: one row per proposed trial, architecture fields, cost, metrics, status."""
    rows = [row for trial in study.get_trials(deepcopy=False) if (row := trial_row(trial))]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=LEADING_COLUMNS)
    rest = [c for c in frame.columns if c not in LEADING_COLUMNS]
    return frame[LEADING_COLUMNS + rest]


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    """Trials per category of COUNTED, in its order, those with none left out: the one count of
    a run's trials (a table from `trials_table` or read back from trials.csv)."""
    if table.empty:
        return {}
    status = table["status"].astype(str)
    reused = table["reused_from"].notna() if "reused_from" in table else False
    category = status.where(~status.isin(FAILED), "failed").where(
        ~((status == "complete") & reused), "reused")
    counts = category.value_counts()
    return {name: int(counts[name]) for name in COUNTED if counts.get(name, 0)}


def describe_counts(counts: dict[str, int], table: pd.DataFrame | None = None) -> str:
    """'38 complete, 2 reused, 2 interrupted, 1 failed (1 diverged)': `status_counts` in words;
    with the table, the failed ones broken down by status."""
    parts = []
    for name, count in counts.items():
        part = f"{count} {name.replace('_', ' ')}"
        if name == "failed" and table is not None:
            detail = table.loc[table["status"].isin(FAILED), "status"].value_counts()
            labels = {"diverged": "diverged", "oom": "out of memory", "failed": "raised",
                      "lost": "lost their worker"}
            part += " (" + ", ".join(f"{detail[s]} {labels[s]}" for s in FAILED
                                     if detail.get(s, 0)) + ")"
        parts.append(part)
    return ", ".join(parts) or "none"


# Searched Optuna parameters added to the table, e.g. param:backbone.head_dim.
PARAM_PREFIX = "param:"


def with_params(table: pd.DataFrame, study: optuna.Study) -> tuple[pd.DataFrame, list[str]]:
    """The table with a `param:NAME` column per searched parameter (NaN where a conditional
    parameter was not drawn), and the parameter names in the study's order."""
    params_by_trial = {t.number: t.params for t in study.get_trials(deepcopy=False)}
    names: list[str] = []
    for params in params_by_trial.values():
        names.extend(name for name in params if name not in names)
    out = table.copy()
    for name in names:
        out[PARAM_PREFIX + name] = [params_by_trial.get(n, {}).get(name) for n in out["trial"]]
    return out, names


def check_trials_csv(run: RunDir, live: bool = False) -> None:
    """trials.csv, where there is one, is a whole table: our header, whole rows, trial numbers.
    With `live`, a last line without its newline is a row being appended right now."""
    path = run.trials_csv
    if not path.is_file():
        return
    advice = f"delete it: `t2tsearch run --resume {run.path}` writes it again from study.db"
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise RunDamagedError(f"{path}: damaged (not text); {advice}") from None
    if not text:
        raise RunDamagedError(f"{path}: damaged (empty); {advice}")
    if not text.endswith("\n"):
        if not live:
            raise RunDamagedError(f"{path}: damaged (its last row is cut off); {advice}")
        text = text[:text.rfind("\n") + 1]
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:
        raise RunDamagedError(f"{path}: damaged ({err}); {advice}") from None
    header = rows[0] if rows else []
    if header[:len(LEADING_COLUMNS)] != LEADING_COLUMNS:
        raise RunDamagedError(f"{path}: damaged (its header is not a trials table's); {advice}")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RunDamagedError(f"{path}: damaged (row {line} has {len(row)} fields, the "
                                  f"header {len(header)}); {advice}")
        if not row[0].isdigit():
            raise RunDamagedError(f"{path}: damaged (row {line}: trial '{row[0][:20]}' is not a "
                                  f"number); {advice}")


# ---- trials.csv, row by row -----------------------------------------------------------------------
def append_whole(path: Path, data: bytes) -> None:
    """Append `data` to `path` all or nothing: a write cut short (full disk) is taken back."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


class TrialsCsv:
    """RUN/trials.csv kept current as trials finish: each finished trial's row is appended
    (a constant cost per trial, however long the run); the whole table is written only when
    a session starts and when a row brings a column the file lacks."""

    def __init__(self, run: RunDir) -> None:
        self.path = run.trials_csv
        self.columns: list[str] = []
        self.written: set[int] = set()
        if self.path.is_file():  # go on with the file as the session's start left it
            with open(self.path, newline="") as file:
                rows = csv.reader(file)
                self.columns = next(rows, [])
                self.written = {int(row[0]) for row in rows if row and row[0].isdigit()}

    def rewrite(self, study: optuna.Study) -> pd.DataFrame:
        """The whole table from the study, written atomically; returns it."""
        frame = trials_table(study)
        atomic_write(self.path, frame.to_csv(index=False))
        self.columns = list(frame.columns)
        self.written = set(int(n) for n in frame["trial"])
        return frame

    def add(self, study: optuna.Study, trial: optuna.Trial) -> pd.Series:
        """The finished trial's row, appended (or, with a new column, the table rewritten)."""
        # One trial from storage: study.get_trials would load every trial, every time.
        frozen = stored_trial(study, trial)
        row = trial_row(frozen)
        assert row is not None, "a trial is proposed before it finishes"
        if not self.columns or not set(row) <= set(self.columns) or frozen.number in self.written:
            frame = self.rewrite(study)
            return frame[frame["trial"] == frozen.number].iloc[0]
        line = pd.DataFrame([row], columns=self.columns).to_csv(index=False, header=False)
        append_whole(self.path, line.encode())
        self.written.add(frozen.number)
        return pd.Series(row)

    def catch_up(self, study: optuna.Study) -> pd.DataFrame:
        """At a session's end: rows for the trials not in the file yet (those left running
        by Ctrl-C), appended; returns the whole table."""
        frame = trials_table(study)
        missing = frame[~frame["trial"].isin(self.written)]
        if missing.empty:
            return frame
        if not self.columns or not set(frame.columns) <= set(self.columns):
            return self.rewrite(study)
        append_whole(self.path, missing.reindex(columns=self.columns)
                     .to_csv(index=False, header=False).encode())
        self.written |= set(int(n) for n in missing["trial"])
        return frame


# ---- confirmations --------------------------------------------------------------------------------
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
    return seeds_averaged(table, same_budget_confirmations(run, space), space.train.seed)


def seeds_averaged(table: pd.DataFrame, same_budget: pd.DataFrame, base_seed: int) -> pd.DataFrame:
    """`table` with `same_budget` (confirmations at the table's own budget) applied: each
    confirmed architecture's accuracy the mean over its seeds."""
    return apply_confirmation(table, seed_summary(table, same_budget, base_seed))
