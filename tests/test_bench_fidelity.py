"""benchmarks/bench_fidelity.py's noise ceiling against a simulation with a known truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from tests.script_module import load_script

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fidelity.py"


def load_bench():
    return load_script(BENCH, "bench_fidelity")


@pytest.mark.parametrize("spread, sigma", [(1.0, 0.5), (0.4, 0.6), (3.0, 0.2)])
def test_the_noise_ceiling_recovers_a_known_truth(spread, sigma):
    # 16 architectures with true accuracies `spread` points apart (sd), each trained on 2
    # seeds with noise `sigma`. The true ceiling (a ranking by the true accuracies against the
    # mean of 2 noisy seeds) is computed from the truth itself; the benchmark sees only the
    # noisy seeds, one reference at a time. Over 30 references its estimate must be unbiased to
    # 0.06 and its sigma to 10%.
    bench = load_bench()
    draw = np.random.default_rng(11)
    truth = draw.normal(88.0, spread, 16)
    true_taus = [kendalltau(truth, truth + draw.normal(0, sigma, (2, 16)).mean(0))[0]
                 for _ in range(3000)]
    estimates, sigmas = [], []
    for index in range(30):
        runs = truth[:, None] + draw.normal(0, sigma, (16, 2))
        ceiling, _, seed_sd = bench.noise_ceiling(runs, draws=300, seed=index)
        estimates.append(ceiling)
        sigmas.append(seed_sd)
    assert np.mean(estimates) == pytest.approx(np.mean(true_taus), abs=0.06)
    assert np.mean(sigmas) == pytest.approx(sigma, rel=0.1)


def test_the_noise_ceiling_skips_architectures_without_two_seeds():
    bench = load_bench()
    runs = np.array([[80.0, 80.2], [85.0, 84.9], [90.0, 90.1], [70.0, np.nan]])
    ceiling, _, sigma = bench.noise_ceiling(runs, draws=200)
    assert ceiling == pytest.approx(1.0)  # 5 points apart, noise 0.1: never misordered
    assert sigma == pytest.approx(np.sqrt(np.mean([0.02, 0.005, 0.005])), rel=1e-6)


def test_compare_ranks_other_work_files_against_one_reference(tmp_path, capsys):
    # Two made-up work files over the benchmark's 16 architectures: the reference (2 seeds,
    # accuracy rising with the index), a recipe that ranks them the same way and one that
    # ranks them backwards: tau +1 and -1, whatever file they are in.
    bench = load_bench()
    compare = load_script(BENCH.parent / "fidelity" / "compare.py", "fidelity_compare")
    _, configs = bench.architectures(bench.SPREAD)

    def write(path, recipes):
        lines = []
        for name, seed, accuracy_of in recipes:
            for index, cfg in enumerate(configs):
                lines.append(json.dumps({"key": f"{cfg.id}|{name}{seed}", "recipe": f"{name} s{seed}",
                                         "status": "complete", "accuracy": accuracy_of(index)}))
        path.write_text("\n".join(lines) + "\n")

    write(tmp_path / "a.jsonl", [("reference", 0, lambda i: 0.80 + 0.005 * i),
                                 ("reference", 1, lambda i: 0.801 + 0.005 * i),
                                 ("same", 0, lambda i: 0.5 + 0.01 * i)])
    write(tmp_path / "b.jsonl", [("backwards", 0, lambda i: 0.9 - 0.01 * i)])
    assert compare.main(["--reference", f"{tmp_path / 'a.jsonl'}:reference",
                         str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]) == 0
    rows = {line.split(" | ")[1]: line.split(" | ")
            for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert rows["same"][4] == "1.00" and rows["backwards"][4] == "-1.00"
    assert rows["reference"][2] == "2"  # seeds
