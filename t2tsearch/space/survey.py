"""What `t2tsearch validate` reports of a space: its size, a survey of random samples (feasibility
and cost ranges), and its base with the searched fields marked."""

from __future__ import annotations

import time
import typing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2tsearch.space.counts import format_count
from t2tsearch.space.errors import SpaceError
from t2tsearch.space.feasibility import check_architecture, check_cost, rejection_kind
from t2tsearch.space.fields import affected_fields, split_index
from t2tsearch.space.load import load_space
from t2tsearch.space.sampling import parameter_applies, random_draws
from t2tsearch.space.schema import SearchSpace

if typing.TYPE_CHECKING:
    from t2tsearch.cost import Cost


SIZE_WORK = 100_000  # branches space_size may follow before it gives up counting


def space_size(space: SearchSpace) -> int | None:
    """Number of distinct parameter combinations (conditional ones counted where they apply);
    None when a parameter is continuous, or when counting would follow more than SIZE_WORK
    branches (`when` conditions on parameters with many values)."""
    params = list(space.parameters.items())
    if any(param.count is None for _, param in params):
        return None
    # Only parameters that a later `when` (or per-split existence) looks at must be branched on;
    # the others multiply the count.
    watched: list[set[str]] = []
    for position in range(len(params)):
        later: set[str] = set()
        for path, _ in params[position + 1:]:
            cond = space.condition(path)
            later |= set(cond.fields) if cond else set()
            if split_index(path) is not None:
                later.add("t2t.num_splits")
        watched.append(later)
    work = 0

    def count(position: int, values: dict[str, Any]) -> int:
        nonlocal work
        if position == len(params):
            return 1
        path, param = params[position]
        if not parameter_applies(space, path, values):
            return count(position + 1, values)
        if affected_fields(path) & watched[position]:
            work += param.count or 0
            if work > SIZE_WORK:
                raise _TooMany
            return sum(count(position + 1, {**values, path: v}) for v in param.values() or [])
        return (param.count or 0) * count(position + 1, values)

    try:
        return count(0, {})
    except _TooMany:
        return None


class _TooMany(Exception):
    pass


@dataclass
class GroupStats:
    samples: int = 0
    macs: tuple[int, int] | None = None
    params: tuple[int, int] | None = None


def _widen(span: tuple[int, int] | None, value: int) -> tuple[int, int]:
    return (value, value) if span is None else (min(span[0], value), max(span[1], value))


@dataclass
class SpaceSurvey:
    """What `t2tsearch validate` reports: feasibility and cost ranges from random samples."""

    samples: int
    seed: int
    size: int | None
    buildable: int = 0  # samples passing the architecture and token checks
    cost_checked: int = 0  # of those, samples whose cost was counted
    cost_passed: int = 0  # of those, samples within max_macs / max_params
    distinct: int = 0  # distinct buildable architectures
    distinct_counted: int = 0
    count_seconds: float = 0.0
    rejections: Counter = field(default_factory=Counter)  # kind -> samples
    examples: dict[str, str] = field(default_factory=dict)  # kind -> one full reason
    macs: tuple[int, int] | None = None  # over feasible counted samples
    params: tuple[int, int] | None = None
    groups: dict[str, GroupStats] = field(default_factory=dict)
    smallest: dict[str, int] = field(default_factory=dict)  # least macs/params counted at all

    def reject(self, reason: str) -> None:
        """Tally one rejected sample under its kind, keeping the first full reason of each."""
        kind = rejection_kind(reason)
        self.rejections[kind] += 1
        self.examples.setdefault(kind, reason)

    @property
    def exact(self) -> bool:
        """True when every buildable architecture's cost was counted."""
        return self.distinct_counted == self.distinct

    @property
    def feasible_fraction(self) -> float | None:
        """Estimated feasible share of the space; None when no cost could be counted."""
        buildable = self.buildable / self.samples
        if self.buildable == 0:
            return 0.0
        if self.cost_checked == 0:
            return None
        return buildable * self.cost_passed / self.cost_checked


def survey_space(space: SearchSpace, samples: int = 1000, seed: int | None = None,
                 cost_budget_s: float = 15.0) -> SpaceSurvey:
    """Draw `samples` random architectures, check them, and count the costs of the distinct
    buildable ones in draw order until `cost_budget_s` runs out (0: count none). Counting takes
    0.3-4 s per small model, so a large space is surveyed on a random subset of its costs."""
    from t2tsearch.cost import count_cost

    seed = space.search.seed if seed is None else seed
    survey = SpaceSurvey(samples=samples, seed=seed, size=space_size(space))
    draws = random_draws(space, samples, seed)
    costs: dict[str, Cost | None] = {}
    start = time.perf_counter()
    for _, cfg in draws:
        reason = check_architecture(cfg, space)
        if reason is not None:
            survey.reject(reason)
            continue
        survey.buildable += 1
        if cfg.id not in costs:
            survey.distinct += 1
            within_budget = cost_budget_s > 0 and (
                survey.distinct_counted == 0 or time.perf_counter() - start < cost_budget_s)
            costs[cfg.id] = count_cost(cfg) if within_budget else None
            survey.distinct_counted += costs[cfg.id] is not None
        cost = costs[cfg.id]
        if cost is None:
            continue
        survey.cost_checked += 1
        survey.smallest["macs"] = min(survey.smallest.get("macs", cost.macs), cost.macs)
        survey.smallest["params"] = min(survey.smallest.get("params", cost.params), cost.params)
        reason = check_cost(cost, space)
        if reason is not None:
            survey.reject(reason)
            continue
        survey.cost_passed += 1
        survey.macs = _widen(survey.macs, cost.macs)
        survey.params = _widen(survey.params, cost.params)
        for name in space.groups_of(cfg):
            stats = survey.groups.setdefault(name, GroupStats())
            stats.samples += 1
            stats.macs = _widen(stats.macs, cost.macs)
            stats.params = _widen(stats.params, cost.params)
    survey.count_seconds = time.perf_counter() - start
    for name in space.groups:
        survey.groups.setdefault(name, GroupStats())
    return survey


def unmeetable(survey: SpaceSurvey, space: SearchSpace) -> str | None:
    """'key.path: reason' when no sample was feasible, naming the limit that rejected most."""
    if survey.buildable and (survey.cost_checked == 0 or survey.cost_passed):
        return None
    if not survey.rejections:
        return None
    kind, count = survey.rejections.most_common(1)[0]
    example = survey.examples[kind]
    if kind == "infeasible":
        return (f"parameters: no buildable sample among {survey.samples} random samples; "
                f"most common reason ({count}): {example}")
    smallest = ""
    if kind in ("max_macs", "max_params"):
        metric = kind.removeprefix("max_")
        smallest = f" (smallest {metric} counted: {format_count(survey.smallest[metric])})"
    return (f"constraints.{kind}: no sample of {survey.samples} meets it{smallest}; "
            f"e.g. {example}")


def validate_space(path: str | Path, samples: int = 1000, seed: int | None = None,
                   cost_budget_s: float = 15.0) -> tuple[SearchSpace, SpaceSurvey]:
    """Load and survey a space; SpaceError when it is malformed or nothing in it is feasible."""
    space = load_space(path)
    survey = survey_space(space, samples, seed, cost_budget_s)
    problem = unmeetable(survey, space)
    if problem is not None:
        raise SpaceError(f"{path}: {problem}")
    return space, survey


# ---- the base in words -----------------------------------------------------------------------------
# The fields of ArchConfig.short() and the parameters that can change each one.
_SUMMARY_FIELDS = {
    "mixer": ("t2t.mixer",), "token dim": ("t2t.token_dim",), "depth": ("backbone.depth",),
    "width": ("backbone.embed_dim", "backbone.head_dim"), "heads": ("backbone.num_heads",),
    "mlp ratio": ("backbone.mlp_ratio",), "block": ("backbone.block",),
}


def describe_base(space: SearchSpace) -> str:
    """The base in ArchConfig.short()'s form with every searched field shown as '*', followed
    by what each one ranges over: the base's own value of a searched field is never sampled
    unless the parameter has a `when` (its value where the condition fails)."""
    from t2tsearch.conditions import config_fields

    base = space.base_config
    params = space.parameters
    fixed = {"mixer": base.t2t.mixer, "token dim": base.t2t.token_dim,
             "depth": base.backbone.depth, "width": base.backbone.embed_dim,
             "heads": base.backbone.num_heads, "mlp ratio": base.backbone.mlp_ratio,
             "block": base.backbone.block}

    def domain(path: str) -> list[Any]:
        param = params[path]
        values = param.values()  # a lazy range for an integer range: never listed whole
        if values is None or len(values) > 64:  # continuous or long: its ends stand for it
            dom = param.int_range or param.float_range
            values = [dom.low, dom.high]
        values = list(values)
        # head_dim is no field of its own: the width branch below adds the base's width.
        where_not = param.when and path != "backbone.head_dim"
        return values + ([config_fields(base)[path]] if where_not else [])

    searched: dict[str, list[Any]] = {}
    for part, paths in _SUMMARY_FIELDS.items():
        if part == "width" and "backbone.head_dim" in params:
            # build_config sets the width to head_dim x num_heads.
            heads = domain("backbone.num_heads") if "backbone.num_heads" in params \
                else [base.backbone.num_heads]
            widths = [d * h for d in domain("backbone.head_dim") for h in heads]
            searched[part] = widths + ([fixed["width"]] if params["backbone.head_dim"].when
                                        else [])
        elif any(path in params for path in paths):
            searched[part] = domain(next(path for path in paths if path in params))
    splits_searched = any(path.startswith(("t2t.soft_splits.", "t2t.num_splits", "t2t.depth"))
                          for path in params)
    shown = {part: "*" if part in searched else value for part, value in fixed.items()}
    splits = "*" if splits_searched else ",".join(str(s) for s in base.t2t.soft_splits)
    text = (f"{shown['mixer']}[{splits}]/{shown['token dim']} d{shown['depth']} "
            f"w{shown['width']} h{shown['heads']} r{_value(shown['mlp ratio'])} {shown['block']}")
    if not searched and not splits_searched:
        return text
    ranges = [f"{part} {_values(values)}" for part, values in searched.items()]
    if splits_searched:
        ranges.insert(0, "soft splits (see parameters)")
    return f"{text}; * searched: " + ", ".join(ranges)


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _values(values: list[Any]) -> str:
    """Distinct values as {a, b, c}; more than four numbers as their range low..high."""
    distinct = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in distinct)
    if numeric and len(distinct) > 4:
        return f"{_value(distinct[0])}..{_value(distinct[-1])}"
    return "{" + ", ".join(_value(v) for v in distinct) + "}"
