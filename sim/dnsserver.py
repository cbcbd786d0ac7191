"""A simulated authoritative DNS server (UDP) for every simulated domain."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdata import Rdata

from sim.base import Endpoint, StreamService
from sim.faults import Fault, FaultKind

log = logging.getLogger(__name__)

_TTL = 60


def synthesize(rdtype: str, name: str, address: str) -> list[str]:
    """Plausible record text for ``name`` when the check does not say what to expect."""
    base = name.rstrip(".")
    return {
        "A": [address],
        "AAAA": ["::1"],
        "MX": [f"10 mail.{base}."],
        "CNAME": [f"www.{base}."],
        "NS": [f"ns1.{base}."],
        "TXT": ['"v=spf1 mx -all"'],
        "SOA": [f"ns1.{base}. hostmaster.{base}. 2025070101 3600 600 86400 300"],
    }.get(rdtype.upper(), [])


def parse_records(rdtype: str, texts: Iterable[str]) -> list[Rdata]:
    """Parse record text, forgiving an MX written without its preference."""
    kind = dns.rdatatype.from_text(rdtype.upper())
    parsed: list[Rdata] = []
    for text in texts:
        for candidate in (text, f"10 {text}") if kind == dns.rdatatype.MX else (text,):
            try:
                parsed.append(dns.rdata.from_text(dns.rdataclass.IN, kind, candidate))
                break
            except (dns.exception.DNSException, ValueError):
                continue
        else:
            log.warning("cannot serve %s record %r; skipped", rdtype, text)
    return parsed


class DnsServer(Endpoint, asyncio.DatagramProtocol):
    """Answers A/MX/… over UDP and TCP for the names it was given; NXDOMAIN for the rest.

    Faults are per name and carry the check they were injected for: queries for the
    name are dropped (the client times out) or answered SERVFAIL.
    """

    def __init__(self, host: str, port: int) -> None:
        Endpoint.__init__(self)
        self.host = host
        self.port = port
        self._records: dict[tuple[dns.name.Name, int], list[Rdata]] = {}
        self._names: set[dns.name.Name] = set()
        self._checks: dict[str, dns.name.Name] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._tcp = StreamService(host, port, self._serve_tcp)

    def add(self, name: str, rdtype: str, records: Iterable[Rdata]) -> None:
        """Serve ``records`` for ``name``/``rdtype`` (added to what is there)."""
        key = dns.name.from_text(name)
        kind = dns.rdatatype.from_text(rdtype.upper())
        self._names.add(key)
        bucket = self._records.setdefault((key, kind), [])
        bucket.extend(rdata for rdata in records if rdata not in bucket)

    def watch(self, check_id: str, name: str) -> None:
        """Offer the per-name faults of ``check_id``, which asks about ``name``."""
        self._checks[check_id] = dns.name.from_text(name)

    def checks_asking(self, name: str) -> list[str]:
        """Ids of the checks that ask this server about ``name``."""
        key = dns.name.from_text(name)
        return sorted(check for check, asked in self._checks.items() if asked == key)

    def faults(self) -> list[Fault]:
        return [
            Fault(kind, check_id, asked.to_text(omit_final_dot=True))
            for check_id, asked in sorted(self._checks.items())
            for kind in (FaultKind.DNS_TIMEOUT, FaultKind.DNS_SERVFAIL)
        ]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        await self._tcp.listen()

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        await self._tcp.close()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            async with asyncio.timeout(30):
                size = int.from_bytes(await reader.readexactly(2), "big")
                query = await reader.readexactly(size)
            reply = self.answer(query)
            if reply is not None:
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.answer(data)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS server %s: %s", self.host, exc)

    def _faulted(self, name: dns.name.Name, kind: FaultKind) -> bool:
        return any(
            fault.kind is kind and dns.name.from_text(fault.detail) == name for fault in self.active
        )

    def answer(self, data: bytes) -> bytes | None:
        """The wire reply to one query, or ``None`` to stay silent."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        if query.flags & dns.flags.QR or len(query.question) != 1:
            return None
        question = query.question[0]
        if self._faulted(question.name, FaultKind.DNS_TIMEOUT):
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if self._faulted(question.name, FaultKind.DNS_SERVFAIL):
            response.set_rcode(dns.rcode.SERVFAIL)
        elif question.name not in self._names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            records = self._records.get((question.name, question.rdtype), [])
            if records:
                response.answer.append(dns.rrset.from_rdata_list(question.name, _TTL, records))
        return response.to_wire(max_size=65535)
