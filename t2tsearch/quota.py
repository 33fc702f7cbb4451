"""Group quotas under `goal: compare_groups`: how many full-budget architectures each group is
owed, and which groups are still short of them.

The group verdict (t2tsearch.groups) needs a few full-budget architectures in every group, over
the MAC range the groups share. A search that chases the overall front puts nearly all its
trials in whichever group learns faster, so the verdict cannot be reached. Each group is owed
q = ceil(trials / (2 x groups)) distinct architectures trained to full budget: together at most
half the budget (plus one per group), the rest left to the overall front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from t2tsearch.arch import trial_config_id
from t2tsearch.groups import group_quota as group_quota

# Trial attribute (and Ray trial config key) marking a trial that fills a group's quota: the
# early-stopping scheduler never stops it, and while it trains it counts towards the quota.
FILLS_QUOTA = "fills_quota"


@dataclass(frozen=True)
class GroupTally:
    """Per group: distinct architectures complete, and those training that fill its quota."""

    quota: int
    complete: dict[str, set[str]]
    filling: dict[str, set[str]]

    def count(self, group: str) -> int:
        return len(self.complete[group] | self.filling[group])

    @property
    def reserve(self) -> int:
        """Trials of the budget held back for the quota trials still training: each may fail
        and leave its group short again."""
        return len(set().union(*self.filling.values())) if self.filling else 0

    @property
    def deficits(self) -> dict[str, int]:
        """Groups still short of their quota, with how many they need, in the space's order."""
        return {group: self.quota - self.count(group) for group in self.complete
                if self.count(group) < self.quota}


def tally_groups(trials: Sequence[FrozenTrial], groups: Sequence[str], quota: int) -> GroupTally:
    """Count each group's architectures from the study's trials (their `groups`, `config_id`,
    `status` and FILLS_QUOTA attributes, as the searcher records them).

    A trial training counts only if it fills a quota: those are never stopped early, so they
    will be full-budget results unless they fail (and then the group is short again)."""
    complete: dict[str, set[str]] = {group: set() for group in groups}
    filling: dict[str, set[str]] = {group: set() for group in groups}
    for trial in trials:
        config_id = trial_config_id(trial.user_attrs)
        if not config_id:
            continue
        if trial.state == TrialState.COMPLETE and trial.user_attrs.get("status") == "complete":
            into = complete
        elif trial.state == TrialState.RUNNING and trial.user_attrs.get("consumed") \
                and trial.user_attrs.get(FILLS_QUOTA):
            into = filling
        else:
            continue
        for group in trial.user_attrs.get("groups") or ():
            if group in into:
                into[group].add(config_id)
    return GroupTally(quota, complete, filling)


def describe_deficits(deficits: dict[str, int], quota: int) -> str:
    """'deep_narrow needs 2 more of its 4' (joined with 'and' for several groups)."""
    return " and ".join(f"{group} needs {need} more of its {quota}"
                        for group, need in deficits.items())
