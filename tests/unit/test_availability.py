"""Availability from stored intervals: unknown gaps, maintenance, root-cause attribution."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sites
from monitor.availability import GroupBy, History, availability
from monitor.intervals import Granularity, local_midnight, periods
from monitor.maintenance import MaintenanceCalendar
from monitor.report import sla_text
from monitor.state import OutageClosed, OutageOpened, Outcome
from monitor.store import Record, Store
from sites.inventory import Inventory

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
H = 3600.0

INVENTORY = """\
province: {name: Thành phố Thử, domain: thu.gov.vn}
datacenters:
  - id: dc-a
    name: Trung tâm A
    former_province: Tỉnh A
    checks: [{id: uplink, kind: icmp, role: uplink, host: 192.0.2.1}]
systems:
  - id: mail
    name: Thư điện tử
    datacenter: dc-a
    checks: [{id: smtp, kind: smtp, host: 192.0.2.5}]
sites:
  - name: An Bình
    kind: phường
    former_province: Tỉnh B
    datacenter: dc-a
    checks:
      - {id: wan, kind: icmp, role: wan, host: 198.51.100.1}
      - {id: portal, kind: http, url: "https://an-binh.thu.gov.vn/"}
cutovers:
  - id: plan
    name: Kế hoạch chuyển đổi
    systems: [mail]
    checks: ["*.wan"]
    window: {start: 2025-07-01T00:00:00+07:00, end: 2025-07-02T00:00:00+07:00}
    budget: 60s
maintenance:
  - {id: weekly, name: Bảo trì hằng tuần, elements: [an-binh], cron: "0 1 * * 0", duration: 2h}
"""

DAY = local_midnight(date(2025, 7, 1), HCM)  # a Tuesday, 00:00 in Cần Thơ


def inventory() -> Inventory:
    return sites.loads(INVENTORY)


def outage(
    store: Store, check: str, start: float, end: float | None, parent: str | None = None
) -> None:
    events: list[OutageOpened | OutageClosed] = [
        OutageOpened(check, start, start + 20, "timeout", parent)
    ]
    if end is not None:
        events.append(OutageClosed(check, start, end))
    store.record(Record(check, start, Outcome.DOWN, events=events))


@pytest.fixture
def day_store(tmp_path: Path) -> Iterator[Store]:
    """One local day: two clean runs and one that died, an uplink outage across the gap
    with the WAN behind it, a portal outage half in a maintenance window."""
    inv = inventory()
    with Store(tmp_path / "a.db", housekeeping=False, batch_interval=0.01) as store:
        store.sync_checks(inv.checks.values(), ts=DAY - 86400)
        first = store.start_run(DAY - 60)
        store.stop_run(first, DAY + 6 * H)
        dead = store.start_run(DAY + 8 * H)
        store.heartbeat(dead, DAY + 20 * H)  # then kill -9: no stop
        third = store.start_run(DAY + 21 * H)
        store.stop_run(third, DAY + 25 * H)
        outage(store, "dc-a.uplink", DAY + 5 * H, DAY + 9 * H)
        outage(store, "an-binh.wan", DAY + 5 * H + 30, DAY + 9 * H, parent="dc-a.uplink")
        outage(store, "an-binh.portal", DAY + 10 * H, DAY + 10.5 * H)
        store.add_maintenance(
            "Thay router", ["an-binh.portal"], ["an-binh.portal"], DAY + 10.25 * H, DAY + 11 * H
        )
        store.flush()
        yield store


def test_one_day_by_check(day_store: Store) -> None:
    inv = inventory()
    history = History(day_store, DAY, DAY + 24 * H, inventory=inv, now=DAY + 30 * H)
    report = availability(inv, history, [(DAY, DAY + 24 * H)], GroupBy.CHECK)
    rows = {r.key: r.figures for r in report.rows}
    up = rows["dc-a.uplink"]
    assert up.unknown == 3 * H  # 06–08 (stopped) and 20–21 (died; last heartbeat at 20)
    assert up.counted == 21 * H
    assert up.down == 2 * H  # 05–06 and 08–09: the gap is unknown, not down
    assert up.outages == 1
    assert up.availability == pytest.approx(19 / 21)
    assert up.mttr == 2 * H
    assert up.mtbf == 19 * H
    wan = rows["an-binh.wan"]
    assert (wan.down, wan.unreachable, wan.unreachable_outages) == (0, 2 * H - 30, 1)
    assert wan.own_availability == 1.0
    assert wan.availability == pytest.approx(1 - (2 * H - 30) / (21 * H))
    portal = rows["an-binh.portal"]
    assert portal.maintenance == 0.75 * H
    assert portal.counted == 21 * H - 0.75 * H
    assert portal.down == 0.25 * H  # 10:00–10:15; the rest is in maintenance
    [root] = report.roots
    assert root.outage.check == "dc-a.uplink"
    assert root.affected == ("an-binh.wan",)
    assert root.attributed == 2 * H - 30


def test_groups_are_time_weighted(day_store: Store) -> None:
    inv = inventory()
    history = History(day_store, DAY, DAY + 24 * H, inventory=inv, now=DAY + 30 * H)
    by_dc = availability(inv, history, [(DAY, DAY + 24 * H)], GroupBy.DATACENTER)
    [dc] = by_dc.rows
    assert dc.figures.checks == 4
    assert dc.figures.down == 2 * H + 0.25 * H
    assert dc.figures.unreachable == 2 * H - 30
    by_province = availability(inv, history, [(DAY, DAY + 24 * H)], GroupBy.PROVINCE)
    assert {r.key: r.figures.checks for r in by_province.rows} == {"Tỉnh A": 2, "Tỉnh B": 2}
    by_site = availability(inv, history, [(DAY, DAY + 24 * H)], GroupBy.SITE)
    assert [(r.key, r.name) for r in by_site.rows] == [("an-binh", "An Bình")]
    by_system = availability(inv, history, [(DAY, DAY + 24 * H)], GroupBy.SYSTEM)
    assert [(r.key, r.figures.availability) for r in by_system.rows] == [("mail", 1.0)]


def test_per_hour_split_adds_up(day_store: Store) -> None:
    inv = inventory()
    history = History(day_store, DAY - 86400, DAY + 86400, inventory=inv, now=DAY + 30 * H)
    days = list(periods(DAY - 86400, DAY + 86400, Granularity.DAY, HCM))
    report = availability(inv, history, days, GroupBy.CHECK, checks=["dc-a.uplink"])
    assert [r.figures.down for r in report.rows] == [0.0, 2 * H]
    assert report.rows[0].figures.unknown == 86400 - 60  # before the first run


def test_table_keeps_diacritics_aligned(day_store: Store) -> None:
    inv = inventory()
    history = History(day_store, DAY, DAY + 24 * H, inventory=inv, now=DAY + 30 * H)
    report = availability(inv, history, [(DAY, DAY + 24 * H)], GroupBy.SITE)
    text = sla_text(report, HCM, "table", names={})
    header, row = text.splitlines()[:2]
    assert "An Bình" in row
    assert sites.display_width(header) >= sites.display_width(row.rstrip())
    assert row.index("An Bình") == header.index("Tên / name")
    assert "Root outages" in text


def test_recurring_maintenance_is_excluded() -> None:
    inv = inventory()
    sunday = local_midnight(date(2025, 7, 6), HCM)
    cal = MaintenanceCalendar.build(inv)
    spans = cal.by_check(sunday - 86400, sunday + 86400)
    assert spans["an-binh.wan"] == [(sunday + 1 * H, sunday + 3 * H)]
    assert "dc-a.uplink" not in spans


runs_st = st.lists(st.tuples(st.integers(0, 100), st.integers(1, 30)), max_size=5)
spans_st = st.lists(st.tuples(st.integers(0, 100), st.integers(1, 30)), max_size=4)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(runs_st, spans_st, spans_st, st.integers(0, 50), st.integers(51, 120))
def test_figures_match_brute_force(
    runs: list[tuple[int, int]],
    outs: list[tuple[int, int]],
    maint: list[tuple[int, int]],
    lo: int,
    hi: int,
) -> None:
    """Random monitor runs (restarts), outages and maintenance windows on a 1-second grid:
    the figures equal a cell-by-cell count."""
    check = "dc-a.uplink"
    t0 = DAY
    run_cells = {i for a, n in runs for i in range(a, a + n)}
    maint_cells = {i for a, n in maint for i in range(a, a + n)}
    counted_cells = (run_cells - maint_cells) & set(range(lo, hi))
    # outages of one check never overlap: merge the drawn ones into disjoint spans
    out_cells = {i for a, n in outs for i in range(a, a + n)}
    merged: list[tuple[int, int]] = []
    for i in sorted(out_cells):
        if merged and merged[-1][1] == i:
            merged[-1] = (merged[-1][0], i + 1)
        else:
            merged.append((i, i + 1))
    with tempfile.TemporaryDirectory() as d, Store(Path(d) / "h.db", housekeeping=False) as store:
        store.sync_checks([inventory().checks[check]], ts=t0 - 1)
        for a, n in runs:
            store.stop_run(store.start_run(t0 + a), t0 + a + n)
        for a, b in merged:
            outage(store, check, t0 + a, t0 + b)
        for a, n in maint:
            store.add_maintenance("m", [check], [check], t0 + a, t0 + a + n)
        store.flush()
        history = History(store, t0 + lo, t0 + hi, inventory=None, now=t0 + 1000)
        fig = history.figures(check, t0 + lo, t0 + hi)
    assert fig.unknown == len(set(range(lo, hi)) - run_cells)
    assert fig.maintenance == len(run_cells & maint_cells & set(range(lo, hi)))
    assert fig.counted == len(counted_cells)
    assert fig.down == len(out_cells & counted_cells)
    assert fig.unknown + fig.maintenance + fig.counted == hi - lo
