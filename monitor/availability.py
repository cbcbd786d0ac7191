"""Honest availability: time-weighted, from intervals (the Icinga DB method).

For each check and period:

* **unknown** is time the monitor was not running (outside every ``monitor_runs`` span; a
  run that died is bounded by its last heartbeat) or before the check first existed. It
  counts neither as up nor as down.
* **maintenance** is time inside a maintenance window while the monitor ran: shown, but
  excluded from availability.
* **counted** is the rest; **down** is the check's own outage time within it, and
  **unreachable** the outage time blamed on a failing ancestor. The latter is attributed
  to the root outage: :attr:`Report.roots` lists each root outage with the checks behind it.

``availability = 1 − (down + unreachable) / counted`` — what users of the service saw;
``own_availability = 1 − down / counted`` — what the service itself is answerable for.
Groups (site, system, data centre, former province) are time-weighted over their checks.
Nothing here scans raw observations: outages, runs, flapping episodes and maintenance are
intervals, and sample counts and latency come from the hourly rollups.
"""

from __future__ import annotations

import bisect
import enum
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.intervals import IntervalSet, clip, covered, intersect, normalize, subtract, total
from monitor.maintenance import MaintenanceCalendar
from monitor.store import CheckRow, OutageRow, RollupTotal, Store
from sites.inventory import Inventory
from sites.models import Datacenter, Site, System
from sites.spec import CheckSpec, ElementType


class GroupBy(enum.StrEnum):
    """What one row of an availability report stands for."""

    CHECK = "check"
    SITE = "site"
    SYSTEM = "system"
    DATACENTER = "datacenter"
    PROVINCE = "province"
    """The former province (before the 2025 merger) the element belonged to."""


@dataclass(slots=True)
class Figures:
    """Seconds and counts for one check or group over one period."""

    period: float = 0.0
    """Seconds in the period; for a group, summed over its checks (check-seconds), like
    every other duration here."""
    counted: float = 0.0
    maintenance: float = 0.0
    unknown: float = 0.0
    down: float = 0.0
    unreachable: float = 0.0
    outages: int = 0
    """Own outages overlapping the counted time."""
    unreachable_outages: int = 0
    longest: float = 0.0
    """Longest single outage (own or unreachable) within the counted time, seconds."""
    flaps: int = 0
    checks: int = 0
    samples: int = 0
    latency_sum: float = 0.0
    latency_n: int = 0

    @property
    def availability(self) -> float | None:
        """Share of counted time the check answered; None when nothing was counted."""
        if self.counted <= 0:
            return None
        return 1.0 - (self.down + self.unreachable) / self.counted

    @property
    def own_availability(self) -> float | None:
        """Like :attr:`availability`, with unreachable time (a parent's fault) as up."""
        if self.counted <= 0:
            return None
        return 1.0 - self.down / self.counted

    @property
    def mttr(self) -> float | None:
        """Mean outage length (own and unreachable), seconds."""
        n = self.outages + self.unreachable_outages
        return (self.down + self.unreachable) / n if n else None

    @property
    def mtbf(self) -> float | None:
        """Counted time up per outage, seconds."""
        n = self.outages + self.unreachable_outages
        return (self.counted - self.down - self.unreachable) / n if n else None

    @property
    def latency_avg(self) -> float | None:
        return self.latency_sum / self.latency_n if self.latency_n else None

    def add(self, other: Figures) -> None:
        """Aggregate ``other`` into this (time-weighted)."""
        self.period += other.period
        self.counted += other.counted
        self.maintenance += other.maintenance
        self.unknown += other.unknown
        self.down += other.down
        self.unreachable += other.unreachable
        self.outages += other.outages
        self.unreachable_outages += other.unreachable_outages
        self.longest = max(self.longest, other.longest)
        self.flaps += other.flaps
        self.checks += other.checks
        self.samples += other.samples
        self.latency_sum += other.latency_sum
        self.latency_n += other.latency_n


@dataclass(frozen=True, slots=True)
class RootOutage:
    """An outage that others were attached to: the cause, and what it took down with it."""

    outage: OutageRow
    affected: tuple[str, ...]
    """Checks whose outages are attached to it."""
    attributed: float
    """Their unreachable seconds within the period (counted time only)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a report: a check or a group, over one period."""

    start: float
    end: float
    key: str
    name: str
    figures: Figures


@dataclass(slots=True)
class Report:
    """An availability report for ``[start, end)``."""

    start: float
    end: float
    group: GroupBy
    rows: list[Row] = field(default_factory=list)
    roots: list[RootOutage] = field(default_factory=list)


class History:
    """Intervals loaded once from the store for ``[start, end)``, sliced per period."""

    def __init__(
        self,
        store: Store,
        start: float,
        end: float,
        *,
        calendar: MaintenanceCalendar | None = None,
        inventory: Inventory | None = None,
        rollups: bool = True,
        now: float | None = None,
    ) -> None:
        self.start, self.end = start, end
        now = time.time() if now is None else now
        self.covered: IntervalSet = normalize(
            (r.started, r.stopped if r.stopped is not None else min(r.heartbeat, now))
            for r in store.runs()
        )
        self._covered_starts = [s for s, _ in self.covered]
        self.checks: dict[str, CheckRow] = store.checks()
        self.outages: dict[str, list[OutageRow]] = defaultdict(list)
        for o in store.outages_between(start, end):
            self.outages[o.check].append(o)
        self.flaps: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for f in store.flaps_between(start, end):
            self.flaps[f.check].append((f.start_ts, f.end_ts if f.end_ts is not None else end))
        if calendar is None:
            calendar = MaintenanceCalendar.build(inventory, store.maintenance_windows(start, end))
        self.calendar = calendar
        self.maintenance = calendar.by_check(start, end)
        self.rollups: dict[str, RollupTotal] = {}
        self._rollups = rollups
        self._store = store
        self.attributed: dict[int, float] = defaultdict(float)
        self.affected: dict[int, set[str]] = defaultdict(set)

    def covered_between(self, start: float, end: float) -> IntervalSet:
        """Monitor-run coverage clipped to ``[start, end)``."""
        i = max(bisect.bisect_right(self._covered_starts, start) - 1, 0)
        return clip(self.covered[i:], start, end)

    def figures(self, check: str, start: float, end: float) -> Figures:
        """One check's figures for ``[start, end)`` (inside the loaded range)."""
        fig = Figures(period=end - start, checks=1)
        row = self.checks.get(check)
        if row is None:
            fig.unknown = end - start
            return fig
        running = self.covered_between(max(start, row.first_seen), end)
        maintenance = intersect(self.maintenance.get(check, []), running) if running else []
        counted = subtract(running, maintenance) if maintenance else running
        ends = [e for _, e in counted]
        fig.maintenance = total(maintenance)
        fig.unknown = (end - start) - total(running)
        fig.counted = total(counted)
        for o in self.outages.get(check, ()):
            stop = o.end_ts if o.end_ts is not None else end
            if stop <= start or o.start_ts >= end:
                continue
            seconds = covered(counted, ends, max(o.start_ts, start), min(stop, end))
            if seconds <= 0:
                continue
            fig.longest = max(fig.longest, seconds)
            if o.unreachable:
                fig.unreachable += seconds
                fig.unreachable_outages += 1
                if o.root_cause is not None:
                    self.attributed[o.root_cause] += seconds
                    self.affected[o.root_cause].add(check)
            else:
                fig.down += seconds
                fig.outages += 1
        fig.flaps = sum(1 for s, e in self.flaps.get(check, ()) if s < end and e > start)
        return fig

    def add_rollups(self, fig: Figures, check: str, start: float, end: float) -> None:
        """Sample counts and latency from the hourly rollups of ``[start, end)``."""
        if not self._rollups:
            return
        key = (start, end)
        if getattr(self, "_rollup_key", None) != key:
            self.rollups = self._store.rollup_totals(start, end)
            self._rollup_key = key
        r = self.rollups.get(check)
        if r is not None:
            fig.samples = r.n_ok + r.n_degraded + r.n_down + r.n_error
            if r.latency_avg is not None:
                n = r.n_ok + r.n_degraded
                fig.latency_sum += r.latency_avg * n
                fig.latency_n += n

    def roots(self, limit: int | None = None) -> list[RootOutage]:
        """Root outages with their attached checks, most attributed time first."""
        by_id = {o.id: o for rows in self.outages.values() for o in rows}
        found = [
            RootOutage(by_id[i], tuple(sorted(self.affected[i])), seconds)
            for i, seconds in self.attributed.items()
            if i in by_id
        ]
        found.sort(key=lambda r: (-r.attributed, r.outage.start_ts))
        return found[:limit] if limit is not None else found


def group_key(inventory: Inventory, spec: CheckSpec, by: GroupBy) -> tuple[str, str] | None:
    """(key, display name) of the group ``spec`` belongs to, None if it belongs to none."""
    if by is GroupBy.CHECK:
        return spec.id, spec.name
    if by is GroupBy.SITE:
        if spec.site is None:
            return None
        site = inventory.sites.get(spec.site)
        return spec.site, site.name if site is not None else spec.site
    if by is GroupBy.SYSTEM:
        if spec.element_type is not ElementType.SYSTEM:
            return None
        system = inventory.systems.get(spec.element)
        return spec.element, system.name if system is not None else spec.element
    if by is GroupBy.DATACENTER:
        if spec.datacenter is None:
            return None
        dc = inventory.datacenters.get(spec.datacenter)
        return spec.datacenter, dc.name if dc is not None else spec.datacenter
    province = former_province(inventory, spec)
    return (province, province) if province else None


def former_province(inventory: Inventory, spec: CheckSpec) -> str | None:
    """The former province of the check's element (a system: of its data centre)."""
    try:
        item = inventory.element(spec.element)
    except KeyError:
        return None
    if isinstance(item, Datacenter | Site):
        return item.former_province
    if isinstance(item, System):
        dc = inventory.datacenters.get(item.datacenter)
        return dc.former_province if dc is not None else None
    return None


def availability(
    inventory: Inventory,
    history: History,
    windows: Sequence[tuple[float, float]],
    by: GroupBy,
    *,
    checks: Iterable[str] | None = None,
) -> Report:
    """Rows per group (and per period in ``windows``) for the inventory's probed checks."""
    wanted = set(checks) if checks is not None else None
    specs = [
        s
        for s in inventory.checks.values()
        if s.lifecycle.probed and (wanted is None or s.id in wanted)
    ]
    report = Report(windows[0][0] if windows else history.start, history.end, by)
    if windows:
        report.end = windows[-1][1]
    keys = {s.id: group_key(inventory, s, by) for s in specs}
    for p_start, p_end in windows:
        groups: dict[str, tuple[str, Figures]] = {}
        for spec in specs:
            key = keys[spec.id]
            if key is None:
                continue
            fig = history.figures(spec.id, p_start, p_end)
            history.add_rollups(fig, spec.id, p_start, p_end)
            if key[0] not in groups:
                groups[key[0]] = (key[1], Figures())
            groups[key[0]][1].add(fig)
        for group, (name, fig) in groups.items():
            report.rows.append(Row(p_start, p_end, group, name, fig))
    report.roots = history.roots()
    return report
