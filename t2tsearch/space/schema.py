"""A whole space file as one pydantic model, `SearchSpace`: its parts (`t2tsearch.space.sections`)
validated together, the space's checks run as it validates, and what the rest of the package reads."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from t2tsearch.arch import ArchConfig
from t2tsearch.conditions import Condition, config_fields
from t2tsearch.space.checks import Problem, check_semantics
from t2tsearch.space.fields import measured_objectives
from t2tsearch.space.sections import SpaceFields


class SearchSpace(SpaceFields):
    """A whole search space as read from YAML; build it with `load_space` or `parse_space`."""

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
            check_semantics(self)
        except Problem as problem:
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
        (t2tsearch.groups.group_quota); 0 when the search is not comparing groups."""
        from t2tsearch.groups import group_quota

        if self.effective_goal != "compare_groups":
            return 0
        return group_quota(self.search.trials, len(self.groups))

    def groups_of(self, cfg: ArchConfig) -> list[str]:
        """Names of the groups `cfg` belongs to, in the order the space lists them."""
        values = config_fields(cfg)
        return [name for name, cond in self._groups.items() if cond.evaluate(values)]

    def as_data(self) -> dict[str, Any]:
        """The space as the YAML data that parses back to it: unset optional keys left out,
        except `train.split_seed` and `train.val_size`, whose None (as in runs made before the
        key existed: the split follows `train.seed`; the test set is the validation set)
        differs from their defaults and is written as `null`."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["train"]["split_seed"] = self.train.split_seed
        data["train"]["val_size"] = self.train.val_size
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_data(), sort_keys=False)
