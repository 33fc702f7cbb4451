"""The cost-aware `ehvi` sampler, one module per job: `surrogate` (a pool member's fields encoded,
and the trend-plus-GP model of accuracy), `improvement` (the expected hypervolume improvement
maths) and `cost_aware` (`CostAwareSampler`, the Optuna sampler that proposes with them)."""

from __future__ import annotations

from t2tsearch.engine.sampler.cost_aware import CostAwareSampler
from t2tsearch.engine.sampler.improvement import expected_improvement
from t2tsearch.engine.sampler.surrogate import NOISE_FLOOR, Candidate, SurrogateSettings

__all__ = ["NOISE_FLOOR", "Candidate", "CostAwareSampler", "SurrogateSettings",
           "expected_improvement"]
