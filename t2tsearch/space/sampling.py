"""Drawing architectures from a space: parameter values to an ArchConfig, define-by-run on an Optuna
trial, the grid, and seeded random samples."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from t2tsearch.arch import ArchConfig, SoftSplit
from t2tsearch.space.errors import SpaceError
from t2tsearch.space.feasibility import check_architecture, check_candidate, check_cost
from t2tsearch.space.fields import split_index
from t2tsearch.space.schema import SearchSpace

if typing.TYPE_CHECKING:
    from pathlib import Path

    import optuna

    from t2tsearch.cost import Cost


# A soft split added when a sample has more splits than its base: the official later splits.
DEFAULT_EXTRA_SPLIT = SoftSplit(kernel=3, stride=2, padding=1)


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
        index = split_index(path)
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


def parameter_applies(space: SearchSpace, path: str, values: Mapping[str, Any]) -> bool:
    """Whether parameter `path` is drawn, given the values drawn before it: its `when` holds
    and, for a per-split parameter, the sample has that split."""
    index = split_index(path)
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
        if not parameter_applies(space, path, values):
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


def queue_random_feasible(study: optuna.Study, space: SearchSpace, tried: set[str],
                          cache_dir: str | Path | None, draws: int,
                          wanted: typing.Callable[[ArchConfig], bool] | None = None) -> bool:
    """Queue on `study` a random architecture that passes the space's checks, is not in `tried`
    (config ids) and is `wanted` (the next ask returns it); False when none of `draws` random
    draws is. The draws are seeded by the space's seed and the study's length."""
    seed = space.search.seed + len(study.get_trials(deepcopy=False))
    seen = set(tried)
    for params, cfg in random_draws(space, draws, seed):
        if cfg.id in seen or (wanted is not None and not wanted(cfg)):
            continue
        seen.add(cfg.id)
        # The architecture is checked before any count: counting one that cannot be built
        # raises, and this runs inside Ray's suggest, where that would end the run.
        if check_candidate(cfg, space, cache_dir=cache_dir) is None:
            study.enqueue_trial(params, skip_if_exists=False)
            return True
    return False


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
