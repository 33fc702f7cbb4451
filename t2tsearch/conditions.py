"""Conditions over ArchConfig fields (`when:` and `groups:`): a tiny safe grammar, never eval."""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from t2tsearch.arch import ArchConfig, BackboneConfig, T2TConfig

# The grammar, lowest precedence first:
#   expr       := and_expr ("or" and_expr)*
#   and_expr   := not_expr ("and" not_expr)*
#   not_expr   := "not" not_expr | comparison
#   comparison := operand [("=="|"!="|"<"|"<="|">"|">=") operand | ["not"] "in" list]
#   operand    := number | 'string' | "string" | true | false | word | "(" expr ")"
#   list       := "[" operand ("," operand)* "]"
# A word is a field when it names one (backbone.depth, num_tokens), otherwise a bare string
# (so `backbone.block == se` reads naturally). A dotted word that names no field is an error.

MAX_SOFT_SPLITS = 4

# Derived fields a condition may use besides the ArchConfig leaves.
DERIVED_FIELDS: dict[str, str] = {
    "num_tokens": "backbone sequence length (without the class token)",
    "t2t.depth": "number of T2T token-mixer layers (num_splits - 1)",
    "t2t.num_splits": "number of soft splits",
    "backbone.head_dim": "embed_dim / num_heads",
}

# Field kinds: "int", "float", "bool", or a tuple of the allowed strings.
FieldKind = str | tuple


def _kind_of(annotation: Any) -> FieldKind | None:
    if annotation in (int, float, bool):
        return annotation.__name__
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(typing.get_args(annotation))
    return None  # tuples and nested models are not condition fields


def _leaf_kinds(model: type[BaseModel], prefix: str) -> dict[str, FieldKind]:
    kinds: dict[str, FieldKind] = {}
    for name, info in model.model_fields.items():
        kind = _kind_of(info.annotation)
        if kind is not None:
            kinds[prefix + name] = kind
    return kinds


def _field_kinds() -> dict[str, FieldKind]:
    kinds = _leaf_kinds(ArchConfig, "")
    kinds.update(_leaf_kinds(T2TConfig, "t2t."))
    kinds.update(_leaf_kinds(BackboneConfig, "backbone."))
    for index in range(MAX_SOFT_SPLITS):
        for part in ("kernel", "stride", "padding"):
            kinds[f"t2t.soft_splits.{index}.{part}"] = "int"
    kinds.update({"num_tokens": "int", "t2t.depth": "int", "t2t.num_splits": "int",
                  "backbone.head_dim": "float"})
    return kinds


FIELD_KINDS: dict[str, FieldKind] = _field_kinds()


class ConditionError(ValueError):
    """A condition that does not parse or names an unknown field; the message is one line."""


def config_fields(cfg: ArchConfig) -> dict[str, Any]:
    """Every condition field of `cfg` as a flat {dotted path: value} dict, derived ones included."""
    values: dict[str, Any] = {
        "img_size": cfg.img_size, "in_chans": cfg.in_chans, "num_classes": cfg.num_classes,
        "pos_embed": cfg.pos_embed,
    }
    for name in T2TConfig.model_fields:
        if name != "soft_splits":
            values[f"t2t.{name}"] = getattr(cfg.t2t, name)
    for index, split in enumerate(cfg.t2t.soft_splits):
        for part in ("kernel", "stride", "padding"):
            values[f"t2t.soft_splits.{index}.{part}"] = getattr(split, part)
    for name in BackboneConfig.model_fields:  # dense_stages too: tables show it, conditions refuse it
        values[f"backbone.{name}"] = getattr(cfg.backbone, name)
    bb = cfg.backbone
    head_dim = bb.embed_dim / bb.num_heads
    values["backbone.head_dim"] = int(head_dim) if head_dim.is_integer() else head_dim
    values["t2t.num_splits"] = len(cfg.t2t.soft_splits)
    values["t2t.depth"] = cfg.t2t.depth
    values["num_tokens"] = cfg.num_tokens
    return values


# ---- tokens ---------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],.])
""", re.VERBOSE)

_KEYWORDS = {"and", "or", "not", "in", "true", "false", "True", "False"}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, word, keyword, op, punct, end
    text: str
    column: int  # 1-based, for messages


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConditionError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        kind = match.lastgroup or ""
        if kind != "space":
            word = match.group()
            if kind == "word" and word in _KEYWORDS:
                kind = "keyword"
            tokens.append(_Token(kind, word, pos + 1))
        pos = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


# ---- syntax tree ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Field:
    path: str


@dataclass(frozen=True)
class _Literal:
    value: Any
    bare: bool = False  # a bare word taken as a string: a misspelt field if it compares to nothing


@dataclass(frozen=True)
class _Compare:
    op: str
    left: Any
    right: Any  # for "in"/"not in": a tuple of _Literal/_Field


@dataclass(frozen=True)
class _Logic:
    op: str  # and, or
    parts: tuple


@dataclass(frozen=True)
class _Not:
    part: Any


@dataclass(frozen=True)
class _Truth:
    operand: Any  # a bool field or literal used on its own


class _Parser:
    def __init__(self, text: str, known: Mapping[str, FieldKind]) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.known = known
        self.fields: set[str] = set()

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise ConditionError(f"expected {text!r} at column {token.column}, found {_show(token)}")

    def parse(self) -> Any:
        if self.peek().kind == "end":
            raise ConditionError("empty condition")
        node = self.expr()
        token = self.peek()
        if token.kind != "end":
            raise ConditionError(_unexpected(token))
        return node

    def expr(self) -> Any:
        parts = [self.and_expr()]
        while self.peek().text == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _Logic("or", tuple(parts))

    def and_expr(self) -> Any:
        parts = [self.not_expr()]
        while self.peek().text == "and":
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else _Logic("and", tuple(parts))

    def not_expr(self) -> Any:
        if self.peek().text == "not":
            self.take()
            return _Not(self.not_expr())
        return self.comparison()

    def comparison(self) -> Any:
        start = self.peek()
        left = self.operand()
        token = self.peek()
        if token.kind == "op":
            self.take()
            right = self.operand()
            return self.checked(_Compare(token.text, left, right), start)
        if token.text == "in" or (token.text == "not" and self.tokens[self.pos + 1].text == "in"):
            op = "in" if token.text == "in" else "not in"
            self.pos += 1 if op == "in" else 2
            return self.checked(_Compare(op, left, self.list_()), start)
        if isinstance(left, (_Logic, _Not, _Compare, _Truth)):
            return left
        return self.checked(_Truth(left), start)

    def list_(self) -> tuple:
        self.expect("[")
        items = [self.operand()]
        while self.peek().text == ",":
            self.take()
            items.append(self.operand())
        self.expect("]")
        return tuple(items)

    def operand(self) -> Any:
        token = self.take()
        if token.text == "(":
            node = self.expr()
            self.expect(")")
            return node
        if token.kind == "number":
            value = float(token.text)
            return _Literal(int(value) if re.fullmatch(r"-?\d+", token.text) else value)
        if token.kind == "string":
            return _Literal(token.text[1:-1])
        if token.kind == "keyword" and token.text.lower() in ("true", "false"):
            return _Literal(token.text.lower() == "true")
        if token.kind == "word":
            if self.peek().text == "(":
                raise ConditionError(
                    f"'{token.text}(' at column {token.column}: calls are not allowed in a condition"
                )
            if token.text in self.known:
                self.fields.add(token.text)
                return _Field(token.text)
            if "." in token.text or token.text.startswith("_"):
                raise ConditionError(_unknown_field(token.text, self.known))
            return _Literal(token.text, bare=True)
        raise ConditionError(_unexpected(token))

    def checked(self, node: Any, start: _Token) -> Any:
        """Type-check a comparison now, so a typo fails when the space loads, not mid-search."""
        if isinstance(node, _Truth):
            operand = node.operand
            if isinstance(operand, _Field) and self.known[operand.path] == "bool":
                return node
            if isinstance(operand, _Literal) and isinstance(operand.value, bool):
                return node
            if isinstance(operand, _Literal) and operand.bare:
                raise ConditionError(_unknown_field(operand.value, self.known))
            raise ConditionError(f"expected a comparison at column {start.column}")
        right = node.right if isinstance(node.right, tuple) else (node.right,)
        sides = (node.left, *right)
        fields = [side for side in sides if isinstance(side, _Field)]
        if any(not isinstance(side, (_Field, _Literal)) for side in sides):
            raise ConditionError(f"a comparison at column {start.column} compares a sub-condition")
        if not fields:
            bare = [side.value for side in sides if isinstance(side, _Literal) and side.bare]
            if bare:
                raise ConditionError(_unknown_field(bare[0], self.known))
            raise ConditionError(f"the comparison at column {start.column} names no field")
        kind = self.known[fields[0].path]
        for side in sides:
            if isinstance(side, _Literal):
                _check_literal(side.value, kind, fields[0].path)
        if node.op in ("<", "<=", ">", ">=") and kind not in ("int", "float"):
            raise ConditionError(f"'{node.op}' needs a number, but {fields[0].path} is not one")
        return node


def _check_literal(value: Any, kind: FieldKind, path: str) -> None:
    if isinstance(kind, tuple):
        if value not in kind:
            close = difflib.get_close_matches(str(value), kind, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConditionError(
                f"{path} is one of {', '.join(kind)}, never {value!r}{hint}"
            )
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ConditionError(f"{path} is true or false, not {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConditionError(f"{path} is a number, not {value!r}")


def _show(token: _Token) -> str:
    return "the end" if token.kind == "end" else repr(token.text)


def _unexpected(token: _Token) -> str:
    if token.kind == "end":
        return "the condition ends too early"
    return f"unexpected {token.text!r} at column {token.column}"


def _unknown_field(name: str, known: Mapping[str, FieldKind]) -> str:
    # `depth` for `backbone.depth`: every field ending in that name, else the closest spelling.
    close = sorted(path for path in known if path.rsplit(".", 1)[-1] == name)
    if not close:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown field '{name}'{hint}"


# ---- evaluation -----------------------------------------------------------------------------
_MISSING = object()  # a field the config lacks (a soft split beyond num_splits)


def _value(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, _Field):
        return values.get(node.path, _MISSING)
    return node.value


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return False
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _evaluate(node: Any, values: Mapping[str, Any]) -> bool:
    if isinstance(node, _Logic):
        results = (_evaluate(part, values) for part in node.parts)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, _Not):
        return not _evaluate(node.part, values)
    if isinstance(node, _Truth):
        value = _value(node.operand, values)
        return value is not _MISSING and bool(value)
    left = _value(node.left, values)
    if node.op in ("in", "not in"):
        if left is _MISSING:
            return False
        found = any(_compare("==", left, _value(item, values)) for item in node.right)
        return found if node.op == "in" else not found
    return _compare(node.op, left, _value(node.right, values))


@dataclass(frozen=True, eq=False)
class Condition:
    """A parsed condition; `evaluate` answers it for a config or a flat dict of field values."""

    source: str
    fields: frozenset[str]
    _tree: Any

    def evaluate(self, values: ArchConfig | Mapping[str, Any]) -> bool:
        """True when the condition holds. A comparison on a field the config lacks is false."""
        if isinstance(values, ArchConfig):
            values = config_fields(values)
        return _evaluate(self._tree, values)

    def __str__(self) -> str:
        return self.source


def parse_condition(text: str, known: Mapping[str, FieldKind] | None = None) -> Condition:
    """Parse `text`; raise ConditionError (one line) for bad syntax or an unknown field."""
    if not isinstance(text, str):
        raise ConditionError(f"a condition is a string, not {type(text).__name__}")
    parser = _Parser(text, FIELD_KINDS if known is None else known)
    tree = parser.parse()
    return Condition(source=text.strip(), fields=frozenset(parser.fields), _tree=tree)
