"""The cost-aware sampler: its hypervolume arithmetic, what it proposes, and how spaces pick it."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from t2tsearch.arch import ArchConfig
from t2tsearch.cost import Cost
from t2tsearch.engine.quota import FILLS_QUOTA
from t2tsearch.engine.sampler import CostAwareSampler, expected_improvement
from t2tsearch.engine.sampler.surrogate import FeatureEncoder, fit_gp, fit_surrogate
from t2tsearch.engine.search import make_sampler
from t2tsearch.errors import UserError
from t2tsearch.groups import MIN_TRIALS, group_quota
from t2tsearch.private_apis import hypervolume_of_losses
from t2tsearch.space import parse_space, suggest

SPACE = {
    "name": "grid",
    "base": {"t2t": {"soft_splits": [[7, 4, 2], [3, 2, 1]], "token_dim": 8},
             "backbone": {"num_heads": 2}},
    "parameters": {"backbone.depth": {"choice": [1, 2, 3, 4]},
                   "backbone.head_dim": {"choice": [8, 16, 24, 32]},
                   "backbone.mlp_ratio": {"choice": [1.0, 2.0, 4.0]}},
    "constraints": {"max_macs": 40_000},
    "train": {"dataset": "mnist5k", "img_size": 28, "epochs": 1},
    "search": {"trials": 20, "seed": 3},
}


def fake_cost(cfg) -> Cost:
    """MACs grow with depth x width x (1 + MLP ratio): cheap to compute, monotone like real ones."""
    bb = cfg.backbone
    macs = int(bb.depth * bb.embed_dim * (1 + bb.mlp_ratio) * 50)
    return Cost(params=macs // 10, trainable_params=macs // 10, macs=macs)


def fake_accuracy(cfg) -> float:
    """Saturating in width and depth, so that the front is a real trade-off."""
    bb = cfg.backbone
    return 100 * (1 - np.exp(-bb.embed_dim * bb.depth / 40)) - 3 * bb.mlp_ratio


def rejection_for(space):
    def rejection(cfg, cost):
        return f"macs {cost.macs} > max_macs" if cost.macs > space.constraints.max_macs else None
    return rejection


def ask_like_the_search(study, space):
    """Ask a trial and record what StudySearcher records of a proposal that goes to training."""
    trial = study.ask()
    cfg = suggest(trial, space)
    cost = fake_cost(cfg)
    for key, value in (("config_id", cfg.id), ("arch", cfg.to_json()), ("macs", cost.macs),
                       ("params", cost.params), ("consumed", True)):
        trial.set_user_attr(key, value)
    return trial, cfg


def run_study(sampler, space, trials: int):
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    configs = []
    for _ in range(trials):
        trial, cfg = ask_like_the_search(study, space)
        study.tell(trial, [fake_accuracy(cfg), fake_cost(cfg).macs])
        configs.append(cfg)
    return study, configs


# ---- the arithmetic --------------------------------------------------------------------------
def hv(points: np.ndarray, ref: np.ndarray) -> float:
    return hypervolume_of_losses(points, ref)


def monte_carlo_improvement(known, mean, std, front, ref, draws=4000, seed=0):
    """E[HV(front + point) - HV(front)] by sampling the measured loss."""
    rng = np.random.default_rng(seed)
    base = hv(front, ref)
    gains = []
    for k, mu, sd in zip(known, mean, std, strict=True):
        total = 0.0
        for y in rng.normal(mu, sd, size=draws):
            total += hv(np.vstack([front, np.append(k, y)]), ref) - base
        gains.append(total / draws)
    return np.array(gains)


def test_one_cost_objective_improvement_is_the_exact_expectation():
    rng = np.random.default_rng(1)
    front = np.array([[1.0, -50.0], [3.0, -70.0], [6.0, -80.0]])  # (MACs, -accuracy)
    ref_known, ref_loss = np.array([10.0]), -40.0
    known = rng.uniform(0.5, 9.0, size=(6, 1))
    mean, std = rng.uniform(-90, -45, size=6), rng.uniform(1, 10, size=6)
    exact = expected_improvement(known, mean, std, front[:, :1], front[:, 1], ref_known, ref_loss)
    sampled = monte_carlo_improvement(known, mean, std, front,
                                      np.array([ref_known[0], ref_loss]))
    assert exact == pytest.approx(sampled, rel=0.06, abs=0.5)
    # A candidate as cheap as a front point and surely worse adds nothing; a sure better one
    # adds exactly its rectangle strip.
    none = expected_improvement(np.array([[3.0]]), np.array([-60.0]), np.array([1e-6]),
                                front[:, :1], front[:, 1], ref_known, ref_loss)
    sure = expected_improvement(np.array([[3.0]]), np.array([-75.0]), np.array([1e-6]),
                                front[:, :1], front[:, 1], ref_known, ref_loss)
    assert none[0] == pytest.approx(0.0, abs=1e-6)
    assert sure[0] == pytest.approx(5.0 * (3.0 - 0.0), rel=1e-6)  # 5 points over [3, 6)


def test_two_cost_objectives_use_a_quadrature_close_to_the_expectation():
    rng = np.random.default_rng(2)
    front = np.array([[1.0, 5.0, -50.0], [3.0, 2.0, -70.0], [6.0, 1.0, -80.0]])
    ref = np.array([10.0, 10.0, -40.0])
    known = rng.uniform(0.5, 9.0, size=(4, 2))
    mean, std = rng.uniform(-90, -45, size=4), rng.uniform(1, 8, size=4)
    quad = expected_improvement(known, mean, std, front[:, :2], front[:, 2], ref[:2], ref[2])
    sampled = monte_carlo_improvement(known, mean, std, front, ref, draws=1500)
    assert quad == pytest.approx(sampled, rel=0.1, abs=2.0)


def test_no_cost_objective_is_expected_improvement():
    ei = expected_improvement(np.zeros((2, 0)), np.array([-90.0, -50.0]), np.array([1e-6, 1e-6]),
                              np.zeros((1, 0)), np.array([-80.0]), np.zeros(0), -40.0)
    assert ei == pytest.approx([10.0, 0.0], abs=1e-6)


# ---- the surrogate's inputs ----------------------------------------------------------------------
class _Row:
    """What the encoder reads of a candidate: its fields."""

    def __init__(self, **fields):
        self.fields = fields


VALUES = [0, 0.05, 0.1, 0.5, 1, 2, 3, 16, 128]


@pytest.mark.parametrize("seed", range(40))
def test_the_encoder_keeps_the_order_of_every_numeric_field(seed):
    """Brute force over pools drawn from values with zeros, fractions, ones and large ones: in
    every numeric field, a larger value is always encoded larger (0 below 0.05 below 0.1 and
    apart from 1), whatever the other fields do."""
    rng = np.random.default_rng(seed)
    fields = {f"f{i}": sorted(rng.choice(VALUES, size=rng.integers(2, 6), replace=False))
              for i in range(4)}
    fields["signed"] = [-2.0, -0.5, 0.0, 3.0]  # no field is negative today; still in order
    fields["log_macs"] = [10.5, 12.0, 15.25]  # already a log: taken as is
    pool = [_Row(**{key: rng.choice(values) for key, values in fields.items()},
                 mixer=str(rng.choice(["performer", "transformer"])))
            for _ in range(30)]
    for key, values in fields.items():  # every value of every field present at least once
        for value in values:
            pool.append(_Row(**{k: (value if k == key else v[0]) for k, v in fields.items()},
                             mixer="performer"))
    encoder = FeatureEncoder(pool)
    encoded = encoder.encode(pool)
    for key in fields:
        column = encoded[:, encoder.numeric.index(key)]
        raw = np.array([row.fields[key] for row in pool], dtype=float)
        for a in range(len(pool)):
            for b in range(len(pool)):
                if raw[a] < raw[b]:
                    assert column[a] < column[b], (key, raw[a], raw[b])
                elif raw[a] == raw[b]:
                    assert column[a] == column[b]


def test_zero_is_below_a_tenth_and_apart_from_one():
    pool = [_Row(drop_path_rate=v, depth=d) for v, d in ((0.0, 0), (0.1, 1), (0.05, 2), (0.0, 4))]
    encoder = FeatureEncoder(pool)
    drop = encoder.encode(pool)[:, encoder.numeric.index("drop_path_rate")]
    depth = encoder.encode(pool)[:, encoder.numeric.index("depth")]
    assert drop[0] < drop[2] < drop[1] and drop[0] == drop[3]
    assert depth[0] < depth[1] < depth[2] < depth[3]


def test_through_the_encoder_the_surrogate_extrapolates_the_costs_and_only_them():
    # Known truth, end to end through the encoder (the columns it gives the trend, not chosen
    # by hand): accuracy rises 2 points per unit of log MACs; depth, mixer, MLP ratio and the
    # parameter count do nothing. Eight results among the cheaper architectures: the surrogate
    # must predict that costlier ones do better than the best seen (the trend must read the log
    # MACs), and must not predict that deeper ones do (it must not read depth as a cost).
    for seed in range(10):
        rng = np.random.default_rng(seed)

        def draw(n: int, low: float, high: float, depths=(1, 9), rng=rng) -> list[_Row]:
            return [_Row(depth=int(rng.integers(*depths)),
                         mixer=str(rng.choice(["conv", "performer"])),
                         log_macs=float(rng.uniform(low, high)),
                         log_params=float(rng.uniform(9, 13)),
                         mlp_ratio=float(rng.choice([1.0, 2.0, 4.0]))) for _ in range(n)]

        seen, costlier = draw(8, 12.0, 14.0), draw(40, 14.5, 16.0)
        encoder = FeatureEncoder(seen + costlier)
        accuracy = np.array([2.0 * row.fields["log_macs"] for row in seen])
        accuracy += rng.normal(0.0, 0.3, len(seen))
        model = fit_surrogate(encoder.encode(seen), -accuracy, seed, encoder.trend_columns())
        predicted = -model.predict(encoder.encode(costlier))
        assert np.mean(predicted > accuracy.max()) >= 0.9, seed
        # Deeper (depth 9-12, never seen) but as cheap as the results: no better than them.
        deeper = draw(40, 12.0, 14.0, depths=(9, 13))
        ahead = -model.predict(encoder.encode(deeper))
        assert np.mean(ahead > accuracy.max()) <= 0.2, seed


# ---- proposals ---------------------------------------------------------------------------------
def test_the_surrogate_learns_which_field_matters_from_ten_results():
    # Known truth: the result depends on one two-valued field (a mixer, say) and not on seven
    # others. From 10 results the surrogate must predict the sign of that field's effect for
    # new architectures. With one length scale for all fields (the kernel before), the seven
    # irrelevant ones blur the prediction, and some draws predict at chance (50%).
    for seed in range(20):
        rng = np.random.default_rng(seed)

        def draw(n: int, rng: np.random.Generator = rng) -> np.ndarray:
            x = rng.normal(size=(n, 8))
            x[:, 0] = rng.choice([-1.0, 1.0], n)
            return x

        x = draw(10)
        y = 3.0 * x[:, 0] + rng.normal(0.0, 0.3, 10)
        unseen = draw(200)
        predicted = fit_gp(x, y, seed).predict(unseen)
        agree = np.mean(np.sign(predicted) == np.sign(unseen[:, 0]))
        assert agree >= 0.95, f"seed {seed}: the sign of the field's effect right in {agree:.0%}"


def test_the_surrogate_extrapolates_a_rise_with_cost_from_six_results():
    # Known truth: accuracy rises with log cost (2 points per unit) under 0.5 points of noise,
    # and seven other fields do nothing. Six results, all among the cheaper models: the
    # surrogate must predict that models costing more than any of them do better than the best
    # of them. A GP alone predicts its prior mean (the average result) away from the data, so
    # it places them below the best seen, and the expected improvement then prefers ever
    # cheaper models.
    for seed in range(20):
        rng = np.random.default_rng(seed)

        def draw(n: int, low: float, high: float, rng: np.random.Generator = rng) -> np.ndarray:
            return np.column_stack([rng.uniform(low, high, n), rng.normal(size=(n, 7)),
                                    np.zeros(n)])  # log cost, 7 idle fields, fidelity (full)

        x = draw(6, -1.5, 0.0)
        loss = -(2.0 * x[:, 0] + rng.normal(0.0, 0.5, 6))  # minus the accuracy
        costlier = draw(50, 0.5, 1.5)
        predicted = fit_surrogate(x, loss, seed, trend_columns=[0, 8]).predict(costlier)
        better = np.mean(predicted < loss.min())
        assert better >= 0.9, f"seed {seed}: {better:.0%} of costlier models predicted better"


def test_proposals_respect_the_constraints_and_never_repeat():
    space = parse_space(SPACE)
    sampler = CostAwareSampler(space, fake_cost, rejection_for(space), seed=0, n_startup_trials=3)
    _, configs = run_study(sampler, space, 16)
    assert all(fake_cost(cfg).macs <= 40_000 for cfg in configs)  # never over max_macs
    assert len({cfg.id for cfg in configs}) == len(configs)  # nothing trained twice
    # Start-up spreads over the cost range: after the first pick, the extremes come next.
    costs = sorted(fake_cost(cfg).macs for cfg in configs)
    feasible = sorted(m for m in (fake_cost(c).macs for c in _all_configs(space)) if m <= 40_000)
    startup = sorted(fake_cost(cfg).macs for cfg in configs[:3])
    assert startup[0] == feasible[0] or startup[-1] == feasible[-1]
    assert costs[0] == feasible[0]


def _all_configs(space):
    from itertools import product

    from t2tsearch.space import build_config

    return [build_config(space, {"backbone.depth": d, "backbone.head_dim": h,
                                 "backbone.mlp_ratio": r})
            for d, h, r in product([1, 2, 3, 4], [8, 16, 24, 32], [1.0, 2.0, 4.0])]


def test_same_seed_same_proposals_and_it_finds_more_of_the_front_than_random():
    space = parse_space(SPACE)

    def proposals(seed):
        sampler = CostAwareSampler(space, fake_cost, rejection_for(space), seed=seed,
                                   n_startup_trials=3)
        return [cfg.id for cfg in run_study(sampler, space, 12)[1]]

    assert proposals(5) == proposals(5)
    # The true front of the feasible grid, and how much of it 12 trials find.
    feasible = [c for c in _all_configs(space) if fake_cost(c).macs <= 40_000]
    points = np.array([[fake_cost(c).macs, -fake_accuracy(c)] for c in feasible])
    ref = np.array([1.1 * points[:, 0].max(), points[:, 1].max()])  # worst accuracy
    best = hv(points, ref)

    def share(ids):
        chosen = np.array([p for p, c in zip(points, feasible, strict=True) if c.id in ids])
        return hv(chosen, ref) / best

    cost_aware = np.mean([share(set(proposals(seed))) for seed in range(3)])
    random_share = []
    for seed in range(3):
        sampler = optuna.samplers.RandomSampler(seed=seed)
        random_share.append(share({cfg.id for cfg in run_study(sampler, space, 12)[1]}))
    assert cost_aware > np.mean(random_share)
    assert cost_aware > 0.9


def test_trials_stopped_early_enter_the_surrogate_at_their_fidelity(monkeypatch):
    import t2tsearch.engine.sampler.cost_aware as sampler_module

    space = parse_space({**SPACE, "train": {**SPACE["train"], "epochs": 3}})
    sampler = CostAwareSampler(space, fake_cost, rejection_for(space), seed=0, n_startup_trials=3)
    study, _ = run_study(sampler, space, 4)
    trial, cfg = ask_like_the_search(study, space)  # stopped after 1 of 3 epochs at 12%
    for key, value in (("accuracy_curve", [12.0]), ("epochs", 1), ("max_epochs", 3)):
        trial.set_user_attr(key, value)
    study.tell(trial, state=TrialState.PRUNED)
    fits, predictions = [], []
    real_fit = sampler_module.fit_surrogate

    def spy_fit(x, y, seed, trend_columns, settings):
        model = real_fit(x, y, seed, trend_columns, settings)
        fits.append((x, y))
        real_predict = model.predict
        model.predict = lambda x_new, **kw: (predictions.append(x_new), real_predict(x_new, **kw))[1]
        return model

    monkeypatch.setattr(sampler_module, "fit_surrogate", spy_fit)
    assert sampler.propose(study.get_trials(deepcopy=False)) is not None
    (x, y), = fits
    assert len(y) == 5  # four full-budget results and the stopped one
    stopped_rows = np.flatnonzero(y == -12.0)  # the loss is minus the accuracy
    assert len(stopped_rows) == 1
    assert x[stopped_rows[0], -1] == pytest.approx(np.log2(1 / 3))
    assert np.all(np.delete(x[:, -1], stopped_rows) == 0.0)
    assert all(np.all(x_new[:, -1] == 0.0) for x_new in predictions)  # predicted at full budget


def test_enqueued_parameters_win_over_the_sampler():
    space = parse_space(SPACE)
    sampler = CostAwareSampler(space, fake_cost, rejection_for(space), seed=0)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    wanted = {"backbone.depth": 2, "backbone.head_dim": 24, "backbone.mlp_ratio": 2.0}
    study.enqueue_trial(wanted)
    trial = study.ask()
    suggest(trial, space)
    assert trial.params == wanted


def test_trials_still_training_are_not_proposed_again():
    space = parse_space(SPACE)
    sampler = CostAwareSampler(space, fake_cost, rejection_for(space), seed=0, n_startup_trials=2)
    study, _ = run_study(sampler, space, 4)
    running = []
    for _ in range(6):  # asked, never told: what concurrent Ray trials look like
        running.append(ask_like_the_search(study, space)[1].id)
    assert len(set(running)) == 6
    assert not set(running) & {t.user_attrs["config_id"]
                               for t in study.get_trials(states=(TrialState.COMPLETE,))}


# ---- how a space picks it ------------------------------------------------------------------------
def test_auto_picks_ehvi_when_only_accuracy_is_measured():
    assert parse_space(SPACE).search.sampler == "ehvi"
    with_latency = {**SPACE, "objectives": [{"metric": "accuracy"}, {"metric": "latency"}]}
    assert parse_space(with_latency).search.sampler == "nsga2"
    three = {**SPACE, "objectives": [{"metric": "accuracy"}, {"metric": "macs"},
                                     {"metric": "params"}]}
    assert parse_space(three).search.sampler == "ehvi"
    single = {**SPACE, "objectives": [{"metric": "accuracy"}]}
    assert parse_space(single).search.sampler == "tpe"


def test_ehvi_with_two_measured_objectives_is_a_one_line_error():
    bad = {**SPACE, "objectives": [{"metric": "accuracy"}, {"metric": "latency"}],
           "search": {"sampler": "ehvi"}}
    with pytest.raises(UserError) as err:
        parse_space(bad, "spaces/bad.yaml")
    text = str(err.value)
    assert "spaces/bad.yaml" in text and "search.sampler" in text and "\n" not in text


def test_make_sampler_builds_it_with_the_run_cost_cache(tmp_path):
    sampler = make_sampler(parse_space({**SPACE, "constraints": {"max_macs": "50M"}}), tmp_path)
    assert isinstance(sampler, CostAwareSampler) and sampler.n_startup_trials == 4
    assert sampler.propose([]) is not None  # counting real costs of the pool
    assert any(tmp_path.glob("*.json"))  # into the run's cache


# ---- goal: compare_groups -----------------------------------------------------------------------
# Two groups over the SPACE grid that share the MAC range 4,800-32,000; "deep" learns slower
# (15 points less at equal MACs), so a search for the overall front alone leaves it nearly empty.
GROUPS = {"deep": "backbone.depth >= 3", "wide": "backbone.depth <= 2 and backbone.head_dim >= 16"}


def slow_deep_accuracy(cfg) -> float:
    return fake_accuracy(cfg) - (15.0 if cfg.backbone.depth >= 3 else 0.0)


def run_grouped_study(space, trials: int, seed: int = 0):
    """The cost-aware sampler asked as the search asks it, each trial told its slow-deep
    accuracy; returns each group's distinct complete architectures (counted here, by the
    groups' own conditions)."""
    sampler = CostAwareSampler(space, fake_cost, rejection_for(space), seed=seed,
                               n_startup_trials=3)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    for _ in range(trials):
        trial, cfg = ask_like_the_search(study, space)
        trial.set_user_attr("groups", space.groups_of(cfg))
        trial.set_user_attr("status", "complete")
        study.tell(trial, [slow_deep_accuracy(cfg), fake_cost(cfg).macs])
    members = {"deep": set(), "wide": set()}
    for trial in study.trials:
        bb = ArchConfig.from_json(trial.user_attrs["arch"]).backbone
        if bb.depth >= 3:
            members["deep"].add(trial.user_attrs["config_id"])
        if bb.depth <= 2 and bb.embed_dim >= 32:
            members["wide"].add(trial.user_attrs["config_id"])
        assert fake_cost(ArchConfig.from_json(trial.user_attrs["arch"])).macs <= 40_000
    return members, study


@pytest.mark.parametrize("seed", [0, 1])
def test_compare_groups_gives_the_slow_group_its_share(seed):
    space = parse_space({**SPACE, "groups": GROUPS})
    assert space.effective_goal == "compare_groups"  # auto, as the space has groups
    members, study = run_grouped_study(space, 16, seed)
    quota = math.ceil(16 / (2 * 2))
    assert len(members["deep"]) >= quota and len(members["wide"]) >= quota
    # The share is spread over the MAC range both groups cover (4,800 to 32,000), not piled up.
    for group in members:
        macs = sorted(fake_cost(ArchConfig.from_json(t.user_attrs["arch"])).macs
                      for t in study.trials if t.user_attrs["config_id"] in members[group])
        inside = [m for m in macs if 4_800 <= m <= 32_000]
        assert len(inside) >= quota and inside[-1] - inside[0] >= 0.4 * (32_000 - 4_800)


def test_goal_front_keeps_the_overall_front_search():
    grouped = parse_space({**SPACE, "groups": GROUPS,
                           "search": {**SPACE["search"], "goal": "front"}})
    assert grouped.effective_goal == "front"
    # With goal: front the groups change nothing: the same proposals as without any group.
    _, with_groups = run_grouped_study(grouped, 10, seed=4)
    _, without = run_grouped_study(parse_space(SPACE), 10, seed=4)
    assert [t.user_attrs["config_id"] for t in with_groups.trials] == \
        [t.user_attrs["config_id"] for t in without.trials]


def test_concurrent_proposals_fill_different_groups():
    space = parse_space({**SPACE, "groups": GROUPS})
    sampler = CostAwareSampler(space, fake_cost, rejection_for(space), seed=0)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    asked = []
    for _ in range(2):  # two trials training at once, each marked as the searcher marks them
        trial, cfg = ask_like_the_search(study, space)
        trial.set_user_attr("groups", space.groups_of(cfg))
        trial.set_user_attr(FILLS_QUOTA, True)
        asked.append(tuple(space.groups_of(cfg)))
    assert sorted(asked) == [("deep",), ("wide",)]


def test_goal_needs_groups_and_the_quota_serves_the_verdict_within_the_budget():
    bad = {**SPACE, "search": {**SPACE["search"], "goal": "compare_groups"}}
    with pytest.raises(UserError) as err:
        parse_space(bad, "spaces/bad.yaml")
    assert "search.goal" in str(err.value) and "\n" not in str(err.value)
    assert parse_space(SPACE).effective_goal == "front"  # no groups: auto is the front
    # What a user relies on, over every budget and group count up to 200 trials and 6 groups:
    # the quotas fit in the budget; each reaches the verdict's minimum of full-budget
    # architectures whenever the budget can give every group that many; together they take
    # about half the budget (the rest searches the front), more only to reach that minimum;
    # and a larger budget never lowers a quota.
    for groups in range(1, 7):
        previous = 0
        for trials in range(1, 201):
            quota = group_quota(trials, groups)
            assert quota * groups <= trials, (trials, groups, quota)
            if trials >= MIN_TRIALS * groups:
                assert quota >= MIN_TRIALS, (trials, groups, quota)
                assert quota * groups <= max(trials / 2 + groups, MIN_TRIALS * groups)
            assert quota >= previous, (trials, groups, quota)
            previous = quota
    # The space's own quota: 20 trials, 2 groups; none when the goal is the front.
    groups = {"shallow": "backbone.depth <= 2", "deep": "backbone.depth > 2"}
    assert parse_space({**SPACE, "groups": groups}).group_quota == group_quota(20, 2) > 0
    assert parse_space({**SPACE, "groups": groups,
                        "search": {**SPACE["search"], "goal": "front"}}).group_quota == 0
    assert parse_space(SPACE).group_quota == 0


def test_surrogate_settings_bound_what_the_fit_may_learn():
    from t2tsearch.engine.sampler.surrogate import SurrogateSettings, TrendedSurrogate

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    y = np.sin(3.0 * x[:, 0]) + 0.01 * rng.normal(size=30)  # nearly noiseless, wiggly in one
    # Free, the fit takes almost no noise and a short length scale for the feature that decides.
    free = fit_gp(x, y, 0, SurrogateSettings(noise_floor=1e-3, length_scale_bounds=(0.01, 100)))
    assert free.kernel_.k2.noise_level < 0.05
    assert min(free.kernel_.k1.k2.length_scale) < 1.0
    # Bounded, the fit stays inside the settings' floor and length-scale bounds.
    bounded = fit_gp(x, y, 0, SurrogateSettings(noise_floor=0.4, length_scale_bounds=(3.0, 100)))
    assert bounded.kernel_.k2.noise_level >= 0.4 - 1e-9
    assert min(bounded.kernel_.k1.k2.length_scale) >= 3.0 - 1e-9
    # Without the trend, the surrogate is the GP alone.
    plain = TrendedSurrogate(x, y, 0, [0], SurrogateSettings(trend=False))
    assert plain.trend is None
    assert plain.predict(x) == pytest.approx(fit_gp(x, y, 0).predict(x))
    assert TrendedSurrogate(x, y, 0, [0]).trend is not None
    for wrong in ({"noise_floor": 0.0}, {"noise_floor": 1.0}, {"length_scale_bounds": (5, 1)}):
        with pytest.raises(ValueError):
            SurrogateSettings(**wrong)
