"""The checks a space must pass when it loads, beyond its schema: the base, each parameter, the
objectives, the constraints and the run settings."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from t2tsearch.arch import ArchConfig
from t2tsearch.conditions import FIELD_KINDS, ConditionError, config_fields, parse_condition
from t2tsearch.datasets import DATASETS
from t2tsearch.errors import UnknownPresetError
from t2tsearch.presets import get_preset
from t2tsearch.space.errors import describe_error, did_you_mean
from t2tsearch.space.fields import (
    KNOWN_BEFORE_TRAINING,
    NOT_SEARCHABLE,
    SEARCHABLE,
    SETTING_LIMITS,
    affected_fields,
    is_int_field,
    measured_objectives,
    over_limit,
    split_index,
)
from t2tsearch.space.sections import Parameter, SpaceFields

MAX_GRID = 1_000_000  # points of a grid-sampler search, listed by optuna's GridSampler


def _check_settings(space: SpaceFields) -> None:
    for path, (least, most) in SETTING_LIMITS.items():
        section, name = path.split(".")
        value = getattr(getattr(space, section), name)
        if value is not None and not least <= value <= most:
            raise Problem(path, f"{value!r} is outside {least:g}..{most:g}")


# ---- semantic checks ---------------------------------------------------------------------------
class Problem(Exception):
    """A failed check: where in the space (a key path) and why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def check_semantics(space: SpaceFields) -> None:
    """Every check, in order; raises Problem at the first that fails. Sets the space's resolved
    base, parsed `when` conditions and groups as it goes."""
    _check_settings(space)
    base = _resolve_base(space)
    _check_val_size(space)
    space._base_config = base
    for path, value in config_fields(base).items():
        reason = over_limit(path, value)
        if reason is not None:
            raise Problem(f"base.{path}", reason)
    for position, (path, param) in enumerate(space.parameters.items()):
        _check_parameter(space, position, path, param)
    if "backbone.head_dim" in space.parameters and "backbone.embed_dim" in space.parameters:
        raise Problem("parameters.backbone.embed_dim",
                      "set by backbone.head_dim x backbone.num_heads; search one of the two")
    if "t2t.num_splits" in space.parameters and "t2t.depth" in space.parameters:
        raise Problem("parameters.t2t.depth", "t2t.num_splits is searched too; keep one")
    for name, text in space.groups.items():
        try:
            space._groups[name] = parse_condition(text)
        except ConditionError as err:
            raise Problem(f"groups.{name}", str(err)) from None
    _check_objectives(space)
    _check_constraints(space, base)
    if space.search.sampler == "ehvi":
        measured = measured_objectives([o.metric for o in space.objectives])
        if len(measured) != 1:
            raise Problem("search.sampler",
                          f"ehvi models one measured objective and takes "
                          f"{' and '.join(KNOWN_BEFORE_TRAINING)} as known; these objectives "
                          f"have {len(measured)} measured ({', '.join(measured) or 'none'}): "
                          f"use nsga2, tpe or gp")
    if space.search.goal == "compare_groups" and not space.groups:
        raise Problem("search.goal", "compare_groups needs groups; define some under groups: "
                                     "or use goal: front")
    if space.search.sampler == "grid":
        points = 1
        for path, param in space.parameters.items():
            if param.count is None:
                raise Problem("search.sampler",
                              f"grid needs discrete parameters, but {path} is a continuous float")
            points *= param.count
            if points > MAX_GRID:
                raise Problem("search.sampler", f"the grid holds more than {MAX_GRID:,} points "
                              f"(at {path}); search it with another sampler")


def _resolve_base(space: SpaceFields) -> ArchConfig:
    dataset = space.train.dataset
    if dataset not in DATASETS:
        raise Problem("train.dataset", f"unknown dataset '{dataset}'"
                      + (did_you_mean(dataset, list(DATASETS))
                         or f"; known: {', '.join(DATASETS)}"))
    in_chans = DATASETS[dataset].in_chans
    # imagefolder counts its classes from the user's folder, unknown here: the space says.
    num_classes = DATASETS[dataset].num_classes or None
    if isinstance(space.base, str):
        try:
            cfg = get_preset(space.base)
        except UnknownPresetError as err:
            raise Problem("base", str(err)) from None
        given: set[str] = set()
    else:
        try:
            cfg = ArchConfig.model_validate(space.base)
        except ValidationError as err:
            where, reason = describe_error(err, ArchConfig)
            raise Problem(f"base.{where}" if where else "base", reason) from None
        given = set(space.base)
    if "img_size" in given and space.base["img_size"] != space.train.img_size:
        raise Problem("base.img_size", f"the image size comes from train.img_size "
                      f"({space.train.img_size}); set it there")
    if "in_chans" in given and space.base["in_chans"] != in_chans:
        raise Problem("base.in_chans", f"dataset {dataset} has {in_chans} channels")
    if num_classes is None:
        num_classes = cfg.num_classes  # imagefolder: the space says how many classes
    elif "num_classes" in given and space.base["num_classes"] != num_classes:
        raise Problem("base.num_classes", f"dataset {dataset} has {num_classes} classes")
    return cfg.replace(img_size=space.train.img_size, in_chans=in_chans, num_classes=num_classes)


def _check_val_size(space: SpaceFields) -> None:
    # Checked here against the dataset's known size, so that a space asking for too many is
    # refused before a run starts; load_data checks the files it finds too.
    info = DATASETS[space.train.dataset]
    size = space.train.val_size
    if size is not None and info.train_images is not None and size >= info.train_images:
        raise Problem("train.val_size", f"{size:,} is not below the {info.train_images:,} "
                                        f"training images of {info.name}; hold out fewer")


def _check_parameter(space: SpaceFields, position: int, path: str, param: Parameter) -> None:
    where = f"parameters.{path}"
    if path not in SEARCHABLE:
        if path in NOT_SEARCHABLE:
            raise Problem(where, NOT_SEARCHABLE[path])
        hint = did_you_mean(path, list(SEARCHABLE))
        raise Problem(where, "unknown key" + (hint or "; see docs/spaces.md for searchable fields"))
    adapter = SEARCHABLE[path]
    if param.float_range is not None and is_int_field(path):
        raise Problem(f"{where}.float", f"{path} is an integer; use int: or choice:")
    if param.int_range is not None and FIELD_KINDS.get(path) not in ("int", "float") \
            and not is_int_field(path):
        raise Problem(f"{where}.int", f"{path} is not a number; use choice:")
    if param.choice is not None:
        for index, value in enumerate(param.choice):
            _check_value(adapter, value, f"{where}.choice.{index}", path)
    else:
        dom = param.int_range or param.float_range
        kind = "int" if param.int_range else "float"
        _check_value(adapter, dom.low, f"{where}.{kind}.low", path)
        _check_value(adapter, dom.high, f"{where}.{kind}.high", path)
    names = list(space.parameters)
    later = names[position:]
    index = split_index(path)
    if index is not None:
        count_param = next((p for p in ("t2t.num_splits", "t2t.depth") if p in space.parameters),
                           None)
        if count_param is None:
            splits = len(space._base_config.t2t.soft_splits)
            if index >= splits:
                raise Problem(where, f"the base has {splits} soft splits (0..{splits - 1}) "
                              "and t2t.num_splits is not searched")
        elif count_param in later:
            raise Problem(where, f"list {count_param} before the per-split parameters")
    if param.when is not None:
        try:
            cond = parse_condition(param.when)
        except ConditionError as err:
            raise Problem(f"{where}.when", str(err)) from None
        for other in later:
            touched = cond.fields & affected_fields(other)
            if touched:
                what = "itself" if other == path else f"{other}, which is searched later"
                raise Problem(f"{where}.when", f"depends on {what}; a when may only use "
                              "parameters listed above it and base fields")
        space._conditions[path] = cond


def _check_value(adapter: TypeAdapter, value: Any, where: str, path: str) -> None:
    try:
        adapter.validate_python(value)
    except ValidationError as err:
        first = err.errors()[0]
        raise Problem(where, f"{first['msg']} (got {value!r})") from None
    reason = over_limit(path, value)
    if reason is not None:
        raise Problem(where, reason)


def _check_objectives(space: SpaceFields) -> None:
    seen = set()
    for index, objective in enumerate(space.objectives):
        if objective.metric in seen:
            raise Problem(f"objectives.{index}.metric", f"{objective.metric} is listed twice")
        seen.add(objective.metric)
        if objective.metric == "latency" and not space.train.measure_latency:
            raise Problem(f"objectives.{index}.metric",
                          "latency needs train.measure_latency: true")


def _check_constraints(space: SpaceFields, base: ArchConfig) -> None:
    """Constraints that are impossible whatever is sampled, caught before any sampling."""
    c = space.constraints
    if c.min_tokens is not None and c.max_tokens is not None and c.min_tokens > c.max_tokens:
        raise Problem("constraints.min_tokens",
                      f"min_tokens {c.min_tokens} > max_tokens {c.max_tokens}: no sample can meet both")
    token_params = [p for p in space.parameters if "num_tokens" in affected_fields(p)]
    if not token_params:
        tokens = base.num_tokens
        if c.min_tokens is not None and tokens < c.min_tokens:
            raise Problem("constraints.min_tokens", f"every sample has {tokens} tokens "
                          "(no soft-split parameter is searched), fewer than min_tokens")
        if c.max_tokens is not None and tokens > c.max_tokens:
            raise Problem("constraints.max_tokens", f"every sample has {tokens} tokens "
                          "(no soft-split parameter is searched), more than max_tokens")
