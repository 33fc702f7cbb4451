"""A space's problems as one line: SpaceError, and pydantic's errors as 'key.path: reason'."""

from __future__ import annotations

import difflib
import types
import typing
import unicodedata
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from t2tsearch.errors import UserError


class SpaceError(UserError):
    """A search space that cannot be used; the message is 'file: key.path: reason', one line:
    control and format characters a hostile key may carry (newlines, NUL, right-to-left
    overrides) are written as escapes."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


def _one_line(text: str) -> str:
    return "".join(char if char == " " or unicodedata.category(char)[0] not in "CZ"
                   else char.encode("unicode_escape").decode("ascii") for char in text)


def did_you_mean(name: str, known: list[str]) -> str:
    """'; did you mean X?' for the closest of `known`, or ''."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


# ---- pydantic errors as one line ----------------------------------------------------------------
def _keys_at(model: Any, loc: tuple) -> list[str] | None:
    """The keys a mapping at `loc` may hold, following the schema down from `model`."""
    current = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(info.alias or name): info for name, info in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) in (list, tuple):
            current = typing.get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    """The model inside Optional[...] / Union[...], if any."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation


_TYPE_ERRORS = ("_type", "_parsing", "literal_error", "enum", "bool_", "int_", "float_", "string_")


def describe_error(err: ValidationError, root: Any) -> tuple[str, str]:
    """The first problem of a ValidationError as (key.path, reason), with a did-you-mean hint."""
    errors = err.errors()
    # An unknown key explains the others (a misspelt section also leaves one missing).
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = _keys_at(root, loc[:-1]) or []
        reason = "unknown key" + (did_you_mean(str(loc[-1]), allowed)
                                  or (f"; expected one of {', '.join(allowed)}" if allowed else ""))
    elif kind == "missing":
        reason = "required"
    elif kind == "too_short" and isinstance(first.get("input"), (list, dict)):
        reason = "empty; give at least one entry"
    else:
        reason = first["msg"]
        value = first.get("input")
        if any(tag in kind for tag in _TYPE_ERRORS) and not isinstance(value, (dict, list)):
            reason += f" (got {value!r})"
    # Union members appear in loc as type names; they mean nothing to a YAML author.
    kept = [part for i, part in enumerate(loc) if not _is_union_tag(root, loc[:i], part)]
    if len(kept) < len(loc) and kind.endswith("_type"):
        # Each member of a union failed; naming only the first member's type would mislead.
        reason = f"expected a number, a string or true/false (got {first.get('input')!r})"
    return ".".join(str(part) for part in kept), reason


def _is_union_tag(root: Any, parent: tuple, part: Any) -> bool:
    if not isinstance(part, str):
        return False
    if part in (_keys_at(root, tuple(p for p in parent if not _is_union_tag(root, (), p))) or ()):
        return False  # a real key that happens to be spelt like a type, e.g. `int:`
    return part in ("str", "int", "float", "bool", "none") or "[" in part \
        or part.startswith("function-")
