"""Ray: started for a run (a local, single-user one, or a cluster attached to), a trial's
resources as Tune places them, and a failed trial's error text as Tune left it."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from t2tsearch.engine.resources import TrialRequest
from t2tsearch.errors import UserError
from t2tsearch.private_apis import init_local_ray


def start_ray(address: str | None, verbose: bool) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local, single-user Ray
    # Tune's own progress tables go unless asked for (ours print one line per trial); the
    # legacy reporter is the one that stays silent at verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": verbose,
                              "logging_level": logging.INFO if verbose else logging.ERROR}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            # Ray's socket paths must stay under 107 bytes: a short temp dir of its own.
            temp_dir = tempfile.mkdtemp(prefix="t2ts-ray-", dir="/tmp")
            # Ray's session logs are only worth keeping when the user asked to see them.
            if not verbose:
                atexit.register(_shutdown_and_remove, temp_dir)
            init_local_ray(temp_dir, num_cpus=os.cpu_count() or 1,
                           object_store_memory=256 * 1024**2, **kwargs)
    except ConnectionError as err:
        raise UserError(f"--address {address}: cannot reach a Ray cluster there ({err})") from None


def _shutdown_and_remove(temp_dir: str) -> None:
    import ray

    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def resources_of(request: TrialRequest, config: Mapping[str, Any]):
    """A trial's Ray resources: its request, or a whole GPU for one trained again alone after it
    ran out of memory sharing one (StudySearcher._retry_alone)."""
    from ray import tune

    gpus = max(request.gpus, 1.0) if config.get("alone") else request.gpus
    bundle = {"CPU": request.cpus, **({"GPU": gpus} if gpus else {})}
    return tune.PlacementGroupFactory([bundle])


def error_text(trial) -> str | None:
    """The text of a Tune trial's error. Tune writes it to the trial's local folder before it
    tells callbacks, and copies it to the run directory (where `trial.get_error()` reads) only
    later: read there, every error read as unknown ("the trial raised an error")."""
    try:
        local = trial.error_file
        if local and os.path.isfile(local):
            with open(local, encoding="utf-8", errors="replace") as file:
                return file.read()
        text = trial.get_error()
    except Exception:  # an error we cannot read is still an error: flush_errors records it
        return None
    return str(text) if text else None
