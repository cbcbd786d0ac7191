"""The simulated province behind ``thongsuot demo``.

Real listeners on this machine that the real probes watch, and a fault injector that
breaks and repairs them on a schedule::

    async with SimulatedProvince(specs, seed=1, on_fault=print) as sim:
        monitor.run(sim.specs)        # the rewritten checks
        ...
        await sim.inject(Fault(FaultKind.HTTP_503, "ninh-kieu.portal"))

``SimulatedProvince(specs, *, seed=1, faults=True, interval=5.0, retry_interval=2.0,
on_fault=None, fault_gap=(15, 40), fault_hold=(20, 90), max_faults=3, use_netns=None,
address_block=None)``

- ``specs``: the checks to simulate (the caller picks them, e.g. the data centres,
  systems and the first N sites of the inventory).
- ``sim.specs``: the same checks (ids, names, dependencies kept) with options pointing at
  the simulated listeners, ``interval``/``retry_interval`` for a lively demo and short
  probe timeouts (1–2 s). HTTPS and SMTP checks get ``ca_file`` = ``sim.ca_file``, a CA
  made at start in a temporary directory; SNMP checks get v2c community ``public``.
- ``sim.catalogue``: every :class:`Fault` this province can inject; ``sim.faults``: the
  ones active now; ``sim.affected(fault)``: the check ids whose probes see it.
- ``await sim.inject(fault)`` / ``await sim.repair(fault)``: break or repair now
  (``KeyError`` for a fault not in the catalogue). Leaving the ``async with`` closes
  everything without reporting repairs.
- ``on_fault(event)``: called (and awaited, if it returns an awaitable) with a
  :class:`FaultEvent` for every injection and repair; ``str(event)`` reads
  "fault injected: HTTP 503 on ninh-kieu.portal".
- With ``faults=True`` a seeded schedule (:func:`plan_faults`) injects one fault every
  ``fault_gap`` seconds, holds it ``fault_hold`` seconds, at most ``max_faults`` at once.
  The sequence depends only on the seed and the catalogue, never on timing.

Each element (DC, site, system) gets its own address ``127.<block>.<b>.<c>`` (the block
is locked per process, so parallel test workers never collide) and each check its own
port there: HTTP 18080, HTTPS 18443, SMTP 12525, SNMP 11161, SIP 15060, TCP 14000 (+1
for every further check of the same kind on the element); the DNS servers live on
``127.<block>.0.<10+n>:10053``. Listeners and their faults:

- HTTP(S) portals (aiohttp): connection refused, 503, slow (DEGRADED), wrong body.
- DNS (UDP, dnspython): queries for one name dropped, or SERVFAIL. Every simulated
  domain answers A and MX; names checked for NXDOMAIN are not served.
- SMTP (aiosmtpd, STARTTLS): connection refused.
- SNMP v2c agents (pysnmp protocol API): interface oper-down, reboot, silence.
- SIP OPTIONS over UDP or TCP: 503, silence.
- TCP: connection refused.
- ICMP: as root with ``ip``, a namespace ``ts-demo-<pid>`` holds the DC uplinks and WAN
  routers as /32s behind one veth per DC (``198.19.<x>.0/24``): a router address removed,
  or a DC's veth down. Otherwise ICMP checks ping their element's 127 address (always
  up) and these faults are not offered. Stale namespaces of dead processes are removed.
"""

from __future__ import annotations

from sim.faults import Fault, FaultEvent, FaultKind, PlannedAction, plan_faults
from sim.province import PORTS, TIMEOUTS, SimulatedProvince

__all__ = [
    "PORTS",
    "TIMEOUTS",
    "Fault",
    "FaultEvent",
    "FaultKind",
    "PlannedAction",
    "SimulatedProvince",
    "plan_faults",
]
