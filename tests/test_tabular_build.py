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


ROOT = Path(__file__).resolve().parents[1]


def test_the_fashion_grid_is_a_sub_grid_of_the_headline_space():
    """The second table answers searches of spaces/deep_narrow.yaml: same base, limits, groups
    and training recipe, and every grid value one the headline space can sample."""
    from t2tsearch.space import load_space

    grid = load_space(ROOT / "benchmarks" / "tabular" / "fashion_space.yaml")
    headline = load_space(ROOT / "spaces" / "deep_narrow.yaml")
    assert grid.base == headline.base
    assert grid.constraints == headline.constraints
    assert grid.objectives == headline.objectives
    assert grid.groups == headline.groups
    # The table measures no latency; the recipe is otherwise the space's to the last setting.
    assert grid.train.model_copy(update={"measure_latency": True}) == headline.train
    assert set(grid.parameters) == set(headline.parameters)
    for path, parameter in grid.parameters.items():
        assert set(parameter.values()) <= set(headline.parameters[path].values()), path


TINY_GRID = """
name: tiny_grid
base:
  t2t: {soft_splits: [[7, 4, 2], [3, 2, 1]], token_dim: 16, mixer: performer}
  backbone: {num_heads: 2, mlp_ratio: 2.0}
parameters:
  backbone.depth: {choice: [1, 2]}
  backbone.head_dim: {choice: [16]}
train:
  dataset: mnist5k
  img_size: 28
  epochs: 1
  batch_size: 32
  split_seed: 0
  train_subset: 128
  val_subset: 64
"""


def test_another_space_s_grid_drops_what_its_constraints_reject(build, tmp_path):
    from t2tsearch.cost import count_cost

    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_GRID)
    both = build.grid_configs(space, cache_dir=tmp_path / "costs")
    assert sorted(cfg.backbone.depth for cfg in both) == [1, 2]
    shallow = next(cfg for cfg in both if cfg.backbone.depth == 1)
    limit = count_cost(shallow).macs  # exactly the 1-block model's MACs: 2 blocks are over it
    space.write_text(TINY_GRID + f"constraints: {{max_macs: {limit}}}\n")
    assert [cfg.id for cfg in build.grid_configs(space, cache_dir=tmp_path / "costs")] == \
        [shallow.id]
    assert build.table_name(space) == "tiny_grid"
    assert build.budget_for(1, 2, space).data_seed == 0  # the space's split, every seed


def test_a_killed_build_goes_on_where_it_stopped(build, tmp_path, monkeypatch):
    """Another space's build (2 seeds by default): a build stopped after 2 of 4 trainings, its
    work file then torn mid-line by a kill, trains only the 2 missing rows when run again, and
    the table it writes then is complete with the first rows as they were."""
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_GRID)
    work, table = tmp_path / "tiny.work.jsonl", tmp_path / "tiny.json.gz"
    monkeypatch.setattr(build, "COST_CACHE", tmp_path / "costs")
    trained: list[tuple[str, int]] = []
    real_train_one = build.train_one

    def counting_train_one(job):
        row = real_train_one(job)
        trained.append((row["id"], row["seed"]))
        return row

    monkeypatch.setattr(build, "train_one", counting_train_one)
    args = ["--space", str(space), "--workers", "1", "--work-file", str(work),
            "--table", str(table)]
    assert build.main([*args, "--limit", "2"]) == 0
    first = list(trained)
    assert len(first) == 2
    with gzip.open(table, "rt") as handle:
        header = json.load(handle)["header"]
    assert header["complete"] is False and header["rows"] == 2 and header["seeds"] == [0, 1]
    before = build.work_rows(work)
    with work.open("a") as handle:
        handle.write('{"id": "torn by a kill", "se')  # a line cut short: that run trains again
    trained.clear()
    assert build.main(args) == 0
    every = {(cfg.id, seed) for cfg in build.grid_configs(space, tmp_path / "costs")
             for seed in (0, 1)}
    assert len(every) == 4
    assert sorted(trained) == sorted(every - set(first))
    with gzip.open(table, "rt") as handle:
        written = json.load(handle)
    assert written["header"]["complete"] is True and written["header"]["name"] == "tiny_grid"
    assert {(row["id"], row["seed"]) for row in written["rows"]} == every
    rows = {(row["id"], row["seed"]): row for row in written["rows"]}
    for key in first:
        assert rows[key]["accuracy"] == before[key]["accuracy"]
        assert rows[key]["split_seed"] == 0
    # The fragment the kill left is gone: every line is a row a table reader can parse.
    assert all(json.loads(line) for line in work.read_text().splitlines())
    assert {row["device"] for row in written["rows"]} == {"cpu"}
    # A changed recipe: the rows trained under the old one are left out, to be trained again.
    space.write_text(TINY_GRID.replace("batch_size: 32", "batch_size: 16"))
    assert build.main([*args, "--limit", "0"]) == 0
    with gzip.open(table, "rt") as handle:
        header = json.load(handle)["header"]
    assert header["rows"] == 0 and header["complete"] is False
