"""benchmarks/bench_search.py in small: it runs and its searches end on the true front, and on a
table with several seeds per architecture it scores against the front of per-architecture means."""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from t2tsearch.space import build_config, load_space
from tests.script_module import load_script
from tests.test_evaluator import write_table_files

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_search.py"


def load_bench():
    return load_script(BENCH, "bench_search")


def test_sampler_key_groups_budgets_that_share_sampler_settings():
    bench = load_bench()
    key = bench.sampler_key
    assert key("tpe", 30) == key("tpe", 50) == key("tpe", 100) == 10
    assert key("tpe", 10) != key("tpe", 20)
    assert key("ehvi", 25) == key("ehvi", 100) != key("ehvi", 20)
    assert key("random", 10) == key("random", 100)  # random search has no start-up phase


def brute_front(points: dict[str, tuple[float, float]]) -> set[str]:
    """Ids of the (accuracy up, MACs down) points no other point dominates, pair by pair."""
    def dominates(a, b):
        return a[0] >= b[0] and a[1] <= b[1] and a != b
    return {k for k, p in points.items() if not any(dominates(q, p) for q in points.values())}


def brute_hypervolume(points: list[tuple[float, float]], ref_acc: float, ref_macs: float) -> float:
    """Area dominated by (accuracy, MACs) points inside the box below (ref_acc, ref_macs): a
    sweep over MACs from cheap to dear, each strip as tall as the best accuracy so far."""
    inside = sorted((m, a) for a, m in points if a > ref_acc and m < ref_macs)
    area, best = 0.0, ref_acc
    for index, (macs, acc) in enumerate(inside):
        best = max(best, acc)
        right = inside[index + 1][0] if index + 1 < len(inside) else ref_macs
        area += (right - macs) * (best - ref_acc)
    return area


def noisy_table(path: Path, archs: int = 24, seed: int = 3) -> dict[str, dict]:
    """A table of `archs` made-up architectures with 1-3 seeds each, seeds 12 points apart at
    most, one seed of one architecture diverged; returns {id: {"macs", "finals"}}, the final
    accuracies of the complete seeds only."""
    draw = random.Random(seed)
    rows, truth = [], {}
    for index in range(archs):
        cid = f"arch{index:02d}"
        macs = draw.randint(1, 100) * 1000
        base = 40 + 50 * (macs / 100000) ** 0.5 + draw.uniform(-8, 8)
        truth[cid] = {"macs": macs, "finals": []}
        for seed_ in range(1 + index % 3):
            final = round(base + draw.uniform(-6, 6), 2)
            status = "diverged" if (index, seed_) == (5, 1) else "complete"
            if status == "complete":
                truth[cid]["finals"].append(final)
            rows.append({"id": cid, "seed": seed_, "status": status, "reason": "",
                         "params": macs // 10, "macs": macs, "seconds": 1.0,
                         "accuracy": [final - 10, final] if status == "complete" else [final],
                         "val_loss": [1.0, 0.9]})
    with gzip.open(path, "wt") as out:
        json.dump({"header": {"version": 2}, "rows": rows}, out)
    return truth


def test_true_front_is_the_front_of_per_architecture_means(tmp_path):
    bench = load_bench()
    space_path, _, _ = write_table_files(tmp_path)  # the tiny space: accuracy and MACs, 2 epochs
    truth = noisy_table(tmp_path / "noisy.json.gz")
    front = bench.true_front(tmp_path / "noisy.json.gz", load_space(space_path))
    means = {cid: (float(np.mean(t["finals"])), float(t["macs"])) for cid, t in truth.items()}
    ref_macs = 1.1 * max(t["macs"] for t in truth.values())
    # The reference a run would choose: chance level (10 classes) and 1.1 x the largest MACs,
    # kept beside the score's, which sits at the worst architecture's mean accuracy.
    assert front.run_reference["accuracy"] == pytest.approx(10.0)
    assert front.run_reference["macs"] == pytest.approx(ref_macs)
    worst = min(m[0] for m in means.values())
    assert worst > 30  # far above chance, so the two references differ
    assert front.reference == pytest.approx({"accuracy": worst, "macs": ref_macs})
    assert front.seeds == 3
    assert front.mean_accuracy == pytest.approx({cid: m[0] for cid, m in means.items()})
    expected = brute_hypervolume(list(means.values()), worst, ref_macs)
    assert front.hypervolume == pytest.approx(expected, rel=1e-9)
    # Not the seed-0 front: the table's noise is big enough to tell them apart.
    seed0 = [(t["finals"][0], float(t["macs"])) for t in truth.values()]
    assert abs(brute_hypervolume(seed0, worst, ref_macs) - expected) > 1e-3 * expected
    # The architectures on the mean front, brute force against the library's ranking.
    from t2tsearch.pareto import objective_specs, pareto_front

    specs = objective_specs(load_space(space_path).objectives)
    assert set(pareto_front(front.frame, specs)["config_id"]) == brute_front(means)


def test_a_search_is_credited_with_means_not_its_draws(tmp_path):
    bench = load_bench()
    space_path, _, _ = write_table_files(tmp_path)
    truth = noisy_table(tmp_path / "noisy.json.gz")
    space = load_space(space_path)
    front = bench.true_front(tmp_path / "noisy.json.gz", space)
    from t2tsearch.pareto import objective_specs

    # A made-up search: each trial served the last complete seed of its architecture (a noisy
    # draw), then a duplicate and a quota rejection (not consumed), a stopped one, and a reused one.
    ids = sorted(truth)[:12]
    trials = [{"config_id": cid, "status": "complete", "accuracy": truth[cid]["finals"][-1],
               "macs": truth[cid]["macs"], "params": truth[cid]["macs"] // 10, "epochs": 2,
               "reused_from": math.nan} for cid in ids]
    trials.append({**trials[0], "status": "duplicate", "epochs": 0})
    trials.append({**trials[3], "status": "quota", "epochs": 0})
    trials.append({**trials[1], "status": "stopped_early", "epochs": 1})
    trials.append({**trials[2], "reused_from": 2, "epochs": 2})
    table = pd.DataFrame(trials)
    table["trial"] = range(len(table))
    table["finished"] = None
    curve = bench.curve_of(table, objective_specs(space.objectives), front, 0.0,
                           bench.RunCurve("random", "none", 0, len(table)))
    ref_acc, ref_macs = front.reference["accuracy"], front.reference["macs"]
    found: list[tuple[float, float]] = []
    expected = []
    for trial in trials:
        if trial["status"] in ("duplicate", "quota"):
            continue
        if trial["status"] == "complete":
            cid = trial["config_id"]
            found.append((float(np.mean(truth[cid]["finals"])), float(truth[cid]["macs"])))
        expected.append(brute_hypervolume(found, ref_acc, ref_macs) / front.hypervolume)
    assert curve.share == pytest.approx(expected, rel=1e-9)
    assert curve.epochs == [2 * n for n in range(1, 13)] + [25, 25]  # the reuse trains nothing


def test_a_table_with_stored_ids_of_an_older_scheme_still_credits_means(tmp_path):
    # Tables built before ids were canonical (the mnist5k tables) store other ids than the ones
    # a search's trials carry for the same models; the table evaluator recomputes them from each
    # row's arch, and so must the score, or no trial is credited its architecture's mean (each
    # kept its noisy draw, which can sit above the true front).
    bench = load_bench()
    space_path, _, _ = write_table_files(tmp_path)
    space = load_space(space_path)
    finals = {(1, 8): [50.0, 60.0], (1, 16): [70.0, 64.0], (2, 8): [58.0, 66.0]}
    rows, canonical = [], {}
    for index, ((depth, head_dim), accuracies) in enumerate(finals.items()):
        cfg = build_config(space, {"backbone.depth": depth, "backbone.head_dim": head_dim})
        canonical[(depth, head_dim)] = cfg.id
        for seed, final in enumerate(accuracies):
            rows.append({"id": f"legacy{index}", "seed": seed, "status": "complete", "reason": "",
                         "params": 1000 * depth * head_dim, "macs": 10000 * depth * head_dim,
                         "seconds": 1.0, "accuracy": [final - 10, final], "val_loss": [1, 1],
                         "arch": json.loads(cfg.to_json())})
    path = tmp_path / "legacy.json.gz"
    with gzip.open(path, "wt") as out:
        json.dump({"header": {"version": 2}, "rows": rows}, out)
    front = bench.true_front(path, space)
    assert front.mean_accuracy == pytest.approx(
        {canonical[key]: float(np.mean(values)) for key, values in finals.items()})
    # A search served seed 0's 70.0 for (1, 16) is credited its mean, 67.0.
    trial = pd.DataFrame([{"config_id": canonical[(1, 16)], "status": "complete",
                           "accuracy": 70.0}])
    assert bench.credited(trial, front)["accuracy"].tolist() == pytest.approx([67.0])


def test_the_score_tells_a_search_that_found_the_front_from_one_that_did_not(tmp_path):
    # Two made-up searches of 6 architectures on one table: one holds the front of means, the
    # other the 6 best of the rest. At the run's reference (chance level) every model above 40%
    # holds most of the area, so both score high and close; the score's reference (the table's
    # worst architecture) spreads them apart. Brute-force hypervolumes, not the library's.
    bench = load_bench()
    space_path, _, _ = write_table_files(tmp_path)
    truth = noisy_table(tmp_path / "noisy.json.gz", archs=40, seed=7)
    front = bench.true_front(tmp_path / "noisy.json.gz", load_space(space_path))
    means = {cid: (float(np.mean(t["finals"])), float(t["macs"])) for cid, t in truth.items()}
    on_front = brute_front(means)
    rest = {cid: m for cid, m in means.items() if cid not in on_front}
    good = [means[cid] for cid in sorted(on_front)][:6]
    mediocre = sorted(rest.values(), key=lambda m: -m[0] / m[1] ** 0.5)[:6]
    run_ref, score_ref = front.run_reference, front.reference

    def share(points, ref):
        total = brute_hypervolume(list(means.values()), ref["accuracy"], ref["macs"])
        return brute_hypervolume(points, ref["accuracy"], ref["macs"]) / total

    gap_run = share(good, run_ref) - share(mediocre, run_ref)
    gap_score = share(good, score_ref) - share(mediocre, score_ref)
    assert share(mediocre, run_ref) > 0.7  # the crowding the scoring reference removes
    assert gap_score > 1.5 * gap_run > 0


def with_counted_costs(table: Path) -> Path:
    """The table with each row's MACs and params as t2tsearch counts them: a run is scored on
    the costs it counted, the true front on the table's, so the two must agree (the hand-made
    table's round numbers do not)."""
    from t2tsearch.arch import ArchConfig
    from t2tsearch.cost import count_cost

    with gzip.open(table, "rt") as source:
        document = json.load(source)
    for row in document["rows"]:
        cost = count_cost(ArchConfig.model_validate(row["arch"]))
        row["macs"], row["params"] = cost.macs, cost.params
    counted = table.with_name("counted.json.gz")
    with gzip.open(counted, "wt") as out:
        json.dump(document, out)
    return counted


def test_two_seeds_of_twenty_trials_run_and_end_on_the_true_front(tmp_path, ray_session, capsys):
    bench = load_bench()
    space, table, _ = write_table_files(tmp_path)
    table = with_counted_costs(table)
    html, results = tmp_path / "bench.html", tmp_path / "bench.json"
    assert bench.main(["--table", str(table), "--space", str(space), "--seeds", "2",
                       "--budgets", "20", "--samplers", "random,ehvi", "--schedulers", "none",
                       "--html", str(html), "--json", str(results)]) == 0
    printed = capsys.readouterr().out
    assert "| random | none |" in printed and "| ehvi | none |" in printed and html.is_file()
    saved = json.loads(results.read_text())
    assert saved["true_hypervolume"] > 0 and len(saved["runs"]) == 4
    # Both reference points are stored, and the score's is the table's worst mean accuracy.
    front = bench.true_front(table, load_space(space))
    assert saved["reference"] == pytest.approx(front.reference)
    assert saved["run_reference"]["accuracy"] == pytest.approx(10.0)
    assert saved["reference"]["accuracy"] == pytest.approx(
        min(front.mean_accuracy.values()))
    assert "worst mean accuracy" in saved["scored_at"]
    curves = [bench.RunCurve(**run) for run in saved["runs"]]
    for curve in curves:
        # Found architectures only add area, and 20 trials over the table's three buildable
        # architectures find them all (a run may stop sooner, its grid used up): every run ends
        # on the true front, share 1 exactly.
        assert 0 < len(curve.share) <= 20 and curve.share == sorted(curve.share)
        assert curve.share[0] >= 0.0 and curve.share[-1] == pytest.approx(1.0, rel=1e-12)
        assert curve.epochs == sorted(curve.epochs)  # epochs only add up
    # So the printed share at 20 trials is 1 for both samplers, with no spread over seeds.
    for row in bench.summarise(curves, [20]):
        assert row["share@20"] == pytest.approx((1.0, 0.0))
    # Without Ray (--in-process), the same searches: trial for trial the same shares and epochs.
    alone = tmp_path / "alone.json"
    assert bench.main(["--table", str(table), "--space", str(space), "--seeds", "2",
                       "--budgets", "20", "--samplers", "random,ehvi", "--schedulers", "none",
                       "--in-process", "--json", str(alone)]) == 0
    key = lambda run: (run["sampler"], run["seed"])  # noqa: E731
    with_ray = sorted(saved["runs"], key=key)
    without = sorted(json.loads(alone.read_text())["runs"], key=key)
    assert [(r["share"], r["epochs"]) for r in without] == \
        [(r["share"], r["epochs"]) for r in with_ray]
    # Split over processes, one sampler each, and merged: the same runs, under the table's name.
    parts = [tmp_path / f"{sampler}.json" for sampler in ("random", "ehvi")]
    for sampler, part in zip(("random", "ehvi"), parts, strict=True):
        assert bench.main(["--table", str(table), "--space", str(space), "--seeds", "2",
                           "--budgets", "20", "--samplers", sampler, "--schedulers", "none",
                           "--in-process", "--json", str(part)]) == 0
    capsys.readouterr()
    merged = tmp_path / "merged.json"
    assert bench.main(["--from-json", *map(str, parts), "--budgets", "20",
                       "--json", str(merged)]) == 0
    assert f"table {table}:" in capsys.readouterr().out
    document = json.loads(merged.read_text())
    assert document["table"] == str(table)
    assert sorted(document["runs"], key=key) == without
