"""Group comparison: each named group's front, hypervolume, share of the joint front, and the
accuracy difference at matched MACs with a bootstrap interval, summed up in one verdict."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from t2tsearch.pareto import ObjectiveSpec, full_budget, hypervolume, pareto_front

# Groups are compared in the accuracy-MACs plane, whatever else the run optimised: MACs are
# known for every trained architecture, and "better at the same cost" is the question asked.
PLANE = (ObjectiveSpec("accuracy", True), ObjectiveSpec("macs", False))

MIN_TRIALS = 3  # full-budget trials a group needs before its curve means anything
GRID_POINTS = 40  # log-spaced MAC values the difference is averaged over
BOOTSTRAP = 1000

# A proxy this short, or images this small, is far from the full-training regime where the
# T2T-ViT paper compared backbone shapes.
SHORT_PROXY_EPOCHS = 50
SMALL_IMAGES_PX = 64


@dataclass(frozen=True)
class Scale:
    """What the accuracies were measured on: the verdict is only as general as this."""

    dataset: str
    img_size: int
    epochs: int
    seeds: int = 1  # seeds behind each architecture's accuracy (mean over them)
    train_images: int | None = None  # a training subset, when the run used one

    def describe(self) -> str:
        subset = f" ({self.train_images:,} training images)" if self.train_images else ""
        epochs = f"{self.epochs} epoch" + ("" if self.epochs == 1 else "s")
        seeds = f"{self.seeds} seed" + ("" if self.seeds == 1 else "s")
        how = "per architecture" if self.seeds == 1 else "per front architecture, mean"
        return (f"measured on {self.dataset}{subset} at {self.img_size} px, {epochs}, "
                f"{seeds} {how}")

    @property
    def is_short_proxy(self) -> bool:
        return self.epochs < SHORT_PROXY_EPOCHS or self.img_size < SMALL_IMAGES_PX


CAUTION = ("A short proxy on small data can favour other shapes than full training does: "
           "the T2T-ViT paper found deep-narrow backbones better on ImageNet (224 px, 300 "
           "epochs), while short runs on small images can favour shallow-wide ones (on the "
           "embedded digits at 3 epochs, shallow-wide backbones have led). Treat this verdict "
           "as a statement about this proxy, not about full training.")


@dataclass(frozen=True)
class GroupStats:
    """One group's share of the run."""

    name: str
    trials: int  # proposals that belong to the group
    full_budget: int  # of them, distinct architectures trained to the full budget
    macs_range: tuple[float, float] | None
    best_accuracy: float | None
    hypervolume: float  # under the comparison's common reference point
    front_size: int  # points of the group's own front
    joint_front_points: int  # points of the joint front that belong to the group


@dataclass(frozen=True)
class MatchedDifference:
    """Mean accuracy difference (first minus second, in points) over a shared MAC range."""

    first: str
    second: str
    macs_low: float | None = None
    macs_high: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    undecided_because: str = ""  # why no decision could be made; empty when decided

    @property
    def decided(self) -> bool:
        return not self.undecided_because

    @property
    def winner(self) -> str | None:
        if not self.decided or self.difference is None:
            return None
        return self.first if self.difference > 0 else self.second


@dataclass(frozen=True)
class GroupComparison:
    groups: list[GroupStats]
    joint_front_size: int
    reference: dict[str, float]
    differences: list[MatchedDifference]
    scale: Scale
    verdict: str  # the plain-language answer, scale included
    caution: str = ""  # set when the proxy is short or the images small
    members: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)


def group_members(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows of `table` whose comma-joined `groups` column names `name`."""
    names = table["groups"].fillna("").astype(str).str.split(",")
    return table[names.map(lambda listed: name in listed)]


def attainment(macs: np.ndarray, accuracy: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Best accuracy reached at or below each MAC value of `grid` (NaN where nothing is that cheap).

    This step function is the group's Pareto front seen as a curve: what the group can buy
    for a given cost.
    """
    order = np.argsort(macs)
    sorted_macs = macs[order]
    best_so_far = np.maximum.accumulate(accuracy[order])
    index = np.searchsorted(sorted_macs, grid, side="right") - 1
    result = np.full(grid.shape, np.nan)
    reached = index >= 0
    result[reached] = best_so_far[index[reached]]
    return result


def matched_difference(first: pd.DataFrame, second: pd.DataFrame, names: tuple[str, str],
                       bootstrap: int = BOOTSTRAP, seed: int = 0) -> MatchedDifference:
    """Accuracy of `first` minus `second` at matched MACs, averaged over the MAC range both cover.

    Both tables hold full-budget rows (accuracy, macs). The interval comes from resampling
    each group's architectures with replacement; the grid stays that of the observed data.
    """
    a_name, b_name = names
    for name, rows in ((a_name, first), (b_name, second)):
        if len(rows) < MIN_TRIALS:
            count = "no" if len(rows) == 0 else f"only {len(rows)}"
            return MatchedDifference(a_name, b_name, undecided_because=(
                f"{name} has {count} full-budget architecture{'s' if len(rows) != 1 else ''} "
                f"(at least {MIN_TRIALS} needed)"))
    a_macs, a_acc = first["macs"].to_numpy(float), first["accuracy"].to_numpy(float)
    b_macs, b_acc = second["macs"].to_numpy(float), second["accuracy"].to_numpy(float)
    low, high = max(a_macs.min(), b_macs.min()), min(a_macs.max(), b_macs.max())
    if low > high:
        return MatchedDifference(a_name, b_name, undecided_because=(
            f"their MAC ranges do not overlap ({a_name} {_macs(a_macs.min())}-"
            f"{_macs(a_macs.max())}, {b_name} {_macs(b_macs.min())}-{_macs(b_macs.max())}), so "
            f"no architectures of equal cost can be compared"))
    grid = np.geomspace(low, high, GRID_POINTS) if high > low else np.array([low])
    observed = float(np.mean(attainment(a_macs, a_acc, grid) - attainment(b_macs, b_acc, grid)))

    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(bootstrap):
        a_pick = rng.integers(0, len(a_macs), len(a_macs))
        b_pick = rng.integers(0, len(b_macs), len(b_macs))
        gap = (attainment(a_macs[a_pick], a_acc[a_pick], grid)
               - attainment(b_macs[b_pick], b_acc[b_pick], grid))
        # A resample may lack a group's cheapest architectures: compare where both reach.
        if np.isfinite(gap).any():
            replicates.append(float(np.nanmean(gap)))
    ci_low, ci_high = (float(q) for q in np.percentile(replicates, [2.5, 97.5]))
    why = ""
    if ci_low <= 0 <= ci_high:
        why = "the 95% interval of the difference contains 0"
    return MatchedDifference(a_name, b_name, float(low), float(high), observed, ci_low, ci_high,
                             why)


def compare_groups(table: pd.DataFrame, names: Sequence[str], scale: Scale,
                   bootstrap: int = BOOTSTRAP, seed: int = 0,
                   reference: Mapping[str, float] | None = None) -> GroupComparison:
    """Compare the named groups of a trials table (accuracy in percent, macs, groups columns).

    `reference` is the run's reference point (t2tsearch.pareto.run_reference), one for every
    group so their hypervolumes are comparable; without one (a bare table), accuracy 0 and
    1.1 x the largest MACs trained to full budget."""
    done = full_budget(table, PLANE)
    if reference is None:
        reference = {"accuracy": 0.0,
                     "macs": float(done["macs"].max()) * 1.1 if len(done) else 1.0}
    reference = {spec.column: float(reference[spec.column]) for spec in PLANE}
    members = {name: full_budget(group_members(table, name), PLANE) for name in names}
    joint = pareto_front(pd.concat(list(members.values())), PLANE) if members else done
    joint_ids = set(joint["config_id"]) if len(joint) else set()

    stats = []
    for name in names:
        rows = members[name]
        front = pareto_front(rows, PLANE) if len(rows) else rows
        stats.append(GroupStats(
            name=name,
            trials=len(group_members(table, name)),
            full_budget=len(rows),
            macs_range=(float(rows["macs"].min()), float(rows["macs"].max())) if len(rows) else None,
            best_accuracy=float(rows["accuracy"].max()) if len(rows) else None,
            hypervolume=hypervolume(rows, PLANE, reference) if len(rows) else 0.0,
            front_size=len(front),
            joint_front_points=len(joint_ids & set(rows["config_id"])),
        ))
    differences = [matched_difference(members[a], members[b], (a, b), bootstrap, seed)
                   for a, b in itertools.combinations(names, 2)]
    caution = CAUTION if scale.is_short_proxy else ""
    verdict = _verdict(stats, len(joint_ids), differences, scale)
    return GroupComparison(stats, len(joint_ids), reference, differences, scale, verdict,
                           caution, members)


def _verdict(stats: list[GroupStats], joint_size: int, differences: list[MatchedDifference],
             scale: Scale) -> str:
    by_name = {s.name: s for s in stats}
    sentences = []
    for diff in differences:
        a, b = by_name[diff.first], by_name[diff.second]
        if diff.decided:
            winner, loser = (a, b) if diff.difference > 0 else (b, a)
            sign = 1 if winner is a else -1
            low, high = sorted((sign * diff.ci_low, sign * diff.ci_high))
            sentences.append(
                f"{winner.name} holds {winner.joint_front_points} of {joint_size} points of the "
                f"joint front; at matched MACs ({_macs(diff.macs_low)}-{_macs(diff.macs_high)}) "
                f"it is {sign * diff.difference:+.1f} points more accurate than {loser.name} "
                f"(95% CI {low:.1f} to {high:.1f}).")
        elif diff.difference is not None:
            sentences.append(
                f"The data cannot tell {a.name} and {b.name} apart: they hold "
                f"{a.joint_front_points} and {b.joint_front_points} of {joint_size} points of "
                f"the joint front, and at matched MACs ({_macs(diff.macs_low)}-"
                f"{_macs(diff.macs_high)}) {a.name} minus {b.name} is "
                f"{diff.difference:+.1f} points (95% CI {diff.ci_low:.1f} to "
                f"{diff.ci_high:.1f}), an interval that contains 0.")
        else:
            sentences.append(
                f"Cannot decide between {a.name} and {b.name}: {diff.undecided_because} "
                f"({a.name} holds {a.joint_front_points}, {b.name} {b.joint_front_points} of "
                f"{joint_size} points of the joint front).")
    if not differences and stats:
        only = stats[0]
        sentences.append(f"Only one group ({only.name}) is defined: nothing to compare it with.")
    body = " ".join(sentences)
    return f"{body} Scale: {scale.describe()}."


def _macs(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"
