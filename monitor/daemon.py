"""`thongsuot run`: the headless monitor, until SIGTERM or SIGINT.

With ``procs`` above 1 this process only supervises: it deals the checks to that many
monitor processes (:mod:`monitor.shard` says how they share the work and the database),
passes SIGTERM and SIGINT on to them, and when one of them dies, stops the others and
exits 1, so that a service manager restarts the whole set. All of them running or none
is what keeps the monitor's run history (when it was watching, hence UNKNOWN time)
true for every check.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import sys
from collections.abc import Collection
from multiprocessing.connection import wait
from pathlib import Path
from types import FrameType

from monitor.console import Console, log_in_zone, setup_logging
from monitor.engine import run_monitor
from monitor.maintenance import MaintenanceCalendar
from monitor.shard import split
from monitor.state import Event
from monitor.store import Store
from sites.inventory import Inventory
from sites.spec import CheckSpec

log = logging.getLogger("thongsuot.monitor")


def run(inventory: Inventory, db: Path, procs: int = 1) -> int:
    """Monitor every probed check of ``inventory`` in ``procs`` processes, recording into
    ``db``; return the exit code."""
    if procs <= 1:
        return asyncio.run(_run(inventory, db))
    return _supervise(inventory, db, procs)


def _supervise(inventory: Inventory, db: Path, procs: int) -> int:
    Store(db, housekeeping=False).close()  # the schema, before the writers race for it
    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(
            target=_child,
            args=(inventory, db, [spec.id for spec in shard], i == 0, log.getEffectiveLevel()),
            name=f"monitor {i + 1}/{procs}",
        )
        for i, shard in enumerate(split(inventory.checks.values(), procs))
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.is_alive() and child.pid is not None:
                child.terminate()

    def ended_well(child: multiprocessing.process.BaseProcess) -> bool:
        # SIGTERM before its loop could catch it still means the stop we asked for.
        return child.exitcode == 0 or (stopping and child.exitcode == -signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    for child in children:
        if not stopping:
            child.start()
    running = [child for child in children if child.pid is not None]
    failed = False
    while running:
        wait([child.sentinel for child in running])
        for child in [c for c in running if not c.is_alive()]:
            running.remove(child)
            child.join()
            if not ended_well(child):
                log.error("%s exited with code %s; stopping the others", child.name, child.exitcode)
                failed = True
                stop(signal.SIGTERM, None)
    return 1 if failed else 0


def _child(inventory: Inventory, db: Path, keys: list[str], housekeeping: bool, level: int) -> None:
    setup_logging(level, process_name=True)
    sys.exit(asyncio.run(_run(inventory, db, keys, housekeeping)))


async def _run(
    inventory: Inventory,
    db: Path,
    keys: Collection[str] | None = None,
    housekeeping: bool = True,
) -> int:
    """The monitor of ``keys`` (default: every check); only one process keeps house."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tz = inventory.province.timezone
    log_in_zone(tz)
    console = Console(inventory.checks, tz, clock=False)

    def on_event(event: Event) -> None:
        text = console.describe(event)
        if text is not None:
            log.info("%s", text)

    specs: Collection[CheckSpec] = inventory.checks.values()
    if keys is not None:
        specs = [inventory.checks[key] for key in keys]
    store = Store(db, housekeeping=housekeeping)
    probed = sum(spec.lifecycle.probed for spec in specs)
    log.info("monitoring %d checks, recording into %s", probed, db)
    await run_monitor(
        specs,
        store,
        stop=stop,
        on_alert=on_event,
        maintenance=MaintenanceCalendar.build(inventory),
    )
    log.info("stopped; %s is closed", db)
    return 0
