"""The Tune loop of one session: Ray started while the sampler warms up and the run's reference
point is placed, then Ray Tune trains what the searcher proposes until the budget is spent or
Ctrl-C comes, and the trials cut off are recorded as interrupted."""

from __future__ import annotations

import logging
import threading
import warnings

import optuna

from t2tsearch.cost import count_cost
from t2tsearch.engine.resources import TrialRequest, check_cluster, waiting_notice
from t2tsearch.engine.search.options import SearchOptions, make_scheduler
from t2tsearch.engine.search.progress import Progress
from t2tsearch.engine.search.ray_start import error_text, resources_of, start_ray
from t2tsearch.engine.search.searcher import StudySearcher
from t2tsearch.engine.trainable import proxy_trainable
from t2tsearch.errors import UserError
from t2tsearch.results.directory import RunDir, storage_error, storage_fault
from t2tsearch.results.reference import MOST_POOL_DRAWS, needs_pool, reference_pool, run_reference
from t2tsearch.space.feasibility import check_candidate
from t2tsearch.space.schema import SearchSpace


def start_reference(space: SearchSpace, sampler: optuna.samplers.BaseSampler,
                    run: RunDir, source: str | None = None) -> dict[str, float]:
    """The run's hypervolume reference, chosen as it starts (t2tsearch.results.reference.run_reference):
    costs at their constraints, else from the first pool, the cost-aware sampler's own or, for
    other samplers, one drawn and counted the same way from the run's seed. `source` names the
    space in an error (default: the run's space.yaml)."""
    if not needs_pool(space):
        return run_reference(space)
    own = getattr(sampler, "reference", None)
    if own is not None:
        return dict(own)
    pool = reference_pool(space, space.search.seed,
                          lambda cfg: count_cost(cfg, run.cost_cache),
                          lambda cfg, cost: check_candidate(cfg, space, cost))
    if not pool:
        raise UserError(f"{source or run.space_file}: parameters: no feasible architecture among "
                        f"{MOST_POOL_DRAWS} random draws (t2tsearch validate says why)")
    return run_reference(space, pool)


def fit_session(space: SearchSpace, study: optuna.Study, run: RunDir, budget_left: int,
         progress: Progress, options: SearchOptions, session: int,
         choose_reference: bool = False, source: str | None = None) -> tuple[str, int, int]:
    """Run Ray Tune until the searcher's budget is spent; (note, trials cut off by Ctrl-C,
    trials of the budget not started because Ctrl-C came between two trials). With
    `choose_reference`, the run's reference point is chosen and stored in run.json first
    (`source` names the space if that fails)."""
    from ray import tune

    # Ray's start is mostly waiting on the processes it spawns: the cost-aware sampler counts
    # the costs of its first pool meanwhile (and the reference is placed), instead of before
    # the first trial can start.
    warm = getattr(study.sampler, "warm", None)
    prepared: dict[str, dict[str, float]] = {}
    failed: list[BaseException] = []

    def prepare() -> None:
        # Its error is raised again in the main thread, after join: left to escape here, the
        # thread's excepthook would print a traceback before the one-line user error.
        try:
            if warm is not None:
                warm()
            if choose_reference:
                prepared["reference"] = start_reference(space, study.sampler, run, source)
        except BaseException as err:  # raised again below
            failed.append(err)

    warming = threading.Thread(target=prepare, name="warm-sampler", daemon=True)
    warming.start()
    try:
        start_ray(options.address, options.verbose)
    finally:
        warming.join()
    if failed:
        raise failed[0]
    # Before anything is recorded: a request no node can hold would leave Tune waiting for ever.
    request = TrialRequest(space.search.cpus_per_trial, space.search.gpus_per_trial)
    check_cluster(request, progress.echo)
    if choose_reference:
        reference = prepared["reference"]
        meta = run.read_meta()
        meta["reference"] = reference
        run.write_meta(meta)
        if hasattr(study.sampler, "reference"):
            study.sampler.reference = reference
    searcher = StudySearcher(space, study, run, budget_left, progress, options.evaluator)

    class TrialEvents(tune.Callback):
        """Hands the searcher what Tune tells callbacks alone: a failed trial's error text (the
        searcher gets only its id) and each checkpoint a trial saves."""

        def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
            searcher.trial_errored(trial.trial_id, error_text(trial))

        def on_checkpoint(self, iteration: int, trials: list, trial, checkpoint, **info) -> None:
            searcher.guarded(searcher.checkpointed, trial.trial_id, str(checkpoint.path))

    class StopOnStorageFault(tune.Stopper):
        """Stops every trial once the run directory stopped taking writes."""

        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return searcher.storage_fault is not None

    settings = space.search
    tuner = tune.Tuner(
        tune.with_resources(proxy_trainable, lambda config: resources_of(request, config)),
        tune_config=tune.TuneConfig(
            search_alg=searcher.ray_searcher,
            scheduler=make_scheduler(space),
            num_samples=-1,  # the searcher says when the budget is spent
            max_concurrent_trials=settings.concurrency,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"session-{session}",
            storage_path=str(run.ray_dir.resolve()),
            verbose=2 if options.verbose else 0,
            # The searcher retries a trial whose worker died (search.max_retries), as a new Tune
            # trial of the same Optuna trial: Tune's own retries would retry exceptions too.
            failure_config=tune.FailureConfig(max_failures=0),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[TrialEvents(), waiting_notice(request, progress.echo)],
            stop=StopOnStorageFault(),
        ),
    )
    if not options.verbose:
        # Tune logs a traceback each time it cannot save its state to a full or read-only run
        # directory; the run stops with one line saying so instead (below).
        logging.getLogger("ray.tune.execution.experiment_state").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        if not options.verbose:
            warnings.simplefilter("ignore")
        try:
            tuner.fit()
        except Exception as err:
            fault = searcher.storage_fault or storage_fault(err)
            if fault is None:
                raise
            raise storage_error(run, fault) from None
    # The searcher only says FINISHED with its budget spent or on giving up, and Tune then
    # waits for the trials in flight, so budget left, or a trial still in flight whose end
    # never came, means Tune was stopped (Ctrl-C), though perhaps with no trial in flight.
    in_flight = len(searcher.live) > len(searcher.errored)
    stopped = not searcher.gave_up and (searcher.budget_left > 0 or in_flight)
    searcher.guarded(searcher.flush_errors, stopped)
    # On Ctrl-C Tune stops gracefully without completing the trials in flight: they are
    # recorded as interrupted, and the next --resume trains them again first.
    interrupted = searcher.guarded(searcher.interrupt_live, fallback=0)
    if searcher.storage_fault is not None:
        raise storage_error(run, searcher.storage_fault)
    unstarted = searcher.budget_left if stopped else 0
    note = "\n".join([*searcher.notes, *([searcher.gave_up] if searcher.gave_up else [])])
    return note, interrupted, unstarted
