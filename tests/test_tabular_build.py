"""benchmarks/tabular/build.py's table v2 plan, without training: every architecture with every
seed, and v1's seed-0 rows carried over only when v1's budget is v2's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from t2tsearch.arch import ArchConfig
from tests.script_module import load_script

BUILD = Path(__file__).resolve().parents[1] / "benchmarks" / "tabular" / "build.py"


def load_build():
    return load_script(BUILD, "tabular_build")


@pytest.fixture(scope="module")
def build():
    return load_build()


@pytest.fixture(scope="module")
def configs(build):
    return build.grid_configs()


def test_v2_plans_every_seed_of_every_architecture(build, configs):
    assert len(configs) == 180
    v1 = build.planned_runs(configs)
    v2 = build.planned_runs(configs, 2)
    assert len(v1) == 225 and len(v2) == 360
    for seed in (0, 1):
        assert {cfg.id for cfg, s in v2 if s == seed} == {cfg.id for cfg in configs}
    # v1's seed 1 follows the seed's split, v2's every seed is on split 0.
    assert build.budget_for(1, 1).data_seed == 1 and build.budget_for(1, 2).data_seed == 0
    assert build.budget_for(0, 1).data_seed == build.budget_for(0, 2).data_seed == 0


def test_v1_seed0_rows_are_carried_over_only_under_the_same_budget(build, configs, tmp_path):
    with gzip.open(build.TABLE_FILE, "rt") as handle:
        v1 = json.load(handle)
    work = tmp_path / "v2.work.jsonl"
    copied = build.reuse_v1_rows(build.TABLE_FILE, work, configs, verify=0, echo=lambda _: None)
    assert copied == 180
    rows = build.work_rows(work)
    for row in v1["rows"]:
        if row["seed"] == 0:
            # v1 stored ids from before they were canonical: the v2 row has the model's id now.
            key = (ArchConfig.model_validate(row["arch"]).id, 0)
            assert rows[key]["accuracy"] == row["accuracy"]
            assert rows[key]["split_seed"] == 0
    assert not any(seed == 1 for _, seed in rows)  # seed 1 is trained fresh, on split 0
    # Run again: nothing more to copy (resumable).
    assert build.reuse_v1_rows(build.TABLE_FILE, work, configs, 0, echo=lambda _: None) == 0
    written = build.write_table(work, tmp_path / "v2.json.gz", build.planned_runs(configs, 2),
                                "test", version=2)
    with gzip.open(tmp_path / "v2.json.gz", "rt") as handle:
        header = json.load(handle)["header"]
    assert written == 180 and header["version"] == 2 and header["seeds"] == [0, 1]
    assert header["split_seed"] == 0 and header["complete"] is False
    assert header["reused"] == {"rows": 180, "from": [build.TABLE_FILE.name]}
    # A v1 trained under another budget is not carried over.
    other = tmp_path / "other_v1.json.gz"
    v1["header"]["budget"]["lr"] = 0.001
    with gzip.open(other, "wt") as handle:
        json.dump(v1, handle)
    assert build.reuse_v1_rows(other, tmp_path / "w.jsonl", configs, 0,
                               echo=lambda _: None) == 0
