"""The `thongsuot` command: validate and list the inventory, probe, run the monitor, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

import sites
from probes import PROBES, Observation, ProbeOptions, ProbeSetupError, Status
from probes.base import format_seconds
from sites.errors import did_you_mean, one_of

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
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Its job additions and start/stop lines say nothing an operator needs.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
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
    run.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help="SQLite database (default: %(default)s)"
    )
    run.set_defaults(func=cmd_run)

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
        "--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)"
    )
    demo.set_defaults(func=cmd_demo)
    return parser


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

    inventory = sites.load(args.file)
    for warning in inventory.warnings:
        log.warning("%s", warning)
    return daemon.run(inventory, args.db)


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
    )


if __name__ == "__main__":
    raise SystemExit(main())
