"""The v1/v2c fast path's shared socket against a scripted agent that misbehaves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pysnmp.proto import rfc1902
from pysnmp.proto.api import v1

from probes import _ber
from probes.base import Status
from probes.snmp import (
    IF_ADMIN_STATUS,
    IF_COLUMNS,
    IF_DESCR,
    IF_HIGH_SPEED,
    IF_NAME,
    IF_OPER_STATUS,
    SYS_DESCR,
    SYS_NAME,
    SYS_UPTIME,
    Oid,
    SnmpOptions,
    SnmpProbe,
)
from tests.probes.servers import ScriptedUdp, udp_servers
from tests.probes.test_snmp_ber import pysnmp_response

Answer = Callable[[_ber.Message, bytes], list[bytes]]

SYSTEM = {
    SYS_UPTIME: rfc1902.TimeTicks(4200),
    SYS_NAME: rfc1902.OctetString("trạm-ninh-kiều".encode()),
    SYS_DESCR: rfc1902.OctetString(b"scripted"),
}


def good(request: _ber.Message, _: bytes) -> bytes:
    """The proper answer to a GET of the system group."""
    varbinds = [(oid, SYSTEM[oid]) for oid, _ in request.varbinds]
    return pysnmp_response(varbinds, request.request_id, request.community)


@pytest.fixture
async def probe() -> AsyncIterator[SnmpProbe]:
    snmp = SnmpProbe()
    await snmp.start()
    yield snmp
    await snmp.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], Any]]:
    async with udp_servers() as start:

        async def serve_with(answer: Answer) -> tuple[ScriptedUdp, int]:
            agent = ScriptedUdp(lambda data: answer(_ber.decode_message(data), data))
            return agent, await start(agent)

        yield serve_with


def options(port: int, **extra: Any) -> SnmpOptions:
    return SnmpOptions(host="127.0.0.1", port=port, **({"timeout": 0.3, "retries": 0} | extra))


async def test_noise_before_the_answer_is_ignored(serve: Any, probe: SnmpProbe) -> None:
    def noisy(request: _ber.Message, data: bytes) -> list[bytes]:
        right = good(request, data)
        other_id = (request.request_id + 1) % 2**31
        varbinds = [(oid, SYSTEM[oid]) for oid, _ in request.varbinds]
        return [
            b"\x00garbage",
            b"\x30\x84\xff\xff\xff\xff",
            right + b"\x00",
            data,  # our own request echoed back: not a Response
            pysnmp_response(varbinds, other_id, request.community),
            pysnmp_response(varbinds, request.request_id, b"other-community"),
            pysnmp_response(varbinds, request.request_id, request.community, api=v1),
            right,
        ]

    _, port = await serve(noisy)
    obs = await probe.check(options(port))
    assert obs.status is Status.OK, obs.reason
    assert obs.values["sys_name"] == "trạm-ninh-kiều"
    assert obs.values["sys_uptime_s"] == 42.0


async def test_answer_from_another_port_is_ignored(serve: Any, probe: SnmpProbe) -> None:
    other, _ = await serve(lambda request, data: [])

    def elsewhere(request: _ber.Message, data: bytes) -> list[bytes]:
        assert other.transport is not None
        other.transport.sendto(good(request, data), ("127.0.0.1", probe_port[0]))
        return []

    probe_port: list[int] = []
    agent, port = await serve(elsewhere)
    original = agent.datagram_received

    def remember(data: bytes, addr: tuple[str | Any, int]) -> None:
        probe_port[:] = [addr[1]]
        original(data, addr)

    agent.datagram_received = remember  # type: ignore[method-assign]
    obs = await probe.check(options(port))
    assert (obs.status, obs.reason) == (Status.DOWN, "no SNMP response within 300 ms")


async def test_malformed_answer_is_a_clear_reason(serve: Any, probe: SnmpProbe) -> None:
    def broken(request: _ber.Message, _: bytes) -> list[bytes]:
        # Well-formed up to the varbinds (so it is our answer), then an IpAddress of 5
        # octets where sysDescr's OCTET STRING was.
        varbinds = [(oid, SYSTEM[oid]) for oid in (SYS_UPTIME, SYS_NAME)]
        varbinds.append((SYS_DESCR, rfc1902.OctetString(b"xxxxx")))
        wire = pysnmp_response(varbinds, request.request_id, request.community)
        return [wire.replace(b"\x04\x05xxxxx", b"\x40\x05xxxxx")]

    _, port = await serve(broken)
    started = time.perf_counter()
    obs = await probe.check(options(port, timeout=2.0))
    assert obs.status is Status.DOWN
    assert obs.reason == "malformed SNMP response: IpAddress of 5 octets"
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("status", "index", "reason"),
    [
        (1, 0, "SNMP error tooBig"),
        (5, 2, "SNMP error genErr at 1.3.6.1.2.1.1.5.0"),
        (2, 1, "SNMP error noSuchName at 1.3.6.1.2.1.1.3.0"),
        (99, 9, "SNMP error 99"),
    ],
)
async def test_error_status_reasons(
    serve: Any, probe: SnmpProbe, status: int, index: int, reason: str
) -> None:
    def refuse(request: _ber.Message, _: bytes) -> list[bytes]:
        varbinds = [(oid, rfc1902.Null("")) for oid, _ in request.varbinds]
        return [pysnmp_response(varbinds, request.request_id, request.community, status, index)]

    _, port = await serve(refuse)
    obs = await probe.check(options(port))
    assert (obs.status, obs.reason) == (Status.DOWN, reason)


@pytest.mark.parametrize("retries", [0, 1, 2])
async def test_retries_resend_the_same_request(serve: Any, probe: SnmpProbe, retries: int) -> None:
    def second_try_only(request: _ber.Message, data: bytes) -> list[bytes]:
        return [good(request, data)] if len(agent.received) == 2 else []

    agent, port = await serve(second_try_only)
    obs = await probe.check(options(port, timeout=0.45, retries=retries))
    if retries == 0:
        assert (obs.status, obs.reason) == (Status.DOWN, "no SNMP response within 450 ms")
        assert len(agent.received) == 1
    else:
        assert obs.status is Status.OK, obs.reason
        assert len(agent.received) == 2
        assert agent.received[0] == agent.received[1]


async def test_concurrent_checks_share_one_socket(serve: Any, probe: SnmpProbe) -> None:
    held: list[tuple[_ber.Message, bytes]] = []

    def reverse(request: _ber.Message, data: bytes) -> list[bytes]:
        # Hold every request, then answer them all at once, last first.
        held.append((request, data))
        if len(held) < 40:
            return []
        return [good(r, d) for r, d in reversed(held)]

    _, port = await serve(reverse)
    results = await asyncio.gather(*(probe.check(options(port, timeout=2.0)) for _ in range(40)))
    assert all(obs.status is Status.OK for obs in results), results
    assert len(probe._client._sockets) == 1
    assert not probe._client._pending


async def test_cancelled_check_leaves_nothing_behind(serve: Any, probe: SnmpProbe) -> None:
    _, port = await serve(lambda request, data: [])
    task = asyncio.create_task(probe.check(options(port, timeout=5.0, retries=3)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not probe._client._pending


def v1_agent(objects: dict[Oid, Any]) -> Answer:
    """An SNMPv1 agent: noSuchName (for the whole PDU) where v2c has exceptions."""
    keys = sorted(objects)

    def answer(request: _ber.Message, _: bytes) -> list[bytes]:
        assert request.version == _ber.VERSION_1
        varbinds: list[tuple[Oid, Any]] = []
        for position, (oid, _value) in enumerate(request.varbinds, 1):
            if request.pdu_type == _ber.GET_NEXT_REQUEST:
                found = next((key for key in keys if key > oid), None)
            else:
                found = oid if oid in objects else None
            if found is None:
                nulls = [(o, v1.Null("")) for o, _ in request.varbinds]
                return [
                    pysnmp_response(nulls, request.request_id, request.community, 2, position, v1)
                ]
            varbinds.append((found, objects[found]))
        return [pysnmp_response(varbinds, request.request_id, request.community, api=v1)]

    return answer


def v1_row(index: int, name: str, oper: int) -> dict[Oid, Any]:
    row = {
        IF_DESCR: v1.OctetString(f"Ethernet {name}".encode()),
        IF_NAME: v1.OctetString(name.encode()),
        IF_ADMIN_STATUS: v1.Integer(1),
        IF_OPER_STATUS: v1.Integer(oper),
        IF_HIGH_SPEED: v1.Gauge(100),
    }
    return {column + (index,): value for column, value in row.items()}


async def test_v1_missing_objects_and_walk_ends(serve: Any, probe: SnmpProbe) -> None:
    objects: dict[Oid, Any] = {SYS_UPTIME: v1.TimeTicks(4200), SYS_NAME: v1.OctetString(b"v1")}
    objects |= v1_row(1, "lo", 1) | v1_row(2, "eth0", 2)
    agent, port = await serve(v1_agent(objects))
    first = await probe.check(options(port, version="1", interfaces=["eth0", "lo"]))
    assert (first.status, first.reason) == (Status.DOWN, "ifOperStatus down on eth0")
    assert first.values["sys_name"] == "v1"
    assert first.values["sys_descr"] is None  # noSuchName for it: asked again without it
    assert first.values["if.lo.oper_status"] == "up"
    assert first.values["if.lo.speed_mbps"] == 100
    walked = len(agent.received)
    second = await probe.check(options(port, version="1", interfaces=["eth0", "lo"]))
    assert (second.status, second.reason) == (first.status, first.reason)
    # One packed GET, asked again once per object the agent lacks (sysDescr, 4 counters).
    assert len(agent.received) == walked + 6


async def test_v2c_walk_of_a_looping_agent_ends(serve: Any, probe: SnmpProbe) -> None:
    def looping(request: _ber.Message, _: bytes) -> list[bytes]:
        if request.pdu_type == _ber.GET_REQUEST:
            varbinds = [(oid, SYSTEM[oid]) for oid, _ in request.varbinds]
        else:  # every GETBULK answered with the same first row: the walk must stop
            varbinds = []
            for oid, _ in request.varbinds:
                column = max((c for c in IF_COLUMNS if oid[: len(c)] == c), key=len)
                value = rfc1902.OctetString(b"eth0") if column == IF_NAME else rfc1902.Integer(1)
                varbinds.append((column + (1,), value))
        return [pysnmp_response(varbinds, request.request_id, request.community)]

    agent, port = await serve(looping)
    obs = await probe.check(options(port, timeout=2.0, interfaces=["eth0"]))
    assert obs.status is Status.OK, obs.reason
    assert len(agent.received) == 3
