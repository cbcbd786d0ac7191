"""A fixed, deterministic data set over a real inventory: for tests, snapshots and the
benchmark.

:class:`SampleSource` is a complete :class:`~tui.board.DashboardSource` that returns the
same board every time (plus any acknowledgements given to it), built from the inventory
with states chosen by a hash of each check id, and a few scripted situations:

* one commune's WAN is down and the checks behind it are ``unreachable`` (a state newer
  than this code's :class:`~monitor.state.CheckState`), their outages pointing at the WAN's;
* one site's VC room for the Party is down on its own; one shared system is down;
* a check is ``flapping``, one is in ``maintenance`` and one is in an invented state;
* the first SNMP check reports a sysDescr full of Rich markup, which must show literally.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.cutover import evaluate
from monitor.store import OutageRow
from sites import CheckSpec, Inventory
from tui.board import (
    Ack,
    Board,
    CheckDetail,
    CheckRow,
    CutoverUsage,
    EventItem,
    ObservationItem,
    usage_of,
)

SAMPLE_NOW = datetime(2025, 7, 5, 10, 0, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp()
"""The board's clock: inside the July 2025 cutover windows."""
MARKUP_DESCR = "[red]x[/red] [link=http://a]y[/link] [bold]Cisco IOS[/]"
"""The sysDescr the sample's first SNMP device reports (it must show literally)."""
ODD_STATE = "quarantined"
"""A state no version of the monitor has: the dashboard must show it, not fail."""


def _h(text: str) -> int:
    return zlib.crc32(text.encode())


class SampleScenario:
    """Which checks the scripted situations use (found in the inventory by role)."""

    def __init__(self, inventory: Inventory) -> None:
        sites = list(inventory.sites)
        roles: dict[str, dict[str, str]] = {}
        for spec in inventory.checks.values():
            if spec.site is not None and spec.role is not None:
                roles.setdefault(spec.site, {}).setdefault(spec.role, spec.id)
        self.wan_site = sites[2]
        self.wan = roles[self.wan_site]["wan"]
        self.behind_wan = [
            c.id
            for c in inventory.checks.values()
            if self.wan in c.depends_on and c.lifecycle.probed
        ]
        self.vc_site = sites[5]
        self.vc_party = roles[self.vc_site]["vc_party"]
        systems = list(inventory.systems)
        self.system = systems[0]
        self.system_check = next(c.id for c in inventory.checks.values() if c.element == systems[0])
        self.history_system_check = next(
            c.id for c in inventory.checks.values() if c.element == systems[1]
        )
        plain = [
            c.id
            for c in inventory.checks.values()
            if c.element_type == "site" and c.site not in (self.wan_site, self.vc_site)
        ]
        self.flapping = plain[40]
        self.maintenance = plain[80]
        self.odd = plain[120]
        self.snmp = next(c.id for c in inventory.checks.values() if c.kind == "snmp")


def sample_board(inventory: Inventory, now: float = SAMPLE_NOW, acks: Sequence[Ack] = ()) -> Board:
    """The fixed board for ``inventory`` at ``now``."""
    sc = SampleScenario(inventory)
    checks: dict[str, CheckRow] = {}
    for spec in inventory.checks.values():
        if not spec.lifecycle.probed:
            continue
        h = _h(spec.id)
        bucket = h % 100
        latency = 1.0 + (h % 9000) / 100
        if bucket < 4:
            checks[spec.id] = CheckRow(
                spec.id, "degraded", now - 600 - h % 3000, now - 5, "loss 33 %", latency * 5
            )
        elif bucket < 6:
            checks[spec.id] = CheckRow(
                spec.id, "suspect", now - 20, now - 3, "connect timeout after 2.0 s", None
            )
        else:
            checks[spec.id] = CheckRow(spec.id, "up", now - 86400 - h % 5000, now - 4, "", latency)
    wan_start = now - 754.0
    outages: list[OutageRow] = [
        OutageRow(1, sc.wan, wan_start, wan_start + 20, None, "100 % loss (3/3)", None)
    ]
    checks[sc.wan] = CheckRow(sc.wan, "down", wan_start, now - 2, "100 % loss (3/3)", None)
    for i, child in enumerate(sorted(sc.behind_wan)):
        start = wan_start + 5 + i
        checks[child] = CheckRow(
            child, "unreachable", start, now - 2, "behind a down parent", None, sc.wan
        )
        outages.append(OutageRow(10 + i, child, start, start + 30, None, "no answer", 1))
    vc_start = now - 3 * 3600 - 125
    checks[sc.vc_party] = CheckRow(
        sc.vc_party, "down", vc_start, now - 1, "SIP 503 Service Unavailable", None
    )
    outages.append(OutageRow(2, sc.vc_party, vc_start, vc_start + 30, None, "SIP 503", None))
    sys_start = now - 2 * 86400 - 3661
    checks[sc.system_check] = CheckRow(
        sc.system_check, "down", sys_start, now - 1, "HTTP 502 <Bad Gateway> [x]", None
    )
    outages.append(OutageRow(3, sc.system_check, sys_start, sys_start + 30, None, "HTTP 502", None))
    checks[sc.flapping] = CheckRow(sc.flapping, "flapping", now - 900, now - 1, "flapping", 12.0)
    checks[sc.maintenance] = CheckRow(sc.maintenance, "maintenance", now - 1800, now - 1, "", None)
    checks[sc.odd] = CheckRow(sc.odd, ODD_STATE, now - 60, now - 1, "state from the future", None)
    outages.sort(key=lambda o: (o.start_ts, o.id))
    history = [(o.check, o.start_ts, o.end_ts) for o in outages]
    h_start = datetime(2025, 6, 25, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp()
    history.append((sc.history_system_check, h_start, h_start + 90))
    events = [
        EventItem(sc.wan, wan_start + 20, "suspect", "down", "100 % loss (3/3)"),
        EventItem(sc.wan, wan_start, "up", "suspect", "100 % loss (3/3)"),
        EventItem(sc.vc_party, vc_start + 30, "suspect", "down", "SIP 503"),
        EventItem(sc.system_check, sys_start + 30, "suspect", "down", "HTTP 502"),
        EventItem(sc.odd, now - 60, "up", ODD_STATE, "state from the future"),
        EventItem(sc.flapping, now - 900, "up", "flapping", "[b]not bold[/b]"),
    ]
    events.sort(key=lambda e: -e.ts)
    return Board(
        ts=now,
        checks=checks,
        outages=tuple(outages),
        events=tuple(events),
        cutovers=_cutovers(inventory, history, now),
        acks={(a.check, a.outage_start_ts): a for a in acks},
        source="sample",
    )


def sample_detail(inventory: Inventory, check: str, now: float, limit: int) -> CheckDetail:
    """Deterministic history: a latency wave, one closed outage, SNMP values."""
    spec = inventory.checks.get(check)
    if spec is None:
        return CheckDetail(check)
    h = _h(check)
    values: dict[str, float | int | str | bool | None] = {}
    if spec.kind == "snmp":
        values = {
            "sys_name": f"{spec.element}-rtr",
            "sys_descr": MARKUP_DESCR,
            "sys_uptime_s": 1_234_567.0,
            "if.Gi0/0.oper_status": "up",
            "if.Gi0/1.oper_status": "down",
        }
    obs = tuple(
        ObservationItem(
            now - 30 * i,
            2 if i in (7, 8, 9) else 0,
            None if i in (7, 8, 9) else round(10 + 8 * math.sin((i + h % 7) / 4), 2),
            "connect timeout after 2.0 s" if i in (7, 8, 9) else "",
            values,
        )
        for i in range(min(limit, 60))
    )
    outages = (OutageRow(900 + h % 50, check, now - 270, now - 240, now - 180, "timeout", None),)
    return CheckDetail(check, obs, outages)


class SampleSource:
    """A :class:`~tui.board.DashboardSource` over the sample data; remembers acks."""

    def __init__(self, inventory: Inventory, now: float = SAMPLE_NOW) -> None:
        self.inventory = inventory
        self.now = now
        self.acks: list[Ack] = []
        self.snapshots = 0
        self._board = sample_board(inventory, now)

    def snapshot(self) -> Board:
        """The fixed board (with the acknowledgements received so far)."""
        self.snapshots += 1
        if self.acks:
            return sample_board(self.inventory, self.now, self.acks)
        return self._board

    def detail(self, checks: Sequence[str], limit: int = 120) -> dict[str, CheckDetail]:
        """Deterministic history of each check."""
        return {c: sample_detail(self.inventory, c, self.now, limit) for c in checks}

    def acknowledge(self, ack: Ack) -> None:
        """Remember an acknowledgement."""
        self.acks.append(ack)

    def close(self) -> None:
        """Nothing to release."""


def scaled_inventory(inventory: Inventory, n_checks: int) -> Inventory:
    """``inventory`` with copies of its site checks added until it has ``n_checks``."""
    checks: dict[str, CheckSpec] = dict(inventory.checks)
    site_checks = [c for c in inventory.checks.values() if c.site is not None]
    i = 0
    while len(checks) < n_checks:
        base = site_checks[i % len(site_checks)]
        copy_id = f"{base.id}-x{i // len(site_checks)}"
        checks[copy_id] = dataclasses.replace(base, id=copy_id, role=f"{base.role}-x")
        i += 1
    return dataclasses.replace(inventory, checks=checks)


def _cutovers(
    inventory: Inventory, history: Sequence[tuple[str, float, float | None]], now: float
) -> tuple[CutoverUsage, ...]:
    """Every plan judged by the reports' own rule, the monitor having run all along."""
    outages: dict[str, list[OutageRow]] = {}
    for n, (check, start, end) in enumerate(history):
        outages.setdefault(check, []).append(OutageRow(n, check, start, start, end, "", None))
    names = {key: spec.name for key, spec in inventory.checks.items()}
    usages = []
    for plan_id, plan in inventory.cutovers.items():
        start, end = plan.window.start.timestamp(), plan.window.end.timestamp()
        covered = [(start, min(end, now))] if now > start else []
        checks = inventory.cutover_checks.get(plan_id, ())
        usages.append(usage_of(evaluate(plan, checks, names, outages, covered, now)))
    return tuple(usages)
