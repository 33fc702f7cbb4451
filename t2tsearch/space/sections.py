"""The parts of a space file as pydantic models, from one parameter's domain up to the fields of
a whole space (`SpaceFields`); `t2tsearch.space.schema` validates the whole."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from t2tsearch.arch import ArchConfig
from t2tsearch.budget import TrainBudget
from t2tsearch.conditions import Condition
from t2tsearch.space.counts import format_count, parse_count


class _Strict(BaseModel):
    # strict: YAML already types its scalars, so '4' where 4 is meant is a mistake worth showing.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Scalar = bool | int | float | str
MAX_CHOICES = 1000  # per choice list; Optuna compares a trial's choices with each suggestion


class _Range(_Strict):
    """What an integer and a real range share: low <= high, and a log scale only where it means
    something (the subclass says where not, in `_log_problem`)."""

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise PydanticCustomError("range", "low {low} > high {high}",
                                      {"low": self.low, "high": self.high})
        if self.log and (problem := self._log_problem()) is not None:
            raise PydanticCustomError("range", problem, {})
        return self

    def _log_problem(self) -> str | None:
        raise NotImplementedError


class IntRange(_Range):
    """Integers low..high (both included) every `step`, optionally sampled on a log scale."""

    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    def _log_problem(self) -> str | None:
        return "log needs low >= 1 and step 1" if self.step != 1 or self.low < 1 else None

    @property
    def count(self) -> int:
        """How many values the range holds, counted without listing them."""
        return (self.high - self.low) // self.step + 1

    def values(self) -> range:
        return range(self.low, self.high + 1, self.step)  # lazy: never a list of `count` ints


class FloatRange(_Range):
    """Reals in [low, high], optionally on a log scale or on a grid of `step`."""

    low: FiniteFloat
    high: FiniteFloat
    step: FiniteFloat | None = Field(default=None, gt=0)
    log: bool = False

    def _log_problem(self) -> str | None:
        return "log needs low > 0 and no step" if self.step is not None or self.low <= 0 else None

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


class SearchSettings(_Strict):
    """How the search runs: Optuna sampler, trial count, Ray resources and early stopping."""

    # auto (resolved when the space loads): tpe with one objective; ehvi (t2tsearch.engine.sampler)
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
    # architectures (t2tsearch.engine.quota), `front` spends them all on the overall front; auto is
    # compare_groups when the space has groups (see SearchSpace.effective_goal).
    goal: Literal["auto", "compare_groups", "front"] = "auto"
    # A trial whose worker process died (a signal, the OOM killer, its node lost) is trained
    # again, on any node, up to this many times before it is recorded `lost`; a trial that
    # raised is never retried (the same architecture would raise again).
    max_retries: int = Field(default=2, ge=0)
    # Each trial saves its state after every epoch (a Ray Tune checkpoint), so that one trained
    # again after its worker died goes on from its last epoch. Off: a short proxy's epochs cost
    # less to train again than to save (README, "Runs that survive their workers").
    checkpoint: bool = False

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


class ComparisonSettings(_Strict):
    """How the groups' verdict decides (t2tsearch.groups): the equivalence margin, and the
    scatter the run's planned detectable difference assumes."""

    # Groups whose 90% interval of the difference lies inside +-margin (points) are called
    # equivalent (two one-sided tests at 5%); 0 turns equivalence off.
    margin: float = Field(default=1.0, ge=0)
    # Expected scatter (points) of a group's architectures around its accuracy-vs-log-MACs line,
    # for the detectable difference that `validate` and the run's first line plan with; the
    # report measures it. Fashion-MNIST at the deep_narrow proxy: see spaces/deep_narrow.yaml.
    scatter: float = Field(default=1.5, gt=0)


def _default_objectives() -> list[Objective]:
    return [Objective(metric="accuracy", direction="maximize"),
            Objective(metric="macs", direction="minimize")]


class SpaceFields(_Strict):
    """The fields of a whole space and what its checks resolve (`t2tsearch.space.checks`), before
    they run: `SearchSpace` is this, validated."""

    name: str = "space"
    description: str = ""
    # A preset name or a partial ArchConfig (mapping); fixes every field that is not searched.
    base: str | dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Parameter] = Field(min_length=1)
    constraints: Constraints = Constraints()
    objectives: list[Objective] = Field(default_factory=_default_objectives, min_length=1)
    groups: dict[str, str] = Field(default_factory=dict)
    comparison: ComparisonSettings = ComparisonSettings()
    train: TrainBudget = TrainBudget()
    search: SearchSettings = SearchSettings()

    _base_config: ArchConfig = PrivateAttr()
    _conditions: dict[str, Condition] = PrivateAttr(default_factory=dict)
    _groups: dict[str, Condition] = PrivateAttr(default_factory=dict)
