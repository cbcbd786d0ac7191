"""TcpProbe against real sockets: a listener on 127.0.0.1, a closed port, and a namespace
where one range is blackholed (connect timeout) and one answers "host unreachable"."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from probes.base import Status
from probes.tcp import TcpOptions, TcpProbe
from tests.probes.netns import Netns, netns_fixture

BLACKHOLED, UNREACHABLE = 130, 200


def _arrange(ns: Netns) -> None:
    ns.ip("route", "add", "blackhole", ns.addr(128) + "/26")
    ns.ip("route", "add", "unreachable", ns.addr(192) + "/26")
    ns.enable_forwarding()


lab = netns_fixture("tcp", setup=_arrange)


@pytest.fixture
def listener() -> Iterator[int]:
    """A listening socket on 127.0.0.1; the kernel completes handshakes from its backlog."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_open_port_is_up(listener: int) -> None:
    obs = await TcpProbe().check(TcpOptions(host="127.0.0.1", port=listener, timeout=2))
    assert obs.status is Status.OK, obs
    assert obs.reason == ""
    assert isinstance(obs.values["connect_ms"], float)
    assert 0 < obs.values["connect_ms"] < 2000
    assert obs.latency_ms == obs.values["connect_ms"]


async def test_many_checks_of_one_listener(listener: int) -> None:
    probe = TcpProbe()
    options = TcpOptions(host="127.0.0.1", port=listener, timeout=2)
    results = await asyncio.gather(*(probe.check(options) for _ in range(12)))
    assert {r.status for r in results} == {Status.OK}


async def test_slow_connect_is_degraded(listener: int) -> None:
    options = TcpOptions(host="127.0.0.1", port=listener, max_latency_ms=0.0001)
    obs = await TcpProbe().check(options)
    assert obs.status is Status.DEGRADED
    assert obs.reason.startswith("connect ")
    assert obs.reason.endswith(" ms > 0.0001 ms")


async def test_closed_port_is_refused(closed_port: int) -> None:
    obs = await TcpProbe().check(TcpOptions(host="127.0.0.1", port=closed_port, timeout=2))
    assert obs.status is Status.DOWN
    assert obs.reason == "connection refused"
    assert obs.latency_ms is None


async def test_unresolvable_name() -> None:
    # A name with a space is rejected by the resolver without sending any query.
    obs = await TcpProbe().check(TcpOptions(host="no such host.invalid", port=80))
    assert obs.status is Status.DOWN
    assert obs.reason == "cannot resolve no such host.invalid"


@pytest.mark.netns
async def test_blackholed_address_times_out(lab: Netns) -> None:
    started = time.perf_counter()
    obs = await TcpProbe().check(TcpOptions(host=lab.addr(BLACKHOLED), port=80, timeout=0.3))
    elapsed = time.perf_counter() - started
    assert obs.status is Status.DOWN
    assert obs.reason == "connect timeout after 300 ms"
    assert 0.3 <= elapsed < 0.8


@pytest.mark.netns
async def test_timeout_reason_quotes_seconds(lab: Netns) -> None:
    obs = await TcpProbe().check(TcpOptions(host=lab.addr(BLACKHOLED + 1), port=443, timeout=1))
    assert obs.reason == "connect timeout after 1.0 s"


@pytest.mark.netns
async def test_unreachable_host_is_no_route(lab: Netns) -> None:
    started = time.perf_counter()
    obs = await TcpProbe().check(TcpOptions(host=lab.addr(UNREACHABLE), port=80, timeout=2))
    assert obs.status is Status.DOWN
    assert obs.reason == "no route to host"
    assert time.perf_counter() - started < 1.0


@pytest.mark.netns
async def test_cancellation_propagates(lab: Netns) -> None:
    task = asyncio.create_task(
        TcpProbe().check(TcpOptions(host=lab.addr(BLACKHOLED + 2), port=80, timeout=5))
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
