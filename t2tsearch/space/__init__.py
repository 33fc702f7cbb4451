"""Search spaces: a YAML file read, checked, sampled and surveyed; one module per job.

`sections` (the pydantic models of a space's parts), `schema` (`SearchSpace`: the whole,
validated), `load` (the safe YAML loader and its limits), `checks` (what a space must satisfy
beyond its schema), `fields` (what may be searched, and the limits on fields and settings),
`errors` (problems as one line), `counts` (50M, 1.5G), `sampling` (values to an ArchConfig,
define-by-run draws), `feasibility` (rejection before training) and `survey` (the size of a space
and what `t2tsearch validate` reports). The names below are the ones callers import from
`t2tsearch.space`; none of these modules imports torch.
"""

from __future__ import annotations

from t2tsearch.space.checks import MAX_GRID
from t2tsearch.space.counts import format_count, parse_count
from t2tsearch.space.errors import SpaceError
from t2tsearch.space.feasibility import (
    check_architecture,
    check_candidate,
    check_cost,
    needs_cost,
    rejection_kind,
)
from t2tsearch.space.fields import (
    FIELD_LIMITS,
    KNOWN_BEFORE_TRAINING,
    SEARCHABLE,
    SETTING_LIMITS,
    architecture_limit,
    measured_objectives,
)
from t2tsearch.space.load import (
    MAX_FILE_BYTES,
    MAX_NESTING,
    MAX_NODES,
    load_run_space,
    load_space,
    parse_space,
)
from t2tsearch.space.sampling import (
    DEFAULT_EXTRA_SPLIT,
    Sample,
    build_config,
    grid_space,
    queue_random_feasible,
    random_draws,
    sample_random,
    suggest,
)
from t2tsearch.space.schema import SearchSpace
from t2tsearch.space.sections import (
    MAX_CHOICES,
    Constraints,
    FloatRange,
    IntRange,
    Metric,
    Objective,
    Parameter,
    SamplerName,
    SearchSettings,
)
from t2tsearch.space.survey import (
    SIZE_WORK,
    GroupStats,
    SpaceSurvey,
    space_size,
    survey_space,
    unmeetable,
    validate_space,
)

__all__ = [
    "DEFAULT_EXTRA_SPLIT", "FIELD_LIMITS", "KNOWN_BEFORE_TRAINING", "MAX_CHOICES",
    "MAX_FILE_BYTES", "MAX_GRID", "MAX_NESTING", "MAX_NODES", "SEARCHABLE", "SETTING_LIMITS",
    "SIZE_WORK", "Constraints", "FloatRange", "GroupStats", "IntRange", "Metric", "Objective",
    "Parameter", "Sample", "SamplerName", "SearchSettings", "SearchSpace", "SpaceError",
    "SpaceSurvey", "architecture_limit", "build_config", "check_architecture", "check_candidate",
    "check_cost", "format_count", "grid_space", "load_run_space", "load_space",
    "measured_objectives", "needs_cost", "parse_count", "parse_space", "queue_random_feasible",
    "random_draws",
    "rejection_kind", "sample_random", "space_size", "suggest", "survey_space", "unmeetable",
    "validate_space",
]
