"""A throw-away network namespace holding thousands of ICMP targets in 198.19.0.0/16.

Layout::

    root namespace                           ts-bench-<pid>
    tsb<pid>h 198.19.L.1/24   <--veth-->   veth0 198.19.L.2/24
    198.19.X.0/24 via 198.19.L.2             lo: the live targets as /32s

Dead targets are routed into the namespace too, but have no address there; forwarding is
off, so their echo requests are dropped in silence (a timeout, as from a dead host).
The third octets are picked under the probe tests' lock file among those no root-namespace
address or route uses. :meth:`TargetNet.close` (also run on failure) deletes the namespace,
which takes the veth and its routes with it.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from types import TracebackType

from sim.netns import pid_alive, unavailable

__all__ = ["TargetNet", "clean_stale", "unavailable"]

_LOCK_FILE = "/tmp/ts-netns.lock"
_PREFIX = "ts-bench-"
HOSTS_PER_BLOCK = 250


def _ip(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["ip", *args], input=stdin, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args[:6])} failed: {result.stderr.strip()}")
    return result.stdout


def clean_stale() -> None:
    """Delete ``ts-bench-<pid>`` namespaces whose process is gone."""
    for line in _ip("netns", "list").splitlines():
        match = re.match(rf"^{_PREFIX}(\d+)\b", line)
        if match and not pid_alive(int(match.group(1))):
            subprocess.run(["ip", "netns", "del", match.group(0)], check=False)


def _used_octets() -> set[int]:
    text = _ip("-4", "-o", "addr", "show") + _ip("-4", "route", "show")
    return {int(m) for m in re.findall(r"\b198\.19\.(\d+)\.", text)}


class TargetNet:
    """``live`` + ``dead`` ICMP targets behind a veth; use as a context manager."""

    def __init__(self, live: int, dead: int) -> None:
        self.name = f"{_PREFIX}{os.getpid()}"
        self.host_if = f"tsb{os.getpid() % 10_000_000}h"
        self.total = live + dead
        self.live: list[str] = []
        self.dead: list[str] = []
        self._live_count = live
        self._made = False

    def __enter__(self) -> TargetNet:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _build(self) -> None:
        clean_stale()
        blocks = -(-self.total // HOSTS_PER_BLOCK)
        with open(_LOCK_FILE, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            free = [o for o in range(254, 2, -1) if o not in _used_octets()]
            if len(free) < blocks + 1:
                raise RuntimeError("not enough free /24s in 198.19.0.0/16 for the targets")
            link, octets = free[0], free[1 : blocks + 1]
            _ip("netns", "add", self.name)
            self._made = True
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", "veth0",
                "netns", self.name)  # fmt: skip
            _ip("addr", "add", f"198.19.{link}.1/24", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            for octet in octets:
                _ip("route", "add", f"198.19.{octet}.0/24", "via", f"198.19.{link}.2")
        addresses = [
            f"198.19.{octets[i // HOSTS_PER_BLOCK]}.{i % HOSTS_PER_BLOCK + 1}"
            for i in range(self.total)
        ]
        # Every tenth address (or whatever share is asked for) is dead, spread evenly.
        dead_every = self.total / max(self.total - self._live_count, 1)
        dead_at = {int(k * dead_every) for k in range(self.total - self._live_count)}
        self.live = [a for i, a in enumerate(addresses) if i not in dead_at]
        self.dead = [a for i, a in enumerate(addresses) if i in dead_at]
        commands = [
            "link set lo up",
            "link set veth0 up",
            f"addr add 198.19.{link}.2/24 dev veth0",
            *(f"addr add {a}/32 dev lo" for a in self.live),
        ]
        _ip("-n", self.name, "-batch", "-", stdin="\n".join(commands) + "\n")
        subprocess.run(
            ["ip", "netns", "exec", self.name, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0"],
            check=True,
            capture_output=True,
        )

    @property
    def addresses(self) -> list[str]:
        """Every target, live and dead, interleaved."""
        return sorted(self.live + self.dead, key=lambda a: tuple(map(int, a.split("."))))

    def close(self) -> None:
        """Delete the namespace (and with it the veth and the routes). Idempotent."""
        if self._made:
            subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)
            subprocess.run(["ip", "link", "del", self.host_if], check=False, capture_output=True)
            self._made = False
