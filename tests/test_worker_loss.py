"""Ray's errors read as a lost worker (trained again) or the trial's own exception (its result)."""

from __future__ import annotations

import pytest

from t2tsearch.engine.worker_loss import worker_lost
from tests.ray_errors import CREATION_RAISED, KILLED, MEMORY_MONITOR, NODE_LOST, RAISED


@pytest.mark.parametrize(("text", "reason"), [
    (KILLED, "its worker process died (killed: SIGKILL or the kernel's OOM killer?)"),
    (NODE_LOST, "its node was lost (node fe68cd53)"),
    (MEMORY_MONITOR, "its worker process was killed by Ray's memory monitor (the node ran low "
                     "on memory)"),
    (RAISED, None), (CREATION_RAISED, None), (None, None), ("", None),
    ("Traceback (most recent call last):\n  ...\nKeyboardInterrupt\n", None),
    # Ray's actor errors that are no worker's death: trained again, they would fail again.
    ("Failure # 1 (occurred at 2026-12-04_12-00-00)\nThe actor is not schedulable: The node "
     "specified via NodeAffinitySchedulingStrategy doesn't exist any more.", None),
    ("Failure # 1 (occurred at 2026-12-04_12-00-00)\nThe actor never ran - it was cancelled "
     "before it started running.", None),
], ids=["kill-9", "node", "memory-monitor", "raised", "creation-raised", "none", "empty",
        "interrupt", "not-schedulable", "cancelled"])
def test_ray_s_own_failures_are_lost_workers_and_exceptions_are_not(text, reason):
    assert worker_lost(text) == reason
