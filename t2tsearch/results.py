"""The run directory and the flat trials table built from the Optuna study."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pandas as pd

from t2tsearch.arch import ArchConfig
from t2tsearch.atomic import atomic_write
from t2tsearch.errors import UserError

# Pareto fronts and hypervolume live in t2tsearch.pareto; re-exported for older imports.
from t2tsearch.pareto import METRIC_COLUMNS as METRIC_COLUMNS
from t2tsearch.pareto import REJECTED as REJECTED
from t2tsearch.pareto import ObjectiveSpec as ObjectiveSpec
from t2tsearch.pareto import full_budget as full_budget
from t2tsearch.pareto import hypervolume as hypervolume
from t2tsearch.pareto import objective_specs as objective_specs
from t2tsearch.pareto import pareto_front as pareto_front

if TYPE_CHECKING:
    from t2tsearch.space.schema import SearchSpace

STUDY_NAME = "t2tsearch"

# Status of a trial in the table. Only `complete` rows are full-budget results.
STATUSES = ("complete", "stopped_early", "infeasible", "invalid", "duplicate", "quota",
            "interrupted", "diverged", "oom", "failed", "lost", "running")
# Proposals rejected before training (REJECTED, from t2tsearch.pareto) cost no time or budget.
# Trainings that went wrong: the exit status counts them (64 + N). `lost`: the trial's worker
# process died (a signal, the OOM killer, its node lost) on every attempt, search.max_retries
# retries included; until then it is trained again and stays `running`.
FAILED = ("diverged", "oom", "failed", "lost")
# Trials that used one trial of the budget: a reused result (`complete` with `reused_from`) and
# an architecture the trainer found `invalid` too. An `interrupted` one did not: it is trained
# again, as a new trial, when the run resumes.
CONSUMED = ("complete", "stopped_early", "invalid", *FAILED)
# The categories a run's trials are counted in, in the order every count is shown (progress
# line, the run's summary, the report): each status, with `reused` (a `complete` row with
# `reused_from`) apart from `complete` and diverged, oom and failed together as `failed`.
COUNTED = ("complete", "reused", "stopped_early", "infeasible", "invalid", "duplicate", "quota",
           "interrupted", "running", "failed")

# Columns every table has, in this order; ArchConfig fields follow, then the rest.
LEADING_COLUMNS = [
    "trial", "config_id", "status", "reason", "accuracy", "macs", "params", "latency_ms",
    "epochs", "max_epochs", "seconds", "images_per_s", "reused_from", "groups", "arch",
]


class RunError(UserError):
    """A run directory that cannot be created, found or read."""


@dataclass(frozen=True)
class RunDir:
    """results/<run>/: space.yaml, run.json, study.db (Optuna), ray/, cost_cache/, trials.csv."""

    path: Path

    @property
    def space_file(self) -> Path:
        return self.path / "space.yaml"

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def study_db(self) -> Path:
        return self.path / "study.db"

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.study_db.resolve()}"

    @property
    def ray_dir(self) -> Path:
        return self.path / "ray"

    @property
    def cost_cache(self) -> Path:
        return self.path / "cost_cache"

    @property
    def trials_csv(self) -> Path:
        return self.path / "trials.csv"

    @classmethod
    def create(cls, out: str | os.PathLike[str], name: str) -> RunDir:
        path = Path(out) / name
        if path.exists():
            raise RunError(f"{path}: a run of that name exists; pass --resume {path} to go on "
                           f"with it, or --name to start another")
        path.mkdir(parents=True)
        return cls(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunDir:
        run = cls(Path(path))
        if not run.path.is_dir():
            raise RunError(f"{run.path}: no such run directory")
        for needed in (run.space_file, run.study_db):
            if not needed.is_file():
                raise RunError(f"{run.path}: not a t2tsearch run ({needed.name} is missing)")
        from t2tsearch.rundir import check_run_files

        check_run_files(run)  # a damaged file is named before anything reads or writes
        return run

    # ---- run.json -------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        from t2tsearch.rundir import read_run_json

        return read_run_json(self)

    def write_space(self, space: SearchSpace) -> None:
        """space.yaml, atomically, with its digest in run.json (a damaged copy is then told
        apart from the one the run wrote)."""
        from t2tsearch.rundir import space_digest

        text = space.to_yaml()
        atomic_write(self.space_file, text)
        meta = self.read_meta()
        meta["space_sha256"] = space_digest(text)
        self.write_meta(meta)

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self.run_json, json.dumps(meta, indent=2, default=str))

    def evaluator(self) -> str | None:
        """What answered the run's trials: 'table:FILE' when a session was answered by a table
        (as `table_evaluator`), else 'train'; None before its first session (nothing answered
        yet)."""
        if not self.read_meta().get("sessions"):
            return None
        return self.table_evaluator() or "train"

    def table_evaluator(self) -> str | None:
        """'table:FILE' when a session of the run was answered from a tabular benchmark instead
        of training (run.json records each session's evaluator); None for a trained run."""
        for session in self.read_meta().get("sessions", []):
            spec = str(session.get("evaluator", "train"))
            if spec.startswith("table:"):
                return spec
        return None

    def load_study(self) -> optuna.Study:
        return optuna.load_study(study_name=STUDY_NAME, storage=self.storage_url)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---- the trials table -----------------------------------------------------------------------
def arch_columns(cfg: ArchConfig) -> dict[str, Any]:
    """Every ArchConfig field as a flat column (img_size, t2t.mixer, t2t.soft_splits.0.kernel,
    backbone.depth, ...) plus the derived ones conditions use (t2t.depth, num_tokens, ...)."""
    from t2tsearch.conditions import config_fields

    return config_fields(cfg)


def trial_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """One table row from an Optuna trial's user attributes; None for a trial never proposed."""
    attrs = trial.user_attrs
    if "arch" not in attrs:
        return None
    cfg = ArchConfig.from_json(attrs["arch"])
    status = attrs.get("status")
    if status is None:
        status = "running" if trial.state == optuna.trial.TrialState.RUNNING else "failed"
    row: dict[str, Any] = {
        "trial": trial.number,
        "config_id": cfg.id,
        "status": status,
        "reason": attrs.get("reason", ""),
        "accuracy": attrs.get("accuracy"),
        "macs": attrs.get("macs"),
        "params": attrs.get("params"),
        "latency_ms": attrs.get("latency_ms"),
        "epochs": attrs.get("epochs", 0),
        "max_epochs": attrs.get("max_epochs"),
        "seconds": attrs.get("seconds"),
        "images_per_s": attrs.get("images_per_s"),
        "reused_from": attrs.get("reused_from"),
        "groups": ",".join(attrs.get("groups", [])),
        "arch": attrs["arch"],
        "accuracy_curve": json.dumps(attrs.get("accuracy_curve", [])),
        # What trained it: "cpu", "cuda:0 (NVIDIA H200, Ray GPU 3)"; none for a table's answer.
        "device": attrs.get("device"),
        # The Ray node that trained it (its id), and how often it was trained again after its
        # worker process died (search.max_retries).
        "node": attrs.get("node"),
        "retries": attrs.get("retries", 0),
        "started": trial.datetime_start.isoformat() if trial.datetime_start else None,
        "finished": trial.datetime_complete.isoformat() if trial.datetime_complete else None,
    }
    row.update(arch_columns(cfg))
    return row


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """The flat table: one row per proposed trial, architecture fields, cost, metrics, status."""
    rows = [row for trial in study.get_trials(deepcopy=False) if (row := trial_row(trial))]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=LEADING_COLUMNS)
    rest = [c for c in frame.columns if c not in LEADING_COLUMNS]
    return frame[LEADING_COLUMNS + rest]


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    """Trials per category of COUNTED, in its order, those with none left out: the one count of
    a run's trials (a table from `trials_table` or read back from trials.csv)."""
    if table.empty:
        return {}
    status = table["status"].astype(str)
    reused = table["reused_from"].notna() if "reused_from" in table else False
    category = status.where(~status.isin(FAILED), "failed").where(
        ~((status == "complete") & reused), "reused")
    counts = category.value_counts()
    return {name: int(counts[name]) for name in COUNTED if counts.get(name, 0)}


def describe_counts(counts: dict[str, int], table: pd.DataFrame | None = None) -> str:
    """'38 complete, 2 reused, 2 interrupted, 1 failed (1 diverged)': `status_counts` in words;
    with the table, the failed ones broken down by status."""
    parts = []
    for name, count in counts.items():
        part = f"{count} {name.replace('_', ' ')}"
        if name == "failed" and table is not None:
            detail = table.loc[table["status"].isin(FAILED), "status"].value_counts()
            labels = {"diverged": "diverged", "oom": "out of memory", "failed": "raised",
                      "lost": "lost their worker"}
            part += " (" + ", ".join(f"{detail[s]} {labels[s]}" for s in FAILED
                                     if detail.get(s, 0)) + ")"
        parts.append(part)
    return ", ".join(parts) or "none"


def write_trials_csv(run: RunDir, study: optuna.Study) -> pd.DataFrame:
    frame = trials_table(study)
    atomic_write(run.trials_csv, frame.to_csv(index=False))
    return frame


def load_trials(run_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The trials table of a run, rebuilt from its Optuna study (the source of truth)."""
    return trials_table(RunDir.open(run_path).load_study())

