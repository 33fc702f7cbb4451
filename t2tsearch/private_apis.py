"""Every private Optuna and Ray API t2tsearch uses, each wrapped here and nowhere else.

Private names can change in any release without notice. Each wrapper below was checked, by
tests/test_private_apis.py, on the oldest and the newest versions pyproject.toml allows:
optuna 4.4.0 and 5.1.0, ray 2.41.0 and 2.60.0 (benchmarks/oldest_versions.sh runs that test on
the oldest). A new release that moves one breaks its test, in one place, instead of a search in
the middle of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial


# ---- Optuna ----------------------------------------------------------------------------------
def non_domination_rank(losses: np.ndarray) -> np.ndarray:
    """Non-domination rank of each row of `losses` (all minimised); 0 is the Pareto front."""
    from optuna.study._multi_objective import _fast_non_domination_rank

    return np.asarray(_fast_non_domination_rank(np.asarray(losses, dtype=float)))


def hypervolume_of_losses(losses: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by the rows of `losses` (all minimised) inside the box below
    `reference`; rows not strictly better than the reference in every objective add nothing."""
    from optuna._hypervolume import compute_hypervolume

    losses = np.asarray(losses, dtype=float).reshape(-1, len(reference))
    reference = np.asarray(reference, dtype=float)
    inside = losses[np.all(losses < reference, axis=1)]
    if not len(inside):
        return 0.0
    return float(compute_hypervolume(inside, reference))


def stored_trial(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial:
    """One trial as stored, read alone: `study.get_trials` would load every trial."""
    return study._storage.get_trial(trial._trial_id)


def live_trial(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """A live handle to a stored trial (one left RUNNING by a killed session), to tell it."""
    import optuna

    return optuna.Trial(study, frozen._trial_id)


def distribution_contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether `value` (an external value, as a trial's params hold it) lies in `distribution`."""
    try:
        internal = distribution.to_internal_repr(value)
    except ValueError:  # a categorical's to_internal_repr raises for a value not among its choices
        return False
    return bool(distribution._contains(internal))


# ---- Ray -------------------------------------------------------------------------------------
def init_local_ray(temp_dir: str, **kwargs: Any) -> None:
    """Start a local Ray whose files (and sockets) live under `temp_dir`: Ray's socket paths
    must stay under 107 bytes, which its default under a long TMPDIR can break."""
    import ray

    ray.init(_temp_dir=temp_dir, **kwargs)
