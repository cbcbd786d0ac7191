"""What the dashboard draws: an immutable :class:`Board`, and the protocol that yields it.

A :class:`DashboardSource` computes a Board off the UI thread (the monitor's in-memory
snapshot in the demo, read-only SQLite queries for ``thongsuot dash``); the panels in
:mod:`tui.panels` turn a Board into table rows. Nothing here imports Textual.

States are carried as their string values, not as :class:`monitor.state.CheckState`
members, so a state added to the monitor later (or written by a newer monitor into the
database) is shown as it is instead of breaking the screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sites import Inventory

Value = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class CheckRow:
    """The current state of one check."""

    id: str
    state: str
    """A :class:`monitor.state.CheckState` value, or any newer state's string."""
    since: float | None = None
    """Unix time the state began (for DOWN: the outage start)."""
    last_ts: float | None = None
    reason: str = ""
    """The last observation's reason, as sanitised by the monitor (shown literally)."""
    latency_ms: float | None = None
    root_cause: str | None = None
    """The check this one is unreachable behind, when the monitor says so."""


@dataclass(frozen=True, slots=True)
class OutageItem:
    """One outage interval; ``end_ts`` is None while it is open."""

    id: int
    check: str
    start_ts: float
    confirmed_ts: float
    end_ts: float | None
    reason: str
    root_cause: int | None = None
    """Id of the parent's outage, when the monitor recorded one."""


@dataclass(frozen=True, slots=True)
class EventItem:
    """One state change."""

    check: str
    ts: float
    old: str
    new: str
    reason: str


@dataclass(frozen=True, slots=True)
class Ack:
    """An operator's acknowledgement of one outage (``check`` + ``outage_start_ts``)."""

    check: str
    outage_start_ts: float
    by: str
    note: str
    ts: float


@dataclass(frozen=True, slots=True)
class CutoverUsage:
    """One cutover plan against its interruption budget, as of ``Board.ts``."""

    id: str
    name: str
    start: float
    end: float
    budget_s: float
    """Interruption allowed per check inside the window; 0 means "no interruption"."""
    checks: int
    """How many checks the plan holds to the budget."""
    interruptions: int
    """Outages overlapping the window so far, over all its checks."""
    checks_hit: int
    worst_s: float
    """The largest interruption time of any one check inside the window so far."""
    worst_check: str | None
    total_s: float
    verdict: str
    """``pending`` (window not started), ``holding``, ``breached``, or ``met`` (ended)."""


@dataclass(frozen=True, slots=True)
class ObservationItem:
    """One stored observation, for the detail screen."""

    ts: float
    outcome: int
    """:class:`monitor.state.Outcome` value: 0 ok, 1 degraded, 2 down, 3 error."""
    latency_ms: float | None
    reason: str
    values: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckDetail:
    """History of one check for the detail screen; both tuples newest first."""

    check: str
    observations: tuple[ObservationItem, ...] = ()
    outages: tuple[OutageItem, ...] = ()


@dataclass(frozen=True)
class Board:
    """Everything the main screen shows, computed at ``ts``. Treat it as read-only."""

    ts: float
    checks: Mapping[str, CheckRow]
    outages: tuple[OutageItem, ...] = ()
    """Open outages, oldest first."""
    events: tuple[EventItem, ...] = ()
    """Recent state changes, newest first."""
    cutovers: tuple[CutoverUsage, ...] = ()
    acks: Mapping[tuple[str, float], Ack] = field(default_factory=dict)
    """Acknowledgements by (check, outage start)."""
    source: str = ""
    """Where the data comes from, for the status line."""
    warning: str = ""
    """Set when part of the data is stale (e.g. the database was busy)."""


class DashboardSource(Protocol):
    """Where the dashboard's data comes from. Every method may block: call it off the UI
    thread."""

    def snapshot(self) -> Board:
        """The current board."""
        ...

    def detail(self, checks: Sequence[str], limit: int = 120) -> dict[str, CheckDetail]:
        """Recent observations and outages of each check."""
        ...

    def acknowledge(self, ack: Ack) -> None:
        """Store an acknowledgement (the one write the dashboard makes)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def cutover_usage(
    cutover_id: str,
    inventory: Inventory,
    outages: Iterable[tuple[str, float, float | None]],
    now: float,
) -> CutoverUsage:
    """Measure one cutover plan against its budget from ``(check, start, end)`` outages.

    Counts the overlap of each outage with the window (open outages up to ``now``), per
    check. This is the dashboard's stop-gap until ``monitor/cutover.py`` provides the
    shared query the reports use; switch to it then (DESIGN principle 7).
    """
    plan = inventory.cutovers[cutover_id]
    start = plan.window.start.timestamp()
    end = plan.window.end.timestamp()
    members = frozenset(inventory.cutover_checks.get(cutover_id, ()))
    horizon = min(end, now)
    used: dict[str, float] = {}
    interruptions = 0
    for check, o_start, o_end in outages:
        if check not in members:
            continue
        lo = max(o_start, start)
        hi = min(horizon if o_end is None else o_end, horizon)
        if o_start >= horizon or (o_end is not None and o_end <= start):
            continue
        interruptions += 1
        used[check] = used.get(check, 0.0) + max(0.0, hi - lo)
    worst_check = max(used, key=lambda k: used[k]) if used else None
    worst = used[worst_check] if worst_check is not None else 0.0
    breached = interruptions > 0 if plan.budget == 0 else worst > plan.budget
    if now < start:
        verdict = "pending"
    elif breached:
        verdict = "breached"
    elif now >= end:
        verdict = "met"
    else:
        verdict = "holding"
    return CutoverUsage(
        id=plan.id,
        name=plan.name,
        start=start,
        end=end,
        budget_s=plan.budget,
        checks=len(members),
        interruptions=interruptions,
        checks_hit=len(used),
        worst_s=worst,
        worst_check=worst_check,
        total_s=sum(used.values()),
        verdict=verdict,
    )


def cutover_window(inventory: Inventory) -> tuple[float, float] | None:
    """The span covering every cutover window, or None without cutovers."""
    plans = list(inventory.cutovers.values())
    if not plans:
        return None
    return (
        min(p.window.start.timestamp() for p in plans),
        max(p.window.end.timestamp() for p in plans),
    )


def freeze_values(raw: Mapping[str, Any] | None) -> dict[str, Value]:
    """Keep only scalar values from an observation's ``values`` (a newer probe may add
    nested data; it is shown as text)."""
    if not raw:
        return {}
    out: dict[str, Value] = {}
    for k, v in raw.items():
        out[str(k)] = v if v is None or isinstance(v, str | int | float | bool) else str(v)
    return out
