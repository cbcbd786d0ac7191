"""Configuration problems, reported all at once in the user's words."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Loc = tuple[str | int, ...]
"""A key path into the YAML document: ``("sites", 3, "checks", 0, "interval")``."""


def render_path(loc: Loc) -> str:
    """``("sites", 3, "checks", 0, "interval")`` -> ``sites[3].checks[0].interval``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def short_repr(value: Any, limit: int = 60) -> str:
    """A bounded repr for quoting a bad value in a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def did_you_mean(word: str, candidates: Iterable[str], *, limit: int = 1) -> str | None:
    """``"did you mean 'interval'?"`` for the closest candidate, or None."""
    pool = [c for c in candidates if isinstance(c, str)]
    matches = difflib.get_close_matches(word, pool, n=limit, cutoff=0.55)
    if not matches:
        lowered = {c.lower(): c for c in pool}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    if not matches:
        return None
    return "did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


def one_of(candidates: Sequence[str], limit: int = 12) -> str:
    """``"valid: a, b, c"`` (shortened when long)."""
    shown = ", ".join(candidates[:limit])
    if len(candidates) > limit:
        shown += f", … ({len(candidates) - limit} more)"
    return f"valid: {shown}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the inventory, located in the file."""

    file: str
    line: int | None
    """1-based line, or None when the problem is not tied to one place."""
    column: int | None
    """1-based column."""
    path: str
    """Key path, e.g. ``sites[3].checks[0].intervl``; empty for the whole file."""
    value: Any
    """The offending value (already masked when it came from a secret)."""
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text

    @property
    def sort_key(self) -> tuple[int, int, str]:
        return (self.line or 0, self.column or 0, self.path)


class ConfigError(Exception):
    """The inventory cannot be used. ``problems`` lists every problem found, in file order.

    ``str(error)`` is what the CLI prints before exiting with status 2.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = sorted(problems, key=lambda p: p.sort_key)
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [str(p) for p in self.problems]
        count = len(self.problems)
        if count > 1 and self.problems:
            lines.append(f"{self.problems[0].file}: {count} problems")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render()
