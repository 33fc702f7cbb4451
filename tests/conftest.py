"""Shared test fixtures: tiny architectures that build and run in milliseconds, one Ray session,
and one small trained run that every test reading a run directory shares."""

from __future__ import annotations

import os

# Two xdist workers share two cores: one torch (and BLAS) thread each. A second thread only spins
# waiting for work the other worker's processes need the core for: the sampler, model and cost
# modules took 50 CPU-seconds with two threads and 34 with one, in the same wall time. Set before
# anything imports torch; a value the developer set is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil  # noqa: E402
from pathlib import Path

import pandas as pd
import pytest

from t2tsearch.arch import ArchConfig, BackboneConfig, T2TConfig

# The suite runs on 2 pytest-xdist workers that take whole modules (pyproject: `-n 2 --dist
# loadfile --no-loadscope-reorder`) in collection order, a worker asking for more when it is near
# the end of what it holds: the longest modules go first, so that neither worker starts one of
# them at the end while the other waits idle (a rough balance, not an exact one).
# test_cluster.py goes first on the other worker: it shuts the worker's Ray down to attach to a
# cluster of its own, and there is then no Ray yet to start again.
LONGEST_FIRST = ("test_smoke.py", "test_cluster.py", "test_search_resume.py", "test_rundir.py",
                 "test_search.py", "test_bench_search.py", "test_confirm.py", "test_readme.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a module and among the rest is kept


def tiny_arch(**changes) -> ArchConfig:
    """A T2T-ViT small enough to build, count and train in a test (28 px, 1 channel, 10 classes)."""
    cfg = ArchConfig(
        img_size=28,
        in_chans=1,
        num_classes=10,
        t2t=T2TConfig(token_dim=16),
        backbone=BackboneConfig(depth=2, embed_dim=32, num_heads=2, mlp_ratio=2.0),
    )
    return cfg.replace(**changes) if changes else cfg


@pytest.fixture
def tiny() -> ArchConfig:
    return tiny_arch()


@pytest.fixture(scope="session")
def ray_session():
    """Ray, started once for the whole session: each start costs seconds on 2 cores. A module
    that shuts Ray down leaves the next search to start it again (run_search does)."""
    import ray

    from t2tsearch.engine.search import start_ray

    start_ray(None, verbose=False)
    yield
    ray.shutdown()


@pytest.fixture
def ray_address(ray_session) -> str:
    """The address of this worker's Ray, for a test's CLI process to attach to (`--address`)
    instead of starting a Ray of its own (seconds of CPU on 2 cores)."""
    import ray

    from t2tsearch.engine.search import start_ray

    start_ray(None, verbose=False)  # again, where a module shut it down
    return ray.get_runtime_context().gcs_address


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, ray_session) -> Path:
    """One 4-trial run of the tiny groups space, trained for real on Ray (1 epoch, 300 images),
    shared by the report, export, browser and confirm tests. Read it in place; a test that
    writes into the run directory (a report, a confirmation) works on `copy_run` of it."""
    from tests.report_data import make_tiny_run

    return make_tiny_run(tmp_path_factory.mktemp("tiny_run"))


def copy_run(run: Path, folder: Path, name: str = "copy") -> Path:
    """A copy of `run` to write into, without Ray's logs and a report's outputs."""
    target = folder / name
    shutil.copytree(run, target, ignore=shutil.ignore_patterns(
        "ray", "report.html", "*.png", "plotly.min.js"))
    return target


def brute_force_front(table: pd.DataFrame, maximize: str = "accuracy",
                      minimize: tuple[str, ...] = ("macs",)) -> set[str]:
    """The config ids on the Pareto front of `table`'s complete rows, found by comparing every
    row with every other: the reference the front of a report or a confirmation must match."""
    done = table[table["status"] == "complete"].drop_duplicates("config_id")
    points = [(row["config_id"], float(row[maximize]), [float(row[c]) for c in minimize])
              for _, row in done.iterrows()]
    front = set()
    for config_id, accuracy, costs in points:
        dominated = False
        for other_id, other_accuracy, other_costs in points:
            no_worse = other_accuracy >= accuracy and all(
                o <= c for o, c in zip(other_costs, costs, strict=True))
            better = other_accuracy > accuracy or any(
                o < c for o, c in zip(other_costs, costs, strict=True))
            if other_id != config_id and no_worse and better:
                dominated = True
                break
        if not dominated:
            front.add(config_id)
    return front
