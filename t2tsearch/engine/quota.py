"""Group quotas under `goal: compare_groups`: which groups are still short of the full-budget
architectures each is owed (t2tsearch.groups.group_quota), and the gate the search puts every
proposal through while they are; the cost-aware sampler proposes for the short groups first.

The group verdict (t2tsearch.groups) needs a few full-budget architectures in every group, over
the MAC range the groups share. A search that chases the overall front puts nearly all its
trials in whichever group learns faster, so the verdict cannot be reached. Each group is owed
q = ceil(trials / (2 x groups)) distinct architectures trained to full budget: together at most
half the budget (plus one per group), the rest left to the overall front.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from t2tsearch.arch import ArchConfig, trial_config_id
from t2tsearch.space.sampling import queue_random_feasible
from t2tsearch.space.schema import SearchSpace

# Trial attribute (and Ray trial config key) marking a trial that fills a group's quota: the
# early-stopping scheduler never stops it, and while it trains it counts towards the quota.
FILLS_QUOTA = "fills_quota"
# After this many proposals in a row rejected for the quota (the sampler keeps missing the short
# groups), the gate queues a random member of one itself.
QUOTA_PATIENCE = 30
# Random draws searched for a member of a short group before its quota is given up as out of reach.
QUOTA_DRAWS = 1000


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


@dataclass
class QuotaGate:
    """The search's gate on proposals under `goal: compare_groups` (inactive otherwise, with a
    quota of 0). Proposals outside every short group are trained while the budget left exceeds
    what the short groups still need plus the reserve for quota trials in flight; from then on
    only a new architecture of a short group is."""

    space: SearchSpace
    study: optuna.Study
    cost_cache: Path | None = None
    echo: Callable[[str], None] = print
    out_of_reach: set[str] = field(default_factory=set)  # no random draw could fill these
    notes: list[str] = field(default_factory=list)

    @property
    def quota(self) -> int:
        return self.space.group_quota

    @property
    def active(self) -> bool:
        return self.quota > 0

    def state(self) -> tuple[dict[str, int], int]:
        """(the short groups' deficits, trials held back for quota trials in flight)."""
        if not self.active:
            return {}, 0
        tally = tally_groups(self.study.get_trials(deepcopy=False), list(self.space.groups),
                             self.quota)
        deficits = {g: n for g, n in tally.deficits.items() if g not in self.out_of_reach}
        return deficits, tally.reserve

    def deficits(self) -> dict[str, int]:
        """Groups short of their quota, with how many they still need."""
        return self.state()[0]

    def holding_reserve(self, budget_left: int) -> bool:
        """Every quota is filled or training, and what is left of the budget is the reserve
        for those still training: wait for their results before spending it elsewhere."""
        if not self.active:
            return False
        deficits, reserve = self.state()
        return not deficits and 0 < budget_left <= reserve

    def admitted_now(self, budget_left: int) -> Callable[[ArchConfig], bool] | None:
        """Which new architectures `check` admits now (None: any), for a random draw: when the
        budget left is what the short groups need, only their members."""
        deficits, reserve = self.state()
        if budget_left > sum(deficits.values()) + reserve:
            return None
        return self._member_of(deficits)

    def _member_of(self, groups: Iterable[str]) -> Callable[[ArchConfig], bool]:
        wanted = set(groups)
        return lambda cfg: bool(set(self.space.groups_of(cfg)) & wanted)

    def check(self, config_id: str, groups: list[str], budget_left: int, tried: set[str]
              ) -> tuple[bool, str | None]:
        """(whether a proposal fills a short group's quota, why it is rejected or None);
        `tried` holds the architectures trained or training."""
        deficits, reserve = self.state()
        new = config_id not in tried
        fills = new and any(group in deficits for group in groups)
        if fills or budget_left > sum(deficits.values()) + reserve:
            return fills, None
        where = f"in {', '.join(groups)}" if groups else "in no group"
        if not new:
            where = "already trained or training"
        return False, (f"{describe_deficits(deficits, self.quota)} with {budget_left} "
                       f"trial(s) left; this one is {where}")

    def queue_short_group_member(self, tried: set[str]) -> None:
        """The sampler keeps missing the short groups: queue a random feasible member of one
        not in `tried` (the next ask returns it), or give up the quotas no random draw fills."""
        deficits = self.deficits()
        if queue_random_feasible(self.study, self.space, tried, self.cost_cache, QUOTA_DRAWS,
                                 wanted=self._member_of(deficits)):
            return
        self.out_of_reach |= set(deficits)
        note = (f"quota given up for {', '.join(deficits)}: no new feasible architecture of "
                f"{'it' if len(deficits) == 1 else 'them'} in {QUOTA_DRAWS} random draws")
        self.notes.append(note)
        self.echo(note)
