"""The check runner: schedules every check on one asyncio loop, feeds state and store.

Use :class:`Monitor` (``await Monitor(specs, store).run(stop)``) or the wrapper
:func:`run_monitor`, which also closes the store. The monitor runs headless on its own
loop; a UI in another thread reads :meth:`Monitor.snapshot` and never shares this loop
(DESIGN principle 5).

Per check: never overlaps itself (the next run is armed when the previous one finished),
uses ``retry_interval`` while its state machine wants retries, a small jitter, and a hard
deadline of the probe's timeout plus ``deadline_slack``. Per kind: at most
``Probe.concurrency`` checks at once; the deadline starts once a slot is taken, so a busy
kind delays its own checks but never fails them. A batched kind (``Probe.batched``: ICMP)
gets the checks that fall due in one tick together, in one ``check_many`` call and one
task, which keeps their slots until it ends. A probe that raises (``ProbeSetupError`` or
a bug) gives an ERROR observation, logged once per check and message, never an outage.

Dependencies (the specs' ``depends_on``): a failing check's nearest failing ancestor is
handed to its state machine as a :class:`~monitor.state.Blocker`, so the failure becomes
UNREACHABLE and its outage is attached to the ancestor's root outage. When an ancestor
starts recovering, its failing descendants are checked at once, so their recovery is
known within seconds. Maintenance windows (a :class:`~monitor.maintenance.
MaintenanceCalendar`) show checks as MAINTENANCE and silence their alerts; flapping checks
are alerted once per episode (see :meth:`Monitor.subscribe_alerts`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.maintenance import MaintenanceCalendar, Window
from monitor.schedule import TimingWheel, first_offset, jittered
from monitor.state import (
    Blocker,
    CheckMachine,
    CheckState,
    Event,
    FlappingStarted,
    FlappingStopped,
    FlapPolicy,
    OutageClosed,
    OutageOpened,
    Outcome,
    RootCauseChanged,
    StateChanged,
)
from monitor.store import Record, Store
from probes.base import (
    Observation,
    Probe,
    ProbeSetupError,
    Value,
    format_seconds,
    safe_text,
)

if TYPE_CHECKING:
    from sites.spec import CheckSpec

log = logging.getLogger(__name__)

ProbeRegistry = Mapping[str, type[Probe[Any]]]
"""Probe class by kind, like ``probes.PROBES``."""
EventCallback = Callable[[Event], None]
_Verdict = tuple[Outcome, str, float | None, Mapping[str, Value] | None]
"""A check's outcome, reason, latency and values, as recorded."""

_SETUP_RETRY_S = 30.0
"""How long a probe kind whose ``start()`` failed waits before trying to start again."""


@dataclass(frozen=True, slots=True)
class CheckSnapshot:
    """What a UI needs to draw one check; immutable, safe to hand to another thread."""

    check: str
    name: str
    kind: str
    state: CheckState
    since: float | None
    """Unix time the current state began (for DOWN: the outage start)."""
    last_ts: float | None
    last_outcome: Outcome | None
    last_reason: str
    last_latency_ms: float | None
    machine_state: CheckState | None = None
    """The state machine's own state; ``state`` shows MAINTENANCE or FLAPPING over it."""
    flapping: bool = False
    maintenance: str | None = None
    """Name of the maintenance window the check is in, if any."""
    blamed_on: str | None = None
    """While UNREACHABLE: the ancestor check the outage is blamed on."""
    outage_start: float | None = None
    """Start of the open outage, if any."""


_SHOWN_TROUBLE = frozenset(
    {CheckState.SUSPECT, CheckState.DOWN, CheckState.RECOVERING, CheckState.UNREACHABLE}
)


class _Check:
    __slots__ = (
        "spec",
        "machine",
        "running",
        "error",
        "latency_ms",
        "gen",
        "due",
        "rerun",
        "parents",
        "children",
    )

    def __init__(self, spec: CheckSpec, machine: CheckMachine) -> None:
        self.spec = spec
        self.machine = machine
        self.running = False
        self.error: str | None = None
        self.latency_ms: float | None = None
        self.gen = 0
        """Schedule generation: a wheel entry of an older generation is stale."""
        self.due = 0.0
        """Loop time the pending or current run was scheduled for; the next run is one
        period after it, not after the tick that fired it, so rounding to ticks does not
        stretch the interval."""
        self.rerun = False
        """Woken while running: run again as soon as this run ends."""
        self.parents: list[_Check] = []
        self.children: list[_Check] = []


class _Lane:
    """One kind's concurrency limit: a counter and the due checks waiting for a slot.

    Not an ``asyncio.Semaphore``: a waiting check costs no task or future here (it is
    queued as data and its task starts when a slot frees), and a burst of thousands of
    due checks does not make every release walk the waiters (Python 3.11).
    """

    __slots__ = ("limit", "active", "ready", "batched")

    def __init__(self, probe: type[Probe[Any]]) -> None:
        self.limit = max(1, probe.concurrency)
        self.active = 0
        self.ready: deque[_Check] = deque()
        self.batched = probe.batched


class Monitor:
    """Runs checks on schedule until stopped.

    ``probes`` maps kind → Probe class (default ``probes.PROBES``); one instance per kind
    is started lazily at its first check and closed at shutdown. ``clock`` gives the wall
    time (unix seconds, UTC) stamped on observations: the time the check started.
    """

    def __init__(
        self,
        specs: Iterable[CheckSpec],
        store: Store,
        *,
        probes: ProbeRegistry | None = None,
        tick: float = 0.1,
        jitter: float = 0.05,
        deadline_slack: float = 0.5,
        heartbeat_every: float = 10.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        maintenance: MaintenanceCalendar | None = None,
        maintenance_every: float = 5.0,
        flap_window: float | None = 30.0,
        flap_changes: int = 6,
    ) -> None:
        """``maintenance``: the inventory's windows; command-line windows are read from the
        store every ``maintenance_every`` seconds and added. ``flap_window`` is the flapping
        window in check intervals (None: no flap detection); ``flap_changes`` outage
        starts/ends within it make a check FLAPPING."""
        if probes is None:
            from probes import PROBES

            probes = PROBES
        self._all_specs = list(specs)
        unknown = sorted({s.kind for s in self._all_specs} - set(probes))
        if unknown:
            raise ValueError(
                f"no probe for kind(s) {', '.join(unknown)}; known: {', '.join(sorted(probes))}"
            )
        self._registry = probes
        self._store = store
        self.tick = tick
        self.jitter = jitter
        self.deadline_slack = deadline_slack
        self.heartbeat_every = heartbeat_every
        self._clock = clock
        self._rng = rng or random.Random()
        self._flap_window = flap_window
        self._flap_changes = flap_changes
        self._checks: dict[str, _Check] = {
            s.id: _Check(s, self._machine(s)) for s in self._all_specs if s.lifecycle.probed
        }
        for c in self._checks.values():
            for dep in c.spec.depends_on:
                parent = self._checks.get(dep)
                if parent is not None and parent is not c:
                    c.parents.append(parent)
                    parent.children.append(c)
        self._calendar = maintenance
        self._maintenance_every = maintenance_every
        self._in_maintenance: dict[str, Window] = {}
        self._alert_subscribers: list[EventCallback] = []
        self._probes: dict[str, Probe[Any]] = {}
        self._setup_failed: dict[str, tuple[float, str]] = {}
        self._start_locks: dict[str, asyncio.Lock] = {}
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wheel: TimingWheel[tuple[str, int]] | None = None
        self._stopping = False
        self._subscribers: list[EventCallback] = []
        self._snap_lock = threading.Lock()
        self._snap: dict[str, CheckSnapshot] = {}
        self.fires = 0
        """Checks started so far (for measurements)."""
        self.run_id: int | None = None
        """This run's ``monitor_runs`` id, once started."""
        for c in self._checks.values():
            self._publish(c)

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` on the monitor's loop for every state-machine event.

        Returns a function that unsubscribes. A callback that raises is logged and kept.
        """
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def subscribe_alerts(self, callback: EventCallback) -> Callable[[], None]:
        """Like :meth:`subscribe`, but only the events worth telling a person about.

        Left out: UNREACHABLE outages (their root outage is the alert), root-cause changes,
        anything of a check in maintenance, and the outages of a flapping check (its
        FlappingStarted / FlappingStopped are the alert).
        """
        self._alert_subscribers.append(callback)
        return lambda: self._alert_subscribers.remove(callback)

    def in_maintenance(self, check: str) -> Window | None:
        """The maintenance window ``check`` is in now, if any."""
        return self._in_maintenance.get(check)

    def _machine(self, spec: CheckSpec, saved: Any = None) -> CheckMachine:
        flap = None
        if self._flap_window is not None:
            flap = FlapPolicy(self._flap_window * spec.interval, self._flap_changes)
        return CheckMachine(spec.id, spec.fail_after, spec.recover_after, saved, flap=flap)

    def snapshot(self) -> dict[str, CheckSnapshot]:
        """Current state of every probed check, by id. Thread-safe."""
        with self._snap_lock:
            return dict(self._snap)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down cleanly (the store stays open)."""
        loop = asyncio.get_running_loop()
        store = self._store
        await asyncio.to_thread(store.sync_checks, self._all_specs)
        stored = await asyncio.to_thread(store.current_states)
        for key, c in self._checks.items():
            saved = stored.get(key)
            if saved is not None:
                c.machine = self._machine(c.spec, saved.machine)
        await self._refresh_maintenance()
        for c in self._checks.values():
            self._publish(c)
        self.run_id = await asyncio.to_thread(store.start_run, None, os.getpid())
        self._wheel = wheel = TimingWheel(loop, self.tick, self._fire)
        now = loop.time()
        for key, c in self._checks.items():
            self._schedule(wheel, c, now + first_offset(key, self._period(c)))
        heartbeat = asyncio.create_task(self._heartbeat(self.run_id))
        maintenance = asyncio.create_task(self._maintenance_loop())
        try:
            await stop.wait()
        finally:
            self._stopping = True
            wheel.cancel_all()
            heartbeat.cancel()
            maintenance.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(heartbeat, maintenance, *self._tasks, return_exceptions=True)
            for kind, probe in self._probes.items():
                try:
                    await probe.close()
                except Exception:
                    log.exception("closing the %s probe failed", kind)
            self._probes.clear()
            await asyncio.to_thread(store.stop_run, self.run_id)
            await asyncio.to_thread(store.flush)

    def _period(self, c: _Check) -> float:
        spec = c.spec
        return spec.retry_interval if c.machine.wants_retry else spec.interval

    async def _heartbeat(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            self._store.heartbeat(run_id)

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(self._maintenance_every)
            try:
                await self._refresh_maintenance()
            except Exception:
                log.exception("could not refresh the maintenance windows")

    async def _refresh_maintenance(self) -> None:
        now = self._clock()
        rows = await asyncio.to_thread(self._store.maintenance_windows, now - 1.0, now + 1.0)
        if self._calendar is None and not rows and not self._in_maintenance:
            return
        base = self._calendar or MaintenanceCalendar()
        active = base.active(now)
        for w in MaintenanceCalendar.build(None, rows).active(now).items():
            active.setdefault(*w)
        changed = set(active) ^ set(self._in_maintenance)
        changed |= {k for k in active if self._in_maintenance.get(k) != active[k]}
        self._in_maintenance = active
        for key in changed:
            c = self._checks.get(key)
            if c is not None:
                self._publish(c)

    def _schedule(self, wheel: TimingWheel[tuple[str, int]], c: _Check, due: float) -> None:
        """Run ``c`` at ``due`` instead of whenever it was to run."""
        c.gen += 1
        c.due = due
        wheel.schedule((c.spec.id, c.gen), due)

    def _fire(self, keys: list[tuple[str, int]]) -> None:
        if self._stopping:
            return
        checks = self._checks
        lanes = self._lanes
        starting: dict[str, list[_Check]] = {}
        for key, gen in keys:
            c = checks[key]
            if c.running or gen != c.gen:
                continue
            c.running = True
            self.fires += 1
            kind = c.spec.kind
            lane = lanes.get(kind)
            if lane is None:
                lane = lanes[kind] = _Lane(self._registry[kind])
            if lane.active < lane.limit:
                lane.active += 1
                starting.setdefault(kind, []).append(c)
            else:
                lane.ready.append(c)
        for kind, due in starting.items():
            self._start(lanes[kind], due)

    def _start(self, lane: _Lane, checks: list[_Check]) -> None:
        """Run ``checks`` in slots of ``lane`` (already counted in ``lane.active``): in one
        task when the kind is batched, else a task each."""
        loop = asyncio.get_running_loop()
        for batch in [checks] if lane.batched else [[c] for c in checks]:
            task = loop.create_task(self._run_batch(batch, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _release(self, lane: _Lane, slots: int) -> None:
        """``slots`` slots of ``lane`` are free: hand them to the longest-waiting due checks."""
        due: list[_Check] = []
        while lane.ready and len(due) < slots and not self._stopping:
            due.append(lane.ready.popleft())
        lane.active -= slots - len(due)
        if due:
            self._start(lane, due)

    async def _probe(self, kind: str) -> Probe[Any]:
        probe = self._probes.get(kind)
        if probe is not None:
            return probe
        lock = self._start_locks.setdefault(kind, asyncio.Lock())
        async with lock:
            probe = self._probes.get(kind)
            if probe is not None:
                return probe
            failed = self._setup_failed.get(kind)
            if failed is not None and time.monotonic() < failed[0]:
                raise ProbeSetupError(failed[1])
            probe = self._registry[kind]()
            try:
                await probe.start()
            except ProbeSetupError as exc:
                self._setup_failed[kind] = (time.monotonic() + _SETUP_RETRY_S, str(exc))
                raise
            self._setup_failed.pop(kind, None)
            self._probes[kind] = probe
            return probe

    async def _run_batch(self, batch: list[_Check], lane: _Lane) -> None:
        cancelled = False
        try:
            await self._check_batch(batch)
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception:
            log.exception("internal error while running %s", ", ".join(c.spec.id for c in batch))
        finally:
            for c in batch:
                c.running = False
            self._release(lane, len(batch))
            if not cancelled and not self._stopping and self._wheel is not None:
                now = asyncio.get_running_loop().time()
                for c in batch:
                    due = c.due + jittered(self._period(c), self.jitter, self._rng)
                    if c.rerun:
                        c.rerun = False
                        due = now
                    # A run that overran its period starts the next one now, not a burst.
                    self._schedule(self._wheel, c, max(due, now))

    def _wake(self, c: _Check) -> None:
        """Check ``c`` now instead of at its scheduled time."""
        if c.running:
            c.rerun = True
        elif self._wheel is not None and not self._stopping:
            self._schedule(self._wheel, c, asyncio.get_running_loop().time())

    def _wake_descendants(self, root: _Check) -> None:
        seen = {root.spec.id}
        todo = list(root.children)
        while todo:
            c = todo.pop()
            if c.spec.id in seen:
                continue
            seen.add(c.spec.id)
            if c.machine.state in _SHOWN_TROUBLE:
                self._wake(c)
            todo.extend(c.children)

    def _blocker(self, c: _Check) -> Blocker | None:
        """The nearest ancestor that is failing, breadth first."""
        seen = {c.spec.id}
        level = c.parents
        while level:
            nxt: list[_Check] = []
            for p in level:
                if p.spec.id in seen:
                    continue
                seen.add(p.spec.id)
                since = p.machine.trouble_since
                if since is not None:
                    # The child may have been checked up to one parent period (plus jitter
                    # and a tick) before the parent's first failed check.
                    margin = p.spec.interval * (1 + self.jitter) + self.tick
                    return Blocker(p.spec.id, since - margin, p.machine.state.in_outage)
                nxt.extend(p.parents)
            level = nxt
        return None

    async def _check_batch(self, batch: list[_Check]) -> None:
        """Check ``batch`` (checks of one kind) with one ``check`` call, or one
        ``check_many`` call for several, and record each result. The deadline is the
        longest check's."""
        options = [c.spec.options for c in batch]
        kind = batch[0].spec.kind
        ts = self._clock()
        cm: asyncio.Timeout | None = None
        verdicts: list[_Verdict]
        try:
            probe = self._probes.get(kind) or await self._probe(kind)
            limit = max(map(probe.deadline, options))
            cm = asyncio.timeout(limit + self.deadline_slack)
            async with cm:
                if len(options) == 1:
                    results: list[Observation | Exception] = [await probe.check(options[0])]
                else:
                    results = await probe.check_many(options)
        except Exception as exc:
            expired = isinstance(exc, TimeoutError) and cm is not None and cm.expired()
            within = f"no result within {format_seconds(limit)}" if expired else ""
            if expired and len(batch) == 1:
                verdicts = [(Outcome.DOWN, f"{within} (deadline)", None, None)]
            else:
                if expired:
                    # The probe broke its own deadlines, so nothing is known of the
                    # targets: not a mass outage.
                    exc = TimeoutError(f"{within} for a batch of {len(batch)} checks")
                verdicts = [self._verdict(c, exc) for c in batch]
        else:
            verdicts = [self._verdict(c, r) for c, r in zip(batch, results, strict=True)]
        for c, verdict in zip(batch, verdicts, strict=True):
            self._record(c, ts, *verdict)

    def _verdict(self, c: _Check, result: Observation | Exception) -> _Verdict:
        if isinstance(result, Observation):
            reason = safe_text(result.reason) if result.reason else ""
            return Outcome.of(result.status), reason, result.latency_ms, result.values
        if isinstance(result, ProbeSetupError):
            return Outcome.ERROR, safe_text(str(result), 300), None, None
        reason = safe_text(f"probe error: {type(result).__name__}: {result}", 300)
        if c.error != reason:
            log.error("%s: %s", c.spec.id, reason, exc_info=result)
            c.error = reason
        return Outcome.ERROR, reason, None, None

    def _record(
        self,
        c: _Check,
        ts: float,
        outcome: Outcome,
        reason: str,
        latency: float | None,
        values: Mapping[str, Value] | None,
    ) -> None:
        """Feed one result to ``c``'s state machine, the store, the UI and subscribers."""
        spec = c.spec
        if outcome is Outcome.ERROR:
            if c.error != reason:
                log.error("%s: %s", spec.id, reason)
                c.error = reason
        else:
            c.error = None
        c.latency_ms = latency
        blocker = None
        if outcome is Outcome.DOWN and c.parents:
            blocker = self._blocker(c)
        events = c.machine.observe(ts, outcome, reason, blocker=blocker)
        self._store.record(
            Record(spec.id, ts, outcome, latency, reason, values, c.machine.snapshot(), events)
        )
        self._publish(c)
        if not events:
            return
        if (
            blocker is None
            and c.parents
            and any(isinstance(e, StateChanged) and e.new is CheckState.SUSPECT for e in events)
        ):
            # Ask the parents now rather than at their next turn: if one of them is the
            # cause, it shows before this failure is confirmed (no false child outage).
            for p in c.parents:
                if p.machine.trouble_since is None:
                    self._wake(p)
        if c.children and any(
            isinstance(e, OutageClosed)
            or (isinstance(e, StateChanged) and e.new is CheckState.RECOVERING)
            for e in events
        ):
            self._wake_descendants(c)
        quiet = c.machine.flapping or any(isinstance(e, FlappingStopped) for e in events)
        in_maintenance = spec.id in self._in_maintenance
        for event in events:
            for callback in list(self._subscribers):
                try:
                    callback(event)
                except Exception:
                    log.exception("event subscriber failed on %r", event)
            if not self._alert_subscribers or in_maintenance or not _alertable(event, quiet):
                continue
            for callback in list(self._alert_subscribers):
                try:
                    callback(event)
                except Exception:
                    log.exception("alert subscriber failed on %r", event)

    def _publish(self, c: _Check) -> None:
        m = c.machine.view
        window = self._in_maintenance.get(c.spec.id)
        state = m.state
        if window is not None:
            state = CheckState.MAINTENANCE
        elif m.flapping:
            state = CheckState.FLAPPING
        snap = CheckSnapshot(
            check=c.spec.id,
            name=c.spec.name,
            kind=c.spec.kind,
            state=state,
            since=m.since,
            last_ts=m.last_ts,
            last_outcome=m.last_outcome,
            last_reason=m.last_reason,
            last_latency_ms=c.latency_ms,
            machine_state=m.state,
            flapping=m.flapping,
            maintenance=None if window is None else window.name,
            blamed_on=m.blamed_on if m.unreachable else None,
            outage_start=m.outage_start,
        )
        with self._snap_lock:
            self._snap[c.spec.id] = snap


def _alertable(event: Event, quiet: bool) -> bool:
    match event:
        case FlappingStarted() | FlappingStopped():
            return True
        case RootCauseChanged():
            return False
        case OutageOpened(parent=parent):
            return parent is None and not quiet
        case StateChanged(new=CheckState.UNREACHABLE) | StateChanged(old=CheckState.UNREACHABLE):
            return False
    return not quiet


async def run_monitor(
    specs: Iterable[CheckSpec],
    store: Store,
    *,
    probes: ProbeRegistry | None = None,
    stop: asyncio.Event,
    on_event: EventCallback | None = None,
    on_alert: EventCallback | None = None,
    maintenance: MaintenanceCalendar | None = None,
) -> Monitor:
    """Run a :class:`Monitor` until ``stop`` is set, then close ``store``; return the monitor.

    ``on_event`` is called on the loop for every state-machine event; ``on_alert`` only for
    those :meth:`Monitor.subscribe_alerts` passes on.
    """
    monitor = Monitor(specs, store, probes=probes, maintenance=maintenance)
    if on_event is not None:
        monitor.subscribe(on_event)
    if on_alert is not None:
        monitor.subscribe_alerts(on_alert)
    try:
        await monitor.run(stop)
    finally:
        await asyncio.to_thread(store.close)
    return monitor
