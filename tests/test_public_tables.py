"""The tabular benchmarks that ship in benchmarks/tabular/: each complete, on two seeds, at the
recipe of the space it stands for, over that space's cost range."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from t2tsearch.arch import ArchConfig
from t2tsearch.space import load_space

ROOT = Path(__file__).resolve().parents[1]
FASHION = ROOT / "benchmarks" / "tabular" / "t2t_fashion_mnist_28px_v2.json.gz"


@pytest.fixture(scope="module")
def fashion():
    with gzip.open(FASHION, "rt") as handle:
        return json.load(handle)


def test_the_fashion_table_is_the_headline_space_at_its_recipe_on_two_seeds(fashion):
    header, rows = fashion["header"], fashion["rows"]
    headline = load_space(ROOT / "spaces" / "deep_narrow.yaml")
    assert header["complete"] is True and header["seeds"] == [0, 1]
    per_arch = Counter(row["id"] for row in rows)
    assert len(per_arch) >= 120 and set(per_arch.values()) == {2}
    assert {(row["id"], row["seed"]) for row in rows} == \
        {(arch_id, seed) for arch_id in per_arch for seed in (0, 1)}
    # The recipe is the headline space's own, field by field, on one split for both seeds.
    recipe = headline.train.model_dump(mode="json")
    for key, value in header["budget"].items():
        if key not in ("seed", "measure_latency"):  # the row's seed; a table times nothing
            assert value == recipe[key], key
    assert {row["split_seed"] for row in rows} == {headline.train.split_seed}
    assert {row["recipe"] for row in rows} == {header["recipe"]}
    configs = {row["id"]: ArchConfig.model_validate(row["arch"]) for row in rows}
    for row in rows:
        assert configs[row["id"]].id == row["id"]
        assert len(row["accuracy"]) == headline.train.epochs or row["status"] != "complete"
    # Over the space's cost range: from under a million MACs to its top tenth.
    macs = [row["macs"] for row in rows]
    limit = headline.constraints.max_macs
    assert min(macs) < 1e6 and 0.9 * limit <= max(macs) <= limit
    # Both families of the headline question are in it, with room to compare.
    families = Counter(name for cfg in configs.values() for name in headline.groups_of(cfg))
    assert set(families) == set(headline.groups) and min(families.values()) >= 10, families
