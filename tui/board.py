"""What the dashboard draws: an immutable :class:`Board`, and the protocol that yields it.

A :class:`DashboardSource` computes a Board off the UI thread (the monitor's in-memory
snapshot in the demo, read-only SQLite queries for ``thongsuot dash``); the panels in
:mod:`tui.panels` turn a Board into table rows. Nothing here imports Textual.

States are carried as their string values, not as :class:`monitor.state.CheckState`
members, so a state added to the monitor later (or written by a newer monitor into the
database) is shown as it is instead of breaking the screen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.cutover import CutoverStatus
from monitor.store import OutageRow
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
    """A :class:`monitor.cutover.Verdict` value: ``NOT STARTED``, ``OK``, ``UNKNOWN``,
    ``AT RISK`` or ``VIOLATED``."""
    unmonitored_s: float = 0.0
    """Seconds of the elapsed window the monitor was not running: never assumed fine."""


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
    outages: tuple[OutageRow, ...] = ()


@dataclass(frozen=True)
class Board:
    """Everything the main screen shows, computed at ``ts``. Treat it as read-only."""

    ts: float
    checks: Mapping[str, CheckRow]
    outages: tuple[OutageRow, ...] = ()
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


def usage_of(status: CutoverStatus) -> CutoverUsage:
    """The dashboard's line for a plan, from the verdict the reports give
    (:func:`monitor.cutover.evaluate`: one computation for both, DESIGN principle 7)."""
    worst = status.budgets[0] if status.budgets else None
    return CutoverUsage(
        id=status.plan.id,
        name=status.plan.name,
        start=status.start,
        end=status.end,
        budget_s=status.plan.budget,
        checks=status.checks,
        interruptions=len(status.interruptions),
        checks_hit=len(status.budgets),
        worst_s=status.used_max,
        worst_check=worst.check if worst is not None else None,
        total_s=status.used_total,
        verdict=status.verdict.value,
        unmonitored_s=status.unmonitored,
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
