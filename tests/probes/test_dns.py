"""The dns probe against a real dnsmasq serving a ``cantho.test`` zone, and odd servers."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any, cast

import dns.flags
import dns.message
import dns.rrset
import pytest
from pydantic import ValidationError

from probes import dns as dns_probe
from probes.base import Status
from probes.dns import DnsOptions, DnsProbe
from tests.probes import servers

pytestmark = pytest.mark.timeout(30)

probe = DnsProbe()


def _options(port: int, name: str, **extra: object) -> DnsOptions:
    return DnsOptions.model_validate(
        {"server": "127.0.0.1", "port": port, "name": name, "timeout": 2.0, **extra}
    )


@pytest.mark.parametrize(
    ("name", "rtype", "expect", "shown"),
    [
        ("ninh-kieu.cantho.test", "A", ["127.0.0.53"], "127.0.0.53"),
        ("portal.cantho.test", "AAAA", ["FD00:0::80"], "fd00::80"),
        ("www.cantho.test", "CNAME", ["Portal.CanTho.test."], "portal.cantho.test"),
        ("www.cantho.test", "A", ["127.0.0.80"], "127.0.0.80"),
        ("cantho.test", "MX", ["10 mail.cantho.test."], "10 mail.cantho.test"),
        ("cantho.test", "MX", ["MAIL.cantho.test"], "10 mail.cantho.test"),
        ("cantho.test", "TXT", ["v=spf1 mx -all"], "v=spf1 mx -all"),
        ("cantho.test", "txt", ['"v=spf1 mx -all"'], "v=spf1 mx -all"),
        ("ninh-kieu.cantho.test", "A", [], "127.0.0.53"),
    ],
)
async def test_records(dnsmasq: int, name: str, rtype: str, expect: list[str], shown: str) -> None:
    obs = await probe.check(_options(dnsmasq, name, type=rtype, expect=expect))
    assert obs.status is Status.OK, obs
    assert obs.reason == shown
    assert obs.values["rcode"] == "NOERROR"
    assert obs.values["answers"] == shown
    assert isinstance(obs.values["ttl"], int)
    assert obs.values["tcp"] is False
    assert obs.latency_ms is not None


async def test_expect_mismatch(dnsmasq: int) -> None:
    obs = await probe.check(_options(dnsmasq, "ninh-kieu.cantho.test", expect=["5.6.7.8"]))
    assert obs.status is Status.DOWN
    assert obs.reason == "answer 127.0.0.53 lacks expected 5.6.7.8"


async def test_mx_preference_mismatch(dnsmasq: int) -> None:
    options = _options(dnsmasq, "cantho.test", type="MX", expect=["20 mail.cantho.test"])
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "answer 10 mail.cantho.test lacks expected 20 mail.cantho.test"


async def test_txt_is_case_sensitive(dnsmasq: int) -> None:
    obs = await probe.check(_options(dnsmasq, "cantho.test", type="TXT", expect=["V=SPF1 MX -ALL"]))
    assert obs.status is Status.DOWN


async def test_nxdomain(dnsmasq: int) -> None:
    obs = await probe.check(_options(dnsmasq, "khong-co.cantho.test"))
    assert obs.status is Status.DOWN
    assert obs.reason == "NXDOMAIN"
    assert obs.values["rcode"] == "NXDOMAIN"


async def test_expected_nxdomain(dnsmasq: int) -> None:
    obs = await probe.check(_options(dnsmasq, "khong-co.cantho.test", expect_rcode="nxdomain"))
    assert obs.status is Status.OK
    assert obs.reason == "NXDOMAIN"


async def test_rcode_mismatch(dnsmasq: int) -> None:
    refused = await probe.check(_options(dnsmasq, "example.org"))
    assert refused.status is Status.DOWN
    assert refused.reason == "REFUSED"
    other = await probe.check(_options(dnsmasq, "khong-co.cantho.test", expect_rcode="SERVFAIL"))
    assert other.reason == "NXDOMAIN, expected SERVFAIL"


async def test_no_data(dnsmasq: int) -> None:
    obs = await probe.check(_options(dnsmasq, "portal.cantho.test", type="MX"))
    assert obs.status is Status.DOWN
    assert obs.reason == "no MX record for portal.cantho.test"


async def test_truncated_answer_falls_back_to_tcp(dnsmasq: int) -> None:
    obs = await probe.check(_options(dnsmasq, "big.cantho.test", type="TXT"))
    assert obs.status is Status.OK, obs
    assert obs.values["answer_count"] == 8
    assert obs.values["tcp"] is True
    assert len(str(obs.values["answers"])) <= 300


async def test_tcp_transport(dnsmasq: int) -> None:
    options = _options(
        dnsmasq, "cantho.test", type="MX", transport="tcp", expect=["mail.cantho.test"]
    )
    obs = await probe.check(options)
    assert obs.status is Status.OK, obs
    assert obs.values["tcp"] is True


async def test_timeout_against_silent_server() -> None:
    with servers.silent_udp_socket() as port:
        obs = await probe.check(_options(port, "cantho.test", timeout=0.3))
    assert obs.status is Status.DOWN
    assert obs.reason == f"no answer from 127.0.0.1:{port} within 300 ms"
    assert obs.latency_ms is None


async def test_tcp_connection_refused() -> None:
    port = servers.closed_port()
    obs = await probe.check(_options(port, "cantho.test", transport="tcp", timeout=1))
    assert obs.status is Status.DOWN
    assert obs.reason == f"connection refused by 127.0.0.1:{port}"


def _authoritative(data: bytes) -> bytes:
    query = dns.message.from_wire(data)
    response = dns.message.make_response(query)
    question = query.question[0]
    if question.rdtype == dns.rdatatype.SOA:
        rdata = "NS1.cantho.test. hostmaster.cantho.test. 2025070101 3600 600 86400 300"
    else:
        rdata = "ns1.cantho.test."
    rtype = dns.rdatatype.to_text(question.rdtype)
    response.answer.append(dns.rrset.from_text(question.name, 300, "IN", rtype, rdata))
    return response.to_wire()


@pytest.mark.parametrize(
    ("rtype", "expect", "shown"),
    [
        ("SOA", "ns1.cantho.test", "ns1.cantho.test hostmaster.cantho.test 2025070101 3600"),
        ("SOA", "ns1.cantho.test. hostmaster.cantho.test. 2025070101 3600 600 86400 300", "ns1"),
        ("NS", "NS1.cantho.test", "ns1.cantho.test"),
    ],
)
async def test_soa_and_ns(rtype: str, expect: str, shown: str) -> None:
    async with servers.udp_server(_authoritative) as port:
        obs = await probe.check(_options(port, "cantho.test", type=rtype, expect=[expect]))
    assert obs.status is Status.OK, obs
    assert obs.reason.startswith(shown)
    assert obs.values["ttl"] == 300


@pytest.mark.parametrize(
    "answer",
    [b"\x00", b"\x80\x00" + b"\xff" * 40, "<b>[red]không phải DNS[/red]</b>".encode()],
)
async def test_malformed_answer(answer: bytes) -> None:
    async with servers.udp_server(lambda data: data[:2] + answer) as port:
        obs = await probe.check(_options(port, "cantho.test", timeout=1))
    assert obs.status is Status.DOWN
    assert obs.reason.startswith(f"malformed answer from 127.0.0.1:{port}: "), obs.reason


async def test_answer_to_another_question() -> None:
    def wrong(data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        other = dns.message.make_query("khac.cantho.test", "A")
        other.id = query.id
        return dns.message.make_response(other).to_wire()

    async with servers.udp_server(wrong) as port:
        obs = await probe.check(_options(port, "cantho.test", timeout=1))
    assert obs.status is Status.DOWN
    assert obs.reason == f"answer from 127.0.0.1:{port} does not match the question"


@pytest.mark.parametrize(
    "bad",
    [
        {"server": "dns.cantho.test", "name": "x.test"},
        {"server": "127.0.0.1", "name": "x.test", "type": "BOGUS"},
        {"server": "127.0.0.1", "name": "x.test", "expect_rcode": "FINE"},
        {"server": "127.0.0.1", "name": "x.test", "transport": "quic"},
        {"server": "127.0.0.1", "name": "a" * 70 + ".test"},
    ],
)
def test_invalid_options(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DnsOptions.model_validate(bad)


def test_options_are_normalised() -> None:
    options = DnsOptions(server="::1", name="x.test", type="mx", expect_rcode="nxdomain")
    assert (options.type, options.expect_rcode) == ("MX", "NXDOMAIN")


def _a_answer(data: bytes, address: str = "127.0.0.9") -> bytes:
    query = dns.message.from_wire(data)
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", address))
    return response.to_wire()


async def test_repeated_answers_are_judged_alike() -> None:
    # The same answer bytes (id aside) are parsed once and reused; the verdicts, the
    # answer and the values must not change between the first and later checks.
    async with servers.udp_server(_a_answer) as port:
        options = _options(port, "lap-lai.cantho.test", expect=["127.0.0.9"])
        first = await probe.check(options)
        again = [await probe.check(options) for _ in range(3)]
    assert first.status is Status.OK, first
    assert all(o.status is Status.OK and o.reason == first.reason for o in again)
    assert all(o.values == first.values for o in again)


async def test_remembered_answer_with_another_id_is_rejected() -> None:
    # Once an answer is known, the same bytes carrying a stale id must still be refused.
    stale: list[bytes] = []

    def respond(data: bytes) -> bytes:
        answer = _a_answer(data)
        if not stale:
            stale.append(answer)
            return answer
        return stale[0]

    async with servers.udp_server(respond) as port:
        options = _options(port, "stale.cantho.test", timeout=1)
        assert (await probe.check(options)).status is Status.OK
        obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == f"answer from 127.0.0.1:{port} does not match the question"


async def test_question_cache_keeps_the_recursion_flag() -> None:
    flags: list[int] = []

    def respond(data: bytes) -> bytes:
        flags.append(dns.message.from_wire(data).flags)
        return _a_answer(data)

    async with servers.udp_server(respond) as port:
        await probe.check(_options(port, "rd.cantho.test"))
        await probe.check(_options(port, "rd.cantho.test", recursion_desired=False))
    assert flags[0] & dns.flags.RD
    assert not flags[1] & dns.flags.RD


class _Collecting(asyncio.DatagramProtocol):
    """Holds queries until ``count`` have arrived, then answers them newest first, each
    with an A record derived from its name (``n7.cantho.test`` → 127.0.1.7)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.held: list[tuple[bytes, Any]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.held.append((data, addr))
        if len(self.held) < self.count:
            return
        assert self.transport is not None
        for query, source in reversed(self.held):
            label = dns.message.from_wire(query).question[0].name.labels[0].decode()
            self.transport.sendto(_a_answer(query, f"127.0.1.{label[1:]}"), source)


async def test_concurrent_queries_get_their_own_answers() -> None:
    # Answered in reverse order over the shared sockets, the same name asked twice too.
    names = [f"n{i}.cantho.test" for i in range(20)] + ["n0.cantho.test"]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Collecting(len(names)), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    probe = DnsProbe()
    try:
        results = await asyncio.gather(*(probe.check(_options(port, name)) for name in names))
    finally:
        transport.close()
        await probe.close()
    assert [obs.reason for obs in results] == [f"127.0.1.{i}" for i in range(20)] + ["127.0.1.0"]


class _AnswerTwice(asyncio.DatagramProtocol):
    """Answers each query first from ``spoofer`` (127.0.0.66), then itself (127.0.0.9)."""

    def __init__(self, spoofer: socket.socket) -> None:
        self.spoofer = spoofer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.spoofer.sendto(_a_answer(data, "127.0.0.66"), addr)
        self.transport.sendto(_a_answer(data), addr)


@pytest.mark.parametrize("spoofer", ["other port", "other address"])
async def test_answer_with_the_right_id_from_elsewhere_is_ignored(spoofer: str) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoofing:
        spoofing.bind(("127.0.0.1", 0))
        port = spoofing.getsockname()[1] if spoofer == "other address" else 0
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _AnswerTwice(spoofing), local_addr=("127.0.0.2", port)
        )
        server_port = transport.get_extra_info("sockname")[1]
        if spoofer == "other address":
            assert server_port == spoofing.getsockname()[1]
        probe = DnsProbe()
        try:
            options = DnsOptions(server="127.0.0.2", port=server_port, name="x.cantho.test")
            results = [await probe.check(options) for _ in range(5)]
        finally:
            transport.close()
            await probe.close()
    assert all(obs.status is Status.OK and obs.reason == "127.0.0.9" for obs in results)


async def test_closed_udp_port_fails_at_once() -> None:
    port = servers.free_port(socket.SOCK_DGRAM)
    started = time.perf_counter()
    obs = await probe.check(_options(port, "cantho.test", timeout=2))
    assert obs.reason == f"connection refused by 127.0.0.1:{port}"
    assert time.perf_counter() - started < 1


async def test_port_unreachable_does_not_spill_onto_the_next_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kernel reports a queued ICMP error to the next send on the socket, whoever it
    # is for: on one shared socket, the refused query and the good one must not mix.
    monkeypatch.setattr(dns_probe, "SOCKETS_PER_FAMILY", 1)
    closed = servers.free_port(socket.SOCK_DGRAM)
    shared = DnsProbe()
    try:
        async with servers.udp_server(_a_answer) as port:
            for _ in range(5):
                refused, answered = await asyncio.gather(
                    shared.check(_options(closed, "cantho.test")),
                    shared.check(_options(port, "ok.cantho.test")),
                )
                assert refused.reason == f"connection refused by 127.0.0.1:{closed}"
                assert answered.status is Status.OK, answered
    finally:
        await shared.close()


async def test_ipv6_server() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: servers.ScriptedUdp(lambda data: [_a_answer(data)]), local_addr=("::1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        obs = await probe.check(DnsOptions(server="::1", port=port, name="v6.cantho.test"))
    finally:
        transport.close()
    assert obs.status is Status.OK, obs
    closed = servers.free_port(socket.SOCK_DGRAM, "::1")
    refused = await probe.check(DnsOptions(server="::1", port=closed, name="v6.cantho.test"))
    assert refused.reason == f"connection refused by ::1:{closed}"


async def test_close_fails_a_waiting_query_and_the_probe_can_be_used_again() -> None:
    own = DnsProbe()
    with servers.silent_udp_socket() as port:
        waiting = asyncio.create_task(own.check(_options(port, "cantho.test", timeout=5)))
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        await own.close()
        obs = await waiting
    assert obs.status is Status.DOWN
    assert obs.reason == "probe closed while waiting for an answer"
    assert time.perf_counter() - started < 0.5
    async with servers.udp_server(_a_answer) as port:
        assert (await own.check(_options(port, "lai.cantho.test"))).status is Status.OK
    fds = len(os.listdir("/proc/self/fd"))
    await own.close()
    assert len(os.listdir("/proc/self/fd")) < fds
