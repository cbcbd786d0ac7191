"""The simulated province: real listeners for every check, and a fault injector."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import inspect
import ipaddress
import logging
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from probes.base import ProbeOptions
from sim import netns
from sim.base import Endpoint
from sim.dnsserver import DnsServer, parse_records, synthesize
from sim.faults import Fault, FaultEvent, FaultKind, plan_faults
from sim.mail import SmtpEndpoint
from sim.sipserver import SipEndpoint
from sim.snmpagent import WAN_INTERFACE, SnmpAgent
from sim.tcpserver import TcpEndpoint
from sim.tls import TlsMaterial, make_tls
from sim.web import HttpEndpoint
from sites.spec import CheckSpec, ElementType, Lifecycle

log = logging.getLogger(__name__)

PORTS = {
    "dns": 10053,
    "snmp": 11161,
    "smtp": 12525,
    "tcp": 14000,
    "sip": 15060,
    "http": 18080,
    "https": 18443,
}
"""First port of each kind on an element's address; the n-th check of a kind adds n."""

TIMEOUTS = {"icmp": 1.0, "dns": 1.0, "snmp": 1.0, "sip": 1.0, "tcp": 1.0, "http": 2.0, "smtp": 2.0}
"""Probe deadlines in the simulation: short, so faults show within a few seconds."""

_LOCK_PORT = 19999
_BLOCKS = range(16, 240)

FaultCallback = Callable[[FaultEvent], object]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _datacenter(spec: CheckSpec) -> str | None:
    if spec.element_type is ElementType.DATACENTER:
        return spec.datacenter or spec.element
    return spec.datacenter


class SimulatedProvince:
    """Listeners on 127.x.y.z for the given checks, and faults injected on a schedule.

    Use it as ``async with SimulatedProvince(specs) as sim:``; see the package docstring.
    """

    def __init__(
        self,
        specs: Iterable[CheckSpec],
        *,
        seed: int = 1,
        faults: bool = True,
        interval: float = 5.0,
        retry_interval: float = 2.0,
        on_fault: FaultCallback | None = None,
        fault_gap: tuple[float, float] = (15.0, 40.0),
        fault_hold: tuple[float, float] = (20.0, 90.0),
        max_faults: int = 3,
        use_netns: bool | None = None,
        address_block: int | None = None,
    ) -> None:
        self._input = list(specs)
        self._seed = seed
        self._inject_on_schedule = faults
        self._interval = interval
        self._retry_interval = retry_interval
        self._on_fault = on_fault
        self._gap = fault_gap
        self._hold = fault_hold
        self._max_faults = max_faults
        self._use_netns = use_netns
        self._block_choice = address_block

        self.specs: list[CheckSpec] = []
        """The given checks rewritten to probe the simulated listeners."""
        self.catalogue: tuple[Fault, ...] = ()
        """Every fault this province can inject, in a stable order."""
        self.addresses: dict[str, str] = {}
        """The loopback address of each element (DC, site, system)."""
        self.ca_file: Path | None = None
        """The demo CA that signed every simulated certificate."""
        self.netns: str | None = None
        """The network namespace holding the ICMP targets, when one was made."""

        self._active: set[Fault] = set()
        self._affects: dict[Fault, tuple[str, ...]] = {}
        self._actions: dict[Fault, Callable[[bool], Awaitable[None]]] = {}
        self._endpoints: list[Endpoint] = []
        self._network: netns.ProvinceNetwork | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._lock_socket: socket.socket | None = None
        self._injector: asyncio.Task[None] | None = None
        self._mutex = asyncio.Lock()

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The faults active right now."""
        return tuple(sorted(self._active))

    def affected(self, fault: Fault) -> tuple[str, ...]:
        """Ids of the checks whose probes see ``fault``."""
        return self._affects[fault]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Open every listener, build the namespace, start the injector."""
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> None:
        reason = netns.unavailable() if self._use_netns is not False else "disabled by caller"
        if self._use_netns and reason:
            raise RuntimeError(f"cannot build the simulated WAN namespace: {reason}")
        self._tempdir = tempfile.TemporaryDirectory(prefix="thongsuot-demo-")
        blocks = [self._block_choice] if self._block_choice is not None else self._candidates()
        for block in blocks:
            if not self._lock_block(block):
                continue
            try:
                await self._build(block)
                results = await asyncio.gather(
                    *(endpoint.start() for endpoint in self._endpoints), return_exceptions=True
                )
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
                break
            except OSError as error:
                if error.errno != errno.EADDRINUSE or self._block_choice is not None:
                    raise
                log.info("127.%d.x.x is partly in use; trying another block", block)
                await self._close_endpoints()
        else:
            raise RuntimeError("no free 127.x.0.0/16 block for the simulated province")
        icmp = [spec for spec in self.specs if spec.kind == "icmp"]
        if reason is None:
            await self._build_network(icmp)
        elif icmp:
            log.info(
                "ICMP checks ping always-up loopback addresses and link faults are skipped: %s",
                reason,
            )
        self.catalogue = tuple(self._actions)
        if self._inject_on_schedule and self.catalogue:
            self._injector = asyncio.create_task(self._inject_forever(), name="sim-faults")

    async def close(self) -> None:
        """Stop the injector, close every listener and remove the namespace."""
        injector, self._injector = self._injector, None
        if injector is not None:
            injector.cancel()
            await asyncio.gather(injector, return_exceptions=True)
        try:
            await self._close_endpoints()
        finally:
            if self._network is not None:
                self._network.teardown()
                self._network = None
                self.netns = None
            if self._tempdir is not None:
                self._tempdir.cleanup()
                self._tempdir = None
            if self._lock_socket is not None:
                self._lock_socket.close()
                self._lock_socket = None
            self._active.clear()

    async def _close_endpoints(self) -> None:
        endpoints, self._endpoints = self._endpoints, []
        await asyncio.gather(*(endpoint.close() for endpoint in endpoints), return_exceptions=True)

    async def inject(self, fault: Fault) -> None:
        """Break something now; nothing happens if ``fault`` is already active."""
        await self._set(fault, True)

    async def repair(self, fault: Fault) -> None:
        """Repair ``fault`` now; nothing happens if it is not active."""
        await self._set(fault, False)

    async def _set(self, fault: Fault, active: bool) -> None:
        action = self._actions.get(fault)
        if action is None:
            raise KeyError(f"this province cannot simulate {fault.describe()!r}")
        async with self._mutex:
            if (fault in self._active) == active:
                return
            await action(active)
            if active:
                self._active.add(fault)
            else:
                self._active.discard(fault)
        event = FaultEvent(
            "injected" if active else "repaired", fault, self._affects[fault], datetime.now(UTC)
        )
        log.info("%s", event)
        if self._on_fault is not None:
            result = self._on_fault(event)
            if inspect.isawaitable(result):
                await result

    async def _inject_forever(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for step in plan_faults(
            self.catalogue,
            seed=self._seed,
            gap=self._gap,
            hold=self._hold,
            max_active=self._max_faults,
        ):
            await asyncio.sleep(max(0.0, started + step.at - loop.time()))
            try:
                if step.action == "inject":
                    await self.inject(step.fault)
                else:
                    await self.repair(step.fault)
            except Exception:
                log.exception("could not %s %s", step.action, step.fault.describe())

    @staticmethod
    def _candidates() -> list[int]:
        start = os.getpid() % len(_BLOCKS)
        return [_BLOCKS[(start + offset) % len(_BLOCKS)] for offset in range(len(_BLOCKS))]

    def _lock_block(self, block: int) -> bool:
        """Hold a UDP port in ``127.<block>.0.1`` so no other province takes the block."""
        lock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            lock.bind((f"127.{block}.0.1", _LOCK_PORT))
        except OSError:
            lock.close()
            return False
        if self._lock_socket is not None:
            self._lock_socket.close()
        self._lock_socket = lock
        return True

    async def _build(self, block: int) -> None:
        """Give every element an address and every check a listener; rewrite the specs."""
        self._endpoints = []
        self._actions = {}
        self._affects = {}
        self.addresses = {}
        for spec in self._input:
            if spec.element not in self.addresses:
                number = len(self.addresses)
                self.addresses[spec.element] = f"127.{block}.{1 + number // 250}.{1 + number % 250}"
        assert self._tempdir is not None
        names = {
            host
            for spec in self._input
            for host in [self._original_host(spec.options)]
            if host and host.isascii() and not _is_ip(host)
        }
        tls = await asyncio.to_thread(
            make_tls, Path(self._tempdir.name), self.addresses.values(), names
        )
        self.ca_file = tls.ca_file
        builder = _Builder(self, block, tls)
        rewritten = [builder.rewrite(spec) for spec in self._input]
        kept = {spec.id for spec in rewritten if spec is not None}
        self.specs = [
            dataclasses.replace(
                spec, depends_on=tuple(dep for dep in spec.depends_on if dep in kept)
            )
            for spec in rewritten
            if spec is not None
        ]
        builder.finish_dns()

    @staticmethod
    def _original_host(options: ProbeOptions) -> str | None:
        for field in ("host", "server"):
            value = getattr(options, field, None)
            if isinstance(value, str):
                return value
        url = getattr(options, "url", None)
        if isinstance(url, str):
            return urlsplit(url).hostname
        return None

    def _offer(self, endpoint: Endpoint, spec: CheckSpec) -> None:
        self._endpoints.append(endpoint)
        if spec.lifecycle is Lifecycle.RETIRED:
            return
        for fault in endpoint.faults():
            self._actions[fault] = _bind(endpoint.apply, fault)
            self._affects[fault] = (fault.target,)

    async def _build_network(self, icmp: list[CheckSpec]) -> None:
        hosts: dict[str, list[str]] = {}
        for spec in sorted(icmp, key=lambda spec: spec.role != "uplink"):
            datacenter = _datacenter(spec)
            if datacenter is not None and spec.lifecycle is not Lifecycle.RETIRED:
                hosts.setdefault(datacenter, []).append(spec.id)
        if not hosts:
            return
        network = netns.ProvinceNetwork()
        self._network = network
        await network.setup(hosts)
        self.netns = network.name
        by_id = {spec.id: index for index, spec in enumerate(self.specs)}
        for datacenter, keys in hosts.items():
            for position, check_id in enumerate(keys):
                index = by_id[check_id]
                spec = self.specs[index]
                options = spec.options.model_copy(update={"host": network.address(check_id)})
                self.specs[index] = dataclasses.replace(spec, options=options)
                if position == 0:
                    continue
                fault = Fault(FaultKind.HOST_DOWN, check_id)
                self._actions[fault] = _bind_host(network, check_id)
                self._affects[fault] = (check_id,)
            link = Fault(FaultKind.LINK_DOWN, datacenter)
            self._actions[link] = _bind_link(network, datacenter)
            self._affects[link] = tuple(network.keys_behind(datacenter))


def _bind(
    apply: Callable[[Fault, bool], Awaitable[None]], fault: Fault
) -> Callable[[bool], Awaitable[None]]:
    async def act(active: bool) -> None:
        await apply(fault, active)

    return act


def _bind_host(network: netns.ProvinceNetwork, check_id: str) -> Callable[[bool], Awaitable[None]]:
    async def act(active: bool) -> None:
        await network.set_host(check_id, present=not active)

    return act


def _bind_link(
    network: netns.ProvinceNetwork, datacenter: str
) -> Callable[[bool], Awaitable[None]]:
    async def act(active: bool) -> None:
        await network.set_link(datacenter, up=not active)

    return act


class _Builder:
    """Turns each check into a listener and rewrites its options to point at it."""

    def __init__(self, province: SimulatedProvince, block: int, tls: TlsMaterial) -> None:
        self._province = province
        self._block = block
        self._tls = tls
        self._server_tls = tls.server_context()
        self._ordinals: dict[tuple[str, str], int] = {}
        self._dns_servers: dict[tuple[str, int], DnsServer] = {}
        self._dns_names: list[tuple[str, str, list[str], str, bool]] = []

    def _port(self, element: str, kind: str) -> int:
        ordinal = self._ordinals.get((element, kind), 0)
        self._ordinals[(element, kind)] = ordinal + 1
        return PORTS[kind] + ordinal

    def rewrite(self, spec: CheckSpec) -> CheckSpec | None:
        host = self._province.addresses[spec.element]
        options = spec.options
        fields = type(options).model_fields
        update: dict[str, Any] = {}
        handler = {
            "icmp": self._icmp,
            "tcp": self._tcp,
            "http": self._http,
            "dns": self._dns,
            "smtp": self._smtp,
            "snmp": self._snmp,
            "sip": self._sip,
        }.get(spec.kind)
        if handler is not None:
            handler(spec, host, update)
        elif "url" in fields:
            self._http(spec, host, update)
        elif "host" in fields:
            self._tcp(spec, host, update)
        else:
            log.warning("the simulator cannot host %s check %s; left out", spec.kind, spec.id)
            return None
        if "timeout" in fields:
            update["timeout"] = min(options.timeout, TIMEOUTS.get(spec.kind, 2.0))
        update = {key: value for key, value in update.items() if key in fields}
        return dataclasses.replace(
            spec,
            options=options.model_copy(update=update),
            interval=self._province._interval,
            retry_interval=self._province._retry_interval,
        )

    def _icmp(self, spec: CheckSpec, host: str, update: dict[str, Any]) -> None:
        # Replaced by a 198.19 address when the namespace is built.
        options = spec.options
        update["host"] = host
        update["count"] = min(getattr(options, "count", 3), 3)
        update["packet_interval"] = min(getattr(options, "packet_interval", 0.2), 0.2)

    def _tcp(self, spec: CheckSpec, host: str, update: dict[str, Any]) -> None:
        port = self._port(spec.element, "tcp")
        self._province._offer(TcpEndpoint(spec.id, host, port), spec)
        update.update(host=host, port=port)

    def _http(self, spec: CheckSpec, host: str, update: dict[str, Any]) -> None:
        options = spec.options
        url = urlsplit(str(getattr(options, "url", "http://localhost/")))
        secure = url.scheme == "https"
        port = self._port(spec.element, "https" if secure else "http")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        limit = getattr(options, "max_latency_ms", None)
        limit = min(limit, 800.0) if limit else 800.0
        statuses = list(getattr(options, "expect_status", None) or [200])
        endpoint = HttpEndpoint(
            spec.id,
            spec.name,
            host,
            port,
            tls=self._server_tls if secure else None,
            status=statuses[0],
            body_contains=getattr(options, "body_contains", None),
            json_path=getattr(options, "json_path", None),
            json_equals=getattr(options, "json_equals", None),
            slow_delay=min(limit / 1000 + 0.6, TIMEOUTS["http"] * 0.8),
        )
        self._province._offer(endpoint, spec)
        update["url"] = f"{'https' if secure else 'http'}://{host}:{port}{path}"
        update["max_latency_ms"] = limit
        # The URL now holds the listener's address, which the certificate names; the
        # simulated page cannot satisfy an arbitrary regular expression; and the slow
        # fault must stay within the per-phase timeouts.
        update.update(server_name=None, body_regex=None, connect_timeout=None, read_timeout=None)
        if secure:
            update["ca_file"] = str(self._tls.ca_file)

    def _smtp(self, spec: CheckSpec, host: str, update: dict[str, Any]) -> None:
        original = str(getattr(spec.options, "host", ""))
        port = self._port(spec.element, "smtp")
        hostname = original if original and not _is_ip(original) else f"mail.{spec.element}.test"
        endpoint = SmtpEndpoint(spec.id, host, port, hostname=hostname, tls=self._server_tls)
        self._province._offer(endpoint, spec)
        update.update(host=host, port=port, ca_file=str(self._tls.ca_file), server_name=None)

    def _snmp(self, spec: CheckSpec, host: str, update: dict[str, Any]) -> None:
        port = self._port(spec.element, "snmp")
        # A router check that names no interface gets the simulated WAN port, so that an
        # interface going down is something the demo can show.
        interfaces = list(getattr(spec.options, "interfaces", None) or [WAN_INTERFACE])
        agent = SnmpAgent(
            spec.id,
            host,
            port,
            sys_name=f"{spec.element}-rtr",
            sys_descr=f"Cisco IOS XE Software, simulated by thongsuot ({spec.element})",
            location=spec.name,
            interfaces=interfaces,
        )
        self._province._offer(agent, spec)
        update.update(host=host, port=port, community="public", version="2c", interfaces=interfaces)

    def _sip(self, spec: CheckSpec, host: str, update: dict[str, Any]) -> None:
        transport = str(getattr(spec.options, "transport", "udp")).lower()
        transport = transport if transport in {"udp", "tcp"} else "udp"
        port = self._port(spec.element, "sip")
        self._province._offer(SipEndpoint(spec.id, host, port, transport=transport), spec)
        update.update(host=host, port=port, transport=transport)

    def _dns(self, spec: CheckSpec, host: str, update: dict[str, Any]) -> None:
        options = spec.options
        key = (str(getattr(options, "server", "")), int(getattr(options, "port", 53)))
        server = self._dns_servers.get(key)
        if server is None:
            address = f"127.{self._block}.0.{10 + len(self._dns_servers)}"
            server = DnsServer(address, PORTS["dns"])
            self._dns_servers[key] = server
            self._province._endpoints.append(server)
        name = str(getattr(options, "name", spec.element)).rstrip(".") + "."
        rdtype = str(getattr(options, "type", "A")).upper()
        expect = [str(value) for value in getattr(options, "expect", [])]
        exists = str(getattr(options, "expect_rcode", "NOERROR")).upper() != "NXDOMAIN"
        self._dns_names.append((name, rdtype, expect, host, exists))
        server.watch(spec.id, name)
        if spec.lifecycle is not Lifecycle.RETIRED:
            for fault in [f for f in server.faults() if f.target == spec.id]:
                self._province._actions[fault] = _bind(server.apply, fault)
        update.update(server=server.host, port=server.port)

    def finish_dns(self) -> None:
        """Load every simulated name into every DNS server and settle DNS fault scopes."""
        province = self._province
        hosted: list[tuple[str, str, list[str]]] = []
        for name, rdtype, expect, host, exists in self._dns_names:
            if not exists:
                continue
            hosted.append((name, rdtype, expect or synthesize(rdtype, name, host)))
            if rdtype != "A":
                hosted.append((name, "A", [host]))
            if rdtype != "MX":
                hosted.append((name, "MX", synthesize("MX", name, host)))
                hosted.append((f"mail.{name}", "A", [host]))
        for spec in province._input:
            original = province._original_host(spec.options)
            if spec.kind != "dns" and original and not _is_ip(original):
                hosted.append((original.rstrip(".") + ".", "A", [province.addresses[spec.element]]))
        for server in self._dns_servers.values():
            for name, rdtype, texts in hosted:
                server.add(name, rdtype, parse_records(rdtype, texts))
            for fault in server.faults():
                if fault in province._actions:
                    province._affects[fault] = tuple(server.checks_asking(fault.detail))
