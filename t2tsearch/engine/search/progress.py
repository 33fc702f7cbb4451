"""The progress line: one line per finished proposal, with the run's count and an ETA."""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd

from t2tsearch.arch import ArchConfig
from t2tsearch.results.tables import CONSUMED


class Progress:
    """One line per finished proposal, with the run's count of trials done out of its budget
    (`done` of them before this session) and an ETA from this session's measured throughput.

    The ETA counts from the first trial's end, not from the session's start: before it lie the
    imports, Ray's start and each slot's worker start, which the rest of the run does not pay
    again, and with `concurrency` slots the first trials end together. So the rate is that of
    the trials ended after the first, shown once a full round of slots has ended since then
    ("ETA estimating" before); from the start it read 2-3x too high."""

    def __init__(self, total: int, echo: Callable[[str], None], done: int = 0,
                 concurrency: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.echo = echo
        self.done = done
        self.concurrency = max(concurrency, 1)
        self.clock = clock
        self.trained = 0
        self.counted = 0  # this session's trials of the budget (results.CONSUMED), reused too
        self.first_end: tuple[float, int] | None = None  # (time, trained) at the first end

    def eta(self, remaining: int) -> str:
        """' | ETA 3m05s', ' | ETA estimating', or '' when nothing remains."""
        if not remaining:
            return ""
        if self.first_end is None:
            return " | ETA estimating"
        since, trained_then = self.first_end
        ended = self.trained - trained_then
        elapsed = self.clock() - since
        if ended < self.concurrency or elapsed <= 0:
            return " | ETA estimating"
        return f" | ETA {_duration(elapsed / ended * remaining)}"

    def finished(self, row: pd.Series) -> None:
        if row["status"] in CONSUMED:
            self.counted += 1
            if pd.isna(row.get("reused_from")):
                self.trained += 1
                if self.first_end is None:
                    self.first_end = (self.clock(), self.trained)
        remaining = max(self.total - self.done - self.counted, 0)
        eta = self.eta(remaining) if self.trained else ""
        accuracy = "" if pd.isna(row.get("accuracy")) else f"acc {row['accuracy']:5.1f}%"
        macs = "" if pd.isna(row.get("macs")) else f"{row['macs'] / 1e6:8.2f} MMACs"
        status = row["status"]
        if status == "complete" and not pd.isna(row.get("reused_from")):
            status = "reused"  # as the run's counts have it (results.status_counts)
        retries = 0 if pd.isna(row.get("retries", 0)) else int(row.get("retries", 0))
        if status == "complete" and retries:
            status = f"complete after {retries} retr{'y' if retries == 1 else 'ies'}"
        if not status.startswith("complete"):
            status = f"{status}: {row['reason']}" if row["reason"] else status
        cfg = ArchConfig.from_json(row["arch"])
        self.echo(f"[{self.done + self.counted:>3}/{self.total}] trial {row['trial']:>3} {cfg.short():<52} "
                  f"{accuracy:>11} {macs:>15} | {status}{eta}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
