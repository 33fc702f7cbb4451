"""The run directory, the flat trials table built from the Optuna study, Pareto fronts, hypervolume."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from t2tsearch.arch import ArchConfig
from t2tsearch.atomic import atomic_write
from t2tsearch.errors import UserError

STUDY_NAME = "t2tsearch"

# Status of a trial in the table. Only `complete` rows are full-budget results.
STATUSES = ("complete", "stopped_early", "infeasible", "duplicate", "quota", "diverged", "oom",
            "failed", "running")
# Proposals rejected before training: they cost no time and no budget.
REJECTED = ("infeasible", "duplicate", "quota")

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
        return run

    # ---- run.json -------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        if not self.run_json.is_file():
            return {}
        return json.loads(self.run_json.read_text())

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self.run_json, json.dumps(meta, indent=2, default=str))

    def load_study(self) -> optuna.Study:
        return optuna.load_study(study_name=STUDY_NAME, storage=self.storage_url)


def run_metadata(command: Sequence[str], seed: int) -> dict[str, Any]:
    """What run.json records at the start of a run: versions, seed, command, host."""
    import ray
    import timm
    import torch

    from t2tsearch import __version__

    return {
        "t2tsearch": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "timm": timm.__version__,
        "optuna": optuna.__version__,
        "ray": ray.__version__,
        "host": platform.node(),
        "platform": platform.platform(),
        "cuda": torch.cuda.is_available(),
        "seed": seed,
        "command": list(command),
        "sessions": [],
    }


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


def write_trials_csv(run: RunDir, study: optuna.Study) -> pd.DataFrame:
    frame = trials_table(study)
    atomic_write(run.trials_csv, frame.to_csv(index=False))
    return frame


def load_trials(run_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The trials table of a run, rebuilt from its Optuna study (the source of truth)."""
    return trials_table(RunDir.open(run_path).load_study())


# ---- Pareto fronts and hypervolume --------------------------------------------------------------
@dataclass(frozen=True)
class ObjectiveSpec:
    """A table column and whether larger is better (accuracy) or smaller (macs, params, latency)."""

    column: str
    maximize: bool


# The table column that holds each objective metric of a space.
METRIC_COLUMNS = {"accuracy": "accuracy", "macs": "macs", "params": "params",
                  "latency": "latency_ms"}


def objective_specs(objectives: Sequence[Any]) -> list[ObjectiveSpec]:
    """From the space's objectives ({metric, direction}) to table columns."""
    return [ObjectiveSpec(METRIC_COLUMNS[o.metric], o.direction == "maximize") for o in objectives]


def _as_losses(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec]) -> np.ndarray:
    values = frame[[s.column for s in specs]].to_numpy(dtype=float)
    signs = np.array([-1.0 if s.maximize else 1.0 for s in specs])
    return values * signs


def full_budget(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec]) -> pd.DataFrame:
    """Complete trials with every objective measured, one row per architecture (the first)."""
    done = frame[frame["status"] == "complete"]
    done = done.dropna(subset=[s.column for s in specs])
    return done.drop_duplicates(subset="config_id", keep="first")


def pareto_front(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec]) -> pd.DataFrame:
    """The non-dominated full-budget trials (early-stopped ones never qualify), by first objective."""
    candidates = full_budget(frame, specs)
    if candidates.empty:
        return candidates
    losses = _as_losses(candidates, specs)
    # Optuna's own non-domination ranking: rank 0 is the Pareto front.
    from optuna.study._multi_objective import _fast_non_domination_rank

    ranks = _fast_non_domination_rank(losses)
    front = candidates[ranks == 0]
    first = specs[0]
    return front.sort_values(first.column, ascending=not first.maximize)


def reference_point(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec]) -> dict[str, float]:
    """A fixed corner for hypervolume: 0 for a maximised metric, 1.1 x the worst seen for costs."""
    ref = {}
    for spec in specs:
        if spec.maximize:
            ref[spec.column] = 0.0
        else:
            seen = frame[spec.column].dropna()
            ref[spec.column] = float(seen.max()) * 1.1 if not seen.empty else 1.0
    return ref


def hypervolume(frame: pd.DataFrame, specs: Sequence[ObjectiveSpec],
                reference: dict[str, float]) -> float:
    """Hypervolume of the full-budget trials against `reference` (Optuna's WFG algorithm)."""
    candidates = full_budget(frame, specs)
    if candidates.empty:
        return 0.0
    losses = _as_losses(candidates, specs)
    ref = np.array([-reference[s.column] if s.maximize else reference[s.column] for s in specs])
    inside = np.all(losses < ref, axis=1)
    if not inside.any():
        return 0.0
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(losses[inside], ref))
