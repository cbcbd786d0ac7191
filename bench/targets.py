"""Cheap simulated targets for the whole-monitor benchmark, run in a process of their own.

``serve(block, addresses, ca_dir, ready, stop)`` listens on ``127.<block>.0.<n>`` for
n = 1..addresses: TCP (accept, close), HTTP and HTTPS (raw one-shot responders), SMTP
(banner, EHLO, QUIT), and the simulator's DNS, SIP and SNMP endpoints. ICMP to those
addresses is answered by the kernel. Running apart keeps the targets' CPU out of the
monitor's figures.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

PORTS = {"tcp": 24000, "http": 28080, "https": 28443, "smtp": 22525, "dns": 20053,
         "sip": 25060, "snmp": 21161}  # fmt: skip
"""The port of each kind on every target address."""
DNS_NAME = "bench.thongsuot.test"


def address(block: int, n: int) -> str:
    """The n-th target address (n from 0)."""
    return f"127.{block}.{n // 250}.{n % 250 + 1}"


class _Close(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Http(asyncio.Protocol):
    _RESPONSE = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nok"
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            self.transport.write(self._RESPONSE)
            self.transport.close()
        elif len(self.buffer) > 65536:
            self.transport.close()


class _Smtp(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = b""
        self.transport.write(b"220 bench.thongsuot.test ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.transport.write(b"250-bench.thongsuot.test\r\n250 8BITMIME\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 ok\r\n")


def make_ca(directory: Path, hosts: list[str]) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``hosts``: (ca.pem, cert.pem, key.pem)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(*hosts)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return paths


async def _serve(block: int, addresses: int, ca_dir: str, ready: Any, stop: Any) -> None:
    from sim.dnsserver import DnsServer, parse_records
    from sim.sipserver import SipEndpoint
    from sim.snmpagent import SnmpAgent

    loop = asyncio.get_running_loop()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(Path(ca_dir) / "cert.pem", Path(ca_dir) / "key.pem")
    servers: list[Any] = []
    endpoints: list[Any] = []
    for n in range(addresses):
        host = address(block, n)
        servers.append(await loop.create_server(_Close, host, PORTS["tcp"], backlog=1024))
        servers.append(await loop.create_server(_Http, host, PORTS["http"], backlog=1024))
        servers.append(await loop.create_server(_Http, host, PORTS["https"], ssl=tls, backlog=1024))
        servers.append(await loop.create_server(_Smtp, host, PORTS["smtp"], backlog=1024))
        dns_server = DnsServer(host, PORTS["dns"])
        dns_server.add(DNS_NAME, "A", parse_records("A", ["198.19.0.1"]))
        endpoints += [
            dns_server,
            SipEndpoint(f"bench-{n}.sip", host, PORTS["sip"]),
            SnmpAgent(f"bench-{n}.snmp", host, PORTS["snmp"], sys_name=f"r{n}", sys_descr="bench"),
        ]
    for endpoint in endpoints:
        await endpoint.start()
    ready.send(True)
    await loop.run_in_executor(None, stop.wait)
    for server in servers:
        server.close()
    for endpoint in endpoints:
        await endpoint.close()


def serve(block: int, addresses: int, ca_dir: str, ready: Any, stop: Any) -> None:
    """Process entry point: serve until ``stop`` (a multiprocessing Event) is set."""
    asyncio.run(_serve(block, addresses, ca_dir, ready, stop))
