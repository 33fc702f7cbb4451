"""Pareto-aware successive halving: cheap models that lead at their cost survive the rungs."""

from __future__ import annotations

import numpy as np
from ray.tune.schedulers import TrialScheduler

from t2tsearch.engine.pareto_asha import ParetoASHA, RungMetric, crowding_distance, strictly_ahead

METRICS = [RungMetric("accuracy", True), RungMetric("macs", False)]


def _scheduler(**kwargs) -> ParetoASHA:
    return ParetoASHA(METRICS, max_t=kwargs.pop("max_t", 9), grace_period=1, reduction_factor=3,
                      **kwargs)


def test_rungs_follow_grace_period_and_reduction_factor():
    assert _scheduler().rungs == [1, 3]
    assert ParetoASHA(METRICS, max_t=2, grace_period=1, reduction_factor=2).rungs == [1]


def test_small_pareto_optimal_model_is_kept_where_single_metric_asha_would_stop_it():
    scheduler = _scheduler()
    # Three big accurate models reach rung 1 first.
    for index, accuracy in enumerate([90.0, 91.0, 92.0]):
        scheduler.decide(f"big{index}", 1, {"accuracy": accuracy, "macs": 100e6})
    # A tiny model: far less accurate, 50x cheaper. Accuracy-only ASHA (keep top third of 4
    # = 2 by accuracy) would stop it; on the (accuracy, MACs) front it is non-dominated.
    assert scheduler.decide("tiny", 1, {"accuracy": 60.0, "macs": 2e6}) == TrialScheduler.CONTINUE
    # A model dominated by the tiny one (less accurate and dearer) is stopped.
    assert scheduler.decide("bad", 1, {"accuracy": 50.0, "macs": 5e6}) == TrialScheduler.STOP
    assert scheduler.stopped == {"bad"}


def test_dominated_model_among_many_is_stopped_and_ranking_uses_every_trial_at_the_rung():
    scheduler = _scheduler()
    for index in range(6):
        # A front: accuracy rises with MACs.
        scheduler.decide(f"f{index}", 1, {"accuracy": 50.0 + 5 * index, "macs": (index + 1) * 1e6})
    verdict = scheduler.decide("worse", 1, {"accuracy": 52.0, "macs": 4e6})
    assert verdict == TrialScheduler.STOP


def test_a_trial_is_judged_once_per_rung_and_only_at_rungs():
    scheduler = _scheduler()
    assert scheduler.decide("a", 0, {"accuracy": 10.0, "macs": 1.0}) == TrialScheduler.CONTINUE
    assert scheduler.recorded[1] == {}
    scheduler.decide("a", 1, {"accuracy": 10.0, "macs": 1.0})
    scheduler.decide("a", 2, {"accuracy": 10.0, "macs": 1.0})
    assert list(scheduler.recorded[1]) == ["a"] and scheduler.recorded[3] == {}


def test_diverged_metric_ranks_last():
    scheduler = _scheduler()
    scheduler.decide("ok", 1, {"accuracy": 20.0, "macs": 5.0})
    assert scheduler.decide("nan", 1, {"accuracy": float("nan"), "macs": 5.0}) == TrialScheduler.STOP


def test_final_and_last_epoch_results_are_never_stopped():
    class Trial:
        trial_id = "t"

    scheduler = _scheduler()
    assert scheduler.on_trial_result(None, Trial(), {"epoch": 9, "accuracy": 0.0, "macs": 9.0}) \
        == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, Trial(), {"epoch": 1, "final": True}) \
        == TrialScheduler.CONTINUE


def test_crowding_and_ties():
    losses = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    distance = crowding_distance(losses)
    assert np.isinf(distance[0]) and np.isinf(distance[3]) and np.isfinite(distance[1])
    # Two non-dominated points tie: neither is strictly ahead of the other.
    pair = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert strictly_ahead(pair, 0) == 0 and strictly_ahead(pair, 1) == 0


def test_group_brackets_never_stop_a_slow_group_for_trailing_a_fast_one():
    fast = [{"accuracy": 80.0 + i, "macs": 1e6 * (i + 1)} for i in range(3)]
    # The slow group's trials trail every fast one at equal or lower cost.
    slow = [{"accuracy": 40.0 + 5 * i, "macs": 1e6 * (i + 1) + 5e5} for i in range(3)]

    def verdicts(by_group: bool) -> list[str]:
        scheduler = ParetoASHA(METRICS, max_t=9, by_group=by_group)
        for index, result in enumerate(fast):
            scheduler.decide(f"fast{index}", 1, result, groups=("shallow_wide",))
        return [scheduler.decide(f"slow{index}", 1, result, groups=("deep_narrow",))
                for index, result in enumerate(slow)]

    # One bracket for all: the slow trials are dominated and stopped.
    assert verdicts(by_group=False).count(TrialScheduler.STOP) >= 2
    # A bracket per group: ranked among their own, each is on its group's front and goes on.
    assert verdicts(by_group=True) == [TrialScheduler.CONTINUE] * 3


def test_bracket_is_the_exact_set_of_groups_and_protected_trials_go_on():
    scheduler = ParetoASHA(METRICS, max_t=9, by_group=True)
    for index in range(4):
        scheduler.decide(f"a{index}", 1, {"accuracy": 50.0 + 10 * index, "macs": 1e6},
                         groups=("a",))
    # In no group: a bracket of its own, so a poor trial alone there goes on.
    assert scheduler.decide("none", 1, {"accuracy": 1.0, "macs": 2e6}) == TrialScheduler.CONTINUE
    # Dominated in its bracket, but filling its group's quota: recorded and never stopped.
    assert scheduler.decide("quota", 1, {"accuracy": 10.0, "macs": 2e6}, groups=("a",),
                            protected=True) == TrialScheduler.CONTINUE
    assert "quota" in scheduler.recorded[1]
    # The recorded quota trial ranks the next one of its bracket: the worst is stopped.
    assert scheduler.decide("worst", 1, {"accuracy": 5.0, "macs": 3e6}, groups=("a",)) \
        == TrialScheduler.STOP


def test_groups_and_quota_reach_the_scheduler_through_the_trial_config():
    class Trial:
        trial_id = "slow"
        config = {"groups": ["deep_narrow"], "fills_quota": True}

    scheduler = ParetoASHA(METRICS, max_t=9, by_group=True)
    scheduler.decide("fast", 1, {"accuracy": 90.0, "macs": 1.0}, groups=("shallow_wide",))
    scheduler.decide("fast2", 1, {"accuracy": 91.0, "macs": 1.0}, groups=("deep_narrow",))
    result = {"epoch": 1, "accuracy": 10.0, "macs": 5.0}
    assert scheduler.on_trial_result(None, Trial(), result) == TrialScheduler.CONTINUE
    assert scheduler.bracket_of["slow"] == ("deep_narrow",)


def test_a_trial_trained_again_is_one_competitor_judged_once_per_rung():
    # A retry after a lost worker is a new Tune trial of the same search trial (trial_number):
    # it must not rank against its own lost attempt, nor be judged again at a rung it passed.
    class Attempt:
        def __init__(self, trial_id: str) -> None:
            self.trial_id, self.config = trial_id, {"trial_number": 7}

    scheduler = _scheduler()
    for i in range(2):  # two others at rung 1, both well behind
        scheduler.decide(f"other{i}", 1, {"accuracy": 10.0, "macs": 9.0})
    first = {"epoch": 1, "accuracy": 50.0, "macs": 1.0}
    assert scheduler.on_trial_result(None, Attempt("ray-1"), first) == TrialScheduler.CONTINUE
    # Its retry, from scratch and this time worse at epoch 1: it passed rung 1 already.
    again = {"epoch": 1, "accuracy": 5.0, "macs": 9.5}
    assert scheduler.on_trial_result(None, Attempt("ray-2"), again) == TrialScheduler.CONTINUE
    assert len(scheduler.recorded[1]) == 3
