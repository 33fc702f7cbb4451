"""Search spaces: the YAML schema, its validation, define-by-run sampling and candidate checks."""

from __future__ import annotations

import difflib
import math
import re
import time
import types
import typing
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from t2tsearch.arch import ArchConfig, BackboneConfig, SoftSplit, T2TConfig
from t2tsearch.budget import TrainBudget
from t2tsearch.conditions import (
    FIELD_KINDS,
    MAX_SOFT_SPLITS,
    Condition,
    ConditionError,
    config_fields,
    parse_condition,
)
from t2tsearch.datasets import DATASETS
from t2tsearch.errors import UnknownPresetError, UserError
from t2tsearch.presets import get_preset

if typing.TYPE_CHECKING:
    import optuna

    from t2tsearch.cost import Cost


class SpaceError(UserError):
    """A search space that cannot be used; the message is 'file: key.path: reason', one line:
    control and format characters a hostile key may carry (newlines, NUL, right-to-left
    overrides) are written as escapes."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


def _one_line(text: str) -> str:
    return "".join(char if char == " " or unicodedata.category(char)[0] not in "CZ"
                   else char.encode("unicode_escape").decode("ascii") for char in text)


# A soft split added when a sample has more splits than its base: the official later splits.
DEFAULT_EXTRA_SPLIT = SoftSplit(kernel=3, stride=2, padding=1)

# Count suffixes accepted by max_macs / max_params.
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_count(value: Any) -> int:
    """50M -> 50_000_000, 1.5G -> 1_500_000_000; plain numbers pass through."""
    if isinstance(value, bool):
        raise ValueError(f"expected a count such as 50M or 1.5G, not {value!r}")
    if isinstance(value, (int, float)):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"expected a positive count, not {value!r}")
        return int(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*([kKmMgGtT]?)\s*", str(value))
    if match is None:
        raise ValueError(f"cannot read {value!r} as a count; write e.g. 50M or 1.5G")
    return int(float(match.group(1)) * _SUFFIX[match.group(2).upper()])


def format_count(value: float) -> str:
    """61234567 -> '61.2M': the inverse of parse_count, for messages and tables."""
    for suffix in ("T", "G", "M", "K"):
        if abs(value) >= _SUFFIX[suffix]:
            return f"{value / _SUFFIX[suffix]:.3g}{suffix}"
    return f"{value:g}"


# ---- the schema ---------------------------------------------------------------------------------
class _Strict(BaseModel):
    # strict: YAML already types its scalars, so '4' where 4 is meant is a mistake worth showing.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Scalar = bool | int | float | str
MAX_CHOICES = 1000  # per choice list; Optuna compares a trial's choices with each suggestion


class IntRange(_Strict):
    """Integers low..high (both included) every `step`, optionally sampled on a log scale."""

    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise PydanticCustomError("range", "low {low} > high {high}",
                                      {"low": self.low, "high": self.high})
        if self.log and (self.step != 1 or self.low < 1):
            raise PydanticCustomError("range", "log needs low >= 1 and step 1", {})
        return self

    @property
    def count(self) -> int:
        """How many values the range holds, counted without listing them."""
        return (self.high - self.low) // self.step + 1

    def values(self) -> range:
        return range(self.low, self.high + 1, self.step)  # lazy: never a list of `count` ints


class FloatRange(_Strict):
    """Reals in [low, high], optionally on a log scale or on a grid of `step`."""

    low: FiniteFloat
    high: FiniteFloat
    step: FiniteFloat | None = Field(default=None, gt=0)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise PydanticCustomError("range", "low {low} > high {high}",
                                      {"low": self.low, "high": self.high})
        if self.log and (self.step is not None or self.low <= 0):
            raise PydanticCustomError("range", "log needs low > 0 and no step", {})
        return self

    @property
    def count(self) -> int | None:
        """How many grid values the range holds; None when it is continuous (no step)."""
        if self.step is None:
            return None
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    def values(self) -> list[float] | None:
        """The grid's values; only asked of a grid that passed MAX_GRID (see grid_space)."""
        if self.count is None:
            return None
        return [self.low + i * self.step for i in range(self.count)]


class Parameter(_Strict):
    """One searched field: exactly one domain (choice, int or float) and an optional `when`."""

    choice: list[Scalar] | None = Field(default=None, min_length=1, max_length=MAX_CHOICES)
    int_range: IntRange | None = Field(default=None, alias="int")
    float_range: FloatRange | None = Field(default=None, alias="float")
    when: str | None = None

    @model_validator(mode="after")
    def _one_domain(self) -> Parameter:
        given = [name for name, value in (("choice", self.choice), ("int", self.int_range),
                                          ("float", self.float_range)) if value is not None]
        if len(given) != 1:
            reason = "needs a domain" if not given else f"has {' and '.join(given)}"
            raise PydanticCustomError("domain", "{reason}: give exactly one of choice, int, float",
                                      {"reason": reason})
        if self.choice is not None:
            seen = set()
            for value in self.choice:
                key = (type(value), value)
                if key in seen:
                    raise PydanticCustomError("domain", "choice lists {value!r} twice",
                                              {"value": value})
                seen.add(key)
        return self

    @property
    def kind(self) -> str:
        return "choice" if self.choice is not None else "int" if self.int_range else "float"

    @property
    def count(self) -> int | None:
        """How many values the domain allows, or None when it is continuous."""
        if self.choice is not None:
            return len(self.choice)
        dom = self.int_range or self.float_range
        assert dom is not None
        return dom.count

    def values(self) -> list[Any] | range | None:
        """Every value the domain allows (a lazy range for int:), or None when continuous."""
        if self.choice is not None:
            return list(self.choice)
        if self.int_range is not None:
            return self.int_range.values()
        assert self.float_range is not None
        return self.float_range.values()

    def describe(self) -> str:
        if self.choice is not None:
            text = "choice [" + ", ".join(str(v) for v in self.choice) + "]"
        else:
            dom = self.int_range or self.float_range
            assert dom is not None
            text = f"{self.kind} {dom.low:g}..{dom.high:g}"
            if dom.step not in (None, 1):
                text += f" step {dom.step:g}"
            if dom.log:
                text += " log"
        return text + (f"   when {self.when}" if self.when else "")


class Constraints(_Strict):
    """Limits a sample must meet before it is trained; MAC/param limits accept 50M, 1.5G, ..."""

    max_macs: int | None = None
    max_params: int | None = None
    min_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)

    @field_validator("max_macs", "max_params", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        if value is None:
            return None
        try:
            return parse_count(value)
        except ValueError as err:
            raise PydanticCustomError("count", str(err)) from None

    def describe(self) -> str:
        parts = [f"max_macs {format_count(self.max_macs)}" if self.max_macs else "",
                 f"max_params {format_count(self.max_params)}" if self.max_params else "",
                 f"min_tokens {self.min_tokens}" if self.min_tokens else "",
                 f"max_tokens {self.max_tokens}" if self.max_tokens else ""]
        return ", ".join(p for p in parts if p) or "none"


Metric = Literal["accuracy", "macs", "params", "latency"]
_NATURAL_DIRECTION = {"accuracy": "maximize", "macs": "minimize", "params": "minimize",
                      "latency": "minimize"}


class Objective(_Strict):
    """One objective; the direction defaults to the natural one (maximize accuracy, else minimize)."""

    metric: Metric
    direction: Literal["maximize", "minimize"]

    @model_validator(mode="before")
    @classmethod
    def _natural_direction(cls, data: Any) -> Any:
        if isinstance(data, dict) and "direction" not in data and data.get("metric") in _NATURAL_DIRECTION:
            return {**data, "direction": _NATURAL_DIRECTION[data["metric"]]}
        return data


SamplerName = Literal["auto", "ehvi", "nsga2", "tpe", "gp", "random", "grid"]
# Objectives that count_cost knows before training; any other one is measured by training.
KNOWN_BEFORE_TRAINING = ("macs", "params")


def measured_objectives(metrics: list[str]) -> list[str]:
    return [metric for metric in metrics if metric not in KNOWN_BEFORE_TRAINING]


class SearchSettings(_Strict):
    """How the search runs: Optuna sampler, trial count, Ray resources and early stopping."""

    # auto (resolved when the space loads): tpe with one objective; ehvi (t2tsearch.sampler)
    # when every objective but one is a cost known before training; nsga2 otherwise.
    sampler: SamplerName = "auto"
    trials: int = Field(default=20, ge=1)
    seed: int = 0
    concurrency: int = Field(default=2, ge=1)
    cpus_per_trial: float = Field(default=1, gt=0)
    gpus_per_trial: float = Field(default=0, ge=0)
    # auto: none under ehvi, pareto_asha otherwise (see effective_scheduler).
    scheduler: Literal["auto", "pareto_asha", "asha", "none"] = "auto"
    grace_period: int = Field(default=1, ge=1)  # epochs before the scheduler may stop a trial
    reduction_factor: float = Field(default=3, gt=1)
    # What the trials are for: `compare_groups` gives every group its quota of full-budget
    # architectures (t2tsearch.quota), `front` spends them all on the overall front; auto is
    # compare_groups when the space has groups (see SearchSpace.effective_goal).
    goal: Literal["auto", "compare_groups", "front"] = "auto"

    @property
    def effective_scheduler(self) -> str:
        """The scheduler that runs. `auto` is resolved here, not when the space loads, so that
        a sampler changed on the command line brings its own default.

        The cost-aware sampler spends each trial where the front may grow; stopping those
        trials on a one-epoch accuracy discards the front points it aimed at (tabular
        benchmark, 10 seeds: 54.5 trials to 98% of the true hypervolume with pareto_asha, 26
        without, and more epochs too). Generic samplers propose more dominated architectures,
        which Pareto-aware early stopping cuts short cheaply."""
        if self.scheduler != "auto":
            return self.scheduler
        return "none" if self.sampler == "ehvi" else "pareto_asha"


def _default_objectives() -> list[Objective]:
    return [Objective(metric="accuracy", direction="maximize"),
            Objective(metric="macs", direction="minimize")]


class SearchSpace(_Strict):
    """A whole search space as read from YAML; build it with `load_space` or `parse_space`."""

    name: str = "space"
    description: str = ""
    # A preset name or a partial ArchConfig (mapping); fixes every field that is not searched.
    base: str | dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Parameter] = Field(min_length=1)
    constraints: Constraints = Constraints()
    objectives: list[Objective] = Field(default_factory=_default_objectives, min_length=1)
    groups: dict[str, str] = Field(default_factory=dict)
    train: TrainBudget = TrainBudget()
    search: SearchSettings = SearchSettings()

    _base_config: ArchConfig = PrivateAttr()
    _conditions: dict[str, Condition] = PrivateAttr(default_factory=dict)
    _groups: dict[str, Condition] = PrivateAttr(default_factory=dict)

    @field_validator("base", mode="before")
    @classmethod
    def _base_kind(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, (str, dict)):
            raise PydanticCustomError(
                "base", "expected a preset name or a mapping of ArchConfig fields, not {kind}",
                {"kind": type(value).__name__})
        return value

    @model_validator(mode="before")
    @classmethod
    def _resolve_sampler(cls, data: Any) -> Any:
        # Resolved here so that space.search.sampler always names a real sampler.
        if not isinstance(data, dict):
            return data
        search = data.get("search") or {}
        if isinstance(search, dict) and search.get("sampler", "auto") == "auto":
            objectives = data.get("objectives")
            if not isinstance(objectives, list):
                metrics = ["accuracy", "macs"]  # the default objectives
            else:
                metrics = [o.get("metric") if isinstance(o, dict) else o for o in objectives]
            if len(metrics) == 1:
                sampler = "tpe"
            elif len(measured_objectives(metrics)) == 1:
                sampler = "ehvi"
            else:
                sampler = "nsga2"
            return {**data, "search": {**search, "sampler": sampler}}
        return data

    @model_validator(mode="after")
    def _semantics(self) -> SearchSpace:
        try:
            _check_semantics(self)
        except _Problem as problem:
            raise PydanticCustomError("space", "{where}: {reason}",
                                      {"where": problem.where, "reason": problem.reason}) from None
        return self

    # ---- what the rest of the package reads ---------------------------------------------------
    @property
    def base_config(self) -> ArchConfig:
        """The base with the dataset's channels/classes and train.img_size applied."""
        return self._base_config

    @property
    def group_conditions(self) -> dict[str, Condition]:
        return dict(self._groups)

    def condition(self, path: str) -> Condition | None:
        """The parsed `when` of a parameter, if it has one."""
        return self._conditions.get(path)

    @property
    def effective_goal(self) -> str:
        """`compare_groups` or `front`; `auto` is resolved here, not when the space loads, so
        that a goal given on the command line or groups added later bring their own default."""
        if self.search.goal != "auto":
            return self.search.goal
        return "compare_groups" if self.groups else "front"

    @property
    def group_quota(self) -> int:
        """Full-budget architectures each group is owed under `goal: compare_groups`
        (t2tsearch.quota); 0 when the search is not comparing groups."""
        from t2tsearch.quota import group_quota

        if self.effective_goal != "compare_groups":
            return 0
        return group_quota(self.search.trials, len(self.groups))

    def groups_of(self, cfg: ArchConfig) -> list[str]:
        """Names of the groups `cfg` belongs to, in the order the space lists them."""
        values = config_fields(cfg)
        return [name for name, cond in self._groups.items() if cond.evaluate(values)]

    def as_data(self) -> dict[str, Any]:
        """The space as the YAML data that parses back to it: unset optional keys left out,
        except `train.split_seed`, whose None (the split follows `train.seed`, as in runs made
        before the key existed) differs from its default 0 and is written as `null`."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["train"]["split_seed"] = self.train.split_seed
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_data(), sort_keys=False)


# ---- searchable fields -----------------------------------------------------------------------
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    info = model.model_fields[name]
    annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotation, config=ConfigDict(strict=True))


def _searchable() -> dict[str, TypeAdapter]:
    adapters: dict[str, TypeAdapter] = {"pos_embed": _adapter(ArchConfig, "pos_embed")}
    for name in ("token_dim", "mixer", "kernel_ratio"):
        adapters[f"t2t.{name}"] = _adapter(T2TConfig, name)
    adapters["t2t.num_splits"] = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_SOFT_SPLITS)],
                                             config=ConfigDict(strict=True))
    adapters["t2t.depth"] = TypeAdapter(Annotated[int, Field(ge=0, le=MAX_SOFT_SPLITS - 1)],
                                        config=ConfigDict(strict=True))
    for index in range(MAX_SOFT_SPLITS):
        for part in ("kernel", "stride", "padding"):
            adapters[f"t2t.soft_splits.{index}.{part}"] = _adapter(SoftSplit, part)
    for name in BackboneConfig.model_fields:
        if name != "dense_stages":  # a tuple: Optuna choices must be scalars; fix it in base
            adapters[f"backbone.{name}"] = _adapter(BackboneConfig, name)
    adapters["backbone.head_dim"] = TypeAdapter(Annotated[int, Field(ge=1)],
                                                config=ConfigDict(strict=True))
    return adapters


SEARCHABLE: dict[str, TypeAdapter] = _searchable()
_NOT_SEARCHABLE = {
    "img_size": "set by train.img_size",
    "in_chans": "set by train.dataset",
    "num_classes": "set by train.dataset (or base.num_classes for imagefolder)",
    "backbone.dense_stages": "a list, not searchable; fix it in base",
    "t2t.soft_splits": "search t2t.num_splits and t2t.soft_splits.<i>.kernel/stride/padding",
}
_SPLIT_PATH = re.compile(r"t2t\.soft_splits\.(\d+)\.(kernel|stride|padding)")


def _split_index(path: str) -> int | None:
    match = _SPLIT_PATH.fullmatch(path)
    return int(match.group(1)) if match else None


def _is_int_field(path: str) -> bool:
    return FIELD_KINDS.get(path) == "int" or path in ("t2t.num_splits", "t2t.depth",
                                                        "backbone.head_dim")


def _affected(path: str) -> set[str]:
    """Condition fields whose value a parameter can change (derived fields included)."""
    if path in ("t2t.num_splits", "t2t.depth"):
        return {"t2t.num_splits", "t2t.depth", "num_tokens"} | {
            f for f in FIELD_KINDS if f.startswith("t2t.soft_splits.")}
    if _split_index(path) is not None:
        return {path, "num_tokens"}
    if path in ("backbone.head_dim", "backbone.num_heads", "backbone.embed_dim"):
        return {path, "backbone.head_dim", "backbone.embed_dim"}
    return {path}


# ---- limits -------------------------------------------------------------------------------------
# The largest value an architecture field may take anywhere in a space (base, parameters, and
# every sample, where head_dim x num_heads sets embed_dim). Generous for T2T-ViT (T2T-ViT-24:
# depth 24, width 512; ViT-L: width 1024), and small enough that the largest legal model
# (48 blocks of width 1024 at MLP ratio 8: about 1G parameters) can still be built and counted.
FIELD_LIMITS: dict[str, float] = {
    "img_size": 1024, "num_classes": 100_000, "t2t.token_dim": 1024,
    "backbone.depth": 48, "backbone.embed_dim": 1024, "backbone.num_heads": 32,
    "backbone.head_dim": 1024, "backbone.mlp_ratio": 8.0, "backbone.se_reduction": 1024,
    "backbone.dense_growth": 256, "backbone.ghost_ratio": 64,
    **{f"t2t.soft_splits.{index}.{part}": limit for index in range(MAX_SOFT_SPLITS)
       for part, limit in (("kernel", 32), ("stride", 32), ("padding", 16))},
}
# Run settings that would crash or never end a run: (least, most). Seeds seed NumPy's
# generators, which take 0..2^32-1.
SETTING_LIMITS: dict[str, tuple[float, float]] = {
    "search.seed": (0, 2**32 - 1), "train.seed": (0, 2**32 - 1),
    "train.split_seed": (0, 2**32 - 1), "train.img_size": (1, FIELD_LIMITS["img_size"]),
    "train.epochs": (1, 10_000), "train.batch_size": (1, 65_536),
    "search.trials": (1, 100_000), "search.concurrency": (1, 1024),
    "search.grace_period": (1, 10_000), "search.cpus_per_trial": (0, 1024),
    "search.gpus_per_trial": (0, 64),
}


def _over_limit(path: str, value: Any) -> str | None:
    limit = FIELD_LIMITS.get(path)
    if limit is None or isinstance(value, (bool, str)) or not isinstance(value, (int, float)):
        return None
    if value > limit:
        return f"{value!r} is above the limit {limit:g} for {path}"
    return None


def architecture_limit(cfg: ArchConfig) -> str | None:
    """'backbone.embed_dim 4096 is above the limit 1024' when a field of `cfg` passes its
    FIELD_LIMITS entry; None when every field is within its limit."""
    for path, value in config_fields(cfg).items():
        reason = _over_limit(path, value)
        if reason is not None:
            return reason
    return None


def _check_settings(space: SearchSpace) -> None:
    for path, (least, most) in SETTING_LIMITS.items():
        section, name = path.split(".")
        value = getattr(getattr(space, section), name)
        if value is not None and not least <= value <= most:
            raise _Problem(path, f"{value!r} is outside {least:g}..{most:g}")


# ---- semantic checks ---------------------------------------------------------------------------
class _Problem(Exception):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _check_semantics(space: SearchSpace) -> None:
    _check_settings(space)
    base = _resolve_base(space)
    space._base_config = base
    for path, value in config_fields(base).items():
        reason = _over_limit(path, value)
        if reason is not None:
            raise _Problem(f"base.{path}", reason)
    for position, (path, param) in enumerate(space.parameters.items()):
        _check_parameter(space, position, path, param)
    if "backbone.head_dim" in space.parameters and "backbone.embed_dim" in space.parameters:
        raise _Problem("parameters.backbone.embed_dim",
                       "set by backbone.head_dim x backbone.num_heads; search one of the two")
    if "t2t.num_splits" in space.parameters and "t2t.depth" in space.parameters:
        raise _Problem("parameters.t2t.depth", "t2t.num_splits is searched too; keep one")
    for name, text in space.groups.items():
        try:
            space._groups[name] = parse_condition(text)
        except ConditionError as err:
            raise _Problem(f"groups.{name}", str(err)) from None
    _check_objectives(space)
    _check_constraints(space, base)
    if space.search.sampler == "ehvi":
        measured = measured_objectives([o.metric for o in space.objectives])
        if len(measured) != 1:
            raise _Problem("search.sampler",
                           f"ehvi models one measured objective and takes "
                           f"{' and '.join(KNOWN_BEFORE_TRAINING)} as known; these objectives "
                           f"have {len(measured)} measured ({', '.join(measured) or 'none'}): "
                           f"use nsga2, tpe or gp")
    if space.search.goal == "compare_groups" and not space.groups:
        raise _Problem("search.goal", "compare_groups needs groups; define some under groups: "
                                      "or use goal: front")
    if space.search.sampler == "grid":
        points = 1
        for path, param in space.parameters.items():
            if param.count is None:
                raise _Problem("search.sampler",
                               f"grid needs discrete parameters, but {path} is a continuous float")
            points *= param.count
            if points > MAX_GRID:
                raise _Problem("search.sampler", f"the grid holds more than {MAX_GRID:,} points "
                               f"(at {path}); search it with another sampler")


def _resolve_base(space: SearchSpace) -> ArchConfig:
    dataset = space.train.dataset
    if dataset not in DATASETS:
        raise _Problem("train.dataset", f"unknown dataset '{dataset}'"
                       + (_did_you_mean(dataset, list(DATASETS))
                          or f"; known: {', '.join(DATASETS)}"))
    in_chans = DATASETS[dataset].in_chans
    # imagefolder counts its classes from the user's folder, unknown here: the space says.
    num_classes = DATASETS[dataset].num_classes or None
    if isinstance(space.base, str):
        try:
            cfg = get_preset(space.base)
        except UnknownPresetError as err:
            raise _Problem("base", str(err)) from None
        given: set[str] = set()
    else:
        try:
            cfg = ArchConfig.model_validate(space.base)
        except ValidationError as err:
            where, reason = _describe_error(err, ArchConfig)
            raise _Problem(f"base.{where}" if where else "base", reason) from None
        given = set(space.base)
    if "img_size" in given and space.base["img_size"] != space.train.img_size:
        raise _Problem("base.img_size", f"the image size comes from train.img_size "
                       f"({space.train.img_size}); set it there")
    if "in_chans" in given and space.base["in_chans"] != in_chans:
        raise _Problem("base.in_chans", f"dataset {dataset} has {in_chans} channels")
    if num_classes is None:
        num_classes = cfg.num_classes  # imagefolder: the space says how many classes
    elif "num_classes" in given and space.base["num_classes"] != num_classes:
        raise _Problem("base.num_classes", f"dataset {dataset} has {num_classes} classes")
    return cfg.replace(img_size=space.train.img_size, in_chans=in_chans, num_classes=num_classes)


def _check_parameter(space: SearchSpace, position: int, path: str, param: Parameter) -> None:
    where = f"parameters.{path}"
    if path not in SEARCHABLE:
        if path in _NOT_SEARCHABLE:
            raise _Problem(where, _NOT_SEARCHABLE[path])
        hint = _did_you_mean(path, list(SEARCHABLE))
        raise _Problem(where, "unknown key" + (hint or "; see spaces/README.md for searchable fields"))
    adapter = SEARCHABLE[path]
    if param.float_range is not None and _is_int_field(path):
        raise _Problem(f"{where}.float", f"{path} is an integer; use int: or choice:")
    if param.int_range is not None and FIELD_KINDS.get(path) not in ("int", "float") \
            and not _is_int_field(path):
        raise _Problem(f"{where}.int", f"{path} is not a number; use choice:")
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
    index = _split_index(path)
    if index is not None:
        count_param = next((p for p in ("t2t.num_splits", "t2t.depth") if p in space.parameters),
                           None)
        if count_param is None:
            splits = len(space._base_config.t2t.soft_splits)
            if index >= splits:
                raise _Problem(where, f"the base has {splits} soft splits (0..{splits - 1}) "
                               "and t2t.num_splits is not searched")
        elif count_param in later:
            raise _Problem(where, f"list {count_param} before the per-split parameters")
    if param.when is not None:
        try:
            cond = parse_condition(param.when)
        except ConditionError as err:
            raise _Problem(f"{where}.when", str(err)) from None
        for other in later:
            touched = cond.fields & _affected(other)
            if touched:
                what = "itself" if other == path else f"{other}, which is searched later"
                raise _Problem(f"{where}.when", f"depends on {what}; a when may only use "
                               "parameters listed above it and base fields")
        space._conditions[path] = cond


def _check_value(adapter: TypeAdapter, value: Any, where: str, path: str) -> None:
    try:
        adapter.validate_python(value)
    except ValidationError as err:
        first = err.errors()[0]
        raise _Problem(where, f"{first['msg']} (got {value!r})") from None
    reason = _over_limit(path, value)
    if reason is not None:
        raise _Problem(where, reason)


def _check_objectives(space: SearchSpace) -> None:
    seen = set()
    for index, objective in enumerate(space.objectives):
        if objective.metric in seen:
            raise _Problem(f"objectives.{index}.metric", f"{objective.metric} is listed twice")
        seen.add(objective.metric)
        if objective.metric == "latency" and not space.train.measure_latency:
            raise _Problem(f"objectives.{index}.metric",
                           "latency needs train.measure_latency: true")


def _check_constraints(space: SearchSpace, base: ArchConfig) -> None:
    """Constraints that are impossible whatever is sampled, caught before any sampling."""
    c = space.constraints
    if c.min_tokens is not None and c.max_tokens is not None and c.min_tokens > c.max_tokens:
        raise _Problem("constraints.min_tokens",
                       f"min_tokens {c.min_tokens} > max_tokens {c.max_tokens}: no sample can meet both")
    token_params = [p for p in space.parameters if "num_tokens" in _affected(p)]
    if not token_params:
        tokens = base.num_tokens
        if c.min_tokens is not None and tokens < c.min_tokens:
            raise _Problem("constraints.min_tokens", f"every sample has {tokens} tokens "
                           "(no soft-split parameter is searched), fewer than min_tokens")
        if c.max_tokens is not None and tokens > c.max_tokens:
            raise _Problem("constraints.max_tokens", f"every sample has {tokens} tokens "
                           "(no soft-split parameter is searched), more than max_tokens")


# ---- pydantic errors as one line ----------------------------------------------------------------
def _keys_at(model: Any, loc: tuple) -> list[str] | None:
    """The keys a mapping at `loc` may hold, following the schema down from `model`."""
    current = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(info.alias or name): info for name, info in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) in (list, tuple):
            current = typing.get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    """The model inside Optional[...] / Union[...], if any."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation


_TYPE_ERRORS = ("_type", "_parsing", "literal_error", "enum", "bool_", "int_", "float_", "string_")


def _describe_error(err: ValidationError, root: Any) -> tuple[str, str]:
    """The first problem of a ValidationError as (key.path, reason), with a did-you-mean hint."""
    errors = err.errors()
    # An unknown key explains the others (a misspelt section also leaves one missing).
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = _keys_at(root, loc[:-1]) or []
        reason = "unknown key" + (_did_you_mean(str(loc[-1]), allowed)
                                  or (f"; expected one of {', '.join(allowed)}" if allowed else ""))
    elif kind == "missing":
        reason = "required"
    elif kind == "too_short" and isinstance(first.get("input"), (list, dict)):
        reason = "empty; give at least one entry"
    else:
        reason = first["msg"]
        value = first.get("input")
        if any(tag in kind for tag in _TYPE_ERRORS) and not isinstance(value, (dict, list)):
            reason += f" (got {value!r})"
    # Union members appear in loc as type names; they mean nothing to a YAML author.
    kept = [part for i, part in enumerate(loc) if not _is_union_tag(root, loc[:i], part)]
    if len(kept) < len(loc) and kind.endswith("_type"):
        # Each member of a union failed; naming only the first member's type would mislead.
        reason = f"expected a number, a string or true/false (got {first.get('input')!r})"
    return ".".join(str(part) for part in kept), reason


def _is_union_tag(root: Any, parent: tuple, part: Any) -> bool:
    if not isinstance(part, str):
        return False
    if part in (_keys_at(root, tuple(p for p in parent if not _is_union_tag(root, (), p))) or ()):
        return False  # a real key that happens to be spelt like a type, e.g. `int:`
    return part in ("str", "int", "float", "bool", "none") or "[" in part \
        or part.startswith("function-")


MAX_GRID = 1_000_000  # points of a grid-sampler search, listed by optuna's GridSampler


# ---- loading -----------------------------------------------------------------------------------
# What a space file may hold. A real one is a few KB, nests 5 levels and has a few hundred YAML
# nodes; these limits refuse hostile files (deep nesting, alias bombs, huge lists) while they
# are still cheap to refuse: before any Python object is built from them.
MAX_FILE_BYTES = 1_000_000
MAX_NESTING = 32
MAX_NODES = 20_000  # YAML nodes with every alias expanded


class _TooBig(yaml.YAMLError):
    def __init__(self, path: list[str], reason: str) -> None:
        super().__init__(reason)
        self.path = ".".join(part for part in path if part) or "(top level)"
        self.reason = reason


class _SpaceLoader(yaml.SafeLoader):
    """safe_load that refuses duplicate keys (the second `backbone.depth` would silently win)
    and counts while it composes: nesting, nodes with aliases expanded, aliases into the node
    that defines them. A billion-laughs file is refused after MAX_NODES nodes, not 10^9."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._where: list[str] = []  # the key path of the node being composed
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}  # id(node) -> its node count, aliases expanded
        self._total = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # index: the key node for a mapping value, the position for a sequence item, None for
        # a mapping key.
        part = index.value if isinstance(index, yaml.ScalarNode) else \
            str(index) if isinstance(index, int) else ""
        self._where.append(str(part))
        try:
            if len(self._where) > MAX_NESTING:
                raise _TooBig(self._where, f"nested more than {MAX_NESTING} levels deep")
            if self.check_event(yaml.AliasEvent):
                anchor = self.peek_event().anchor
                if anchor in self._open_anchors:
                    raise _TooBig(self._where, f"alias *{anchor} refers to the node that holds it")
                node = super().compose_node(parent, index)
                self._count(self._sizes.get(id(node), 1))
                return node
            event = self.peek_event()
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                self._open_anchors.add(anchor)
            try:
                node = super().compose_node(parent, index)
            finally:
                self._open_anchors.discard(anchor)
            self._sizes[id(node)] = 1 + _children_size(node, self._sizes)
            self._count(1)
            return node
        finally:
            self._where.pop()

    def _count(self, nodes: int) -> None:
        self._total += nodes
        if self._total > MAX_NODES:
            raise _TooBig(self._where[:-1] if self._where[-1].isdigit() else self._where,
                          f"more than {MAX_NODES} YAML values (aliases expanded); "
                          "a space file holds a few hundred")


def _children_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    if isinstance(node, yaml.SequenceNode):
        return sum(sizes.get(id(child), 1) for child in node.value)
    if isinstance(node, yaml.MappingNode):
        return sum(sizes.get(id(key), 1) + sizes.get(id(value), 1) for key, value in node.value)
    return 0


def _construct_mapping(loader: _SpaceLoader, node: yaml.MappingNode) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key (a list or mapping): construct_mapping says so
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_SpaceLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_space(data: Any, source: str = "<space>") -> SearchSpace:
    """Validate already-loaded YAML data; raise SpaceError('source: key.path: reason')."""
    if data is None:
        raise SpaceError(f"{source}: (top level): empty file; a space needs at least `parameters`")
    if not isinstance(data, dict):
        raise SpaceError(f"{source}: (top level): a space is a mapping of sections "
                         f"(name, base, parameters, ...), not a {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise SpaceError(f"{source}: {key!r}: section names are strings")
    if "name" not in data and source.endswith((".yaml", ".yml")):
        data = {"name": Path(source).stem, **data}
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as err:
        where, reason = _describe_error(err, SearchSpace)
        if err.errors()[0]["type"] == "space":  # our own semantic check: already 'where: reason'
            raise SpaceError(f"{source}: {reason}") from None
        raise SpaceError(f"{source}: {where or '(top level)'}: {reason}") from None


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a space file; every problem is a SpaceError with one line."""
    path = Path(path)
    return parse_space(_read_space_yaml(path), str(path))


def load_run_space(path: str | Path) -> SearchSpace:
    """A run directory's space.yaml (the space as run), read as that run was made.

    Runs made before `train.split_seed` existed drew their train/validation split from
    `train.seed`; their space.yaml lacks the key, so it reads as None (the split follows the
    seed) instead of the default 0 a new space gets. A run made since states it explicitly.
    """
    path = Path(path)
    data = _read_space_yaml(path)
    if isinstance(data, dict):
        train = data.get("train")
        if train is None:
            data = {**data, "train": {"split_seed": None}}
        elif isinstance(train, dict) and "split_seed" not in train:
            data = {**data, "train": {**train, "split_seed": None}}
    return parse_space(data, str(path))


def _read_space_yaml(path: Path) -> Any:
    if path.is_dir():
        raise SpaceError(f"{path}: is a directory, not a space file")
    if not path.is_file():
        raise SpaceError(f"{path}: no such file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpaceError(f"{path}: (top level): {size:,} bytes; a space file may hold at most "
                             f"{MAX_FILE_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpaceError(f"{path}: cannot read: {err}") from None
    try:
        data = yaml.load(text, Loader=_SpaceLoader)  # noqa: S506 - a SafeLoader subclass
    except _TooBig as err:
        raise SpaceError(f"{path}: {err.path}: {err.reason}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpaceError(f"{path}: {where}: not valid YAML: {problem}") from None
    except (ValueError, OverflowError, RecursionError) as err:
        # A scalar YAML reads but Python cannot hold: an int of 5,000 digits, a 13th month.
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SpaceError(f"{path}: (top level): cannot read a value: {reason}") from None
    return data


# ---- sampling ----------------------------------------------------------------------------------
def build_config(space: SearchSpace, values: Mapping[str, Any]) -> ArchConfig:
    """The ArchConfig for parameter values (as suggested; missing ones come from the base)."""
    data = space.base_config.to_dict()
    splits = data["t2t"]["soft_splits"]
    count = values.get("t2t.num_splits")
    if count is None and "t2t.depth" in values:
        count = values["t2t.depth"] + 1
    if count is not None:
        extra = DEFAULT_EXTRA_SPLIT.model_dump()
        splits = splits[:count] + [dict(extra) for _ in range(count - len(splits))]
        data["t2t"]["soft_splits"] = splits
    for path, value in values.items():
        index = _split_index(path)
        if index is not None:
            if index < len(splits):  # a value for a split this sample does not have is moot
                splits[index][path.rsplit(".", 1)[1]] = value
        elif path not in ("t2t.num_splits", "t2t.depth", "backbone.head_dim"):
            section, _, name = path.rpartition(".")
            (data[section] if section else data)[name] = value
    if "backbone.head_dim" in values:
        # Width as head_dim x num_heads: heads always divide the width, whatever is sampled.
        data["backbone"]["embed_dim"] = values["backbone.head_dim"] * data["backbone"]["num_heads"]
    return ArchConfig.model_validate(data)


def _applies(space: SearchSpace, path: str, values: Mapping[str, Any]) -> bool:
    index = _split_index(path)
    cond = space.condition(path)
    if index is None and cond is None:
        return True
    current = build_config(space, values)  # the sample as far as it has been drawn
    if index is not None and index >= len(current.t2t.soft_splits):
        return False
    return cond is None or cond.evaluate(current)


def suggest(trial: optuna.Trial, space: SearchSpace) -> ArchConfig:
    """Draw one architecture, define-by-run: parameters in YAML order, `when` decides each.

    Returns the config even when it is infeasible or breaks a constraint: the search records
    the reason from `check_candidate` instead of training it.
    """
    values: dict[str, Any] = {}
    for path, param in space.parameters.items():
        if not _applies(space, path, values):
            continue
        if param.choice is not None:
            values[path] = trial.suggest_categorical(path, list(param.choice))
        elif param.int_range is not None:
            dom = param.int_range
            values[path] = trial.suggest_int(path, dom.low, dom.high, step=dom.step, log=dom.log)
        else:
            fdom = param.float_range
            assert fdom is not None
            values[path] = trial.suggest_float(path, fdom.low, fdom.high, step=fdom.step,
                                               log=fdom.log)
    return build_config(space, values)


def grid_space(space: SearchSpace) -> dict[str, list[Any]]:
    """Every parameter's values, for optuna.samplers.GridSampler (all must be discrete; a
    space with sampler grid holds at most MAX_GRID points, checked when it loads)."""
    grid = {}
    for path, param in space.parameters.items():
        values = param.values()
        if values is None:
            raise SpaceError(f"parameters.{path}: a continuous float cannot be gridded")
        grid[path] = list(values)
    return grid


# ---- rejection before training ---------------------------------------------------------------------
def check_architecture(cfg: ArchConfig, space: SearchSpace) -> str | None:
    """Why `cfg` cannot be built, passes a FIELD_LIMITS entry or breaks a token limit; None
    when fine. Needs no cost."""
    problems = cfg.problems()
    limit = architecture_limit(cfg)
    if problems or limit:
        return "infeasible: " + "; ".join([*problems, *([limit] if limit else [])])
    c = space.constraints
    if c.min_tokens is not None and cfg.num_tokens < c.min_tokens:
        return f"tokens {cfg.num_tokens} < min_tokens {c.min_tokens}"
    if c.max_tokens is not None and cfg.num_tokens > c.max_tokens:
        return f"tokens {cfg.num_tokens} > max_tokens {c.max_tokens}"
    return None


def check_cost(cost: Cost, space: SearchSpace) -> str | None:
    """Why a counted cost breaks max_macs / max_params; None when within both."""
    c = space.constraints
    if c.max_macs is not None and cost.macs > c.max_macs:
        return f"macs {format_count(cost.macs)} > max_macs {format_count(c.max_macs)}"
    if c.max_params is not None and cost.params > c.max_params:
        return f"params {format_count(cost.params)} > max_params {format_count(c.max_params)}"
    return None


def needs_cost(space: SearchSpace) -> bool:
    c = space.constraints
    return c.max_macs is not None or c.max_params is not None


def check_candidate(cfg: ArchConfig, space: SearchSpace, cost: Cost | None = None,
                    cache_dir: str | Path | None = None) -> str | None:
    """The reason to reject `cfg` before training ('infeasible: ...', 'macs 61.2M > max_macs
    50M', ...), or None. Counts the cost (cached) only when a MAC/param limit needs it."""
    reason = check_architecture(cfg, space)
    if reason is not None or not needs_cost(space):
        return reason
    if cost is None:
        from t2tsearch.cost import count_cost

        cost = count_cost(cfg, cache_dir)
    return check_cost(cost, space)


def rejection_kind(reason: str) -> str:
    """The limit a rejection reason is about ('max_macs', 'min_tokens', ...) or 'infeasible'."""
    if reason.startswith("infeasible"):
        return "infeasible"
    for kind in ("min_tokens", "max_tokens", "max_macs", "max_params"):
        if kind in reason:
            return kind
    return "other"


@dataclass(frozen=True)
class Sample:
    """One drawn architecture: the parameter values, the config, its cost and any rejection."""

    number: int
    params: dict[str, Any]
    config: ArchConfig
    cost: Cost | None = None
    rejection: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return self.rejection is None


def random_draws(space: SearchSpace, n: int, seed: int) -> list[tuple[dict[str, Any], ArchConfig]]:
    """n draws through `suggest` from a seeded RandomSampler on an in-memory study."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no 'A new study created' chatter
    try:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        draws = []
        for _ in range(n):
            trial = study.ask()
            cfg = suggest(trial, space)
            draws.append((dict(trial.params), cfg))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return draws


def sample_random(space: SearchSpace, n: int, seed: int | None = None,
                  count_costs: bool = True) -> list[Sample]:
    """n random architectures (seed: space.search.seed when None), checked and costed."""
    from t2tsearch.cost import count_cost

    seed = space.search.seed if seed is None else seed
    samples = []
    for number, (params, cfg) in enumerate(random_draws(space, n, seed)):
        reason = check_architecture(cfg, space)
        cost = None
        if reason is None and count_costs:
            cost = count_cost(cfg)
            reason = check_cost(cost, space)
        samples.append(Sample(number, params, cfg, cost, reason, tuple(space.groups_of(cfg))))
    return samples


# ---- the size of a space and a survey of it ------------------------------------------------------
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
            if _split_index(path) is not None:
                later.add("t2t.num_splits")
        watched.append(later)
    work = 0

    def count(position: int, values: dict[str, Any]) -> int:
        nonlocal work
        if position == len(params):
            return 1
        path, param = params[position]
        if not _applies(space, path, values):
            return count(position + 1, values)
        if _affected(path) & watched[position]:
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
            kind = rejection_kind(reason)
            survey.rejections[kind] += 1
            survey.examples.setdefault(kind, reason)
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
            kind = rejection_kind(reason)
            survey.rejections[kind] += 1
            survey.examples.setdefault(kind, reason)
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
