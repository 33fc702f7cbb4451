"""Confirm the front: re-train its architectures on more seeds through the search's own trainable,
recorded in a second Optuna study of the run, so that the search study stays as the sampler saw it."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd

from t2tsearch.errors import UserError
from t2tsearch.results import RunDir, now_iso, objective_specs, pareto_front, trials_table
from t2tsearch.space import SearchSpace, load_space

CONFIRM_STUDY = "t2tsearch-confirm"
CONFIRM_COLUMNS = ["config_id", "seed", "status", "accuracy", "seconds", "reason"]


class ConfirmError(UserError):
    """A confirmation that cannot start (no front yet, bad seed count)."""


# ---- reading confirmations ---------------------------------------------------------------------
def load_confirmations(run: RunDir) -> pd.DataFrame:
    """One row per recorded (config_id, seed) training; empty when confirm never ran."""
    try:
        study = optuna.load_study(study_name=CONFIRM_STUDY, storage=run.storage_url)
    except KeyError:  # Optuna's answer for a study name the storage does not hold
        return pd.DataFrame(columns=CONFIRM_COLUMNS)
    rows = [{"config_id": t.user_attrs.get("config_id"), "seed": t.user_attrs.get("seed"),
             "status": t.user_attrs.get("status", "failed"),
             "accuracy": t.value if t.state == optuna.trial.TrialState.COMPLETE else None,
             "seconds": t.user_attrs.get("seconds"), "reason": t.user_attrs.get("reason", "")}
            for t in study.get_trials(deepcopy=False)]
    return pd.DataFrame(rows, columns=CONFIRM_COLUMNS)


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


def confirmed_table(run: RunDir, space: SearchSpace, table: pd.DataFrame | None = None
                    ) -> pd.DataFrame:
    """The run's trials table with confirmations applied (the table the report draws)."""
    table = trials_table(run.load_study()) if table is None else table
    summary = seed_summary(table, load_confirmations(run), space.train.seed)
    return apply_confirmation(table, summary)


# ---- running confirmations --------------------------------------------------------------------------
@dataclass
class ConfirmSummary:
    run: RunDir
    front: pd.DataFrame  # the front after confirmation, accuracy = mean over seeds
    trained: int  # trainings run in this call
    skipped: int  # (architecture, seed) pairs already recorded
    failed: int


def confirm_trainable(config: dict[str, Any]) -> None:
    """Ray Tune trainable: one (architecture, seed) job, trained by the search's own trainable."""
    from t2tsearch.trainable import proxy_trainable

    proxy_trainable(config["job"])


def confirm_seeds(space: SearchSpace, seeds: int) -> list[int]:
    """The extra seeds: the search trained on train.seed, confirmation adds the next ones."""
    return [space.train.seed + offset for offset in range(1, seeds)]


def run_confirm(run_path: str | os.PathLike[str], seeds: int, *, concurrency: int | None = None,
                address: str | None = None, echo: Callable[[str], None] = print,
                verbose: bool = False) -> ConfirmSummary:
    """Train every front architecture on `seeds` seeds in all (the search's one included).

    Resumable: pairs already recorded as complete are skipped. The front is that of the table
    with confirmations so far applied, so running it again after the front moved confirms the
    newcomers.
    """
    if seeds < 2:
        raise ConfirmError("confirm: --seeds counts the search's own seed too; give 2 or more")
    run = RunDir.open(run_path)
    space = load_space(run.space_file)
    specs = objective_specs(space.objectives)
    table = confirmed_table(run, space)
    front = pareto_front(table, specs)
    if front.empty:
        raise ConfirmError(f"{run.path}: no full-budget trial yet, so no front to confirm")
    storage = run.storage_url
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=CONFIRM_STUDY, storage=storage, direction="maximize",
                                load_if_exists=True)
    done = load_confirmations(run)
    done_pairs = set(zip(done.loc[done["status"] == "complete", "config_id"],
                         done.loc[done["status"] == "complete", "seed"], strict=True))
    jobs = []
    skipped = 0
    for _, row in front.iterrows():
        for seed in confirm_seeds(space, seeds):
            if (row["config_id"], seed) in done_pairs:
                skipped += 1
                continue
            budget = space.train.model_copy(update={"seed": seed, "measure_latency": False})
            jobs.append({"arch": row["arch"], "budget": budget.model_dump(mode="json"),
                         "macs": int(row["macs"]), "params": int(row["params"]),
                         "trial_number": int(row["trial"]), "cpus": space.search.cpus_per_trial,
                         "config_id": row["config_id"], "seed": seed})
    echo(f"confirm {run.path}: {len(front)} front architectures x {seeds} seeds "
         f"({len(jobs)} trainings to run, {skipped} already done)")
    failed = 0
    if jobs:
        meta = run.read_meta()
        meta.setdefault("confirm_sessions", []).append(
            {"start": now_iso(), "seeds": seeds, "jobs": len(jobs)})
        run.write_meta(meta)
        failed = _train(run, space, study, jobs, concurrency, address, echo, verbose)
        meta = run.read_meta()
        meta["confirm_sessions"][-1]["end"] = now_iso()
        run.write_meta(meta)
    front = pareto_front(confirmed_table(run, space), specs)
    return ConfirmSummary(run, front, len(jobs), skipped, failed)


def _train(run: RunDir, space: SearchSpace, study: optuna.Study, jobs: Sequence[dict[str, Any]],
           concurrency: int | None, address: str | None, echo: Callable[[str], None],
           verbose: bool) -> int:
    from ray import tune

    from t2tsearch.search import start_ray

    recorder = _Recorder(study, echo, len(jobs))
    start_ray(address, verbose)
    resources = {"cpu": space.search.cpus_per_trial, "gpu": space.search.gpus_per_trial}
    session = len(run.read_meta().get("confirm_sessions", []))
    tuner = tune.Tuner(
        tune.with_resources(confirm_trainable, resources),
        param_space={"job": tune.grid_search(list(jobs))},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrency or space.search.concurrency,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=f"confirm-{session}",
                                  storage_path=str(run.ray_dir.resolve()),
                                  verbose=2 if verbose else 0,
                                  failure_config=tune.FailureConfig(max_failures=0),
                                  callbacks=[recorder.callback]),
    )
    with warnings.catch_warnings():
        if not verbose:
            warnings.simplefilter("ignore")
        tuner.fit()
    return recorder.failed


class _Recorder:
    """Writes each finished job into the confirm study as it ends, so an interrupted confirm
    keeps what it trained."""

    def __init__(self, study: optuna.Study, echo: Callable[[str], None], total: int) -> None:
        from ray.tune import Callback

        outer = self

        class _Callback(Callback):
            def on_trial_result(self, iteration, trials, trial, result, **info):
                if result.get("final"):
                    outer.record(trial.config["job"], result)

            def on_trial_error(self, iteration, trials, trial, **info):
                outer.record(trial.config["job"], {"status": "failed",
                                                   "reason": "the training raised an error"})

        self.callback = _Callback()
        self.study = study
        self.echo = echo
        self.total = total
        self.count = 0
        self.failed = 0

    def record(self, job: dict[str, Any], result: dict[str, Any]) -> None:
        status = "complete" if result.get("status") == "complete" else result.get("status", "failed")
        accuracy = result.get("accuracy")
        attrs = {"config_id": job["config_id"], "seed": job["seed"], "arch": job["arch"],
                 "status": status, "reason": result.get("reason", ""),
                 "seconds": result.get("seconds"), "source_trial": job["trial_number"],
                 "accuracy_curve": list(result.get("accuracy_curve") or [])}
        usable = status == "complete" and accuracy is not None and math.isfinite(float(accuracy))
        if usable:
            trial = optuna.trial.create_trial(value=float(accuracy), user_attrs=attrs)
        else:
            self.failed += 1
            attrs["status"] = status if status != "complete" else "failed"
            trial = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL,
                                              user_attrs=attrs)
        self.study.add_trial(trial)
        self.count += 1
        shown = f"acc {float(accuracy):5.1f}%" if usable else attrs["status"]
        self.echo(f"[{self.count:>3}/{self.total}] {job['config_id']} (trial "
                  f"{job['trial_number']}) seed {job['seed']}: {shown}")
