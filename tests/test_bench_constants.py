"""benchmarks/bench_constants.py: its defaults are the sampler's, its in-process search is the
search a real run makes, and its choice keeps a constant unless a value beats it beyond noise."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from t2tsearch.space import build_config, load_space
from tests.script_module import load_script

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_bench():
    load_script(BENCHMARKS / "bench_search.py", "bench_search")
    return load_script(BENCHMARKS / "bench_constants.py", "bench_constants")


def test_the_benchmark_starts_from_the_samplers_own_constants():
    from t2tsearch.engine.sampler.surrogate import DEFAULT_SURROGATE
    from t2tsearch.engine.search import startup_trials
    from t2tsearch.results.reference import COST_MARGIN

    bench = load_bench()
    defaults = bench.DEFAULTS
    assert [defaults.startup_for(n) for n in range(1, 121)] == \
        [startup_trials("ehvi", n) for n in range(1, 121)]
    assert defaults.surrogate() == DEFAULT_SURROGATE
    assert defaults.cost_margin == COST_MARGIN
    for name, values in bench.CANDIDATES.items():
        assert values[0] == getattr(defaults, name) and len(set(values)) == len(values) > 1


GRID_SPACE = {
    "name": "grid_18",
    "base": {"t2t": {"soft_splits": [[7, 4, 2], [3, 2, 1]], "token_dim": 8},
             "backbone": {"num_heads": 2}},
    "parameters": {"backbone.depth": {"choice": [1, 2, 3]},
                   "backbone.head_dim": {"choice": [8, 16, 24]},
                   "backbone.mlp_ratio": {"choice": [1.0, 2.0]}},
    "groups": {"deep": "backbone.depth >= 2", "shallow": "backbone.depth == 1"},
    "train": {"dataset": "mnist5k", "img_size": 28, "epochs": 2, "measure_latency": False},
    "search": {"trials": 10, "concurrency": 1, "sampler": "ehvi", "scheduler": "none"},
}


def grid_table(folder: Path) -> tuple[Path, Path]:
    """GRID_SPACE's 18 architectures with a MAC limit that rejects the dearest two, two seeds
    each 8 points apart at most (seed 1 of one diverged after an epoch, one architecture left
    out of the table), accuracy rising with log MACs and MLP ratio, costs as t2tsearch counts
    them; (space, table)."""
    from t2tsearch.cost import count_cost

    space_path = folder / "grid.yaml"
    space_path.write_text(yaml.safe_dump(GRID_SPACE, sort_keys=False))
    space = load_space(space_path)
    draw = random.Random(5)
    rows, macs = [], []
    for depth in (1, 2, 3):
        for head_dim in (8, 16, 24):
            for mlp in (1.0, 2.0):
                cfg = build_config(space, {"backbone.depth": depth, "backbone.head_dim": head_dim,
                                           "backbone.mlp_ratio": mlp})
                cost = count_cost(cfg)
                macs.append(cost.macs)
                base = 30 + 6 * math.log(cost.macs) + 3 * mlp + draw.uniform(-4, 4)
                for seed in (0, 1):
                    final = round(base + draw.uniform(-4, 4), 2)
                    row = {"id": cfg.id, "seed": seed, "status": "complete", "reason": "",
                           "params": cost.params, "macs": cost.macs, "seconds": 1.0,
                           "accuracy": [final - 5, final], "val_loss": [1.0, 0.8],
                           "arch": json.loads(cfg.to_json())}
                    if (depth, head_dim, mlp, seed) == (2, 8, 1.0, 1):
                        row.update(status="diverged", accuracy=[final - 5])
                    if (depth, head_dim, mlp) != (1, 16, 2.0):  # not in the table
                        rows.append(row)
    limited = {**GRID_SPACE, "constraints": {"max_macs": sorted(macs)[-3]}}
    space_path.write_text(yaml.safe_dump(limited, sort_keys=False))
    table = folder / "grid.json.gz"
    with gzip.open(table, "wt") as out:
        json.dump({"header": {"version": 2}, "rows": rows}, out)
    return space_path, table


def test_the_in_process_search_is_the_search_a_run_makes(tmp_path, ray_session):
    # The benchmark drives the samplers without Ray to afford hundreds of searches; its figures
    # stand for real runs only if it proposes what run_search proposes. The reference here is
    # a real run_search through Ray Tune (as bench_search runs it), trial by trial: the
    # cost-aware sampler, and random search, which also meets what the former never proposes
    # (architectures over the MAC limit, repeats answered from the study, a row missing from
    # the table, a diverged seed).
    from t2tsearch.engine.search import SearchOptions, run_search
    from t2tsearch.pareto import REJECTED

    bench = load_bench()
    from bench_search import RunCurve, curve_of  # registered by load_bench

    space_path, table = grid_table(tmp_path)
    loaded = bench.bench_for(table, space_path, "grid")
    met = set()
    for sampler, seed in (("ehvi", 1), ("random", 0)):
        options = SearchOptions(trials=12, concurrency=1, sampler=sampler, scheduler="none",
                                seed=seed, goal="front", evaluator=f"table:{table}",
                                echo=lambda line: None, command=["test"])
        summary = run_search(space_path, out=str(tmp_path / "runs"), name=f"{sampler}{seed}",
                             options=options)
        trials = summary.table[~summary.table["status"].isin(REJECTED)].sort_values("trial")
        in_process = bench.drive(loaded, bench.DEFAULTS, 12, seed, cost_cache=None,
                                 sampler=sampler)
        assert [t.config_id for t in in_process] == list(trials["config_id"])
        assert [t.complete for t in in_process] == list(trials["status"] == "complete")
        real = curve_of(summary.table, loaded.specs, loaded.front, 0.0,
                        RunCurve(sampler, "none", seed, 12))
        assert bench.shares(loaded, in_process) == pytest.approx(real.share, rel=1e-12)
        assert [sum(t.epochs for t in in_process[:n]) for n in range(1, 13)] == real.epochs
        met |= set(summary.table["status"]) | {"reused" for r in summary.table["reused_from"]
                                                if r == r and r is not None}
    assert {"infeasible", "invalid", "reused", "complete"} <= met, met


def test_a_sampler_stuck_over_the_limit_gets_the_same_random_architectures_in_both(
        tmp_path, ray_session, monkeypatch):
    # An Optuna sampler learns nothing from a rejected proposal (GP proposed one architecture
    # over the MAC limit 200 times in a row on the Fashion-MNIST table): after
    # INFEASIBLE_PATIENCE rejections in a row the search queues a random feasible architecture.
    # The in-process driver must queue the same ones, or its GP figures stand for no real run.
    import optuna

    import t2tsearch.engine.search as search
    import t2tsearch.engine.search.study as study_module
    from t2tsearch.engine.search import SearchOptions, run_search
    from t2tsearch.engine.search.rejections import INFEASIBLE_PATIENCE
    from t2tsearch.pareto import REJECTED

    def stuck(space, cost_cache, reference, seed):  # always the largest architecture
        return optuna.samplers.PartialFixedSampler(
            {"backbone.depth": 3, "backbone.head_dim": 24, "backbone.mlp_ratio": 2.0},
            optuna.samplers.RandomSampler(seed=seed))

    monkeypatch.setattr(search, "make_sampler", stuck)
    monkeypatch.setattr(study_module, "make_sampler", stuck)
    bench = load_bench()
    space_path, table = grid_table(tmp_path)
    loaded = bench.bench_for(table, space_path, "grid")
    options = SearchOptions(trials=4, concurrency=1, sampler="random", scheduler="none", seed=3,
                            goal="front", evaluator=f"table:{table}", echo=lambda line: None,
                            command=["test"])
    summary = run_search(space_path, out=str(tmp_path / "runs"), name="stuck", options=options)
    trained = summary.table[~summary.table["status"].isin(REJECTED)].sort_values("trial")
    # Each trained trial came after INFEASIBLE_PATIENCE rejections of the largest architecture,
    # and all differ (a queued draw is never one already tried).
    assert len(trained) == 4 and trained["config_id"].is_unique
    assert (summary.table["status"] == "infeasible").sum() == 4 * INFEASIBLE_PATIENCE
    assert any("a random feasible architecture is queued" in line
               for line in summary.note.splitlines()), summary.note
    in_process = bench.drive(loaded, bench.DEFAULTS, 4, 3, cost_cache=None, sampler="random")
    assert [t.config_id for t in in_process] == list(trained["config_id"])


def test_the_constants_reach_the_sampler(tmp_path, monkeypatch):
    import t2tsearch.engine.sampler as sampler_package

    bench = load_bench()
    space_path, table = grid_table(tmp_path)
    # Without the MAC limit, the reference's MACs come from the first pool, with the margin.
    space_path.write_text(yaml.safe_dump(GRID_SPACE, sort_keys=False))
    loaded = bench.bench_for(table, space_path, "grid")
    built = []

    class Recording(sampler_package.CostAwareSampler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(sampler_package, "CostAwareSampler", Recording)
    other = bench.Constants(startup=(3, 4, 10), noise_floor=0.3, length_scale_low=0.5,
                            trend=False, cost_margin=1.3)
    for constants in (bench.DEFAULTS, other):
        bench.drive(loaded, constants, 12, 0, cost_cache=None)
    default_run, other_run = built
    assert (default_run.n_startup_trials, other_run.n_startup_trials) == (2, 4)
    assert other_run.surrogate == other.surrogate() != default_run.surrogate
    assert other_run.reference["macs"] == pytest.approx(default_run.reference["macs"] * 1.3 / 1.1)
    assert bench.idle_constants(space_path) == {}  # the margin matters here, not with a limit
    assert set(bench.idle_constants(BENCHMARKS / "tabular" / "fashion_space.yaml")) == \
        {"cost_margin"}


class SimulatedRunner:
    """A stand-in for bench_constants.Runner with a known truth: the share of a run is
    `0.9 + effect(constants) + noise`, the noise drawn per (constants, budget, seed)."""

    def __init__(self, bench, effects: dict[tuple[str, object], float], noise: float) -> None:
        self.bench, self.effects, self.noise = bench, effects, noise
        self.echo = lambda line: None

    def evaluate(self, constants, seeds, budgets=(10, 20, 30)):
        effect = sum(gain for (name, value), gain in self.effects.items()
                     if getattr(constants, name) == value)
        curves = {}
        for budget in budgets:
            for seed in seeds:
                draw = np.random.default_rng(abs(hash((constants, budget, seed))) % 2**32)
                curves[(budget, seed)] = [0.9 + effect + self.noise * draw.standard_normal()]
        return self.bench.Evaluation(constants, curves)


def test_a_value_is_chosen_only_when_it_beats_the_current_one_beyond_noise():
    bench = load_bench()
    seeds = list(range(20))
    # noise_floor 0.3 is truly better by 3 points, far beyond the noise (sd 1 point per run);
    # every other value tried is truly worse than the default by a point.
    effects = {(name, value): -0.01 for name, values in bench.CANDIDATES.items()
               for value in values[1:]}
    effects[("noise_floor", 0.3)] = 0.03
    chosen, log = bench.choose(SimulatedRunner(bench, effects, noise=0.01), seeds)
    assert chosen == dataclasses.replace(bench.DEFAULTS, noise_floor=0.3)
    assert {(e["constant"], e["value"]) for e in log} == set(effects)
    # Pure noise: over many simulated choices, a value with no true effect is seldom taken. The
    # rule's two standard errors pass about 2% of such tries; one standard error would pass 16%
    # and "any gain" half (fewer changes than that, as the tries of a constant share the draw of
    # the current set). Over these 40 choices (200 constants): 7 changed at two standard errors,
    # 23 at one, 62 at any gain.
    changed = 0
    for trial in range(40):
        class Noisy(SimulatedRunner):
            def evaluate(self, constants, seeds, budgets=(10, 20, 30), trial=trial):
                return super().evaluate(constants, [s + 1000 * trial for s in seeds], budgets)

        picked, _ = bench.choose(Noisy(bench, {}, noise=0.01), seeds)
        changed += sum(getattr(picked, name) != getattr(bench.DEFAULTS, name)
                       for name in bench.CANDIDATES)
    assert changed <= 15


def test_the_command_refuses_to_judge_on_the_table_it_tunes_on(capsys):
    bench = load_bench()
    with pytest.raises(SystemExit):
        bench.main(["--tune", "mnist5k", "--judge", "mnist5k"])
    assert "never judged on the table it was chosen on" in capsys.readouterr().err


def test_a_saved_choice_is_judged_without_choosing_again(tmp_path, monkeypatch, capsys):
    """`--chosen` judges what a `--tune --json` run saved (an hour's choice is not redone), and
    still refuses the table the constants were chosen on."""
    bench = load_bench()
    space_path, table = grid_table(tmp_path)
    monkeypatch.setattr(bench, "choose", lambda *a, **k: pytest.fail("chose again"))
    picked = dataclasses.replace(bench.DEFAULTS, noise_floor=0.3, startup=(10, 2, 3))
    saved, out = tmp_path / "tuned.json", tmp_path / "judged.json"
    log = [{"constant": "noise_floor", "value": 0.3, "gain": 0.02}]
    saved.write_text(json.dumps({"tuned_on": "other", "tuned_table": str(tmp_path / "other.gz"),
                                 "chosen": dataclasses.asdict(picked), "selection": log}))
    judge = f"{table}:{space_path}"
    assert bench.main(["--chosen", str(saved), "--judge", judge, "--seeds", "2",
                       "--budgets", "6", "--workers", "1", "--json", str(out)]) == 0
    judged = json.loads(out.read_text())
    assert judged["tuned_on"] == "other" and judged["selection"] == log
    assert judged["chosen"]["noise_floor"] == 0.3 and judged["chosen"]["startup"] == [10, 2, 3]
    assert [row["constants"].startswith("chosen on other") for row in judged["rows"]] == [True, False]
    assert {(run["constants"]["noise_floor"], run["seed"]) for run in judged["runs"]} == \
        {(0.3, 0), (0.3, 1), (0.1, 0), (0.1, 1)}
    assert set(judged["held_out_gain"]) == {"share@6"}
    # Chosen on the table it would be judged on: refused, whatever name the table goes by.
    saved.write_text(json.dumps({"tuned_on": "grid", "tuned_table": str(table),
                                 "chosen": dataclasses.asdict(picked)}))
    with pytest.raises(SystemExit):
        bench.main(["--chosen", str(saved), "--judge", judge])
    assert "never judged on the table it was chosen on" in capsys.readouterr().err
    # The public mnist5k choice, saved before the table's path was, is known by its name.
    tuned = BENCHMARKS / "tabular" / "constants_tuned_on_mnist5k.json"
    with pytest.raises(SystemExit):
        bench.main(["--chosen", str(tuned), "--judge", "mnist5k"])
    assert "chosen on mnist5k" in capsys.readouterr().err
    saved.write_text(json.dumps({"chosen": {"noise_floor": 0.3}}))
    with pytest.raises(SystemExit, match="not a choice saved by --tune"):
        bench.main(["--chosen", str(saved), "--judge", judge])
