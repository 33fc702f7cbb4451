"""Expected hypervolume improvement (EHVI) of candidates whose costs are exact and whose accuracy
is a normal guess: in closed form along one cost (a staircase of expected shortfalls), by
Gauss-Hermite quadrature over the accuracy with more costs."""

from __future__ import annotations

import numpy as np

from t2tsearch.private_apis import hypervolume_of_losses

# Gauss-Hermite nodes for the expectation when more than one cost objective is in play.
_QUADRATURE_NODES = 8


def _expected_shortfall(level: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """E[max(0, level - Y)] for Y ~ N(mean, std): how far below `level` the loss is expected."""
    from scipy.stats import norm

    z = (level - mean) / std
    return (level - mean) * norm.cdf(z) + std * norm.pdf(z)


def expected_improvement(known: np.ndarray, mean: np.ndarray, std: np.ndarray,
                         front_known: np.ndarray, front_loss: np.ndarray,
                         ref_known: np.ndarray, ref_loss: float) -> np.ndarray:
    """Expected hypervolume improvement of each candidate (all objectives as losses).

    `known` (n x k) are the candidates' exact cost losses, `mean`/`std` the surrogate's
    prediction of the measured loss; the front is (`front_known`, `front_loss`). With no cost
    objective this is expected improvement; with one it is exact (the dominated region is a
    staircase in the cost direction); with more it is a Gauss-Hermite quadrature over the
    measured loss of the exact hypervolume improvement (t2tsearch.pareto).
    """
    n, k = known.shape
    if k == 0:
        level = min(ref_loss, float(front_loss.min())) if len(front_loss) else ref_loss
        return _expected_shortfall(np.full(n, level), mean, std)
    if k == 1:
        return _staircase_improvement(known[:, 0], mean, std, front_known[:, 0], front_loss,
                                      float(ref_known[0]), ref_loss)
    return _quadrature_improvement(known, mean, std, front_known, front_loss, ref_known,
                                   ref_loss)


def _staircase_improvement(cost: np.ndarray, mean: np.ndarray, std: np.ndarray,
                           front_cost: np.ndarray, front_loss: np.ndarray, ref_cost: float,
                           ref_loss: float) -> np.ndarray:
    # At cost c the front already dominates every loss above L(c) = min(ref_loss, best loss
    # among points costing at most c); a new point (m, Y) adds, for each c in [m, ref_cost],
    # a segment of height max(0, L(c) - Y). Its expectation sums over the steps of L.
    order = np.argsort(front_cost)
    steps = front_cost[order]
    levels = np.minimum.accumulate(np.minimum(front_loss[order], ref_loss))
    gains = np.zeros(len(cost))
    for i, (m, mu, sd) in enumerate(zip(cost, mean, std, strict=True)):
        if m >= ref_cost:
            continue
        inside = (steps > m) & (steps < ref_cost)
        edges = np.concatenate([[m], steps[inside], [ref_cost]])
        # The level on [edge_j, edge_j+1): the best loss among points costing <= edge_j.
        where = np.searchsorted(steps, edges[:-1], side="right") - 1
        level = np.where(where >= 0, levels[np.maximum(where, 0)], ref_loss)
        gains[i] = float(np.sum(np.diff(edges) * _expected_shortfall(
            level, np.full(len(level), mu), np.full(len(level), sd))))
    return gains


def _quadrature_improvement(known: np.ndarray, mean: np.ndarray, std: np.ndarray,
                            front_known: np.ndarray, front_loss: np.ndarray,
                            ref_known: np.ndarray, ref_loss: float) -> np.ndarray:
    ref = np.concatenate([ref_known, [ref_loss]])
    front = np.column_stack([front_known, front_loss]) if len(front_loss) else np.zeros((0, len(ref)))
    front = front[np.all(front < ref, axis=1)]
    base = hypervolume_of_losses(front, ref)
    nodes, weights = np.polynomial.hermite_e.hermegauss(_QUADRATURE_NODES)
    weights = weights / weights.sum()
    gains = np.zeros(len(mean))
    for i in range(len(mean)):
        if np.any(known[i] >= ref_known):
            continue
        total = 0.0
        for node, weight in zip(nodes, weights, strict=True):
            point = np.concatenate([known[i], [mean[i] + std[i] * node]])
            if point[-1] >= ref_loss:
                continue
            if len(front) and np.any(np.all(front <= point, axis=1)):
                continue  # dominated: adds nothing
            grown = np.vstack([front, point]) if len(front) else point[None, :]
            total += weight * (hypervolume_of_losses(grown, ref) - base)
        gains[i] = total
    return gains
