"""Proxy fidelity on synthetic runs with known accuracies, checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from t2tsearch.fidelity import FLIPS, HOLDS, UNDECIDED, measure_fidelity
from t2tsearch.groups import Scale
from tests.report_data import synthetic_table

SCALE = Scale("mnist5k", 28, 3)


def records(rows: list[tuple[str, int, int, str, float | None]]) -> pd.DataFrame:
    """Confirmation records (config_id, seed, epochs, status, accuracy) as load_confirmations
    returns them."""
    return pd.DataFrame([{"config_id": c, "seed": s, "epochs": e, "role": "front",
                          "status": st, "accuracy": a, "seconds": 1.0, "reason": ""}
                         for c, s, e, st, a in rows])


def brute_tau(x: list[float], y: list[float]) -> float:
    """Kendall's tau without ties: (concordant - discordant) pairs over all pairs."""
    concordant = discordant = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        sign = (x[i] - x[j]) * (y[i] - y[j])
        concordant += sign > 0
        discordant += sign < 0
    return (concordant - discordant) / (len(x) * (len(x) - 1) / 2)


def brute_non_dominated(acc: list[float], macs: list[float]) -> set[int]:
    return {i for i in range(len(acc))
            if not any(acc[j] >= acc[i] and macs[j] <= macs[i]
                       and (acc[j] > acc[i] or macs[j] < macs[i]) for j in range(len(acc)))}


@pytest.mark.parametrize("seed", range(5))
def test_tau_and_front_kept_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 12
    macs = rng.permutation(np.arange(1, n + 1)) * 1e6
    proxy = rng.permutation(n) * 2.5 + 40.0
    table = synthetic_table(macs, proxy)
    ids = list(table["config_id"])
    trained = sorted(rng.choice(n, size=8, replace=False))  # K = 8 of the 12 reach 15 epochs
    ranks = rng.permutation(8)  # distinct values: no ties, so tau-b is the plain count
    longer = {i: 80.0 + float(ranks[k]) for k, i in enumerate(trained)}
    rows = [(ids[i], 0, 15, "complete", longer[i]) for i in trained]
    # Noise the measure must ignore: a failed training, the run's own budget, an unknown id.
    rows += [(ids[trained[0]], 1, 15, "diverged", None), (ids[trained[1]], 1, 3, "complete", 1.0),
             ("not-in-run", 0, 15, "complete", 99.0)]
    [fidelity] = measure_fidelity(table, records(rows), proxy_epochs=3)
    assert fidelity.epochs == 15 and fidelity.architectures == 8 and fidelity.failed == 1
    x = [float(proxy[i]) for i in trained]
    y = [longer[i] for i in trained]
    assert fidelity.tau == pytest.approx(brute_tau(x, y))
    assert 0 <= fidelity.p_value <= 1
    k_macs = [float(macs[i]) for i in trained]
    proxy_front = brute_non_dominated(x, k_macs)
    kept = proxy_front & brute_non_dominated(y, k_macs)
    assert (fidelity.proxy_front, fidelity.front_kept) == (len(proxy_front), len(kept))
    assert fidelity.sentence() == (f"proxy fidelity: tau = {brute_tau(x, y):.2f} over 8 "
                                   f"architectures (3 vs 15 epochs)")


def test_seeds_at_a_longer_budget_are_averaged_and_budgets_are_kept_apart():
    table = synthetic_table([1e6, 2e6, 3e6], [50, 60, 70])
    rows = [("id0000", 0, 9, "complete", 90.0), ("id0000", 1, 9, "complete", 70.0),
            ("id0001", 0, 9, "complete", 85.0), ("id0002", 0, 9, "complete", 60.0),
            ("id0000", 0, 30, "complete", 95.0), ("id0001", 0, 30, "complete", 96.0)]
    by_budget = {f.epochs: f for f in measure_fidelity(table, records(rows), proxy_epochs=3)}
    assert sorted(by_budget) == [9, 30]
    nine = by_budget[9].accuracies.set_index("config_id")
    assert nine.loc["id0000", "accuracy"] == pytest.approx(80.0) and nine.loc["id0000", "seeds"] == 2
    assert nine.loc["id0000", "proxy_accuracy"] == 50
    # 9 epochs: 80, 85, 60 against 50, 60, 70: one concordant pair of three.
    assert by_budget[9].tau == pytest.approx((1 - 2) / 3)
    assert by_budget[30].architectures == 2 and by_budget[30].tau == pytest.approx(1.0)
    # At the proxy all three are non-dominated (more MACs, more accuracy); at 9 epochs id0002
    # (60%, 3M MACs) is dominated by id0001 (85%, 2M).
    assert (by_budget[9].proxy_front, by_budget[9].front_kept) == (3, 2)


def two_group_fidelity(proxy_gap: float, longer_gap: float | None) -> str:
    """Groups a and b of six each over one MAC range; a leads b by the gap at each budget (None:
    the longer budget gives both groups the same accuracies, which no interval can separate)."""
    macs = np.geomspace(1e6, 3e7, 6)
    trend = 60 + 8 * np.log10(macs / 1e6)
    all_macs = np.concatenate([macs * 0.99, macs])
    # Noise-free data would make any gap, however small, decided: both budgets wiggle.
    wiggle = np.array([0.3, -0.2, 0.1, -0.3, 0.2, 0.0])
    table = synthetic_table(all_macs, np.concatenate([trend + proxy_gap + wiggle,
                                                      trend + wiggle[::-1]]),
                            groups=["a"] * 6 + ["b"] * 6)
    if longer_gap is None:
        longer = np.concatenate([trend + wiggle, trend - wiggle])
    else:
        longer = np.concatenate([trend + longer_gap + wiggle, trend + wiggle[::-1]])
    rows = [(cid, 0, 15, "complete", float(acc))
            for cid, acc in zip(table["config_id"], longer, strict=True)]
    [fidelity] = measure_fidelity(table, records(rows), 3, ["a", "b"], SCALE, bootstrap=300)
    [pair] = fidelity.pairs
    assert fidelity.comparison.scale.epochs == 15 and fidelity.proxy_comparison.scale.epochs == 3
    return pair.status


def test_group_verdict_holds_flips_or_is_undecided():
    assert two_group_fidelity(proxy_gap=5.0, longer_gap=4.0) == HOLDS
    assert two_group_fidelity(proxy_gap=5.0, longer_gap=-4.0) == FLIPS
    assert two_group_fidelity(proxy_gap=5.0, longer_gap=None) == UNDECIDED
    assert two_group_fidelity(proxy_gap=0.0, longer_gap=4.0) == UNDECIDED


def test_no_longer_budget_means_nothing_measured():
    table = synthetic_table([1e6, 2e6], [50, 60])
    assert measure_fidelity(table, records([("id0000", 1, 3, "complete", 55.0)]), 3) == []
