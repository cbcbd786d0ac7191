"""Rows for ``thongsuot inventory``: every check with where it is and what it probes.

Rendered as an aligned text table (terminal-width aware, Vietnamese names aligned by
display width, not by ``len``), as CSV or as JSON.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal

from sites.inventory import Inventory
from sites.models import Datacenter, Site
from sites.parsing import format_duration
from sites.spec import CheckSpec, ElementType, Lifecycle


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """One check as listed by ``thongsuot inventory``."""

    check: str
    """Check id, ``<element>.<check>``."""
    element: str
    """Element id."""
    element_name: str
    """Element name with diacritics."""
    type: str
    """``datacenter``, ``system`` or ``site``."""
    kind: str
    """Probe kind."""
    target: str
    """What is probed: URL, host, or ``name @ server`` for DNS."""
    datacenter: str
    site: str
    former_province: str
    role: str
    lifecycle: str
    interval: float
    """Seconds between checks while healthy."""


Filter = str | Collection[str] | None


def _wanted(value: str | None, wanted: Filter) -> bool:
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return value == wanted
    return value in wanted


def check_target(spec: CheckSpec) -> str:
    """The probed address of a check: its URL, host (and port when not the default), or
    ``name @ server``."""
    options = spec.options
    url = getattr(options, "url", None)
    if isinstance(url, str):
        return url
    name = getattr(options, "name", None)
    server = getattr(options, "server", None)
    if isinstance(name, str) and isinstance(server, str):
        record = getattr(options, "type", "")
        return f"{name} {record} @ {server}".replace("  ", " ")
    host = getattr(options, "host", None)
    if isinstance(host, str):
        port = getattr(options, "port", None)
        default = type(options).model_fields.get("port")
        if port is not None and (default is None or default.default != port):
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return host
    return ""


def inventory_rows(
    inventory: Inventory,
    *,
    datacenter: Filter = None,
    site: Filter = None,
    kind: Filter = None,
    lifecycle: Filter = None,
    element_type: Filter = None,
    element: Filter = None,
) -> list[InventoryRow]:
    """Rows for every check, in inventory order, keeping those that match every filter.

    Each filter is one value or a collection of values (ids; lifecycle and element type by
    their value, e.g. ``"kept-for-lookup"``, ``"site"``).
    """
    provinces: dict[str, str] = {}
    names: dict[str, str] = {}
    for group in (inventory.config.datacenters, inventory.config.systems, inventory.config.sites):
        for item in group:
            names[item.id] = item.name
            if isinstance(item, Datacenter | Site):
                provinces[item.id] = item.former_province
    rows = []
    for spec in inventory.checks.values():
        if not (
            _wanted(spec.datacenter, datacenter)
            and _wanted(spec.site, site)
            and _wanted(spec.kind, kind)
            and _wanted(spec.lifecycle.value, _values(lifecycle))
            and _wanted(spec.element_type.value, _values(element_type))
            and _wanted(spec.element, element)
        ):
            continue
        rows.append(
            InventoryRow(
                check=spec.id,
                element=spec.element,
                element_name=names.get(spec.element, spec.element),
                type=spec.element_type.value,
                kind=spec.kind,
                target=check_target(spec),
                datacenter=spec.datacenter or "",
                site=spec.site or "",
                former_province=provinces.get(spec.element, ""),
                role=spec.role or "",
                lifecycle=spec.lifecycle.value,
                interval=spec.interval,
            )
        )
    return rows


def _values(wanted: Filter | Lifecycle | ElementType) -> Filter:
    if isinstance(wanted, Lifecycle | ElementType):
        return wanted.value
    if wanted is None or isinstance(wanted, str):
        return wanted
    return [w.value if isinstance(w, Lifecycle | ElementType) else w for w in wanted]


def display_width(text: str) -> int:
    """Terminal cells ``text`` occupies: wide East Asian characters count 2, combining marks
    and zero-width characters 0, so decomposed Vietnamese aligns like precomposed."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        if char in "\u200b\u200c\u200d\u2060\ufeff":
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells (ending in "…" when cut) and pad it to exactly that."""
    text = unicodedata.normalize("NFC", text)
    if display_width(text) <= width:
        return text + " " * (width - display_width(text))
    out, used = "", 0
    for char in text:
        cells = display_width(char)
        if used + cells > width - 1:
            break
        out += char
        used += cells
    out += "…"
    used += 1
    return out + " " * (width - used)


_COLUMNS: tuple[tuple[str, str], ...] = (
    ("check", "CHECK"),
    ("element_name", "ELEMENT"),
    ("type", "TYPE"),
    ("kind", "KIND"),
    ("target", "TARGET"),
    ("datacenter", "DC"),
    ("site", "SITE"),
    ("former_province", "FORMER PROVINCE"),
    ("role", "ROLE"),
    ("lifecycle", "LIFECYCLE"),
    ("interval", "INTERVAL"),
)
"""(field, header) in display order."""

_FLEXIBLE = {"target": 16, "element_name": 12, "check": 20}
"""Columns cut with "…" to fit a narrow terminal, and how far before others are dropped."""
_DROP_ORDER = ("site", "type", "former_province", "lifecycle", "datacenter", "interval", "role")
"""Columns left out, in this order, when cutting the flexible ones is not enough."""
_HARD_MINIMUM = 6


def _cell(row: InventoryRow, name: str) -> str:
    value = getattr(row, name)
    if name == "interval":
        return format_duration(value)
    return str(value)


def _layout(natural: dict[str, int], width: int) -> dict[str, int]:
    """Column widths that fit ``width`` cells: cut flexible columns, then drop columns."""
    widths = dict(natural)

    def total() -> int:
        return sum(widths.values()) + 2 * (len(widths) - 1)

    def shrink(floor: Callable[[str], int]) -> None:
        while total() > width:
            room = {n: widths[n] - floor(n) for n in _FLEXIBLE if n in widths}
            name = max(room, key=lambda n: room[n])
            if room[name] <= 0:
                return
            widths[name] -= 1

    shrink(lambda n: min(natural[n], _FLEXIBLE[n]))
    for name in _DROP_ORDER:
        if total() <= width:
            break
        widths.pop(name, None)
    shrink(lambda n: min(natural[n], _HARD_MINIMUM))
    grown = True
    while grown and total() < width:
        grown = False
        for name in _FLEXIBLE:
            if name in widths and widths[name] < natural[name] and total() < width:
                widths[name] += 1
                grown = True
    return widths


def render_table(rows: Sequence[InventoryRow], *, width: int | None = None) -> str:
    """An aligned plain-text table.

    With ``width`` (the terminal's columns) the table fits: long ids, names and targets are
    cut with "…", then the least useful columns are left out. Alignment uses display width,
    so "Cần Thơ" lines up whatever its Unicode normal form.
    """
    cells = [{name: _cell(row, name) for name, _ in _COLUMNS} for row in rows]
    headers = dict(_COLUMNS)
    natural = {
        name: max([display_width(header), *(display_width(c[name]) for c in cells)])
        for name, header in _COLUMNS
    }
    widths = natural if width is None else _layout(natural, width)
    lines = []
    for line in [headers, *cells]:
        text = "  ".join(_fit(line[name], widths[name]) for name, _ in _COLUMNS if name in widths)
        lines.append(text.rstrip())
    return "\n".join(lines) + "\n"


def render_csv(rows: Sequence[InventoryRow]) -> str:
    """CSV with a header row (UTF-8 text; diacritics kept)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [f.name for f in fields(InventoryRow)]
    writer.writerow(names)
    for row in rows:
        writer.writerow([getattr(row, name) for name in names])
    return buffer.getvalue()


def render_json(rows: Sequence[InventoryRow]) -> str:
    """A JSON array of objects, one per row (diacritics kept, not escaped)."""
    return json.dumps([asdict(row) for row in rows], ensure_ascii=False, indent=2) + "\n"


def render_rows(
    rows: Sequence[InventoryRow],
    fmt: Literal["table", "csv", "json"] = "table",
    *,
    width: int | None = None,
) -> str:
    """Render rows in one of the formats of ``thongsuot inventory --format``."""
    if fmt == "csv":
        return render_csv(rows)
    if fmt == "json":
        return render_json(rows)
    return render_table(rows, width=width)
