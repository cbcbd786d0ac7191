"""The check runner: schedules every check on one asyncio loop, feeds state and store.

Use :class:`Monitor` (``await Monitor(specs, store).run(stop)``) or the wrapper
:func:`run_monitor`, which also closes the store. The monitor runs headless on its own
loop; a UI in another thread reads :meth:`Monitor.snapshot` and never shares this loop
(DESIGN principle 5).

Per check: never overlaps itself (the next run is armed when the previous one finished),
uses ``retry_interval`` while its state machine wants retries, a small jitter, and a hard
deadline of the probe's timeout plus ``deadline_slack``. Per kind: at most
``Probe.concurrency`` checks at once; the deadline starts once a slot is taken, so a busy
kind delays its own checks but never fails them. A probe that raises (``ProbeSetupError``
or a bug) gives an ERROR observation, logged once per check and message, never an outage.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.schedule import TimingWheel, first_offset, jittered
from monitor.state import CheckMachine, CheckState, Event, Outcome
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


class _Check:
    __slots__ = ("spec", "machine", "running", "error", "latency_ms")

    def __init__(self, spec: CheckSpec, machine: CheckMachine) -> None:
        self.spec = spec
        self.machine = machine
        self.running = False
        self.error: str | None = None
        self.latency_ms: float | None = None


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
    ) -> None:
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
        self._checks: dict[str, _Check] = {
            s.id: _Check(s, CheckMachine(s.id, s.fail_after, s.recover_after))
            for s in self._all_specs
            if s.lifecycle.probed
        }
        self._probes: dict[str, Probe[Any]] = {}
        self._setup_failed: dict[str, tuple[float, str]] = {}
        self._start_locks: dict[str, asyncio.Lock] = {}
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wheel: TimingWheel[str] | None = None
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
                spec = c.spec
                c.machine = CheckMachine(key, spec.fail_after, spec.recover_after, saved.machine)
            self._publish(c)
        self.run_id = await asyncio.to_thread(store.start_run, None, os.getpid())
        self._wheel = wheel = TimingWheel(loop, self.tick, self._fire)
        now = loop.time()
        for key, c in self._checks.items():
            wheel.schedule(key, now + first_offset(key, self._period(c)))
        heartbeat = asyncio.create_task(self._heartbeat(self.run_id))
        try:
            await stop.wait()
        finally:
            self._stopping = True
            wheel.cancel_all()
            heartbeat.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(heartbeat, *self._tasks, return_exceptions=True)
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

    def _fire(self, keys: list[str]) -> None:
        if self._stopping:
            return
        loop = asyncio.get_running_loop()
        fired = loop.time()
        for key in keys:
            c = self._checks[key]
            if c.running:
                continue
            c.running = True
            self.fires += 1
            task = loop.create_task(self._run_check(c, fired))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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

    async def _run_check(self, c: _Check, fired: float) -> None:
        cancelled = False
        try:
            await self._check_once(c)
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception:
            log.exception("internal error while running check %s", c.spec.id)
        finally:
            c.running = False
            if not cancelled and not self._stopping and self._wheel is not None:
                loop = asyncio.get_running_loop()
                due = fired + jittered(self._period(c), self.jitter, self._rng)
                self._wheel.schedule(c.spec.id, max(due, loop.time()))

    async def _check_once(self, c: _Check) -> None:
        spec = c.spec
        kind = spec.kind
        sem = self._sems.get(kind)
        if sem is None:
            sem = self._sems[kind] = asyncio.Semaphore(self._registry[kind].concurrency)
        latency: float | None = None
        values: Mapping[str, Value] | None = None
        async with sem:
            ts = self._clock()
            cm: asyncio.Timeout | None = None
            limit = spec.options.timeout
            try:
                probe = await self._probe(kind)
                limit = probe.deadline(spec.options)
                cm = asyncio.timeout(limit + self.deadline_slack)
                async with cm:
                    obs: Observation = await probe.check(spec.options)
            except ProbeSetupError as exc:
                outcome, reason = Outcome.ERROR, safe_text(str(exc), 300)
            except Exception as exc:
                if isinstance(exc, TimeoutError) and cm is not None and cm.expired():
                    outcome = Outcome.DOWN
                    reason = f"no result within {format_seconds(limit)} (deadline)"
                else:
                    outcome = Outcome.ERROR
                    reason = safe_text(f"probe error: {type(exc).__name__}: {exc}", 300)
                    if c.error != reason:
                        log.error("%s: %s", spec.id, reason, exc_info=exc)
                        c.error = reason
            else:
                outcome = Outcome.of(obs.status)
                reason = safe_text(obs.reason) if obs.reason else ""
                latency = obs.latency_ms
                values = obs.values
        if outcome is Outcome.ERROR:
            if c.error != reason:
                log.error("%s: %s", spec.id, reason)
                c.error = reason
        else:
            c.error = None
        c.latency_ms = latency
        events = c.machine.observe(ts, outcome, reason)
        self._store.record(
            Record(spec.id, ts, outcome, latency, reason, values, c.machine.snapshot(), events)
        )
        self._publish(c)
        for event in events:
            for callback in list(self._subscribers):
                try:
                    callback(event)
                except Exception:
                    log.exception("event subscriber failed on %r", event)

    def _publish(self, c: _Check) -> None:
        m = c.machine.snapshot()
        snap = CheckSnapshot(
            check=c.spec.id,
            name=c.spec.name,
            kind=c.spec.kind,
            state=m.state,
            since=m.since,
            last_ts=m.last_ts,
            last_outcome=m.last_outcome,
            last_reason=m.last_reason,
            last_latency_ms=c.latency_ms,
        )
        with self._snap_lock:
            self._snap[c.spec.id] = snap


async def run_monitor(
    specs: Iterable[CheckSpec],
    store: Store,
    *,
    probes: ProbeRegistry | None = None,
    stop: asyncio.Event,
    on_event: EventCallback | None = None,
) -> Monitor:
    """Run a :class:`Monitor` until ``stop`` is set, then close ``store``; return the monitor.

    ``on_event`` is called on the loop for every StateChanged / OutageOpened / OutageClosed.
    """
    monitor = Monitor(specs, store, probes=probes)
    if on_event is not None:
        monitor.subscribe(on_event)
    try:
        await monitor.run(stop)
    finally:
        await asyncio.to_thread(store.close)
    return monitor
