"""A minimal SNMP v2c agent for simulated routers, built on pysnmp's protocol API.

It serves the objects a monitor reads from a router: ``sysDescr``, ``sysObjectID``,
``sysUpTime``, ``sysContact``, ``sysName``, ``sysLocation``, ``ifNumber``, a small
``ifTable`` and ``ifXTable`` with 64-bit octet counters that grow while an interface
is up. GET, GETNEXT and GETBULK are answered; SET is refused; v1 and wrong
communities get no answer, as from a real agent.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api
from pysnmp.proto.api import v2c

from sim.base import Endpoint
from sim.faults import Fault, FaultKind

log = logging.getLogger(__name__)

Oid = tuple[int, ...]

SYS = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)

_MAX_VARBINDS = 400
"""Bound on the varbinds of one response, so a GETBULK cannot outgrow a datagram."""

_UP, _DOWN = 1, 2
WAN_INTERFACE = "GigabitEthernet0/0/0"
"""The simulated router's WAN port (always present)."""
_GENERIC_INTERFACES = (WAN_INTERFACE, "GigabitEthernet0/0/1")


@dataclass(slots=True)
class _Interface:
    index: int
    name: str
    rate_in: int
    """Octets per second received while up."""
    rate_out: int
    octets_in: float = 0.0
    octets_out: float = 0.0
    up: bool = True
    last_change: float = 0.0
    """Seconds after boot of the last oper-status change."""


class SnmpAgent(Endpoint, asyncio.DatagramProtocol):
    """One router's SNMP agent, listening on UDP ``host:port``.

    Faults: an interface goes oper-down, the router reboots (silent while the fault is
    held, then back with sysUpTime and counters restarted), the agent stops answering.
    """

    def __init__(
        self,
        check_id: str,
        host: str,
        port: int,
        *,
        sys_name: str,
        sys_descr: str,
        location: str = "",
        community: str = "public",
        interfaces: Sequence[str] = (),
    ) -> None:
        Endpoint.__init__(self)
        self.check_id = check_id
        self.host = host
        self.port = port
        self._community = community.encode()
        self._watched = list(interfaces)
        names = list(dict.fromkeys([*interfaces, *_GENERIC_INTERFACES]))
        self._interfaces = [
            _Interface(
                index=number,
                name=name,
                rate_in=125_000 + zlib.crc32(f"{check_id}/{name}/in".encode()) % 2_000_000,
                rate_out=60_000 + zlib.crc32(f"{check_id}/{name}/out".encode()) % 1_000_000,
            )
            for number, name in enumerate(names, start=1)
        ]
        self._boot = time.monotonic()
        self._last_tick = self._boot
        self._transport: asyncio.DatagramTransport | None = None
        self._objects = self._build(sys_name, sys_descr, location)
        self._oids = sorted(self._objects)

    def faults(self) -> list[Fault]:
        faults = [Fault(FaultKind.SILENT, self.check_id), Fault(FaultKind.REBOOT, self.check_id)]
        if self._watched:
            faults.append(Fault(FaultKind.IF_DOWN, self.check_id, self._watched[0]))
        return faults

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def apply(self, fault: Fault, active: bool) -> None:
        self._advance()
        await super().apply(fault, active)
        if fault.kind is FaultKind.REBOOT and not active:
            self._boot = self._last_tick = time.monotonic()
            for interface in self._interfaces:
                interface.octets_in = interface.octets_out = 0.0
                interface.last_change = 0.0
        elif fault.kind is FaultKind.IF_DOWN:
            for interface in self._interfaces:
                if interface.name == fault.detail:
                    interface.up = not active
                    interface.last_change = self._uptime()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.has(FaultKind.SILENT, FaultKind.REBOOT):
            return
        reply = self.respond(data)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("SNMP agent %s: %s", self.host, exc)

    def _uptime(self) -> float:
        return time.monotonic() - self._boot

    def _advance(self) -> None:
        """Grow the octet counters of the interfaces that are up."""
        now = time.monotonic()
        elapsed = now - self._last_tick
        self._last_tick = now
        for interface in self._interfaces:
            if interface.up:
                interface.octets_in += interface.rate_in * elapsed
                interface.octets_out += interface.rate_out * elapsed

    def _build(self, sys_name: str, sys_descr: str, location: str) -> dict[Oid, Callable[[], Any]]:
        objects: dict[Oid, Callable[[], Any]] = {
            (*SYS, 1, 0): lambda: v2c.OctetString(sys_descr.encode()),
            (*SYS, 2, 0): lambda: v2c.ObjectIdentifier((1, 3, 6, 1, 4, 1, 9, 1, 1)),
            (*SYS, 3, 0): lambda: v2c.TimeTicks(int(self._uptime() * 100) % 2**32),
            (*SYS, 4, 0): lambda: v2c.OctetString(b"noc@thongsuot.test"),
            (*SYS, 5, 0): lambda: v2c.OctetString(sys_name.encode()),
            (*SYS, 6, 0): lambda: v2c.OctetString(location.encode()),
            IF_NUMBER: lambda: v2c.Integer(len(self._interfaces)),
        }
        for interface in self._interfaces:
            objects.update(self._interface_objects(interface))
        return objects

    def _interface_objects(self, itf: _Interface) -> dict[Oid, Callable[[], Any]]:
        i = itf.index
        name = itf.name.encode()
        return {
            (*IF_ENTRY, 1, i): lambda: v2c.Integer(i),
            (*IF_ENTRY, 2, i): lambda: v2c.OctetString(name),
            (*IF_ENTRY, 3, i): lambda: v2c.Integer(6),
            (*IF_ENTRY, 5, i): lambda: v2c.Gauge32(1_000_000_000),
            (*IF_ENTRY, 7, i): lambda: v2c.Integer(_UP),
            (*IF_ENTRY, 8, i): lambda: v2c.Integer(_UP if itf.up else _DOWN),
            (*IF_ENTRY, 9, i): lambda: v2c.TimeTicks(int(itf.last_change * 100) % 2**32),
            (*IF_ENTRY, 10, i): lambda: v2c.Counter32(int(itf.octets_in) % 2**32),
            (*IF_ENTRY, 16, i): lambda: v2c.Counter32(int(itf.octets_out) % 2**32),
            (*IFX_ENTRY, 1, i): lambda: v2c.OctetString(name),
            (*IFX_ENTRY, 6, i): lambda: v2c.Counter64(int(itf.octets_in) % 2**64),
            (*IFX_ENTRY, 10, i): lambda: v2c.Counter64(int(itf.octets_out) % 2**64),
            (*IFX_ENTRY, 15, i): lambda: v2c.Gauge32(1000),
            (*IFX_ENTRY, 18, i): lambda: v2c.OctetString(b"WAN " + name),
        }

    def _get(self, oid: Oid) -> tuple[Oid, Any]:
        producer = self._objects.get(oid)
        if producer is not None:
            return oid, producer()
        prefix = self._oids[bisect.bisect_left(self._oids, oid) :][:1]
        if prefix and prefix[0][: len(oid)] == oid:
            return oid, v2c.NoSuchInstance()
        return oid, v2c.NoSuchObject()

    def _next(self, oid: Oid) -> tuple[Oid, Any]:
        position = bisect.bisect_right(self._oids, oid)
        if position >= len(self._oids):
            return oid, v2c.EndOfMibView()
        found = self._oids[position]
        return found, self._objects[found]()

    def respond(self, data: bytes) -> bytes | None:
        """The wire response to one request, or ``None`` to stay silent."""
        try:
            if int(api.decodeMessageVersion(data)) != api.SNMP_VERSION_2C:
                return None
            request, _ = decoder.decode(data, asn1Spec=v2c.Message())
        except PyAsn1Error:
            return None
        if bytes(v2c.apiMessage.get_community(request)) != self._community:
            return None
        pdu = v2c.apiMessage.get_pdu(request)
        response = v2c.apiMessage.get_response(request)
        reply_pdu = v2c.apiMessage.get_pdu(response)
        asked = [tuple(oid) for oid, _ in v2c.apiPDU.get_varbinds(pdu)][:_MAX_VARBINDS]
        self._advance()
        if pdu.isSameTypeWith(v2c.GetRequestPDU()):
            varbinds = [self._get(oid) for oid in asked]
        elif pdu.isSameTypeWith(v2c.GetNextRequestPDU()):
            varbinds = [self._next(oid) for oid in asked]
        elif pdu.isSameTypeWith(v2c.GetBulkRequestPDU()):
            varbinds = self._bulk(
                asked,
                int(v2c.apiBulkPDU.get_non_repeaters(pdu)),
                int(v2c.apiBulkPDU.get_max_repetitions(pdu)),
            )
        elif pdu.isSameTypeWith(v2c.SetRequestPDU()):
            v2c.apiPDU.set_error_status(reply_pdu, 17)
            v2c.apiPDU.set_error_index(reply_pdu, 1)
            varbinds = [(oid, v2c.null) for oid in asked]
        else:
            return None
        v2c.apiPDU.set_varbinds(reply_pdu, varbinds)
        return bytes(encoder.encode(response))

    def _bulk(
        self, asked: list[Oid], non_repeaters: int, repetitions: int
    ) -> list[tuple[Oid, Any]]:
        non_repeaters = max(0, min(non_repeaters, len(asked)))
        varbinds = [self._next(oid) for oid in asked[:non_repeaters]]
        cursors = asked[non_repeaters:]
        for _ in range(max(0, repetitions)):
            if not cursors or len(varbinds) + len(cursors) > _MAX_VARBINDS:
                break
            row = [self._next(oid) for oid in cursors]
            varbinds.extend(row)
            cursors = [oid for oid, _ in row]
            if all(isinstance(value, v2c.EndOfMibView) for _, value in row):
                break
        return varbinds
