"""Group comparison on synthetic tables where the answer is known: a clear win, undecidable cases."""

from __future__ import annotations

import numpy as np
import pytest

from t2tsearch.groups import Scale, attainment, compare_groups, group_members, matched_difference
from tests.report_data import synthetic_table, two_groups

PROXY = Scale(dataset="mnist5k", img_size=28, epochs=3)


def test_attainment_is_the_best_accuracy_at_or_below_each_cost():
    macs = np.array([3.0, 1.0, 2.0, 5.0])
    accuracy = np.array([70.0, 50.0, 40.0, 65.0])
    grid = np.array([0.5, 1.0, 2.5, 3.0, 10.0])
    result = attainment(macs, accuracy, grid)
    assert np.isnan(result[0])
    assert result[1:].tolist() == [50.0, 50.0, 70.0, 70.0]


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
    assert "+" in result.verdict.split("it is ")[1][:3]


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
