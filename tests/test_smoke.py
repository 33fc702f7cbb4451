"""The README's first command: the shipped smoke space, searched for real on the embedded data."""

from __future__ import annotations

from t2tsearch.cli import main
from t2tsearch.results import load_trials


def test_smoke_space_runs_and_prints_its_front(tmp_path, capsys):
    assert main(["run", "spaces/smoke.yaml", "--out", str(tmp_path), "--name", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front (" in out and "trials table:" in out
    table = load_trials(tmp_path / "smoke")
    complete = table[table["status"] == "complete"]
    assert len(complete) >= 8  # full-budget trials, as the issue promises a first run
    assert (complete["epochs"] == complete["max_epochs"]).all()
    # It learned something: the best architecture is well above chance (10%).
    assert complete["accuracy"].max() > 40
