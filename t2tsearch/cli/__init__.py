"""The `t2tsearch` command: parses arguments, calls the library, prints; no logic of its own.

`app` (the Typer app and what the commands share), `model_commands` (presets, cost, validate,
sample, train) and `run_commands` (run, report, compare, export, confirm). Each command imports
the library lazily, when it runs, so that `t2tsearch --help` starts in under a second.
"""

from __future__ import annotations

import sys

import typer

from t2tsearch.cli import model_commands as model_commands
from t2tsearch.cli import run_commands as run_commands
from t2tsearch.cli.app import app, load_arch
from t2tsearch.cli.run_commands import next_commands
from t2tsearch.errors import UserError

__all__ = ["app", "load_arch", "main", "next_commands"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit status 2, never a traceback.

    Usage errors (unknown option, missing argument) are click's: usage text and status 2.
    """
    try:
        app(args=argv, prog_name="t2tsearch")
    except UserError as err:
        typer.echo(f"t2tsearch: error: {err}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("t2tsearch: interrupted", err=True)
        return 130
    except SystemExit as done:  # click's standalone mode always ends with SystemExit
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
