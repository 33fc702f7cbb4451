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
BOOTSTRAP = 1000  # replicates of the matched-MACs interval

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
        """The group on whose side of 0 the interval lies; None while it contains 0."""
        if not self.decided or self.ci_low is None or self.ci_high is None:
            return None
        return self.first if self.ci_low > 0 else self.second


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


def matched_difference(first: pd.DataFrame, second: pd.DataFrame, names: tuple[str, str],
                       bootstrap: int = BOOTSTRAP, seed: int = 0,
                       seed_runs: pd.DataFrame | None = None) -> MatchedDifference:
    """Accuracy of `first` minus `second` at matched MACs, averaged over the MAC range both cover.

    What is estimated: each group's *typical* accuracy at a cost, i.e. the expected accuracy of
    the group's architectures as a function of log MACs, not the group's best (its front). The
    front is a running maximum over noisy points: it rises with the number of architectures a
    group happens to have and with the noise, and resampling it can only lower it, so neither the
    front difference nor its bootstrap is centred on anything. The estimator is a least-squares
    line of accuracy on log MACs per group, and the statistic is the difference of the two lines
    averaged over a log-spaced grid spanning the MAC range both groups cover (for a line, its
    value at the grid's mean log MACs). A line has the least variance for the 3-30 architectures
    a group usually has and assumes no shape (at short proxies accuracy can fall with cost inside
    a group); where the truth is curved its bias is shared by groups that cover similar ranges.

    Both tables hold full-budget rows (config_id, accuracy, macs), one per architecture.
    `seed_runs` (config_id, seed, accuracy), when given, holds every full-budget run of the
    architectures trained on several seeds (`confirm`): an architecture's accuracy is then the
    mean of its runs. The interval is a bootstrap over architectures (each group resampled with
    replacement) and, inside each drawn architecture, over its seeds. Every replicate is
    evaluated on the observed grid, never on the replicate's own range. The pairs bootstrap
    of a least-squares fit has the variance of the HC0 sandwich, about (n - 2) / n of the true
    one for a line through n points, so each group's replicates are widened about its observed value by
    sqrt(n / (n - 2)) before the 2.5% and 97.5% percentiles are taken (HC1); the interval always
    contains the estimate. On groups of 6 to 24 architectures simulated from one curve, with
    noise of 1.2 and 7.2 points, it held the true difference in 94.6-97.4% of 4,000 runs per
    setting (benchmarks/bench_interval.py; tests/test_groups.py checks it in CI).

    Decided means the interval excludes 0, and the winner is the group on whose side of 0 the
    interval lies: the two never disagree.
    """
    a_name, b_name = names
    for name, rows in ((a_name, first), (b_name, second)):
        if len(rows) < MIN_TRIALS:
            count = "no" if len(rows) == 0 else f"only {len(rows)}"
            return MatchedDifference(a_name, b_name, undecided_because=(
                f"{name} has {count} full-budget architecture{'s' if len(rows) != 1 else ''} "
                f"(at least {MIN_TRIALS} needed)"))
    a_macs, b_macs = first["macs"].to_numpy(float), second["macs"].to_numpy(float)
    low, high = max(a_macs.min(), b_macs.min()), min(a_macs.max(), b_macs.max())
    if low > high:
        return MatchedDifference(a_name, b_name, undecided_because=(
            f"their MAC ranges do not overlap ({a_name} {_macs(a_macs.min())}-"
            f"{_macs(a_macs.max())}, {b_name} {_macs(b_macs.min())}-{_macs(b_macs.max())}), so "
            f"no architectures of equal cost can be compared"))
    grid = np.geomspace(low, high, GRID_POINTS) if high > low else np.array([low])
    # A line's mean over the grid is its value at the grid's mean log MACs.
    at = float(np.log(grid).mean())

    rng = np.random.default_rng(seed)
    values, replicates = [], []
    for rows in (first, second):
        runs = _ArchitectureRuns.of(rows, seed_runs)
        observed = float(_line_at(runs.log_macs, runs.means, at))
        picks = rng.integers(0, len(runs.log_macs), (bootstrap, len(runs.log_macs)))
        drawn = _line_at(runs.log_macs[picks], runs.draw(picks, rng), at)
        widen = np.sqrt(len(picks[0]) / (len(picks[0]) - 2)) if len(picks[0]) > 2 else 1.0
        values.append(observed)
        replicates.append(observed + widen * (drawn - observed))
    difference = values[0] - values[1]
    spread = replicates[0] - replicates[1]
    ci_low, ci_high = (float(q) for q in np.percentile(spread, [2.5, 97.5]))
    # A lopsided bootstrap can leave the estimate outside its own percentiles; the interval is
    # widened to hold it, so the stated difference never lies on the other side of 0.
    ci_low, ci_high = min(ci_low, difference), max(ci_high, difference)
    why = ""
    if ci_low <= 0 <= ci_high:
        why = "the 95% interval of the difference contains 0"
    return MatchedDifference(a_name, b_name, float(low), float(high), difference, ci_low,
                             ci_high, why)


@dataclass(frozen=True)
class _ArchitectureRuns:
    """One group's architectures: log MACs and every run's accuracy (NaN-padded per row)."""

    log_macs: np.ndarray  # (architectures,)
    runs: np.ndarray  # (architectures, most seeds), NaN past each row's count
    counts: np.ndarray  # (architectures,) runs per architecture

    @classmethod
    def of(cls, rows: pd.DataFrame, seed_runs: pd.DataFrame | None) -> _ArchitectureRuns:
        by_id: dict[str, list[float]] = {}
        if seed_runs is not None and len(seed_runs):
            usable = seed_runs.dropna(subset=["accuracy"])
            for config_id, accuracy in zip(usable["config_id"], usable["accuracy"], strict=True):
                by_id.setdefault(config_id, []).append(float(accuracy))
        per_row = [by_id.get(config_id) or [float(accuracy)]
                   for config_id, accuracy in zip(rows["config_id"], rows["accuracy"],
                                                  strict=True)]
        counts = np.array([len(r) for r in per_row])
        runs = np.full((len(per_row), counts.max()), np.nan)
        for index, accuracies in enumerate(per_row):
            runs[index, :len(accuracies)] = accuracies
        return cls(np.log(rows["macs"].to_numpy(float)), runs, counts)

    @property
    def means(self) -> np.ndarray:
        return np.nanmean(self.runs, axis=1)

    def draw(self, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Mean accuracy of each picked architecture over its seeds drawn with replacement."""
        counts = self.counts[picks]
        if self.runs.shape[1] == 1:
            return self.runs[picks, 0]
        slots = np.arange(self.runs.shape[1])
        seeds = (rng.random((*picks.shape, self.runs.shape[1])) * counts[..., None]).astype(int)
        drawn = self.runs[picks[..., None], seeds]
        return np.where(slots < counts[..., None], drawn, 0.0).sum(-1) / counts


def _line_at(log_macs: np.ndarray, accuracy: np.ndarray, at: float) -> np.ndarray:
    """Least-squares line of accuracy on log MACs, evaluated at `at`, over the last axis.

    A resample whose architectures all share one cost has no slope: its line is flat.
    """
    x_mean = log_macs.mean(-1)
    y_mean = accuracy.mean(-1)
    dx = log_macs - x_mean[..., None]
    spread = (dx * dx).sum(-1)
    flat = spread < 1e-12
    slope = np.where(flat, 0.0, (dx * (accuracy - y_mean[..., None])).sum(-1)
                     / np.where(flat, 1.0, spread))
    return y_mean + slope * (at - x_mean)


def compare_groups(table: pd.DataFrame, names: Sequence[str], scale: Scale,
                   bootstrap: int = BOOTSTRAP, seed: int = 0,
                   reference: Mapping[str, float] | None = None,
                   seed_runs: pd.DataFrame | None = None) -> GroupComparison:
    """Compare the named groups of a trials table (accuracy in percent, macs, groups columns).

    `reference` is the run's reference point (t2tsearch.pareto.run_reference), one for every
    group so their hypervolumes are comparable; without one (a bare table), accuracy 0 and
    1.1 x the largest MACs trained to full budget. `seed_runs` (config_id, seed, accuracy):
    every full-budget run of the architectures trained on several seeds, which the
    matched-MACs interval then resamples too (`matched_difference`).
    """
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
    differences = [matched_difference(members[a], members[b], (a, b), bootstrap, seed, seed_runs)
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
        if diff.winner is not None:
            winner, loser = (a, b) if diff.winner == a.name else (b, a)
            sign = 1 if winner is a else -1
            low, high = sorted((sign * diff.ci_low, sign * diff.ci_high))
            sentences.append(
                f"{winner.name} holds {winner.joint_front_points} of {joint_size} points of the "
                f"joint front; at matched MACs ({_macs(diff.macs_low)}-{_macs(diff.macs_high)}) "
                f"it is on average {sign * diff.difference:+.1f} points more accurate than "
                f"{loser.name} "
                f"(95% CI {low:.1f} to {high:.1f}).")
        elif diff.difference is not None:
            sentences.append(
                f"The data cannot tell {a.name} and {b.name} apart: they hold "
                f"{a.joint_front_points} and {b.joint_front_points} of {joint_size} points of "
                f"the joint front, and at matched MACs ({_macs(diff.macs_low)}-"
                f"{_macs(diff.macs_high)}) {a.name} minus {b.name} is "
                f"{diff.difference:+.1f} points on average (95% CI {diff.ci_low:.1f} to "
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
