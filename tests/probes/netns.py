"""Network namespaces for probe tests: a veth to the root namespace and routed test addresses.

Each :class:`Netns` gets a name ``ts-<tag>-<worker>-<pid>`` and a 198.19.X.0/24 of its own
(X is picked under a lock file among the third octets no root-namespace address or route
uses, so parallel workers and parallel runs do not collide). Layout::

    root namespace                       test namespace
    <host_if> 198.19.X.1/28  <--veth-->  veth0 198.19.X.2/28
    route 198.19.X.0/24 via .2           lo: whatever addresses a test adds (as /32s)

so the test process in the root namespace reaches every 198.19.X.Y through the veth.
Addresses inside the namespace are the test's to arrange: :meth:`Netns.add_loopback`
for live hosts, :meth:`Netns.ip` routes (``blackhole`` drops silently, ``unreachable``
answers "host unreachable" once :meth:`Netns.enable_forwarding` is on), ``iptables`` for
loss. Everything is removed on exit, including after a failed setup.

Usage::

    lab = netns_fixture("snmp", setup=lambda ns: ns.add_loopback(10))  # module fixture

    def test_x(lab: Netns) -> None:
        lab.addr(10)            # "198.19.X.10"
        lab.run("snmpd", ...)   # a command inside the namespace

or ``with netns("mytag") as ns:`` outside pytest.
"""

from __future__ import annotations

import fcntl
import ipaddress
import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import pytest

_LOCK_FILE = "/tmp/ts-netns.lock"
_counter = itertools.count()


def unavailable_reason(*binaries: str) -> str | None:
    """Why namespace tests cannot run here (None when they can); checks extra binaries too."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    for binary in ("ip", *binaries):
        if shutil.which(binary) is None:
            return f"`{binary}` is not installed"
    if not os.path.isdir("/proc/self/ns") or not os.path.exists("/proc/self/ns/net"):
        return "the kernel has no network namespaces"
    return None


def worker_number() -> int:
    """The pytest-xdist worker number (``gw3`` -> 3), 0 without xdist."""
    match = re.search(r"\d+", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return int(match.group()) if match else 0


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _used_octets() -> set[int]:
    """Third octets of 198.19.X.* already addressed or routed in the root namespace."""
    text = _ip("-4", "-o", "addr", "show").stdout + _ip("-4", "route", "show").stdout
    return {int(m) for m in re.findall(r"\b198\.19\.(\d+)\.", text)}


@dataclass
class Netns:
    """A test namespace joined to the root namespace by a veth, with its own 198.19.X.0/24."""

    name: str
    octet: int
    host_if: str
    ns_if: str = "veth0"

    @property
    def subnet(self) -> str:
        """The /24 routed into the namespace."""
        return f"198.19.{self.octet}.0/24"

    def addr(self, last: int) -> str:
        """198.19.X.<last>."""
        return f"198.19.{self.octet}.{last}"

    @property
    def host_address(self) -> str:
        """The root namespace's end of the veth (198.19.X.1)."""
        return self.addr(1)

    @property
    def ns_address(self) -> str:
        """The namespace's end of the veth (198.19.X.2), the next hop for the /24."""
        return self.addr(2)

    def run(
        self, *command: str, check: bool = True, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace (``ip netns exec``), capturing text output."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        result: subprocess.CompletedProcess[str] = subprocess.run(
            ["ip", "netns", "exec", self.name, *command], check=False, **kwargs
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} in {self.name} failed ({result.returncode}): "
                f"{result.stderr or result.stdout}"
            )
        return result

    def ip(self, *args: str) -> None:
        """Run ``ip <args>`` inside the namespace, e.g. ``ip("route", "add", "blackhole", …)``."""
        _ip("-n", self.name, *args)

    def add_loopback(self, *lasts: int) -> list[str]:
        """Put 198.19.X.<last>/32 on the namespace's ``lo`` (live hosts); returns them."""
        addresses = [self.addr(last) for last in lasts]
        for address in addresses:
            self.ip("addr", "add", f"{address}/32", "dev", "lo")
        return addresses

    def sysctl(self, key: str, value: str) -> None:
        """Set a sysctl of this namespace (net.* sysctls are per namespace)."""
        self.run("sysctl", "-q", "-w", f"{key}={value}")

    def enable_forwarding(self) -> None:
        """Let the namespace route, so ``unreachable`` routes answer with ICMP errors."""
        self.sysctl("net.ipv4.ip_forward", "1")

    def iptables(self, *rule: str) -> None:
        """Run ``iptables <rule>`` inside the namespace."""
        self.run("iptables", "-w", *rule)

    def close(self) -> None:
        """Remove the route, the veth and the namespace; safe to call twice."""
        _ip("route", "del", self.subnet, check=False)
        _ip("link", "del", self.host_if, check=False)
        _ip("netns", "del", self.name, check=False)


@contextmanager
def netns(tag: str) -> Iterator[Netns]:
    """Create a ``ts-<tag>-<worker>-<pid>`` namespace with veth and route; remove it after."""
    if not re.fullmatch(r"[a-z0-9]{1,12}", tag):
        raise ValueError("tag: 1-12 lowercase letters or digits")
    pid = os.getpid()
    n = next(_counter)
    name = f"ts-{tag}{n or ''}-{worker_number()}-{pid}"
    with open(_LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        used = _used_octets()
        start = (pid * 7 + worker_number() * 31 + n) % 250
        octet = next(
            (o for i in range(250) if (o := (start + i) % 250 + 1) not in used),
            None,
        )
        if octet is None:
            raise RuntimeError("no free 198.19.X.0/24 left in the root namespace")
        ns = Netns(name=name, octet=octet, host_if=f"ts{octet}v{pid}{n or ''}"[:15])
        try:
            _ip("netns", "add", name)
            _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if, "netns", name)
            _ip("addr", "add", f"{ns.host_address}/28", "dev", ns.host_if)
            _ip("link", "set", ns.host_if, "up")
            ns.ip("addr", "add", f"{ns.ns_address}/28", "dev", ns.ns_if)
            ns.ip("link", "set", ns.ns_if, "up")
            ns.ip("link", "set", "lo", "up")
            _ip("route", "add", ns.subnet, "via", ns.ns_address, "dev", ns.host_if)
        except BaseException:
            ns.close()
            raise
    try:
        yield ns
    finally:
        ns.close()


def netns_fixture(
    tag: str,
    setup: Callable[[Netns], None] | None = None,
    *,
    binaries: tuple[str, ...] = (),
    scope: Literal["session", "package", "module", "class", "function"] = "module",
) -> Any:
    """A pytest fixture yielding a fresh :class:`Netns` after ``setup(ns)``; skips if unusable.

    Assign it to a module-level name: ``lab = netns_fixture("icmp", setup=_arrange)``.
    """

    @pytest.fixture(scope=scope)
    def _fixture() -> Iterator[Netns]:
        reason = unavailable_reason(*binaries)
        if reason is not None:
            pytest.skip(reason)
        with netns(tag) as ns:
            if setup is not None:
                setup(ns)
            yield ns

    return _fixture


def is_in_ping_group_range(gid: int) -> bool:
    """Whether this (root) namespace lets ``gid`` open unprivileged ICMP sockets."""
    try:
        with open("/proc/sys/net/ipv4/ping_group_range", encoding="ascii") as f:
            low, high = (int(v) for v in f.read().split())
    except (OSError, ValueError):
        return False
    return low <= gid <= high


def loopback_block() -> ipaddress.IPv4Network:
    """A 127.X.Y.0/24 of this worker and process, for tests that need many loopback hosts."""
    pid = os.getpid()
    return ipaddress.IPv4Network(f"127.{100 + worker_number() % 100}.{pid % 250 + 1}.0/24")
