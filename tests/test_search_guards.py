"""The search driver's guards, driven by hand as Ray Tune would drive them, without starting Ray."""

from __future__ import annotations

import pytest
import yaml

import t2tsearch.search as search
from t2tsearch.arch import ArchConfig
from t2tsearch.cli import main
from t2tsearch.search import QUOTA_DRAWS, QUOTA_PATIENCE
from t2tsearch.space import check_architecture, load_space, random_draws
from tests.test_search import GROUPED_SPACE, TINY_SPACE, drive_by_hand


def drive(tmp_path, space_data: dict, fixed: dict, trials: int):
    """A searcher whose sampler proposes `fixed` every time, each trial completing at once."""
    path = tmp_path / f"{space_data['name']}.yaml"
    path.write_text(yaml.safe_dump(space_data, sort_keys=False))
    space = load_space(path)
    searcher, configs, table, lines = drive_by_hand(tmp_path, space, "run", fixed, trials)
    return searcher, space, configs, table, lines


def test_the_quota_fallback_skips_members_that_cannot_be_built(tmp_path):
    # The first soft split's kernel is searched: kernel 3 with padding 2 cannot be built, so
    # half of the short group's random members are infeasible, and counting one raises.
    parameters = {**GROUPED_SPACE["parameters"],
                  "t2t.soft_splits.0.kernel": {"choice": [3, 7]}}
    # Seed 8: the fallback's first three members of 'rare' are infeasible (checked below).
    data = {**GROUPED_SPACE, "parameters": parameters,
            "search": {**GROUPED_SPACE["search"], "seed": 8}}
    fixed = {"backbone.depth": 1, "backbone.head_dim": 8, "t2t.soft_splits.0.kernel": 7}
    searcher, space, configs, table, _ = drive(tmp_path, data, fixed, trials=4)
    # The test reaches the case: the fallback's draws (seeded by the trials so far: 3 complete,
    # QUOTA_PATIENCE rejected) meet an infeasible member of 'rare' before a feasible one.
    draws = random_draws(space, QUOTA_DRAWS, space.search.seed + 3 + QUOTA_PATIENCE)
    rare = [cfg for _, cfg in draws if "rare" in space.groups_of(cfg)]
    assert [check_architecture(cfg, space) is not None for cfg in rare[:4]] == [True] * 3 + [False]
    # The search went on: a feasible member of 'rare' was queued and trained.
    assert [c["groups"] for c in configs] == [["common"], ["rare"]]
    assert check_architecture(ArchConfig.from_json(configs[1]["arch"]), space) is None
    assert searcher.budget_left == 0 and not searcher.out_of_reach
    assert (table["status"] == "quota").sum() == QUOTA_PATIENCE


def past_the_reference(*args, **kwargs):
    raise RuntimeError("the run went past choosing its reference")


@pytest.mark.parametrize("sampler", ["ehvi", "random"])
def test_a_space_where_nothing_fits_is_one_line_and_leaves_no_run(tmp_path, capsys, monkeypatch,
                                                                  sampler):
    # No MAC limit, so the reference is placed from a pool of feasible draws: none has so few
    # parameters.
    data = {**TINY_SPACE, "name": "nothing", "constraints": {"max_params": 10},
            "search": {**TINY_SPACE["search"], "sampler": sampler}}
    path = tmp_path / "nothing.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "runs"
    # The error comes before any trial needs Ray; a run that went past it fails at once instead.
    monkeypatch.setattr(search, "start_ray", lambda address, verbose: None)
    monkeypatch.setattr(search, "StudySearcher", past_the_reference)
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{path}: parameters: no feasible architecture" in err
    assert not out.exists() or not any(out.iterdir())
