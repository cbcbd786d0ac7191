"""Real servers for probe tests: nginx, dnsmasq, aiosmtpd, raw asyncio servers, a test CA.

Every server listens on 127.0.0.1 on ports picked by binding port 0, so the suite runs
under ``pytest -n auto``. Daemons run in the foreground as child processes with every
file (config, pid, logs, temp) inside a per-session temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import trustme
from aiosmtpd.controller import Controller

import bench
from bench import nginx_config, stop_process, wait_for_tcp

LOOPBACK = "127.0.0.1"
NAMES = ("localhost", LOOPBACK, "web.cantho.test", "mail.cantho.test")
"""Identities of the valid test certificates."""


def free_port(kind: int = socket.SOCK_STREAM, host: str = LOOPBACK) -> int:
    """A port on ``host`` that was free a moment ago (for daemons that cannot bind 0, and
    for a closed port to be refused by)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_tcp_udp_port() -> int:
    """A port free for both TCP and UDP (DNS servers listen on both)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        with socket.socket() as tcp:
            try:
                tcp.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both TCP and UDP")


def closed_port() -> int:
    """A TCP port with no listener (connecting to it is refused)."""
    return free_port()


@dataclass(frozen=True)
class CertFiles:
    """A server certificate chain and key on disk."""

    chain: Path
    key: Path


@dataclass(frozen=True)
class TestPki:
    """A private CA (trustme) and server certificates issued by it."""

    __test__ = False

    ca: trustme.CA
    ca_file: Path
    valid: CertFiles
    near_expiry: CertFiles
    """Valid, but expires in 5 days."""
    expired: CertFiles
    """Expired yesterday."""

    def server_context(self, cert: CertFiles) -> ssl.SSLContext:
        """A server-side context presenting ``cert``."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert.chain, cert.key)
        return ctx


def make_pki(directory: Path) -> TestPki:
    """Issue the CA and the three server certificates into ``directory``."""
    ca = trustme.CA(organization_name="Sở Thông tin và Truyền thông Cần Thơ (test)")
    now = datetime.now(UTC)
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def issue(name: str, not_after: datetime, not_before: datetime | None = None) -> CertFiles:
        leaf = ca.issue_cert(*NAMES, not_before=not_before, not_after=not_after)
        files = CertFiles(directory / f"{name}.pem", directory / f"{name}.key")
        leaf.private_key_pem.write_to_path(str(files.key))
        with files.chain.open("wb") as out:
            for blob in leaf.cert_chain_pems:
                out.write(blob.bytes())
        return files

    return TestPki(
        ca=ca,
        ca_file=ca_file,
        valid=issue("valid", not_after=now + timedelta(days=365)),
        near_expiry=issue("near", not_after=now + timedelta(days=5)),
        expired=issue(
            "expired", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
        ),
    )


_NGINX_LOCATIONS = """
        location = /ok { default_type text/plain; return 200 "ok\\n"; }
        location = /status/503 { return 503; }
        location = /redirect { return 301 /ok; }
        location = /loop { return 302 /loop; }
        location = /json {
            default_type application/json;
            return 200 '{"status": "ok", "checks": {"db": "up", "nodes": [1, 2]}, "ready": true}';
        }
        location = /vi {
            default_type "text/plain; charset=utf-8";
            return 200 "Thành phố Cần Thơ";
        }
        location = /big { default_type application/octet-stream; }
"""


@dataclass(frozen=True)
class Nginx:
    """A running nginx: plain HTTP and three HTTPS ports with different certificates."""

    http_port: int
    https_port: int
    """Valid certificate for :data:`NAMES`, signed by the test CA."""
    https_near_port: int
    """Certificate that expires in 5 days."""
    https_expired_port: int
    """Certificate that expired yesterday."""
    big_size: int
    """Size of ``/big`` in bytes."""


def _nginx_config(root: Path, pki: TestPki, ports: dict[str, int]) -> str:
    def tls_server(port: int, cert: CertFiles) -> str:
        return f"""
    server {{
        listen {LOOPBACK}:{port} ssl;
        ssl_certificate {cert.chain};
        ssl_certificate_key {cert.key};
{_NGINX_LOCATIONS}
    }}"""

    return nginx_config(
        root,
        256,
        f"""    root {root}/www;
    absolute_redirect off;
    server {{
        listen {LOOPBACK}:{ports["http"]};
{_NGINX_LOCATIONS}
    }}
{tls_server(ports["https"], pki.valid)}
{tls_server(ports["near"], pki.near_expiry)}
{tls_server(ports["expired"], pki.expired)}""",
    )


def run_nginx(binary: str, root: Path, pki: TestPki) -> contextlib.AbstractContextManager[Nginx]:
    """Start nginx in the foreground under ``root``; retry if a picked port was taken."""
    (root / "www").mkdir(parents=True, exist_ok=True)
    big_size = 4 << 20
    (root / "www" / "big").write_bytes(bytes(range(256)) * (big_size // 256))

    def configure() -> tuple[str, list[tuple[str, int]], Nginx]:
        ports = {name: free_port() for name in ("http", "https", "near", "expired")}
        running = Nginx(ports["http"], ports["https"], ports["near"], ports["expired"], big_size)
        listens = [(LOOPBACK, port) for port in ports.values()]
        return _nginx_config(root, pki, ports), listens, running

    return bench.run_nginx(binary, root, configure, timeout=5.0)


DNS_ZONE_ARGS = (
    "--local=/cantho.test/",
    "--address=/ninh-kieu.cantho.test/127.0.0.53",
    "--host-record=portal.cantho.test,127.0.0.80,fd00::80",
    "--cname=www.cantho.test,portal.cantho.test",
    "--mx-host=cantho.test,mail.cantho.test,10",
    "--txt-record=cantho.test,v=spf1 mx -all",
    *(f"--txt-record=big.cantho.test,{n}{'x' * 250}" for n in range(8)),
)
"""What the test dnsmasq serves (all names under the private ``.test`` TLD)."""


@contextlib.contextmanager
def run_dnsmasq(binary: str, root: Path) -> Iterator[int]:
    """Start dnsmasq in the foreground on a free UDP+TCP port; yields the port."""
    for attempt in range(5):
        port = free_tcp_udp_port()
        log = root / f"dnsmasq-{port}.log"
        proc = subprocess.Popen(
            [
                binary,
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                f"--port={port}",
                "--pid-file=",
                "--user=root",
                f"--log-facility={log}",
                *DNS_ZONE_ARGS,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_tcp(LOOPBACK, port, proc, "server", timeout=5.0)
        except (RuntimeError, TimeoutError):
            stop_process(proc)
            stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if attempt == 4 or "in use" not in stderr:
                raise RuntimeError(f"dnsmasq did not start: {stderr}") from None
            continue
        try:
            yield port
        finally:
            stop_process(proc)
            if proc.stderr:
                proc.stderr.close()
        return


class EphemeralController(Controller):
    """aiosmtpd's threaded Controller bound to port 0 (the stock one needs a fixed port)."""

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        parent = super()._create_server()

        async def create() -> asyncio.AbstractServer:
            server = await parent
            assert isinstance(server, asyncio.Server)
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


class SinkHandler:
    """aiosmtpd handler that accepts and forgets every message."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"


@contextlib.contextmanager
def run_smtpd(tls_context: ssl.SSLContext | None) -> Iterator[int]:
    """An aiosmtpd server on a free port, offering STARTTLS when given a context."""
    controller = EphemeralController(
        SinkHandler(),
        hostname=LOOPBACK,
        port=0,
        tls_context=tls_context,
        require_starttls=False,
        server_hostname="mail.cantho.test",
        ident="thongsuot test ESMTP",
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


P = TypeVar("P", bound=asyncio.DatagramProtocol)


@contextlib.asynccontextmanager
async def udp_servers() -> AsyncIterator[Callable[[P], Awaitable[int]]]:
    """Yields ``start(protocol) -> port``: serve a datagram protocol on 127.0.0.1 (a port of
    its own); every one started is closed on exit."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.BaseTransport] = []

    async def start(protocol: P) -> int:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: protocol, local_addr=(LOOPBACK, 0)
        )
        transports.append(transport)
        return int(transport.get_extra_info("sockname")[1])

    try:
        yield start
    finally:
        for transport in transports:
            transport.close()


@contextlib.asynccontextmanager
async def raw_server(
    handler: Handler, tls: ssl.SSLContext | None = None, port: int = 0
) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 (``port``, default any) running ``handler`` per connection,
    over TLS with ``tls``; yields its port.

    Connections are closed and handlers cancelled on exit, so a handler may simply
    sleep forever (a server that never answers).
    """
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.add(writer)
        try:
            await handler(reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, LOOPBACK, port, ssl=tls)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        for writer in writers:
            writer.transport.abort()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


@contextlib.contextmanager
def silent_udp_socket() -> Iterator[int]:
    """A bound UDP socket that never answers (a DNS server that is hung); yields its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        yield int(sock.getsockname()[1])


Responder = Callable[[bytes], bytes | None]


class ScriptedUdp(asyncio.DatagramProtocol):
    """Answers each datagram with the datagrams ``answer(data)`` returns (none, one or
    several, any bytes) and keeps every datagram it received, in order."""

    def __init__(self, answer: Callable[[bytes], Iterable[bytes]]) -> None:
        self.answer = answer
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received.append(data)
        assert self.transport is not None
        for reply in self.answer(data):
            self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def udp_server(respond: Responder) -> AsyncIterator[int]:
    """A UDP server on 127.0.0.1:0 answering each datagram with ``respond(data)``."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: ScriptedUdp(lambda data: [] if (reply := respond(data)) is None else [reply]),
        local_addr=(LOOPBACK, 0),
    )
    try:
        yield int(transport.get_extra_info("sockname")[1])
    finally:
        transport.close()


@contextlib.contextmanager
def unaccepting_port() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    to it hangs (a connect timeout without netfilter)."""
    with socket.socket() as listener, contextlib.ExitStack() as fillers:
        listener.bind((LOOPBACK, 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(3):
            filler = fillers.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((LOOPBACK, port))
        yield port
