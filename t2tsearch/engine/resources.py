"""What one trial asks of the Ray cluster (CPUs, GPUs), checked against its nodes before the first
trial, and said while trials wait for resources that are busy.

Ray Tune leaves a trial that no node can hold pending for ever, and its warning about it is
hidden at the log level a run sets: without this check such a run prints its first line and
then nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from t2tsearch.errors import UserError

# A trial pending longer than this while the cluster has too little free for it is waiting for
# resources, not for its worker to start (a second or two, more on a loaded machine).
WAIT_NOTICE_SECONDS = 15.0


class ResourceError(UserError):
    """A trial's request that no node of the Ray cluster can ever hold."""


@dataclass(frozen=True)
class TrialRequest:
    """One trial's resources, as the search's settings ask for them."""

    cpus: float
    gpus: float

    def describe(self) -> str:
        return f"{_amount(self.cpus, 'CPU')} + {_amount(self.gpus, 'GPU')}"

    def as_tune(self) -> dict[str, float]:
        """What `tune.with_resources` takes."""
        return {"cpu": self.cpus, "gpu": self.gpus}


def _amount(count: float, unit: str) -> str:
    return f"{count:g} {unit}{'s' if count != 1 else ''}"


def node_resources() -> list[dict[str, float]]:
    """The total resources of each live node of the Ray cluster this process is attached to."""
    import ray

    return [dict(node.get("Resources") or {}) for node in ray.nodes() if node.get("Alive")]


def check_request(request: TrialRequest, nodes: Sequence[Mapping[str, float]]) -> None:
    """Raise a one-line ResourceError unless some node can hold one trial: the settings at
    fault, the request, and what the cluster's nodes have."""
    if request.gpus > 1 and not float(request.gpus).is_integer():
        raise ResourceError(f"search.gpus_per_trial {request.gpus:g} (--gpus-per-trial): Ray "
                            f"shares a GPU only in fractions below 1; give 0.5, 1, 2, ...")
    if any(_holds(node, request) for node in nodes):
        return
    most_cpus = max((node.get("CPU", 0.0) for node in nodes), default=0.0)
    most_gpus = max((node.get("GPU", 0.0) for node in nodes), default=0.0)
    settings = []
    if request.gpus > most_gpus:
        settings.append(f"search.gpus_per_trial {request.gpus:g} (--gpus-per-trial)")
    if request.cpus > most_cpus:
        settings.append(f"search.cpus_per_trial {request.cpus:g} (--cpus-per-trial)")
    if not settings:  # each fits somewhere, but never both on one node
        settings = [f"search.cpus_per_trial {request.cpus:g} with search.gpus_per_trial "
                    f"{request.gpus:g}"]
    raise ResourceError(f"{' and '.join(settings)}: one trial asks for {request.describe()}, "
                        f"but no node of the Ray cluster can hold it ({describe_nodes(nodes)}); "
                        f"ask for less, or attach to a larger cluster with --address")


def _holds(node: Mapping[str, float], request: TrialRequest) -> bool:
    # Ray's own rounding of fractional resources is to 1e-4; a small tolerance keeps 4 x 0.25
    # from failing on a float's last bit.
    return (node.get("CPU", 0.0) + 1e-6 >= request.cpus
            and node.get("GPU", 0.0) + 1e-6 >= request.gpus)


def describe_nodes(nodes: Sequence[Mapping[str, float]]) -> str:
    """'1 node: 2 CPUs, 0 GPUs' or '3 nodes, the largest 16 CPUs, 8 GPUs'."""
    if not nodes:
        return "no live node"
    most_cpus = max(node.get("CPU", 0.0) for node in nodes)
    most_gpus = max(node.get("GPU", 0.0) for node in nodes)
    sizes = f"{_amount(most_cpus, 'CPU')}, {_amount(most_gpus, 'GPU')}"
    return f"1 node: {sizes}" if len(nodes) == 1 else f"{len(nodes)} nodes, the largest {sizes}"


def unused_gpus_note(request: TrialRequest, nodes: Sequence[Mapping[str, float]]) -> str | None:
    """The one line a run prints when the cluster has GPUs its trials do not ask for."""
    gpus = sum(node.get("GPU", 0.0) for node in nodes)
    if request.gpus > 0 or gpus <= 0:
        return None
    return (f"note: the Ray cluster has {_amount(gpus, 'GPU')}, but trials ask for none "
            f"(search.gpus_per_trial 0), so they train on the CPU; --gpus-per-trial 0.25 puts "
            f"four trials on each GPU")


def check_cluster(request: TrialRequest, echo: Callable[[str], None]) -> None:
    """Before the first trial: refuse a request no node can hold, note GPUs left unused."""
    nodes = node_resources()
    check_request(request, nodes)
    if (note := unused_gpus_note(request, nodes)) is not None:
        echo(note)


def waiting_notice(request: TrialRequest, echo: Callable[[str], None],
                   available: Callable[[], Mapping[str, float]] | None = None,
                   clock: Callable[[], float] = time.monotonic,
                   after: float = WAIT_NOTICE_SECONDS,
                   unplaced: Callable[[], int] | None = None) -> Any:
    """A Ray Tune callback that says, once per spell, when trials wait for busy resources:
    pending for `after` seconds while Ray has not yet reserved the resources of one of them
    (`unplaced`: placement groups still waiting for resources, default Ray's count). A pending
    trial whose resources are reserved is only starting its worker (seconds, on a loaded
    machine), not waiting. `available` (free resources, default Ray's) goes in the line."""
    from ray.tune import Callback

    def free_now() -> Mapping[str, float]:
        import ray

        return ray.available_resources()

    def unplaced_now() -> int:
        from ray.util import placement_group_table

        return sum(group.get("state") == "PENDING" for group in placement_group_table().values())

    class WaitingNotice(Callback):
        def __init__(self) -> None:
            self.pending_since: dict[str, float] = {}
            self.said = False

        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            now = clock()
            pending = {trial.trial_id for trial in trials if trial.status == "PENDING"}
            self.pending_since = {trial_id: self.pending_since.get(trial_id, now)
                                  for trial_id in pending}
            waited = [now - since for since in self.pending_since.values()]
            if not waited or max(waited) < after:
                self.said = False  # the spell is over (or none began): say the next one
                return
            if self.said:
                return
            if not (unplaced or unplaced_now)():
                return  # every pending trial has its resources: its worker is starting
            free = (available or free_now)()
            self.said = True
            echo(f"waiting for resources: {len(waited)} trial(s) pending for "
                 f"{math.floor(max(waited))}s, each asks for {request.describe()}; free now: "
                 f"{_amount(free.get('CPU', 0.0), 'CPU')}, "
                 f"{_amount(free.get('GPU', 0.0), 'GPU')} (another job may hold them)")

    return WaitingNotice()
