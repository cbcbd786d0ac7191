"""`thongsuot demo`: the inventory on a simulated province, watched by the real monitor.

The simulated listeners and the monitor share one event loop in this process (the
listeners are cheap); when the dashboard runs, it has the main thread and a loop of its
own, so a slow redraw can never delay a check.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from monitor.console import Console
from monitor.engine import Monitor
from monitor.state import Event
from monitor.store import Store
from sim import FaultEvent, SimulatedProvince
from sites.inventory import Inventory
from sites.spec import CheckSpec

Say = Callable[[str], None]


def select(inventory: Inventory, sites: int) -> list[CheckSpec]:
    """The data centres, the shared systems and the first ``sites`` communes, as probed."""
    chosen = set(list(inventory.sites)[: max(0, sites)])
    return [
        spec
        for spec in inventory.checks.values()
        if spec.lifecycle.probed and (spec.site is None or spec.site in chosen)
    ]


@contextlib.contextmanager
def database(path: Path | None) -> Iterator[Path]:
    """The demo's database: the given file, or a temporary one removed afterwards."""
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="thongsuot-demo-") as tmp:
        yield Path(tmp) / "demo.db"


def run(
    inventory: Inventory,
    *,
    sites: int,
    seed: int,
    faults: bool,
    db: Path | None,
    duration: float | None,
    color: bool,
) -> int:
    """Run the demo, printing state changes and faults as they happen, until Ctrl-C."""
    with database(db) as path:
        return asyncio.run(
            _run(
                inventory,
                sites=sites,
                seed=seed,
                faults=faults,
                db=path,
                duration=duration,
                color=color,
                say=print,
            )
        )


async def _run(
    inventory: Inventory,
    *,
    sites: int,
    seed: int,
    faults: bool,
    db: Path,
    duration: float | None,
    color: bool,
    say: Say,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)

    specs = select(inventory, sites)
    console = Console(inventory.checks, inventory.province.timezone, color=color)

    def on_fault(event: FaultEvent) -> None:
        verdict = "REPAIR" if event.action == "repaired" else "FAULT"
        say(console.line(event.at.timestamp(), verdict, event.fault.describe(), _affects(event)))

    def on_event(event: Event) -> None:
        line = console.describe(event)
        if line is not None:
            say(line)

    async with SimulatedProvince(specs, seed=seed, faults=faults, on_fault=on_fault) as sim:
        say(_banner(inventory, sim, sites, db, faults))
        store = Store(db)
        monitor = Monitor(sim.specs, store)
        monitor.subscribe(on_event)
        try:
            await monitor.run(stop)
        finally:
            await asyncio.to_thread(store.close)
    say("stopped.")
    return 0


def _affects(event: FaultEvent) -> str:
    checks = event.checks
    shown = ", ".join(checks[:4]) + (f" and {len(checks) - 4} more" if len(checks) > 4 else "")
    return f"affects {shown}" if checks else ""


def _banner(
    inventory: Inventory, sim: SimulatedProvince, sites: int, db: Path, faults: bool
) -> str:
    specs = sim.specs
    icmp = (
        f"ICMP in network namespace {sim.netns}"
        if sim.netns
        else "ICMP to loopback only (run as root for link faults in a network namespace)"
    )
    return "\n".join(
        [
            f"Simulating {inventory.province.name}: {len(inventory.datacenters)} data centres, "
            f"{len(inventory.systems)} shared systems, {min(sites, len(inventory.sites))} of "
            f"{len(inventory.sites)} communes/wards — {len(specs)} checks on real listeners.",
            f"{icmp}. Faults: {'on' if faults else 'off'}. Database: {db}.",
            "State changes and faults follow; Ctrl-C stops.",
        ]
    )
