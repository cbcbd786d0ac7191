"""A simulated video-conference server: answers SIP OPTIONS over UDP or TCP."""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import cast

from sim.base import Endpoint, StreamService
from sim.faults import Fault, FaultKind

log = logging.getLogger(__name__)

_MAX_MESSAGE = 65536
_COPIED = {"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"}
_REASONS = {200: "OK", 501: "Not Implemented", 503: "Service Unavailable"}


def sip_reply(request: bytes, status: int, tag: str) -> bytes | None:
    """The response to one SIP request; ``None`` for ACKs, responses and garbage."""
    head = request.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or parts[0] == "ACK":
        return None
    method = parts[0]
    if method != "OPTIONS" and status == 200:
        status = 501
    out = [f"SIP/2.0 {status} {_REASONS.get(status, 'Unknown')}"]
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or name.strip().lower() not in _COPIED:
            continue
        if name.strip().lower() in {"to", "t"} and ";tag=" not in value:
            line = f"{line};tag={tag}"
        out.append(line)
    if method == "OPTIONS" or status == 501:
        out.append("Allow: OPTIONS, INVITE, ACK, BYE, CANCEL")
    if status == 503:
        out.append("Retry-After: 30")
    out += ["Accept: application/sdp", "Server: thongsuot-sim", "Content-Length: 0"]
    return ("\r\n".join(out) + "\r\n\r\n").encode()


class SipEndpoint(Endpoint, asyncio.DatagramProtocol):
    """A SIP server for one ``sip`` check on ``udp`` or ``tcp``.

    Faults: OPTIONS answered 503, and silence (requests are read and never answered).
    """

    def __init__(self, check_id: str, host: str, port: int, *, transport: str = "udp") -> None:
        Endpoint.__init__(self)
        self.check_id = check_id
        self.host = host
        self.port = port
        self.transport = transport
        self._tag = f"{zlib.crc32(check_id.encode()):08x}"
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: StreamService | None = None

    def faults(self) -> list[Fault]:
        return [Fault(FaultKind.SIP_503, self.check_id), Fault(FaultKind.SILENT, self.check_id)]

    async def start(self) -> None:
        if self.transport == "tcp":
            self._tcp = StreamService(self.host, self.port, self._serve_tcp, limit=_MAX_MESSAGE)
            await self._tcp.listen()
        else:
            loop = asyncio.get_running_loop()
            await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            await self._tcp.close()
            self._tcp = None

    def _reply(self, request: bytes) -> bytes | None:
        if self.has(FaultKind.SILENT):
            return None
        return sip_reply(request, 503 if self.has(FaultKind.SIP_503) else 200, self._tag)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._udp = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self._reply(data)
        if reply is not None and self._udp is not None:
            self._udp.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP server %s: %s", self.host, exc)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() in {b"content-length", b"l"}:
                    try:
                        length = int(value.strip())
                    except ValueError:
                        return
            if not 0 <= length <= _MAX_MESSAGE:
                return
            if length:
                await reader.readexactly(length)
            reply = self._reply(head)
            if reply is not None:
                writer.write(reply)
                await writer.drain()
