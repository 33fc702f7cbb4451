"""Pareto ranking, hypervolume and the run's one reference point, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from t2tsearch.cost import Cost
from t2tsearch.pareto import (
    ObjectiveSpec,
    box_volume,
    common_reference,
    hypervolume,
    hypervolume_of_losses,
    non_domination_rank,
    pareto_front,
)
from t2tsearch.report import hypervolume_history
from t2tsearch.results.reference import (
    needs_pool,
    read_reference,
    reference_pool,
    run_reference,
    table_reference,
)
from t2tsearch.space import check_architecture, parse_space, random_draws
from tests.report_data import synthetic_table

SPECS = [ObjectiveSpec("accuracy", True), ObjectiveSpec("macs", False)]
SPACE = {
    "name": "ref",
    "base": {"t2t": {"soft_splits": [[7, 4, 2], [3, 2, 1]], "token_dim": 8},
             "backbone": {"num_heads": 2}},
    "parameters": {"backbone.depth": {"choice": [1, 2, 3]},
                   "backbone.head_dim": {"choice": [8, 16]}},
    "train": {"dataset": "mnist5k", "img_size": 28, "epochs": 1},
}


def space(**changes):
    return parse_space({**SPACE, **changes}, "test")


def fake_cost(cfg) -> Cost:
    bb = cfg.backbone
    macs = bb.depth * bb.embed_dim * 1000
    return Cost(params=macs // 7, trainable_params=macs // 7, macs=macs)


# ---- brute force ---------------------------------------------------------------------------
def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def exact_volume(points: np.ndarray, reference: np.ndarray) -> float:
    """The dominated volume by cells: cut the box at every coordinate of every point; a cell
    counts whole when its lower corner is dominated (weakly) by some point."""
    points = points[np.all(points < reference, axis=1)]
    if not len(points):
        return 0.0
    cuts = [np.unique(np.append(points[:, d], reference[d])) for d in range(points.shape[1])]
    total = 0.0
    for corner in itertools.product(*(range(len(c) - 1) for c in cuts)):
        low = np.array([cuts[d][i] for d, i in enumerate(corner)])
        high = np.array([cuts[d][i + 1] for d, i in enumerate(corner)])
        if np.any(np.all(points <= low, axis=1)):
            total += float(np.prod(high - low))
    return total


# ---- ranking and hypervolume -----------------------------------------------------------------
def test_front_is_exactly_the_undominated_rows():
    rng = np.random.default_rng(0)
    for trial in range(20):
        count = int(rng.integers(1, 25))
        # Few distinct values, so that ties and duplicates occur.
        acc = rng.integers(40, 50, count).astype(float)
        macs = rng.integers(1, 10, count).astype(float)
        table = pd.DataFrame({"trial": range(count), "config_id": [f"c{i}" for i in range(count)],
                              "status": "complete", "accuracy": acc, "macs": macs})
        losses = np.column_stack([-acc, macs])
        expected = {i for i in range(count)
                    if not any(dominates(losses[j], losses[i]) for j in range(count))}
        assert set(pareto_front(table, SPECS)["trial"]) == expected, trial
        assert set(np.flatnonzero(non_domination_rank(losses) == 0)) == expected


def test_hypervolume_of_a_two_objective_staircase_by_hand():
    # Points (accuracy, MACs): (80, 10), (90, 20), (85, 30, dominated); reference (0, 40).
    # Staircase: MACs 10..20 at height 80, 20..40 at height 90.
    table = pd.DataFrame({"trial": [0, 1, 2], "config_id": ["a", "b", "c"],
                          "status": "complete", "accuracy": [80.0, 90.0, 85.0],
                          "macs": [10.0, 20.0, 30.0]})
    assert hypervolume(table, SPECS, {"accuracy": 0.0, "macs": 40.0}) == pytest.approx(
        10 * 80 + 20 * 90)
    # Accuracy reference at 50: heights 30 and 40. A point beyond the reference adds nothing.
    assert hypervolume(table, SPECS, {"accuracy": 50.0, "macs": 40.0}) == pytest.approx(
        10 * 30 + 20 * 40)
    assert hypervolume(table, SPECS, {"accuracy": 95.0, "macs": 40.0}) == 0.0
    assert box_volume(SPECS, {"accuracy": 50.0, "macs": 40.0}) == 50 * 40


@pytest.mark.parametrize("dims", [2, 3])
def test_hypervolume_matches_an_exact_cell_count(dims):
    rng = np.random.default_rng(dims)
    for _ in range(15):
        points = rng.integers(0, 8, (int(rng.integers(1, 9)), dims)).astype(float)
        reference = np.full(dims, 7.0)  # some points lie on or beyond it
        assert hypervolume_of_losses(points, reference) == pytest.approx(
            exact_volume(points, reference))


# ---- the reference point -----------------------------------------------------------------------
def test_reference_is_chance_accuracy_and_the_constraint():
    limited = space(constraints={"max_macs": "30K", "max_params": "5K"},
                    objectives=[{"metric": "accuracy"}, {"metric": "macs"}, {"metric": "params"}])
    assert not needs_pool(limited)
    assert run_reference(limited) == {"accuracy": 10.0, "macs": 30_000.0, "params": 5_000.0}
    hundred = space(train={**SPACE["train"], "dataset": "cifar100", "img_size": 32},
                    constraints={"max_macs": "1M"})
    assert run_reference(hundred)["accuracy"] == pytest.approx(1.0)


def test_reference_without_a_constraint_is_above_the_first_pool():
    free = space(constraints={"max_params": "5K"},
                 objectives=[{"metric": "accuracy"}, {"metric": "params"}])
    assert needs_pool(free)  # MACs: always kept (reports and compare use them), no limit
    with pytest.raises(ValueError, match="max_macs"):
        run_reference(free)
    pool = [Cost(params=4000, trainable_params=0, macs=m) for m in (3000, 9000, 6000)]
    assert run_reference(free, pool) == {"accuracy": 10.0, "macs": pytest.approx(9900.0),
                                         "params": 5000.0}


def test_first_pool_holds_the_feasible_architectures_only():
    limited = space(constraints={"max_macs": "40K", "min_tokens": 1})

    def rejection(cfg, cost):
        return "macs > max_macs" if cost.macs > 40_000 else None

    pool = reference_pool(limited, 0, fake_cost, rejection)
    # Brute force: the 6 architectures of the grid, those within the limit.
    feasible = {cfg.id: fake_cost(cfg) for _, cfg in random_draws(limited, 200, 1)
                if check_architecture(cfg, limited) is None and fake_cost(cfg).macs <= 40_000}
    assert sorted(c.macs for c in pool) == sorted(c.macs for c in feasible.values())
    assert max(c.macs for c in pool) <= 40_000  # over-limit draws never move it


@pytest.mark.parametrize("status", ["infeasible", "duplicate", "quota"])
def test_a_rejected_giant_moves_neither_the_reference_nor_the_hypervolume(status):
    free = space()
    table = synthetic_table([1e6, 2e6, 4e6], [50, 70, 80])
    giant = synthetic_table([5e12], [float("nan")], status=[status], start=3)
    giant["accuracy"] = None
    grown = pd.concat([table, giant], ignore_index=True)
    stored = {"reference": {"accuracy": 10.0, "macs": 5e6}}
    for meta in (stored, {}):  # a stored reference, and a run that predates them
        before, _ = read_reference(meta, free, table, SPECS)
        after, note = read_reference(meta, free, grown, SPECS)
        assert before == after
        assert hypervolume(grown, SPECS, after) == hypervolume(table, SPECS, before)
        assert hypervolume_history(grown, SPECS, after)["hypervolume"].iloc[-1] == \
            pytest.approx(hypervolume(table, SPECS, before) / box_volume(SPECS, before))
    assert "predates" in note
    # A stored reference is used as stored: accuracy at chance, MACs where the run put it.
    assert read_reference(stored, free, grown, SPECS)[0] == {"accuracy": 10.0, "macs": 5e6}
    # The stand-in for older runs: the same rule with trained trials as the first pool.
    assert table_reference(free, grown) == {"accuracy": 10.0, "macs": pytest.approx(4.4e6)}


def test_latency_is_placed_from_measured_trials():
    specs = [ObjectiveSpec("accuracy", True), ObjectiveSpec("latency_ms", False)]
    table = synthetic_table([1e6, 2e6], [50, 70])
    table["latency_ms"] = [2.0, 3.0]
    reference, note = read_reference({"reference": {"accuracy": 10.0, "macs": 5e6}},
                                       space(), table, specs)
    assert reference == {"accuracy": 10.0, "latency_ms": pytest.approx(3.3), "macs": 5e6}
    assert "latency" in note


def test_common_reference_is_the_worst_of_the_runs_own():
    runs = [{"accuracy": 10.0, "macs": 5e6, "params": 1e4},
            {"accuracy": 1.0, "macs": 3e6},
            {"accuracy": 10.0, "macs": 8e6}]
    assert common_reference(runs, SPECS) == {"accuracy": 1.0, "macs": 8e6}
    with pytest.raises(ValueError, match="latency_ms"):
        common_reference(runs, [ObjectiveSpec("latency_ms", False)])


# ---- the users of the reference --------------------------------------------------------------
def test_group_comparison_measures_in_the_runs_box():
    from t2tsearch.groups import PLANE, Scale, compare_groups
    from tests.report_data import two_groups

    table = two_groups(gap=3.0, noise=0.5, per_group=6)
    scale = Scale(dataset="mnist5k", img_size=28, epochs=1, seeds=1)
    reference = {"accuracy": 10.0, "macs": 5e7}
    result = compare_groups(table, ["a", "b"], scale, bootstrap=20, reference=reference)
    assert result.reference == reference
    for stats in result.groups:
        rows = table[table["groups"] == stats.name]
        assert stats.hypervolume == pytest.approx(hypervolume(rows, list(PLANE), reference))


def test_the_cost_aware_sampler_uses_the_runs_reference():
    from t2tsearch.engine.sampler import CostAwareSampler

    limited = space(constraints={"max_macs": "40K"})

    def rejection(cfg, cost):
        return "macs > max_macs" if cost.macs > 40_000 else None

    own = CostAwareSampler(limited, fake_cost, rejection, seed=1)
    own.warm()
    assert own.reference == {"accuracy": 10.0, "macs": 40_000.0}
    given = CostAwareSampler(limited, fake_cost, rejection, seed=1,
                             reference={"accuracy": 20.0, "macs": 30_000.0})
    given.warm()  # a resumed run's reference is never recomputed
    assert given.reference == {"accuracy": 20.0, "macs": 30_000.0}
    assert given._reference_loss(0) == -20.0 and given._reference_loss(1) == 30_000.0
    # Unconstrained: 1.1 x the largest cost of its first pool (all 6 architectures here).
    free = CostAwareSampler(space(), fake_cost, lambda cfg, cost: None, seed=1)
    free.warm()
    largest = max(fake_cost(cfg).macs for _, cfg in random_draws(space(), 200, 0))
    assert free.reference == {"accuracy": 10.0, "macs": pytest.approx(1.1 * largest)}
