"""dns probe: ask one server for one record and compare the answer.

Asks the configured server directly, never the system resolver, so a check says something
about *that* server: over UDP through a few sockets shared by every check (dnspython
builds and parses the messages; a truncated answer is asked again over TCP), over TCP
with ``dns.asyncquery``.

How ``expect`` values are compared with the answer:

- A/AAAA: as IP addresses (``2001:DB8::1`` equals ``2001:db8:0::1``).
- Names (CNAME, NS, PTR, and the name parts of MX, SRV, SOA): case-insensitive, the
  trailing dot optional (``Mail.CanTho.gov.vn`` equals ``mail.cantho.gov.vn.``).
- MX: either ``"10 mail.cantho.gov.vn"`` (preference and exchange) or just the exchange.
  SRV likewise accepts the full ``"prio weight port target"`` or just the target, SOA the
  full record or just the primary server (mname).
- TXT: the record's strings joined without separators (as SPF does) and compared exactly,
  case included; surrounding double quotes in the expected value are ignored.
- Anything else: dnspython's text form, case-insensitive.

Every ``expect`` value must be present; extra records in the answer are fine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from dataclasses import dataclass
from typing import Literal

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
from pydantic import Field, field_validator

from probes._udp import ProbeClosed, SharedUdp, Sockaddr
from probes.base import Observation, Probe, ProbeOptions, Status, Value, format_seconds, safe_text

_NAME_TYPES = {dns.rdatatype.CNAME, dns.rdatatype.NS, dns.rdatatype.PTR, dns.rdatatype.DNAME}
SOCKETS_PER_FAMILY = 4
"""UDP sockets per address family, each on its own random port, a query going out on
one picked at random: a spoofed answer must hit one of four unknown ports as well as the
16-bit id, while reading them stays one registration per socket."""


class DnsOptions(ProbeOptions):
    """Ask a DNS server for a record and compare the answer."""

    server: str
    """IP address of the server to ask (the system resolver is never used)."""
    port: int = Field(default=53, ge=1, le=65535)
    """Port the server listens on."""
    name: str
    """Name to look up, e.g. ``ninh-kieu.cantho.gov.vn``."""
    type: str = "A"
    """Record type: A, AAAA, MX, CNAME, NS, TXT, SOA (any type dnspython knows works)."""
    expect: list[str] = Field(default_factory=list)
    """Answers that must be present (empty: any answer will do). MX as ``"10 mx.x"`` or
    ``"mx.x"``; names without or with the trailing dot, any case."""
    expect_rcode: str = "NOERROR"
    """Response code that counts as up: NOERROR, NXDOMAIN, SERVFAIL, REFUSED …"""
    transport: Literal["udp", "tcp"] = "udp"
    """``udp`` (retried over TCP when the answer is truncated) or ``tcp`` only."""
    recursion_desired: bool = True
    """Set the RD flag (turn off to check that an authoritative server answers itself)."""

    @field_validator("server")
    @classmethod
    def _check_server(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("must be an IP address, not a host name") from None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a valid DNS name: {exc}") from exc
        return value

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        try:
            return dns.rdatatype.to_text(dns.rdatatype.from_text(value.upper()))
        except dns.exception.DNSException:
            raise ValueError(f"unknown record type {value!r}") from None

    @field_validator("expect_rcode")
    @classmethod
    def _check_rcode(cls, value: str) -> str:
        try:
            return dns.rcode.to_text(dns.rcode.from_text(value.upper()))
        except dns.exception.DNSException:
            raise ValueError(f"unknown rcode {value!r}") from None


class DnsProbe(Probe[DnsOptions]):
    """One query per check, straight to the configured server."""

    kind = "dns"
    Options = DnsOptions

    def __init__(self) -> None:
        self._client = _UdpClient()

    async def close(self) -> None:
        """Close the shared UDP sockets; queries still waiting fail."""
        self._client.close()

    async def check(self, options: DnsOptions) -> Observation:
        """Query ``options.server`` and judge rcode and answers."""
        rdtype = dns.rdatatype.from_text(options.type)
        where = f"{options.server}:{options.port}"
        started = time.perf_counter()
        try:
            async with asyncio.timeout(options.timeout):
                response, used_tcp = await _ask(self._client, rdtype, options)
        except (TimeoutError, dns.exception.Timeout):
            return Observation.down(
                f"no answer from {where} within {format_seconds(options.timeout)}"
            )
        except ConnectionRefusedError:
            return Observation.down(f"connection refused by {where}")
        except ProbeClosed as exc:
            return Observation.down(exc.reason)
        except EOFError:
            return Observation.down(f"{where} closed the connection without an answer")
        except dns.query.BadResponse:
            return Observation.down(f"answer from {where} does not match the question")
        except dns.exception.DNSException as exc:
            return Observation.down(f"malformed answer from {where}: {safe_text(exc, 80)}")
        except OSError as exc:
            return Observation.down(f"cannot reach {where}: {safe_text(exc.strerror or exc, 80)}")
        latency_ms = (time.perf_counter() - started) * 1000
        return _judge(response, used_tcp, rdtype, options, latency_ms)


def _query(
    rdtype: dns.rdatatype.RdataType, options: DnsOptions
) -> tuple[dns.message.Message, bytes]:
    """The question as a message and its wire form without the id (built once per question:
    dnspython takes ~130 µs to build and render one)."""
    key = (options.name, rdtype, options.recursion_desired)
    cached = _QUERIES.get(key)
    if cached is None:
        query = dns.message.make_query(
            options.name, rdtype, use_edns=0, payload=1232, want_dnssec=False
        )
        if not options.recursion_desired:
            query.flags &= ~dns.flags.RD
        if len(_QUERIES) >= _CACHE_SIZE:
            _QUERIES.clear()
        cached = _QUERIES[key] = (query, query.to_wire()[2:])
    return cached


def _fresh(query: dns.message.Message) -> dns.message.Message:
    """A copy of ``query`` with a new random id, for TCP."""
    copy = dns.message.from_wire(query.to_wire())
    copy.id = random.getrandbits(16)
    return copy


async def _ask(
    client: _UdpClient, rdtype: dns.rdatatype.RdataType, options: DnsOptions
) -> tuple[dns.message.Message, bool]:
    query, tail = _query(rdtype, options)
    if options.transport == "tcp":
        response = await dns.asyncquery.tcp(
            _fresh(query), options.server, timeout=options.timeout, port=options.port
        )
        return response, True
    try:
        return await _udp(client, tail, options), False
    except dns.message.Truncated:
        # As dnspython's udp_with_fallback: ask again over TCP (the same deadline applies).
        response = await dns.asyncquery.tcp(
            _fresh(query), options.server, timeout=options.timeout, port=options.port
        )
        return response, True


async def _udp(client: _UdpClient, tail: bytes, options: DnsOptions) -> dns.message.Message:
    """One UDP exchange through the probe's shared sockets.

    The first datagram from the server carrying the query's id is the answer (malformed:
    DNSException; another question: BadResponse; truncated: Truncated). Parsed answers
    are kept by their bytes (the id aside): a monitor gets the same answer to the same
    question again and again, and parsing one costs ~170 µs.
    """
    wire, data = await client.exchange(tail, options.server, options.port)
    key = (tail, data[2:])
    cached = _ANSWERS.get(key)
    if cached is not None:  # the client matched the id already
        return cached
    response = dns.message.from_wire(data, raise_on_truncation=True)
    asked = dns.message.from_wire(wire)
    if not asked.is_response(response):
        raise dns.query.BadResponse
    if len(_ANSWERS) >= _CACHE_SIZE:
        _ANSWERS.clear()
    # Cached only once it matched the question: the same bytes answer it again.
    _ANSWERS[key] = response
    return response


_Key = tuple[socket.socket, str, int, int]
"""Socket, server address and port, message id."""


@dataclass(slots=True, eq=False)
class _Query:
    """A UDP query in flight; the future gets the answer's bytes."""

    future: asyncio.Future[bytes]
    tail: bytes
    """The query's wire form without its id."""


class _UdpClient(SharedUdp[_Key, _Query]):
    """DNS over ``SOCKETS_PER_FAMILY`` shared sockets per address family.

    An answer is matched on the socket it arrived on, the server's address and port
    and the message id; :func:`_udp` then compares the question. A datagram from the
    server under an id no query is waiting for is dropped, unless it answers the
    question of a query waiting on that socket: then, as when every query had a socket
    of its own, that query fails as answered with a mismatched id.
    """

    def __init__(self) -> None:
        super().__init__(SOCKETS_PER_FAMILY)

    async def exchange(self, tail: bytes, server: str, port: int) -> tuple[bytes, bytes]:
        """Send the query ``tail`` (its wire form without the id) under a fresh id;
        return what was sent and the answer's bytes."""
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        sock = self._socket(family)
        qid = random.getrandbits(16)
        key = (sock, server, port, qid)
        while key in self._pending:
            qid = random.getrandbits(16)
            key = (sock, server, port, qid)
        wire = qid.to_bytes(2, "big") + tail
        query = _Query(asyncio.get_running_loop().create_future(), tail)
        self._pending[key] = query
        try:
            self._send(sock, wire, (server, port))
            return wire, await query.future
        finally:
            if self._pending.get(key) is query:
                del self._pending[key]
            if not query.future.done():
                query.future.cancel()

    def _received(self, sock: socket.socket, data: bytes, source: Sockaddr) -> None:
        if len(data) < 2:
            return
        key = (sock, source[0], source[1], int.from_bytes(data[:2], "big"))
        query = self._pending.get(key)
        if query is not None:
            if not query.future.done():
                query.future.set_result(data)
            return
        if len(data) < 12 or data[4:6] != b"\x00\x01":
            return
        for (qsock, server, port, _), query in self._pending.items():
            if (
                qsock is sock
                and server == source[0]
                and port == source[1]
                and data.startswith(_question(query.tail), 12)
                and not query.future.done()
            ):
                query.future.set_exception(dns.query.BadResponse)

    def _refused(self, sock: socket.socket, destination: Sockaddr, payload: bytes) -> None:
        if len(payload) < 2:
            return
        key = (sock, destination[0], destination[1], int.from_bytes(payload[:2], "big"))
        query = self._pending.get(key)
        if query is not None and not query.future.done():
            query.future.set_exception(ConnectionRefusedError())


def _question(tail: bytes) -> bytes:
    """The question section of a query's wire form without its id (one question)."""
    end = 10
    while tail[end]:
        end += tail[end] + 1
    return tail[10 : end + 5]


_CACHE_SIZE = 4096
_QUERIES: dict[tuple[str, dns.rdatatype.RdataType, bool], tuple[dns.message.Message, bytes]] = {}
_ANSWERS: dict[tuple[bytes, bytes], dns.message.Message] = {}


def _judge(
    response: dns.message.Message,
    used_tcp: bool,
    rdtype: dns.rdatatype.RdataType,
    options: DnsOptions,
    latency_ms: float,
) -> Observation:
    rcode = dns.rcode.to_text(response.rcode())
    records: list[dns.rdata.Rdata] = []
    ttl: int | None = None
    for rrset in response.answer:
        if rrset.rdtype == rdtype:
            records.extend(rrset)
            ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
    forms = [_forms(rdata) for rdata in records]
    shown = ", ".join(form[0] for form in forms)
    values: dict[str, Value] = {
        "rcode": rcode,
        "answers": safe_text(shown, 300),
        "answer_count": len(records),
        "ttl": ttl,
        "tcp": used_tcp,
    }
    if rcode != options.expect_rcode:
        reason = (
            rcode
            if options.expect_rcode == "NOERROR"
            else f"{rcode}, expected {options.expect_rcode}"
        )
        return Observation(Status.DOWN, reason, latency_ms, values)
    if options.expect_rcode != "NOERROR":
        return Observation(Status.OK, rcode, latency_ms, values)
    if not records:
        reason = f"no {options.type} record for {safe_text(options.name, 80)}"
        return Observation(Status.DOWN, reason, latency_ms, values)
    present = set().union(*forms)
    missing = [
        value for value in options.expect if _normalise_expected(value, rdtype) not in present
    ]
    if missing:
        reason = (
            f"answer {safe_text(shown, 100)} lacks expected {safe_text(', '.join(missing), 100)}"
        )
        return Observation(Status.DOWN, reason, latency_ms, values)
    return Observation(Status.OK, safe_text(shown, 100), latency_ms, values)


def _name(text: str) -> str:
    return text.lower().rstrip(".")


def _words(text: str) -> str:
    return " ".join(_name(word) for word in text.split())


def _forms(rdata: dns.rdata.Rdata) -> tuple[str, ...]:
    """Every accepted spelling of a record, the display form first."""
    rdtype = rdata.rdtype
    if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return (str(ipaddress.ip_address(rdata.address)),)  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.TXT:
        strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
        return (b"".join(strings).decode("utf-8", errors="replace"),)
    if rdtype in _NAME_TYPES:
        return (_name(rdata.to_text()),)
    if rdtype == dns.rdatatype.MX:
        exchange = _name(rdata.exchange.to_text())  # type: ignore[attr-defined]
        return (f"{rdata.preference} {exchange}", exchange)  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.SRV:
        target = _name(rdata.target.to_text())  # type: ignore[attr-defined]
        return (_words(rdata.to_text()), target)
    if rdtype == dns.rdatatype.SOA:
        return (_words(rdata.to_text()), _name(rdata.mname.to_text()))  # type: ignore[attr-defined]
    return (_words(rdata.to_text()),)


def _normalise_expected(value: str, rdtype: dns.rdatatype.RdataType) -> str:
    if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value.strip()
    if rdtype == dns.rdatatype.TXT:
        text = value.strip()
        return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
    return _words(value)
