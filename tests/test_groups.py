"""Group comparison on synthetic tables where the answer is known: a clear win, undecidable cases,
and simulations from one accuracy-vs-MACs model that check the interval's coverage and power."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from t2tsearch.groups import (
    GRID_POINTS,
    Scale,
    compare_groups,
    group_members,
    matched_difference,
    needed_per_group,
    planned_detectable,
)
from tests.report_data import synthetic_table, two_groups

PROXY = Scale(dataset="mnist5k", img_size=28, epochs=3)


def simulated_group(rng: np.random.Generator, size: int, shift: float = 0.0, noise: float = 1.2,
                    prefix: str = "a") -> pd.DataFrame:
    """Architectures from one accuracy-vs-MACs curve: MACs log-uniform over 1M-30M, accuracy
    99 - 8 exp(-(log MACs - log 1M)) + shift + Gaussian noise (points)."""
    log_macs = rng.uniform(np.log(1e6), np.log(3e7), size)
    accuracy = 99 - 8 * np.exp(-(log_macs - np.log(1e6))) + shift + rng.normal(0, noise, size)
    return pd.DataFrame({"config_id": [f"{prefix}{i}" for i in range(size)],
                         "macs": np.exp(log_macs), "accuracy": accuracy})


def test_the_difference_is_that_of_two_least_squares_lines_over_the_shared_range():
    rng = np.random.default_rng(5)
    first, second = simulated_group(rng, 8, prefix="a"), simulated_group(rng, 11, prefix="b")
    diff = matched_difference(first, second, ("a", "b"), bootstrap=50)
    low = max(first["macs"].min(), second["macs"].min())
    high = min(first["macs"].max(), second["macs"].max())
    grid = np.log(np.geomspace(low, high, GRID_POINTS))
    # Each line fitted only to the group's architectures inside the range both cover.
    inside = [g[(g["macs"] >= low) & (g["macs"] <= high)] for g in (first, second)]
    lines = [np.polyval(np.polyfit(np.log(g["macs"]), g["accuracy"], 1), grid) for g in inside]
    assert diff.macs_low == pytest.approx(low) and diff.macs_high == pytest.approx(high)
    assert diff.counts == (len(inside[0]), len(inside[1])) and diff.counts != (8, 11)
    assert diff.difference == pytest.approx(np.mean(lines[0] - lines[1]))
    assert diff.compared_at == pytest.approx(np.exp(grid.mean()))


def test_a_clear_win_is_decided_with_an_interval_that_excludes_zero():
    table = two_groups(gap=5.0, noise=0.5)
    result = compare_groups(table, ["a", "b"], PROXY, bootstrap=300)
    diff = result.differences[0]
    assert diff.decided and diff.winner == "a"
    assert 4.0 < diff.difference < 6.0
    assert 0 < diff.ci_low <= diff.difference <= diff.ci_high
    stats = {g.name: g for g in result.groups}
    assert stats["a"].joint_front_points == result.joint_front_size > 0
    assert stats["b"].joint_front_points == 0
    assert stats["a"].hypervolume > stats["b"].hypervolume
    assert result.verdict.startswith(f"a holds {result.joint_front_size} of "
                                     f"{result.joint_front_size} points of the joint front")
    assert "more accurate than b (95% CI" in result.verdict
    assert "measured on mnist5k at 28 px, 3 epochs, 1 seed per architecture" in result.verdict


def test_the_winner_is_named_first_whichever_order_the_groups_are_listed():
    table = two_groups(gap=5.0, noise=0.5)
    result = compare_groups(table, ["b", "a"], PROXY, bootstrap=200)
    diff = result.differences[0]
    assert diff.difference < 0 and diff.winner == "a"
    assert result.verdict.startswith("a holds")
    assert "+" in result.verdict.split("it is on average ")[1][:3]


def test_groups_that_do_not_differ_are_undecided_and_the_sentence_says_so():
    table = two_groups(gap=0.0, noise=4.0, seed=3)
    result = compare_groups(table, ["a", "b"], PROXY, bootstrap=300)
    diff = result.differences[0]
    assert not diff.decided and diff.winner is None
    assert diff.ci_low <= 0 <= diff.ci_high
    assert "contains 0" in diff.undecided_because
    assert result.verdict.startswith("The data cannot tell a and b apart")


def test_too_few_trials_is_undecided():
    table = two_groups(gap=10.0, noise=0.1, per_group=5).iloc[:7]  # b keeps 2 trials
    result = compare_groups(table, ["a", "b"], PROXY, bootstrap=100)
    assert "b has only 2 full-budget architectures" in result.differences[0].undecided_because
    assert result.verdict.startswith("Cannot decide between a and b")


def test_disjoint_mac_ranges_are_undecided():
    table = synthetic_table([1e6, 2e6, 3e6, 10e6, 20e6, 30e6], [50, 55, 60, 70, 75, 80],
                            groups=["a"] * 3 + ["b"] * 3)
    diff = matched_difference(*(group_members(table, g) for g in ("a", "b")), ("a", "b"))
    assert not diff.decided and "do not overlap" in diff.undecided_because


def test_only_full_budget_trials_count_and_a_trial_may_be_in_two_groups():
    table = synthetic_table([1e6, 2e6, 3e6, 4e6], [50, 60, 99, 70],
                            groups=["a,b", "a", "b", "b"],
                            status=["complete", "complete", "stopped_early", "complete"])
    result = compare_groups(table, ["a", "b"], PROXY, bootstrap=50)
    stats = {g.name: g for g in result.groups}
    assert stats["a"].full_budget == 2 and stats["b"].full_budget == 2
    assert stats["b"].best_accuracy == 70  # the 99 was stopped early
    assert stats["a"].trials == 2 and stats["b"].trials == 3


@pytest.mark.parametrize(("scale", "cautious"), [
    (Scale("mnist5k", 28, 3), True),
    (Scale("imagenet", 224, 300, seeds=3), False),
])
def test_the_scale_is_always_stated_and_short_proxies_carry_a_caution(scale, cautious):
    table = two_groups(gap=5.0, noise=0.5)
    result = compare_groups(table, ["a", "b"], scale, bootstrap=50)
    assert scale.describe() in result.verdict
    assert bool(result.caution) == cautious
    if cautious:
        assert "ImageNet" in result.caution
    assert "3 seeds per front architecture, mean" in Scale("x", 32, 5, seeds=3).describe()


def test_the_bootstrap_is_seeded():
    table = two_groups(gap=1.0, noise=2.0)
    first = compare_groups(table, ["a", "b"], PROXY, bootstrap=100, seed=4)
    again = compare_groups(table, ["a", "b"], PROXY, bootstrap=100, seed=4)
    assert first.verdict == again.verdict


def null_coverage(rng: np.random.Generator, runs: int, make_pair) -> tuple[float, float]:
    """(share of runs with an interval, share of those whose 95% interval contains 0) over
    `runs` simulated comparisons whose true difference is 0."""
    computed = covered = 0
    for _ in range(runs):
        first, second = make_pair()
        diff = matched_difference(first, second, ("a", "b"), bootstrap=300,
                                  seed=int(rng.integers(1 << 31)))
        if diff.ci_low is None:  # too few architectures in the shared range: no winner named
            assert diff.winner is None
            continue
        computed += 1
        covered += diff.ci_low <= 0 <= diff.ci_high
    return computed / runs, covered / max(computed, 1)


@pytest.mark.parametrize("size", [8, 12])
def test_the_95_interval_covers_zero_when_both_groups_come_from_one_model(size):
    # 200 simulated comparisons where the truth is 0: a 95% interval must contain it in about
    # 190; the old front-based interval named a winner in 18% (6 per group) and 8% (12).
    rng = np.random.default_rng(size)
    computed, covered = null_coverage(rng, 200, lambda: (
        simulated_group(rng, size, prefix="a"), simulated_group(rng, size, prefix="b")))
    assert computed >= 0.9 and covered >= 0.93


def ranged_group(rng: np.random.Generator, size: int, low: float, high: float,
                 prefix: str, shift: float = 0.0, noise: float = 0.6) -> pd.DataFrame:
    """simulated_group's curved truth, with MACs log-uniform over low-high."""
    log_macs = rng.uniform(np.log(low), np.log(high), size)
    accuracy = 99 - 8 * np.exp(-(log_macs - np.log(1e6))) + shift + rng.normal(0, noise, size)
    return pd.DataFrame({"config_id": [f"{prefix}{i}" for i in range(size)],
                         "macs": np.exp(log_macs), "accuracy": accuracy})


def test_groups_over_different_mac_ranges_of_a_curved_truth_are_compared_like_with_like():
    # One group over 1-4M MACs, the other over 2-30M, on one curved truth: a line fitted over
    # each group's whole range would differ by the curve's bend (its interval covered 0 in 92%
    # of these runs); fitted over the shared 2-4M alone, the two see the same piece of curve.
    rng = np.random.default_rng(21)
    computed, covered = null_coverage(rng, 400, lambda: (
        ranged_group(rng, 12, 1e6, 4e6, "a"), ranged_group(rng, 24, 2e6, 3e7, "b")))
    assert computed >= 0.75 and covered >= 0.93


def test_a_true_difference_of_6_points_is_found_and_the_winner_is_right():
    rng = np.random.default_rng(11)
    winners = []
    for _ in range(50):
        diff = matched_difference(simulated_group(rng, 10, prefix="b"),
                                  simulated_group(rng, 10, shift=6.0, prefix="a"), ("b", "a"),
                                  bootstrap=300, seed=int(rng.integers(1 << 31)))
        winners.append(diff.winner)
    assert winners.count("a") >= 45 and "b" not in winners


def test_a_named_winner_is_on_the_side_of_the_truth():
    # Simulations whose truth is known: first leads by 3 points, or trails by 3. A winner the
    # verdict names must be the group that truly leads (a wrong one at most 2.5% of the time, as
    # the 95% interval allows), and the verdict must name one in most runs at this size; where
    # it names none, the interval contains 0. The interval itself is checked against the same
    # truths: the estimate sits inside it.
    rng = np.random.default_rng(2)
    named = wrong = 0
    for shift in (-3.0, 3.0) * 40:
        diff = matched_difference(simulated_group(rng, 12, shift=shift, noise=1.0, prefix="a"),
                                  simulated_group(rng, 12, prefix="b"), ("a", "b"),
                                  bootstrap=200, seed=int(rng.integers(1 << 31)))
        assert diff.ci_low <= diff.difference <= diff.ci_high
        if diff.winner is None:
            assert not diff.decided and diff.ci_low <= 0 <= diff.ci_high
            continue
        assert diff.decided
        named += 1
        wrong += diff.winner != ("a" if shift > 0 else "b")
    assert named >= 60 and wrong <= 2, (named, wrong)


def seeded_group(rng: np.random.Generator, size: int, seeds: int, seed_noise: float,
                 prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated group whose architectures were each trained on `seeds` seeds: the table holds
    the mean (as after confirm), the runs every seed's accuracy."""
    table = simulated_group(rng, size, noise=0.5, prefix=prefix)
    runs = pd.DataFrame([{"config_id": row.config_id, "seed": s,
                          "accuracy": row.accuracy + rng.normal(0, seed_noise)}
                         for row in table.itertuples() for s in range(seeds)])
    means = runs.groupby("config_id")["accuracy"].mean()
    return table.assign(accuracy=table["config_id"].map(means)), runs


def test_seed_runs_are_resampled_inside_each_architecture():
    rng = np.random.default_rng(4)
    first, first_runs = seeded_group(rng, 6, seeds=3, seed_noise=4.0, prefix="a")
    second, second_runs = seeded_group(rng, 6, seeds=3, seed_noise=4.0, prefix="b")
    runs = pd.concat([first_runs, second_runs])
    # With the runs given, an architecture counts as the mean of its seeds, whatever the table
    # says: here the table holds seed 0's accuracy alone, as a run's table does before confirm.
    # The reference: numpy's least-squares line through each group's seed means, read at the
    # middle of the shared range in log MACs.
    seed0 = runs[runs["seed"] == 0].set_index("config_id")["accuracy"]
    tables = [g.assign(accuracy=g["config_id"].map(seed0)) for g in (first, second)]
    with_seeds = matched_difference(*tables, ("a", "b"), bootstrap=500, seed_runs=runs)
    low = max(first["macs"].min(), second["macs"].min())
    high = min(first["macs"].max(), second["macs"].max())
    means = runs.groupby("config_id")["accuracy"].mean()
    lines = []
    for group in (first, second):
        inside = group[(group["macs"] >= low) & (group["macs"] <= high)]
        slope, intercept = np.polyfit(np.log(inside["macs"]), inside["config_id"].map(means), 1)
        lines.append(intercept + slope * (np.log(low) + np.log(high)) / 2)
    assert with_seeds.difference == pytest.approx(lines[0] - lines[1])
    seed0_only = matched_difference(*tables, ("a", "b"), bootstrap=500)
    assert abs(seed0_only.difference - with_seeds.difference) > 0.1  # the check can tell
    # The seeds' spread enters the interval: wider than the same means without their runs.
    means_only = matched_difference(first, second, ("a", "b"), bootstrap=500)
    assert (with_seeds.ci_high - with_seeds.ci_low) > (means_only.ci_high - means_only.ci_low)


def test_with_seed_runs_the_interval_still_covers_zero():
    rng = np.random.default_rng(8)
    covered = 0
    for _ in range(200):
        first, first_runs = seeded_group(rng, 10, seeds=3, seed_noise=3.0, prefix="a")
        second, second_runs = seeded_group(rng, 10, seeds=3, seed_noise=3.0, prefix="b")
        diff = matched_difference(first, second, ("a", "b"), bootstrap=300,
                                  seed=int(rng.integers(1 << 31)),
                                  seed_runs=pd.concat([first_runs, second_runs]))
        covered += diff.ci_low is None or diff.ci_low <= 0 <= diff.ci_high
    assert covered >= 186


# ---- equivalence and power, against simulations whose truth is known --------------------------
def evenly_spread_group(rng: np.random.Generator, size: int, shift: float, noise: float,
                        prefix: str) -> pd.DataFrame:
    """A straight truth over 1-30M MACs at evenly spaced costs: both groups cover one range, so
    every architecture is in it, as the planned figure assumes."""
    log_macs = np.linspace(np.log(1e6), np.log(3e7), size)
    accuracy = 80 + 3 * (log_macs - np.log(1e6)) + shift + rng.normal(0, noise, size)
    return pd.DataFrame({"config_id": [f"{prefix}{i}" for i in range(size)],
                         "macs": np.exp(log_macs), "accuracy": accuracy})


def simulate(truth: float, size: int, noise: float, runs: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [matched_difference(evenly_spread_group(rng, size, truth, noise, "a"),
                               evenly_spread_group(rng, size, 0.0, noise, "b"), ("a", "b"),
                               bootstrap=300, seed=int(rng.integers(1 << 31)))
            for _ in range(runs)]


def test_equal_groups_are_called_equivalent_and_groups_a_margin_apart_rarely_are():
    # Truth 0 with little noise: the 90% interval lies inside +-1 point nearly always. Truth
    # exactly at the margin: two one-sided tests at 5% may call it equivalent in 5% of runs.
    equal = simulate(0.0, 12, 0.6, 200, seed=1)
    assert np.mean([d.equivalent for d in equal]) >= 0.9
    at_margin = simulate(1.0, 12, 0.6, 400, seed=2)
    assert np.mean([d.equivalent for d in at_margin]) <= 0.08
    noisy = simulate(0.0, 8, 2.0, 100, seed=3)  # too noisy to claim anything
    assert np.mean([d.equivalent for d in noisy]) <= 0.05


def test_the_detectable_difference_is_found_with_about_80_percent_power():
    # The planned figure for 12 architectures per group scattering 1.2 points, then that
    # difference simulated: the right winner in about 80% of runs, and the figure each run
    # states from its own scatter agrees with the plan.
    planned = planned_detectable(12, 1.2)
    runs = simulate(planned, 12, 1.2, 300, seed=4)
    power = np.mean([d.winner == "a" for d in runs])
    assert 0.7 <= power <= 0.9, power
    assert np.median([d.detectable for d in runs]) == pytest.approx(planned, rel=0.15)
    # Half the difference is found far less often; 4 architectures per group detect only a
    # much larger one.
    assert np.mean([d.winner == "a" for d in simulate(planned / 2, 12, 1.2, 200, seed=5)]) < 0.45
    assert planned_detectable(4, 1.2) > 2 * planned and planned_detectable(2, 1.2) is None


def test_needed_per_group_inverts_the_plan():
    needed = needed_per_group(1.5, 1.0)
    assert planned_detectable(needed, 1.5) <= 1.0 < planned_detectable(needed - 1, 1.5)


def test_an_undecided_verdict_says_what_it_could_detect_and_what_would_decide():
    table = two_groups(gap=0.0, noise=4.0, seed=3)
    result = compare_groups(table, ["a", "b"], PROXY, bootstrap=300)
    diff = result.differences[0]
    assert not diff.decided and not diff.equivalent
    assert f"detects a true difference of {diff.detectable:.1f} points with 80% power" in \
        result.verdict
    assert f"About {needed_per_group(diff.scatter, 1.0)} architectures per group" in result.verdict


def test_equivalent_groups_get_a_sentence_that_says_so():
    table = two_groups(gap=0.0, noise=0.2, seed=1, per_group=10)
    result = compare_groups(table, ["a", "b"], PROXY, bootstrap=300)
    diff = result.differences[0]
    assert diff.equivalent and -1 < diff.tost_low <= diff.tost_high < 1
    assert result.verdict.startswith("a and b are equivalent within +-1 points: comparing the")
    assert "two one-sided tests at 5%" in result.verdict
