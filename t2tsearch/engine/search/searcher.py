"""The searcher: Optuna's ask/tell behind Ray Tune's Searcher interface. It proposes architectures
from the study, rejects infeasible, over-budget, over-quota and already-seen ones before Ray spends
anything on them, trains again the trials whose worker died, and tells the study every outcome."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Callable
from typing import Any

import optuna

from t2tsearch.arch import trial_config_id
from t2tsearch.cost import count_cost
from t2tsearch.engine.evaluator import trial_seed
from t2tsearch.engine.quota import FILLS_QUOTA, QUOTA_PATIENCE, QuotaGate
from t2tsearch.engine.search.progress import Progress
from t2tsearch.engine.search.rejections import (
    INFEASIBLE_PATIENCE,
    MAX_REJECTED_IN_A_ROW,
    fallback_note,
    gave_up_after,
    needs_fallback,
    queue_fallback,
)
from t2tsearch.engine.search.study import mark_interrupted, objective_values, tell
from t2tsearch.engine.worker_loss import worker_lost
from t2tsearch.results.directory import RunDir, storage_fault
from t2tsearch.results.tables import TrialsCsv
from t2tsearch.space.feasibility import check_architecture, check_cost
from t2tsearch.space.sampling import suggest
from t2tsearch.space.schema import SearchSpace

TrialState = optuna.trial.TrialState

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
        self.fallback_noted = False  # the run's note says random architectures were queued
        self.nothing_left = False  # a fallback found no architecture to queue
        # goal: compare_groups: the gate that holds the groups to their quotas (engine.quota).
        self.gate = QuotaGate(space, study, run.cost_cache, progress.echo)
        self.notes = self.gate.notes
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
        # never through Tune's restore, so the pickled copy leaves out the study, its live
        # trials and the quota gate (which holds the study): Optuna's samplers need not pickle
        # (5.1's NSGA-II holds a thread lock).
        return {**self.__dict__, "study": None, "live": {}, "gate": None}

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
        reasons: Counter[str] = Counter()  # why this streak's proposals were rejected
        broken: Counter[str] = Counter()  # the constraints they broke, since the last fallback
        while self.budget_left > 0:
            if self.gate.holding_reserve(self.budget_left):
                return None  # Tune asks again once a trial in flight has ended
            if isinstance(self.study.sampler, optuna.samplers.GridSampler) and \
                    self.study.sampler.is_exhausted(self.study):
                self.gave_up = "stopped proposing: every point of the grid has been tried"
                return Searcher.FINISHED
            if rejected >= MAX_REJECTED_IN_A_ROW:
                self.gave_up = gave_up_after(rejected, reasons, self.study.sampler,
                                             self.nothing_left)
                return Searcher.FINISHED
            if quota_rejected >= QUOTA_PATIENCE:
                self.gate.queue_short_group_member(self._tried())
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
                reasons[reason] += 1
                broken[reason] += 1
                # Queued only while the search goes on: a queued trial left behind would be
                # taken for an interrupted one on resume.
                if sum(broken.values()) >= INFEASIBLE_PATIENCE and \
                        rejected < MAX_REJECTED_IN_A_ROW and not self.nothing_left and \
                        needs_fallback(self.study.sampler):
                    self._queue_feasible_draw(broken)
                    broken.clear()
                continue
            fills, quota_reason = self.gate.check(cfg.id, groups, self.budget_left, self._tried())
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
                reasons["the same architecture as a trial still training"] += 1
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
                # picks the seed's row on a table with several (t2tsearch.engine.evaluator)
                "trial_seed": trial_seed(self.space.search.seed, trial.number),
                "cpus": self.space.search.cpus_per_trial, "evaluator": self.evaluator,
                "checkpoint": self.space.search.checkpoint,
                # for the early-stopping scheduler's group brackets (t2tsearch.engine.pareto_asha)
                "groups": groups, FILLS_QUOTA: fills}
            return self.configs[trial_id]
        return Searcher.FINISHED

    def _queue_feasible_draw(self, broken: Counter[str]) -> None:
        if not queue_fallback(self.study, self.space, self._tried(), self.run.cost_cache,
                              self.gate.admitted_now(self.budget_left)):
            self.nothing_left = True  # never again: more draws would rarely find one
            return
        if not self.fallback_noted:
            self.notes.append(fallback_note(broken))
            self.progress.echo(self.notes[-1])
            self.fallback_noted = True

    def _tried(self) -> set[str]:
        """The architectures trained or training (config ids)."""
        return set(self.done_ids) | set(self.running_ids)

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
        worker that died has it trained again (t2tsearch.engine.worker_loss), an exception is its
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
        if result.get("device"):  # what trained it (t2tsearch.engine.trainable.device_label)
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
