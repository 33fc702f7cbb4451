"""The trials table, Pareto fronts (full-budget only) and hypervolume."""

from __future__ import annotations

import pandas as pd
import pytest

from t2tsearch.pareto import ObjectiveSpec, hypervolume, pareto_front
from t2tsearch.results import RunDir, RunError, open_run
from t2tsearch.results.tables import arch_columns

from .conftest import tiny_arch

SPECS = [ObjectiveSpec("accuracy", True), ObjectiveSpec("macs", False)]


def _table(rows):
    return pd.DataFrame(rows, columns=["trial", "config_id", "status", "accuracy", "macs"])


def test_front_uses_full_budget_trials_only_and_each_architecture_once():
    table = _table([
        (0, "a", "complete", 80.0, 10.0),
        (1, "b", "complete", 90.0, 20.0),
        (2, "c", "complete", 85.0, 30.0),  # dominated by b
        (3, "d", "stopped_early", 99.0, 1.0),  # would dominate everything, but is not full budget
        (4, "a", "complete", 80.0, 10.0),  # the same architecture again (reused)
        (5, "e", "infeasible", None, 5.0),
    ])
    front = pareto_front(table, SPECS)
    assert list(front["trial"]) == [1, 0]  # sorted by accuracy, best first
    assert hypervolume(table, SPECS, {"accuracy": 0.0, "macs": 40.0}) == pytest.approx(
        80 * 30 + 10 * 20)


def test_empty_table():
    empty = _table([(0, "a", "failed", None, 10.0)])
    assert pareto_front(empty, SPECS).empty
    assert hypervolume(empty, SPECS, {"accuracy": 0.0, "macs": 1.0}) == 0.0


def test_arch_columns_flatten_every_field():
    columns = arch_columns(tiny_arch())
    for key in ("img_size", "in_chans", "num_classes", "pos_embed", "t2t.mixer", "t2t.token_dim",
                "t2t.soft_splits.0.kernel", "t2t.soft_splits.2.padding", "backbone.depth",
                "backbone.embed_dim", "backbone.block", "backbone.dense_stages", "t2t.depth",
                "num_tokens"):
        assert key in columns, key
    assert columns["t2t.depth"] == 2 and columns["num_tokens"] == 4


def test_run_dir_refuses_to_overwrite_and_to_open_non_runs(tmp_path):
    RunDir.create(tmp_path, "r")
    with pytest.raises(RunError, match="exists"):
        RunDir.create(tmp_path, "r")
    with pytest.raises(RunError, match="not a t2tsearch run"):
        open_run(tmp_path / "r")
    with pytest.raises(RunError, match="no such run"):
        open_run(tmp_path / "nope")
