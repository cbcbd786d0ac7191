"""sip probe: a SIP OPTIONS "ping" to a video-conference server over UDP or TCP.

The request is a proper RFC 3261 OPTIONS (Via with a ``z9hG4bK`` branch, From tag,
Call-ID, CSeq, Max-Forwards, ``Content-Length: 0``). Only a final response with our
Call-ID, CSeq and Via branch counts; 1xx provisional responses are skipped. Over UDP the
requests of every check share one socket per address family (:mod:`probes._udp`), and a
request is retransmitted on timer E (T1 = 500 ms, doubling up to T2 = 4 s) until the
deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from probes._udp import ProbeClosed, SharedUdp, Sockaddr
from probes.base import (
    Observation,
    Probe,
    ProbeOptions,
    Status,
    Value,
    describe_os_error,
    format_seconds,
    safe_text,
)
from probes.resolve import Resolver, literal

T1 = 0.5
"""RFC 3261 round-trip estimate: the first UDP retransmission interval."""
T2 = 4.0
"""RFC 3261 cap on the retransmission interval of non-INVITE requests."""
MAX_HEADER_BYTES = 16 * 1024
"""A response whose header section is larger than this is malformed for our purposes."""
MAX_BODY_BYTES = 64 * 1024
LOCAL_HOST_TTL_S = 60.0
"""How long the local address towards a server (for Via and From) is reused."""
MAX_LOCAL_HOSTS = 10_000
_UDP = socket.SOCK_DGRAM

COMPACT_HEADERS = {
    "i": "call-id",
    "v": "via",
    "f": "from",
    "t": "to",
    "l": "content-length",
    "m": "contact",
    "c": "content-type",
}


class SipOptions(ProbeOptions):
    """Send a SIP OPTIONS request to a video-conference server."""

    host: str
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    """``udp`` or ``tcp``."""
    expect_status: list[int] = Field(default_factory=lambda: [200])
    """Final status codes that mean the server is fine (a 404 or 405 still proves it is up)."""
    request_uri: str | None = None
    """Request-URI to ask about; default ``sip:<host>:<port>``."""
    from_user: str = Field(default="thongsuot", pattern=r"^[A-Za-z0-9._~-]{1,64}$")
    """User part of the From header, as shown in the server's logs."""


@dataclass(slots=True)
class SipResponse:
    """A parsed SIP response: status, reason phrase and headers (lower-case names)."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


class SipProtocolError(Exception):
    """The peer sent something that is not a SIP response."""


def parse_response(head: bytes) -> SipResponse:
    """Parse a status line and headers (up to the blank line) into a :class:`SipResponse`."""
    text = head.decode("utf-8", errors="replace")
    lines = text.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[0] != "SIP/2.0" or not parts[1].isdigit() or len(parts[1]) != 3:
        raise SipProtocolError(f"not a SIP response: {safe_text(lines[0], 60)!r}")
    headers: dict[str, str] = {}
    last = ""
    for line in lines[1:]:
        if not line:
            break
        if line[0] in " \t" and last:
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise SipProtocolError(f"malformed SIP header: {safe_text(line, 60)!r}")
        key = name.strip().lower()
        key = COMPACT_HEADERS.get(key, key)
        # Repeated headers (several Via) only matter to proxies; keep the first.
        headers.setdefault(key, value.strip())
        last = key
    return SipResponse(int(parts[1]), parts[2].strip() if len(parts) > 2 else "", headers)


@dataclass(slots=True)
class _Request:
    call_id: str
    cseq: int
    branch: str
    data: bytes


def _uri_host(host: str) -> str:
    known = literal(host)
    return f"[{host}]" if known is not None and known[0] == socket.AF_INET6 else host


def build_options(
    options: SipOptions, local_host: str, local_port: int, transport: str
) -> _Request:
    """An OPTIONS request from ``local_host:local_port`` with fresh branch, tag and Call-ID."""
    call_id = f"{secrets.token_hex(12)}@thongsuot"
    cseq = 1
    branch = f"z9hG4bK{secrets.token_hex(10)}"
    target = f"{_uri_host(options.host)}:{options.port}"
    uri = options.request_uri or f"sip:{target}"
    via_host = f"{_uri_host(local_host)}:{local_port}"
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {via_host};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{options.from_user}@{via_host}>;tag={secrets.token_hex(6)}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} OPTIONS",
        f"Contact: <sip:{options.from_user}@{via_host};transport={transport}>",
        "Accept: application/sdp",
        "User-Agent: thongsuot",
        "Content-Length: 0",
    ]
    return _Request(call_id, cseq, branch, ("\r\n".join(lines) + "\r\n\r\n").encode())


def _matches(response: SipResponse, request: _Request) -> bool:
    cseq = response.header("cseq").split()
    return (
        response.header("call-id") == request.call_id
        and len(cseq) == 2
        and cseq[0] == str(request.cseq)
        and cseq[1].upper() == "OPTIONS"
        and f"branch={request.branch}" in response.header("via")
    )


def _parse_datagram(data: bytes) -> SipResponse:
    head = data.split(b"\r\n\r\n", 1)[0]
    if len(head) > MAX_HEADER_BYTES:
        raise SipProtocolError(f"SIP response header larger than {MAX_HEADER_BYTES // 1024} KiB")
    return parse_response(head)


@dataclass(slots=True, eq=False)
class _Exchange:
    """An OPTIONS request in flight over UDP, retransmitted on timer E until answered."""

    future: asyncio.Future[SipResponse]
    sock: socket.socket
    address: Sockaddr
    peer: tuple[str, int]
    request: _Request
    state: _Progress
    interval: float = T1
    timer: asyncio.TimerHandle | None = None


class _UdpClient(SharedUdp[str, _Exchange]):
    """OPTIONS over one shared socket per address family, requests keyed by Call-ID.

    A response counts only from the address and port the request went to, with its
    Call-ID, CSeq and Via branch; anything unparsable from there is noted for the
    timeout reason, as a connected socket per check used to see it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._local_hosts: dict[str, tuple[str, float]] = {}

    async def exchange(
        self, options: SipOptions, family: int, address: Sockaddr, state: _Progress
    ) -> SipResponse:
        """Send OPTIONS to ``address`` and wait for the matching final response."""
        sock = self._socket(family)
        request = build_options(
            options, self._local_host(family, address), sock.getsockname()[1], "udp"
        )
        loop = asyncio.get_running_loop()
        exchange = _Exchange(
            loop.create_future(), sock, address, (address[0], address[1]), request, state
        )
        self._pending[request.call_id] = exchange
        try:
            self._transmit(exchange)
            return await exchange.future
        finally:
            if self._pending.get(request.call_id) is exchange:
                del self._pending[request.call_id]
            if exchange.timer is not None:
                exchange.timer.cancel()
            if not exchange.future.done():
                exchange.future.cancel()

    def _local_host(self, family: int, address: Sockaddr) -> str:
        """The local address the kernel sends from towards ``address`` (for Via and From).

        Asked of a connected throwaway socket (a route lookup, nothing is sent), and kept
        ``LOCAL_HOST_TTL_S`` seconds: the shared socket is bound to the wildcard address.
        """
        now = time.monotonic()
        cached = self._local_hosts.get(address[0])
        if cached is not None and cached[1] > now:
            return cached[0]
        with socket.socket(family, _UDP) as sock:
            sock.connect(address)
            local_host: str = sock.getsockname()[0]
        if len(self._local_hosts) >= MAX_LOCAL_HOSTS:
            self._local_hosts.clear()
        self._local_hosts[address[0]] = (local_host, now + LOCAL_HOST_TTL_S)
        return local_host

    def _transmit(self, exchange: _Exchange) -> None:
        """Send (or resend) the request and arm timer E for the next time."""
        self._send(exchange.sock, exchange.request.data, exchange.address)
        exchange.state.sent += 1
        assert self._loop is not None
        exchange.timer = self._loop.call_later(exchange.interval, self._retransmit, exchange)
        # After a provisional response, RFC 3261 retransmits at T2.
        provisional = exchange.state.provisional is not None
        exchange.interval = T2 if provisional else min(exchange.interval * 2, T2)

    def _retransmit(self, exchange: _Exchange) -> None:
        if exchange.future.done():
            return
        try:
            self._transmit(exchange)
        except OSError as exc:
            exchange.future.set_exception(exc)

    def _received(self, sock: socket.socket, data: bytes, source: Sockaddr) -> None:
        try:
            response = _parse_datagram(data)
        except SipProtocolError as exc:
            for exchange in self._pending.values():
                if exchange.sock is sock and exchange.peer == (source[0], source[1]):
                    exchange.state.garbage = str(exc)
            return
        found = self._pending.get(response.header("call-id"))
        if (
            found is None
            or found.sock is not sock
            or found.peer != (source[0], source[1])
            or not _matches(response, found.request)
            or found.future.done()
        ):
            return
        if response.status < 200:
            found.state.provisional = response.status
            return
        found.future.set_result(response)

    def _refused(self, sock: socket.socket, destination: Sockaddr, payload: bytes) -> None:
        for exchange in self._pending.values():
            if (
                exchange.sock is sock
                and exchange.peer == (destination[0], destination[1])
                and exchange.request.data.startswith(payload)
                and not exchange.future.done()
            ):
                exchange.future.set_exception(ConnectionRefusedError())


class SipProbe(Probe[SipOptions]):
    """OPTIONS ping; a final response in ``expect_status`` is OK."""

    kind = "sip"
    Options = SipOptions

    def __init__(self) -> None:
        self._resolver = Resolver()
        self._udp = _UdpClient()

    async def close(self) -> None:
        """Close the shared UDP sockets; requests still waiting fail."""
        self._udp.close()

    async def check(self, options: SipOptions) -> Observation:
        """Send OPTIONS and wait for the matching final response, within the deadline."""
        started = time.perf_counter()
        state = _Progress()
        try:
            async with asyncio.timeout(options.timeout):
                if options.transport == "udp":
                    response = await self._over_udp(options, state)
                else:
                    response = await self._over_tcp(options, state)
        except TimeoutError:
            return Observation.down(state.timeout_reason(options.timeout))
        except ConnectionRefusedError:
            if options.transport == "udp":
                return Observation.down("port unreachable (ICMP)")
            return Observation.down("connection refused")
        except ProbeClosed as exc:
            return Observation.down(exc.reason)
        except SipProtocolError as exc:
            return Observation.down(str(exc))
        except socket.gaierror:
            return Observation.down(f"cannot resolve {safe_text(options.host, 80)}")
        except OSError as exc:
            return Observation.down(describe_os_error(exc))
        latency_ms = (time.perf_counter() - started) * 1000
        server = response.header("server") or response.header("user-agent")
        values: dict[str, Value] = {
            "sip_status": response.status,
            "sip_server": safe_text(server, 120) if server else None,
        }
        if response.status in options.expect_status:
            return Observation(Status.OK, "", latency_ms, values)
        reason = f"SIP {response.status} {safe_text(response.reason, 60)}".rstrip()
        return Observation(Status.DOWN, reason, latency_ms, values)

    async def _over_udp(self, options: SipOptions, state: _Progress) -> SipResponse:
        family, address = (await self._resolver.resolve(options.host, options.port, _UDP))[0]
        return await self._udp.exchange(options, family, address, state)

    async def _over_tcp(self, options: SipOptions, state: _Progress) -> SipResponse:
        state.stage = "connect timeout"
        reader, writer = await asyncio.open_connection(
            options.host, options.port, limit=MAX_HEADER_BYTES
        )
        try:
            local_host, local_port = writer.get_extra_info("sockname")[:2]
            request = build_options(options, local_host, local_port, "tcp")
            state.stage = "no SIP response"
            writer.write(request.data)
            await writer.drain()
            state.sent += 1
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError as exc:
                    raise SipProtocolError(
                        f"SIP response header larger than {MAX_HEADER_BYTES // 1024} KiB"
                    ) from exc
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        parse_response(exc.partial[:MAX_HEADER_BYTES])
                    raise SipProtocolError("connection closed before a SIP response") from exc
                response = parse_response(head)
                await self._skip_body(reader, response)
                if not _matches(response, request):
                    continue
                if response.status < 200:
                    state.provisional = response.status
                    continue
                return response
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    @staticmethod
    async def _skip_body(reader: asyncio.StreamReader, response: SipResponse) -> None:
        length_text = response.header("content-length") or "0"
        if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
            raise SipProtocolError(
                f"unusable Content-Length in SIP response: {safe_text(length_text, 20)!r}"
            )
        if length := int(length_text):
            await reader.readexactly(length)


@dataclass(slots=True)
class _Progress:
    """How far a check got, for the reason given when its deadline passes."""

    stage: str = "no SIP response"
    sent: int = 0
    provisional: int | None = None
    garbage: str | None = None

    def timeout_reason(self, timeout: float) -> str:
        within = format_seconds(timeout)
        if self.stage == "connect timeout":
            return f"connect timeout after {within}"
        if self.provisional is not None:
            return f"only SIP {self.provisional} (provisional) within {within}"
        if self.garbage is not None:
            return f"no valid SIP response within {within} ({self.garbage})"
        return f"no SIP response within {within}"
