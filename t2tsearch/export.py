"""Export architectures from a run as YAML files that `t2tsearch cost`, `train` and
`build_model` accept: {arch: <ArchConfig>} plus where it came from and what it measured."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from t2tsearch.arch import ArchConfig
from t2tsearch.errors import UserError
from t2tsearch.results.run import read_run


class ExportError(UserError):
    """A trial that does not exist, or an output path that cannot take the export."""


def arch_document(row: pd.Series, run_path: Path) -> dict[str, Any]:
    """One exported architecture: the ArchConfig first, then provenance and measurements."""
    cfg = ArchConfig.from_json(row["arch"])

    def number(key: str) -> float | int | None:
        value = row.get(key)
        if value is None or pd.isna(value):
            return None
        return int(value) if key in ("macs", "params", "seeds") else round(float(value), 4)

    measured = {key: number(key) for key in ("accuracy", "accuracy_std", "seeds", "macs",
                                             "params", "latency_ms")}
    return {
        "arch": cfg.to_dict(),
        "config_id": cfg.id,
        "summary": cfg.short(),
        "run": str(run_path.resolve()),
        "trial": int(row["trial"]),
        "status": row["status"],
        **{key: value for key, value in measured.items() if value is not None},
    }


def _dump(document: dict[str, Any], path: Path) -> None:
    header = (f"# {document['summary']}\n# exported from {document['run']}, trial "
              f"{document['trial']}; load with t2tsearch cost/train {path.name}\n")
    path.write_text(header + yaml.safe_dump(document, sort_keys=False))


def export_trial(run_path: str | os.PathLike[str], trial: int,
                 out: str | os.PathLike[str]) -> Path:
    """Write trial `trial`'s architecture to the YAML file `out`."""
    data = read_run(run_path)
    rows = data.table[data.table["trial"] == trial]
    if rows.empty:
        numbers = data.table["trial"]
        raise ExportError(f"{data.run.path}: no trial {trial} (trials are {numbers.min()} to "
                          f"{numbers.max()})")
    target = Path(out)
    if target.is_dir():
        raise ExportError(f"--out {target}: a folder; give a file name such as arch.yaml")
    target.parent.mkdir(parents=True, exist_ok=True)
    _dump(arch_document(rows.iloc[0], data.run.path), target)
    return target


def export_front(run_path: str | os.PathLike[str], out: str | os.PathLike[str]) -> list[Path]:
    """Write each front architecture to its own file in the folder `out`, best accuracy first.

    One file per architecture, because every command that reads an architecture reads one.
    """
    data = read_run(run_path)
    target = Path(out)
    if target.suffix.lower() in (".yaml", ".yml", ".json") or target.is_file():
        raise ExportError(f"--out {target}: --front writes one file per architecture; give a "
                          f"folder (e.g. --out front/)")
    target.mkdir(parents=True, exist_ok=True)
    front = data.front.sort_values("accuracy", ascending=False)
    paths = []
    for rank, (_, row) in enumerate(front.iterrows(), start=1):
        path = target / f"front-{rank:02d}-trial{int(row['trial'])}-{row['config_id']}.yaml"
        _dump(arch_document(row, data.run.path), path)
        paths.append(path)
    return paths
