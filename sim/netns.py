"""Real ICMP targets for the simulated WAN: a network namespace behind one veth per DC.

Each data centre gets a veth pair into the namespace ``ts-demo-<pid>`` and one or more
``198.19.<x>.0/24`` ranges routed through it from the root namespace. The DC uplink and
every router address behind it live as /32s on the namespace's ``lo``. Removing one
/32 makes one router's ping fail; setting a DC's veth down makes all of them fail.

Each range is guarded by a high-metric ``unreachable`` route: it is the lock that keeps
two provinces on one host apart, and it catches the traffic when the veth is down, so a
failed link never sends 198.19.x.y out of the default route.
"""

from __future__ import annotations

import asyncio
import atexit
import ipaddress
import itertools
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PREFIX = "ts-demo-"
"""Every namespace this module creates is named ``ts-demo-<pid>`` (``-<n>`` for more)."""
_STALE = re.compile(rf"^{PREFIX}(\d+)(?:-\d+)?$")
_LOCK = ("metric", "4242", "proto", "116")
_POOL = ipaddress.ip_network("198.19.0.0/16")
_HOSTS_PER_RANGE = 240
_serials_in_use: set[int] = set()


class NetnsError(RuntimeError):
    """An ``ip`` command failed while building or changing the namespace."""


def unavailable() -> str | None:
    """Why namespaces cannot be used here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` to create network namespaces"
    return None


def _ip_sync(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *args], input=stdin, capture_output=True, text=True, check=False, timeout=30
    )


async def _ip(*args: str, stdin: str | None = None) -> None:
    process = await asyncio.create_subprocess_exec(
        "ip",
        *args,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, err = await process.communicate(stdin.encode() if stdin is not None else None)
    if process.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {err.decode(errors='replace').strip()}")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (the owner of a ``ts-…-<pid>`` namespace)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ranges_in(namespace: str) -> set[str]:
    listing = _ip_sync("-n", namespace, "-4", "-o", "addr", "show").stdout
    ranges = set()
    for address in re.findall(r"inet (198\.19\.\d+\.\d+)/", listing):
        ranges.add(str(ipaddress.ip_network(f"{address}/24", strict=False)))
    return ranges


def clean_stale() -> list[str]:
    """Delete ``ts-demo-*`` namespaces (and their route locks) whose process is gone."""
    removed = []
    for line in _ip_sync("netns", "list").stdout.splitlines():
        name = line.split(" ", 1)[0]
        match = _STALE.match(name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        for network in _ranges_in(name):
            _ip_sync("route", "del", "unreachable", network, *_LOCK)
        _ip_sync("netns", "del", name)
        removed.append(name)
    if removed:
        log.info("removed stale namespaces of dead processes: %s", ", ".join(removed))
    return removed


def _occupied() -> list[ipaddress.IPv4Network]:
    """Networks already routed or addressed in the root namespace, default route aside."""
    taken: list[ipaddress.IPv4Network] = []
    routes = _ip_sync("-4", "route", "show", "table", "all").stdout
    for line in routes.splitlines():
        words = line.split()
        if not words or words[0] == "default":
            continue
        destination = words[1] if words[0] in {"unreachable", "blackhole", "local"} else words[0]
        try:
            network = ipaddress.ip_network(destination, strict=False)
        except ValueError:
            continue
        if isinstance(network, ipaddress.IPv4Network) and network.prefixlen > 0:
            taken.append(network)
    return taken


@dataclass
class _Datacenter:
    index: int
    root_veth: str
    ns_veth: str
    ranges: list[ipaddress.IPv4Network] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        """The root side's address, the source of every ping into this DC."""
        return str(self.ranges[0][254])

    @property
    def peer(self) -> str:
        return str(self.ranges[0][253])


class ProvinceNetwork:
    """The namespace, veths, routes and addresses of one simulated province."""

    def __init__(self) -> None:
        serial = next(n for n in itertools.count() if n not in _serials_in_use)
        _serials_in_use.add(serial)
        self._serial = serial
        pid = os.getpid()
        self.name = f"{PREFIX}{pid}" + (f"-{serial}" if serial else "")
        self._veth = f"ts{pid:x}" + (f"-{serial:x}" if serial else "")
        self._datacenters: dict[str, _Datacenter] = {}
        self._addresses: dict[str, tuple[str, str]] = {}
        self._created = False

    def address(self, key: str) -> str:
        """The 198.19 address given to ``key`` in :meth:`setup`."""
        return self._addresses[key][1]

    def datacenter_of(self, key: str) -> str:
        return self._addresses[key][0]

    def keys_behind(self, datacenter: str) -> list[str]:
        """Every key whose address sits behind ``datacenter``'s veth."""
        return [key for key, (dc, _) in self._addresses.items() if dc == datacenter]

    async def setup(self, hosts: Mapping[str, Sequence[str]]) -> None:
        """Build the namespace: ``hosts`` maps each DC to the keys that need an address.

        A DC's first key gets ``198.19.<x>.1`` (its uplink), the others ``.10`` onwards.
        """
        await asyncio.to_thread(clean_stale)
        try:
            await _ip("netns", "add", self.name)
            self._created = True
            atexit.register(self.teardown)
            await _ip("-n", self.name, "link", "set", "lo", "up")
            taken = await asyncio.to_thread(_occupied)
            for index, (datacenter, keys) in enumerate(hosts.items()):
                dc = _Datacenter(index, f"{self._veth}r{index}", f"{self._veth}n{index}")
                self._datacenters[datacenter] = dc
                await self._build(datacenter, dc, keys, taken)
        except BaseException:
            self.teardown()
            raise

    def _claim(self, dc: _Datacenter, taken: list[ipaddress.IPv4Network]) -> None:
        """Lock a free /24 and route it through ``dc``'s veth."""
        start = (os.getpid() * 7 + len(self._datacenters) * 31) % 240
        for offset in range(240):
            network = ipaddress.IPv4Network(f"198.19.{10 + (start + offset) % 240}.0/24")
            if any(network.overlaps(other) for other in taken):
                continue
            taken.append(network)
            # Both adds are atomic: a province or test that took the range meanwhile makes
            # one of them fail, and the search goes on.
            if _ip_sync("route", "add", "unreachable", str(network), *_LOCK).returncode != 0:
                continue
            dc.ranges.append(network)
            if _ip_sync("route", "add", str(network), "dev", dc.root_veth).returncode == 0:
                return
            dc.ranges.pop()
            _ip_sync("route", "del", "unreachable", str(network), *_LOCK)
        raise NetnsError("no free 198.19.x.0/24 range left for the simulated WAN")

    async def _build(
        self,
        datacenter: str,
        dc: _Datacenter,
        keys: Sequence[str],
        taken: list[ipaddress.IPv4Network],
    ) -> None:
        await _ip(
            "link", "add", dc.root_veth, "type", "veth", "peer", "name", dc.ns_veth,
            "netns", self.name,
        )  # fmt: skip
        await _ip("link", "set", dc.root_veth, "up")
        for _ in range(1 + max(0, len(keys) - 2) // _HOSTS_PER_RANGE):
            await asyncio.to_thread(self._claim, dc, taken)
        await _ip("addr", "add", f"{dc.gateway}/32", "dev", dc.root_veth)
        commands = [
            f"link set {dc.ns_veth} up",
            f"addr add {dc.peer}/32 dev {dc.ns_veth}",
            f"route add {dc.gateway}/32 dev {dc.ns_veth}",
        ]
        for position, key in enumerate(keys):
            if position == 0:
                address = str(dc.ranges[0][1])
            else:
                block, host = divmod(position - 1, _HOSTS_PER_RANGE)
                address = str(dc.ranges[block][10 + host])
            self._addresses[key] = (datacenter, address)
            commands.append(f"addr add {address}/32 dev lo")
        await _ip("-n", self.name, "-batch", "-", stdin="\n".join(commands) + "\n")

    async def set_host(self, key: str, present: bool) -> None:
        """Add or remove ``key``'s address inside the namespace."""
        _, address = self._addresses[key]
        await _ip(
            "-n", self.name, "addr", "add" if present else "del", f"{address}/32", "dev", "lo"
        )

    async def set_link(self, datacenter: str, up: bool) -> None:
        """Bring a DC's veth up (and restore its routes, which Linux drops) or down."""
        dc = self._datacenters[datacenter]
        await _ip("link", "set", dc.root_veth, "up" if up else "down")
        if up:
            for network in dc.ranges:
                await _ip("route", "replace", str(network), "dev", dc.root_veth)

    def teardown(self) -> None:
        """Remove the veths, the route locks and the namespace."""
        for dc in self._datacenters.values():
            # Deleting a namespace frees its veths later, from a kernel work queue; deleting
            # them here takes their routes away before the range locks are released.
            _ip_sync("link", "del", dc.root_veth)
            for network in dc.ranges:
                _ip_sync("route", "del", "unreachable", str(network), *_LOCK)
        self._datacenters.clear()
        if self._created:
            result = _ip_sync("netns", "del", self.name)
            if result.returncode != 0:
                log.warning("could not delete namespace %s: %s", self.name, result.stderr.strip())
            self._created = False
        atexit.unregister(self.teardown)
        _serials_in_use.discard(self._serial)
