"""What every simulated listener shares: fault bookkeeping and tracked TCP service."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable

from sim.faults import Fault

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Endpoint(abc.ABC):
    """A simulated server for one check (or one shared server for several).

    ``start`` opens its sockets, ``close`` releases every one of them (listeners and
    accepted connections), and ``apply`` turns one of the faults it offers on or off.
    """

    def __init__(self) -> None:
        self.active: set[Fault] = set()

    @abc.abstractmethod
    def faults(self) -> list[Fault]:
        """The faults this endpoint can suffer."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Open the listening sockets."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every socket, including accepted connections."""

    async def apply(self, fault: Fault, active: bool) -> None:
        """Turn ``fault`` on or off; subclasses extend this for faults that need more
        than a flag (closing a listener)."""
        if active:
            self.active.add(fault)
        else:
            self.active.discard(fault)

    def has(self, *kinds: object) -> bool:
        """Whether a fault of one of ``kinds`` is active."""
        return any(fault.kind in kinds for fault in self.active)


class StreamService:
    """A TCP listener that can stop and start again, and that closes what it accepted.

    ``asyncio.Server.close`` leaves accepted connections open; a simulator that is torn
    down mid-conversation must not leak them (pytest turns the warnings into errors).
    """

    def __init__(
        self,
        host: str,
        port: int,
        handler: StreamHandler,
        *,
        tls: ssl.SSLContext | None = None,
        limit: int = 65536,
    ) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self._tls = tls
        self._limit = limit
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def listen(self) -> None:
        """Start accepting connections (again)."""
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve,
                self.host,
                self.port,
                ssl=self._tls,
                limit=self._limit,
                reuse_address=True,
                backlog=128,
            )

    def stop_listening(self) -> None:
        """Refuse new connections; connections already accepted go on."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def close(self) -> None:
        """Stop listening and drop every accepted connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handler(reader, writer)
        except (
            ConnectionError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ssl.SSLError,
        ):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
