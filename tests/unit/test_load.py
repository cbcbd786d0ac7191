"""No check is skipped under load (issue #5): many checks with short intervals, real sockets.

2,000 TCP checks every 1.5 s (80,000 a minute) against a cheap real listener in a process
of its own. Pinned, not timed: every check ran as often as its interval allows (within one
run), no run started later than one interval past its due time, and healthy targets gave
no false failure, state change or outage. A second test queues far more checks of one
kind than it may run at once, so the per-kind limit is what holds them back.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from bench.specs import spec
from monitor.engine import Monitor
from monitor.state import CheckState, Event, OutageOpened, Outcome
from monitor.store import Store
from probes.base import Observation, Probe, ProbeOptions
from probes.tcp import TcpOptions, TcpProbe
from sites.spec import CheckSpec

pytestmark = pytest.mark.timeout(60)

_LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(4096)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts and closes, served by its own process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LISTENER], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def _spec(key: str, kind: str, options: ProbeOptions, interval: float) -> CheckSpec:
    return spec(key, kind, options, interval, name=f"Tải {key}", fail_after=2)


async def _run(monitor: Monitor, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    try:
        await asyncio.sleep(seconds)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def _runs_by_check(store: Store, keys: list[str]) -> dict[str, list[tuple[float, Outcome]]]:
    with store.reader() as conn:
        rows = conn.execute(
            "SELECT c.key, o.ts, o.status FROM observations o JOIN checks c "
            "ON c.id = o.check_id ORDER BY o.check_id, o.ts"
        ).fetchall()
    runs: dict[str, list[tuple[float, Outcome]]] = {k: [] for k in keys}
    for key, ts, status in rows:
        runs[key].append((ts, Outcome(status)))
    return runs


def _assert_on_time(
    runs: dict[str, list[tuple[float, Outcome]]],
    start: float,
    seconds: float,
    interval: float,
    jitter: float,
) -> None:
    """Every check ran about ``seconds / interval`` times, never a full interval late."""
    slowest = interval * (1 + jitter)
    # The first run comes within one interval of the start, then one every <= slowest.
    fewest = int((seconds - interval) / slowest) + 1
    most = int(seconds / (interval * (1 - jitter))) + 1
    too_few = {k: len(v) for k, v in runs.items() if len(v) < fewest}
    too_many = {k: len(v) for k, v in runs.items() if len(v) > most}
    assert not too_few, f"{len(too_few)} checks ran fewer than {fewest} times: {too_few}"
    assert not too_many, f"{len(too_many)} checks ran more than {most} times: {too_many}"
    late = {}
    for key, checks in runs.items():
        times = [start] + [ts for ts, _ in checks]
        # The first gap is bounded by the first offset (< interval) plus the same slack.
        worst = max(b - a for a, b in zip(times, times[1:], strict=False))
        if worst > slowest + interval:
            late[key] = round(worst, 2)
    assert not late, f"{len(late)} checks started over one interval late: {late}"


async def test_no_check_skipped_under_load(tmp_path: Path, listener: int) -> None:
    n, interval, seconds, jitter = 2000, 1.5, 6.0, 0.05
    options = TcpOptions(host="127.0.0.1", port=listener, timeout=1.0)
    specs = [_spec(f"load-{i:04d}.tcp", "tcp", options, interval) for i in range(n)]
    events: list[Event] = []
    with Store(tmp_path / "load.db", housekeeping=False) as store:
        monitor = Monitor(specs, store, probes={"tcp": TcpProbe}, jitter=jitter)
        monitor.subscribe(events.append)
        wall_start = time.time()
        await _run(monitor, seconds)
        store.flush()
        runs = _runs_by_check(store, [s.id for s in specs])
        with store.reader() as conn:
            outages = conn.execute("SELECT count(*) FROM outages").fetchone()[0]
        assert store.write_errors == 0
    bad = [(k, ts, o) for k, v in runs.items() for ts, o in v if o is not Outcome.OK]
    assert not bad, f"{len(bad)} false failures, e.g. {bad[:3]}"
    assert outages == 0
    assert not [e for e in events if isinstance(e, OutageOpened)]
    assert {s.state for s in monitor.snapshot().values()} == {CheckState.UP}
    _assert_on_time(runs, wall_start, seconds, interval, jitter)


class QueuedOptions(ProbeOptions):
    """Answer OK after ``delay`` seconds."""

    delay: float = 0.01
    timeout: float = 1.0


class QueuedProbe(Probe[QueuedOptions]):
    """A slow-ish kind with a low limit: most of its checks wait for a slot."""

    kind = "queued"
    Options = QueuedOptions
    concurrency: ClassVar[int] = 40
    running: ClassVar[list[int]] = [0, 0]  # now, peak

    async def check(self, options: QueuedOptions) -> Observation:
        cls = type(self)
        cls.running[0] += 1
        cls.running[1] = max(cls.running)
        try:
            await asyncio.sleep(options.delay)
        finally:
            cls.running[0] -= 1
        return Observation.up(options.delay * 1000)


async def test_kind_limit_queues_without_skipping(tmp_path: Path) -> None:
    # 2,000 checks a second of a kind that may run 40 at once for 10 ms each (4,000/s at
    # most): they wait for slots, in order, and none is dropped or starved.
    QueuedProbe.running[:] = [0, 0]
    n, interval, seconds, jitter = 2000, 1.0, 4.0, 0.05
    specs = [_spec(f"q-{i:04d}.x", "queued", QueuedOptions(), interval) for i in range(n)]
    with Store(tmp_path / "queued.db", housekeeping=False) as store:
        monitor = Monitor(specs, store, probes={"queued": QueuedProbe}, jitter=jitter)
        wall_start = time.time()
        await _run(monitor, seconds)
        store.flush()
        runs = _runs_by_check(store, [s.id for s in specs])
    for key, v in runs.items():
        assert all(o is Outcome.OK for _, o in v), key
    assert QueuedProbe.running[1] == QueuedProbe.concurrency
    _assert_on_time(runs, wall_start, seconds, interval, jitter)
