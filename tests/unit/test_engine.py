"""The check runner against real local sockets and small test probes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from monitor.engine import Monitor, run_monitor
from monitor.schedule import first_offset
from monitor.state import CheckState, Event, OutageClosed, OutageOpened, Outcome, StateChanged
from monitor.store import Store
from probes.base import Observation, Probe, ProbeOptions, ProbeSetupError
from sites.spec import CheckSpec, ElementType, Lifecycle


class ConnectOptions(ProbeOptions):
    """Connect to a local TCP port."""

    host: str = "127.0.0.1"
    port: int
    timeout: float = 0.5


class ConnectProbe(Probe[ConnectOptions]):
    """A minimal real TCP probe."""

    kind = "connect"
    Options = ConnectOptions

    async def check(self, options: ConnectOptions) -> Observation:
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(options.timeout):
                _, writer = await asyncio.open_connection(options.host, options.port)
        except TimeoutError:
            return Observation.down(f"connect timeout after {options.timeout} s")
        except OSError:
            return Observation.down("connection refused")
        latency = (time.perf_counter() - t0) * 1000
        writer.close()
        await writer.wait_closed()
        return Observation.up(latency, rtt_ms=latency)


class SleepOptions(ProbeOptions):
    """Sleep, then answer with ``status``."""

    delay: float = 0.0
    status: str = "ok"
    timeout: float = 1.0


class SleepProbe(Probe[SleepOptions]):
    """Counts how many checks of each target run at once."""

    kind = "sleep"
    Options = SleepOptions
    concurrency: ClassVar[int] = 2
    running: ClassVar[dict[str, int]] = defaultdict(int)
    peak: ClassVar[dict[str, int]] = defaultdict(int)
    kind_running: ClassVar[list[int]] = [0, 0]  # now, peak
    starts: ClassVar[dict[str, list[float]]] = defaultdict(list)

    async def check(self, options: SleepOptions) -> Observation:
        key = f"{options.delay}/{options.status}"
        cls = type(self)
        cls.starts[key].append(time.monotonic())
        cls.running[key] += 1
        cls.peak[key] = max(cls.peak[key], cls.running[key])
        cls.kind_running[0] += 1
        cls.kind_running[1] = max(cls.kind_running)
        try:
            await asyncio.sleep(options.delay)
        finally:
            cls.running[key] -= 1
            cls.kind_running[0] -= 1
        if options.status == "down":
            return Observation.down("HTTP 503")
        return Observation.up(1.0)


class HangOptions(ProbeOptions):
    """Never answer."""

    timeout: float = 0.2


class HangProbe(Probe[HangOptions]):
    """Ignores its own deadline: the engine's must catch it."""

    kind = "hang"
    Options = HangOptions

    async def check(self, options: HangOptions) -> Observation:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class BrokenOptions(ProbeOptions):
    """How to fail."""

    setup: bool = False


class BrokenProbe(Probe[BrokenOptions]):
    """Raises instead of answering."""

    kind = "broken"
    Options = BrokenOptions

    async def check(self, options: BrokenOptions) -> Observation:
        if options.setup:
            raise ProbeSetupError("cannot open ICMP socket: run as root")
        raise RuntimeError("bug in probe")


class FailStartProbe(Probe[ProbeOptions]):
    """Its shared resources cannot be acquired."""

    kind = "failstart"
    Options = ProbeOptions

    async def start(self) -> None:
        raise ProbeSetupError("no CA file at /nonexistent/ca.crt")


REGISTRY: dict[str, type[Probe[ProbeOptions]]] = {
    p.kind: p  # type: ignore[misc]
    for p in (ConnectProbe, SleepProbe, HangProbe, BrokenProbe, FailStartProbe)
}


def spec(
    check_id: str,
    kind: str,
    options: ProbeOptions,
    *,
    interval: float = 0.1,
    retry: float = 0.05,
    fail_after: int = 2,
    recover_after: int = 2,
    lifecycle: Lifecycle = Lifecycle.ACTIVE,
) -> CheckSpec:
    return CheckSpec(
        id=check_id,
        name=f"Kiểm tra {check_id}",
        kind=kind,
        options=options,
        element=check_id.split(".")[0],
        element_type=ElementType.SITE,
        datacenter=None,
        site=check_id.split(".")[0],
        role="wan",
        lifecycle=lifecycle,
        interval=interval,
        retry_interval=retry,
        fail_after=fail_after,
        recover_after=recover_after,
    )


def early_id(prefix: str, period: float, below: float = 0.05) -> str:
    """A check id whose deterministic first run comes early in its period."""
    return next(
        f"{prefix}-{i}.x" for i in range(10_000) if first_offset(f"{prefix}-{i}.x", period) < below
    )


@pytest.fixture(autouse=True)
def _reset_sleep_probe() -> Iterator[None]:
    for d in (SleepProbe.running, SleepProbe.peak, SleepProbe.starts):
        d.clear()
    SleepProbe.kind_running[:] = [0, 0]
    yield
    SleepProbe.kind_running[:] = [0, 0]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "m.db", housekeeping=False, batch_interval=0.01) as s:
        yield s


@contextlib.asynccontextmanager
async def running(monitor: Monitor) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def until(pred: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class Server:
    """A real TCP listener on 127.0.0.1 that can be stopped and restarted on its port."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()
            await writer.wait_closed()

        self.server = await asyncio.start_server(handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    await s.start()
    yield s
    await s.stop()


async def test_outage_against_a_real_listener(store: Store, server: Server) -> None:
    check = spec("ninh-kieu.wan", "connect", ConnectOptions(port=server.port), interval=0.1)
    events: list[Event] = []
    monitor = Monitor([check], store, probes=REGISTRY, jitter=0)
    monitor.subscribe(events.append)
    async with running(monitor):
        await until(lambda: monitor.snapshot()["ninh-kieu.wan"].state is CheckState.UP)
        await server.stop()
        await until(lambda: any(isinstance(e, OutageOpened) for e in events))
        await server.start()
        await until(lambda: any(isinstance(e, OutageClosed) for e in events))
    opened = next(e for e in events if isinstance(e, OutageOpened))
    closed = next(e for e in events if isinstance(e, OutageClosed))
    assert opened.reason == "connection refused"
    [row] = store.outages_between(0, 2**40)
    assert (row.start_ts, row.end_ts) == (opened.start_ts, closed.end_ts)
    obs = sorted(store.recent_observations("ninh-kieu.wan", 1000), key=lambda o: o.ts)
    first_down = next(o for o in obs if o.outcome is Outcome.DOWN)
    first_up_after = next(o for o in obs if o.ts > first_down.ts and o.outcome is Outcome.OK)
    assert row.start_ts == first_down.ts
    assert row.end_ts == first_up_after.ts
    assert first_up_after.values["rtt_ms"] == first_up_after.latency_ms
    [run] = store.runs()
    assert run.stopped is not None


async def test_hung_probe_hits_deadline_without_delaying_others(store: Store) -> None:
    hung = spec(early_id("hung", 0.1), "hang", HangOptions(timeout=0.2), interval=0.1)
    fast = spec("fast.ping", "sleep", SleepOptions(), interval=0.05)
    monitor = Monitor(
        [hung, fast], store, probes=REGISTRY, jitter=0, deadline_slack=0.05, tick=0.01
    )
    async with running(monitor):
        await asyncio.sleep(0.8)
    store.flush()
    hung_obs = store.recent_observations(hung.id)
    assert 2 <= len(hung_obs) <= 4  # each run takes 0.25 s: no overlap, no pile-up
    assert {o.outcome for o in hung_obs} == {Outcome.DOWN}
    assert {o.reason for o in hung_obs} == {"no result within 200 ms (deadline)"}
    assert all(o.latency_ms is None for o in hung_obs)
    fast_starts = SleepProbe.starts["0.0/ok"]
    assert len(fast_starts) >= 12
    gaps = [b - a for a, b in zip(fast_starts, fast_starts[1:], strict=False)]
    assert max(gaps) < 0.12


async def test_slow_probe_never_overlaps_itself(store: Store) -> None:
    slow = spec(early_id("slow", 0.05), "sleep", SleepOptions(delay=0.25), interval=0.05)
    monitor = Monitor([slow], store, probes=REGISTRY, jitter=0, tick=0.01)
    async with running(monitor):
        await asyncio.sleep(0.9)
    assert SleepProbe.peak["0.25/ok"] == 1
    assert 3 <= len(SleepProbe.starts["0.25/ok"]) <= 4


async def test_ticks_do_not_stretch_the_interval(store: Store) -> None:
    # Runs fire on 0.1 s ticks. Each is due one interval after the previous one was due,
    # so a 0.25 s interval keeps a 0.25 s mean gap (rounding each up from the tick that
    # fired the last would give 0.3 s: a sixth fewer checks).
    steady = spec(early_id("steady", 0.25), "sleep", SleepOptions(), interval=0.25)
    monitor = Monitor([steady], store, probes=REGISTRY, jitter=0, tick=0.1)
    async with running(monitor):
        await asyncio.sleep(3.1)
    starts = SleepProbe.starts["0.0/ok"]
    mean_gap = (starts[-1] - starts[0]) / (len(starts) - 1)
    assert 0.24 <= mean_gap <= 0.27, starts


async def test_concurrency_is_bounded_per_kind(store: Store) -> None:
    checks = [
        spec(f"c{i}.x", "sleep", SleepOptions(delay=0.1 + i / 1000), interval=0.05)
        for i in range(6)
    ]
    monitor = Monitor(checks, store, probes=REGISTRY, jitter=0, tick=0.01)
    async with running(monitor):
        await asyncio.sleep(0.5)
    assert SleepProbe.kind_running[1] == SleepProbe.concurrency == 2
    store.flush()
    # waiting for a slot is not counted against the deadline: nothing timed out
    for c in checks:
        assert {o.outcome for o in store.recent_observations(c.id)} == {Outcome.OK}


class ModeOptions(ProbeOptions):
    """Hang, raise or answer, as ``mode`` says."""

    mode: str = "ok"
    timeout: float = 0.1


class OneLaneProbe(Probe[ModeOptions]):
    """One slot: a hung or raising check must give it back."""

    kind = "onelane"
    Options = ModeOptions
    concurrency: ClassVar[int] = 1
    order: ClassVar[list[str]] = []

    async def check(self, options: ModeOptions) -> Observation:
        type(self).order.append(options.mode)
        if options.mode == "hang":
            await asyncio.Event().wait()
        if options.mode == "raise":
            raise RuntimeError("bug in probe")
        return Observation.up(0.1)


async def test_kind_slot_is_given_back_after_deadline_and_error(store: Store) -> None:
    OneLaneProbe.order.clear()
    checks = [
        spec(f"lane-{mode}.x", "onelane", ModeOptions(mode=mode), interval=0.05)
        for mode in ("hang", "raise", "ok")
    ]
    monitor = Monitor(
        checks, store, probes={"onelane": OneLaneProbe}, jitter=0, deadline_slack=0.02, tick=0.01
    )
    async with running(monitor):
        await asyncio.sleep(1.0)
    store.flush()
    outcomes = {c.id: {o.outcome for o in store.recent_observations(c.id)} for c in checks}
    assert outcomes == {
        "lane-hang.x": {Outcome.DOWN},
        "lane-raise.x": {Outcome.ERROR},
        "lane-ok.x": {Outcome.OK},
    }
    # The waiting checks take the slot in turn: none runs twice while another waits.
    for c in ("hang", "raise", "ok"):
        assert OneLaneProbe.order.count(c) >= 3
    first = OneLaneProbe.order[:3]
    assert sorted(first) == ["hang", "ok", "raise"]


class BatchProbe(Probe[ModeOptions]):
    """Records the checks of every ``check_many`` call and how many run at once."""

    kind = "batch"
    Options = ModeOptions
    batched = True
    concurrency: ClassVar[int] = 3
    batches: ClassVar[list[list[str]]] = []
    running: ClassVar[list[int]] = [0, 0]  # now, peak

    async def check_many(self, batch: Sequence[ModeOptions]) -> list[Observation | Exception]:
        cls = type(self)
        cls.batches.append([o.mode for o in batch])
        cls.running[0] += len(batch)
        cls.running[1] = max(cls.running)
        try:
            await asyncio.sleep(0.02)
            if any(o.mode == "hang" for o in batch):
                await asyncio.Event().wait()
        finally:
            cls.running[0] -= len(batch)
        answers: dict[str, Observation | Exception] = {
            "ok": Observation.up(1.0),
            "down": Observation.down("no reply to 1 ping"),
            "bug": RuntimeError("bug in probe"),
            "setup": ProbeSetupError("cannot open ICMP socket: run as root"),
        }
        return [answers[o.mode.split("-")[0]] for o in batch]


@pytest.fixture
def batch_probe() -> type[BatchProbe]:
    BatchProbe.batches.clear()
    BatchProbe.running[:] = [0, 0]
    return BatchProbe


def clustered_ids(n: int, period: float) -> list[str]:
    """``n`` check ids whose first runs are due within a few microseconds of each other,
    so they share a tick of the wheel every time."""
    ids = sorted((first_offset(f"b{i}.x", period), f"b{i}.x") for i in range(20_000))
    start = min(range(len(ids) - n), key=lambda i: ids[i + n - 1][0] - ids[i][0])
    return [key for _, key in ids[start : start + n]]


async def test_batched_kind_gets_its_due_checks_together(
    store: Store, batch_probe: type[BatchProbe]
) -> None:
    # Every run of these five falls due in the same tick; three slots.
    modes = ["ok-1", "ok-2", "down", "bug", "setup"]
    ids = dict(zip(modes, clustered_ids(len(modes), 0.2), strict=True))
    checks = [spec(ids[m], "batch", ModeOptions(mode=m, timeout=0.2), interval=0.2) for m in modes]
    monitor = Monitor(checks, store, probes={"batch": batch_probe}, jitter=0, tick=0.2)
    async with running(monitor):
        await asyncio.sleep(1.1)
    store.flush()
    assert batch_probe.running[1] == 3
    # In each round three go together, and the two that waited for a slot go together
    # when those end.
    batches = batch_probe.batches
    assert len(batches) >= 6
    assert [len(b) for b in batches[: len(batches) // 2 * 2]] == [3, 2] * (len(batches) // 2)
    pairs = zip(batches[::2], batches[1::2], strict=False)
    assert all(sorted(a + b) == sorted(modes) for a, b in pairs)
    seen = {m: {(o.outcome, o.reason) for o in store.recent_observations(ids[m])} for m in modes}
    assert seen == {
        "ok-1": {(Outcome.OK, "")},
        "ok-2": {(Outcome.OK, "")},
        "down": {(Outcome.DOWN, "no reply to 1 ping")},
        "bug": {(Outcome.ERROR, "probe error: RuntimeError: bug in probe")},
        "setup": {(Outcome.ERROR, "cannot open ICMP socket: run as root")},
    }


async def test_batch_past_its_deadline_is_unknown_not_an_outage(
    store: Store, batch_probe: type[BatchProbe]
) -> None:
    ids = clustered_ids(2, 0.2)
    checks = [
        spec(key, "batch", ModeOptions(mode=m, timeout=0.2), interval=0.2)
        for key, m in zip(ids, ("ok", "hang"), strict=True)
    ]
    monitor = Monitor(
        checks, store, probes={"batch": batch_probe}, jitter=0, tick=0.2, deadline_slack=0.05
    )
    async with running(monitor):
        await asyncio.sleep(1.0)
    store.flush()
    reason = "probe error: TimeoutError: no result within 200 ms for a batch of 2 checks"
    for c in checks:
        obs = store.recent_observations(c.id)
        assert len(obs) >= 2
        assert {(o.outcome, o.reason) for o in obs} == {(Outcome.ERROR, reason)}
    assert store.outages_between(0, 2**40) == []


async def test_default_check_many_runs_the_checks_side_by_side() -> None:
    results = await BrokenProbe().check_many([BrokenOptions(), BrokenOptions(setup=True)])
    assert [type(r) for r in results] == [RuntimeError, ProbeSetupError]
    started = time.monotonic()
    slept = await SleepProbe().check_many([SleepOptions(delay=0.2)] * 5)
    assert [r.ok for r in slept if isinstance(r, Observation)] == [True] * 5
    assert time.monotonic() - started < 0.6


async def test_retry_interval_used_while_suspect(store: Store) -> None:
    check_id = early_id("retry", 1.0)
    flaky = spec(
        check_id, "sleep", SleepOptions(status="down"), interval=1.0, retry=0.1, fail_after=50
    )
    healthy_id = early_id("healthy", 1.0)
    healthy = spec(healthy_id, "sleep", SleepOptions(delay=0.001), interval=1.0, retry=0.1)
    monitor = Monitor([flaky, healthy], store, probes=REGISTRY, jitter=0, tick=0.01)
    async with running(monitor):
        await asyncio.sleep(0.75)
        assert monitor.snapshot()[check_id].state is CheckState.SUSPECT
    starts = SleepProbe.starts["0.0/down"]
    assert 6 <= len(starts) <= 9
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(0.09 <= g < 0.15 for g in gaps), gaps
    assert len(SleepProbe.starts["0.001/ok"]) == 1


async def test_raising_probe_is_error_not_outage(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="monitor.engine")
    bug = spec("bug.x", "broken", BrokenOptions(), interval=0.05, fail_after=1)
    setup = spec("setup.x", "broken", BrokenOptions(setup=True), interval=0.05, fail_after=1)
    nostart = spec("nostart.x", "failstart", ProbeOptions(), interval=0.05, fail_after=1)
    fine = spec("fine.x", "sleep", SleepOptions(), interval=0.05)
    monitor = Monitor([bug, setup, nostart, fine], store, probes=REGISTRY, jitter=0, tick=0.01)
    async with running(monitor):
        await asyncio.sleep(0.5)
        snap = monitor.snapshot()
    store.flush()
    for c, reason in (
        (bug, "probe error: RuntimeError: bug in probe"),
        (setup, "cannot open ICMP socket: run as root"),
        (nostart, "no CA file at /nonexistent/ca.crt"),
    ):
        obs = store.recent_observations(c.id)
        assert len(obs) >= 5
        assert {(o.outcome, o.reason) for o in obs} == {(Outcome.ERROR, reason)}
        assert snap[c.id].state is CheckState.UNKNOWN
        assert snap[c.id].last_outcome is Outcome.ERROR
        logged = [r for r in caplog.records if r.getMessage().startswith(c.id)]
        assert len(logged) == 1, logged
        assert reason in logged[0].getMessage()
    assert store.outages_between(0, 2**40) == []
    assert len(store.recent_observations("fine.x")) >= 5


async def test_observation_is_stamped_with_start_time(store: Store) -> None:
    check = spec(early_id("stamp", 0.2), "sleep", SleepOptions(delay=0.2), interval=5)
    monitor = Monitor([check], store, probes=REGISTRY, jitter=0, tick=0.01)
    before = time.time()
    async with running(monitor):
        await until(lambda: monitor.snapshot()[check.id].last_ts is not None)
        after = time.time()
    ts = monitor.snapshot()[check.id].last_ts
    assert ts is not None
    assert before <= ts <= after - 0.19


async def test_restart_keeps_open_outage_and_does_not_realert(store: Store) -> None:
    down = spec("dc.uplink", "sleep", SleepOptions(status="down"), interval=0.05, retry=0.05)
    events: list[Event] = []
    first = Monitor([down], store, probes=REGISTRY, jitter=0, tick=0.01)
    first.subscribe(events.append)
    async with running(first):
        await until(lambda: any(isinstance(e, OutageOpened) for e in events))
    [opened] = [e for e in events if isinstance(e, OutageOpened)]

    events.clear()
    second = Monitor([down], store, probes=REGISTRY, jitter=0, tick=0.01)
    assert second.snapshot()[down.id].state is CheckState.UNKNOWN  # not restored until run
    second.subscribe(events.append)
    async with running(second):
        await until(lambda: second.run_id is not None)
        assert second.snapshot()[down.id].state is CheckState.DOWN
        assert second.snapshot()[down.id].since == opened.start_ts
        await asyncio.sleep(0.3)
    assert events == []
    [still] = store.open_outages()
    assert still.start_ts == opened.start_ts

    up = spec("dc.uplink", "sleep", SleepOptions(), interval=0.05, retry=0.05)
    third = Monitor([up], store, probes=REGISTRY, jitter=0, tick=0.01)
    third.subscribe(events.append)
    async with running(third):
        await until(lambda: any(isinstance(e, OutageClosed) for e in events))
    assert not any(isinstance(e, OutageOpened) for e in events)
    [closed] = store.outages_between(0, 2**40)
    assert closed.start_ts == opened.start_ts
    assert closed.end_ts is not None
    assert len(store.runs()) == 3


async def test_retired_checks_are_not_probed(store: Store) -> None:
    live = spec("live.x", "sleep", SleepOptions(), interval=0.05)
    old = spec(
        "old.x", "sleep", SleepOptions(delay=0.5), interval=0.05, lifecycle=Lifecycle.RETIRED
    )
    monitor = Monitor([live, old], store, probes=REGISTRY, tick=0.01)
    async with running(monitor):
        await asyncio.sleep(0.2)
    assert set(monitor.snapshot()) == {"live.x"}
    assert SleepProbe.starts["0.5/ok"] == []
    with store.reader() as conn:
        assert conn.execute("SELECT lifecycle FROM checks WHERE key='old.x'").fetchone() == (
            "retired",
        )


async def test_snapshot_from_another_thread_and_heartbeat(store: Store) -> None:
    checks = [spec(f"t{i}.x", "sleep", SleepOptions(), interval=0.02) for i in range(50)]
    monitor = Monitor(checks, store, probes=REGISTRY, tick=0.01, heartbeat_every=0.05)
    async with running(monitor):
        await asyncio.sleep(0.1)
        snaps = await asyncio.gather(*(asyncio.to_thread(monitor.snapshot) for _ in range(20)))
        await asyncio.sleep(0.2)
    assert all(len(s) == 50 for s in snaps)
    [run] = store.runs()
    assert run.stopped is not None
    assert run.heartbeat >= run.started


async def test_first_runs_are_spread_over_the_interval(store: Store) -> None:
    checks = [
        spec(f"s{i}.x", "sleep", SleepOptions(delay=i / 1e6), interval=1.0) for i in range(200)
    ]
    monitor = Monitor(checks, store, probes=REGISTRY, tick=0.01)
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    async with running(monitor):
        await asyncio.sleep(0.5)
        half = monitor.fires
    assert loop.is_running()
    expected = sum(first_offset(c.id, 1.0) < 0.5 for c in checks)
    assert abs(half - expected) <= 10
    assert 70 <= half <= 130
    firsts = sorted(v[0] - t0 for v in SleepProbe.starts.values())
    assert firsts[0] < 0.1
    assert firsts[-1] > 0.35


async def test_run_monitor_closes_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db", housekeeping=False)
    stop = asyncio.Event()
    seen: list[Event] = []
    check = spec("r.x", "sleep", SleepOptions(status="down"), interval=0.02, retry=0.02)
    task = asyncio.create_task(
        run_monitor([check], store, probes=REGISTRY, stop=stop, on_event=seen.append)
    )
    await until(lambda: any(isinstance(e, OutageOpened) for e in seen))
    stop.set()
    monitor = await task
    assert monitor.run_id is not None
    assert isinstance(seen[0], StateChanged)
    with pytest.raises(RuntimeError, match="closed"):
        store.flush()


def test_unknown_kind_is_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="no probe for kind"):
        Monitor([spec("a.b", "nope", ProbeOptions())], store, probes=REGISTRY)
