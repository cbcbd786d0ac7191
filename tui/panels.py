"""Panels as pure functions: a :class:`~tui.board.Board` in, table rows out.

Nothing here imports Textual, so every panel is tested as plain data. A row is
``(key, cells)`` and a cell is ``(text, style)``: plain strings, compared cheaply by the
table that applies only the cells that changed, and turned into ``rich.text.Text`` (never
parsed as markup) only when drawn. Text from devices and servers therefore reaches the
screen literally.

:func:`compute_frame` runs on a worker thread once per refresh and produces every panel at
once, so the UI thread only diffs and applies.
"""

from __future__ import annotations

import time
import unicodedata
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.cutover import Verdict
from monitor.store import OutageRow
from sites import CheckSpec, Inventory
from tui.board import Board, CheckRow
from tui.i18n import Lang, state_label, t

Cell = tuple[str, str]
"""``(text, style)``; style is a Rich style string ("" for none)."""
Row = tuple[str, tuple[Cell, ...]]
"""``(row key, cells)``."""


@dataclass(frozen=True, slots=True)
class Column:
    """A table column with a fixed width (never re-measured while live)."""

    key: str
    label: str
    width: int


MATRIX_ROLES = ("wan", "vc_gov", "vc_party", "portal", "dns", "mail")
"""What every commune site should have, in matrix column order."""

STATE_FILTERS = ("all", "problems", "down")

_SEVERITY = {
    "down": 90,
    "unreachable": 70,
    "flapping": 60,
    "recovering": 55,
    "suspect": 50,
    "degraded": 40,
    "unknown": 10,
    "maintenance": 5,
    "up": 0,
    "retired": -1,
}
_UNLISTED_SEVERITY = 30
"""A state this version does not know: worth a look, not an alarm."""
_STYLE = {
    "down": "bold white on red3",
    "unreachable": "magenta",
    "flapping": "bold yellow",
    "recovering": "yellow",
    "suspect": "yellow",
    "degraded": "dark_orange",
    "unknown": "grey50",
    "maintenance": "steel_blue",
    "retired": "grey35",
    "up": "green",
}
_GLYPH = {
    "down": "✕",
    "unreachable": "○",
    "flapping": "≈",
    "recovering": "↑",
    "suspect": "?",
    "degraded": "▲",
    "unknown": "·",
    "maintenance": "◌",
    "retired": "–",
    "up": "●",
}
_DOWNISH = frozenset({"down", "unreachable"})
_CALM = frozenset({"up", "unknown", "maintenance", "retired"})
_INFER_SLACK_S = 120.0
"""A child's outage is folded under an open parent outage that began at most this much
later (the child's probe may simply have noticed first)."""


def severity(state: str) -> int:
    """How bad a state is, for sorting and for the worst-of-group colour."""
    return _SEVERITY.get(state, _UNLISTED_SEVERITY)


def state_style(state: str) -> str:
    """The colour of a state; states this version does not know are shown in italics."""
    return _STYLE.get(state, "italic")


def state_cell(state: str, lang: Lang) -> Cell:
    """A state as glyph and label, coloured."""
    return (f"{_GLYPH.get(state, '◇')} {state_label(state, lang)}", state_style(state))


def matches_state(state: str, state_filter: str) -> bool:
    """Whether ``state`` passes the ``all`` / ``problems`` / ``down`` filter."""
    if state_filter == "down":
        return state in _DOWNISH
    if state_filter == "problems":
        return state not in _CALM
    return True


def worst(states: Iterable[str]) -> str:
    """The worst of some states; ``unknown`` for none; retired checks count only when
    nothing else is there."""
    best, rank = "unknown", -2
    for s in states:
        r = severity(s)
        if r > rank:
            best, rank = s, r
    return best


def fold(text: str) -> str:
    """Lower-case without diacritics, so "ninh kieu" finds "Ninh Kiều" and "dong" "Đông"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def clip(text: str, width: int) -> str:
    """Cut to ``width`` characters with an ellipsis (cells have fixed widths)."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def fmt_duration(seconds: float, lang: Lang) -> str:
    """``0:04:07``, ``2 ngày 3:04:05`` / ``2d 3:04:05``."""
    s = max(0, int(seconds))
    days, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    clock = f"{h}:{m:02d}:{sec:02d}"
    if not days:
        return clock
    return f"{days} ngày {clock}" if lang == "vi" else f"{days}d {clock}"


def fmt_budget(seconds: float, lang: Lang) -> str:
    """A budget: "0 s — không gián đoạn", "5 min", "1:30:00"."""
    if seconds <= 0:
        return f"0 s — {t('budget.none', lang)}"
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return fmt_duration(seconds, lang)


def fmt_time(ts: float | None, tz: ZoneInfo, now: float | None = None) -> str:
    """Local time: ``14:03:07`` today, ``23/11 14:03`` another day, ``—`` for none."""
    if ts is None:
        return "—"
    dt = datetime.fromtimestamp(ts, tz)
    if now is not None and datetime.fromtimestamp(now, tz).date() == dt.date():
        return dt.strftime("%H:%M:%S")
    return dt.strftime("%d/%m %H:%M")


def fmt_date(ts: float, tz: ZoneInfo) -> str:
    """``24/06/2025``."""
    return datetime.fromtimestamp(ts, tz).strftime("%d/%m/%Y")


def fmt_latency(ms: float | None) -> str:
    """``12.3 ms``, ``1.20 s``, ``—``."""
    if ms is None:
        return "—"
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


class Index:
    """What the panels need from the inventory, computed once per inventory."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.checks: Mapping[str, CheckSpec] = inventory.checks
        self.datacenters = inventory.datacenters
        self.sites = inventory.sites
        self.systems = inventory.systems
        self.by_element: dict[str, list[str]] = {}
        self.by_datacenter: dict[str, list[str]] = {}
        self.site_roles: dict[str, dict[str, str]] = {}
        for spec in self.checks.values():
            self.by_element.setdefault(spec.element, []).append(spec.id)
            if spec.datacenter is not None:
                self.by_datacenter.setdefault(spec.datacenter, []).append(spec.id)
            if spec.site is not None and spec.role is not None:
                self.site_roles.setdefault(spec.site, {}).setdefault(spec.role, spec.id)
        dc_order = {dc: i for i, dc in enumerate(self.datacenters)}
        self.site_order: list[str] = sorted(
            self.sites,
            key=lambda s: (
                dc_order.get(self.sites[s].datacenter or "", len(dc_order)),
                fold(self.sites[s].former_province),
                fold(self.sites[s].name),
            ),
        )
        self.dc_ids: list[str] = list(self.datacenters)
        self.provinces: list[str] = sorted(
            {s.former_province for s in self.sites.values()}, key=fold
        )
        self.search_text: dict[str, str] = {}
        for spec in self.checks.values():
            self.search_text[spec.id] = fold(
                " ".join(
                    (
                        spec.id,
                        spec.name,
                        spec.kind,
                        spec.role or "",
                        spec.element,
                        self.element_name(spec.element),
                        spec.datacenter or "",
                    )
                )
            )

    def element_name(self, element: str) -> str:
        """The display name of a data centre, site or system (its id if unknown)."""
        for group in (self.sites, self.systems, self.datacenters):
            item = group.get(element)
            if item is not None:
                return item.name
        return element

    def element_type(self, element: str) -> str:
        """``datacenter``, ``site``, ``system`` or ``check``; ``""`` if unknown."""
        if element in self.sites:
            return "site"
        if element in self.systems:
            return "system"
        if element in self.datacenters:
            return "datacenter"
        if element in self.checks:
            return "check"
        return ""

    def dc_short(self, dc: str | None) -> str:
        """A data centre's short label (its former province)."""
        if dc is None:
            return "—"
        item = self.datacenters.get(dc)
        return item.former_province if item is not None else dc

    def element_dc(self, element: str) -> str | None:
        """The data centre an element is homed on."""
        if element in self.datacenters:
            return element
        site = self.sites.get(element)
        if site is not None:
            return site.datacenter
        system = self.systems.get(element)
        return system.datacenter if system is not None else None


@dataclass(frozen=True)
class View:
    """The UI's choices that shape the panels; immutable, handed to the worker."""

    lang: Lang = "vi"
    dc: str | None = None
    province: str | None = None
    state: str = "all"
    search: str = ""
    expanded: frozenset[int] = frozenset()
    """Root outages whose affected children are unfolded."""
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))


def shown_state(row: CheckRow | None, spec: CheckSpec | None) -> str:
    """A check's state as shown: a retired check is never probed, so it is not unknown."""
    if spec is not None and not spec.lifecycle.probed:
        return "retired"
    return row.state if row is not None else "unknown"


def _state(board: Board, index: Index, check: str) -> str:
    return shown_state(board.checks.get(check), index.checks.get(check))


def summary(board: Board, lang: Lang) -> tuple[Cell, ...]:
    """Counts by state, worst first: the line read "at a glance"."""
    counts: dict[str, int] = {}
    for row in board.checks.values():
        counts[row.state] = counts.get(row.state, 0) + 1
    cells: list[Cell] = []
    for state in sorted(counts, key=lambda s: (-severity(s), s)):
        text, style = state_cell(state, lang)
        cells.append((f" {text} {counts[state]} ", style))
    return tuple(cells)


def dc_columns(lang: Lang) -> list[Column]:
    """Columns of the data-centre panel."""
    return [
        Column("name", t("col.datacenter", lang), 30),
        Column("state", t("col.state", lang), 12),
        Column("up", t("col.up", lang), 7),
        Column("warn", t("col.warn", lang), 8),
        Column("down", t("col.down", lang), 7),
        Column("sites", t("col.sites_hit", lang), 15),
    ]


def dc_rows(board: Board, index: Index, view: View) -> list[Row]:
    """The data centres: their own state, and counts over everything homed on them."""
    rows: list[Row] = []
    sites_hit: dict[str, set[str]] = {}
    for o in board.outages:
        spec = index.checks.get(o.check)
        if spec is not None and spec.site is not None and spec.datacenter is not None:
            sites_hit.setdefault(spec.datacenter, set()).add(spec.site)
    for dc_id, dc in index.datacenters.items():
        own = worst(_state(board, index, c) for c in index.by_element.get(dc_id, ()))
        up = warn = down = 0
        for c in index.by_datacenter.get(dc_id, ()):
            s = _state(board, index, c)
            if s == "up":
                up += 1
            elif s in _DOWNISH:
                down += 1
            elif s not in _CALM:
                warn += 1
        rows.append(
            (
                dc_id,
                (
                    (clip(dc.name, 30), "bold"),
                    state_cell(own, view.lang),
                    (str(up), "green" if up else ""),
                    (str(warn), "dark_orange" if warn else ""),
                    (str(down), "bold red" if down else ""),
                    (str(len(sites_hit.get(dc_id, ()))), "bold red" if dc_id in sites_hit else ""),
                ),
            )
        )
    return rows


def matrix_columns(lang: Lang) -> list[Column]:
    """Columns of the site matrix."""
    return [
        Column("site", t("col.site", lang), 20),
        Column("former", t("col.former", lang), 9),
        *(Column(role, t(f"col.{role}", lang), 10) for role in MATRIX_ROLES),
    ]


def matrix_rows(board: Board, index: Index, view: View) -> list[Row]:
    """The commune sites against what each should have, grouped by data centre and former
    province, filtered by the view."""
    rows: list[Row] = []
    for site_id in index.site_order:
        site = index.sites[site_id]
        if view.dc is not None and site.datacenter != view.dc:
            continue
        if view.province is not None and site.former_province != view.province:
            continue
        roles = index.site_roles.get(site_id, {})
        states = [_state(board, index, roles[r]) if r in roles else None for r in MATRIX_ROLES]
        if view.state != "all" and not any(
            s is not None and matches_state(s, view.state) for s in states
        ):
            continue
        kind = "P." if site.kind == "phường" else "X."
        cells: list[Cell] = [
            (clip(f"{kind} {site.name}", 20), ""),
            (clip(site.former_province, 9), "grey62"),
        ]
        for s in states:
            cells.append(("—", "grey37") if s is None else state_cell(s, view.lang))
        rows.append((site_id, tuple(cells)))
    return rows


def system_columns(lang: Lang) -> list[Column]:
    """Columns of the shared-systems panel."""
    return [
        Column("system", t("col.system", lang), 25),
        Column("dc", t("col.dc", lang), 9),
        Column("state", t("col.state", lang), 10),
    ]


def system_rows(board: Board, index: Index, view: View) -> list[Row]:
    """Shared systems with the worst state of their checks."""
    rows: list[Row] = []
    for sys_id, system in index.systems.items():
        if view.dc is not None and system.datacenter != view.dc:
            continue
        checks = index.by_element.get(sys_id, ())
        state = worst(_state(board, index, c) for c in checks)
        if not matches_state(state, view.state):
            continue
        rows.append(
            (
                sys_id,
                (
                    (clip(system.name, 25), ""),
                    (clip(index.dc_short(system.datacenter), 9), "grey62"),
                    state_cell(state, view.lang),
                ),
            )
        )
    return rows


def outage_tree(board: Board, index: Index) -> list[tuple[OutageRow, list[OutageRow]]]:
    """Open outages as root causes with their affected children, biggest impact first.

    A child is linked by the monitor's ``root_cause`` when recorded; otherwise by the
    inventory: an open outage of a check it depends on (transitively) that began no more
    than a couple of minutes after its own.
    """
    by_id = {o.id: o for o in board.outages}
    open_by_check: dict[str, OutageRow] = {}
    for o in board.outages:
        open_by_check.setdefault(o.check, o)

    def inferred(o: OutageRow) -> OutageRow | None:
        row = board.checks.get(o.check)
        if row is not None and row.root_cause is not None:
            parent = open_by_check.get(row.root_cause)
            if parent is not None and parent.id != o.id:
                return parent
        spec = index.checks.get(o.check)
        if spec is None:
            return None
        seen = {o.check}
        queue = deque(spec.depends_on)
        while queue:
            dep = queue.popleft()
            if dep in seen:
                continue
            seen.add(dep)
            parent = open_by_check.get(dep)
            if parent is not None and parent.start_ts <= o.start_ts + _INFER_SLACK_S:
                return parent
            dep_spec = index.checks.get(dep)
            if dep_spec is not None:
                queue.extend(dep_spec.depends_on)
        return None

    def root(o: OutageRow) -> OutageRow:
        seen = {o.id}
        cur = o
        while True:
            parent = by_id.get(cur.root_cause) if cur.root_cause is not None else None
            if parent is None:
                parent = inferred(cur)
            if parent is None or parent.id in seen:
                return cur
            seen.add(parent.id)
            cur = parent

    groups: dict[int, list[OutageRow]] = {}
    roots: dict[int, OutageRow] = {}
    for o in board.outages:
        r = root(o)
        roots[r.id] = r
        if r.id != o.id:
            groups.setdefault(r.id, []).append(o)
        else:
            groups.setdefault(r.id, [])
    ordered = sorted(roots.values(), key=lambda r: (-len(groups[r.id]), r.start_ts, r.check))
    return [(r, sorted(groups[r.id], key=lambda c: c.check)) for r in ordered]


def outage_columns(lang: Lang) -> list[Column]:
    """Columns of the active-outages panel."""
    return [
        Column("check", t("col.check", lang), 44),
        Column("state", t("col.state", lang), 12),
        Column("since", t("col.since", lang), 12),
        Column("duration", t("col.duration", lang), 14),
        Column("affected", t("col.affected", lang), 9),
        Column("ack", t("col.ack", lang), 16),
        Column("reason", t("col.reason", lang), 40),
    ]


def outage_rows(board: Board, index: Index, view: View) -> list[Row]:
    """Root causes first, each with its affected count; children listed under an unfolded
    root. Durations tick with the board's time."""
    rows: list[Row] = []
    lang = view.lang
    for r, children in outage_tree(board, index):
        if view.dc is not None and not _outage_in_dc(r, children, index, view.dc):
            continue
        r_ack = board.acks.get((r.check, r.start_ts))
        marker = ("▾ " if r.id in view.expanded else "▸ ") if children else "  "
        rows.append(
            (
                f"o:{r.id}",
                _outage_cells(
                    board,
                    index,
                    r,
                    marker,
                    f"+{len(children)}" if children else "",
                    r_ack.by if r_ack else "",
                    view,
                ),
            )
        )
        if r.id not in view.expanded:
            continue
        for c in children:
            c_ack = board.acks.get((c.check, c.start_ts))
            ack = c_ack.by if c_ack else (f"({t('ack.via', lang)})" if r_ack else "")
            rows.append((f"o:{c.id}", _outage_cells(board, index, c, "   └ ", "", ack, view)))
    return rows


def _outage_in_dc(r: OutageRow, children: Sequence[OutageRow], index: Index, dc: str) -> bool:
    for o in (r, *children):
        spec = index.checks.get(o.check)
        if spec is not None and spec.datacenter == dc:
            return True
    return False


def _outage_cells(
    board: Board,
    index: Index,
    o: OutageRow,
    marker: str,
    affected: str,
    ack: str,
    view: View,
) -> tuple[Cell, ...]:
    spec = index.checks.get(o.check)
    name = spec.name if spec is not None else o.check
    state = _state(board, index, o.check)
    return (
        (clip(marker + name, 44), "bold" if marker.strip() in ("▸", "▾", "") else ""),
        state_cell(state, view.lang),
        (fmt_time(o.start_ts, view.tz, board.ts), ""),
        (fmt_duration(board.ts - o.start_ts, view.lang), "bold"),
        (affected, "bold red" if affected else ""),
        (clip(("✔ " + ack) if ack else "—", 16), "green" if ack else "grey50"),
        (clip(o.reason, 40), "grey70"),
    )


def cutover_columns(lang: Lang) -> list[Column]:
    """Columns of the cutover panel."""
    return [
        Column("plan", t("col.plan", lang), 44),
        Column("window", t("col.window", lang), 23),
        Column("budget", t("col.budget", lang), 22),
        Column("checks", t("col.check", lang), 9),
        Column("interruptions", t("col.interruptions", lang), 16),
        Column("used", t("col.used", lang), 14),
        Column("verdict", t("col.verdict", lang), 14),
    ]


_VERDICT_STYLE: dict[str, str] = {
    Verdict.NOT_STARTED: "grey62",
    Verdict.OK: "bold green",
    Verdict.UNKNOWN: "italic yellow",
    Verdict.AT_RISK: "bold black on yellow",
    Verdict.VIOLATED: "bold white on red3",
}


def cutover_rows(board: Board, index: Index, view: View) -> list[Row]:
    """Each cutover plan against its interruption budget."""
    rows: list[Row] = []
    lang = view.lang
    for u in board.cutovers:
        over = u.worst_s > u.budget_s or (u.budget_s == 0 and u.interruptions > 0)
        rows.append(
            (
                u.id,
                (
                    (clip(u.name, 44), "bold"),
                    (f"{fmt_date(u.start, view.tz)}–{fmt_date(u.end, view.tz)}", ""),
                    (fmt_budget(u.budget_s, lang), ""),
                    (str(u.checks), ""),
                    (
                        f"{u.interruptions} ({u.checks_hit} {t('status.checks', lang)})",
                        "bold red" if u.interruptions else "green",
                    ),
                    (fmt_duration(u.worst_s, lang), "bold red" if over else "green"),
                    (
                        t("verdict." + u.verdict.lower().replace(" ", "_"), lang),
                        _VERDICT_STYLE.get(u.verdict, "italic"),
                    ),
                ),
            )
        )
    return rows


def event_columns(lang: Lang) -> list[Column]:
    """Columns of the event log."""
    return [
        Column("time", t("col.time", lang), 14),
        Column("check", t("col.check", lang), 48),
        Column("change", t("col.change", lang), 26),
        Column("reason", t("col.reason", lang), 44),
    ]


def event_rows(board: Board, index: Index, view: View, limit: int = 200) -> list[Row]:
    """Recent state changes, newest first."""
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for e in board.events:
        spec = index.checks.get(e.check)
        if view.dc is not None and (spec is None or spec.datacenter != view.dc):
            continue
        if view.state != "all" and not (
            matches_state(e.new, view.state) or matches_state(e.old, view.state)
        ):
            continue
        key = f"{e.check}@{e.ts!r}@{e.new}"
        n = seen.get(key, 0)
        seen[key] = n + 1
        old = state_label(e.old, view.lang)
        new = state_label(e.new, view.lang)
        rows.append(
            (
                key if not n else f"{key}#{n}",
                (
                    (fmt_time(e.ts, view.tz, board.ts), ""),
                    (clip(spec.name if spec is not None else e.check, 48), ""),
                    (clip(f"{old} → {new}", 26), state_style(e.new)),
                    (clip(e.reason, 44), "grey70"),
                ),
            )
        )
        if len(rows) >= limit:
            break
    return rows


def inventory_columns(lang: Lang) -> list[Column]:
    """Columns of the inventory browser."""
    return [
        Column("check", t("col.check", lang), 30),
        Column("name", t("col.name", lang), 44),
        Column("kind", t("col.kind", lang), 6),
        Column("dc", t("col.dc", lang), 9),
        Column("lifecycle", t("col.lifecycle", lang), 9),
        Column("state", t("col.state", lang), 12),
        Column("latency", t("col.latency", lang), 10),
        Column("reason", t("col.reason", lang), 36),
    ]


def inventory_rows(board: Board, index: Index, view: View) -> list[Row]:
    """Every check matching the search (diacritics optional) and filters."""
    needle = fold(view.search.strip())
    terms = needle.split()
    rows: list[Row] = []
    empty = CheckRow("", "unknown")
    for check_id, spec in index.checks.items():
        if view.dc is not None and spec.datacenter != view.dc:
            continue
        if terms:
            hay = index.search_text[check_id]
            if not all(term in hay for term in terms):
                continue
        row = board.checks.get(check_id, empty)
        state = shown_state(row, spec)
        if not matches_state(state, view.state):
            continue
        rows.append(
            (
                check_id,
                (
                    (clip(check_id, 30), ""),
                    (clip(spec.name, 44), ""),
                    (spec.kind, "grey62"),
                    (clip(index.dc_short(spec.datacenter), 9), "grey62"),
                    (clip(str(spec.lifecycle), 9), "grey62"),
                    state_cell(state, view.lang),
                    (fmt_latency(row.latency_ms), ""),
                    (clip(row.reason, 36), "grey70"),
                ),
            )
        )
    return rows


@dataclass(frozen=True)
class Frame:
    """Every panel's rows for one board and view, computed off the UI thread."""

    board: Board
    view: View
    summary: tuple[Cell, ...]
    dcs: list[Row]
    matrix: list[Row]
    systems: list[Row]
    outages: list[Row]
    cutovers: list[Row]
    events: list[Row]
    inventory: list[Row]
    compute_ms: float
    """Time spent building the board's rows (not the board itself)."""


def compute_frame(board: Board, index: Index, view: View) -> Frame:
    """All panels at once."""
    t0 = time.perf_counter()
    parts = (
        summary(board, view.lang),
        dc_rows(board, index, view),
        matrix_rows(board, index, view),
        system_rows(board, index, view),
        outage_rows(board, index, view),
        cutover_rows(board, index, view),
        event_rows(board, index, view),
        inventory_rows(board, index, view),
    )
    return Frame(board, view, *parts, compute_ms=(time.perf_counter() - t0) * 1000)
