"""`thongsuot demo`: the inventory on a simulated province, watched by the real monitor.

The simulated listeners and the monitor share one event loop in this process (the
listeners are cheap); when the dashboard runs, it has the main thread and a loop of its
own, so a slow redraw can never delay a check.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.console import Console
from monitor.engine import Monitor
from monitor.state import Event
from monitor.store import Store
from sim import FaultEvent, SimulatedProvince
from sites.inventory import Inventory
from sites.models import Cutover, Window
from sites.spec import CheckSpec, ElementType


def live_cutover(inventory: Inventory, now: datetime) -> Inventory:
    """Add a cutover in progress over the shared systems and the communes' WAN links and
    meeting rooms, with the plans' "no interruption" budget: the demo's faults spend it on
    screen. The real plans' windows (2025) were never watched by this demo."""
    roles = {"wan", "vc_gov", "vc_party"}
    checks = tuple(
        spec.id
        for spec in inventory.checks.values()
        if spec.lifecycle.probed and (spec.element_type is ElementType.SYSTEM or spec.role in roles)
    )
    plan = Cutover(
        id="mo-phong-hop-nhat",
        name="Mô phỏng: hợp nhất đang diễn ra — không gián đoạn",
        checks=list(checks),
        window=Window(start=now, end=now + timedelta(hours=2)),
        budget=0.0,
        source="thongsuot demo",
    )
    return dataclasses.replace(
        inventory,
        config=inventory.config.model_copy(update={"cutovers": [plan, *inventory.config.cutovers]}),
        cutover_checks={plan.id: checks, **inventory.cutover_checks},
    )


def simulated(inventory: Inventory, sites: int) -> Inventory:
    """The data centres, the shared systems and ``sites`` communes taken in turn from each
    data centre, so that every data centre has communes behind it."""
    by_dc: dict[str | None, list[str]] = {}
    for site in inventory.sites.values():
        by_dc.setdefault(site.datacenter, []).append(site.id)
    in_turn = [s for row in itertools.zip_longest(*by_dc.values()) for s in row if s]
    return inventory.only_sites(in_turn[: max(0, sites)])


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
    dashboard: bool,
) -> int:
    """Run the demo until Ctrl-C (or ``duration``): with the dashboard, or printing lines."""
    total_sites = len(inventory.sites)
    inventory = live_cutover(simulated(inventory, sites), datetime.now(UTC))
    specs = [spec for spec in inventory.checks.values() if spec.lifecycle.probed]
    with database(db) as path:
        if dashboard:
            return _with_dashboard(
                inventory, specs, seed=seed, faults=faults, db=path, duration=duration
            )
        console = Console(inventory.checks, inventory.province.timezone, color=color)
        return asyncio.run(
            _printing(inventory, specs, console, seed=seed, faults=faults, db=path,
                      duration=duration, total_sites=total_sites)
        )  # fmt: skip


async def _province(
    specs: list[CheckSpec],
    *,
    seed: int,
    faults: bool,
    db: Path,
    stop: asyncio.Event,
    on_fault: Callable[[FaultEvent], None] | None = None,
    on_start: Callable[[SimulatedProvince, Monitor, Store], None],
) -> None:
    """The simulated province and the monitor watching it, until ``stop`` is set."""
    async with SimulatedProvince(specs, seed=seed, faults=faults, on_fault=on_fault) as sim:
        store = Store(db)
        try:
            monitor = Monitor(sim.specs, store)
            on_start(sim, monitor, store)
            await monitor.run(stop)
        finally:
            await asyncio.to_thread(store.close)


async def _printing(
    inventory: Inventory,
    specs: list[CheckSpec],
    console: Console,
    *,
    seed: int,
    faults: bool,
    db: Path,
    duration: float | None,
    total_sites: int,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)

    def on_fault(event: FaultEvent) -> None:
        verdict = "REPAIR" if event.action == "repaired" else "FAULT"
        print(console.line(event.at.timestamp(), verdict, event.fault.describe(), _affects(event)))

    def on_event(event: Event) -> None:
        line = console.describe(event)
        if line is not None:
            print(line, flush=True)

    def on_start(sim: SimulatedProvince, monitor: Monitor, store: Store) -> None:
        monitor.subscribe(on_event)
        print(_banner(inventory, sim, total_sites, db, faults), flush=True)

    await _province(
        specs, seed=seed, faults=faults, db=db, stop=stop, on_fault=on_fault, on_start=on_start
    )
    print("stopped.")
    return 0


def _with_dashboard(
    inventory: Inventory,
    specs: list[CheckSpec],
    *,
    seed: int,
    faults: bool,
    db: Path,
    duration: float | None,
) -> int:
    """The province and monitor on a loop in a thread; the dashboard on the main thread."""
    from tui.app import DashboardApp
    from tui.sources import LiveSource

    started = threading.Event()
    parts: list[tuple[Monitor, Store]] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def on_start(_: SimulatedProvince, monitor: Monitor, store: Store) -> None:
        parts.append((monitor, store))
        started.set()

    def province() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(
                _province(specs, seed=seed, faults=faults, db=db, stop=stop, on_start=on_start)
            )
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=province, name="province", daemon=True)
    with _logging_to(db.with_suffix(".log")):
        thread.start()
        started.wait()
        if not parts:
            thread.join()
            print(f"the simulated province did not start; see {db.with_suffix('.log')}")
            return 1
        monitor, store = parts[0]
        app = DashboardApp(LiveSource(monitor, store, inventory), inventory)
        if duration is not None:
            threading.Timer(duration, lambda: app.call_from_thread(app.exit)).start()
        try:
            app.run()
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join()
    return 0


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Send log records to a file while the dashboard owns the terminal."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved
        handler.close()


def _affects(event: FaultEvent) -> str:
    checks = event.checks
    shown = ", ".join(checks[:4]) + (f" and {len(checks) - 4} more" if len(checks) > 4 else "")
    return f"affects {shown}" if checks else ""


def _banner(
    inventory: Inventory, sim: SimulatedProvince, total_sites: int, db: Path, faults: bool
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
            f"{len(inventory.systems)} shared systems, {len(inventory.sites)} of "
            f"{total_sites} communes/wards — {len(specs)} checks on real listeners.",
            f"{icmp}. Faults: {'on' if faults else 'off'}. Database: {db}.",
            "State changes and faults follow; Ctrl-C stops.",
        ]
    )
