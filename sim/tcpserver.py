"""A simulated TCP service: accepts connections and waits for the client to hang up."""

from __future__ import annotations

import asyncio

from sim.base import Endpoint, StreamService
from sim.faults import Fault, FaultKind


class TcpEndpoint(Endpoint):
    """A listener for one ``tcp`` check (and for kinds the simulator only knows by host/port).

    Fault: stop listening (connection refused).
    """

    def __init__(self, check_id: str, host: str, port: int) -> None:
        super().__init__()
        self.check_id = check_id
        self.host = host
        self.port = port
        self._service = StreamService(host, port, self._serve)

    def faults(self) -> list[Fault]:
        return [Fault(FaultKind.REFUSED, self.check_id)]

    async def start(self) -> None:
        await self._service.listen()

    async def close(self) -> None:
        await self._service.close()

    async def apply(self, fault: Fault, active: bool) -> None:
        await super().apply(fault, active)
        if active:
            self._service.stop_listening()
        else:
            await self._service.listen()

    @staticmethod
    async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Bounded: a client that neither talks nor hangs up is dropped after a while.
        async with asyncio.timeout(30):
            while await reader.read(4096):
                pass
