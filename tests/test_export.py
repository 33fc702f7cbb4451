"""Export: the files it writes are accepted by `t2tsearch cost`, `t2tsearch train` and build_model.

The run exported from is the session's shared tiny run (tests/conftest.py): export only reads it.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from t2tsearch.arch import ArchConfig
from t2tsearch.cli import load_arch, main
from t2tsearch.models.vit import build_model
from t2tsearch.results.run import read_run


def test_a_trial_exports_to_a_file_cost_and_build_model_accept(tiny_run, tmp_path, capsys):
    data = read_run(tiny_run)
    row = data.front.iloc[0]
    out = tmp_path / "arch.yaml"
    assert main(["export", str(tiny_run), "--trial", str(row["trial"]), "--out", str(out)]) == 0
    document = yaml.safe_load(out.read_text())
    assert document["trial"] == row["trial"] and document["config_id"] == row["config_id"]
    assert document["accuracy"] == pytest.approx(row["accuracy"], abs=1e-3)
    cfg = load_arch(str(out))
    assert cfg == ArchConfig.from_json(row["arch"]) and cfg.id == row["config_id"]
    model = build_model(cfg).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    capsys.readouterr()
    assert main(["cost", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cost"]["macs"] == row["macs"]


def test_train_accepts_an_exported_file(tiny_run, tmp_path, capsys):
    out = tmp_path / "arch.yaml"
    assert main(["export", str(tiny_run), "--trial", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["train", str(out), "--epochs", "1", "--train-subset", "100", "--no-latency",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["id"] == yaml.safe_load(out.read_text())["config_id"]
    assert result["result"]["status"] == "complete"


def test_the_front_exports_one_file_per_architecture(tiny_run, tmp_path):
    folder = tmp_path / "front"
    assert main(["export", str(tiny_run), "--front", "--out", str(folder)]) == 0
    files = sorted(folder.glob("*.yaml"))
    front = read_run(tiny_run).front
    assert len(files) == len(front)
    accuracies = [yaml.safe_load(f.read_text())["accuracy"] for f in files]
    assert accuracies == sorted(accuracies, reverse=True)  # best first, by file name
    assert {load_arch(str(f)).id for f in files} == set(front["config_id"])


@pytest.mark.parametrize(("args", "message"), [
    (["--trial", "99"], "no trial 99"),
    (["--front", "--trial", "0"], "exactly one of --front or --trial"),
    ([], "exactly one of --front or --trial"),
    (["--front"], "give a folder"),
])
def test_bad_export_requests_are_one_line(tiny_run, tmp_path, capsys, args, message):
    out = tmp_path / "x.yaml"
    assert main(["export", str(tiny_run), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()
