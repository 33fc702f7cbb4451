"""Group comparison: each named group's front, hypervolume, share of the joint front, and the
accuracy difference at matched MACs with a bootstrap interval, summed up in one verdict."""

from __future__ import annotations

import itertools
import math
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
# Equivalence and power: two groups closer than the margin (points) are "equivalent" when the
# 90% interval lies inside it (two one-sided tests at 5%); the detectable difference is the
# one a two-sided 5% test finds with 80% power.
DEFAULT_MARGIN = 1.0
POWER = 0.8

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
    # Architectures of each group inside the shared MAC range: the only ones the lines use.
    counts: tuple[int, int] = (0, 0)
    # The 90% interval, for the two one-sided tests of equivalence within +-margin.
    tost_low: float | None = None
    tost_high: float | None = None
    margin: float = DEFAULT_MARGIN
    # The smallest true difference this comparison finds with 80% power (points), from each
    # group's scatter around its line; None when a group has too few architectures to say.
    detectable: float | None = None
    scatter: float | None = None  # pooled scatter of the architectures around their lines

    @property
    def decided(self) -> bool:
        return not self.undecided_because

    @property
    def equivalent(self) -> bool:
        """The 90% interval lies inside +-margin: the groups differ by less than the margin."""
        return (self.tost_low is not None and self.tost_high is not None and self.margin > 0
                and -self.margin < self.tost_low and self.tost_high < self.margin)

    @property
    def compared_at(self) -> float | None:
        """The MACs the two lines are compared at: the shared range's midpoint in log MACs."""
        if self.macs_low is None or self.macs_high is None:
            return None
        return float(np.sqrt(self.macs_low * self.macs_high))

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
                       seed_runs: pd.DataFrame | None = None,
                       margin: float = DEFAULT_MARGIN) -> MatchedDifference:
    """Accuracy of `first` minus `second` at matched MACs, from what both groups cover.

    What is estimated: each group's *typical* accuracy at a cost, i.e. the expected accuracy of
    the group's architectures as a function of log MACs, not the group's best (its front). The
    front is a running maximum over noisy points: it rises with the number of architectures a
    group happens to have and with the noise, and resampling it can only lower it, so neither the
    front difference nor its bootstrap is centred on anything.

    Like with like: only the architectures inside the MAC range both groups cover enter the
    estimate. Each group's least-squares line of accuracy on log MACs is fitted to its own
    architectures in that range, and the two lines are compared at the range's midpoint in log
    MACs (the mean of a log-spaced grid over it). A group's architectures outside the shared
    range would tilt its line with costs the other group never reached, and a curved truth
    would then bias the difference (about 0.4 points when one group covers 1-3M MACs and the
    other 2-30M). A line has the least variance for the 3-30 architectures a group usually has
    and assumes no shape; inside one shared range a curve's bias is nearly the same for both.

    Both tables hold full-budget rows (config_id, accuracy, macs), one per architecture.
    `seed_runs` (config_id, seed, accuracy), when given, holds every full-budget run of the
    architectures trained on several seeds (`confirm`): an architecture's accuracy is then the
    mean of its runs. The interval is a bootstrap over architectures (each group resampled with
    replacement) and, inside each drawn architecture, over its seeds. Every replicate is
    evaluated at the observed midpoint. The pairs bootstrap of a least-squares fit has the
    variance of the HC0 sandwich, about (n - 2) / n of the true one for a line through n
    points, so each group's replicates are widened about its observed value by sqrt(n / (n - 2))
    before percentiles are taken (HC1); the interval always contains the estimate. Coverage is
    simulated with a known truth in benchmarks/bench_interval.py and checked in
    tests/test_groups.py, for groups over the same and over different MAC ranges.

    Decided means the 95% interval excludes 0, and the winner is the group on whose side of 0
    the interval lies: the two never disagree. Equivalent (within `margin` points) means the
    90% interval lies inside +-margin: two one-sided tests at 5%. `detectable` is the smallest
    true difference a two-sided 5% test would find with 80% power, from each group's scatter
    around its line (t quantiles with n_a + n_b - 4 degrees of freedom).
    """
    a_name, b_name = names
    for name, rows in ((a_name, first), (b_name, second)):
        if len(rows) < MIN_TRIALS:
            count = "no" if len(rows) == 0 else f"only {len(rows)}"
            return MatchedDifference(a_name, b_name, margin=margin, undecided_because=(
                f"{name} has {count} full-budget architecture{'s' if len(rows) != 1 else ''} "
                f"(at least {MIN_TRIALS} needed)"))
    a_macs, b_macs = first["macs"].to_numpy(float), second["macs"].to_numpy(float)
    low, high = max(a_macs.min(), b_macs.min()), min(a_macs.max(), b_macs.max())
    if low > high:
        return MatchedDifference(a_name, b_name, margin=margin, undecided_because=(
            f"their MAC ranges do not overlap ({a_name} {_macs(a_macs.min())}-"
            f"{_macs(a_macs.max())}, {b_name} {_macs(b_macs.min())}-{_macs(b_macs.max())}), so "
            f"no architectures of equal cost can be compared"))
    shared = [rows[(rows["macs"] >= low) & (rows["macs"] <= high)] for rows in (first, second)]
    counts = (len(shared[0]), len(shared[1]))
    for name, rows in zip(names, shared, strict=True):
        if len(rows) < MIN_TRIALS:
            return MatchedDifference(a_name, b_name, float(low), float(high), counts=counts,
                                     margin=margin, undecided_because=(
                f"{name} has only {len(rows)} full-budget architecture"
                f"{'s' if len(rows) != 1 else ''} in the MAC range both groups cover "
                f"({_macs(low)}-{_macs(high)}; at least {MIN_TRIALS} needed)"))
    at = float((np.log(low) + np.log(high)) / 2)

    rng = np.random.default_rng(seed)
    values, replicates, variances = [], [], []
    for rows in shared:
        runs = _ArchitectureRuns.of(rows, seed_runs)
        observed = float(_line_at(runs.log_macs, runs.means, at))
        picks = rng.integers(0, len(runs.log_macs), (bootstrap, len(runs.log_macs)))
        drawn = _line_at(runs.log_macs[picks], runs.draw(picks, rng), at)
        widen = np.sqrt(len(picks[0]) / (len(picks[0]) - 2)) if len(picks[0]) > 2 else 1.0
        values.append(observed)
        replicates.append(observed + widen * (drawn - observed))
        variances.append(_line_variance(runs.log_macs, runs.means, at))
    difference = values[0] - values[1]
    spread = replicates[0] - replicates[1]
    ci_low, ci_high, tost_low, tost_high = (float(q) for q in
                                            np.percentile(spread, [2.5, 97.5, 5.0, 95.0]))
    # A lopsided bootstrap can leave the estimate outside its own percentiles; the intervals
    # are widened to hold it, so the stated difference never lies on the other side of 0.
    ci_low, ci_high = min(ci_low, difference), max(ci_high, difference)
    tost_low, tost_high = min(tost_low, difference), max(tost_high, difference)
    scale = float(np.sqrt(variances[0][0] + variances[1][0]))
    df = sum(counts) - 4
    detectable = detectable_difference(scale, df) if df > 0 else None
    pooled = float(np.sqrt((variances[0][1] * (counts[0] - 2) + variances[1][1] * (counts[1] - 2))
                           / df)) if df > 0 else None
    why = ""
    if ci_low <= 0 <= ci_high:
        why = "the 95% interval of the difference contains 0"
    return MatchedDifference(a_name, b_name, float(low), float(high), difference, ci_low,
                             ci_high, why, counts, tost_low, tost_high, margin, detectable,
                             pooled)


def group_quota(trials: int, groups: int) -> int:
    """Full-budget architectures each of `groups` groups is owed out of a budget of `trials`
    under `goal: compare_groups` (the searcher's gate: t2tsearch.engine.quota): half the budget
    shared out, at least the verdict's minimum per group, and at most what the budget can give
    every group (`t2tsearch validate` says when that is below the minimum)."""
    if groups <= 0:
        return 0
    return min(max(MIN_TRIALS, math.ceil(trials / (2 * groups))), trials // groups)


def detectable_difference(standard_error: float, df: int, power: float = POWER) -> float:
    """The true difference a two-sided 5% t test with `df` degrees of freedom finds with
    probability `power`, when its estimate has `standard_error`."""
    from scipy.stats import t

    return float((t.ppf(0.975, df) + t.ppf(power, df)) * standard_error)


def planned_detectable(per_group: int, scatter: float, power: float = POWER) -> float | None:
    """Before a run: the detectable difference of two groups of `per_group` architectures each,
    spread evenly over the shared range, whose accuracies scatter by `scatter` points around
    their lines (a line's value at its centre has variance scatter^2 / n)."""
    df = 2 * per_group - 4
    if per_group < MIN_TRIALS or df <= 0:
        return None
    return detectable_difference(scatter * float(np.sqrt(2 / per_group)), df, power)


def describe_plan(per_group: int, scatter: float, margin: float) -> str:
    """The planned power of a comparison, in words, for `validate` and a run's first line."""
    planned = planned_detectable(per_group, scatter)
    if planned is None:
        return (f"{per_group} full-budget architecture{'s' if per_group != 1 else ''} per group "
                f"cannot reach a verdict (at least {MIN_TRIALS} needed): raise search.trials")
    text = (f"{per_group} full-budget architectures per group detect a difference of "
            f"{planned:.1f} points at 80% power if they scatter {scatter:g} points around their "
            f"lines (comparison.scatter)")
    if margin > 0 and planned > margin:
        needed = needed_per_group(scatter, margin)
        if needed is not None:
            text += f"; about {needed} per group would detect the {margin:g}-point margin"
    return text


def needed_per_group(scatter: float, difference: float, most: int = 1000) -> int | None:
    """The fewest architectures per group whose planned detectable difference is `difference`."""
    for per_group in range(MIN_TRIALS, most + 1):
        found = planned_detectable(per_group, scatter)
        if found is not None and found <= difference:
            return per_group
    return None


def _line_variance(log_macs: np.ndarray, accuracy: np.ndarray, at: float) -> tuple[float, float]:
    """(variance of a least-squares line's value at `at`, the residual variance s^2 on n - 2
    degrees of freedom). Architectures that share one cost give a flat line (as _line_at)."""
    n = len(log_macs)
    dx = log_macs - log_macs.mean()
    spread = float((dx * dx).sum())
    slope = 0.0 if spread < 1e-12 else float((dx * (accuracy - accuracy.mean())).sum()) / spread
    residuals = accuracy - accuracy.mean() - slope * dx
    residual = float((residuals ** 2).sum() / max(n - 2, 1))
    leverage = 1 / n + (0.0 if spread < 1e-12 else (at - log_macs.mean()) ** 2 / spread)
    return residual * leverage, residual


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
                   seed_runs: pd.DataFrame | None = None,
                   margin: float = DEFAULT_MARGIN) -> GroupComparison:
    """Compare the named groups of a trials table (accuracy in percent, macs, groups columns).

    `reference` is the run's reference point (t2tsearch.results.reference.run_reference), one for every
    group so their hypervolumes are comparable; without one (a bare table), accuracy 0 and
    1.1 x the largest MACs trained to full budget. `seed_runs` (config_id, seed, accuracy):
    every full-budget run of the architectures trained on several seeds, which the
    matched-MACs interval then resamples too (`matched_difference`). `margin` (points): groups
    whose 90% interval lies inside +-margin are called equivalent.
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
    differences = [matched_difference(members[a], members[b], (a, b), bootstrap, seed, seed_runs,
                                      margin)
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
        if diff.difference is None:
            sentences.append(
                f"Cannot decide between {a.name} and {b.name}: {diff.undecided_because} "
                f"({a.name} holds {a.joint_front_points}, {b.name} {b.joint_front_points} of "
                f"{joint_size} points of the joint front).")
            continue
        compared = (f"comparing the {diff.counts[0]} {a.name} and {diff.counts[1]} {b.name} "
                    f"architectures between {_macs(diff.macs_low)} and {_macs(diff.macs_high)} "
                    f"MACs (a line of accuracy on log MACs per group, read at "
                    f"{_macs(diff.compared_at)})")
        if diff.winner is not None:
            winner, loser = (a, b) if diff.winner == a.name else (b, a)
            sign = 1 if winner is a else -1
            low, high = sorted((sign * diff.ci_low, sign * diff.ci_high))
            inside = (f", a difference inside the +-{diff.margin:g}-point margin"
                      if diff.equivalent else "")
            sentences.append(
                f"{winner.name} holds {winner.joint_front_points} of {joint_size} points of the "
                f"joint front; {compared}, it is on average {sign * diff.difference:+.1f} points "
                f"more accurate than {loser.name} (95% CI {low:.1f} to {high:.1f}){inside}.")
        elif diff.equivalent:
            sentences.append(
                f"{a.name} and {b.name} are equivalent within +-{diff.margin:g} points: "
                f"{compared}, {a.name} minus {b.name} is {diff.difference:+.1f} points on "
                f"average (90% CI {diff.tost_low:.1f} to {diff.tost_high:.1f}, inside the margin: "
                f"two one-sided tests at 5%; they hold {a.joint_front_points} and "
                f"{b.joint_front_points} of {joint_size} points of the joint front).")
        else:
            sentences.append(
                f"The data cannot tell {a.name} and {b.name} apart: they hold "
                f"{a.joint_front_points} and {b.joint_front_points} of {joint_size} points of "
                f"the joint front; {compared}, {a.name} minus {b.name} is "
                f"{diff.difference:+.1f} points on average (95% CI {diff.ci_low:.1f} to "
                f"{diff.ci_high:.1f}), an interval that contains 0, and its 90% interval "
                f"({diff.tost_low:.1f} to {diff.tost_high:.1f}) is not inside the "
                f"+-{diff.margin:g}-point margin either.")
        sentences.append(_power_sentence(diff))
    if not differences and stats:
        only = stats[0]
        sentences.append(f"Only one group ({only.name}) is defined: nothing to compare it with.")
    body = " ".join(sentence for sentence in sentences if sentence)
    return f"{body} Scale: {scale.describe()}."


def _power_sentence(diff: MatchedDifference) -> str:
    """What the comparison could have detected, and what would decide it when it did not."""
    if diff.detectable is None or diff.scatter is None:
        return ""
    sentence = (f"With {diff.counts[0]} and {diff.counts[1]} architectures scattering "
                f"{diff.scatter:.1f} points around their lines, this comparison detects a true "
                f"difference of {diff.detectable:.1f} points with 80% power.")
    if diff.winner is None and not diff.equivalent and diff.margin > 0:
        needed = needed_per_group(diff.scatter, diff.margin)
        if needed is not None:
            sentence += (f" About {needed} architectures per group in the shared range (or "
                         f"less scatter: more epochs or seeds) would detect {diff.margin:g} "
                         f"point{'s' if diff.margin != 1 else ''}.")
    return sentence


def _macs(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"
