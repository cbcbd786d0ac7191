"""Host names to socket addresses for the probes that open their own sockets.

IP literals never reach the resolver. Names go through the loop's resolver (a thread, as
``getaddrinfo`` blocks) and are cached for ``ttl`` seconds: a monitor asks for the same
few names again and again. A failed lookup is not cached, so the next check asks again.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time
from typing import Any

_INET = (socket.AF_INET, socket.AF_INET6)

Address = tuple[Any, ...]
"""A socket address as ``getaddrinfo`` gives it (IPv6 ones carry flow info and scope)."""


@functools.lru_cache(maxsize=4096)
def literal(host: str) -> tuple[int, str] | None:
    """An IP literal's address family and canonical text (as ``recvfrom`` reports it),
    or ``None`` for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return (socket.AF_INET6 if address.version == 6 else socket.AF_INET), str(address)


class Resolver:
    """``(family, address)`` pairs for a host and port, cached per ``(host, port, type)``.

    Only IPv4 and IPv6 addresses are returned.
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[str, int, int], tuple[float, list[tuple[int, Address]]]] = {}

    async def resolve(
        self, host: str, port: int, kind: int = socket.SOCK_STREAM
    ) -> list[tuple[int, Address]]:
        """The addresses of ``host:port`` in the resolver's order.

        Raises ``socket.gaierror`` when the name does not resolve (or is not a valid name).
        """
        known = literal(host)
        if known is not None:
            return [(known[0], (known[1], port))]
        key = (host, port, kind)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=kind)
        except UnicodeError as exc:
            raise socket.gaierror(socket.EAI_NONAME, f"invalid name: {exc}") from exc
        addresses = [
            (int(info[0]), info[4])
            for info in infos
            if info[0] in (socket.AF_INET, socket.AF_INET6)
        ]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "no addresses")
        self._cache[key] = (now + self.ttl, addresses)
        return addresses
