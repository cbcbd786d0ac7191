"""Maintenance windows: shown as MAINTENANCE, alerts silenced, picked up while running."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.engine import Monitor
from monitor.intervals import local_midnight
from monitor.maintenance import MaintenanceCalendar, Window, match_checks
from monitor.state import CheckState, Event, OutageOpened
from monitor.store import Store
from tests.unit.test_availability import inventory
from tests.unit.test_engine import REGISTRY, SleepOptions, running, spec, until

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "m.db", housekeeping=False, batch_interval=0.01) as s:
        yield s


def test_cron_windows_follow_the_province_clock() -> None:
    cal = MaintenanceCalendar.build(inventory())
    monday = local_midnight(date(2025, 6, 30), HCM)
    found = cal.windows(monday, monday + 14 * 86400)
    assert [(w.id, w.start - monday) for w in found] == [
        ("weekly", 6 * 86400 + 3600),  # Sunday 01:00 local, not Monday (cron Sunday = 0)
        ("weekly", 13 * 86400 + 3600),
    ]
    # a window that began before the range still overlaps it
    assert [w.start for w in cal.windows(found[0].start + 60, found[0].start + 120)] == [
        found[0].start
    ]
    assert set(cal.active(found[0].start + 60)) == {"an-binh.wan", "an-binh.portal"}
    assert cal.active(found[0].end) == {}


def test_match_checks() -> None:
    elements = {k: s.element for k, s in inventory().checks.items()}
    assert match_checks(["an-binh"], elements) == ["an-binh.wan", "an-binh.portal"]
    assert match_checks(["*.wan", "dc-a.uplink"], elements) == ["an-binh.wan", "dc-a.uplink"]
    assert match_checks(["nothing"], elements) == []


async def test_window_silences_alerts_and_shows_maintenance(store: Store) -> None:
    down = spec("r.router", "sleep", SleepOptions(status="down"), interval=0.05, retry=0.05)
    now = time.time()
    cal = MaintenanceCalendar(
        [Window("w", "Thay router", frozenset({"r.router"}), now - 1, now + 60, "", "cli")]
    )
    monitor = Monitor([down], store, probes=REGISTRY, tick=0.01, maintenance=cal)
    events: list[Event] = []
    alerts: list[Event] = []
    monitor.subscribe(events.append)
    monitor.subscribe_alerts(alerts.append)
    async with running(monitor):
        await until(lambda: any(isinstance(e, OutageOpened) for e in events))
        snap = monitor.snapshot()["r.router"]
    assert snap.state is CheckState.MAINTENANCE
    assert snap.machine_state is CheckState.DOWN
    assert snap.maintenance == "Thay router"
    assert alerts == []
    assert len(store.open_outages()) == 1  # recorded all the same; availability excludes it


async def test_command_line_window_is_picked_up_while_running(store: Store) -> None:
    ok = spec("s.portal", "sleep", SleepOptions(), interval=0.05)
    monitor = Monitor([ok], store, probes=REGISTRY, tick=0.01, maintenance_every=0.05)
    async with running(monitor):
        await until(lambda: monitor.snapshot()["s.portal"].state is CheckState.UP)
        now = time.time()
        window = store.add_maintenance("Nâng cấp", ["s.*"], ["s.portal"], now, now + 60)
        await until(lambda: monitor.snapshot()["s.portal"].state is CheckState.MAINTENANCE)
        assert monitor.in_maintenance("s.portal") is not None
        store.remove_maintenance(window)
        await until(lambda: monitor.snapshot()["s.portal"].state is CheckState.UP)
