"""benchmarks/bench_zero_cost.py: its two training-free proxies against hand computations, and
the benchmark end to end on a few of the tabular benchmark's architectures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.script_module import load_script

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_zero_cost.py"


def load_bench():
    return load_script(BENCH, "bench_zero_cost")


def test_synflow_of_a_linear_chain_is_depth_times_its_output():
    # R = 1' |W3| |W2| |W1| 1 is linear in each layer's weights, so (Euler) the sum over one
    # layer of theta * dR/dtheta is R itself, and SynFlow over 3 bias-free layers is 3 R.
    bench = load_bench()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 7, bias=False), nn.ReLU(),
                          nn.Linear(7, 5, bias=False), nn.Linear(5, 3, bias=False))
    weights = [model[i].weight.detach().abs().double().numpy() for i in (1, 3, 4)]
    output = np.ones(3) @ weights[2] @ weights[1] @ weights[0] @ np.ones(12)
    assert bench.synflow(model, (1, 3, 4)) == pytest.approx(math.log10(3 * output), abs=1e-6)


def test_gradient_norm_of_a_linear_classifier_matches_the_softmax_gradient():
    bench = load_bench()
    generator = np.random.default_rng(1)
    images = torch.tensor(generator.normal(size=(16, 1, 2, 3)), dtype=torch.float32)
    labels = torch.tensor(generator.integers(0, 4, size=16))
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 4))
    w = model[1].weight.detach().double().numpy()
    b = model[1].bias.detach().double().numpy()
    x = images.reshape(16, 6).double().numpy()
    logits = x @ w.T + b
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    error = (probs - np.eye(4)[labels.numpy()]) / 16  # d(mean cross-entropy)/d(logits)
    expected = math.sqrt(np.sum((error.T @ x) ** 2) + np.sum(error.sum(axis=0) ** 2))
    assert bench.gradient_norm(model, images, labels) == pytest.approx(expected, rel=1e-5)


def test_the_benchmark_scores_a_few_architectures_of_the_table(tmp_path, capsys):
    bench = load_bench()
    out = tmp_path / "zero_cost.json"
    assert bench.main(["--limit", "4", "--init-seeds", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| synflow |" in printed and "| params |" in printed
    saved = json.loads(out.read_text())
    assert [row["ranking"] for row in saved["summary"]] == ["params", "MACs", "grad_norm",
                                                              "synflow"]
    header, records = bench.table_architectures(bench.DEFAULT_TABLE)
    for record, scored in zip(records[:4], saved["architectures"], strict=True):
        assert scored["id"] == record["id"]
        assert scored["accuracy"] == pytest.approx(record["accuracy"])
        # Two initialisations each, finite, and not the same draw twice.
        assert len(scored["synflow"]) == 2 and all(map(math.isfinite, scored["synflow"]))
        assert scored["grad_norm"][0] != scored["grad_norm"][1]
