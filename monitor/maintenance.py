"""Planned maintenance: the windows of ``sites.yaml`` and those declared from the command line.

A window covers a set of checks for ``[start, end)``. One-off windows are stored as they
are; recurring ones (cron + duration, in the province's zone unless the window names its
own) are expanded to occurrences on demand, for any period. Time in maintenance is shown
as MAINTENANCE and never alerted; availability excludes it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.intervals import IntervalSet, normalize
from monitor.store import MaintenanceRow
from sites.inventory import Inventory
from sites.models import Maintenance
from sites.schedule import cron_trigger


@dataclass(frozen=True, slots=True)
class Window:
    """One occurrence of a maintenance window."""

    id: str
    """``<window id>`` from sites.yaml, or ``cli-<n>`` for a command-line window."""
    name: str
    checks: frozenset[str]
    start: float
    end: float
    reason: str
    source: str
    """``sites.yaml`` or ``cli``."""


@dataclass(frozen=True, slots=True)
class _Recurring:
    spec: Maintenance
    checks: frozenset[str]
    tz: str


class MaintenanceCalendar:
    """Every maintenance window known, expandable over any period."""

    def __init__(
        self,
        one_off: Iterable[Window] = (),
        recurring: Iterable[tuple[Maintenance, Iterable[str], str]] = (),
    ) -> None:
        self._one_off = sorted(one_off, key=lambda w: (w.start, w.id))
        self._recurring = [_Recurring(m, frozenset(c), tz) for m, c, tz in recurring]

    @classmethod
    def build(
        cls, inventory: Inventory | None, rows: Sequence[MaintenanceRow] = ()
    ) -> MaintenanceCalendar:
        """The inventory's windows (if any) plus the command line's ``rows``."""
        one_off: list[Window] = [_from_row(r) for r in rows]
        recurring: list[tuple[Maintenance, Iterable[str], str]] = []
        if inventory is not None:
            zone = inventory.province.timezone
            for m in inventory.config.maintenance:
                checks = inventory.maintenance_checks.get(m.id, ())
                if m.start is not None and m.end is not None:
                    one_off.append(
                        Window(
                            m.id,
                            m.name,
                            frozenset(checks),
                            m.start.timestamp(),
                            m.end.timestamp(),
                            m.reason or "",
                            "sites.yaml",
                        )
                    )
                else:
                    recurring.append((m, checks, m.timezone or zone))
        return cls(one_off, recurring)

    def windows(self, start: float, end: float) -> list[Window]:
        """Every occurrence overlapping ``[start, end)``, by start time."""
        found = [w for w in self._one_off if w.start < end and w.end > start]
        for r in self._recurring:
            found.extend(_occurrences(r, start, end))
        found.sort(key=lambda w: (w.start, w.id))
        return found

    def by_check(self, start: float, end: float) -> dict[str, IntervalSet]:
        """Per check, the (canonical) time in maintenance overlapping ``[start, end)``."""
        spans: dict[str, list[tuple[float, float]]] = {}
        for w in self.windows(start, end):
            for check in w.checks:
                spans.setdefault(check, []).append((w.start, w.end))
        return {check: normalize(s) for check, s in spans.items()}

    def active(self, ts: float) -> dict[str, Window]:
        """The window each check is in at ``ts`` (checks in none are absent)."""
        result: dict[str, Window] = {}
        for w in self.windows(ts, ts + 1e-6):
            for check in w.checks:
                result.setdefault(check, w)
        return result


def _from_row(row: MaintenanceRow) -> Window:
    return Window(
        f"cli-{row.id}",
        row.name,
        frozenset(row.checks),
        row.start_ts,
        row.end_ts,
        row.reason,
        "cli",
    )


def _occurrences(r: _Recurring, start: float, end: float) -> Iterator[Window]:
    m = r.spec
    assert m.cron is not None
    assert m.duration is not None
    trigger = cron_trigger(m.cron, r.tz)
    length = m.duration
    now = datetime.fromtimestamp(start - length, UTC)
    previous = None
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            return
        begin = fire.timestamp()
        if begin >= end:
            return
        if begin + length > start:
            reason = m.reason or ""
            yield Window(m.id, m.name, r.checks, begin, begin + length, reason, "sites.yaml")
        previous = fire
        now = fire + timedelta(seconds=1)


def match_checks(patterns: Iterable[str], elements: Mapping[str, str]) -> list[str]:
    """Check keys matched by element ids, check ids or shell patterns (``*.router``).

    ``elements`` maps every check key to its element id; the result keeps its order.
    """
    wanted: dict[str, None] = {}
    for pattern in patterns:
        for key, element in elements.items():
            if key not in wanted and (
                fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(element, pattern)
            ):
                wanted[key] = None
    return list(wanted)
