"""Search spaces: schema, bad input as one line, define-by-run sampling, the shipped spaces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from t2tsearch.cli import main
from t2tsearch.cost import count_cost
from t2tsearch.space import (
    SpaceError,
    build_config,
    check_architecture,
    check_candidate,
    grid_space,
    load_run_space,
    load_space,
    parse_count,
    parse_space,
    random_draws,
    sample_random,
    space_size,
    suggest,
    survey_space,
    validate_space,
)

SPACES = Path(__file__).resolve().parent.parent / "spaces"
SHIPPED = ["deep_narrow", "t2t_module", "variants", "smoke", "imagenet_mobile"]

# A tiny base shared by the inline spaces: 28 px, 16 tokens, counts in ~0.1 s.
TINY_BASE = """
base:
  t2t: {soft_splits: [[7, 4, 2], [3, 2, 1]], token_dim: 16}
  backbone: {depth: 2, embed_dim: 32, num_heads: 2, mlp_ratio: 2.0}
train: {img_size: 28}
"""


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def space_from(text: str):
    import yaml

    return parse_space(yaml.safe_load(text), "inline.yaml")


# ---- bad input: one line, file + key path + reason, exit 2 ------------------------------------
DEPTH = "parameters:\n  backbone.depth: {int: {low: 1, high: 2}}\n"
BAD = [
    ("syntax", "parameters:\n  backbone.depth: {int: {low: 2, high: 4}\n", "line 3", "not valid YAML"),
    ("unknown_param", "parameters:\n  backbone.dept: {choice: [1, 2]}\n",
     "parameters.backbone.dept", "unknown key; did you mean backbone.depth?"),
    ("unknown_section", "parameterz:\n  backbone.depth: {choice: [1, 2]}\n",
     "parameterz", "unknown key; did you mean parameters?"),
    ("unknown_domain_key", "parameters:\n  backbone.depth: {int: {low: 1, hgh: 2}}\n",
     "parameters.backbone.depth.int.hgh", "did you mean high?"),
    ("wrong_type", "parameters:\n  backbone.depth: {int: {low: two, high: 4}}\n",
     "parameters.backbone.depth.int.low", "valid integer (got 'two')"),
    ("wrong_field_type", "parameters:\n  backbone.block: {choice: [plain, 3]}\n",
     "parameters.backbone.block.choice.1", "(got 3)"),
    ("empty_choice", "parameters:\n  backbone.depth: {choice: []}\n",
     "parameters.backbone.depth.choice", "empty"),
    ("low_above_high", "parameters:\n  backbone.depth: {int: {low: 8, high: 4}}\n",
     "parameters.backbone.depth.int", "low 8 > high 4"),
    ("unknown_preset", "base: t2t_vit_77\n" + DEPTH, "base", "unknown preset 't2t_vit_77'"),
    ("unknown_metric", "objectives: [{metric: acuracy}]\n" + DEPTH,
     "objectives.0.metric", "'accuracy'"),
    ("unknown_direction", "objectives: [{metric: macs, direction: down}]\n" + DEPTH,
     "objectives.0.direction", "'maximize' or 'minimize'"),
    ("when_unknown_field",
     "parameters:\n  backbone.se_reduction: {choice: [4], when: backbone.blok == se}\n",
     "parameters.backbone.se_reduction.when", "unknown field 'backbone.blok'"),
    ("group_unknown_field", "groups: {deep: backbone.depht >= 3}\n" + DEPTH,
     "groups.deep", "unknown field 'backbone.depht'"),
    ("impossible_macs", "constraints: {max_macs: 1K}\n" + TINY_BASE + DEPTH,
     "constraints.max_macs", "no sample of"),
    ("impossible_tokens", "constraints: {min_tokens: 100}\n" + TINY_BASE + DEPTH,
     "constraints.min_tokens", "every sample has 16 tokens"),
    ("tokens_crossed", "constraints: {min_tokens: 9, max_tokens: 4}\n" + DEPTH,
     "constraints.min_tokens", "no sample can meet both"),
    ("empty", "", "(top level)", "empty file"),
    ("not_a_mapping", "- a\n- b\n", "(top level)", "not a list"),
    ("python_call", 'groups: {evil: "__import__(\'os\').system(\'x\')"}\n' + DEPTH,
     "groups.evil", "calls are not allowed"),
    ("python_attribute", "groups: {evil: backbone.__class__ == x}\n" + DEPTH,
     "groups.evil", "unknown field 'backbone.__class__'"),
    ("duplicate_key", DEPTH + "  backbone.depth: {int: {low: 1, high: 3}}\n",
     "line 3", "duplicate key 'backbone.depth'"),
    ("when_later", "parameters:\n  backbone.se_reduction: {choice: [4], when: backbone.block == se}\n"
     "  backbone.block: {choice: [plain, se]}\n",
     "parameters.backbone.se_reduction.when", "searched later"),
    ("unknown_dataset", "train: {dataset: cifar11}\n" + DEPTH, "train.dataset", "did you mean cifar10?"),
    ("bad_count", "constraints: {max_macs: 50Q}\n" + DEPTH, "constraints.max_macs", "cannot read '50Q'"),
    ("not_searchable", "parameters:\n  img_size: {choice: [28, 32]}\n",
     "parameters.img_size", "set by train.img_size"),
    ("both_widths", "parameters:\n  backbone.head_dim: {choice: [16]}\n"
     "  backbone.embed_dim: {choice: [32]}\n", "parameters.backbone.embed_dim", "head_dim"),
    ("split_beyond_base", TINY_BASE + "parameters:\n  t2t.soft_splits.2.kernel: {choice: [3]}\n",
     "parameters.t2t.soft_splits.2.kernel", "the base has 2 soft splits"),
    ("float_on_int", "parameters:\n  backbone.depth: {float: {low: 1, high: 2}}\n",
     "parameters.backbone.depth.float", "is an integer"),
    ("grid_continuous", "search: {sampler: grid}\nparameters:\n"
     "  backbone.mlp_ratio: {float: {low: 1, high: 2}}\n", "search.sampler", "grid needs"),
    ("val_size_all", "train: {dataset: fashion_mnist, val_size: 60000}\n" + DEPTH,
     "train.val_size", "60,000 is not below the 60,000 training images of fashion_mnist"),
    ("val_size_zero", "train: {dataset: cifar10, val_size: 0}\n" + DEPTH,
     "train.val_size", "greater than or equal to 1"),
]


@pytest.mark.parametrize(("name", "text", "where", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_space_is_one_line(tmp_path, capsys, name, text, where, reason):
    path = write(tmp_path, text, f"{name}.yaml")
    code = main(["validate", str(path), "--samples", "30", "--cost-budget", "2"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"{name}.yaml" in lines[0] and where in lines[0] and reason in lines[0], lines[0]


def test_missing_file_and_directory(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nothere.yaml")]) == 2
    assert "nothere.yaml: no such file" in capsys.readouterr().err
    assert main(["sample", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "Traceback" not in err


# ---- schema defaults and parsing ---------------------------------------------------------------
def test_defaults_and_sampler_resolution():
    space = space_from(DEPTH)
    assert [(o.metric, o.direction) for o in space.objectives] == [("accuracy", "maximize"),
                                                                   ("macs", "minimize")]
    assert space.search.sampler == "ehvi"  # auto: accuracy measured, MACs known before training
    assert (space.search.trials, space.search.concurrency, space.search.effective_scheduler) == (
        20, 2, "none")
    # A sampler given on the command line brings its own default scheduler.
    from t2tsearch.engine.search import apply_overrides

    nsga2 = apply_overrides(space, {"sampler": "nsga2"}, "space.yaml").search
    assert (nsga2.sampler, nsga2.scheduler, nsga2.effective_scheduler) == (
        "nsga2", "auto", "pareto_asha")
    assert space.train.dataset == "mnist5k"
    assert (space.base_config.in_chans, space.base_config.num_classes) == (1, 10)
    assert space.base_config.img_size == space.train.img_size
    single = space_from("objectives: [{metric: accuracy}]\n" + DEPTH)
    assert single.search.sampler == "tpe"
    assert space_from("objectives: [{metric: params}]\n" + DEPTH).objectives[0].direction == "minimize"


def test_imagefolder_takes_classes_from_base():
    space = space_from("base: {num_classes: 200}\ntrain: {dataset: imagefolder, img_size: 64}\n"
                       + DEPTH)
    assert (space.base_config.in_chans, space.base_config.num_classes) == (3, 200)
    with pytest.raises(SpaceError, match="base.num_classes: dataset cifar10 has 10 classes"):
        space_from("base: {num_classes: 200}\ntrain: {dataset: cifar10}\n" + DEPTH)


@pytest.mark.parametrize(("text", "value"), [("50M", 50_000_000), ("1.5G", 1_500_000_000),
                                             ("2k", 2000), (1000, 1000), ("3e6", 3_000_000)])
def test_parse_count(text, value):
    assert parse_count(text) == value


def test_to_yaml_round_trips():
    space = load_space(SPACES / "t2t_module.yaml")
    again = space_from(space.to_yaml())
    assert again.model_dump() == space.model_dump()


def test_a_run_space_without_split_seed_keeps_the_old_split(tmp_path):
    """A new space gets split seed 0; a run's space.yaml made before the key existed reads as
    None (the split follows train.seed), and a run made since states its split seed."""
    text = (SPACES / "smoke.yaml").read_text()
    assert "split_seed" not in text
    path = tmp_path / "space.yaml"
    path.write_text(text)
    assert load_space(path).train.split_seed == 0
    old = load_run_space(path).train
    assert old.split_seed is None and old.data_seed == old.seed
    written = load_space(path).model_copy(update={"train": old.model_copy(
        update={"seed": 4, "split_seed": 7})}).to_yaml()
    path.write_text(written)
    assert (load_run_space(path).train.seed, load_run_space(path).train.data_seed) == (4, 7)
    # An old run rewritten on resume (to_yaml writes `split_seed: null`) stays an old run.
    path.write_text(load_space(SPACES / "smoke.yaml").model_copy(
        update={"train": old}).to_yaml())
    assert load_run_space(path).train.split_seed is None


def test_command_line_overrides_keep_an_old_runs_split(tmp_path):
    """`run --resume OLD --trials 40` rewrites the old run's space.yaml: its split still
    follows train.seed, and a new space saying `split_seed: null` keeps it too."""
    from t2tsearch.engine.search import apply_overrides

    data = yaml.safe_load((SPACES / "smoke.yaml").read_text())
    data["train"] = {**data.get("train", {}), "seed": 5}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data))
    old = load_run_space(path)
    assert (old.train.split_seed, old.train.data_seed) == (None, 5)
    extended = apply_overrides(old, {"trials": 40}, str(path))
    assert extended.search.trials == 40
    assert (extended.train.split_seed, extended.train.data_seed) == (None, 5)
    path.write_text(extended.to_yaml())  # what --resume writes back
    assert "split_seed: null" in path.read_text()
    for loaded in (load_run_space(path), load_space(path)):
        assert (loaded.train.split_seed, loaded.train.data_seed) == (None, 5)
    # A new space that asks for the old behaviour, run with a flag.
    data["train"]["split_seed"] = None
    path.write_text(yaml.safe_dump(data))
    flagged = apply_overrides(load_space(path), {"sampler": "tpe"}, str(path))
    assert flagged.train.data_seed == 5


def test_a_run_space_without_val_size_validated_on_the_test_set(tmp_path):
    """A new space holds out 10,000 training images; a run's space.yaml made before the key
    existed reads as None (its search validated on the test set), and stays so when a resume
    writes it back."""
    data = {**yaml.safe_load((SPACES / "smoke.yaml").read_text()), "train": {
        "dataset": "fashion_mnist", "img_size": 28, "split_seed": 0}}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_space(path).train.val_size == 10_000
    old = load_run_space(path)
    assert old.train.val_size is None and old.train.split_seed == 0
    path.write_text(old.to_yaml())
    assert "val_size: null" in path.read_text()
    assert load_run_space(path).train.val_size is None
    path.write_text(load_space(SPACES / "smoke.yaml").to_yaml())  # a run made since
    assert load_run_space(path).train.val_size == 10_000


# ---- sampling ------------------------------------------------------------------------------
VARIANTS = TINY_BASE + """
parameters:
  backbone.block: {choice: [plain, se, ghost]}
  backbone.depth: {int: {low: 1, high: 3}}
  backbone.se_reduction: {choice: [2, 4], when: backbone.block == se}
  backbone.ghost_ratio: {choice: [2], when: backbone.block == ghost}
"""


def test_conditional_parameter_only_when_its_condition_holds():
    space = space_from(VARIANTS)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    blocks = set()
    for _ in range(60):
        trial = study.ask()
        cfg = suggest(trial, space)
        blocks.add(cfg.backbone.block)
        assert ("backbone.se_reduction" in trial.params) == (cfg.backbone.block == "se")
        assert ("backbone.ghost_ratio" in trial.params) == (cfg.backbone.block == "ghost")
        if cfg.backbone.block == "se":
            assert cfg.backbone.se_reduction == trial.params["backbone.se_reduction"]
    assert blocks == {"plain", "se", "ghost"}
    # Conditional parameters count only where they apply: plain 3 + se 3x2 + ghost 3x1.
    assert space_size(space) == 3 + 6 + 3


def test_conditional_sampling_works_with_tpe_and_nsga2():
    space = space_from(VARIANTS)
    for sampler in (optuna.samplers.TPESampler(seed=0, n_startup_trials=3),
                    optuna.samplers.NSGAIISampler(seed=0, population_size=4)):
        study = optuna.create_study(sampler=sampler, directions=["minimize"])
        study.optimize(lambda t: suggest(t, space).backbone.depth, n_trials=10)
        assert len(study.trials) == 10


def test_same_seed_same_samples():
    space = load_space(SPACES / "t2t_module.yaml")
    first = [(s.params, s.config.id) for s in sample_random(space, 25, seed=3, count_costs=False)]
    again = [(s.params, s.config.id) for s in sample_random(space, 25, seed=3, count_costs=False)]
    other = [(s.params, s.config.id) for s in sample_random(space, 25, seed=4, count_costs=False)]
    assert first == again
    assert first != other


def test_soft_splits_in_number_and_per_split():
    space = load_space(SPACES / "t2t_module.yaml")
    seen_counts = set()
    for s in sample_random(space, 120, seed=0, count_costs=False):
        splits = s.config.t2t.soft_splits
        count = s.params["t2t.num_splits"]
        seen_counts.add(count)
        assert len(splits) == count
        assert splits[0].kernel == s.params["t2t.soft_splits.0.kernel"]
        assert splits[0].stride == s.params["t2t.soft_splits.0.stride"]
        # A per-split parameter is suggested only for a split the sample has.
        assert ("t2t.soft_splits.1.kernel" in s.params) == (count >= 2)
        assert ("t2t.soft_splits.2.stride" in s.params) == (count >= 3)
        if count >= 2:
            assert splits[1].kernel == s.params["t2t.soft_splits.1.kernel"]
        if count == 3:
            assert splits[2].kernel == 3 and splits[2].padding == 1  # from the base
    assert seen_counts == {1, 2, 3}


def test_extra_splits_get_defaults():
    space = space_from(TINY_BASE + "parameters:\n  t2t.num_splits: {choice: [4]}\n"
                       "  t2t.soft_splits.3.stride: {choice: [1]}\n")
    cfg = build_config(space, {"t2t.num_splits": 4, "t2t.soft_splits.3.stride": 1})
    assert [str(s) for s in cfg.t2t.soft_splits] == ["k7s4p2", "k3s2p1", "k3s2p1", "k3s1p1"]
    cfg = build_config(space, {"t2t.num_splits": 1})
    assert [str(s) for s in cfg.t2t.soft_splits] == ["k7s4p2"]


def test_head_dim_times_num_heads_is_always_feasible():
    space = space_from(TINY_BASE + """
parameters:
  backbone.num_heads: {int: {low: 1, high: 7}}
  backbone.head_dim: {int: {low: 3, high: 19, step: 2}}
  backbone.mlp_ratio: {choice: [2.0, 3.0]}
""")
    for s in sample_random(space, 200, seed=0, count_costs=False):
        bb = s.config.backbone
        assert bb.embed_dim == s.params["backbone.head_dim"] * s.params["backbone.num_heads"]
        assert s.config.feasible, s.config.problems()


def test_rejection_reasons_before_training():
    space = space_from("constraints: {max_tokens: 16}\n" + TINY_BASE
                       + "parameters:\n  t2t.soft_splits.1.stride: {choice: [1, 2]}\n")
    cfg = build_config(space, {"t2t.soft_splits.1.stride": 1})
    assert check_candidate(cfg, space) == "tokens 49 > max_tokens 16"
    space = space_from("constraints: {max_macs: 100K}\n" + TINY_BASE + DEPTH)
    cfg = space.base_config
    reason = check_candidate(cfg, space)
    assert reason.startswith("macs ") and reason.endswith("> max_macs 100K")
    bad = cfg.replace(**{"backbone.num_heads": 3})
    assert check_candidate(bad, space).startswith("infeasible: embed_dim 32 is not divisible")
    roomy = space_from("constraints: {max_macs: 1G}\n" + TINY_BASE + DEPTH)
    assert check_candidate(cfg, roomy, cost=count_cost(cfg)) is None


def test_grid_space_lists_every_value():
    space = space_from("search: {sampler: grid}\n" + TINY_BASE + """
parameters:
  backbone.depth: {int: {low: 1, high: 5, step: 2}}
  backbone.mlp_ratio: {float: {low: 1.0, high: 2.0, step: 0.5}}
""")
    assert grid_space(space) == {"backbone.depth": [1, 3, 5], "backbone.mlp_ratio": [1.0, 1.5, 2.0]}
    assert space_size(space) == 9
    assert space_size(space_from(TINY_BASE + "parameters:\n  backbone.mlp_ratio: "
                                 "{float: {low: 1.0, high: 2.0}}\n")) is None


# ---- the CLI ---------------------------------------------------------------------------------
def test_sample_command_table_and_json(capsys):
    smoke = str(SPACES / "smoke.yaml")
    assert main(["sample", smoke, "-n", "4", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 samples from 'smoke' (seed 1)" in out and "of 4 feasible" in out
    assert main(["sample", smoke, "-n", "4", "--seed", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and all(row["cost"]["macs"] > 0 for row in rows)
    assert main(["sample", smoke, "-n", "4", "--seed", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == rows


def test_validate_command_prints_the_summary(capsys):
    # A generous counting budget: on a loaded machine the default 15 s counts only some of the
    # 24 (then the line says "a random subset"), and this test is about the summary's content.
    assert main(["validate", str(SPACES / "smoke.yaml"), "--samples", "200",
                 "--cost-budget", "600"]) == 0
    out = capsys.readouterr().out
    assert "space 'smoke' is valid" in out
    assert "size         24 combinations" in out
    assert "feasible     100.0% of 200 random samples" in out
    assert "counted for all 24 distinct" in out
    assert "backbone.depth" in out and "MACs" in out


SEARCHED_WIDTH = """
base:
  t2t: {soft_splits: [[7, 4, 2], [3, 2, 1]], token_dim: 16}
  backbone: {depth: 14, embed_dim: 384, num_heads: 2, mlp_ratio: 2.0}
train: {img_size: 28}
parameters:
  backbone.depth: {int: {low: 1, high: 3}}
  backbone.num_heads: {choice: [1, 2]}
  backbone.head_dim: {choice: [8, 16], when: "backbone.depth >= 2"}
"""


def _printed_values(line: str, field: str) -> tuple[set[int], bool]:
    """The values `validate` prints for a field, and whether it printed them as low..high."""
    listed = re.search(rf"{field} \{{([^}}]*)\}}", line)
    if listed:
        return {int(v) for v in listed.group(1).split(", ")}, False
    low, high = re.search(rf"{field} (\d+)\.\.(\d+)", line).groups()
    return {int(low), int(high)}, True


@pytest.mark.parametrize("text", [SEARCHED_WIDTH, None], ids=["when", "deep_narrow"])
def test_validate_shows_searched_fields_as_searched(tmp_path, capsys, text):
    path = write(tmp_path, text) if text else SPACES / "deep_narrow.yaml"
    assert main(["validate", str(path), "--samples", "20", "--cost-budget", "1"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  base "))
    # The base's depth 14 and width 384 are never sampled here: they must not show as the base.
    assert "d* w* h* r" in line and "d14" not in line and "w384" not in line, line
    # Reference: what the sampler actually draws (the fixed mlp ratio stays the base's).
    draws = [cfg.backbone for _, cfg in random_draws(load_space(path), 2000, seed=0)]
    for field, drawn in (("depth", {b.depth for b in draws}), ("width", {b.embed_dim for b in draws}),
                         ("heads", {b.num_heads for b in draws})):
        printed, as_range = _printed_values(line, field)
        assert printed == ({min(drawn), max(drawn)} if as_range else drawn), (field, line)
    if text:  # the width where head_dim does not apply (depth 1) is the base's
        assert _printed_values(line, "width") == ({8, 16, 32, 384}, False)


def test_sample_columns_line_up_with_long_group_names(tmp_path, capsys):
    path = write(tmp_path, TINY_BASE + """parameters:
  backbone.depth: {int: {low: 1, high: 3}}
groups:
  a_very_long_group_name_for_the_deep_models: "backbone.depth >= 2"
  shallow: "backbone.depth <= 2"
""")
    assert main(["sample", str(path), "-n", "12", "--seed", "3"]) == 0
    table = capsys.readouterr().out.splitlines()[1:-1]  # between the title and the count
    cells = [list(re.finditer(r"\S+", line))[:7] for line in table]
    assert len({m[5].group() for m in cells[1:]}) > 1  # groups of different lengths
    # Left-aligned columns (id, groups, architecture) start, right-aligned ones (#, params,
    # MACs, tokens) end, at the same offset on every line, the header included.
    for column in (1, 5, 6):
        assert len({m[column].start() for m in cells}) == 1, column
    for column in (0, 2, 3, 4):
        assert len({m[column].end() for m in cells}) == 1, column


# ---- the shipped spaces ----------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_space_validates(name):
    space, survey = validate_space(SPACES / f"{name}.yaml", samples=300, cost_budget_s=0.5)
    assert space.name == name and space.description
    assert survey.buildable > 0
    # Some counted architectures fit the space's own limits, and the range shown keeps to them.
    limits = yaml.safe_load((SPACES / f"{name}.yaml").read_text()).get("constraints", {})
    max_macs = parse_count(limits["max_macs"]) if "max_macs" in limits else float("inf")
    assert survey.feasible_fraction is not None and 0 < survey.feasible_fraction <= 1
    assert survey.cost_passed > 0 and survey.macs[1] <= max_macs
    # The survey counts in draw order: the first buildable draw, counted here, is among the
    # counted ones, and within the range shown when it fits the limits.
    first = next(cfg for _, cfg in random_draws(space, 300, space.search.seed)
                 if check_architecture(cfg, space) is None)
    macs = count_cost(first).macs
    assert survey.smallest["macs"] <= macs
    if macs <= max_macs and "max_params" not in limits:
        assert survey.macs[0] <= macs <= survey.macs[1]


def test_shipped_defaults_suit_their_purpose():
    for name in ("t2t_module", "variants", "smoke"):
        space = load_space(SPACES / f"{name}.yaml")
        assert space.train.dataset == "mnist5k" and space.train.img_size in (28, 32)
    # The headline question runs on data that can rank its shapes, validated on held-out
    # training images, never on the test set.
    headline = load_space(SPACES / "deep_narrow.yaml")
    assert headline.train.dataset == "fashion_mnist" and headline.train.img_size == 28
    assert headline.train.val_size is not None and headline.group_quota >= 3
    smoke = load_space(SPACES / "smoke.yaml")
    assert smoke.train.epochs <= 8 and smoke.search.trials <= 12
    mobile = load_space(SPACES / "imagenet_mobile.yaml")
    assert mobile.train.dataset == "imagefolder" and mobile.train.img_size == 224
    assert mobile.constraints.max_macs == 2_000_000_000


def test_deep_narrow_groups_cover_the_same_mac_range():
    space = load_space(SPACES / "deep_narrow.yaml")
    survey = survey_space(space, samples=400, cost_budget_s=0)  # group membership needs no cost
    drawn = sample_random(space, 400, count_costs=False)
    counts = {g: sum(g in s.groups for s in drawn) for g in space.groups}
    assert counts["deep_narrow"] >= 40 and counts["shallow_wide"] >= 20, counts
    assert survey.buildable == 400

    def macs(depth: int, heads: int, head_dim: int, ratio: float, group: str) -> float:
        cfg = build_config(space, {"backbone.depth": depth, "backbone.num_heads": heads,
                                   "backbone.head_dim": head_dim, "backbone.mlp_ratio": ratio})
        assert space.groups_of(cfg) == [group]
        return count_cost(cfg).macs / 1e6

    # The cheapest and a near-budget member of each group: both families span ~2M to ~27M.
    assert macs(8, 2, 16, 2.0, "deep_narrow") < 4 and macs(1, 2, 64, 2.0, "shallow_wide") < 4
    assert 20 < macs(14, 2, 48, 3.0, "deep_narrow") <= 30
    assert 20 < macs(4, 4, 48, 3.0, "shallow_wide") <= 30


def test_readme_example_is_a_valid_space(tmp_path):
    import re

    text = (SPACES.parent / "docs" / "spaces.md").read_text()
    example = re.search(r"## A complete example\n\n```yaml\n(.*?)```", text, re.S).group(1)
    space, survey = validate_space(write(tmp_path, example, "example.yaml"), samples=100,
                                   cost_budget_s=0)
    assert space.condition("backbone.se_reduction") is not None
    assert set(space.groups) == {"deep_narrow", "shallow_wide"} and survey.buildable == 100


# ---- comparison: the verdict's margin and the planned power ------------------------------------
def test_validate_states_the_power_the_quota_plans_for(tmp_path, capsys):
    # 12 trials, 2 groups: quota 3 each; scatter 2 points. The figure is the t test's, worked
    # out here from its definition: (t(0.975) + t(0.8)) x scatter x sqrt(2 / 3), 2 degrees of
    # freedom.
    from scipy.stats import t

    text = SEARCHED_WIDTH + """
groups:
  shallow: backbone.depth == 1
  deep: backbone.depth >= 2
comparison: {margin: 0.5, scatter: 2.0}
search: {trials: 12}
"""
    path = write(tmp_path, text)
    assert main(["validate", str(path), "--samples", "20", "--cost-budget", "1"]) == 0
    out = capsys.readouterr().out
    expected = (t.ppf(0.975, 2) + t.ppf(0.8, 2)) * 2.0 * np.sqrt(2 / 3)
    assert (f"power        3 full-budget architectures per group detect a difference of "
            f"{expected:.1f} points at 80% power if they scatter 2 points") in out
    assert "would detect the 0.5-point margin" in out


@pytest.mark.parametrize(("comparison", "key"), [({"margin": -1}, "comparison.margin"),
                                                 ({"scatter": 0}, "comparison.scatter"),
                                                 ({"margins": 1}, "comparison.margins")])
def test_bad_comparison_settings_are_one_line_naming_the_key(comparison, key):
    with pytest.raises(SpaceError) as err:
        parse_space({"parameters": {"backbone.depth": {"choice": [1, 2]}},
                     "comparison": comparison}, "spaces/x.yaml")
    assert key in str(err.value) and "\n" not in str(err.value)
