"""benchmarks/bench_search.py in small: it runs, and its hypervolume shares lie in [0, 1]."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from tests.test_evaluator import write_table_files

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_search.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_search", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_sampler_key_groups_budgets_that_share_sampler_settings():
    bench = load_bench()
    key = bench.sampler_key
    assert key("tpe", 30) == key("tpe", 50) == key("tpe", 100) == 10
    assert key("tpe", 10) != key("tpe", 20)
    assert key("ehvi", 25) == key("ehvi", 100) != key("ehvi", 20)
    assert key("random", 10) == key("random", 100)  # random search has no start-up phase


@pytest.fixture(scope="module")
def ray_session():
    import ray

    from t2tsearch.search import start_ray

    start_ray(None, verbose=False)
    yield
    ray.shutdown()


def test_two_seeds_of_twenty_trials_run_and_score_in_range(tmp_path, ray_session, capsys):
    bench = load_bench()
    space, table, _ = write_table_files(tmp_path)
    html, results = tmp_path / "bench.html", tmp_path / "bench.json"
    assert bench.main(["--table", str(table), "--space", str(space), "--seeds", "2",
                       "--budgets", "20", "--samplers", "random,ehvi", "--schedulers", "none",
                       "--html", str(html), "--json", str(results)]) == 0
    printed = capsys.readouterr().out
    assert "| random | none |" in printed and "| ehvi | none |" in printed and html.is_file()
    saved = json.loads(results.read_text())
    assert saved["true_hypervolume"] > 0 and len(saved["runs"]) == 4
    curves = [bench.RunCurve(**run) for run in saved["runs"]]
    for curve in curves:
        assert curve.share and all(0.0 <= share <= 1.0 for share in curve.share)
        assert curve.epochs == sorted(curve.epochs)  # epochs only add up
    for row in bench.summarise(curves, [20]):
        mean, se = row["share@20"]
        assert 0.0 <= mean <= 1.0 and not math.isnan(se)
