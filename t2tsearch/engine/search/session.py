"""A run's sessions: a new run started or one resumed from its directory (the one-driver lock,
the sampler's seed for this session, trials a killed session left running queued again, the
evaluator it started with), the session recorded in run.json, and what the run sums up to."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import optuna
import pandas as pd

from t2tsearch.engine.provenance import run_metadata
from t2tsearch.engine.quota import tally_groups
from t2tsearch.engine.search.options import SearchOptions, apply_overrides, session_seed
from t2tsearch.engine.search.progress import Progress
from t2tsearch.engine.search.study import open_study, requeue_interrupted
from t2tsearch.engine.search.tune_loop import fit_session
from t2tsearch.errors import UserError
from t2tsearch.groups import describe_plan
from t2tsearch.pareto import objective_specs, pareto_front
from t2tsearch.results.directory import (
    DriverLock,
    RunDir,
    now_iso,
    storage_error,
    storage_fault,
    take_driver_lock,
    took_over_note,
)
from t2tsearch.results.reference import table_reference
from t2tsearch.results.run import open_run
from t2tsearch.results.tables import FAILED, TrialsCsv, status_counts, trials_table
from t2tsearch.space.load import load_run_space, load_space

TrialState = optuna.trial.TrialState


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

    from t2tsearch.engine.evaluator import evaluator_from_spec

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
    from t2tsearch.engine.evaluator import evaluator_from_spec

    asked = evaluator_from_spec(options.evaluator).spec if options.evaluator else None
    if run is not None:
        asked = resume_evaluator(run, asked)
    options = replace(options, evaluator=asked or "train")
    space = apply_overrides(space, overrides, source)
    if run is not None and overrides:
        run.write_space(space)  # e.g. --trials 40: the next resume sees it
    # A missing or malformed dataset or table is the run's fault, not a trial's: say so first.
    from t2tsearch.engine.data import load_data

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
            note, interrupted, unstarted = fit_session(
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
        # The count the quota was filled by (t2tsearch.engine.quota): distinct complete architectures.
        tally = tally_groups(study.get_trials(deepcopy=False), list(space.groups),
                             space.group_quota)
        counts = {group: len(ids) for group, ids in tally.complete.items()}
    return RunSummary(run=run, table=table, front=front, note=note, interrupted=interrupted,
                      unstarted=unstarted, quota=space.group_quota, group_counts=counts)
