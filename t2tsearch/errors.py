"""Exceptions that carry a one-line message meant for the user, not a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: the CLI prints the message on one line and exits with status 2."""


class InfeasibleArchError(UserError, ValueError):
    """An ArchConfig that cannot be built (no tokens left, heads not dividing the width, ...)."""


class UnknownPresetError(UserError, KeyError):
    """A preset name that does not exist; the message names the closest ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
