"""icmp probe: echo requests through one shared ICMP socket per address family.

Design notes (see NOTES-libraries A2 for why icmplib is not used directly):

- Every raw ICMP socket receives a copy of every ICMP packet reaching the host, so one
  socket per ping makes CPU grow with concurrency x replies. A probe instance therefore
  owns one socket per address family (opened in :meth:`IcmpProbe.start`), read by a single
  ``loop.add_reader`` callback that hands each reply to the burst waiting for it.
- Checks due together go out as one :class:`Burst` (:meth:`IcmpProbe.check_many`, which
  the engine calls with the ICMP checks due in one tick): per host a dict entry and a
  list slot, with no task, future or timer of its own. A burst ends when every request
  is answered, or one reply wait after its last request went out. A sweep of 5,000 hosts
  then costs 1 to 1.5 times the CPU of ``fping -i0`` (``python -m bench icmp``).
- Replies are matched on (source address, identifier, sequence), and echo replies must
  also carry this socket's random payload token. Matching on (identifier, sequence) alone,
  as icmplib does in raw mode, lets another pinger that happens to use the same identifier
  make a dead host look alive.
- An unprivileged datagram socket (``SOCK_DGRAM``/``IPPROTO_ICMP``) is preferred: the
  kernel sets the identifier and delivers only this socket's replies. Its ICMP errors
  arrive on the error queue (``IP_RECVERR``). A raw socket (root) is the fallback; there
  errors arrive as ordinary packets quoting the request, and a kernel filter drops ICMP
  types that cannot be replies.
- A destination-unreachable answer to a request, before any echo reply arrived, ends the
  check at once as DOWN ("host unreachable") instead of waiting for the timeout.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import secrets
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from probes._udp import SO_EE_ORIGIN_LOCAL, enable_error_queue, queued_errors
from probes.base import (
    Observation,
    Probe,
    ProbeOptions,
    ProbeSetupError,
    Status,
    Value,
    safe_text,
)

SocketMode = Literal["auto", "dgram", "raw"]
"""How :class:`IcmpProbe` opens its sockets: "auto" tries "dgram", then "raw"."""

SETUP_HINT = (
    "run as root, or allow unprivileged ICMP: sysctl -w net.ipv4.ping_group_range='0 2147483647'"
)

_SOL_RAW = 255
_ICMP_FILTER = 1
_ICMP6_FILTER = 1
_SO_SNDBUFFORCE = 32
_SO_RCVBUFFORCE = 33

_ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_ERROR_TYPES: dict[int, tuple[int, int]] = {socket.AF_INET: (3, 11), socket.AF_INET6: (1, 3)}

_V4_UNREACHABLE = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    6: "destination network unknown",
    7: "destination host unknown",
    9: "administratively prohibited",
    10: "administratively prohibited",
    13: "administratively prohibited",
}
_V6_UNREACHABLE = {
    0: "network unreachable",
    1: "administratively prohibited",
    3: "host unreachable",
    4: "port unreachable",
    5: "administratively prohibited",
    6: "administratively prohibited",
}
_SEND_ERRORS = {
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.EPERM: "blocked by the local firewall",
    errno.EACCES: "blocked by the local firewall",
}

_PAYLOAD_SIZE = 56
_RECV_SIZE = 2048
_READS_PER_WAKEUP = 512
_SOCKET_BUFFER = 1 << 21
_SEND_RETRY_DELAY = 0.002
_SENDS_PER_YIELD = 256
_REPLY_V4 = struct.Struct("!20xB3xHH")
"""Type, identifier and sequence of an ICMP message behind a 20-byte IPv4 header."""


class IcmpOptions(ProbeOptions):
    """Ping a host: round-trip time, loss and jitter over a few echo requests.

    A check takes at most ``timeout`` for the name lookup plus
    ``(count - 1) * packet_interval + timeout`` for the echo requests.
    """

    host: str
    """Address or name to ping."""
    count: int = Field(default=3, ge=1, le=100)
    """Echo requests per check."""
    packet_interval: float = Field(default=0.2, ge=0.0, le=10)
    """Seconds between echo requests of one check."""
    timeout: float = Field(default=2.0, gt=0, le=60)
    """Seconds to wait for each reply."""
    max_loss_pct: float = Field(default=0.0, ge=0, le=100)
    """Loss above this (but below 100 %) makes the check DEGRADED."""
    max_rtt_ms: float | None = Field(default=None, gt=0)
    """Average RTT above this makes the check DEGRADED."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(family: int, identifier: int, sequence: int, payload: bytes) -> bytes:
    """An ICMP (IPv4) or ICMPv6 echo request with a valid checksum.

    For ICMPv6 the checksum covers a pseudo-header only the kernel knows; the kernel fills
    it in on both raw and datagram ICMPv6 sockets, so it is left zero here.
    """
    header = struct.pack("!BBHHH", _ECHO_REQUEST[family], 0, 0, identifier, sequence)
    if family == socket.AF_INET6:
        return header + payload
    packet = header + payload
    return packet[:2] + struct.pack("!H", checksum(packet)) + packet[4:]


def _read_sysctl(name: str) -> str:
    try:
        # Bytes, not text: decoding through the codec registry may import modules, which
        # fails in a process that has just dropped its privileges.
        with open(f"/proc/sys/{name.replace('.', '/')}", "rb") as f:
            return " ".join(f.read().decode("ascii", "replace").split())
    except OSError:
        return "unknown"


def _setup_error(mode: SocketMode, family: int) -> ProbeSetupError:
    ping_range = _read_sysctl("net.ipv4.ping_group_range")
    groups = f"gid {os.getegid()}"
    what = "ICMPv6" if family == socket.AF_INET6 else "ICMP"
    if mode == "raw":
        return ProbeSetupError(
            f"cannot open a raw {what} socket: that needs root (CAP_NET_RAW); "
            "run as root, or use socket mode 'auto' with unprivileged ICMP allowed"
        )
    if mode == "dgram":
        return ProbeSetupError(
            f"cannot open an unprivileged {what} socket: net.ipv4.ping_group_range is "
            f"'{ping_range}', which excludes {groups}; allow unprivileged ICMP: "
            "sysctl -w net.ipv4.ping_group_range='0 2147483647'"
        )
    return ProbeSetupError(
        f"cannot open an {what} socket: raw sockets need root (CAP_NET_RAW) and "
        f"net.ipv4.ping_group_range is '{ping_range}', which excludes {groups}; {SETUP_HINT}"
    )


def open_icmp_socket(family: int, mode: SocketMode = "auto") -> tuple[socket.socket, bool]:
    """Open a non-blocking ICMP socket for ``family``; return it and whether it is raw.

    "auto" prefers an unprivileged datagram socket, allowed when
    ``net.ipv4.ping_group_range`` includes this process's group, and falls back to a raw
    socket, allowed for root. Raises :class:`ProbeSetupError` (saying what to change) when
    the chosen kind is not permitted, and ``OSError`` when the family itself is missing
    (no IPv6 in the kernel).
    """
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    if mode in ("auto", "dgram"):
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        except PermissionError:
            pass
        else:
            _configure(sock, family, raw=False)
            return sock, False
    if mode in ("auto", "raw"):
        try:
            sock = socket.socket(family, socket.SOCK_RAW, proto)
        except PermissionError:
            pass
        else:
            _configure(sock, family, raw=True)
            return sock, True
    raise _setup_error(mode, family)


def _configure(sock: socket.socket, family: int, *, raw: bool) -> None:
    try:
        sock.setblocking(False)
        for force, plain in (
            (_SO_RCVBUFFORCE, socket.SO_RCVBUF),
            (_SO_SNDBUFFORCE, socket.SO_SNDBUF),
        ):
            # A burst of replies for thousands of targets must not overflow the default
            # ~200 KB buffer; the FORCE variant lifts the rmem_max cap when we are root.
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, _SOCKET_BUFFER)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, plain, _SOCKET_BUFFER)
        if raw and family == socket.AF_INET:
            wanted = (1 << 0) | (1 << 3) | (1 << 11)
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", ~wanted & 0xFFFFFFFF))
        elif raw:
            blocked = [0xFFFFFFFF] * 8
            for icmp_type in (1, 3, 129):
                blocked[icmp_type >> 5] &= ~(1 << (icmp_type & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *blocked))
        else:
            enable_error_queue(sock, family)
            sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
    except BaseException:
        sock.close()
        raise


def _address(sockaddr_host: str) -> str:
    return sockaddr_host.partition("%")[0]


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a request failed: an ICMP error about it, or an error sending it."""

    error: str
    reporter: str | None = None
    """Who sent the ICMP error, when known."""


_Answer = float | _Failure | None
"""How a request ended: the ``time.perf_counter()`` at which its echo reply was read, a
:class:`_Failure`, or None when nothing answered. A bare float keeps the common case (a
reply) free of any allocation."""

_Sockaddr = tuple[str, int] | tuple[str, int, int, int]
_Found = tuple[int, _Sockaddr]
_Key = tuple[str, int]
_LITERALS: dict[str, _Found | None] = {}
_MAX_LITERALS = 100_000
_UNSET = RuntimeError("no result")
"""Placeholder in :meth:`IcmpProbe.check_many`'s results until a job fills the slot."""


def _literal(host: str) -> _Found | None:
    """(family, sockaddr) for an IP address literal, None for anything else.

    The address is written as the kernel writes reply sources (``inet_ntop``), so the
    request key and the reply key agree. Kept per host: a sweep asks for the same
    addresses every interval.
    """
    if host in _LITERALS:
        return _LITERALS[host]
    found = _parse_literal(host)
    if len(_LITERALS) >= _MAX_LITERALS:
        _LITERALS.clear()
    _LITERALS[host] = found
    return found


def _parse_literal(host: str) -> _Found | None:
    if "%" in host:
        return None
    try:
        packed = socket.inet_pton(socket.AF_INET, host)
    except OSError:
        pass
    else:
        return socket.AF_INET, (socket.inet_ntop(socket.AF_INET, packed), 0)
    try:
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return None
    return socket.AF_INET6, (socket.inet_ntop(socket.AF_INET6, packed), 0, 0, 0)


class Burst:
    """Echo requests sent together and awaited together: one each to many targets (a
    sweep), or a series to one target.

    Answers land by position. ``done`` resolves when every request is answered, when
    :meth:`finish` is called (the reply wait is over, or the socket closed), or, with
    ``fail_fast``, when an ICMP error arrives before any echo reply.
    """

    __slots__ = ("answers", "sent_at", "sent", "waiting", "done", "fail_fast")

    def __init__(self, size: int, done: asyncio.Future[None], fail_fast: bool) -> None:
        self.answers: list[_Answer] = [None] * size
        self.sent_at = [0.0] * size
        """The ``time.perf_counter()`` at which each request went out."""
        self.sent = 0
        """Requests sent so far; a series that stopped early sent fewer than its size."""
        self.waiting = size
        self.done = done
        self.fail_fast = fail_fast

    def settle(self, index: int, answer: float | _Failure) -> None:
        """Request ``index`` is answered (the first answer counts)."""
        if self.answers[index] is not None:
            return
        self.answers[index] = answer
        self.waiting -= 1
        if not self.waiting or (
            self.fail_fast
            and isinstance(answer, _Failure)
            and not any(isinstance(a, float) for a in self.answers)
        ):
            self.finish()

    def finish(self) -> None:
        """Stop waiting: requests not answered by now are lost."""
        if not self.done.done():
            self.done.set_result(None)

    def series(self, timeout: float) -> PingResult:
        """The requests sent, as one series of ``timeout`` s reply waits."""
        result = PingResult(sent=self.sent)
        for answer, sent_at in zip(self.answers[: self.sent], self.sent_at, strict=False):
            _add_answer(result, answer, sent_at, timeout)
        return result


@dataclass(slots=True)
class PingResult:
    """What one series of echo requests produced."""

    sent: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    error: str | None = None
    """The first ICMP or send error, e.g. "host unreachable"."""
    reporter: str | None = None
    """The address that reported ``error``, when known."""


class Pinger:
    """One ICMP socket shared by every check of one address family.

    Requests are keyed by (destination address, sequence); the socket's identifier is
    fixed (raw mode: chosen at random and checked on every reply; datagram mode: set and
    checked by the kernel), so the key amounts to (source, identifier, sequence).
    """

    def __init__(self, family: int, mode: SocketMode, loop: asyncio.AbstractEventLoop) -> None:
        self.family = family
        self.sock, self.raw = open_icmp_socket(family, mode)
        self.identifier = secrets.randbelow(1 << 16) if self.raw else self.sock.getsockname()[1]
        self._token = secrets.token_bytes(8)
        self._payload = self._token + bytes(_PAYLOAD_SIZE - len(self._token))
        self._sequence = 0
        self._pending: dict[_Key, tuple[Burst, int]] = {}
        self._loop = loop
        self._echo_reply = _ECHO_REPLY[family]
        self._echo_request = _ECHO_REQUEST[family]
        self._error_types = _ERROR_TYPES[family]
        self._unreachable = _V4_UNREACHABLE if family == socket.AF_INET else _V6_UNREACHABLE
        # Only a raw IPv4 socket hands over the IP header; reply sources need no scope
        # stripping there either.
        self._raw_v4 = self.raw and family == socket.AF_INET
        # The echo request differs only in its sequence number: sum the rest once, so a
        # packet costs one addition and a fold instead of a checksum over 64 bytes.
        template = echo_request(family, self.identifier, 0, self._payload)
        self._template = bytearray(template)
        words = struct.unpack(f"!{len(template) // 2}H", template)
        self._partial = sum(words) - words[1]
        loop.add_reader(self.sock.fileno(), self._on_readable)

    @property
    def mode(self) -> Literal["dgram", "raw"]:
        """The kind of socket in use."""
        return "raw" if self.raw else "dgram"

    def close(self) -> None:
        """Stop reading and close the socket; checks still waiting see their requests lost."""
        if self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
        for burst, _ in self._pending.values():
            burst.finish()
        self._pending.clear()

    def _packet(self, sequence: int) -> bytearray:
        """The echo request for ``sequence``, in a buffer the next call overwrites."""
        if self.family == socket.AF_INET6:
            struct.pack_into("!H", self._template, 6, sequence)
            return self._template
        total = self._partial + sequence
        total = (total >> 16) + (total & 0xFFFF)
        total += total >> 16
        struct.pack_into("!HHH", self._template, 2, ~total & 0xFFFF, self.identifier, sequence)
        return self._template

    async def send(
        self,
        sockaddrs: Sequence[_Sockaddr],
        reply_wait: float,
        interval: float = 0.0,
        fail_fast: bool = False,
    ) -> Burst:
        """Send an echo request to each of ``sockaddrs`` in turn, ``interval`` s apart, then
        wait until every one is answered or ``reply_wait`` s have passed since the last.

        With ``fail_fast`` (a series to one host) an ICMP error before any echo reply ends
        it at once. With no interval (a sweep) the loop runs every few hundred requests,
        so replies are read while the burst goes out and never pile up in the socket.
        """
        loop = self._loop
        burst = Burst(len(sockaddrs), loop.create_future(), fail_fast)
        keys: list[_Key] = []
        pending = self._pending
        sendto = self.sock.sendto
        sent_at = burst.sent_at
        clock = time.perf_counter
        give_up = loop.time() + reply_wait
        try:
            for index, sockaddr in enumerate(sockaddrs):
                if interval and index:
                    await asyncio.wait((burst.done,), timeout=interval)
                    if burst.done.done():
                        break
                    give_up = loop.time() + reply_wait
                elif index % _SENDS_PER_YIELD == _SENDS_PER_YIELD - 1:
                    await asyncio.sleep(0)
                address = sockaddr[0] if self._raw_v4 else _address(sockaddr[0])
                sequence = self._sequence = (self._sequence + 1) & 0xFFFF
                key = (address, sequence)
                if key in pending:
                    key = self._next_key(address)
                pending[key] = (burst, index)
                keys.append(key)
                burst.sent += 1
                sent_at[index] = clock()
                try:
                    sendto(self._packet(key[1]), sockaddr)
                except OSError as exc:
                    await self._resend(burst, index, key, sockaddr, give_up, exc)
            if not burst.done.done():
                timer = loop.call_at(loop.time() + reply_wait, burst.finish)
                try:
                    await burst.done
                finally:
                    timer.cancel()
        finally:
            if burst.waiting:
                for index, key in enumerate(keys):
                    if burst.answers[index] is None and pending.get(key, (None,))[0] is burst:
                        del pending[key]
        return burst

    def _next_key(self, address: str) -> _Key:
        for _ in range(1 << 16):
            self._sequence = (self._sequence + 1) & 0xFFFF
            key = (address, self._sequence)
            if key not in self._pending:
                return key
        return key

    async def _resend(
        self,
        burst: Burst,
        index: int,
        key: _Key,
        sockaddr: _Sockaddr,
        give_up: float,
        error: OSError,
    ) -> None:
        """Send request ``index`` again after the socket refused it with ``error``.

        The first refusal may be a stale asynchronous error (another target's ICMP error
        parked on the socket, handed to whichever call comes next), so it is retried at
        once; a full send buffer is waited out until ``give_up``. A request that cannot
        go out is settled with the reason.
        """
        # A copy: while this waits, other bursts reuse the template.
        packet = bytes(self._packet(key[1]))
        stale_retry = True
        while True:
            if (
                isinstance(error, BlockingIOError | InterruptedError)
                or error.errno == errno.ENOBUFS
            ):
                if self._loop.time() + _SEND_RETRY_DELAY >= give_up:
                    self._resolve(key, _Failure("send buffer full"))
                    return
                await asyncio.sleep(_SEND_RETRY_DELAY)
            elif stale_retry:
                stale_retry = False
            else:
                reason = _SEND_ERRORS.get(error.errno or 0)
                self._resolve(
                    key, _Failure(reason or safe_text(f"send failed: {error.strerror or error}"))
                )
                return
            burst.sent_at[index] = time.perf_counter()
            try:
                self.sock.sendto(packet, sockaddr)
                return
            except OSError as exc:
                error = exc

    def _resolve(self, key: _Key, answer: float | _Failure) -> None:
        entry = self._pending.pop(key, None)
        if entry is not None:
            entry[0].settle(entry[1], answer)

    def _on_readable(self) -> None:
        # Drain everything the kernel holds on each wakeup: one callback, many replies.
        recvfrom = self.sock.recvfrom
        clock = time.perf_counter
        pending = self._pending
        token = self._token
        # The sweep's packet, an echo reply to a raw IPv4 socket with a 20-byte IP header,
        # is matched here; anything else goes through _on_packet.
        fast = self._raw_v4
        echo_reply = self._echo_reply, self.identifier
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, source = recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # A pending asynchronous error is reported (and cleared) by this read; its
                # details wait on the error queue, drained below.
                continue
            if fast and len(data) >= 36 and data[0] == 0x45:
                icmp_type, identifier, sequence = _REPLY_V4.unpack_from(data)
                if (icmp_type, identifier) == echo_reply:
                    if data.startswith(token, 28):
                        entry = pending.pop((source[0], sequence), None)
                        if entry is not None:
                            entry[0].settle(entry[1], clock())
                    continue
            self._on_packet(data, source[0], clock())
        if not self.raw:
            self._drain_error_queue()

    def _on_packet(self, data: bytes, source: str, now: float) -> None:
        start = (data[0] & 0x0F) * 4 if self._raw_v4 and data else 0
        if len(data) < start + 8:
            return
        icmp_type, code, _, identifier, sequence = struct.unpack_from("!BBHHH", data, start)
        if icmp_type == self._echo_reply:
            if self.raw and identifier != self.identifier:
                return
            if not data.startswith(self._token, start + 8):
                return
            self._resolve((source if self._raw_v4 else _address(source), sequence), now)
        elif self.raw and icmp_type in self._error_types:
            quoted = self._quoted_request(data[start + 8 :])
            if quoted is not None:
                failure = _Failure(self._describe(icmp_type, code), _address(source))
                self._resolve(quoted, failure)

    def _quoted_request(self, inner: bytes) -> tuple[str, int] | None:
        """(destination, sequence) of the echo request an ICMP error quotes, if it is ours."""
        if self.family == socket.AF_INET:
            if len(inner) < 20 or inner[9] != socket.IPPROTO_ICMP:
                return None
            header_len = (inner[0] & 0x0F) * 4
            destination = socket.inet_ntop(socket.AF_INET, inner[16:20])
        else:
            if len(inner) < 40 or inner[6] != socket.IPPROTO_ICMPV6:
                return None
            header_len = 40
            destination = socket.inet_ntop(socket.AF_INET6, inner[24:40])
        quoted = inner[header_len : header_len + 8]
        if len(quoted) < 8:
            return None
        icmp_type, _, _, identifier, sequence = struct.unpack("!BBHHH", quoted)
        if icmp_type != self._echo_request or identifier != self.identifier:
            return None
        return destination, sequence

    def _describe(self, icmp_type: int, code: int) -> str:
        if icmp_type == self._error_types[1]:
            return "TTL exceeded in transit"
        return self._unreachable.get(code, f"destination unreachable (code {code})")

    def _drain_error_queue(self) -> None:
        for error in queued_errors(self.sock, self.family, _READS_PER_WAKEUP):
            data = error.payload
            if len(data) < 8 or data[0] != self._echo_request:
                continue
            sequence = struct.unpack_from("!H", data, 6)[0]
            if error.origin == SO_EE_ORIGIN_LOCAL:
                reason = safe_text(os.strerror(error.errno))
            else:
                reason = self._describe(error.icmp_type, error.icmp_code)
            failure = _Failure(reason, error.offender)
            self._resolve((_address(error.destination[0]), sequence), failure)


def _add_answer(result: PingResult, answer: _Answer, sent_at: float, timeout: float) -> None:
    if isinstance(answer, _Failure):
        if result.error is None:
            result.error, result.reporter = answer.error, answer.reporter
    elif answer is not None:
        rtt = answer - sent_at
        # A reply read after the deadline (the expiry timer runs on a coarse grid) is lost.
        if rtt <= timeout:
            result.rtts_ms.append(rtt * 1000)


def _format_ms(value: float) -> str:
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def summarise(options: IcmpOptions, result: PingResult) -> Observation:
    """Turn the replies of one series into a verdict with RTT, loss and jitter values."""
    rtts = result.rtts_ms
    received = len(rtts)
    loss_pct = round(100 * (result.sent - received) / result.sent, 1) if result.sent else 100.0
    values: dict[str, Value] = {
        "rtt_min_ms": None,
        "rtt_avg_ms": None,
        "rtt_max_ms": None,
        "jitter_ms": None,
        "loss_pct": loss_pct,
        "sent": result.sent,
        "received": received,
    }
    if result.reporter is not None:
        values["error_from"] = result.reporter
    if not rtts:
        plural = "" if result.sent == 1 else "s"
        reason = result.error or f"no reply to {result.sent} ping{plural}"
        return Observation(Status.DOWN, reason, None, values)
    if received == 1 and loss_pct <= options.max_loss_pct:
        # The sweep case (one request, one reply), without the series arithmetic.
        rtt = round(rtts[0], 3)
        values["rtt_min_ms"] = values["rtt_avg_ms"] = values["rtt_max_ms"] = rtt
        values["jitter_ms"] = 0.0
        if options.max_rtt_ms is None or rtts[0] <= options.max_rtt_ms:
            return Observation(Status.OK, "", rtt, values)
    avg = sum(rtts) / received
    jitter = (
        sum(abs(b - a) for a, b in zip(rtts, rtts[1:], strict=False)) / (received - 1)
        if received > 1
        else 0.0
    )
    values.update(
        rtt_min_ms=round(min(rtts), 3),
        rtt_avg_ms=round(avg, 3),
        rtt_max_ms=round(max(rtts), 3),
        jitter_ms=round(jitter, 3),
    )
    problems = []
    if loss_pct > options.max_loss_pct:
        problems.append(f"{loss_pct:.0f} % loss")
    if options.max_rtt_ms is not None and avg > options.max_rtt_ms:
        problems.append(f"avg RTT {_format_ms(avg)} ms > {_format_ms(options.max_rtt_ms)} ms")
    if problems:
        return Observation(Status.DEGRADED, ", ".join(problems), round(avg, 3), values)
    return Observation(Status.OK, "", round(avg, 3), values)


def _single(options: IcmpOptions, answer: _Answer, sent_at: float) -> Observation:
    """:func:`summarise` for one echo request, without building the series on the way."""
    if isinstance(answer, float):
        rtt_ms = (answer - sent_at) * 1000
        if answer - sent_at <= options.timeout and (
            options.max_rtt_ms is None or rtt_ms <= options.max_rtt_ms
        ):
            rtt = round(rtt_ms, 3)
            values: dict[str, Value] = {
                "rtt_min_ms": rtt,
                "rtt_avg_ms": rtt,
                "rtt_max_ms": rtt,
                "jitter_ms": 0.0,
                "loss_pct": 0.0,
                "sent": 1,
                "received": 1,
            }
            return Observation(Status.OK, "", rtt, values)
    result = PingResult(sent=1)
    _add_answer(result, answer, sent_at, options.timeout)
    return summarise(options, result)


class IcmpProbe(Probe[IcmpOptions]):
    """Ping hosts through one shared ICMP socket per address family.

    ``socket_mode`` forces a socket kind ("dgram" or "raw"); "auto" prefers unprivileged
    datagram sockets and falls back to raw ones.
    """

    kind = "icmp"
    Options = IcmpOptions
    batched = True
    # A check costs a few packets on a shared socket and no file descriptor, and a burst
    # reads the replies every few hundred requests, so the socket buffers never hold more
    # than that: this only bounds one burst's memory. A lower limit would hold checks
    # back for a whole reply wait, as a burst keeps its slots until it ends.
    concurrency = 10_000

    def __init__(self, socket_mode: SocketMode = "auto") -> None:
        self.socket_mode: SocketMode = socket_mode
        self._pingers: dict[int, Pinger] = {}
        self._ipv6_problem: str | None = None

    @property
    def mode(self) -> Literal["dgram", "raw"] | None:
        """The kind of IPv4 socket opened by :meth:`start` (None before it)."""
        pinger = self._pingers.get(socket.AF_INET)
        return pinger.mode if pinger else None

    @property
    def identifier(self) -> int | None:
        """The ICMP identifier of this probe's IPv4 echo requests (None before start)."""
        pinger = self._pingers.get(socket.AF_INET)
        return pinger.identifier if pinger else None

    async def start(self) -> None:
        """Open the ICMP sockets; raises :class:`ProbeSetupError` when IPv4 ICMP is denied.

        An IPv6 socket is opened too when the host allows it; without one, IPv6 targets
        raise :class:`ProbeSetupError` when checked.
        """
        if self._pingers:
            return
        loop = asyncio.get_running_loop()
        self._pingers[socket.AF_INET] = Pinger(socket.AF_INET, self.socket_mode, loop)
        try:
            self._pingers[socket.AF_INET6] = Pinger(socket.AF_INET6, self.socket_mode, loop)
        except ProbeSetupError as exc:
            self._ipv6_problem = str(exc)
        except OSError as exc:
            self._ipv6_problem = f"IPv6 ICMP is unavailable on this host: {exc.strerror or exc}"

    async def close(self) -> None:
        """Close the sockets."""
        for pinger in self._pingers.values():
            pinger.close()
        self._pingers.clear()

    def deadline(self, options: IcmpOptions) -> float:
        # The name lookup, then the echo series: `timeout` is per reply, not per check.
        return 2 * options.timeout + (options.count - 1) * options.packet_interval

    async def check(self, options: IcmpOptions) -> Observation:
        """Ping ``options.host`` ``count`` times; DOWN when nothing answered."""
        result = (await self.check_many([options]))[0]
        if isinstance(result, Exception):
            raise result
        return result

    async def check_many(self, batch: Sequence[IcmpOptions]) -> list[Observation | Exception]:
        """Check many hosts at once (the engine passes the checks due in one tick).

        Single pings to addresses go out as one burst per address family and reply wait:
        a sweep, with no task, future or timer per host. Names and series run beside it.
        """
        if not self._pingers:
            raise RuntimeError("IcmpProbe.start() must be awaited before check()")
        results: list[Observation | Exception] = [_UNSET] * len(batch)
        sweeps: dict[tuple[int, float], list[tuple[int, _Sockaddr]]] = {}
        others: list[int] = []
        pingers = self._pingers
        for index, options in enumerate(batch):
            found = _literal(options.host) if options.count == 1 else None
            if found is not None and found[0] in pingers:
                sweeps.setdefault((found[0], options.timeout), []).append((index, found[1]))
            else:
                others.append(index)
        jobs = [
            self._sweep(pingers[family], wait, targets, batch, results)
            for (family, wait), targets in sweeps.items()
        ]
        jobs.extend(self._series(batch, index, results) for index in others)
        if len(jobs) == 1:
            await jobs[0]
        else:
            await asyncio.gather(*jobs)
        return results

    @staticmethod
    async def _sweep(
        pinger: Pinger,
        reply_wait: float,
        targets: list[tuple[int, _Sockaddr]],
        batch: Sequence[IcmpOptions],
        results: list[Observation | Exception],
    ) -> None:
        """Ping ``targets`` (index in ``batch``, address) once each, in one burst."""
        try:
            burst = await pinger.send([sockaddr for _, sockaddr in targets], reply_wait)
        except Exception as exc:
            for index, _ in targets:
                results[index] = exc
            return
        for (index, _), answer, sent_at in zip(targets, burst.answers, burst.sent_at, strict=True):
            results[index] = _single(batch[index], answer, sent_at)

    async def _series(
        self, batch: Sequence[IcmpOptions], index: int, results: list[Observation | Exception]
    ) -> None:
        """Check ``batch[index]`` on its own: a series, or a name to look up first."""
        options = batch[index]
        try:
            found = _literal(options.host)
            if found is None:
                try:
                    async with asyncio.timeout(options.timeout):
                        found = await self._lookup(options.host)
                except (OSError, UnicodeError, TimeoutError, LookupError):
                    results[index] = Observation.down(
                        f"cannot resolve {safe_text(options.host, 80)}"
                    )
                    return
            family, sockaddr = found
            pinger = self._pingers.get(family)
            if pinger is None:
                raise ProbeSetupError(self._ipv6_problem or "IPv6 ICMP is unavailable")
            burst = await pinger.send(
                [sockaddr] * options.count, options.timeout, options.packet_interval, True
            )
            results[index] = summarise(options, burst.series(options.timeout))
        except Exception as exc:
            results[index] = exc

    async def _lookup(self, host: str) -> tuple[int, tuple[str, int] | tuple[str, int, int, int]]:
        if "%" not in host:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                pass
            else:
                if ip.version == 4:
                    return socket.AF_INET, (ip.compressed, 0)
                return socket.AF_INET6, (ip.compressed, 0, 0, 0)
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        usable = [info for info in infos if info[0] in self._pingers]
        if not infos:
            raise LookupError(host)
        family, _, _, _, sockaddr = (usable or infos)[0]
        return family, sockaddr  # type: ignore[return-value]
