"""Proxy fidelity: whether the search's short-budget ranking, front and group verdict hold when the
same architectures train longer (the records of `t2tsearch confirm --epochs`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd
from scipy.stats import kendalltau

from t2tsearch.groups import PLANE, GroupComparison, MatchedDifference, Scale, compare_groups
from t2tsearch.pareto import full_budget, pareto_front
from t2tsearch.results.run import Run
from t2tsearch.space.schema import SearchSpace

HOLDS, FLIPS, UNDECIDED = "holds", "flips", "undecided"
SUGGESTED_FACTOR = 5  # a first longer budget to suggest: 5x the proxy's epochs


@dataclass(frozen=True)
class PairOutcome:
    """One pair of groups compared on the same architectures at the proxy and the longer budget."""

    proxy: MatchedDifference
    longer: MatchedDifference

    @property
    def status(self) -> str:
        """holds: the same decided winner at both budgets; flips: decided at both, opposite
        winners; undecided: either budget cannot decide."""
        if not (self.proxy.decided and self.longer.decided):
            return UNDECIDED
        return HOLDS if self.proxy.winner == self.longer.winner else FLIPS

    def describe(self) -> str:
        def side(diff: MatchedDifference) -> str:
            return diff.winner if diff.decided else "undecided"

        return (f"{self.proxy.first} vs {self.proxy.second}: {self.status} "
                f"({side(self.proxy)} at the proxy, {side(self.longer)} longer)")


@dataclass(frozen=True)
class BudgetFidelity:
    """The proxy against one longer budget, over the architectures trained at both."""

    proxy_epochs: int
    epochs: int
    # One row per architecture trained at both budgets: config_id, macs, groups, role,
    # proxy_accuracy, accuracy (at `epochs`, mean over its seeds), seeds.
    accuracies: pd.DataFrame
    tau: float | None  # Kendall's tau-b between the two accuracies (None below 2 architectures)
    p_value: float | None
    proxy_front: int  # architectures non-dominated (accuracy-MACs) at the proxy, among these
    front_kept: int  # of them, still non-dominated at `epochs`
    failed: int  # jobs (architecture, seed) at this budget with no completed training
    proxy_comparison: GroupComparison | None = None  # these architectures at the proxy budget
    comparison: GroupComparison | None = None  # the same at `epochs`
    pairs: tuple[PairOutcome, ...] = ()

    @property
    def architectures(self) -> int:
        return len(self.accuracies)

    def sentence(self) -> str:
        tau = "undefined" if self.tau is None else f"{self.tau:.2f}"
        return (f"proxy fidelity: tau = {tau} over {self.architectures} architectures "
                f"({self.proxy_epochs} vs {self.epochs} epochs)")


def budget_accuracies(confirmations: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Mean accuracy and seed count per architecture of the complete trainings at `epochs`."""
    rows = confirmations[(confirmations["epochs"] == epochs)
                         & (confirmations["status"] == "complete")]
    rows = rows.dropna(subset=["accuracy"]).astype({"accuracy": float})
    grouped = rows.groupby("config_id")
    return pd.DataFrame({"accuracy": grouped["accuracy"].mean(),
                         "seeds": grouped.size(),
                         "role": grouped["role"].first()}).reset_index()


def kendall_tau(proxy: Sequence[float], longer: Sequence[float]) -> tuple[float | None,
                                                                         float | None]:
    """Kendall's tau-b and its two-sided p-value (scipy); None where it is undefined."""
    if len(proxy) < 2:
        return None, None
    result = kendalltau(proxy, longer)
    if pd.isna(result.statistic):  # one side constant: no ranking to compare
        return None, None
    return float(result.statistic), float(result.pvalue)


def measure_fidelity(table: pd.DataFrame, confirmations: pd.DataFrame, proxy_epochs: int,
                     group_names: Sequence[str] = (), scale: Scale | None = None,
                     bootstrap: int = 1000, seed: int = 0) -> list[BudgetFidelity]:
    """One `BudgetFidelity` per budget above `proxy_epochs` in `confirmations`, shortest first.

    `table` is the run's trials table at its own budget (same-budget confirmations applied:
    `t2tsearch.results.tables.confirmed_table`); `confirmations` is
    `t2tsearch.results.tables.load_confirmations`. Groups are compared (`compare_groups`) on the
    architectures trained at both budgets, once with their proxy accuracies and once with the
    longer ones, so a flip comes from the budget and not from a different set of architectures.
    `scale` describes the proxy; the longer side's is the same with its epochs and seeds.
    """
    done = full_budget(table, PLANE)
    budgets = sorted(int(e) for e in confirmations["epochs"].dropna().unique()
                     if int(e) > proxy_epochs)
    out = []
    for epochs in budgets:
        at_budget = confirmations[confirmations["epochs"] == epochs]
        longer = budget_accuracies(confirmations, epochs)
        both = done.drop(columns=["role", "seeds"], errors="ignore").merge(
            longer.rename(columns={"accuracy": "longer_accuracy"}), on="config_id")
        proxy_table = both
        longer_table = both.assign(proxy_accuracy=both["accuracy"],
                                   accuracy=both["longer_accuracy"])
        tau, p_value = kendall_tau(both["accuracy"].tolist(), both["longer_accuracy"].tolist())
        proxy_front = set(pareto_front(proxy_table, PLANE)["config_id"]) if len(both) else set()
        longer_front = set(pareto_front(longer_table, PLANE)["config_id"]) if len(both) else set()
        proxy_comparison = comparison = None
        pairs: tuple[PairOutcome, ...] = ()
        if group_names and len(both):
            proxy_scale = scale or Scale("?", 0, proxy_epochs)
            longer_scale = replace(proxy_scale, epochs=epochs, seeds=int(both["seeds"].max()))
            proxy_comparison = compare_groups(proxy_table, group_names, proxy_scale, bootstrap,
                                              seed)
            comparison = compare_groups(longer_table, group_names, longer_scale, bootstrap, seed)
            pairs = tuple(PairOutcome(a, b) for a, b in zip(proxy_comparison.differences,
                                                             comparison.differences, strict=True))
        accuracies = longer_table[["config_id", "macs", "groups", "role", "proxy_accuracy",
                                   "accuracy", "seeds"]].reset_index(drop=True)
        # A job (architecture, seed) counts as failed only while no record of it completed:
        # a later confirm that trained it again successfully settles it.
        jobs = at_budget.groupby(["config_id", "seed"])["status"]
        failed = int((~jobs.agg(lambda statuses: (statuses == "complete").any())).sum())
        out.append(BudgetFidelity(proxy_epochs, epochs, accuracies, tau, p_value,
                                  len(proxy_front), len(proxy_front & longer_front), failed,
                                  proxy_comparison, comparison, pairs))
    return out


def run_fidelity(run: Run, scale: Scale | None = None, bootstrap: int = 1000
                 ) -> list[BudgetFidelity]:
    """`measure_fidelity` for a run read once (`t2tsearch.results.read_run`): its confirmed
    trials table and its confirmations."""
    space = run.space
    train = space.train
    scale = scale or Scale(train.dataset, train.img_size, train.epochs,
                           train_images=train.train_subset)
    return measure_fidelity(run.table, run.confirmations, train.epochs, list(space.groups),
                            scale, bootstrap, space.search.seed)


def suggested_epochs(space: SearchSpace) -> int:
    return SUGGESTED_FACTOR * space.train.epochs


def confirm_command(run_path: str | os.PathLike[str], space: SearchSpace) -> str:
    """The command that measures a run's proxy fidelity at the suggested longer budget."""
    return f"t2tsearch confirm {run_path} --epochs {suggested_epochs(space)}"


def not_measured_sentence(run_path: str | os.PathLike[str], space: SearchSpace) -> str:
    return f"proxy fidelity: not measured yet; run `{confirm_command(run_path, space)}`"
