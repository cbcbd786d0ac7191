"""What can go wrong in the simulated province, and when it does.

A :class:`Fault` names one failure of one simulated element ("HTTP 503 on
ninh-kieu.portal"); a :class:`FaultEvent` reports that it was injected or repaired.
:func:`plan_faults` turns a seed into an endless, reproducible schedule of injections
and repairs, computed on a virtual clock so that the sequence never depends on how
promptly the event loop ran.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal


class FaultKind(enum.StrEnum):
    """The kinds of failure the simulator can inject."""

    REFUSED = "refused"
    """A TCP listener (HTTP, HTTPS, SMTP, plain TCP) stops listening: connection refused."""
    HTTP_503 = "http-503"
    """A portal answers ``503 Service Unavailable``."""
    SLOW = "slow"
    """A portal answers, but slower than the check's ``max_latency_ms``."""
    WRONG_BODY = "wrong-body"
    """A portal answers 200 with a page that lacks the text the check looks for."""
    DNS_TIMEOUT = "dns-timeout"
    """The DNS server silently drops queries for one name."""
    DNS_SERVFAIL = "dns-servfail"
    """The DNS server answers SERVFAIL for one name."""
    IF_DOWN = "if-down"
    """An interface of an SNMP agent goes operationally down."""
    REBOOT = "reboot"
    """A router reboots: silent while held, and back with a small sysUpTime."""
    SILENT = "silent"
    """An SNMP agent or SIP server stops answering."""
    SIP_503 = "sip-503"
    """A SIP server answers OPTIONS with ``503 Service Unavailable``."""
    HOST_DOWN = "host-down"
    """An ICMP target (WAN router, LAN gateway) leaves the network namespace: its ping fails."""
    LINK_DOWN = "link-down"
    """A data centre's uplink goes down: every address behind it stops answering pings."""


_DESCRIPTIONS: dict[FaultKind, str] = {
    FaultKind.REFUSED: "connection refused on {target}",
    FaultKind.HTTP_503: "HTTP 503 on {target}",
    FaultKind.SLOW: "slow answers on {target}",
    FaultKind.WRONG_BODY: "wrong page content on {target}",
    FaultKind.DNS_TIMEOUT: "DNS queries for {detail} dropped ({target})",
    FaultKind.DNS_SERVFAIL: "DNS SERVFAIL for {detail} ({target})",
    FaultKind.IF_DOWN: "interface {detail} down on {target}",
    FaultKind.REBOOT: "router reboot on {target}",
    FaultKind.SILENT: "no answer from {target}",
    FaultKind.SIP_503: "SIP 503 on {target}",
    FaultKind.HOST_DOWN: "host unreachable on {target}",
    FaultKind.LINK_DOWN: "uplink down at {target}",
}


@dataclass(frozen=True, slots=True, order=True)
class Fault:
    """One failure of one simulated element; hashable, so it can be held in sets."""

    kind: FaultKind
    target: str
    """The check id the fault is aimed at; for ``LINK_DOWN`` the data centre's element id."""
    detail: str = ""
    """What inside the target fails: the interface name, the DNS name."""

    def describe(self) -> str:
        """A short sentence for people: "HTTP 503 on ninh-kieu.portal"."""
        return _DESCRIPTIONS[self.kind].format(target=self.target, detail=self.detail)

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A fault was injected or repaired; handed to the ``on_fault`` callback."""

    action: Literal["injected", "repaired"]
    fault: Fault
    checks: tuple[str, ...]
    """Ids of the checks whose probes see the fault directly (not their dependents)."""
    at: datetime
    """When it happened, timezone-aware UTC."""

    def __str__(self) -> str:
        return f"fault {self.action}: {self.fault.describe()}"


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One step of a fault schedule."""

    at: float
    """Seconds after the schedule started."""
    action: Literal["inject", "repair"]
    fault: Fault


def plan_faults(
    catalogue: Sequence[Fault],
    *,
    seed: int,
    gap: tuple[float, float] = (15.0, 40.0),
    hold: tuple[float, float] = (20.0, 90.0),
    max_active: int = 3,
) -> Iterator[PlannedAction]:
    """Yield an endless, time-ordered schedule of injections and repairs.

    Every ``gap`` seconds (uniformly drawn) one fault not already active on the same
    target is injected and held for ``hold`` seconds; at most ``max_active`` faults are
    held at once. The same catalogue and seed always give the same schedule.
    """
    if max_active < 1:
        raise ValueError("max_active must be at least 1")
    rng = random.Random(seed)
    order = itertools.count()
    pending: list[tuple[float, int, Fault]] = []
    now = 0.0
    while True:
        now += rng.uniform(*gap)
        while pending and pending[0][0] <= now:
            at, _, fault = heapq.heappop(pending)
            yield PlannedAction(at, "repair", fault)
        busy = {fault.target for _, _, fault in pending}
        candidates = [fault for fault in catalogue if fault.target not in busy]
        if len(pending) >= max_active or not candidates:
            if not catalogue:
                return
            continue
        fault = rng.choice(candidates)
        heapq.heappush(pending, (now + rng.uniform(*hold), next(order), fault))
        yield PlannedAction(now, "inject", fault)
