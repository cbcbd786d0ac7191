"""The simulated province: every listener speaks its protocol, and faults change what
plain clients (aiohttp, dnspython, snmpget, raw SIP, smtplib, ping) see."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import pytest
from icmplib import async_ping

from probes.dns import DnsOptions
from probes.http import HttpOptions
from probes.icmp import IcmpOptions
from probes.sip import SipOptions
from probes.smtp import SmtpOptions
from probes.snmp import SnmpOptions
from probes.tcp import TcpOptions
from sim import Fault, FaultEvent, FaultKind, SimulatedProvince, plan_faults
from sim import netns as sim_netns
from sim.web import json_page
from sites.spec import CheckSpec, ElementType, Lifecycle

SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_OPER_STATUS_1 = "1.3.6.1.2.1.2.2.1.8.1"


def _spec(
    check_id: str,
    kind: str,
    options: object,
    *,
    element_type: ElementType = ElementType.SITE,
    role: str | None = None,
    depends_on: tuple[str, ...] = (),
) -> CheckSpec:
    element = check_id.split(".")[0]
    return CheckSpec(
        id=check_id,
        name=f"Ninh Kiều — {check_id}",
        kind=kind,
        options=options,  # type: ignore[arg-type]
        element=element,
        element_type=element_type,
        datacenter="dc-cantho",
        site=element if element_type is ElementType.SITE else None,
        role=role,
        lifecycle=Lifecycle.ACTIVE,
        interval=60.0,
        retry_interval=10.0,
        fail_after=3,
        recover_after=2,
        depends_on=depends_on,
    )


def _specs() -> list[CheckSpec]:
    dc = ElementType.DATACENTER
    system = ElementType.SYSTEM
    return [
        _spec("dc-cantho.uplink", "icmp", IcmpOptions(host="10.0.0.1"), element_type=dc,
              role="uplink"),
        _spec("dc-cantho.router", "snmp",
              SnmpOptions(host="10.0.0.1", interfaces=["Gi0/0/0"], community="${COMMUNITY}"),
              element_type=dc),
        _spec("ninh-kieu.wan", "icmp", IcmpOptions(host="10.1.0.1"), role="wan",
              depends_on=("dc-cantho.uplink",)),
        _spec("ninh-kieu.portal", "http",
              HttpOptions(url="https://ninhkieu.cantho.gov.vn/gioi-thieu",
                          body_contains="Ninh Kiều"),
              role="portal", depends_on=("ninh-kieu.wan",)),
        _spec("ninh-kieu.old-portal", "http",
              HttpOptions(url="http://ninhkieu.cantho.gov.vn/", expect_status=[301]),
              role="web", depends_on=("ninh-kieu.wan",)),
        _spec("ninh-kieu.dns", "dns",
              DnsOptions(server="10.0.0.53", name="ninhkieu.cantho.gov.vn", type="MX"),
              role="dns"),
        _spec("ninh-kieu.vc_gov", "sip", SipOptions(host="10.1.0.20"), role="vc_gov"),
        _spec("ninh-kieu.vc_party", "sip", SipOptions(host="10.1.0.21", transport="tcp"),
              role="vc_party"),
        _spec("mail.smtp", "smtp", SmtpOptions(host="mail.cantho.gov.vn"), element_type=system,
              role="mail"),
        _spec("lgsp.api", "tcp", TcpOptions(host="lgsp.cantho.gov.vn", port=8443),
              element_type=system),
    ]  # fmt: skip


@pytest.fixture
async def province() -> AsyncIterator[tuple[SimulatedProvince, list[FaultEvent]]]:
    events: list[FaultEvent] = []
    async with SimulatedProvince(
        _specs(), faults=False, use_netns=False, on_fault=events.append
    ) as sim:
        yield sim, events


def _by_id(sim: SimulatedProvince) -> dict[str, CheckSpec]:
    return {spec.id: spec for spec in sim.specs}


def _opt(spec: CheckSpec, name: str) -> object:
    return getattr(spec.options, name)


async def test_specs_point_at_the_simulation(
    province: tuple[SimulatedProvince, list[FaultEvent]],
) -> None:
    sim, _ = province
    original = {spec.id: spec for spec in _specs()}
    assert [spec.id for spec in sim.specs] == list(original)
    for spec in sim.specs:
        assert spec.name == original[spec.id].name
        assert spec.depends_on == original[spec.id].depends_on
        assert (spec.interval, spec.retry_interval) == (5.0, 2.0)
        assert spec.options.timeout <= 2.0
        host = str(getattr(spec.options, "host", getattr(spec.options, "server", "127.")))
        assert host.startswith("127."), spec
    checks = _by_id(sim)
    portal = checks["ninh-kieu.portal"]
    assert str(_opt(portal, "url")).startswith("https://127.")
    assert str(_opt(portal, "url")).endswith("/gioi-thieu")
    ca = await asyncio.to_thread(Path(str(_opt(portal, "ca_file"))).read_text)
    assert ca.startswith("-----BEGIN CERTIFICATE")
    assert _opt(checks["dc-cantho.router"], "community") == "public"
    # Distinct elements never share an address, so a fault hits exactly one of them.
    assert len(set(sim.addresses.values())) == len(sim.addresses) == 4
    assert sim.netns is None
    assert not any(f.kind in (FaultKind.HOST_DOWN, FaultKind.LINK_DOWN) for f in sim.catalogue)


async def test_http_portal_and_its_faults(
    province: tuple[SimulatedProvince, list[FaultEvent]],
) -> None:
    sim, events = province
    checks = _by_id(sim)
    portal = checks["ninh-kieu.portal"]
    old = checks["ninh-kieu.old-portal"]
    url = str(_opt(portal, "url"))
    tls = ssl.create_default_context(cafile=str(_opt(portal, "ca_file")))
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=3),
    ) as session:

        async def fetch() -> tuple[int, str, float]:
            started = time.perf_counter()
            async with session.get(url, ssl=tls) as response:
                body = await response.text()
            return response.status, body, time.perf_counter() - started

        status, body, _ = await fetch()
        assert (status, "Ninh Kiều" in body) == (200, True)
        async with session.get(str(_opt(old, "url")), allow_redirects=False) as response:
            assert response.status == 301

        await sim.inject(Fault(FaultKind.HTTP_503, "ninh-kieu.portal"))
        assert (await fetch())[0] == 503
        assert str(events[-1]) == "fault injected: HTTP 503 on ninh-kieu.portal"
        assert events[-1].checks == ("ninh-kieu.portal",)
        await sim.repair(Fault(FaultKind.HTTP_503, "ninh-kieu.portal"))
        assert events[-1].action == "repaired"

        await sim.inject(Fault(FaultKind.SLOW, "ninh-kieu.portal"))
        status, _, elapsed = await fetch()
        limit = float(str(_opt(portal, "max_latency_ms"))) / 1000
        assert status == 200
        assert limit < elapsed < portal.options.timeout
        await sim.repair(Fault(FaultKind.SLOW, "ninh-kieu.portal"))

        await sim.inject(Fault(FaultKind.WRONG_BODY, "ninh-kieu.portal"))
        status, body, _ = await fetch()
        assert status == 200
        assert "Ninh Kiều" not in body
        await sim.repair(Fault(FaultKind.WRONG_BODY, "ninh-kieu.portal"))

        await sim.inject(Fault(FaultKind.REFUSED, "ninh-kieu.portal"))
        with pytest.raises(aiohttp.ClientConnectorError):
            await fetch()
        await sim.repair(Fault(FaultKind.REFUSED, "ninh-kieu.portal"))
        assert (await fetch())[0] == 200
    assert sim.faults == ()
    assert len(events) == 8


async def test_dns_answers_and_its_faults(
    province: tuple[SimulatedProvince, list[FaultEvent]],
) -> None:
    sim, _ = province
    check = _by_id(sim)["ninh-kieu.dns"]
    server, port = str(_opt(check, "server")), int(str(_opt(check, "port")))

    async def ask(name: str, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype)
        if tcp:
            return await dns.asyncquery.tcp(query, server, port=port, timeout=1)
        return await dns.asyncquery.udp(query, server, port=port, timeout=0.3)

    mx = await ask("ninhkieu.cantho.gov.vn", "MX")
    assert mx.rcode() == dns.rcode.NOERROR
    assert "10 mail.ninhkieu.cantho.gov.vn." in mx.answer[0].to_text()
    a = await ask("ninhkieu.cantho.gov.vn", "A", tcp=True)
    assert a.answer[0][0].to_text() == sim.addresses["ninh-kieu"]
    mail = await ask("mail.cantho.gov.vn", "A")
    assert mail.answer[0][0].to_text() == sim.addresses["mail"]
    assert (await ask("unknown.cantho.gov.vn", "A")).rcode() == dns.rcode.NXDOMAIN

    servfail = Fault(FaultKind.DNS_SERVFAIL, "ninh-kieu.dns", "ninhkieu.cantho.gov.vn")
    await sim.inject(servfail)
    assert (await ask("ninhkieu.cantho.gov.vn", "MX")).rcode() == dns.rcode.SERVFAIL
    assert (await ask("mail.cantho.gov.vn", "A")).rcode() == dns.rcode.NOERROR
    await sim.repair(servfail)

    dropped = Fault(FaultKind.DNS_TIMEOUT, "ninh-kieu.dns", "ninhkieu.cantho.gov.vn")
    assert sim.affected(dropped) == ("ninh-kieu.dns",)
    await sim.inject(dropped)
    with pytest.raises(dns.exception.Timeout):
        await ask("ninhkieu.cantho.gov.vn", "MX")
    await sim.repair(dropped)
    assert (await ask("ninhkieu.cantho.gov.vn", "MX")).rcode() == dns.rcode.NOERROR


async def _snmpget(spec: CheckSpec, *oids: str) -> tuple[int, str]:
    binary = shutil.which("snmpget")
    if binary is None:
        pytest.skip("snmpget is not installed (apt-get install snmp)")
    target = f"{_opt(spec, 'host')}:{_opt(spec, 'port')}"
    process = await asyncio.create_subprocess_exec(
        binary, "-v2c", "-c", "public", "-On", "-t", "0.4", "-r", "0", target, *oids,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


def _ticks(output: str) -> int:
    return int(output.split("Timeticks: (")[1].split(")")[0])


async def test_snmp_agent_and_its_faults(
    province: tuple[SimulatedProvince, list[FaultEvent]],
) -> None:
    sim, _ = province
    router = _by_id(sim)["dc-cantho.router"]
    code, out = await _snmpget(router, SYS_NAME, IF_OPER_STATUS_1, SYS_UPTIME)
    assert code == 0, out
    assert 'STRING: "dc-cantho-rtr"' in out
    assert f".{IF_OPER_STATUS_1} = INTEGER: 1" in out

    bulk = shutil.which("snmpbulkget")
    if bulk is not None:
        target = f"{_opt(router, 'host')}:{_opt(router, 'port')}"
        result = await asyncio.create_subprocess_exec(
            bulk, "-v2c", "-c", "public", "-On", "-Cn0", "-Cr3", target,
            "1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.6",
            stdout=subprocess.PIPE,
        )  # fmt: skip
        text = (await result.communicate())[0].decode()
        assert text.count("Counter64:") == 3
        assert 'STRING: "Gi0/0/0"' in text

    down = Fault(FaultKind.IF_DOWN, "dc-cantho.router", "Gi0/0/0")
    await sim.inject(down)
    assert f".{IF_OPER_STATUS_1} = INTEGER: 2" in (await _snmpget(router, IF_OPER_STATUS_1))[1]
    await sim.repair(down)

    await sim.inject(Fault(FaultKind.SILENT, "dc-cantho.router"))
    code, out = await _snmpget(router, SYS_NAME)
    assert code != 0
    assert "Timeout" in out
    await sim.repair(Fault(FaultKind.SILENT, "dc-cantho.router"))

    before = _ticks((await _snmpget(router, SYS_UPTIME))[1])
    await asyncio.sleep(0.3)
    await sim.inject(Fault(FaultKind.REBOOT, "dc-cantho.router"))
    assert (await _snmpget(router, SYS_NAME))[0] != 0
    await sim.repair(Fault(FaultKind.REBOOT, "dc-cantho.router"))
    assert _ticks((await _snmpget(router, SYS_UPTIME))[1]) < before

    # A wrong community gets silence, as from a real agent.
    target = f"{_opt(router, 'host')}:{_opt(router, 'port')}"
    wrong = await asyncio.create_subprocess_exec(
        "snmpget", "-v2c", "-c", "private", "-t", "0.3", "-r", "0", target, SYS_NAME,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert await wrong.wait() != 0


_call_ids = itertools.count()


def _options_request(host: str, port: int, transport: str) -> bytes:
    call = next(_call_ids)
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:5099;branch=z9hG4bK-test{call}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag=t{call}\r\n"
        f"To: <sip:{host}>\r\n"
        f"Call-ID: test-{call}@thongsuot\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def _sip_udp(host: str, port: int, wait: float = 0.5) -> bytes | None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((host, port))
        await loop.sock_sendall(sock, _options_request(host, port, "udp"))
        try:
            async with asyncio.timeout(wait):
                return await loop.sock_recv(sock, 65535)
        except TimeoutError:
            return None


async def _sip_tcp(host: str, port: int, wait: float = 0.5) -> bytes | None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(_options_request(host, port, "tcp"))
        await writer.drain()
        try:
            async with asyncio.timeout(wait):
                return await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            return None
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize(("check_id", "client"), [("ninh-kieu.vc_gov", _sip_udp),
                                                  ("ninh-kieu.vc_party", _sip_tcp)])  # fmt: skip
async def test_sip_options_and_its_faults(
    province: tuple[SimulatedProvince, list[FaultEvent]],
    check_id: str,
    client: Callable[[str, int, float], Awaitable[bytes | None]],
) -> None:
    sim, _ = province
    check = _by_id(sim)[check_id]
    host, port = str(_opt(check, "host")), int(str(_opt(check, "port")))

    async def ask(wait: float = 0.5) -> bytes:
        return await client(host, port, wait) or b""

    reply = await ask()
    assert reply.startswith(b"SIP/2.0 200 OK\r\n")
    assert b"CSeq: 1 OPTIONS" in reply
    assert b"Call-ID: test-" in reply

    await sim.inject(Fault(FaultKind.SIP_503, check_id))
    assert (await ask()).startswith(b"SIP/2.0 503 ")
    await sim.repair(Fault(FaultKind.SIP_503, check_id))

    await sim.inject(Fault(FaultKind.SILENT, check_id))
    assert await ask(0.3) == b""
    await sim.repair(Fault(FaultKind.SILENT, check_id))
    assert (await ask()).startswith(b"SIP/2.0 200 OK")


def _smtp_session(host: str, port: int, ca_file: str) -> tuple[str, str]:
    with smtplib.SMTP(host, port, timeout=3) as client:
        code, banner = client.ehlo("test.thongsuot")
        assert code == 250
        assert client.has_extn("starttls")
        client.starttls(context=ssl.create_default_context(cafile=ca_file))
        code, after = client.ehlo("test.thongsuot")
        assert code == 250
        return banner.decode(), after.decode()


async def test_smtp_starttls_and_refusal(
    province: tuple[SimulatedProvince, list[FaultEvent]],
) -> None:
    sim, _ = province
    mail = _by_id(sim)["mail.smtp"]
    host, port = str(_opt(mail, "host")), int(str(_opt(mail, "port")))
    banner, _ = await asyncio.to_thread(_smtp_session, host, port, str(_opt(mail, "ca_file")))
    assert banner.startswith("mail.cantho.gov.vn")

    await sim.inject(Fault(FaultKind.REFUSED, "mail.smtp"))
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(host, port)
    await sim.repair(Fault(FaultKind.REFUSED, "mail.smtp"))
    reader, writer = await asyncio.open_connection(host, port)
    assert (await reader.readline()).startswith(b"220 ")
    writer.close()
    await writer.wait_closed()


async def test_tcp_service_refuses_while_faulted(
    province: tuple[SimulatedProvince, list[FaultEvent]],
) -> None:
    sim, _ = province
    api = _by_id(sim)["lgsp.api"]
    host, port = str(_opt(api, "host")), int(str(_opt(api, "port")))
    _, writer = await asyncio.open_connection(host, port)
    await sim.inject(Fault(FaultKind.REFUSED, "lgsp.api"))
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(host, port)
    await sim.repair(Fault(FaultKind.REFUSED, "lgsp.api"))
    _, second = await asyncio.open_connection(host, port)
    for open_writer in (writer, second):
        open_writer.close()
        await open_writer.wait_closed()


async def test_unknown_fault_is_refused(
    province: tuple[SimulatedProvince, list[FaultEvent]],
) -> None:
    sim, _ = province
    with pytest.raises(KeyError):
        await sim.inject(Fault(FaultKind.HTTP_503, "no-such.check"))


async def test_teardown_frees_every_port() -> None:
    async with SimulatedProvince(_specs(), faults=False, use_netns=False) as sim:
        portal = _by_id(sim)["ninh-kieu.portal"]
        url = str(_opt(portal, "url"))
        host, port = url.split("//")[1].split("/")[0].split(":")
        _, writer = await asyncio.open_connection(host, int(port), ssl=False)
    # The server end of the open connection was closed by the province.
    writer.close()
    await writer.wait_closed()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((host, int(port)))


def test_fault_plan_is_deterministic_and_bounded() -> None:
    catalogue = [Fault(FaultKind.HTTP_503, f"site-{n}.portal") for n in range(6)]
    catalogue += [Fault(FaultKind.REFUSED, "site-0.portal")]
    first = list(itertools.islice(plan_faults(catalogue, seed=7, max_active=2), 60))
    again = list(itertools.islice(plan_faults(catalogue, seed=7, max_active=2), 60))
    other = list(itertools.islice(plan_faults(catalogue, seed=8, max_active=2), 60))
    assert first == again
    assert first != other
    active: set[Fault] = set()
    last = 0.0
    for step in first:
        assert step.at >= last
        last = step.at
        if step.action == "inject":
            assert step.fault.target not in {fault.target for fault in active}
            active.add(step.fault)
            assert len(active) <= 2
        else:
            active.remove(step.fault)
    gaps = [b.at - a.at for a, b in itertools.pairwise(s for s in first if s.action == "inject")]
    assert min(gaps) >= 15.0


async def test_injector_follows_the_seeded_plan() -> None:
    events: list[FaultEvent] = []
    done = asyncio.Event()

    async def record(event: FaultEvent) -> None:
        events.append(event)
        if len(events) >= 6:
            done.set()

    async with SimulatedProvince(
        _specs(),
        seed=3,
        use_netns=False,
        on_fault=record,
        fault_gap=(0.05, 0.1),
        fault_hold=(0.1, 0.2),
        max_faults=2,
    ) as sim:
        async with asyncio.timeout(10):
            await done.wait()
        catalogue = sim.catalogue
    plan = plan_faults(catalogue, seed=3, gap=(0.05, 0.1), hold=(0.1, 0.2), max_active=2)
    expected = [(step.action, step.fault) for step in itertools.islice(plan, 6)]
    seen = [("inject" if e.action == "injected" else "repair", e.fault) for e in events[:6]]
    assert seen == expected
    assert all(event.at.tzinfo is not None for event in events)


async def _alive(address: str, *, tries: int = 3) -> bool:
    for _ in range(tries):
        host = await async_ping(address, count=1, timeout=0.5, privileged=True)
        if host.is_alive:
            return True
    return False


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.mark.netns
async def test_wan_faults_in_a_network_namespace() -> None:
    events: list[FaultEvent] = []
    async with SimulatedProvince(
        _specs(), faults=False, use_netns=True, on_fault=events.append
    ) as sim:
        assert sim.netns is not None
        assert sim.netns in _namespaces()
        checks = _by_id(sim)
        uplink = str(_opt(checks["dc-cantho.uplink"], "host"))
        wan = str(_opt(checks["ninh-kieu.wan"], "host"))
        assert uplink.startswith("198.19.")
        assert wan.startswith("198.19.")
        assert await _alive(uplink)
        assert await _alive(wan)

        router = Fault(FaultKind.HOST_DOWN, "ninh-kieu.wan")
        await sim.inject(router)
        assert not await _alive(wan, tries=1)
        assert await _alive(uplink)
        await sim.repair(router)
        assert await _alive(wan)

        link = Fault(FaultKind.LINK_DOWN, "dc-cantho")
        assert set(sim.affected(link)) == {"dc-cantho.uplink", "ninh-kieu.wan"}
        await sim.inject(link)
        assert str(events[-1]) == "fault injected: uplink down at dc-cantho"
        assert not await _alive(uplink, tries=1)
        assert not await _alive(wan, tries=1)
        await sim.repair(link)
        assert await _alive(uplink, tries=5)
        assert await _alive(wan, tries=5)
        name = sim.netns
        route = await asyncio.to_thread(
            subprocess.run, ["ip", "route", "get", uplink], capture_output=True, text=True
        )
        veth = route.stdout.split(" dev ")[1].split()[0]
    assert name not in _namespaces()
    # The range may already serve another test worker's province, never through our veth.
    gone = await asyncio.to_thread(
        subprocess.run, ["ip", "link", "show", veth], capture_output=True, text=True
    )
    assert gone.returncode != 0


@pytest.mark.netns
def test_stale_namespaces_of_dead_processes_are_removed() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    stale = f"{sim_netns.PREFIX}{child.pid}"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in sim_netns.clean_stale()
        assert stale not in _namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


ROOT = Path(__file__).resolve().parents[2]


async def _speaks(spec: CheckSpec) -> bool:
    """A plain client's view of one simulated listener: does it answer its protocol?"""
    if spec.kind == "dns":
        query = dns.message.make_query(str(_opt(spec, "name")), str(_opt(spec, "type")))
        server, port = str(_opt(spec, "server")), int(str(_opt(spec, "port")))
        answer = await dns.asyncquery.udp(query, server, port=port, timeout=1)
        return answer.rcode() == dns.rcode.NOERROR and bool(answer.answer)
    if spec.kind == "sip":
        reply = await _sip_udp(str(_opt(spec, "host")), int(str(_opt(spec, "port"))))
        return reply is not None and reply.startswith(b"SIP/2.0 200 ")
    if spec.kind == "snmp":
        return (await _snmpget(spec, SYS_NAME))[0] == 0
    if spec.kind == "icmp":
        return str(_opt(spec, "host")).startswith("127.")
    if spec.kind == "http":
        url = urlsplit(str(_opt(spec, "url")))
        host, port = str(url.hostname), int(url.port or 0)
    else:
        host, port = str(_opt(spec, "host")), int(str(_opt(spec, "port")))
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()
    return True


async def test_first_sites_of_the_default_inventory() -> None:
    import sites

    load = getattr(sites, "load", None)
    if load is None or not (ROOT / "sites.yaml").exists():
        pytest.skip("sites.load or the root sites.yaml is not there yet")
    inventory = await asyncio.to_thread(load, ROOT / "sites.yaml")
    first = set(list(inventory.sites)[:3])
    chosen = [spec for spec in inventory.checks.values() if spec.site is None or spec.site in first]
    async with SimulatedProvince(chosen, faults=False, use_netns=False) as sim:
        assert [spec.id for spec in sim.specs] == [spec.id for spec in chosen]
        for spec in sim.specs:
            target = getattr(spec.options, "host", None) or getattr(spec.options, "server", None)
            if target is None:
                target = urlsplit(str(_opt(spec, "url"))).hostname
            # Never a host of the real inventory: only this machine's loopback.
            assert str(target).startswith("127."), spec.id
        live = [spec for spec in sim.specs if spec.lifecycle is not Lifecycle.RETIRED]
        results = await asyncio.gather(*(_speaks(spec) for spec in live))
        assert [spec.id for spec, ok in zip(live, results, strict=True) if not ok] == []
        for site in first:
            assert any(fault.target.startswith(f"{site}.") for fault in sim.catalogue)


async def test_without_netns_icmp_stays_on_loopback_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sim")
    async with SimulatedProvince(_specs(), faults=False, use_netns=False) as sim:
        wan = _by_id(sim)["ninh-kieu.wan"]
        assert str(_opt(wan, "host")) == sim.addresses["ninh-kieu"]
    lines = [r.getMessage() for r in caplog.records if "link faults are skipped" in r.getMessage()]
    assert lines == ["ICMP checks ping always-up loopback addresses and link faults are skipped: "
                     "disabled by caller"]  # fmt: skip


def test_json_pages_hold_the_checked_path() -> None:
    page = json.loads(json_page("checks.db.1.state", "true", "Cần Thơ"))
    assert page["checks"]["db"][1]["state"] is True
    assert json.loads(json_page("status", None))["status"] == "ok"
    assert "Cần Thơ" in json_page("status", "up", "Cần Thơ")
