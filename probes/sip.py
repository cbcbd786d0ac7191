"""sip probe: a SIP OPTIONS "ping" to a video-conference server over UDP or TCP.

The request is a proper RFC 3261 OPTIONS (Via with a ``z9hG4bK`` branch, From tag,
Call-ID, CSeq, Max-Forwards, ``Content-Length: 0``). Only a final response with our
Call-ID and CSeq counts; 1xx provisional responses are skipped. Over UDP the request is
retransmitted on timer E (T1 = 500 ms, doubling up to T2 = 4 s) until the deadline.
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
MAX_DATAGRAM_BYTES = 65_535
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
    target = f"{_uri_host(options.host)}:{options.port}"
    uri = options.request_uri or f"sip:{target}"
    via_host = f"{_uri_host(local_host)}:{local_port}"
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {via_host};branch=z9hG4bK{secrets.token_hex(10)};rport",
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
    return _Request(call_id, cseq, ("\r\n".join(lines) + "\r\n\r\n").encode())


def _matches(response: SipResponse, request: _Request) -> bool:
    cseq = response.header("cseq").split()
    return (
        response.header("call-id") == request.call_id
        and len(cseq) == 2
        and cseq[0] == str(request.cseq)
        and cseq[1].upper() == "OPTIONS"
    )


class SipProbe(Probe[SipOptions]):
    """OPTIONS ping; a final response in ``expect_status`` is OK."""

    kind = "sip"
    Options = SipOptions

    def __init__(self) -> None:
        self._resolver = Resolver()

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
        # A plain connected socket rather than a datagram transport (a third of the
        # check's CPU): connected, so an ICMP port-unreachable comes back from recv as
        # ConnectionRefusedError, and only the server's datagrams are delivered.
        loop = asyncio.get_running_loop()
        family, address = (await self._resolver.resolve(options.host, options.port, _UDP))[0]
        with socket.socket(family, _UDP) as sock:
            sock.setblocking(False)
            sock.connect(address)
            local_host, local_port = sock.getsockname()[:2]
            request = build_options(options, local_host, local_port, "udp")
            interval = T1
            next_send = loop.time()
            while True:
                if loop.time() >= next_send:
                    sock.send(request.data)
                    state.sent += 1
                    next_send = loop.time() + interval
                    # After a provisional response, RFC 3261 retransmits at T2.
                    interval = T2 if state.provisional else min(interval * 2, T2)
                try:
                    async with asyncio.timeout(max(next_send - loop.time(), 0)):
                        data = await loop.sock_recv(sock, MAX_DATAGRAM_BYTES)
                except TimeoutError:
                    continue
                try:
                    head = data.split(b"\r\n\r\n", 1)[0]
                    if len(head) > MAX_HEADER_BYTES:
                        raise SipProtocolError(
                            f"SIP response header larger than {MAX_HEADER_BYTES // 1024} KiB"
                        )
                    response = parse_response(head)
                except SipProtocolError as exc:
                    state.garbage = str(exc)
                    continue
                if not _matches(response, request):
                    continue
                if response.status < 200:
                    state.provisional = response.status
                    continue
                return response

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
