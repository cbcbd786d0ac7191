"""Cheap simulated targets for the whole-monitor benchmark, run in a process of their own.

``serve(block, addresses, ca_dir, ready, stop)`` listens on ``127.<block>.0.<n>`` for
n = 1..addresses: TCP (accept, close), HTTP and HTTPS (raw one-shot responders), SMTP
(banner, EHLO, QUIT), and raw UDP responders for DNS (one A record), SIP (200 to
OPTIONS) and SNMPv2c (GET of the system group). ICMP to those addresses is answered by
the kernel. Running apart keeps the targets' CPU out of the monitor's figures; the raw
responders (bytes in, bytes out, no protocol library) keep the targets process from
becoming the bottleneck at 100,000 checks a minute, where the simulator's full servers
(dnspython, pysnmp) starved it and its late answers showed as false outages.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
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


class _Dns(asyncio.DatagramProtocol):
    """Answers A queries for ``DNS_NAME`` with ``DNS_ADDRESS``; NXDOMAIN for other names."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 17 or data[2] & 0x80:
            return
        labels = []
        i = 12
        while i < len(data) and data[i]:
            n = data[i]
            labels.append(data[i + 1 : i + 1 + n])
            i += 1 + n
        end = i + 5
        if end > len(data):
            return
        question = data[12:end]
        qtype = data[i + 1 : i + 3]
        known = b".".join(labels).lower() == _DNS_NAME
        rd = data[2] & 0x01
        header = data[:2] + bytes([0x84 | rd, 0x80 if known else 0x83])
        if known and qtype == b"\x00\x01":
            answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04" + _DNS_ADDRESS
            self.transport.sendto(header + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question
                                  + answer, addr)  # fmt: skip
        else:
            self.transport.sendto(header + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question, addr)


class _Sip(asyncio.DatagramProtocol):
    """Answers every SIP request with 200 OK, echoing its Via, From, To, Call-ID and CSeq."""

    _ECHO = (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        if not head or head[0].startswith(b"SIP/2.0"):
            return
        out = [b"SIP/2.0 200 OK"]
        for line in head[1:]:
            name = line.split(b":", 1)[0].strip().lower()
            if name in self._ECHO:
                if name in (b"to", b"t") and b";tag=" not in line:
                    line += b";tag=bench"
                out.append(line)
        out += [b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE", b"Content-Length: 0", b"", b""]
        self.transport.sendto(b"\r\n".join(out), addr)


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the BER element at ``i``."""
    tag, n = data[i], data[i + 1]
    i += 2
    if n & 0x80:
        size = n & 0x7F
        n = int.from_bytes(data[i : i + size], "big")
        i += size
    return tag, i, i + n


def _ber(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + value


class _Snmp(asyncio.DatagramProtocol):
    """SNMPv2c GET of sysDescr, sysUpTime and sysName; noSuchObject for anything else."""

    def __init__(self, name: str) -> None:
        self.started = time.monotonic()
        self.values = {
            bytes.fromhex("2b06010201010100"): _ber(0x04, b"bench"),
            bytes.fromhex("2b06010201010500"): _ber(0x04, name.encode()),
        }

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            reply = self._reply(data)
        except (IndexError, ValueError):
            return
        if reply is not None:
            self.transport.sendto(reply, addr)

    def _reply(self, data: bytes) -> bytes | None:
        tag, start, end = _tlv(data, 0)
        if tag != 0x30:
            return None
        _, v0, v1 = _tlv(data, start)
        version = data[start:v1]
        _, c0, c1 = _tlv(data, v1)
        community = data[v1:c1]
        tag, p0, _ = _tlv(data, c1)
        if tag != 0xA0:
            return None
        _, r0, r1 = _tlv(data, p0)
        request_id = data[p0:r1]
        _, _, e1 = _tlv(data, r1)
        _, _, x1 = _tlv(data, e1)
        _, b0, b1 = _tlv(data, x1)
        bindings = []
        i = b0
        while i < b1:
            _, vb0, vb1 = _tlv(data, i)
            _, o0, o1 = _tlv(data, vb0)
            oid = data[o0:o1]
            if oid == _SYS_UPTIME:
                ticks = int((time.monotonic() - self.started) * 100)
                value = _ber(0x43, ticks.to_bytes((ticks.bit_length() + 8) // 8, "big"))
            else:
                value = self.values.get(oid, b"\x80\x00")
            bindings.append(_ber(0x30, data[vb0:o1] + value))
            i = vb1
        pdu = request_id + b"\x02\x01\x00\x02\x01\x00" + _ber(0x30, b"".join(bindings))
        return _ber(0x30, version + community + _ber(0xA2, pdu))


_DNS_NAME = DNS_NAME.encode()
_DNS_ADDRESS = bytes([198, 19, 0, 1])
_SYS_UPTIME = bytes.fromhex("2b06010201010300")


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
    loop = asyncio.get_running_loop()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(Path(ca_dir) / "cert.pem", Path(ca_dir) / "key.pem")
    servers: list[Any] = []
    transports: list[Any] = []
    for n in range(addresses):
        host = address(block, n)
        servers.append(await loop.create_server(_Close, host, PORTS["tcp"], backlog=1024))
        servers.append(await loop.create_server(_Http, host, PORTS["http"], backlog=1024))
        servers.append(await loop.create_server(_Http, host, PORTS["https"], ssl=tls, backlog=1024))
        servers.append(await loop.create_server(_Smtp, host, PORTS["smtp"], backlog=1024))
        for factory, port in (
            (_Dns, PORTS["dns"]),
            (_Sip, PORTS["sip"]),
            (lambda n=n: _Snmp(f"r{n}"), PORTS["snmp"]),
        ):
            transport, _ = await loop.create_datagram_endpoint(factory, local_addr=(host, port))
            _big_receive_buffer(transport.get_extra_info("socket"))
            transports.append(transport)
    ready.send(True)
    await loop.run_in_executor(None, stop.wait)
    for server in servers:
        server.close()
    for transport in transports:
        transport.close()


def _big_receive_buffer(sock: Any) -> None:
    """Room for a burst of requests: a full receive buffer drops them, a false timeout."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, 4 * 1024 * 1024)
            return
        except OSError:
            continue


def serve(block: int, addresses: int, ca_dir: str, ready: Any, stop: Any) -> None:
    """Process entry point: serve until ``stop`` (a multiprocessing Event) is set."""
    asyncio.run(_serve(block, addresses, ca_dir, ready, stop))
