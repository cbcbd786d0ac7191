"""`thongsuot run`: the headless monitor, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from monitor.console import Console, log_in_zone
from monitor.engine import run_monitor
from monitor.maintenance import MaintenanceCalendar
from monitor.state import Event
from monitor.store import Store
from sites.inventory import Inventory

log = logging.getLogger("thongsuot.monitor")


def run(inventory: Inventory, db: Path) -> int:
    """Monitor every probed check of ``inventory``, recording into ``db``; return the exit code."""
    return asyncio.run(_run(inventory, db))


async def _run(inventory: Inventory, db: Path) -> int:
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

    store = Store(db)
    probed = sum(spec.lifecycle.probed for spec in inventory.checks.values())
    log.info("monitoring %d checks, recording into %s", probed, db)
    await run_monitor(
        inventory.checks.values(),
        store,
        stop=stop,
        on_alert=on_event,
        maintenance=MaintenanceCalendar.build(inventory),
    )
    log.info("stopped; %s is closed", db)
    return 0
