"""The private Optuna and Ray APIs t2tsearch wraps (t2tsearch.private_apis), each against what
it stands for. Passed on optuna 4.4.0 and 5.1.0 and ray 2.41.0 and 2.60.0:
benchmarks/oldest_versions.sh runs this file on the oldest versions pyproject.toml allows."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import optuna
import pytest

from t2tsearch.private_apis import (
    distribution_contains,
    hypervolume_of_losses,
    live_trial,
    non_domination_rank,
    stored_trial,
)

ROOT = Path(__file__).resolve().parents[1]


def test_non_domination_rank_peels_fronts_like_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        losses = rng.integers(0, 6, (int(rng.integers(1, 15)), 2)).astype(float)
        remaining, rank, expected = set(range(len(losses))), 0, np.zeros(len(losses), int)
        while remaining:  # each front: the rows no remaining row dominates
            front = {i for i in remaining if not any(
                np.all(losses[j] <= losses[i]) and np.any(losses[j] < losses[i])
                for j in remaining)}
            expected[list(front)] = rank
            remaining -= front
            rank += 1
        assert non_domination_rank(losses).tolist() == expected.tolist()


def test_hypervolume_counts_the_unit_cells_below_the_reference():
    rng = np.random.default_rng(1)
    for _ in range(15):
        points = rng.integers(0, 6, (int(rng.integers(1, 7)), 3)).astype(float)
        reference = np.full(3, 5.0)  # some points lie on or beyond it: they add nothing
        cells = sum(any(np.all(p <= cell) for p in points)
                    for cell in itertools.product(range(5), repeat=3))
        assert hypervolume_of_losses(points, reference) == pytest.approx(cells)


def test_stored_and_live_trials_read_and_tell_the_study(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}")
    first, second = study.ask(), study.ask()
    second.set_user_attr("note", "read alone")
    frozen = stored_trial(study, second)
    assert (frozen.number, frozen.user_attrs) == (1, {"note": "read alone"})
    # A live handle to a trial left RUNNING tells the study as the trial itself would.
    running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))[0]
    study.tell(live_trial(study, running), 3.0)
    assert study.trials[first.number].state == optuna.trial.TrialState.COMPLETE
    assert study.trials[first.number].value == 3.0


def test_distribution_contains_external_values():
    choices = optuna.distributions.CategoricalDistribution([8, 16, 24])
    assert distribution_contains(choices, 16) and not distribution_contains(choices, 12)
    ints = optuna.distributions.IntDistribution(1, 4)
    assert distribution_contains(ints, 4) and not distribution_contains(ints, 5)


def test_init_local_ray_keeps_its_files_under_the_folder_given():
    # A Ray of its own, in a fresh interpreter (this worker's Ray is already running).
    folder = tempfile.mkdtemp(prefix="t2ts-api-", dir="/tmp")
    code = ("from t2tsearch.private_apis import init_local_ray\nimport ray\n"
            f"init_local_ray({folder!r}, num_cpus=1, include_dashboard=False, "
            "object_store_memory=80 * 1024**2)\nray.shutdown()\n")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (Path(folder) / "session_latest").exists(), os.listdir(folder)
