"""The safe condition grammar of `when:` and `groups:`: parsing, evaluation, refusals."""

from __future__ import annotations

import pytest

from t2tsearch.conditions import ConditionError, config_fields, parse_condition

from .conftest import tiny_arch


@pytest.mark.parametrize(("text", "expected"), [
    ("backbone.depth >= 2", True),
    ("backbone.depth > 2", False),
    ("backbone.block == plain", True),
    ("backbone.block == 'se'", False),
    ('backbone.block != "se"', True),
    ("backbone.depth >= 2 and backbone.embed_dim <= 32", True),
    ("backbone.depth > 5 or backbone.embed_dim == 32", True),
    ("not backbone.depth == 2", False),
    ("not (backbone.depth == 3 or t2t.mixer == transformer)", True),
    ("t2t.mixer in [performer, transformer]", True),
    ("t2t.mixer not in [performer, transformer]", False),
    ("backbone.mlp_ratio == 2", True),
    ("backbone.head_dim == 16", True),
    ("t2t.depth == 2 and t2t.num_splits == 3", True),
    ("num_tokens == 4", True),  # 28 px: 7 -> 4 -> 2
    ("t2t.soft_splits.0.kernel == 7", True),
    ("backbone.qkv_bias", False),
    ("not backbone.qkv_bias and true", True),
])
def test_evaluate_on_a_config(text, expected):
    assert parse_condition(text).evaluate(tiny_arch()) is expected


def test_evaluate_on_a_flat_dict_and_missing_fields():
    cond = parse_condition("t2t.soft_splits.3.kernel == 3")
    assert cond.fields == {"t2t.soft_splits.3.kernel"}
    assert cond.evaluate(tiny_arch()) is False  # the config has three splits: no split 3
    assert parse_condition("not t2t.soft_splits.3.kernel == 3").evaluate(tiny_arch()) is True
    values = config_fields(tiny_arch())
    values["backbone.depth"] = 12
    assert parse_condition("backbone.depth >= 12").evaluate(values)


def test_precedence_and_binds_tighter_than_or():
    cfg = tiny_arch()  # depth 2
    assert parse_condition("backbone.depth == 9 and backbone.depth == 2 or true").evaluate(cfg)
    assert not parse_condition("backbone.depth == 9 and (backbone.depth == 2 or true)").evaluate(cfg)


@pytest.mark.parametrize(("text", "reason"), [
    ("__import__('os').system('x')", "calls are not allowed"),
    ("open('/etc/passwd')", "calls are not allowed"),
    ("backbone.depth.__class__ == 1", "unknown field 'backbone.depth.__class__'"),
    ("().__class__", "unexpected"),
    ("backbone.depth; 1", "unexpected character ';'"),
    ("lambda: 1", "unexpected character ':'"),
    ("backbone.depth + 1 > 2", "unexpected character '+'"),
    ("backbone.dept > 3", "did you mean backbone.depth?"),
    ("depth > 3", "did you mean backbone.depth or t2t.depth?"),
    ("backbone.block == sx", "never 'sx'"),
    ("backbone.block < se", "needs a number"),
    ("backbone.depth == deep", "is a number"),
    ("1 == 1", "names no field"),
    ("backbone.depth", "expected a comparison"),
    ("backbone.depth >", "ends too early"),
    ("(backbone.depth > 3", "expected ')'"),
    ("", "empty condition"),
])
def test_rejects(text, reason):
    with pytest.raises(ConditionError) as err:
        parse_condition(text)
    assert reason in str(err.value)
    assert "\n" not in str(err.value)
