"""Confirm the front: re-train its architectures on more seeds, or at a longer budget with a control
sample, through the search's own trainable, recorded in a second Optuna study of the run (so that
the search study stays as the sampler saw it). Reading the records is t2tsearch.results.tables'
job; this module is the engine side (training, Ray)."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd

from t2tsearch.budget import TrainBudget
from t2tsearch.errors import UserError
from t2tsearch.pareto import full_budget, objective_specs, pareto_front
from t2tsearch.results.directory import (
    DriverLock,
    RunDir,
    now_iso,
    take_driver_lock,
    took_over_note,
)
from t2tsearch.results.run import open_run
from t2tsearch.results.tables import (
    CONFIRM_STUDY,
    confirmed_table,
    search_split_confirmations,
)
from t2tsearch.space.load import load_run_space
from t2tsearch.space.schema import SearchSpace

DEFAULT_CONTROLS = 6  # other architectures re-trained beside the front at a longer budget


class ConfirmError(UserError):
    """A confirmation that cannot start (no front yet, bad seed count, budget not longer)."""


@dataclass
class ConfirmSummary:
    run: RunDir
    front: pd.DataFrame  # the front after confirmation, accuracy = mean over seeds
    trained: int  # trainings run in this call
    skipped: int  # (architecture, seed, budget) jobs already recorded
    failed: int
    epochs: int = 0  # the budget trained at (the run's own for --seeds alone)
    controls: list[str] = field(default_factory=list)  # config ids of the control sample


def confirm_trainable(config: dict[str, Any]) -> None:
    """Ray Tune trainable: one (architecture, seed) job, trained by the search's own trainable."""
    from t2tsearch.engine.trainable import proxy_trainable

    proxy_trainable(config["job"])


def confirm_seeds(space: SearchSpace, seeds: int) -> list[int]:
    """The extra seeds: the search trained on train.seed, confirmation adds the next ones."""
    return [space.train.seed + offset for offset in range(1, seeds)]


def confirm_budget(space: SearchSpace, seed: int) -> TrainBudget:
    """The search's budget with another training seed, on the split the search measured on.

    The split is pinned to the search's even in a run made before `split_seed` existed (where
    it followed train.seed), so that every seed of an architecture meets the same validation
    images and the spread over seeds is the spread of training alone.
    """
    return space.train.model_copy(update={"seed": seed, "split_seed": space.train.data_seed,
                                          "measure_latency": False})


def control_sample(table: pd.DataFrame, front_ids: Collection[str], group_names: Sequence[str],
                   count: int, seed: int) -> pd.DataFrame:
    """`count` full-budget architectures outside the front, drawn with `seed`, spread over groups.

    All full-budget architectures (front included, sorted by config id so that only the table's
    content matters) are put in one seeded random order; the groups then take turns giving
    their next architecture not yet taken and not on the front, and when every group is spent
    the rest follow in that order. The same table and seed give the same sample, and a front
    that changes by one architecture changes the sample by at most one.
    """
    from t2tsearch.groups import PLANE, group_members

    done = full_budget(table, PLANE).sort_values("config_id")
    shuffled = done.iloc[np.random.default_rng(seed).permutation(len(done))]
    candidates = shuffled[~shuffled["config_id"].isin(set(front_ids))]
    queues = [list(group_members(candidates, name)["config_id"]) for name in group_names]
    picked: list[str] = []
    while len(picked) < count and any(queues):
        for queue in queues:
            while queue and queue[0] in picked:
                queue.pop(0)
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    for config_id in candidates["config_id"]:
        if len(picked) >= count:
            break
        if config_id not in picked:
            picked.append(config_id)
    return candidates.set_index("config_id", drop=False).loc[picked].reset_index(drop=True)


def run_confirm(run_path: str | os.PathLike[str], seeds: int | None = None, *,
                epochs: int | None = None, controls: int = DEFAULT_CONTROLS,
                concurrency: int | None = None, address: str | None = None,
                echo: Callable[[str], None] = print, verbose: bool = False,
                cpus_per_trial: float | None = None,
                gpus_per_trial: float | None = None) -> ConfirmSummary:
    """Re-train the front: on more seeds at the run's budget, or at a longer one.

    Without `epochs`: every front architecture on `seeds` seeds in all (default 3, the search's
    own included), and when the space has groups a control sample of `controls` of their other
    architectures too, so that the groups' verdict sees seed means off the front as well as on
    it; the report then uses the means. With `epochs` (above the run's
    train.epochs): every front architecture and a control sample of `controls` other
    full-budget architectures (`control_sample`, seeded by the search seed) at that budget, on
    train.seed and, with `seeds`, the next seeds too; the report then measures the proxy's
    fidelity (t2tsearch.fidelity).

    Resumable: jobs (architecture, seed, budget) already recorded as complete are skipped. The
    front is that of the table with same-budget confirmations applied, so running it again
    after the front moved confirms the newcomers. One process at a time drives a run
    directory: a search or another confirmation on it makes this one refuse (RunBusyError).
    Each training asks Ray for `cpus_per_trial` and `gpus_per_trial` (default: the run's own);
    a request no node of the cluster can hold is refused before any training
    (t2tsearch.engine.resources).
    """
    lock: list[DriverLock] = []
    try:
        return _confirm(run_path, seeds, epochs, controls, concurrency, address, echo, verbose,
                        {"cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial},
                        lock)
    finally:
        for held in lock:
            held.release()


def _confirm(run_path: str | os.PathLike[str], seeds: int | None, epochs: int | None,
             controls: int, concurrency: int | None, address: str | None,
             echo: Callable[[str], None], verbose: bool, resources: dict[str, float | None],
             lock: list[DriverLock]) -> ConfirmSummary:
    if epochs is None and seeds is not None and seeds < 2:
        raise ConfirmError("confirm: --seeds counts the search's own seed too; give 2 or more")
    if epochs is not None and seeds is not None and seeds < 1:
        raise ConfirmError(f"confirm: --seeds {seeds} with --epochs: give 1 or more seeds")
    if controls < 0:
        raise ConfirmError(f"confirm: --controls {controls}: give 0 or more")
    run = open_run(run_path)
    lock.append(take_driver_lock(run, ["t2tsearch", "confirm", str(run_path)]))
    if (note := took_over_note(lock[0])) is not None:
        echo(note)
    table_spec = run.table_evaluator()
    if table_spec is not None:
        raise ConfirmError(f"confirm: {run.path} was answered from a tabular benchmark "
                           f"({table_spec}), not trained; confirming it would train its "
                           f"architectures for real, so it is refused")
    space = load_run_space(run.space_file)
    for name, value in resources.items():
        if value is not None and (value < 0 or (value == 0 and name == "cpus_per_trial")):
            raise ConfirmError(f"confirm: --{name.replace('_', '-')} {value:g}: give a positive "
                               f"number{' or 0' if name == 'gpus_per_trial' else ''}")
    given = {name: value for name, value in resources.items() if value is not None}
    space = space.model_copy(update={"search": space.search.model_copy(update=given)})
    run_epochs = space.train.epochs
    if epochs is not None and epochs <= run_epochs:
        raise ConfirmError(f"confirm: --epochs {epochs} is not above the run's budget (train.epochs "
                           f"{run_epochs} in {run.space_file}); give more epochs, or --seeds "
                           f"alone for more seeds at the run's budget")
    specs = objective_specs(space.objectives)
    table = confirmed_table(run, space)
    front = pareto_front(table, specs)
    if front.empty:
        raise ConfirmError(f"{run.path}: no full-budget trial yet, so no front to confirm")
    if epochs is None:
        budget_epochs, seed_list = run_epochs, confirm_seeds(space, 3 if seeds is None else seeds)
        # With groups, a seeded sample of each group's other architectures too: the verdict's
        # lines run through them all, and re-training only the front would take the selection
        # noise out of its points alone.
        sample = (control_sample(table, front["config_id"], list(space.groups), controls,
                                 space.search.seed) if space.groups else front.iloc[:0])
    else:
        budget_epochs = epochs
        seed_list = [space.train.seed + offset for offset in range(seeds or 1)]
        sample = control_sample(table, front["config_id"], list(space.groups), controls,
                                space.search.seed)
    storage = run.storage_url
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=CONFIRM_STUDY, storage=storage, direction="maximize",
                                load_if_exists=True)
    done = search_split_confirmations(run, space)
    complete = done[done["status"] == "complete"]
    done_jobs = set(zip(complete["config_id"], complete["seed"], complete["epochs"], strict=True))
    jobs = []
    skipped = 0
    for role, rows in (("front", front), ("control", sample)):
        for _, row in rows.iterrows():
            for seed in seed_list:
                if (row["config_id"], seed, budget_epochs) in done_jobs:
                    skipped += 1
                    continue
                budget = confirm_budget(space, seed).model_copy(
                    update={"epochs": budget_epochs})
                jobs.append({"arch": row["arch"], "budget": budget.model_dump(mode="json"),
                             "macs": int(row["macs"]), "params": int(row["params"]),
                             "trial_number": int(row["trial"]),
                             "cpus": space.search.cpus_per_trial,
                             "config_id": row["config_id"], "seed": seed,
                             "epochs": budget_epochs, "role": role,
                             # The re-trained model is measured on the dataset's own test
                             # set too, which the search never saw (none: mnist5k). A run
                             # made before val_size validated on it: nothing held out.
                             "test": space.train.val_size is not None})
    to_do = f"({len(jobs)} trainings to run, {skipped} already done)"
    if epochs is None:
        groups = f" + {len(sample)} from the groups" if len(sample) else ""
        echo(f"confirm {run.path}: {len(front)} front architectures{groups} x "
             f"{len(seed_list) + 1} seeds {to_do}")
    else:
        echo(f"confirm {run.path}: {len(front)} front architectures + {len(sample)} controls at "
             f"{epochs} epochs (the search trained {run_epochs}) x {len(seed_list)} "
             f"seed{'s' if len(seed_list) != 1 else ''} {to_do}")
        if len(sample) < controls:
            echo(f"  only {len(sample)} full-budget architectures outside the front to draw "
                 f"controls from ({controls} asked)")
    failed = 0
    if any(job["test"] for job in jobs):
        # Each training reads the test set after its last epoch: a missing one would fail them
        # all, one traceback each, after the whole budget was spent.
        from t2tsearch.engine.data import DataError, load_test_data

        try:
            load_test_data(space.train.dataset, space.train.img_size, space.train.data_dir)
        except DataError as err:
            raise ConfirmError(f"confirm measures what it re-trains on the test set, which the "
                               f"search never read: {err}") from None
    if jobs:
        from t2tsearch.engine.resources import TrialRequest, check_cluster
        from t2tsearch.engine.search import start_ray

        # Before the session is recorded: a request no node holds would wait for ever, silently.
        start_ray(address, verbose)
        check_cluster(TrialRequest(space.search.cpus_per_trial, space.search.gpus_per_trial),
                      echo)
        meta = run.read_meta()
        meta.setdefault("confirm_sessions", []).append(
            {"start": now_iso(), "seeds": len(seed_list) + (epochs is None),
             "epochs": budget_epochs, "controls": len(sample), "jobs": len(jobs)})
        run.write_meta(meta)
        failed = _train(run, space, study, jobs, concurrency, address, echo, verbose)
        meta = run.read_meta()
        meta["confirm_sessions"][-1]["end"] = now_iso()
        run.write_meta(meta)
    front = pareto_front(confirmed_table(run, space), specs)
    return ConfirmSummary(run, front, len(jobs), skipped, failed, budget_epochs,
                          list(sample["config_id"]))


def _train(run: RunDir, space: SearchSpace, study: optuna.Study, jobs: Sequence[dict[str, Any]],
           concurrency: int | None, address: str | None, echo: Callable[[str], None],
           verbose: bool) -> int:
    from ray import tune

    from t2tsearch.engine.resources import TrialRequest, waiting_notice
    from t2tsearch.engine.search import start_ray

    recorder = _Recorder(study, echo, len(jobs))
    start_ray(address, verbose)
    request = TrialRequest(space.search.cpus_per_trial, space.search.gpus_per_trial)
    resources = request.as_tune()
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
                                  callbacks=[recorder.callback,
                                             waiting_notice(request, echo)]),
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
        accuracy = result.get("accuracy")  # on the validation set, as the search measured
        test_accuracy = result.get("test_accuracy")
        attrs = {"config_id": job["config_id"], "seed": job["seed"], "arch": job["arch"],
                 "epochs_budget": job["epochs"], "role": job["role"],
                 "split_seed": job["budget"].get("split_seed"),
                 "status": status, "reason": result.get("reason", ""),
                 "seconds": result.get("seconds"), "source_trial": job["trial_number"],
                 "device": result.get("device") or "",  # what trained it (trainable.py)
                 "accuracy_curve": list(result.get("accuracy_curve") or []),
                 "test_accuracy": test_accuracy}
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
        shown = f"val acc {float(accuracy):5.1f}%" if usable else attrs["status"]
        if usable and test_accuracy is not None:
            shown += f", test acc {float(test_accuracy):5.1f}%"
        self.echo(f"[{self.count:>3}/{self.total}] {job['config_id']} (trial "
                  f"{job['trial_number']}, {job['role']}) seed {job['seed']}, "
                  f"{job['epochs']} epochs: {shown}")
