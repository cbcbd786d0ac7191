"""The `thongsuot` command: validate and list the inventory, probe, run the monitor, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

import sites
from probes import PROBES, Observation, ProbeOptions, ProbeSetupError, Status
from probes.base import format_seconds
from sites.errors import did_you_mean, one_of

if TYPE_CHECKING:
    from monitor.store import Store

log = logging.getLogger("thongsuot")

DEFAULT_INVENTORY = Path("sites.yaml")
DEFAULT_DB = Path("thongsuot.db")

EXIT_OK = 0
EXIT_CONFIG = 2
"""Exit code for a broken inventory or bad command line, as `check` documents."""

PROBE_EXIT = {Status.OK: 0, Status.DEGRADED: 1, Status.DOWN: 2}
"""`probe` exits like a Nagios plugin, so it can serve one: 0 OK, 1 WARNING, 2 CRITICAL."""
PROBE_EXIT_UNKNOWN = 3


class UsageError(Exception):
    """A command line that cannot be carried out; the message says why."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from monitor.console import setup_logging

    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.func(args))
    except sites.ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    except UsageError as error:
        print(f"thongsuot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thongsuot",
        description=(
            "Inventory and continuity monitor for a merging province: probes WAN links, "
            "commune offices, mail, portals and video-conference servers, and measures every "
            "interruption against the plans' 'no interruption' requirement."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="validate an inventory file",
        description="Validate an inventory and report every problem with file, line and key. "
        "Exits 0 when valid, 2 when not.",
    )
    _inventory_argument(check)
    check.set_defaults(func=cmd_check)

    inventory = sub.add_parser(
        "inventory",
        help="list the checks of an inventory",
        description="List the inventory's checks, one row each, optionally filtered.",
    )
    _inventory_argument(inventory)
    inventory.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )
    inventory.add_argument("--datacenter", help="only checks homed on this data centre id")
    inventory.add_argument("--site", help="only checks of this site id")
    inventory.add_argument("--kind", choices=sorted(PROBES), help="only checks of this kind")
    inventory.add_argument(
        "--lifecycle",
        choices=[lc.value for lc in sites.Lifecycle],
        help="only elements in this lifecycle stage",
    )
    inventory.add_argument(
        "--type",
        dest="element_type",
        choices=[et.value for et in sites.ElementType],
        help="only checks of data centres, sites or systems",
    )
    inventory.set_defaults(func=cmd_inventory)

    probe = sub.add_parser(
        "probe",
        help="run one check now and print the result",
        description=(
            "Run one check now. Either name a check of the inventory (`thongsuot probe "
            "ninh-kieu.portal`) or give a kind and its options (`thongsuot probe http "
            "url=https://127.0.0.1:8443/ ca_file=ca.pem`). Exits like a Nagios plugin: "
            "0 ok, 1 degraded, 2 down, 3 when the check could not be run."
        ),
    )
    probe.add_argument("target", help="a check id, or a probe kind: " + ", ".join(sorted(PROBES)))
    probe.add_argument("options", nargs="*", metavar="KEY=VALUE", help="options for a kind")
    probe.add_argument(
        "-f",
        "--file",
        type=Path,
        default=DEFAULT_INVENTORY,
        help="inventory to take the check from (default: %(default)s)",
    )
    probe.add_argument("--json", action="store_true", help="print the result as JSON")
    probe.set_defaults(func=cmd_probe)

    run = sub.add_parser(
        "run",
        help="run the monitor (headless daemon)",
        description="Probe every check of the inventory on its schedule and record results, "
        "state changes and outages in SQLite. Logs to stderr; stops cleanly on SIGTERM/SIGINT.",
    )
    _inventory_argument(run)
    _db_argument(run)
    run.add_argument(
        "--procs",
        type=int,
        default=1,
        help="monitor processes, one per core for a whole country (default 1): checks that "
        "depend on each other stay together, all share the database",
    )
    run.set_defaults(func=cmd_run)

    dash = sub.add_parser(
        "dash",
        help="the operators' dashboard on a running monitor's database",
        description="Show the dashboard for a monitor started with `thongsuot run`, reading its "
        "database read-only and refreshing every second. Acknowledgements are stored there.",
    )
    _inventory_argument(dash)
    _db_argument(dash)
    dash.set_defaults(func=cmd_dash)

    demo = sub.add_parser(
        "demo",
        help="run the monitor on a simulated province on this machine",
        description=(
            "Map the inventory onto simulated hosts on this machine (real HTTP(S), DNS, SMTP, "
            "SNMP and SIP listeners; as root, real ICMP in a network namespace), break and "
            "repair them on a schedule, and monitor them with the real probes."
        ),
    )
    _inventory_argument(demo)
    demo.add_argument(
        "--sites", type=int, default=20, help="how many communes to simulate (default: 20)"
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the fault schedule")
    demo.add_argument("--no-faults", action="store_true", help="do not inject faults")
    demo.add_argument(
        "--db", type=Path, help="SQLite database (default: a temporary file, removed at exit)"
    )
    demo.add_argument(
        "--no-dash",
        action="store_true",
        help="print state changes instead of opening the dashboard (the default off a terminal)",
    )
    demo.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)"
    )
    demo.set_defaults(func=cmd_demo)
    _continuity_commands(sub)
    return parser


def _continuity_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    formats = ("table", "csv", "json")
    sla = sub.add_parser(
        "sla",
        help="availability per check, site, system, data centre or former province",
        description=(
            "Time-weighted availability from the recorded outage intervals (not a ratio of "
            "samples): maintenance is excluded, time the monitor was not running is "
            "unknown, unreachable time is attributed to its root outage. Dates are calendar "
            "days in the province's zone; --to is inclusive. Example: "
            "`thongsuot sla --from 2025-07-01 --to 2025-07-07 --by site --per day`."
        ),
    )
    _inventory_argument(sla)
    _db_argument(sla)
    sla.add_argument("--from", dest="start", help="first day or time (default: this Monday)")
    sla.add_argument("--to", dest="end", help="last day (inclusive) or end time (default: now)")
    sla.add_argument(
        "--by",
        choices=["check", "site", "system", "datacenter", "province"],
        default="datacenter",
        help="what one row stands for (default: %(default)s)",
    )
    sla.add_argument(
        "--per",
        choices=["all", "day", "week"],
        default="all",
        help="one row per group for the whole range, or per local day / week (Mon–Sun)",
    )
    sla.add_argument("--match", action="append", help="only checks matching (repeatable)")
    sla.add_argument("--format", choices=formats, default="table", help="output format")
    sla.set_defaults(func=cmd_sla)

    cutover = sub.add_parser(
        "cutover",
        help="cutover plans: interruptions against their budgets",
        description=(
            "For each cutover plan of the inventory: every interruption inside its window, "
            "the interrupted seconds against the per-check budget, and a verdict (OK, AT "
            "RISK, VIOLATED; NOT STARTED, UNKNOWN when never monitored). Example: "
            "`thongsuot cutover sites.yaml --db thongsuot.db`."
        ),
    )
    _inventory_argument(cutover)
    _db_argument(cutover)
    cutover.add_argument("--plan", action="append", help="only this plan id (repeatable)")
    cutover.add_argument("--at", help="evaluate as of this time (default: now)")
    cutover.add_argument("--format", choices=formats, default="table", help="output format")
    cutover.set_defaults(func=cmd_cutover)

    maint = sub.add_parser(
        "maintenance",
        help="list, add or remove maintenance windows",
        description=(
            "Maintenance windows silence alerts and are excluded from availability. Windows "
            "of sites.yaml (one-off or cron) are listed with those added here. Examples: "
            "`thongsuot maintenance list`, `thongsuot maintenance add --name 'Thay router' "
            "--match 'ninh-kieu*' --start 2025-07-05T22:00 --duration 2h`, "
            "`thongsuot maintenance remove 3`."
        ),
    )
    maint_sub = maint.add_subparsers(title="actions", required=True, metavar="ACTION")
    m_list = maint_sub.add_parser("list", help="windows overlapping a period")
    _inventory_argument(m_list)
    _db_argument(m_list)
    m_list.add_argument("--from", dest="start", help="from (default: now)")
    m_list.add_argument("--to", dest="end", help="to (default: 7 days after --from)")
    m_list.add_argument("--format", choices=formats, default="table", help="output format")
    m_list.set_defaults(func=cmd_maintenance_list)
    m_add = maint_sub.add_parser("add", help="declare a one-off window")
    _inventory_argument(m_add)
    _db_argument(m_add)
    m_add.add_argument("--name", required=True, help="what is done")
    m_add.add_argument(
        "--match",
        action="append",
        required=True,
        help="element id, check id or pattern such as '*.router' (repeatable)",
    )
    m_add.add_argument("--start", required=True, help="start, e.g. 2025-07-05T22:00 (local)")
    ends = m_add.add_mutually_exclusive_group(required=True)
    ends.add_argument("--end", help="end time")
    ends.add_argument("--duration", help="length, e.g. 2h or 90m")
    m_add.add_argument("--reason", default="", help="free text shown with the window")
    m_add.set_defaults(func=cmd_maintenance_add)
    m_remove = maint_sub.add_parser("remove", help="delete a window added from the command line")
    m_remove.add_argument("id", help="the window id shown by list (cli-N or N)")
    _db_argument(m_remove)
    m_remove.set_defaults(func=cmd_maintenance_remove)


def _db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help="SQLite database (default: %(default)s)"
    )


def _inventory_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=DEFAULT_INVENTORY,
        help="inventory file (default: %(default)s)",
    )


def cmd_check(args: argparse.Namespace) -> int:
    inventory = sites.load(args.file)
    for warning in inventory.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    probed = sum(spec.lifecycle.probed for spec in inventory.checks.values())
    print(
        f"{args.file}: valid — {len(inventory.datacenters)} data centres, "
        f"{len(inventory.sites)} sites, {len(inventory.systems)} systems, "
        f"{len(inventory.checks)} checks ({probed} probed), {len(inventory.cutovers)} cutover plans"
    )
    return EXIT_OK


def cmd_inventory(args: argparse.Namespace) -> int:
    inventory = sites.load(args.file)
    rows = sites.inventory_rows(
        inventory,
        datacenter=args.datacenter,
        site=args.site,
        kind=args.kind,
        lifecycle=args.lifecycle,
        element_type=args.element_type,
    )
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    sys.stdout.write(sites.render_rows(rows, args.format, width=width))
    return EXIT_OK


def cmd_probe(args: argparse.Namespace) -> int:
    if args.target in PROBES:
        kind, options = args.target, _parse_options(args.target, args.options)
    else:
        if args.options:
            raise UsageError(f"options are given with a kind, not with a check id ({args.target})")
        spec = _find_check(args.file, args.target)
        kind, options = spec.kind, spec.options
    try:
        observation = asyncio.run(_probe_once(kind, options))
    except ProbeSetupError as error:
        print(f"thongsuot: {error}", file=sys.stderr)
        return PROBE_EXIT_UNKNOWN
    print(_format_probe(observation, as_json=args.json))
    return PROBE_EXIT[observation.status]


def _parse_options(kind: str, pairs: Sequence[str]) -> ProbeOptions:
    raw: dict[str, object] = {}
    yaml = YAML(typ="safe")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"expected KEY=VALUE, got {pair!r}")
        try:
            raw[key] = yaml.load(value) if value else ""
        except YAMLError:
            raw[key] = value
    model = PROBES[kind].Options
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"])
            hint = ""
            if item["type"] == "extra_forbidden":
                hint = " — " + (
                    did_you_mean(key, model.model_fields) or one_of(sorted(model.model_fields))
                )
            problems.append(f"{kind} option {key}: {item['msg']}{hint}")
        raise UsageError("\n".join(problems)) from None


def _find_check(path: Path, check_id: str) -> sites.CheckSpec:
    inventory = sites.load(path)
    try:
        return inventory.checks[check_id]
    except KeyError:
        hint = did_you_mean(check_id, inventory.checks)
        raise UsageError(
            f"{path}: no check {check_id!r}" + (f" — {hint}" if hint else "")
        ) from None


async def _probe_once(kind: str, options: ProbeOptions) -> Observation:
    probe = PROBES[kind]()
    await probe.start()
    try:
        deadline = probe.deadline(options)
        async with asyncio.timeout(deadline):
            return await probe.check(options)
    except TimeoutError:
        return Observation.down(f"no result within {format_seconds(deadline)} (deadline)")
    finally:
        await probe.close()


def _format_probe(observation: Observation, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "status": observation.status.value,
                "reason": observation.reason,
                "latency_ms": observation.latency_ms,
                "values": dict(observation.values),
            },
            ensure_ascii=False,
        )
    latency = "" if observation.latency_ms is None else f" in {observation.latency_ms:.1f} ms"
    lines = [f"{observation.status.value.upper()}{latency}: {observation.reason or '-'}"]
    lines += [f"  {key}: {value}" for key, value in observation.values.items()]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from monitor import daemon

    if args.procs < 1:
        raise UsageError(f"--procs must be at least 1, not {args.procs}")
    inventory = sites.load(args.file)
    for warning in inventory.warnings:
        log.warning("%s", warning)
    return daemon.run(inventory, args.db, args.procs)


def cmd_demo(args: argparse.Namespace) -> int:
    from thongsuot import demo

    if not args.verbose:
        # The demo's output is its own lines; the listeners' chatter would drown them.
        logging.getLogger().setLevel(logging.WARNING)
    inventory = sites.load(args.file)
    return demo.run(
        inventory,
        sites=args.sites,
        seed=args.seed,
        faults=not args.no_faults,
        db=args.db,
        duration=args.duration,
        color=sys.stdout.isatty() and "NO_COLOR" not in os.environ,
        dashboard=not args.no_dash and sys.stdin.isatty() and sys.stdout.isatty(),
    )


def cmd_dash(args: argparse.Namespace) -> int:
    from tui.app import run_dash

    return run_dash(sites.load(args.file), args.db)


def _zone(inventory: sites.Inventory) -> ZoneInfo:
    return ZoneInfo(inventory.province.timezone)


def _when(text: str, tz: ZoneInfo, *, end_of_day: bool = False) -> float:
    from monitor.report import parse_when

    try:
        return parse_when(text, tz, end_of_day=end_of_day)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _open_store(db: Path) -> Store:
    from monitor.store import Store

    if not db.exists():
        raise UsageError(f"no database at {db}: start the monitor with `thongsuot run` first")
    try:
        return Store(db, housekeeping=False)
    except sqlite3.DatabaseError as error:
        raise UsageError(f"{db}: not a thongsuot database ({error})") from None


def cmd_sla(args: argparse.Namespace) -> int:
    from monitor.availability import GroupBy, History, availability
    from monitor.intervals import Granularity, periods
    from monitor.maintenance import match_checks
    from monitor.report import sla_text

    inventory = sites.load(args.file)
    tz = _zone(inventory)
    now = time.time()
    if args.start:
        start = _when(args.start, tz)
    else:
        today = datetime.now(tz).date()
        start = _when((today - timedelta(days=today.weekday())).isoformat(), tz)
    end = _when(args.end, tz, end_of_day=True) if args.end else now
    if end <= start:
        raise UsageError("--to must come after --from")
    checks = None
    if args.match:
        elements = {k: s.element for k, s in inventory.checks.items()}
        checks = match_checks(args.match, elements)
        if not checks:
            raise UsageError(f"no check matches {', '.join(args.match)}")
    with _open_store(args.db) as store:
        history = History(store, start, end, inventory=inventory, now=now)
        windows = list(periods(start, end, Granularity(args.per), tz))
        report = availability(inventory, history, windows, GroupBy(args.by), checks=checks)
    names = {k: s.name for k, s in inventory.checks.items()}
    sys.stdout.write(sla_text(report, tz, args.format, names=names))
    return EXIT_OK


def cmd_cutover(args: argparse.Namespace) -> int:
    from monitor.availability import History
    from monitor.cutover import cutover_status
    from monitor.report import cutover_text

    inventory = sites.load(args.file)
    tz = _zone(inventory)
    now = _when(args.at, tz) if args.at else time.time()
    plans = args.plan or list(inventory.cutovers)
    for plan in plans:
        if plan not in inventory.cutovers:
            hint = did_you_mean(plan, inventory.cutovers) or one_of(sorted(inventory.cutovers))
            raise UsageError(f"{args.file}: no cutover plan {plan!r} — {hint}")
    if not plans:
        print(f"{args.file}: no cutover plans")
        return EXIT_OK
    chosen = [inventory.cutovers[p] for p in plans]
    start = min(p.window.start.timestamp() for p in chosen)
    end = max(p.window.end.timestamp() for p in chosen)
    with _open_store(args.db) as store:
        history = History(store, start, end, inventory=inventory, rollups=False, now=now)
        statuses = [cutover_status(inventory, history, p, now) for p in plans]
    sys.stdout.write(cutover_text(statuses, tz, args.format))
    return EXIT_OK


def cmd_maintenance_list(args: argparse.Namespace) -> int:
    from monitor.maintenance import MaintenanceCalendar
    from monitor.report import maintenance_text

    inventory = sites.load(args.file)
    tz = _zone(inventory)
    start = _when(args.start, tz) if args.start else time.time()
    end = _when(args.end, tz, end_of_day=True) if args.end else start + 7 * 86400.0
    rows = []
    if args.db.exists():
        with _open_store(args.db) as store:
            rows = store.maintenance_windows(start, end)
    calendar = MaintenanceCalendar.build(inventory, rows)
    sys.stdout.write(maintenance_text(calendar.windows(start, end), tz, args.format))
    return EXIT_OK


def cmd_maintenance_add(args: argparse.Namespace) -> int:
    from monitor.maintenance import match_checks

    inventory = sites.load(args.file)
    tz = _zone(inventory)
    start = _when(args.start, tz)
    if args.end:
        end = _when(args.end, tz)
    else:
        try:
            end = start + sites.parse_duration(args.duration)
        except ValueError as error:
            raise UsageError(f"--duration: {error}") from None
    if end <= start:
        raise UsageError("the window must end after it starts")
    elements = {k: s.element for k, s in inventory.checks.items()}
    checks = match_checks(args.match, elements)
    if not checks:
        raise UsageError(f"{args.file}: nothing matches {', '.join(args.match)}")
    from monitor.store import Store

    with Store(args.db, housekeeping=False) as store:
        window = store.add_maintenance(args.name, args.match, checks, start, end, args.reason)
    print(
        f"cli-{window}: {args.name}, {len(checks)} checks, "
        f"{datetime.fromtimestamp(start, tz):%Y-%m-%d %H:%M} → "
        f"{datetime.fromtimestamp(end, tz):%Y-%m-%d %H:%M}"
    )
    return EXIT_OK


def cmd_maintenance_remove(args: argparse.Namespace) -> int:
    text = args.id.removeprefix("cli-")
    if not text.isdigit():
        raise UsageError(
            f"{args.id!r} is not a command-line window id (windows of sites.yaml are "
            "removed by editing the file)"
        )
    with _open_store(args.db) as store:
        removed = store.remove_maintenance(int(text))
    if not removed:
        raise UsageError(f"no maintenance window cli-{text} in {args.db}")
    print(f"removed cli-{text}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
