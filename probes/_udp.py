"""UDP sockets shared by every request of a probe, and the ICMP error queue.

Opening, registering and closing a socket per check costs more CPU than the exchange
itself, so the dns and sip probes send every request through a few long-lived
non-blocking sockets per address family, each read by one ``loop.add_reader`` callback.
A subclass of :class:`SharedUdp` keeps its requests in flight in ``_pending`` and matches
each datagram to one of them by source address and port and by the protocol's own ids.

An unconnected socket is not told about ICMP errors through ``recv``: with
``IP_RECVERR``/``IPV6_RECVERR`` the kernel queues them on the socket's error queue
instead, each with the destination and the start of the datagram it is about, so a
"port unreachable" still ends the right request at once, as it would on a connected
socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import socket
import struct
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_LOCAL = 1
MAX_DATAGRAM = 65_535
MAX_READS_PER_WAKEUP = 64
"""Datagrams read from one socket before the event loop runs something else."""
_ERROR_QUEUE_READ = 2048
"""How much of a datagram an ICMP error quotes back is read (the ids are near its start)."""

Sockaddr = tuple[Any, ...]


class ProbeClosed(ConnectionAbortedError):
    """The probe was closed while the request waited for its answer."""

    reason = "probe closed while waiting for an answer"

    def __init__(self) -> None:
        super().__init__(errno.ECONNABORTED, self.reason)


@dataclass(frozen=True, slots=True)
class QueuedError:
    """An error from a socket's error queue (``MSG_ERRQUEUE``)."""

    payload: bytes
    """The start of the datagram the error is about."""
    destination: Sockaddr
    """Where that datagram was sent."""
    errno: int
    origin: int
    """``SO_EE_ORIGIN_*``: 1 local, 2 ICMP, 3 ICMPv6."""
    icmp_type: int
    icmp_code: int
    offender: str | None
    """Who sent the ICMP error, when known."""


def enable_error_queue(sock: socket.socket, family: int) -> None:
    """Have ICMP errors about this socket's datagrams queued for :func:`queued_errors`."""
    if family == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)


def queued_errors(sock: socket.socket, family: int, limit: int) -> Iterator[QueuedError]:
    """Read up to ``limit`` entries of the socket's error queue."""
    level = socket.IPPROTO_IP if family == socket.AF_INET else socket.IPPROTO_IPV6
    kind = IP_RECVERR if family == socket.AF_INET else IPV6_RECVERR
    for _ in range(limit):
        try:
            data, ancillary, _, destination = sock.recvmsg(
                _ERROR_QUEUE_READ, 512, socket.MSG_ERRQUEUE
            )
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue
        if not destination:
            continue
        for cmsg_level, cmsg_type, cmsg_data in ancillary:
            if (cmsg_level, cmsg_type) != (level, kind) or len(cmsg_data) < 16:
                continue
            err_no, origin, icmp_type, code = struct.unpack_from("=IBBB", cmsg_data)
            yield QueuedError(
                data, destination, err_no, origin, icmp_type, code, _offender(cmsg_data[16:])
            )


def _offender(raw: bytes) -> str | None:
    """The address in the ``sockaddr`` that follows a ``sock_extended_err``."""
    if len(raw) >= 8 and struct.unpack_from("=H", raw)[0] == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if len(raw) >= 24 and struct.unpack_from("=H", raw)[0] == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return None


class Pending(Protocol):
    """What :class:`SharedUdp` needs of a request in flight."""

    @property
    def future(self) -> asyncio.Future[Any]: ...


KeyT = TypeVar("KeyT")
RequestT = TypeVar("RequestT", bound=Pending)


class SharedUdp(Generic[KeyT, RequestT]):
    """Up to ``size`` sockets per address family, each on its own random port, shared
    by every request; a request goes out on one picked at random.

    Subclasses implement :meth:`_received` and :meth:`_refused`. Sockets open on first
    use and are closed by :meth:`close` (or when the event loop changes, or when the
    object is garbage-collected); closing fails the requests in ``_pending``.
    """

    def __init__(self, size: int = 1) -> None:
        self._size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: dict[int, list[socket.socket]] = {}
        self._pending: dict[KeyT, RequestT] = {}
        weakref.finalize(self, _close_sockets, self._sockets)

    def _socket(self, family: int) -> socket.socket:
        """A socket of ``family`` for the next request, opened if need be."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self.close()
            self._loop = loop
        pool = self._sockets.setdefault(family, [])
        index = random.randrange(self._size) if self._size > 1 else 0
        if index < len(pool):
            return pool[index]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            enable_error_queue(sock, family)
            sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
            loop.add_reader(sock.fileno(), self._readable, sock)
        except BaseException:
            sock.close()
            raise
        pool.append(sock)
        return sock

    def close(self) -> None:
        """Close the sockets; requests still in flight fail with :class:`ProbeClosed`."""
        loop = self._loop if self._loop is not None and not self._loop.is_closed() else None
        for pool in self._sockets.values():
            for sock in pool:
                if loop is not None:
                    loop.remove_reader(sock.fileno())
        _close_sockets(self._sockets)
        pending = list(self._pending.values())
        self._pending.clear()
        for request in pending:
            # Requests left behind by a closed event loop have nobody waiting any more.
            if loop is not None and not request.future.done():
                request.future.set_exception(ProbeClosed())

    def _send(self, sock: socket.socket, data: bytes, address: Sockaddr) -> None:
        """Send one datagram; a full send buffer loses it, as the network might.

        An ICMP error queued for an earlier datagram is also reported by the next send
        on the socket, whatever its destination: such an error is handed to its own
        request from the error queue and the send is tried again.
        """
        try:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                sock.sendto(data, address)
        except OSError:
            self._drain_errors(sock)
            with contextlib.suppress(BlockingIOError, InterruptedError):
                sock.sendto(data, address)

    def _readable(self, sock: socket.socket) -> None:
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                data, source = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # The summary of a queued ICMP error; the queue says what it was about.
                self._drain_errors(sock)
                continue
            self._received(sock, data, source)

    def _drain_errors(self, sock: socket.socket) -> None:
        for error in queued_errors(sock, sock.family, MAX_READS_PER_WAKEUP):
            # Only a port unreachable ends a request, as on a connected socket; soft
            # errors (host or network unreachable) are left to retries and the deadline.
            if error.errno == errno.ECONNREFUSED and error.origin != SO_EE_ORIGIN_LOCAL:
                self._refused(sock, error.destination, error.payload)

    def _received(self, sock: socket.socket, data: bytes, source: Sockaddr) -> None:
        """A datagram from ``source`` arrived on ``sock``."""
        raise NotImplementedError

    def _refused(self, sock: socket.socket, destination: Sockaddr, payload: bytes) -> None:
        """The datagram starting with ``payload``, sent on ``sock`` to ``destination``,
        came back as port unreachable."""
        raise NotImplementedError


def _close_sockets(sockets: dict[int, list[socket.socket]]) -> None:
    for pool in sockets.values():
        for sock in pool:
            sock.close()
    sockets.clear()
