"""Benchmark: availability of 5,000 checks over a simulated year, from intervals.

``python -m bench availability --sites 1000 --days 365``

Builds an inventory of ``sites`` communes with 5 checks each (WAN gate + 4 behind it) on
2 data centres, and a database holding a year of history written straight into the
schema: monitor runs with a restart gap every week and one unrecorded crash a month,
~30 own outages per check per year, a WAN outage a month per site with its 4 children
UNREACHABLE behind it, a weekly recurring maintenance window for every site. Then times
``thongsuot sla`` by data centre, by site and per check (whole year), and per week.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import sites
from bench import Row
from monitor.availability import GroupBy, History, availability
from monitor.intervals import Granularity, periods
from monitor.store import Store

_YEAR_START = 1735664400.0  # 2025-01-01 00:00 in Asia/Ho_Chi_Minh


def inventory_yaml(n_sites: int) -> str:
    """An inventory of ``n_sites`` communes, 5 checks each."""
    lines = [
        "province: {name: Thành phố Thử, domain: thu.gov.vn}",
        "datacenters:",
    ]
    for d in ("a", "b"):
        lines += [
            f"  - id: dc-{d}",
            f"    name: Trung tâm {d.upper()}",
            f"    former_province: Tỉnh {d.upper()}",
            f"    checks: [{{id: uplink, kind: icmp, role: uplink, host: 192.0.2.{ord(d)}}}]",
        ]
    lines += [
        "site_template:",
        "  checks:",
        "    - {id: wan, kind: icmp, role: wan, host: '{wan_ip}'}",
        "    - {id: lan, kind: icmp, role: lan, host: '{wan_ip}'}",
        "    - {id: vc_gov, kind: tcp, role: vc_gov, host: '{wan_ip}', port: 5060}",
        "    - {id: vc_party, kind: tcp, role: vc_party, host: '{wan_ip}', port: 5061}",
        "    - {id: portal, kind: tcp, role: portal, host: '{wan_ip}', port: 443}",
        "sites:",
    ]
    for i in range(n_sites):
        lines += [
            f"  - {{id: xa-{i:04d}, name: Xã Thử {i}, kind: xã, former_province: Tỉnh A, "
            f"datacenter: dc-{'ab'[i % 2]}, vars: {{wan_ip: 198.51.{i // 250}.{i % 250 + 1}}}}}",
        ]
    lines += [
        "maintenance:",
        "  - {id: weekly, name: Bảo trì, elements: ['xa-*'], cron: '0 1 * * 0', duration: 1h}",
    ]
    return "\n".join(lines) + "\n"


def build(path: Path, inv: sites.Inventory, days: int, seed: int = 1) -> dict[str, int]:
    """Write ``days`` of synthetic history for every check of ``inv`` into ``path``."""
    rng = random.Random(seed)
    start, end = _YEAR_START, _YEAR_START + days * 86400.0
    with Store(path, housekeeping=False) as store:
        ids = store.sync_checks(inv.checks.values(), ts=start - 60)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    runs = []
    t = start - 60
    while t < end:
        stop = min(t + 7 * 86400 - 300, end)
        crash = rng.random() < 0.25
        runs.append((t, stop, None if crash else stop))
        t = stop + 300
    conn.executemany(
        "INSERT INTO monitor_runs (started, heartbeat, stopped) VALUES (?, ?, ?)", runs
    )
    outages: list[tuple[object, ...]] = []
    next_id = 1
    behind: dict[str, list[str]] = defaultdict(list)
    for c in inv.checks.values():
        for parent in c.depends_on:
            behind[parent].append(c.id)
    for key, spec in inv.checks.items():
        for _ in range(max(1, days * 30 // 365)):
            s = rng.uniform(start, end - 3600)
            e = s + rng.expovariate(1 / 600)
            outages.append((next_id, ids[key], s, s + 60, e, "timeout", None, 0, None))
            next_id += 1
        if spec.role == "wan":
            for _ in range(max(1, days // 30)):
                s = rng.uniform(start, end - 3600)
                e = s + rng.expovariate(1 / 1200)
                root = next_id
                outages.append((root, ids[key], s, s + 30, e, "timeout", None, 0, None))
                next_id += 1
                for child in behind[key]:
                    outages.append((next_id, ids[child], s + 1, s + 31, e, "timeout", root, 1, key))
                    next_id += 1
    conn.executemany(
        "INSERT INTO outages (id, check_id, start_ts, confirmed_ts, end_ts, reason, "
        "root_cause, unreachable, blamed_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        outages,
    )
    conn.commit()
    conn.close()
    return {"checks": len(ids), "outages": len(outages), "runs": len(runs)}


NAME = "availability"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sites", type=int, default=1000, help="communes (5 checks each)")
    parser.add_argument("--days", type=int, default=365, help="days of history")


def run(args: argparse.Namespace) -> list[Row]:
    """Build the history, then time the reports: seconds for each."""
    inv = sites.loads(inventory_yaml(args.sites))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "year.db"
        counts = build(path, inv, args.days)
        start, end = _YEAR_START, _YEAR_START + args.days * 86400.0
        zone = ZoneInfo(inv.province.timezone)
        size = f"{counts['checks']:,} checks, {args.days} days, {counts['outages']:,} outages"
        rows: list[Row] = []
        with Store(path, housekeeping=False) as store:
            t0 = time.perf_counter()
            history = History(store, start, end, inventory=inv, now=end)
            rows.append(Row(NAME, f"load history ({size})", "s", time.perf_counter() - t0))
            whole = [(start, end)]
            for by in (GroupBy.DATACENTER, GroupBy.SITE, GroupBy.CHECK):
                t0 = time.perf_counter()
                availability(inv, history, whole, by)
                rows.append(Row(NAME, f"whole period by {by}", "s", time.perf_counter() - t0))
            weeks = list(periods(start, end, Granularity.WEEK, zone))
            t0 = time.perf_counter()
            availability(inv, history, weeks, GroupBy.DATACENTER)
            took = time.perf_counter() - t0
            rows.append(Row(NAME, f"{len(weeks)} weeks by datacenter", "s", took))
    return rows


if __name__ == "__main__":
    from bench.__main__ import main

    main([NAME, *sys.argv[1:]])
