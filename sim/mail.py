"""A simulated mail server: aiosmtpd with STARTTLS, in the simulator's own event loop."""

from __future__ import annotations

import asyncio
import ssl

from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP

from sim.base import Endpoint
from sim.faults import Fault, FaultKind


class _TrackedSMTP(SMTP):
    """An aiosmtpd session that its endpoint can close at teardown."""

    def __init__(self, owner: SmtpEndpoint, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._owner.connections.add(transport)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        # After STARTTLS aiosmtpd holds the plain transport beside the TLS one.
        for transport in (self.transport, getattr(self, "_original_transport", None)):
            if transport is not None:
                self._owner.connections.discard(transport)
        super().connection_lost(exc)


class SmtpEndpoint(Endpoint):
    """An SMTP server for one ``smtp`` check; offers STARTTLS with the demo CA's certificate.

    Fault: stop listening (connection refused).
    """

    def __init__(
        self, check_id: str, host: str, port: int, *, hostname: str, tls: ssl.SSLContext
    ) -> None:
        super().__init__()
        self.check_id = check_id
        self.host = host
        self.port = port
        self._hostname = hostname
        self._tls = tls
        self._server: asyncio.Server | None = None
        self.connections: set[asyncio.BaseTransport] = set()

    def faults(self) -> list[Fault]:
        return [Fault(FaultKind.REFUSED, self.check_id)]

    def _session(self) -> _TrackedSMTP:
        # The hostname is given because aiosmtpd would otherwise call the blocking
        # socket.getfqdn() for every connection.
        return _TrackedSMTP(
            self,
            handler=Sink(),
            hostname=self._hostname,
            ident="thongsuot-sim ESMTP",
            tls_context=self._tls,
            require_starttls=False,
            timeout=30,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        if self._server is None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                self._session, self.host, self.port, reuse_address=True
            )

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for transport in list(self.connections):
            transport.close()
        self.connections.clear()
        if server is not None:
            await server.wait_closed()
        # Let aiosmtpd's session tasks see their connections go.
        await asyncio.sleep(0)

    async def apply(self, fault: Fault, active: bool) -> None:
        await super().apply(fault, active)
        if active and self._server is not None:
            server, self._server = self._server, None
            server.close()
        elif not active:
            await self.start()
