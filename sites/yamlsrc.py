"""Reading ``sites.yaml`` with positions: every node keeps its line and column.

The round-trip loader of ruamel.yaml records where each key and value sits, which is what
lets a problem found much later (a dangling reference, a bad probe option) point at the
line the operator has to fix. Duplicate keys are recorded instead of aborting the load, and
timestamps stay text so that pydantic parses them (and insists on a UTC offset).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from sites.errors import Loc
from sites.parsing import substitute_env


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    key: str
    line: int
    column: int
    first_line: int
    path: Loc


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that notes duplicate keys and keeps timestamps as text."""

    duplicates: list[tuple[Any, Any, Any]]

    def check_mapping_key(
        self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any
    ) -> bool:
        if key in mapping:
            self.duplicates.append((mapping, key, key_node.start_mark))
            return False
        return True

    def construct_text_timestamp(self, node: Any, values: Any = None) -> Any:
        return self.construct_scalar(node)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_text_timestamp)


class YamlSyntaxError(Exception):
    """The document is not YAML; carries the position of the fault."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Source:
    """A parsed document: the positioned tree, and what was noticed while reading it."""

    root: Any
    duplicates: list[DuplicateKey] = field(default_factory=list)


def parse(text: str) -> Source:
    """Parse YAML text into a positioned tree; raises :class:`YamlSyntaxError`."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    constructor = yaml.constructor
    assert isinstance(constructor, _Constructor)
    constructor.duplicates = []
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context})"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise YamlSyntaxError(message, line, column) from None
    except YAMLError as exc:
        raise YamlSyntaxError(str(exc).splitlines()[0], None, None) from None
    source = Source(root)
    paths = _paths(root)
    for mapping, key, mark in constructor.duplicates:
        path = paths.get(id(mapping), ())
        first = _key_line(mapping, key)
        source.duplicates.append(
            DuplicateKey(str(key), mark.line + 1, mark.column + 1, first, (*path, str(key)))
        )
    return source


def _key_line(mapping: Any, key: Any) -> int:
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (KeyError, AttributeError, TypeError):
        return 0


def _paths(root: Any) -> dict[int, Loc]:
    paths: dict[int, Loc] = {}
    stack: list[tuple[Any, Loc]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, CommentedMap):
            paths[id(node)] = path
            stack.extend((v, (*path, str(k))) for k, v in node.items())
        elif isinstance(node, CommentedSeq):
            paths[id(node)] = path
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
    return paths


def locate(root: Any, loc: Loc, *, key: bool = False) -> tuple[int | None, int | None]:
    """1-based (line, column) of the node at ``loc``.

    With ``key=True`` the position of the last mapping key rather than its value. When the
    path leaves the document (a missing key), the deepest existing container is used.
    """
    node = root
    line: int | None = None
    column: int | None = None
    if isinstance(node, CommentedMap | CommentedSeq):
        line, column = node.lc.line + 1, node.lc.col + 1
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        try:
            if isinstance(node, CommentedMap) and part in node:
                pos = node.lc.key(part) if (key and last) else node.lc.value(part)
                node = node[part]
            elif isinstance(node, CommentedMap) and str(part) in map(str, node):
                real = next(k for k in node if str(k) == str(part))
                pos = node.lc.key(real) if (key and last) else node.lc.value(real)
                node = node[real]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                pos = node.lc.item(part)
                node = node[part]
            else:
                break
        except (KeyError, AttributeError, TypeError):
            break
        line, column = int(pos[0]) + 1, int(pos[1]) + 1
    return line, column


@dataclass
class Plain:
    """The document as plain Python values, after ``${ENV}`` substitution."""

    data: Any
    secret_paths: dict[Loc, str] = field(default_factory=dict)
    """Paths whose value came from the environment, with the text as written (for messages
    that must not reveal the secret)."""
    secret_values: dict[Loc, str] = field(default_factory=dict)
    """The substituted values of ``secret_paths``, to be masked wherever they appear."""
    missing_env: list[tuple[Loc, str]] = field(default_factory=list)
    malformed_env: list[tuple[Loc, str]] = field(default_factory=list)


def to_plain(root: Any, environ: Mapping[str, str]) -> Plain:
    """Copy the positioned tree into dicts/lists/scalars, substituting ``${NAME}``."""
    plain = Plain(None)

    def convert(node: Any, path: Loc) -> Any:
        if isinstance(node, dict):
            return {
                (k if isinstance(k, str | int) else str(k)): convert(v, (*path, k))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [convert(v, (*path, i)) for i, v in enumerate(node)]
        if isinstance(node, bool):
            return bool(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, str):
            text = str(node)
            if "$" not in text:
                return text
            result = substitute_env(text, environ)
            if result.used:
                plain.secret_paths[path] = text
                plain.secret_values[path] = result.text
            plain.missing_env.extend((path, name) for name in result.missing)
            plain.malformed_env.extend((path, expr) for expr in result.malformed)
            return result.text
        return node

    plain.data = convert(root, ())
    return plain
