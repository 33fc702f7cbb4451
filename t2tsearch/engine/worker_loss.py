"""Whether a trial's Ray error says its worker went away (retried) or it raised (its result).

Read from the error's text, as Tune writes it to the trial's error.txt ("Failure # 1 (occurred
at ...)", then the error), so that it reads the same for any Ray version's error object. Ray's
wording, checked on Ray 2.41 and 2.60 (tests/test_worker_loss.py holds the messages as written):

- a worker process killed (SIGKILL, the kernel's OOM killer, a crash): an `ActorDiedError`, "The
  actor died unexpectedly before finishing this task. ... The actor is dead because its worker
  process has died. Worker exit type: ...";
- Ray's own memory monitor killing it: the same, exit type NODE_OUT_OF_MEMORY, "the node running
  low on memory";
- its node lost: the same, "The actor died because its node has died. Node Id: ...";
- an exception in the trial, or in its actor's creation: a `RayTaskError`, whose text opens with
  the worker's process title ("ray::ImplicitFunc.train() (pid=...)") and carries the traceback,
  even when its message happens to use the words above.
"""

from __future__ import annotations

import re

# How the error itself opens, after Tune's "Failure # N" line: Ray's own failures only.
# "The actor died" only: Ray's other actor errors ("The actor is not schedulable", "The actor
# never ran - it was cancelled") are no worker's death, and training again would meet them again.
RAY_FAILURE = ("The actor died", "The worker died unexpectedly", "The node ",
               "Task was killed due to the node running low on memory")
# An actor whose creation raised died of an exception: retrying would raise again.
RAISED_IN_CREATION = "error raised in its creation task"
NODE_DIED = ("its node has died", "has been marked dead", "node was terminated")
MEMORY_MONITOR = ("NODE_OUT_OF_MEMORY", "running low on memory")


def worker_lost(text: str | None) -> str | None:
    """Why the trial's worker went away, in words for the record ("its node was lost (node
    3f2a1b9c)"); None when the error is the trial's own exception, or not Ray's."""
    if not text:
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    failures = [i for i, line in enumerate(lines) if line.startswith("Failure # ")]
    body = lines[failures[-1] + 1:] if failures else lines  # the last failure's text
    if not body or not body[0].startswith(RAY_FAILURE):
        return None
    error = "\n".join(body)
    if RAISED_IN_CREATION in error:
        return None
    if any(words in error for words in NODE_DIED):
        match = re.search(r"[Nn]ode [Ii]d:? ([0-9a-f]{8})", error)
        return f"its node was lost{f' (node {match.group(1)})' if match else ''}"
    if any(words in error for words in MEMORY_MONITOR):
        return "its worker process was killed by Ray's memory monitor (the node ran low on memory)"
    # Ray cannot say which signal: a process gone without a Python error was killed (kill -9,
    # the kernel's OOM killer) or crashed.
    return "its worker process died (killed: SIGKILL or the kernel's OOM killer?)"
