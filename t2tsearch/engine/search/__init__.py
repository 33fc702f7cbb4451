"""A search run, one module per job: `options` (the command line's settings, the sampler and the
scheduler they make), `study` (the run's Optuna study, told and re-queued), `searcher` (Optuna's
ask/tell behind Ray Tune's Searcher), `progress` (the progress line), `ray_start` (Ray started,
a trial's resources and error text), `tune_loop` (one session's Ray Tune loop) and `session`
(`run_search`: a run started or resumed, its sessions recorded). The names below are the ones
callers import from `t2tsearch.engine.search`.
"""

from __future__ import annotations

from t2tsearch.engine.quota import QUOTA_DRAWS, QUOTA_PATIENCE
from t2tsearch.engine.search.options import (
    SearchOptions,
    apply_overrides,
    make_sampler,
    make_scheduler,
    session_seed,
    startup_trials,
)
from t2tsearch.engine.search.progress import Progress
from t2tsearch.engine.search.ray_start import resources_of, start_ray
from t2tsearch.engine.search.searcher import StudySearcher
from t2tsearch.engine.search.session import RunSummary, resume_evaluator, run_search
from t2tsearch.engine.search.study import open_study

__all__ = [
    "QUOTA_DRAWS", "QUOTA_PATIENCE", "Progress", "RunSummary", "SearchOptions", "StudySearcher",
    "apply_overrides", "make_sampler", "make_scheduler", "open_study", "resources_of",
    "resume_evaluator", "run_search", "session_seed", "start_ray", "startup_trials",
]
