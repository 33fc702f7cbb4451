"""A run directory, the one place that opens, guards and reads it; one module per job.

`directory` (where its files are, run.json, the one-driver lock, faults of its storage), `tables`
(the trials table and its statuses and counts, trials.csv kept current, the confirmations),
`reference` (the run's one hypervolume reference point, placed and read back) and `run`
(`open_run`, the files checked; `read_run`, the run read once for the report, `export`, the
fidelity and the CLI). The names below are the ones callers import from `t2tsearch.results`;
none of these modules imports torch, timm, Ray or the engine.
"""

from __future__ import annotations

from t2tsearch.results.directory import (
    STUDY_NAME,
    RunBusyError,
    RunDamagedError,
    RunDir,
    RunError,
    RunStorageError,
    now_iso,
)
from t2tsearch.results.reference import read_reference, run_reference
from t2tsearch.results.run import NoResultError, Run, load_trials, open_run, read_run
from t2tsearch.results.tables import (
    CONSUMED,
    COUNTED,
    FAILED,
    LEADING_COLUMNS,
    STATUSES,
    TrialsCsv,
    confirmed_table,
    describe_counts,
    load_confirmations,
    status_counts,
    trials_table,
)

__all__ = [
    "CONSUMED", "COUNTED", "FAILED", "LEADING_COLUMNS", "STATUSES", "STUDY_NAME", "NoResultError",
    "Run", "RunBusyError", "RunDamagedError", "RunDir", "RunError", "RunStorageError",
    "TrialsCsv", "confirmed_table", "describe_counts", "load_confirmations", "load_trials",
    "now_iso", "open_run", "read_reference", "read_run", "run_reference", "status_counts",
    "trials_table",
]
