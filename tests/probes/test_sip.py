"""The sip probe against real SIPp servers and raw sockets that misbehave."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from probes.base import Status
from probes.sip import SipOptions, SipProbe, parse_response
from tests.probes.servers import ScriptedUdp, free_port, udp_servers
from tests.probes.sipp import SIPP, Sipp

needs_sipp = pytest.mark.skipif(SIPP is None, reason="needs SIPp (apt install sip-tester)")


@pytest.fixture(scope="module")
def sipp_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Sipp]]:
    """One SIPp per (scenario, transport), started lazily and stopped with the module."""
    if SIPP is None:
        pytest.skip("needs SIPp (apt install sip-tester)")
    servers: dict[str, Sipp] = {}
    base = tmp_path_factory.mktemp("sipp")

    class Lazy(dict[str, Sipp]):
        def __missing__(self, key: str) -> Sipp:
            scenario, transport = key.split("/")
            server = Sipp(base / key.replace("/", "-"), scenario, transport)
            server.start()
            servers[key] = self[key] = server
            return server

    yield Lazy()
    for server in servers.values():
        server.stop()


@needs_sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_options_answered_200(sipp_servers: dict[str, Sipp], transport: str) -> None:
    server = sipp_servers[f"ok/{transport}"]
    options = SipOptions(host="127.0.0.1", port=server.port, transport=transport, timeout=2)
    obs = await SipProbe().check(options)
    assert obs.status is Status.OK, obs.reason
    assert obs.values["sip_status"] == 200
    assert obs.latency_ms is not None
    assert obs.latency_ms < 2000


@needs_sipp
async def test_server_header_is_literal_and_sanitised(sipp_servers: dict[str, Sipp]) -> None:
    server = sipp_servers["ok/udp"]
    obs = await SipProbe().check(SipOptions(host="127.0.0.1", port=server.port, timeout=2))
    assert obs.values["sip_server"] == "[red]x[/red] <b>VC</b> \ufffd[31mCần Thơ"


@needs_sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_503_is_down(sipp_servers: dict[str, Sipp], transport: str) -> None:
    server = sipp_servers[f"unavailable/{transport}"]
    options = SipOptions(host="127.0.0.1", port=server.port, transport=transport, timeout=2)
    obs = await SipProbe().check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "SIP 503 Service Unavailable"
    assert obs.values["sip_status"] == 503


@needs_sipp
async def test_503_can_be_expected(sipp_servers: dict[str, Sipp]) -> None:
    server = sipp_servers["unavailable/udp"]
    options = SipOptions(host="127.0.0.1", port=server.port, expect_status=[200, 503])
    assert (await SipProbe().check(options)).status is Status.OK


@needs_sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_provisional_response_is_skipped(
    sipp_servers: dict[str, Sipp], transport: str
) -> None:
    server = sipp_servers[f"trying-then-ok/{transport}"]
    options = SipOptions(host="127.0.0.1", port=server.port, transport=transport, timeout=2)
    obs = await SipProbe().check(options)
    assert obs.status is Status.OK, obs.reason
    assert obs.latency_ms is not None
    assert obs.latency_ms >= 90


@needs_sipp
async def test_concurrent_checks_get_their_own_answers(sipp_servers: dict[str, Sipp]) -> None:
    server = sipp_servers["ok/udp"]
    options = SipOptions(host="127.0.0.1", port=server.port, timeout=2)
    probe = SipProbe()
    results = await asyncio.gather(*(probe.check(options) for _ in range(20)))
    assert all(obs.status is Status.OK for obs in results), [obs.reason for obs in results]


Reply = Callable[[dict[str, str]], list[bytes]]


def request_headers(data: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in data.decode().split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return headers


def response(status: str, request: dict[str, str], *extra: str, call_id: str = "") -> bytes:
    lines = [
        f"SIP/2.0 {status}",
        f"Via: {request['via']}",
        f"From: {request['from']}",
        f"To: {request['to']};tag=raw1",
        f"Call-ID: {call_id or request['call-id']}",
        f"CSeq: {request['cseq']}",
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture
async def raw_udp() -> AsyncIterator[Callable[[Reply], Any]]:
    async with udp_servers() as start:

        async def serve(reply: Reply) -> tuple[ScriptedUdp, int]:
            server = ScriptedUdp(lambda data: reply(request_headers(data)))
            return server, await start(server)

        yield serve


async def test_silent_udp_is_retransmitted_on_t1_then_times_out(
    raw_udp: Callable[[Reply], Any],
) -> None:
    server, port = await raw_udp(lambda request: [])
    started = time.perf_counter()
    obs = await SipProbe().check(SipOptions(host="127.0.0.1", port=port, timeout=1.7))
    assert obs.status is Status.DOWN
    assert obs.reason == "no SIP response within 1.7 s"
    assert 1.6 < time.perf_counter() - started < 2.2
    # Timer E: sent at 0, 0.5 and 1.5 s.
    assert len(server.received) == 3
    first = server.received[0].decode()
    assert first.startswith(f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n")
    assert re.search(r"\r\nVia: SIP/2\.0/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK\w+", first)
    assert re.search(r"\r\nFrom: <sip:thongsuot@[^>]+>;tag=\w+\r\n", first)
    for header in ("Call-ID: ", "CSeq: 1 OPTIONS", "Max-Forwards: 70", "Content-Length: 0"):
        assert f"\r\n{header}" in first
    assert first.endswith("\r\n\r\n")
    assert len(set(server.received)) == 1


async def test_closed_udp_port_is_port_unreachable() -> None:
    port = free_port(socket.SOCK_DGRAM)
    obs = await SipProbe().check(SipOptions(host="127.0.0.1", port=port, timeout=1))
    assert obs.status is Status.DOWN
    assert obs.reason == "port unreachable (ICMP)"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (lambda r: [b"\x00\xff\x1b[2J garbage"], "no valid SIP response within 600 ms"),
        (lambda r: [b"SIP/2.0 200 OK\r\n" + b"X: " + b"A" * 60_000 + b"\r\n\r\n"], "larger"),
        (lambda r: [response("200 OK", r, call_id="other@x")], "no SIP response within 600 ms"),
        (lambda r: [response("180 Ringing", r)], "only SIP 180 (provisional) within 600 ms"),
    ],
    ids=["binary", "huge", "wrong-call-id", "only-provisional"],
)
async def test_udp_answers_that_do_not_count(
    raw_udp: Callable[[Reply], Any], reply: Reply, reason: str
) -> None:
    _, port = await raw_udp(reply)
    obs = await SipProbe().check(SipOptions(host="127.0.0.1", port=port, timeout=0.6))
    assert obs.status is Status.DOWN
    assert reason in obs.reason
    assert "\x1b" not in obs.reason


async def test_udp_final_response_after_noise(raw_udp: Callable[[Reply], Any]) -> None:
    def reply(request: dict[str, str]) -> list[bytes]:
        return [
            b"\x16\x03\x01 not sip",
            response("200 OK", request, call_id="someone-else"),
            response("100 Trying", request),
            response("486 Busy Here \x1b[5m[blink]x[/blink]", request, "User-Agent: MCU\x07"),
        ]

    _, port = await raw_udp(reply)
    obs = await SipProbe().check(SipOptions(host="127.0.0.1", port=port, timeout=1))
    assert obs.status is Status.DOWN
    assert obs.reason == "SIP 486 Busy Here \ufffd[5m[blink]x[/blink]"
    assert obs.values == {"sip_status": 486, "sip_server": "MCU\ufffd"}


@pytest.fixture
async def raw_tcp() -> AsyncIterator[Callable[[bytes | None, bool], Any]]:
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def serve(answer: bytes | None, close: bool) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            await reader.readuntil(b"\r\n\r\n")
            if answer is not None:
                writer.write(answer)
                await writer.drain()
            if close:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield serve
    for writer in writers:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("answer", "close", "reason"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", True, "not a SIP response: 'HTTP/1.1 400"),
        (b"SIP/2.0 200 OK\r\nX: " + b"A" * 40_000, False, "larger than 16 KiB"),
        (b"", True, "connection closed before a SIP response"),
        (None, False, "no SIP response within 1.0 s"),
        (b"SIP/2.0 200 OK\r\nContent-Length: 99999999\r\n\r\n", False, "Content-Length"),
    ],
    ids=["http", "huge", "closed", "silent", "huge-body"],
)
async def test_tcp_bad_answers(
    raw_tcp: Callable[[bytes | None, bool], Any], answer: bytes | None, close: bool, reason: str
) -> None:
    port = await raw_tcp(answer, close)
    options = SipOptions(host="127.0.0.1", port=port, transport="tcp", timeout=1.0)
    obs = await SipProbe().check(options)
    assert obs.status is Status.DOWN
    assert reason in obs.reason


async def test_tcp_connection_refused() -> None:
    port = free_port(socket.SOCK_STREAM)
    options = SipOptions(host="127.0.0.1", port=port, transport="tcp", timeout=1)
    obs = await SipProbe().check(options)
    assert (obs.status, obs.reason) == (Status.DOWN, "connection refused")


def test_parse_response_folds_and_compact_headers() -> None:
    parsed = parse_response(
        b"SIP/2.0 200 OK\r\ni: abc@h\r\nServer: one\r\n two\r\nl: 0\r\nVia: a\r\nv: b"
    )
    assert parsed.status == 200
    assert parsed.header("call-id") == "abc@h"
    assert parsed.header("server") == "one two"
    assert parsed.header("via") == "a"


def test_transport_is_checked() -> None:
    with pytest.raises(ValidationError):
        SipOptions(host="h", transport="sctp")


def _via_port(request: dict[str, str]) -> int:
    return int(request["via"].split()[1].split(";")[0].rsplit(":", 1)[1])


async def test_udp_response_from_another_port_is_ignored(
    raw_udp: Callable[[Reply], Any],
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as elsewhere:
        elsewhere.bind(("127.0.0.1", 0))

        def reply(request: dict[str, str]) -> list[bytes]:
            elsewhere.sendto(response("200 OK", request), ("127.0.0.1", _via_port(request)))
            return []

        _, port = await raw_udp(reply)
        obs = await SipProbe().check(SipOptions(host="127.0.0.1", port=port, timeout=0.6))
    assert obs.reason == "no SIP response within 600 ms"


async def test_udp_response_for_another_branch_is_ignored(
    raw_udp: Callable[[Reply], Any],
) -> None:
    def reply(request: dict[str, str]) -> list[bytes]:
        other = dict(request, via=request["via"].replace("branch=z9hG4bK", "branch=z9hG4bKx"))
        return [response("200 OK", other), response("503 Service Unavailable", request)]

    _, port = await raw_udp(reply)
    obs = await SipProbe().check(SipOptions(host="127.0.0.1", port=port, timeout=1))
    assert obs.reason == "SIP 503 Service Unavailable"


async def test_udp_concurrent_checks_answered_out_of_order(
    raw_udp: Callable[[Reply], Any],
) -> None:
    # Every request is answered once all have arrived, newest first, each with its own
    # status; every check must get the status meant for it.
    held: list[dict[str, str]] = []
    statuses = [f"{400 + i} Code {i}" for i in range(20)]
    server: ScriptedUdp | None = None

    def reply(request: dict[str, str]) -> list[bytes]:
        held.append(request)
        if len(held) == len(statuses):
            assert server is not None
            assert server.transport is not None
            for number, earlier in reversed(list(enumerate(held))):
                answer = response(statuses[number], earlier)
                server.transport.sendto(answer, ("127.0.0.1", _via_port(earlier)))
        return []

    server, port = await raw_udp(reply)
    probe = SipProbe()
    options = SipOptions(host="127.0.0.1", port=port, timeout=2)
    checks = []
    for _ in statuses:
        checks.append(asyncio.create_task(probe.check(options)))
        await asyncio.sleep(0.01)
    results = await asyncio.gather(*checks)
    await probe.close()
    assert [obs.reason for obs in results] == [f"SIP {status}" for status in statuses]


async def test_closed_ipv6_udp_port_is_port_unreachable() -> None:
    port = free_port(socket.SOCK_DGRAM, "::1")
    obs = await SipProbe().check(SipOptions(host="::1", port=port, timeout=1))
    assert obs.reason == "port unreachable (ICMP)"


async def test_close_fails_a_waiting_request(raw_udp: Callable[[Reply], Any]) -> None:
    server, port = await raw_udp(lambda request: [])
    probe = SipProbe()
    waiting = asyncio.create_task(probe.check(SipOptions(host="127.0.0.1", port=port, timeout=5)))
    await asyncio.sleep(0.1)
    await probe.close()
    obs = await waiting
    assert (obs.status, obs.reason) == (Status.DOWN, "probe closed while waiting for an answer")
    # No retransmission after the close.
    await asyncio.sleep(0.6)
    assert len(server.received) == 1
