"""The `t2tsearch` command's Typer app and what its commands share: the threads option, an
architecture read from a preset name or a file, overrides of its input, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from t2tsearch.arch import ArchConfig
from t2tsearch.errors import UserError

app = typer.Typer(
    name="t2tsearch",
    help="Design-space exploration for Tokens-to-Token ViTs.",
    add_completion=False,
    no_args_is_help=True,
    # User errors are one line (see main); anything else is a bug and keeps its plain traceback.
    pretty_exceptions_enable=False,
)


# Threads for torch in the commands that train, count or time outside Ray trials. torch's default
# is one OpenMP thread per core, and beside another busy process those threads spin against each
# other for a shared core: a 10-epoch training that took 56 s at one thread ran past 17 minutes.
# One thread has the best worst case on 2 cores (benchmarks/bench_threads.py, README); --threads
# asks for more where the machine is known to be free.
DEFAULT_THREADS = 1
ThreadsOption = Annotated[int | None, typer.Option(
    min=1, help=f"CPU threads for torch (default {DEFAULT_THREADS}: never collapses on a "
                "shared machine; more only where the cores are free).")]


def use_threads(threads: int | None) -> int:
    """Torch's intra-op threads for this command: --threads, else OMP_NUM_THREADS where the user
    set it, else DEFAULT_THREADS. Set through OMP_NUM_THREADS, which torch reads when it is
    imported, so a command that never needs torch does not import it here."""
    import os

    given = os.environ.get("OMP_NUM_THREADS", "")
    chosen = threads or (int(given) if given.isdigit() and int(given) > 0 else DEFAULT_THREADS)
    os.environ["OMP_NUM_THREADS"] = str(chosen)
    if "torch" in sys.modules:  # already imported (the command called in-process)
        sys.modules["torch"].set_num_threads(chosen)
    return chosen


def load_arch(name_or_file: str) -> ArchConfig:
    """A preset name or a YAML/JSON file holding one ArchConfig."""
    from pydantic import ValidationError

    from t2tsearch.models.presets import PRESETS, get_preset

    if name_or_file in PRESETS:
        return PRESETS[name_or_file]
    path = Path(name_or_file)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise UserError(f"{path}: no such file")
        import yaml

        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"{path}:{where} not valid YAML: {getattr(err, 'problem', err)}") from None
        if isinstance(data, dict) and "arch" in data:  # an exported trial: {arch: ..., ...}
            data = data["arch"]
        try:
            return ArchConfig.model_validate(data)
        except ValidationError as err:
            raise UserError(f"{path}: {format_validation_error(err)}") from None
    return get_preset(name_or_file)


def format_validation_error(err: Exception) -> str:
    """First problem of a pydantic ValidationError as 'key.path: reason'."""
    errors = err.errors()  # type: ignore[attr-defined]
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def with_overrides(cfg: ArchConfig, img_size: int | None, num_classes: int | None,
                   in_chans: int | None = None) -> ArchConfig:
    changes = {"img_size": img_size, "num_classes": num_classes, "in_chans": in_chans}
    return cfg.replace(**{key: value for key, value in changes.items() if value is not None})


def print_json(payload: object) -> None:
    typer.echo(json.dumps(payload, indent=2))


# ---- foundation: presets and cost ------------------------------------------------------------
