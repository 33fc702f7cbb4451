"""The search driver's guards, driven by hand as Ray Tune would drive them, without starting Ray."""

from __future__ import annotations

import pytest
import yaml

import t2tsearch.engine.search as search
import t2tsearch.engine.search.tune_loop as tune_loop
from t2tsearch.arch import ArchConfig
from t2tsearch.cli import main
from t2tsearch.engine.search import QUOTA_DRAWS, QUOTA_PATIENCE
from t2tsearch.space import check_architecture, load_space, random_draws
from tests.test_search import GROUPED_SPACE, TINY_SPACE, drive_by_hand, write_space


def drive(tmp_path, space_data: dict, fixed: dict, trials: int):
    """A searcher whose sampler proposes `fixed` every time, each trial completing at once."""
    path = tmp_path / f"{space_data['name']}.yaml"
    path.write_text(yaml.safe_dump(space_data, sort_keys=False))
    space = load_space(path)
    searcher, configs, table, lines = drive_by_hand(tmp_path, space, "run", fixed, trials)
    return searcher, space, configs, table, lines


def test_the_quota_fallback_skips_members_that_cannot_be_built(tmp_path):
    # The first soft split's kernel is searched: kernel 3 with padding 2 cannot be built, so
    # half of the short group's random members are infeasible, and counting one raises.
    parameters = {**GROUPED_SPACE["parameters"],
                  "t2t.soft_splits.0.kernel": {"choice": [3, 7]}}
    # Seed 0: the fallback's first three members of 'rare' are infeasible (checked below). Two
    # trials, so a quota of 1 each ('rare' has one feasible architecture).
    data = {**GROUPED_SPACE, "parameters": parameters,
            "search": {**GROUPED_SPACE["search"], "seed": 0, "trials": 2}}
    fixed = {"backbone.depth": 1, "backbone.head_dim": 8, "t2t.soft_splits.0.kernel": 7}
    searcher, space, configs, table, _ = drive(tmp_path, data, fixed, trials=2)
    assert space.group_quota == 1
    # The test reaches the case: the fallback's draws (seeded by the trials so far: 1 complete,
    # QUOTA_PATIENCE rejected) meet an infeasible member of 'rare' before a feasible one.
    draws = random_draws(space, QUOTA_DRAWS, space.search.seed + 1 + QUOTA_PATIENCE)
    rare = [cfg for _, cfg in draws if "rare" in space.groups_of(cfg)]
    assert [check_architecture(cfg, space) is not None for cfg in rare[:4]] == [True] * 3 + [False]
    # The search went on: a feasible member of 'rare' was queued and trained.
    assert [c["groups"] for c in configs] == [["common"], ["rare"]]
    assert check_architecture(ArchConfig.from_json(configs[1]["arch"]), space) is None
    assert searcher.budget_left == 0 and not searcher.gate.out_of_reach
    assert (table["status"] == "quota").sum() == QUOTA_PATIENCE


def past_the_reference(*args, **kwargs):
    raise RuntimeError("the run went past choosing its reference")


@pytest.mark.parametrize("sampler", ["ehvi", "random"])
def test_a_space_where_nothing_fits_is_one_line_and_leaves_no_run(tmp_path, capsys, monkeypatch,
                                                                  sampler):
    # No MAC limit, so the reference is placed from a pool of feasible draws: none has so few
    # parameters.
    data = {**TINY_SPACE, "name": "nothing", "constraints": {"max_params": 10},
            "search": {**TINY_SPACE["search"], "sampler": sampler}}
    path = tmp_path / "nothing.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "runs"
    # The error comes before any trial needs Ray; a run that went past it fails at once instead.
    monkeypatch.setattr(tune_loop, "start_ray", lambda address, verbose: None)
    monkeypatch.setattr(tune_loop, "StudySearcher", past_the_reference)
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{path}: parameters: no feasible architecture" in err
    assert not out.exists() or not any(out.iterdir())


def sharing_searcher(tmp_path, gpus: float, trials: int = 2):
    """A Ray-free searcher of the tiny space whose trials ask for `gpus` GPUs each, and its
    progress lines."""
    from t2tsearch.engine.search import Progress, StudySearcher, open_study
    from t2tsearch.results import RunDir
    from tests.test_search import write_space

    space = search.apply_overrides(load_space(write_space(tmp_path)),
                                   {"gpus_per_trial": gpus, "trials": trials}, "tiny.yaml")
    run = RunDir.create(tmp_path, f"gpus-{gpus}")
    run.space_file.write_text(space.to_yaml())
    lines: list[str] = []
    searcher = StudySearcher(space, open_study(run, space, create=True), run,
                             budget_left=trials, progress=Progress(trials, lines.append))
    return searcher, run, lines


OOM = {"final": True, "status": "oom", "epoch": 0, "accuracy_curve": [],
       "reason": "out of memory on cuda: CUDA out of memory. Tried to allocate 2.00 GiB"}
DONE = {"final": True, "status": "complete", "epoch": 1, "accuracy": 61.0,
        "accuracy_curve": [61.0], "seconds": 2.0, "device": "cuda:0 (NVIDIA H200, Ray GPU 0)"}


def test_out_of_memory_on_a_shared_gpu_is_trained_again_alone(tmp_path):
    # Whether a trial sharing a GPU runs out of memory depends on its neighbours: before, `oom`
    # was recorded as the architecture's result at once.
    from t2tsearch.results import load_trials

    searcher, run, lines = sharing_searcher(tmp_path, 0.25)
    first = searcher.suggest("ray-1")
    searcher.on_trial_complete("ray-1", dict(OOM), error=False)
    assert load_trials(run.path)["status"].tolist() == ["running"]  # not recorded yet
    assert lines == ["trial 0 ran out of memory sharing a GPU (0.25 each): trained again alone "
                     "on a whole GPU"]
    again = searcher.suggest("ray-2")  # the retry comes before any new proposal
    assert again == {**first, "alone": True} and searcher.budget_left == 1
    from t2tsearch.engine.resources import TrialRequest
    from t2tsearch.engine.search import resources_of

    request = TrialRequest(1, 0.25)
    assert resources_of(request, again).required_resources == {"CPU": 1, "GPU": 1}
    assert resources_of(request, first).required_resources == {"CPU": 1, "GPU": 0.25}
    # No new trial takes a fraction of a GPU while the retry waits for a whole one.
    assert searcher.suggest("ray-3") is None and searcher.budget_left == 1
    searcher.on_trial_complete("ray-2", dict(DONE), error=False)
    assert not searcher.suggest("ray-4").get("alone") and searcher.budget_left == 0
    row = load_trials(run.path).iloc[0]
    assert row["status"] == "complete" and row["accuracy"] == 61.0
    trial = searcher.study.trials[0]
    assert trial.user_attrs["retried_alone"] and "CUDA out of memory" in trial.user_attrs[
        "oom_shared"]
    assert trial.user_attrs["device"] == "cuda:0 (NVIDIA H200, Ray GPU 0)"


def test_out_of_memory_alone_too_is_the_architecture_s_result(tmp_path):
    from t2tsearch.results import load_trials

    searcher, run, _ = sharing_searcher(tmp_path, 0.5, trials=1)
    searcher.suggest("ray-1")
    # The budget is spent, but a trial sharing a GPU may still need its retry: Tune is told to
    # ask again (None), not that the search is finished.
    assert searcher.suggest("ray-x") is None
    searcher.on_trial_complete("ray-1", dict(OOM), error=False)
    assert searcher.suggest("ray-2")["alone"]
    from ray.tune.search import Searcher

    assert searcher.suggest("ray-y") is None  # while the retry runs
    searcher.on_trial_complete("ray-2", dict(OOM), error=False)
    assert searcher.suggest("ray-z") == Searcher.FINISHED  # the retry alone gets no retry
    row = load_trials(run.path).iloc[0]
    assert row["status"] == "oom" and "alone on a whole GPU too" in row["reason"]


def test_out_of_memory_on_a_gpu_of_its_own_is_recorded_at_once(tmp_path):
    from t2tsearch.results import load_trials

    for gpus in (0, 1):
        searcher, run, _ = sharing_searcher(tmp_path, gpus, trials=1)
        searcher.suggest("ray-1")
        searcher.on_trial_complete("ray-1", dict(OOM), error=False)
        assert load_trials(run.path)["status"].tolist() == ["oom"]


# ---- a worker that died is trained again; an exception is not --------------------------------
def retrying_searcher(tmp_path, trials: int = 2, **search_settings):
    """A Ray-free searcher of the tiny space (search settings overridden), its run and lines."""
    from t2tsearch.engine.search import Progress, StudySearcher, open_study
    from t2tsearch.results import RunDir
    from tests.test_search import write_space

    space = search.apply_overrides(load_space(write_space(tmp_path)),
                                   {"trials": trials, **search_settings}, "tiny.yaml")
    run = RunDir.create(tmp_path, "retrying")
    run.space_file.write_text(space.to_yaml())
    lines: list[str] = []
    searcher = StudySearcher(space, open_study(run, space, create=True), run,
                             budget_left=trials, progress=Progress(trials, lines.append))
    return searcher, run, lines


NODE_A = "a1" * 28
EPOCH_1 = {"epoch": 1, "accuracy": 30.0, "epoch_seconds": 1.0, "final": False, "node": NODE_A}


def lose(searcher, ray_id: str, text: str) -> None:
    """Tune's two calls for a failed trial: the searcher's, then the callback's with its text."""
    searcher.on_trial_complete(ray_id, None, error=True)
    searcher.trial_errored(ray_id, text)


def test_a_trial_whose_worker_died_is_trained_again_and_uses_one_trial(tmp_path):
    # Before: recorded `failed` ("the trial raised an error"), a trial of the budget used up,
    # never trained again.
    from ray.tune.search import Searcher

    from t2tsearch.results import load_trials, status_counts
    from tests.ray_errors import KILLED

    searcher, run, lines = retrying_searcher(tmp_path, trials=2)
    first = searcher.suggest("ray-1")
    searcher.on_trial_result("ray-1", dict(EPOCH_1))
    lose(searcher, "ray-1", KILLED)
    assert load_trials(run.path)["status"].tolist() == ["running"]  # nothing recorded yet
    assert lines == [f"trial 0 lost: its worker process died (killed: SIGKILL or the kernel's "
                     f"OOM killer?) (on node {NODE_A[:8]}); trained again (retry 1 of 2)"]
    assert searcher.suggest("ray-2") == first  # the same architecture, before any new one
    assert searcher.budget_left == 1
    searcher.on_trial_complete("ray-2", {**DONE, "node": "b2" * 28}, error=False)
    second = searcher.suggest("ray-3")
    assert second["trial_number"] == 1 and searcher.budget_left == 0
    searcher.on_trial_complete("ray-3", dict(DONE), error=False)
    assert searcher.suggest("ray-4") == Searcher.FINISHED
    table = load_trials(run.path)
    # Two trials for a budget of two: the lost attempt was not a trial of its own.
    assert status_counts(table) == {"complete": 2}
    row = table.iloc[0]
    assert row["retries"] == 1 and row["node"] == "b2" * 28
    assert row["reason"] == (f"trained again after: its worker process died (killed: SIGKILL or "
                             f"the kernel's OOM killer?) (on node {NODE_A[:8]})")
    assert table.iloc[1]["retries"] == 0
    assert lines[1].startswith("[  1/2] trial   0") and "complete after 1 retry" in lines[1]


def test_a_trial_that_raised_is_not_trained_again(tmp_path):
    from t2tsearch.results import load_trials
    from tests.ray_errors import RAISED

    searcher, run, _ = retrying_searcher(tmp_path, trials=2)
    searcher.suggest("ray-1")
    lose(searcher, "ray-1", RAISED)
    assert searcher.suggest("ray-2")["trial_number"] == 1  # a new proposal, not a retry
    row = load_trials(run.path).iloc[0]
    assert row["status"] == "failed" and row["retries"] == 0
    assert row["reason"] == "raised ValueError: its node has died of boredom"


def test_a_trial_lost_past_its_retries_is_lost_and_counted_failed(tmp_path):
    from t2tsearch.results import describe_counts, load_trials, status_counts
    from tests.ray_errors import KILLED, NODE_LOST

    searcher, run, lines = retrying_searcher(tmp_path, trials=1, max_retries=1)
    first = searcher.suggest("ray-1")
    lose(searcher, "ray-1", NODE_LOST)
    assert searcher.suggest("ray-2") == first
    lose(searcher, "ray-2", KILLED)
    table = load_trials(run.path)
    row = table.iloc[0]
    assert row["status"] == "lost" and row["retries"] == 1
    assert row["reason"] == ("its node was lost (node fe68cd53); then its worker process died "
                             "(killed: SIGKILL or the kernel's OOM killer?): not trained again, "
                             "its 1 retry spent (search.max_retries 1)")
    assert status_counts(table) == {"failed": 1}
    assert describe_counts(status_counts(table), table) == "1 failed (1 lost their worker)"
    assert lines[-1].startswith("[  1/1]") and "| lost: its node was lost" in lines[-1]
    # max_retries 0: lost at once.
    (tmp_path / "none").mkdir()
    searcher, run, _ = retrying_searcher(tmp_path / "none", trials=1, max_retries=0)
    searcher.suggest("ray-1")
    lose(searcher, "ray-1", KILLED)
    assert load_trials(run.path).iloc[0]["reason"].endswith(
        "not trained again, no retries (search.max_retries 0)")


def test_with_the_budget_spent_the_search_waits_for_a_retry_before_it_finishes(tmp_path):
    # Tune asks nothing more once told FINISHED: a trial still in flight could not be retried.
    from ray.tune.search import Searcher

    from tests.ray_errors import NODE_LOST

    searcher, run, _ = retrying_searcher(tmp_path, trials=1)
    first = searcher.suggest("ray-1")
    assert searcher.suggest("ray-x") is None  # the budget is spent, a trial is in flight
    lose(searcher, "ray-1", NODE_LOST)
    assert searcher.suggest("ray-2") == first
    assert searcher.suggest("ray-y") is None
    searcher.on_trial_complete("ray-2", dict(DONE), error=False)
    assert searcher.suggest("ray-z") == Searcher.FINISHED


def test_a_retried_trial_goes_on_from_its_last_checkpoint(tmp_path):
    from t2tsearch.results import load_trials
    from tests.ray_errors import KILLED, NODE_LOST

    searcher, run, lines = retrying_searcher(tmp_path, trials=1, checkpoint=True)
    first = searcher.suggest("ray-1")
    assert first["checkpoint"] is True
    folder = tmp_path / "checkpoint_000000"
    folder.mkdir()
    searcher.checkpointed("ray-1", str(folder))
    searcher.on_trial_result("ray-1", dict(EPOCH_1))
    lose(searcher, "ray-1", NODE_LOST)
    assert "trained again from its last checkpoint (retry 1 of 2)" in lines[-1]
    again = searcher.suggest("ray-2")
    assert again == {**first, "resume_from": str(folder)}
    # Lost again before its next checkpoint: the one it went on from still stands.
    lose(searcher, "ray-2", KILLED)
    assert searcher.suggest("ray-3") == again
    searcher.on_trial_complete("ray-3", {**DONE, "epoch": 2, "accuracy_curve": [30.0, 61.0],
                                         "resumed_from_epoch": 1}, error=False)
    row = load_trials(run.path).iloc[0]
    assert row["status"] == "complete" and row["epochs"] == 2 and row["retries"] == 2
    assert row["reason"] == ("trained again after: its node was lost (node fe68cd53); then its "
                             "worker process died (killed: SIGKILL or the kernel's OOM killer?) "
                             "(resumed from epoch 1)")
    assert not folder.exists()  # a trial with its result keeps no checkpoint


def test_a_checkpointed_trial_out_of_memory_on_a_shared_gpu_starts_again_alone(tmp_path):
    # Alone on a whole GPU it trains from scratch: its checkpoints are deleted (nothing else
    # would), the retry is given none, and the earlier attempt's epochs are not its curve.
    from tests.ray_errors import NODE_LOST

    searcher, _, _ = retrying_searcher(tmp_path, trials=1, checkpoint=True, gpus_per_trial=0.25)
    first = searcher.suggest("ray-1")
    older, newer = tmp_path / "checkpoint_000000", tmp_path / "checkpoint_000001"
    older.mkdir()
    searcher.checkpointed("ray-1", str(older))
    searcher.on_trial_result("ray-1", dict(EPOCH_1))
    lose(searcher, "ray-1", NODE_LOST)
    resumed = searcher.suggest("ray-2")
    assert resumed["resume_from"] == str(older)
    newer.mkdir()
    searcher.checkpointed("ray-2", str(newer))
    searcher.on_trial_result("ray-2", {**EPOCH_1, "epoch": 2, "accuracy": 40.0})
    searcher.on_trial_complete("ray-2", {**OOM, "epoch": 2}, error=False)
    alone = searcher.suggest("ray-3")
    assert alone == {**first, "alone": True}  # no resume_from
    assert not older.exists() and not newer.exists()
    assert searcher.curves["ray-3"] == []


def test_a_sampler_stuck_on_one_rejected_architecture_gets_random_feasible_ones(tmp_path):
    # Optuna's GP proposed one architecture over the MAC limit 200 times in a row on the
    # Fashion-MNIST table (docs/search-quality.md): here a sampler that proposes only the
    # largest architecture, just over the limit. The tiny space holds 3 others.
    from t2tsearch.cost import count_cost
    from t2tsearch.engine.search.rejections import INFEASIBLE_PATIENCE, MAX_REJECTED_IN_A_ROW
    from t2tsearch.space import build_config

    fixed = {"backbone.depth": 2, "backbone.head_dim": 16}
    tiny = load_space(write_space(tmp_path))
    largest = count_cost(build_config(tiny, fixed)).macs
    data = {**TINY_SPACE, "name": "stuck", "constraints": {"max_macs": largest - 1},
            "search": {**TINY_SPACE["search"], "trials": 5}}
    searcher, space, configs, table, lines = drive(tmp_path, data, fixed, trials=5)
    # After each INFEASIBLE_PATIENCE rejections a random feasible architecture was queued and
    # trained: the 3 that fit, each once, said once.
    trained = {(a.depth, a.embed_dim // a.num_heads) for a in
               (ArchConfig.from_json(c["arch"]).backbone for c in configs)}
    assert trained == {(1, 8), (1, 16), (2, 8)} and len(configs) == 3
    assert sum("a random feasible architecture is queued" in line for line in lines) == 1
    # Then no draw was left untried: the search stopped proposing, and said why.
    assert (table["status"] == "infeasible").sum() == 3 * INFEASIBLE_PATIENCE + \
        MAX_REJECTED_IN_A_ROW
    said = searcher.gave_up
    assert said.startswith(f"stopped proposing: {MAX_REJECTED_IN_A_ROW} proposals in a row")
    assert f"most often, {MAX_REJECTED_IN_A_ROW} times: macs" in said and "max_macs" in said
    assert "found no feasible architecture not yet tried" in said and "\n" not in said
    assert "ehvi" not in said  # another sampler would find no more


def test_only_samplers_that_can_get_stuck_get_the_fallback_or_the_advice():
    from collections import Counter

    import optuna

    from t2tsearch.engine.sampler import CostAwareSampler
    from t2tsearch.engine.search.rejections import gave_up_after, needs_fallback

    cost_aware = object.__new__(CostAwareSampler)  # proposes only what passes the checks
    grid = optuna.samplers.GridSampler({"x": [0, 1]})  # never proposes a point twice
    gp = optuna.samplers.GPSampler(seed=0)
    assert not needs_fallback(cost_aware) and not needs_fallback(grid) and needs_fallback(gp)
    streak = Counter({"macs 32.3M > max_macs 30M": 3})
    assert "`sampler: ehvi`" in gave_up_after(3, streak, gp)
    assert "ehvi" not in gave_up_after(3, streak, cost_aware)
    assert "ehvi" not in gave_up_after(3, streak, grid)


def test_a_stuck_sampler_s_fallback_respects_the_group_quotas(tmp_path):
    # The sampler proposes only an architecture that cannot be built (kernel 3, padding 2), in
    # no group. Two trials, a quota of 1 per group: the budget left is what the groups need, so
    # a fallback must queue members of the short groups, not any feasible architecture (which
    # the quota would reject, to no end).
    parameters = {**GROUPED_SPACE["parameters"],
                  "t2t.soft_splits.0.kernel": {"choice": [3, 7]}}
    data = {**GROUPED_SPACE, "name": "stuck-groups", "parameters": parameters,
            "search": {**GROUPED_SPACE["search"], "seed": 1, "trials": 2,
                       "goal": "compare_groups"}}
    fixed = {"backbone.depth": 2, "backbone.head_dim": 8, "t2t.soft_splits.0.kernel": 3}
    searcher, space, configs, table, _ = drive(tmp_path, data, fixed, trials=2)
    assert space.group_quota == 1
    # The test reaches the case: at the second fallback (the study then holds the rejections
    # before each and the first trial), the first buildable random draw not yet trained is not
    # in 'rare', the group still short.
    from t2tsearch.engine.search.rejections import FALLBACK_DRAWS, INFEASIBLE_PATIENCE

    first_trained = configs[0]["arch"]
    draws = random_draws(space, FALLBACK_DRAWS, space.search.seed + 2 * INFEASIBLE_PATIENCE + 1)
    second = next(cfg for _, cfg in draws if check_architecture(cfg, space) is None
                  and cfg.to_json() != first_trained)
    assert "rare" not in space.groups_of(second)
    assert sorted(c["groups"] for c in configs) == [["common"], ["rare"]]
    assert (table["status"] == "quota").sum() == 0 and not searcher.gave_up
