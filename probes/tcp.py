"""tcp probe: open a TCP connection within the deadline, then close it cleanly.

The name is resolved first (so a DNS failure reads "cannot resolve …", not a connect
error), then each address is tried in turn until one accepts; nothing is read from the
peer, and the connection is closed with a FIN at once. ``connect_ms`` is the time of the
successful connect alone.
"""

from __future__ import annotations

import asyncio
import socket
import time

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
from probes.resolve import Resolver


class TcpOptions(ProbeOptions):
    """Open a TCP connection and close it."""

    host: str
    """Address or name to connect to."""
    port: int = Field(ge=1, le=65535)
    """TCP port."""
    max_latency_ms: float | None = Field(default=None, gt=0)
    """Connect time above this makes the check DEGRADED."""


class TcpProbe(Probe[TcpOptions]):
    """Check that a port accepts TCP connections (handshake only)."""

    kind = "tcp"
    Options = TcpOptions

    def __init__(self) -> None:
        self._resolver = Resolver()

    async def check(self, options: TcpOptions) -> Observation:
        """Connect within ``options.timeout``; DOWN on refusal, timeout or DNS failure."""
        loop = asyncio.get_running_loop()
        error: str | None = None
        connect_s: float | None = None
        try:
            async with asyncio.timeout(options.timeout):
                try:
                    addresses = await self._resolver.resolve(options.host, options.port)
                except socket.gaierror:
                    return Observation.down(f"cannot resolve {safe_text(options.host, 80)}")
                for family, address in addresses:
                    # A plain non-blocking socket: a stream transport would cost more than
                    # the handshake itself. Closing it sends FIN at once.
                    with socket.socket(family, socket.SOCK_STREAM) as sock:
                        sock.setblocking(False)
                        started = time.perf_counter()
                        try:
                            await loop.sock_connect(sock, address)
                        except OSError as exc:
                            error = error or describe_os_error(exc)
                            continue
                        connect_s = time.perf_counter() - started
                    break
        except TimeoutError:
            if connect_s is None:
                return Observation.down(
                    error or f"connect timeout after {format_seconds(options.timeout)}"
                )
        if connect_s is None:
            return Observation.down(error or "connect failed")
        connect_ms = round(connect_s * 1000, 3)
        values: dict[str, Value] = {"connect_ms": connect_ms}
        limit = options.max_latency_ms
        if limit is not None and connect_ms > limit:
            reason = f"connect {connect_ms:.0f} ms > {limit:g} ms"
            return Observation(Status.DEGRADED, reason, connect_ms, values)
        return Observation(Status.OK, "", connect_ms, values)
