"""Per-check state machine: confirm before declaring, outages as intervals.

Pure logic: no I/O and no clock reads. The engine feeds it ``(ts, Outcome)`` pairs (``ts``
is the wall-clock UTC start time of the check, unix seconds) and stores what comes out.

Rules (DESIGN principles 1 and 2):

* ``fail_after`` consecutive DOWN observations make the check DOWN. The outage *starts*
  at the first DOWN of that run, not at the moment it was confirmed.
* ``recover_after`` consecutive good (OK or DEGRADED) observations end it. The outage
  *ends* at the first good observation of that run.
* ``fail_after`` consecutive non-OK observations that do not make it DOWN make the check
  DEGRADED; ``recover_after`` consecutive OK observations bring it back UP. DEGRADED is
  not an outage.
* Between, the check is SUSPECT (failures seen, not yet confirmed) or RECOVERING (good
  observations seen during an outage, not yet confirmed); :attr:`CheckMachine.wants_retry`
  is true then, and while DOWN, so the scheduler checks at the retry interval.
* An ERROR observation (the probe itself failed: a setup fault or a bug) says nothing
  about the target. It neither extends nor breaks a run.

Dependencies (DESIGN principle 3) reach the machine as a :class:`Blocker`: the nearest
ancestor check that is failing, handed in by the engine with each observation. An outage
whose first failure came after the blocker's trouble began is UNREACHABLE, not DOWN: it
is still an outage interval (the service was not reachable), but it is blamed on the
parent and never alerted. While the blocker's own outage is confirmed, one failure is
enough. When the parent recovers and the child still fails, the unreachable outage ends
there and the child's own outage begins: its own fault from then on.

Flapping (optional, a :class:`FlapPolicy`): an overlay that counts outage starts and ends
in a sliding time window, with hysteresis. It never changes the outage intervals (those
stay honest for availability); it changes what is shown and alerted: one FLAPPING episode
instead of many outages.

Every transition is decided in :meth:`CheckMachine._transition`. MAINTENANCE is decided
by the engine (it is a property of the calendar, not of observations).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, fields, replace
from operator import attrgetter
from typing import Any

import orjson

from probes.base import Status


class Outcome(enum.IntEnum):
    """One observation's verdict as stored (``observations.status``).

    ``ERROR`` is the monitor's own: the probe raised instead of answering. It is kept
    apart from DOWN so a broken probe never counts as an outage of the target.
    """

    OK = 0
    DEGRADED = 1
    DOWN = 2
    ERROR = 3

    @classmethod
    def of(cls, status: Status) -> Outcome:
        """The outcome for a probe's :class:`~probes.base.Status`."""
        return _FROM_STATUS[status]


_FROM_STATUS = {Status.OK: Outcome.OK, Status.DEGRADED: Outcome.DEGRADED, Status.DOWN: Outcome.DOWN}


class CheckState(enum.StrEnum):
    """What the monitor currently believes about one check."""

    UNKNOWN = "unknown"
    """No usable observation yet."""
    UP = "up"
    SUSPECT = "suspect"
    """Failures seen but not yet confirmed (soft)."""
    DEGRADED = "degraded"
    """Answers, but slowly or with loss: confirmed, not an outage."""
    DOWN = "down"
    """Confirmed outage."""
    RECOVERING = "recovering"
    """Good observations during an outage, not yet confirmed (soft; still in the outage)."""
    UNREACHABLE = "unreachable"
    """Confirmed outage behind a failing parent (a WAN link, a data-centre uplink)."""
    MAINTENANCE = "maintenance"
    """Inside a planned maintenance window (shown; excluded from availability)."""
    FLAPPING = "flapping"
    """Changing state too often: shown and alerted as one episode."""

    @property
    def soft(self) -> bool:
        """True for the unconfirmed phases, which never alert."""
        return self in (CheckState.SUSPECT, CheckState.RECOVERING)

    @property
    def in_outage(self) -> bool:
        """True while an outage interval is open."""
        return self in (CheckState.DOWN, CheckState.RECOVERING, CheckState.UNREACHABLE)


_RETRY_STATES = frozenset({CheckState.SUSPECT, CheckState.DOWN, CheckState.RECOVERING})
_OUTAGE_SHOWN = frozenset({CheckState.DOWN, CheckState.UNREACHABLE})


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The check moved from ``old`` to ``new`` on the observation taken at ``ts``."""

    check: str
    ts: float
    old: CheckState
    new: CheckState
    reason: str


@dataclass(frozen=True, slots=True)
class OutageOpened:
    """An outage was confirmed at ``confirmed_ts``; it began at ``start_ts``.

    ``parent`` is set when the outage is UNREACHABLE: the ancestor check it is blamed on.
    """

    check: str
    start_ts: float
    confirmed_ts: float
    reason: str
    parent: str | None = None

    @property
    def unreachable(self) -> bool:
        return self.parent is not None


@dataclass(frozen=True, slots=True)
class OutageClosed:
    """The outage that began at ``start_ts`` ended at ``end_ts`` (first good observation)."""

    check: str
    start_ts: float
    end_ts: float


@dataclass(frozen=True, slots=True)
class RootCauseChanged:
    """The open outage that began at ``start_ts`` is now blamed on ``parent`` (None: its own).

    Happens when a parent's trouble is seen after the child's outage was confirmed (their
    checks run at different moments).
    """

    check: str
    start_ts: float
    ts: float
    parent: str | None


@dataclass(frozen=True, slots=True)
class FlappingStarted:
    """The check began flapping at ``ts``: ``changes`` outage starts/ends since ``start_ts``."""

    check: str
    ts: float
    start_ts: float
    changes: int


@dataclass(frozen=True, slots=True)
class FlappingStopped:
    """The flapping episode that began at ``start_ts`` was over at ``end_ts``."""

    check: str
    start_ts: float
    end_ts: float
    state: CheckState
    """The state the check settled in."""


Event = (
    StateChanged
    | OutageOpened
    | OutageClosed
    | RootCauseChanged
    | FlappingStarted
    | FlappingStopped
)
"""Everything the state machine emits."""


@dataclass(frozen=True, slots=True)
class Blocker:
    """The nearest failing ancestor of a check, as the engine sees it at one observation.

    ``since`` is the earliest moment a child failure can be blamed on it: the start of its
    trouble less one of its intervals (the child may have been checked first). ``confirmed``
    is true once the ancestor's outage is confirmed; then one child failure is enough.
    """

    check: str
    since: float
    confirmed: bool


@dataclass(frozen=True, slots=True)
class FlapPolicy:
    """Flapping: at least ``start_after`` outage starts/ends within ``window`` seconds begin
    an episode; it ends when at most ``stop_at`` remain in the window (hysteresis)."""

    window: float
    start_after: int = 6
    stop_at: int = 1

    def __post_init__(self) -> None:
        if self.window <= 0 or self.start_after < 2 or not 0 <= self.stop_at < self.start_after:
            raise ValueError("flap policy needs window > 0 and 0 <= stop_at < start_after >= 2")


@dataclass(slots=True)
class MachineState:
    """Everything a :class:`CheckMachine` remembers; stored so a restart resumes exactly.

    ``*_run`` count consecutive observations of a kind and ``*_start`` is the timestamp of
    the first of the current run: ``down`` (DOWN), ``bad`` (DOWN or DEGRADED), ``good``
    (OK or DEGRADED), ``ok`` (OK).
    """

    state: CheckState = CheckState.UNKNOWN
    hard: CheckState = CheckState.UNKNOWN
    """The last confirmed state: UNKNOWN, UP, DEGRADED or DOWN."""
    since: float | None = None
    """When the current state began (for DOWN: the outage start)."""
    last_ts: float | None = None
    last_outcome: Outcome | None = None
    last_reason: str = ""
    down_run: int = 0
    down_start: float | None = None
    bad_run: int = 0
    bad_start: float | None = None
    good_run: int = 0
    good_start: float | None = None
    ok_run: int = 0
    ok_start: float | None = None
    outage_start: float | None = None
    outage_confirmed: float | None = None
    outage_reason: str = ""
    unreachable: bool = False
    """The open outage is blamed on a parent."""
    blamed_on: str | None = None
    flap_changes: tuple[float, ...] = ()
    """Times of recent outage starts/ends (within the flap window)."""
    flapping: bool = False
    flap_start: float | None = None

    def to_json(self) -> str:
        """Serialise for the store."""
        # orjson writes the dataclass's fields as they are, without asdict's deep copy: the
        # store calls this once per check per batch.
        return orjson.dumps(self).decode()

    @classmethod
    def from_json(cls, text: str) -> MachineState:
        """Inverse of :meth:`to_json`; unknown keys (from newer versions) are ignored."""
        raw: dict[str, Any] = json.loads(text)
        data = {k: v for k, v in raw.items() if k in _STATE_FIELDS}
        data["state"] = CheckState(data.get("state", CheckState.UNKNOWN))
        data["hard"] = CheckState(data.get("hard", CheckState.UNKNOWN))
        if data.get("last_outcome") is not None:
            data["last_outcome"] = Outcome(data["last_outcome"])
        data["flap_changes"] = tuple(data.get("flap_changes", ()))
        return cls(**data)


_STATE_FIELDS = tuple(f.name for f in fields(MachineState))
_GET_FIELDS = attrgetter(*_STATE_FIELDS)


class CheckMachine:
    """The state of one check, advanced one observation at a time."""

    __slots__ = ("check", "fail_after", "recover_after", "flap", "_s")

    def __init__(
        self,
        check: str,
        fail_after: int = 3,
        recover_after: int = 2,
        state: MachineState | None = None,
        *,
        flap: FlapPolicy | None = None,
    ) -> None:
        if fail_after < 1 or recover_after < 1:
            raise ValueError("fail_after and recover_after must be at least 1")
        self.check = check
        self.fail_after = fail_after
        self.recover_after = recover_after
        self.flap = flap
        self._s = replace(state) if state is not None else MachineState()

    @property
    def state(self) -> CheckState:
        return self._s.state

    @property
    def since(self) -> float | None:
        return self._s.since

    @property
    def flapping(self) -> bool:
        return self._s.flapping

    @property
    def wants_retry(self) -> bool:
        """True while a failure is being confirmed, during an outage and while recovering.

        Not while UNREACHABLE: the parent's recovery wakes the check instead.
        """
        return self._s.state in _RETRY_STATES

    @property
    def trouble_since(self) -> float | None:
        """Start of the current failure (confirmed or not), None when not failing.

        What a child's failure can be blamed on: the engine builds a :class:`Blocker` from it.
        """
        s = self._s
        if s.outage_start is not None:
            return s.outage_start
        return s.down_start

    def snapshot(self) -> MachineState:
        """A copy of the full state, for storage; feed it back to restore."""
        # Positional construction: dataclasses.replace costs ~7x more, per observation.
        return MachineState(*_GET_FIELDS(self._s))

    @property
    def view(self) -> MachineState:
        """The live state, not a copy: read it on the machine's own thread, never change it."""
        return self._s

    def observe(
        self, ts: float, outcome: Outcome, reason: str = "", *, blocker: Blocker | None = None
    ) -> list[Event]:
        """Take one observation; return the events it caused, in order.

        ``blocker`` is the nearest failing ancestor, if any (see :class:`Blocker`).
        """
        s = self._s
        s.last_ts = ts
        s.last_outcome = outcome
        s.last_reason = reason
        if outcome is Outcome.ERROR:
            return []
        if outcome is Outcome.DOWN:
            if s.down_run == 0:
                s.down_start = ts
            s.down_run += 1
        else:
            s.down_run, s.down_start = 0, None
        if outcome is not Outcome.OK:
            if s.bad_run == 0:
                s.bad_start = ts
            s.bad_run += 1
        else:
            s.bad_run, s.bad_start = 0, None
        if outcome is not Outcome.DOWN:
            if s.good_run == 0:
                s.good_start = ts
            s.good_run += 1
        else:
            s.good_run, s.good_start = 0, None
        if outcome is Outcome.OK:
            if s.ok_run == 0:
                s.ok_start = ts
            s.ok_run += 1
        else:
            s.ok_run, s.ok_start = 0, None
        events = self._transition(ts, outcome, reason, blocker)
        if self.flap is not None:
            self._flap(ts, events, self.flap)
        return events

    def _transition(
        self, ts: float, outcome: Outcome, reason: str, blocker: Blocker | None
    ) -> list[Event]:
        s = self._s
        old = s.state
        events: list[Event] = []
        new = old
        since = ts
        if s.hard is CheckState.DOWN:
            if s.good_run >= self.recover_after:
                assert s.outage_start is not None
                assert s.good_start is not None
                events.append(OutageClosed(self.check, s.outage_start, s.good_start))
                s.outage_start = s.outage_confirmed = None
                s.outage_reason = ""
                s.unreachable, s.blamed_on = False, None
                new = CheckState.UP if outcome is Outcome.OK else CheckState.DEGRADED
                s.hard = new
                since = s.good_start
            else:
                assert s.outage_start is not None
                if outcome is Outcome.DOWN:
                    if s.unreachable and blocker is None:
                        # The parent is fine again and this still fails: from here on the
                        # outage is the check's own.
                        events.append(OutageClosed(self.check, s.outage_start, ts))
                        events.append(OutageOpened(self.check, ts, ts, reason))
                        s.outage_start, s.outage_confirmed, s.outage_reason = ts, ts, reason
                        s.unreachable, s.blamed_on = False, None
                    elif (
                        not s.unreachable
                        and blocker is not None
                        and s.outage_start >= blocker.since
                    ):
                        s.unreachable, s.blamed_on = True, blocker.check
                        events.append(
                            RootCauseChanged(self.check, s.outage_start, ts, blocker.check)
                        )
                if s.good_run:
                    new = CheckState.RECOVERING
                else:
                    new = CheckState.UNREACHABLE if s.unreachable else CheckState.DOWN
                if new is not CheckState.RECOVERING and old in _OUTAGE_SHOWN:
                    since = s.outage_start
        elif s.down_run >= self.fail_after or (
            s.down_run and blocker is not None and blocker.confirmed
        ):
            assert s.down_start is not None
            s.hard = CheckState.DOWN
            parent = None
            if blocker is not None and s.down_start >= blocker.since:
                parent = blocker.check
            s.unreachable, s.blamed_on = parent is not None, parent
            new = CheckState.UNREACHABLE if parent else CheckState.DOWN
            s.outage_start, s.outage_confirmed, s.outage_reason = s.down_start, ts, reason
            events.append(OutageOpened(self.check, s.down_start, ts, reason, parent))
            since = s.down_start
        elif s.hard is CheckState.DEGRADED:
            if s.ok_run >= self.recover_after:
                assert s.ok_start is not None
                s.hard = new = CheckState.UP
                since = s.ok_start
            else:
                new = CheckState.SUSPECT if s.down_run else CheckState.DEGRADED
        elif s.bad_run >= self.fail_after:
            assert s.bad_start is not None
            s.hard = new = CheckState.DEGRADED
            since = s.bad_start
        elif s.bad_run:
            new = CheckState.SUSPECT
        else:
            s.hard = new = CheckState.UP
        if new is not old:
            s.state = new
            s.since = since
            events.insert(0, StateChanged(self.check, ts, old, new, reason))
        return events

    def _flap(self, ts: float, events: list[Event], policy: FlapPolicy) -> None:
        s = self._s
        changes = [t for t in s.flap_changes if t > ts - policy.window]
        for e in events:
            # When the change happened, not when it was confirmed.
            if isinstance(e, OutageOpened):
                changes.append(e.start_ts)
            elif isinstance(e, OutageClosed):
                changes.append(e.end_ts)
        s.flap_changes = tuple(changes)
        if not s.flapping and len(changes) >= policy.start_after:
            s.flapping, s.flap_start = True, changes[0]
            events.append(FlappingStarted(self.check, ts, changes[0], len(changes)))
        elif s.flapping and len(changes) <= policy.stop_at:
            assert s.flap_start is not None
            events.append(FlappingStopped(self.check, s.flap_start, ts, s.state))
            s.flapping, s.flap_start = False, None
