"""Reading a space file: YAML under a safe loader with size limits, validated into a SearchSpace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from t2tsearch.space.errors import SpaceError, describe_error
from t2tsearch.space.schema import SearchSpace

# What a space file may hold. A real one is a few KB, nests 5 levels and has a few hundred YAML
# nodes; these limits refuse hostile files (deep nesting, alias bombs, huge lists) while they
# are still cheap to refuse: before any Python object is built from them.
MAX_FILE_BYTES = 1_000_000
MAX_NESTING = 32
MAX_NODES = 20_000  # YAML nodes with every alias expanded


class _TooBig(yaml.YAMLError):
    def __init__(self, path: list[str], reason: str) -> None:
        super().__init__(reason)
        self.path = ".".join(part for part in path if part) or "(top level)"
        self.reason = reason


class _SpaceLoader(yaml.SafeLoader):
    """safe_load that refuses duplicate keys (the second `backbone.depth` would silently win)
    and counts while it composes: nesting, nodes with aliases expanded, aliases into the node
    that defines them. A billion-laughs file is refused after MAX_NODES nodes, not 10^9."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._where: list[str] = []  # the key path of the node being composed
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}  # id(node) -> its node count, aliases expanded
        self._total = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # index: the key node for a mapping value, the position for a sequence item, None for
        # a mapping key.
        part = index.value if isinstance(index, yaml.ScalarNode) else \
            str(index) if isinstance(index, int) else ""
        self._where.append(str(part))
        try:
            if len(self._where) > MAX_NESTING:
                raise _TooBig(self._where, f"nested more than {MAX_NESTING} levels deep")
            if self.check_event(yaml.AliasEvent):
                anchor = self.peek_event().anchor
                if anchor in self._open_anchors:
                    raise _TooBig(self._where, f"alias *{anchor} refers to the node that holds it")
                node = super().compose_node(parent, index)
                self._count(self._sizes.get(id(node), 1))
                return node
            event = self.peek_event()
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                self._open_anchors.add(anchor)
            try:
                node = super().compose_node(parent, index)
            finally:
                self._open_anchors.discard(anchor)
            self._sizes[id(node)] = 1 + _children_size(node, self._sizes)
            self._count(1)
            return node
        finally:
            self._where.pop()

    def _count(self, nodes: int) -> None:
        self._total += nodes
        if self._total > MAX_NODES:
            raise _TooBig(self._where[:-1] if self._where[-1].isdigit() else self._where,
                          f"more than {MAX_NODES} YAML values (aliases expanded); "
                          "a space file holds a few hundred")


def _children_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    if isinstance(node, yaml.SequenceNode):
        return sum(sizes.get(id(child), 1) for child in node.value)
    if isinstance(node, yaml.MappingNode):
        return sum(sizes.get(id(key), 1) + sizes.get(id(value), 1) for key, value in node.value)
    return 0


def _construct_mapping(loader: _SpaceLoader, node: yaml.MappingNode) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key (a list or mapping): construct_mapping says so
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_SpaceLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_space(data: Any, source: str = "<space>") -> SearchSpace:
    """Validate already-loaded YAML data; raise SpaceError('source: key.path: reason')."""
    if data is None:
        raise SpaceError(f"{source}: (top level): empty file; a space needs at least `parameters`")
    if not isinstance(data, dict):
        raise SpaceError(f"{source}: (top level): a space is a mapping of sections "
                         f"(name, base, parameters, ...), not a {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise SpaceError(f"{source}: {key!r}: section names are strings")
    if "name" not in data and source.endswith((".yaml", ".yml")):
        data = {"name": Path(source).stem, **data}
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as err:
        where, reason = describe_error(err, SearchSpace)
        if err.errors()[0]["type"] == "space":  # our own semantic check: already 'where: reason'
            raise SpaceError(f"{source}: {reason}") from None
        raise SpaceError(f"{source}: {where or '(top level)'}: {reason}") from None


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a search space file (`spaces/*.yaml`).

    Returns:
        The checked `SearchSpace`, with its `base_config` (an `ArchConfig`), parameters,
        constraints, objectives, groups, and `train` and `search` settings with defaults filled.

    Raises:
        SpaceError: any problem, as one line `file: key.path: reason` (with a did-you-mean
            for a misspelt key). The file is read under a safe loader with size limits.
    """
    path = Path(path)
    return parse_space(_read_space_yaml(path), str(path))


# The train settings a run's space.yaml lacks when the run was made before they existed, and the
# value that reads it as that run was made.
_ADDED_SINCE = {
    # The train/validation split followed train.seed.
    "split_seed": None,
    # The dataset's own test set (mnist, fashion_mnist, cifar) was the validation set.
    "val_size": None,
}


def load_run_space(path: str | Path) -> SearchSpace:
    """A run directory's space.yaml (the space as run), read as that run was made.

    Runs made before `train.split_seed` existed drew their train/validation split from
    `train.seed`, and runs made before `train.val_size` existed validated on the dataset's test
    set; their space.yaml lacks the key, so it reads as None instead of the default a new space
    gets. A run made since states both explicitly.
    """
    path = Path(path)
    data = _read_space_yaml(path)
    if isinstance(data, dict):
        train = data.get("train")
        if train is None:
            data = {**data, "train": dict(_ADDED_SINCE)}
        elif isinstance(train, dict):
            data = {**data, "train": {**_ADDED_SINCE, **train}}
    return parse_space(data, str(path))


def _read_space_yaml(path: Path) -> Any:
    if path.is_dir():
        raise SpaceError(f"{path}: is a directory, not a space file")
    if not path.is_file():
        raise SpaceError(f"{path}: no such file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpaceError(f"{path}: (top level): {size:,} bytes; a space file may hold at most "
                             f"{MAX_FILE_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpaceError(f"{path}: cannot read: {err}") from None
    try:
        data = yaml.load(text, Loader=_SpaceLoader)  # noqa: S506 - a SafeLoader subclass
    except _TooBig as err:
        raise SpaceError(f"{path}: {err.path}: {err.reason}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpaceError(f"{path}: {where}: not valid YAML: {problem}") from None
    except (ValueError, OverflowError, RecursionError) as err:
        # A scalar YAML reads but Python cannot hold: an int of 5,000 digits, a 13th month.
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SpaceError(f"{path}: (top level): cannot read a value: {reason}") from None
    return data
