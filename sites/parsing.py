"""Small text parsers shared by the inventory: slugs, durations, ${ENV} and {placeholders}."""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

_SLUG_DROP = re.compile(r"[^a-z0-9]+")

ELEMENT_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
"""Element ids are DNS-label-like slugs: they become ``<slug>.cantho.gov.vn``."""
CHECK_ID = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
"""Check ids are local to their element; ``_`` is allowed (``vc_gov``)."""


def slugify(text: str) -> str:
    """ASCII slug of a Vietnamese name: "Vị Thanh 1" -> ``vi-thanh-1``, "Ô Môn" -> ``o-mon``.

    Diacritics are dropped (NFD, combining marks removed); đ/Đ, which has no decomposition,
    becomes d. Anything that is not a letter or digit separates words.
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SLUG_DROP.sub("-", ascii_only.lower()).strip("-")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_BARE_NUMBER = re.compile(r"\d+(?:\.\d+)?")
DURATION_HELP = "write seconds (30) or a number with a unit: 500ms, 30s, 5m, 2h, 1d, 1h30m"


def parse_duration(value: object) -> float:
    """Seconds from ``30``, ``2.5``, ``"30"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"1h30m"``.

    Raises ``ValueError`` (with a message for a person) for anything else, including
    negative numbers and booleans (YAML's ``yes``/``true``).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: {DURATION_HELP}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a duration: it must be 0 or more seconds")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: {DURATION_HELP}")
    text = value.strip().lower()
    if _BARE_NUMBER.fullmatch(text):
        return float(text)
    pos, total, parts = 0, 0.0, 0
    compact = text.replace(" ", "")
    while pos < len(compact):
        match = _DURATION_PART.match(compact, pos)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos, parts = match.end(), parts + 1
    if parts == 0 or pos != len(compact):
        raise ValueError(f"{value!r} is not a duration: {DURATION_HELP}")
    return total


def format_duration(seconds: float) -> str:
    """Shortest exact unit form: 30 -> "30s", 300 -> "5m", 5400 -> "1h30m", 0.5 -> "500ms"."""
    if seconds == 0:
        return "0s"
    if seconds < 1 or seconds != int(seconds):
        if seconds < 1:
            return f"{seconds * 1000:g}ms"
        return f"{seconds:g}s"
    rest, out = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


_ENV_REF = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class EnvResult:
    """A string after ``${NAME}`` substitution."""

    text: str
    used: tuple[str, ...]
    """Variables that were referenced (their values are secrets: never echo them)."""
    missing: tuple[str, ...]
    """Referenced, unset and without a default."""
    malformed: tuple[str, ...]
    """``${…}`` expressions that are not ``${NAME}`` or ``${NAME:-default}``."""


def substitute_env(text: str, environ: Mapping[str, str]) -> EnvResult:
    """Replace ``${NAME}`` and ``${NAME:-default}`` from ``environ``; ``$$`` is a literal ``$``.

    As in the shell, ``:-`` uses the default when the variable is unset *or empty*.
    """
    used: list[str] = []
    missing: list[str] = []
    malformed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        inner = match.group(1)
        name, sep, default = inner.partition(":-")
        if not _ENV_NAME.fullmatch(name):
            malformed.append(match.group(0))
            return match.group(0)
        used.append(name)
        value = environ.get(name)
        if value:
            return value
        if sep:
            return default
        if value is None:
            missing.append(name)
        return ""

    if "$" not in text:
        return EnvResult(text, (), (), ())
    out = _ENV_REF.sub(replace, text)
    return EnvResult(out, tuple(used), tuple(missing), tuple(malformed))


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_placeholders(text: str, context: Mapping[str, str]) -> tuple[str, list[str]]:
    """Fill ``{name}`` from ``context``; ``{{``/``}}`` are literal braces.

    Braces around anything that is not an identifier (``a{2}``) are left alone, so regular
    expressions in ``body_contains`` survive. Returns the text and the unknown names.
    """
    if "{" not in text and "}" not in text:
        return text, []
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name in context:
            return context[name]
        unknown.append(name)
        return token

    return _PLACEHOLDER.sub(replace, text), unknown


def is_ip(value: str) -> bool:
    """True for an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_hostname(value: str) -> bool:
    """True for a syntactically valid host name (letters, digits, ``-``; ``_`` tolerated)."""
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    return (
        0 < len(value) <= 253
        and value.isascii()
        and all(
            0 < len(label) <= 63
            and label[0] != "-"
            and label[-1] != "-"
            and all(c.isalnum() or c in "-_" for c in label)
            for label in labels
        )
    )
