"""Panels as pure functions over the fixed sample board (no Textual)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.cutover import evaluate
from monitor.store import OutageRow
from sites import Inventory
from tui.board import Board, CheckRow, CutoverUsage, usage_of
from tui.i18n import known, state_label
from tui.panels import (
    MATRIX_ROLES,
    Index,
    View,
    compute_frame,
    fmt_budget,
    fmt_duration,
    fmt_time,
    fold,
    inventory_rows,
    matches_state,
    matrix_rows,
    outage_rows,
    outage_tree,
    severity,
    state_cell,
    worst,
)
from tui.sample import ODD_STATE, SAMPLE_NOW, SampleScenario, sample_board

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def test_fold_ignores_diacritics_and_case() -> None:
    assert fold("Ninh Kiều") == "ninh kieu"
    assert fold("Đông Thuận") == "dong thuan"


def test_durations_and_times() -> None:
    assert fmt_duration(59, "vi") == "0:00:59"
    assert fmt_duration(2 * 86400 + 3661, "vi") == "2 ngày 1:01:01"
    assert fmt_duration(2 * 86400 + 3661, "en") == "2d 1:01:01"
    assert fmt_budget(0, "vi") == "0 s — không gián đoạn"
    assert fmt_budget(300, "en") == "5 min"
    ts = datetime(2025, 7, 5, 3, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert fmt_time(ts, TZ, ts) == "10:00:00"  # local time, UTC+7
    assert fmt_time(ts - 86400, TZ, ts) == "04/07 10:00"
    assert fmt_time(None, TZ) == "—"


def test_unknown_states_are_shown_not_fatal() -> None:
    assert state_label(ODD_STATE, "vi") == ODD_STATE
    assert state_cell(ODD_STATE, "en")[0].endswith(ODD_STATE)
    assert severity("down") > severity(ODD_STATE) > severity("up")
    assert worst(["up", ODD_STATE, "degraded"]) == "degraded"
    assert worst([]) == "unknown"
    assert matches_state(ODD_STATE, "problems")
    assert not matches_state(ODD_STATE, "down")
    for state in ("unknown", "up", "suspect", "degraded", "down", "recovering"):
        assert known(f"state.{state}")


def test_matrix_has_every_site_and_role(inventory: Inventory) -> None:
    board = sample_board(inventory)
    index = Index(inventory)
    rows = matrix_rows(board, index, View())
    assert len(rows) == len(inventory.sites) == 103
    assert all(len(cells) == 2 + len(MATRIX_ROLES) for _, cells in rows)
    sc = SampleScenario(inventory)
    cells = dict(rows)[sc.wan_site]
    assert cells[2][0].endswith("mất")
    assert cells[3][0].endswith("không tới")
    # Grouped by data centre: all of one data centre's sites are contiguous.
    dcs = [inventory.sites[k].datacenter for k, _ in rows]
    assert dcs == sorted(dcs, key=list(inventory.datacenters).index)


def test_matrix_filters(inventory: Inventory) -> None:
    board = sample_board(inventory)
    index = Index(inventory)
    dc = next(iter(inventory.datacenters))
    by_dc = matrix_rows(board, index, View(dc=dc))
    assert 0 < len(by_dc) < 103
    assert all(inventory.sites[k].datacenter == dc for k, _ in by_dc)
    province = index.provinces[-1]
    by_province = matrix_rows(board, index, View(province=province))
    assert all(inventory.sites[k].former_province == province for k, _ in by_province)
    down = matrix_rows(board, index, View(state="down"))
    sc = SampleScenario(inventory)
    assert {k for k, _ in down} == {sc.wan_site, sc.vc_site}


def test_outage_tree_folds_children_under_root(inventory: Inventory) -> None:
    board = sample_board(inventory)
    index = Index(inventory)
    sc = SampleScenario(inventory)
    tree = outage_tree(board, index)
    root, children = tree[0]
    assert root.check == sc.wan
    assert sorted(c.check for c in children) == sorted(sc.behind_wan)
    assert len(tree) == 3
    folded = outage_rows(board, index, View())
    assert len(folded) == 3
    assert folded[0][1][4][0] == f"+{len(sc.behind_wan)}"
    unfolded = outage_rows(board, index, View(expanded=frozenset({root.id})))
    assert len(unfolded) == 3 + len(sc.behind_wan)
    assert unfolded[1][1][0][0].startswith("   └ ")


def test_outage_tree_infers_root_from_inventory(inventory: Inventory) -> None:
    """Without the monitor's root_cause the dependency graph links child to parent."""
    board = sample_board(inventory)
    plain = tuple(dataclasses.replace(o, root_cause=None) for o in board.outages)
    checks = {k: dataclasses.replace(v, root_cause=None) for k, v in board.checks.items()}
    tree = outage_tree(dataclasses.replace(board, outages=plain, checks=checks), Index(inventory))
    sc = SampleScenario(inventory)
    assert tree[0][0].check == sc.wan
    assert len(tree[0][1]) == len(sc.behind_wan)
    # A child outage that began long before its parent's is its own root cause.
    wan = next(o for o in plain if o.check == sc.wan)
    early = tuple(
        dataclasses.replace(o, start_ts=wan.start_ts - 3600) if o.check != sc.wan else o
        for o in plain
    )
    tree = outage_tree(dataclasses.replace(board, outages=early, checks=checks), Index(inventory))
    assert all(not children for _, children in tree)


def test_durations_tick_with_the_board_clock(inventory: Inventory) -> None:
    index = Index(inventory)
    board = sample_board(inventory)
    a = outage_rows(board, index, View())
    b = outage_rows(dataclasses.replace(board, ts=board.ts + 5), index, View())
    assert a[0][1][3] != b[0][1][3]
    assert a[0][1][0] == b[0][1][0]


def _judge(
    inventory: Inventory, plan_id: str, outages: list[tuple[str, float, float | None]], now: float
) -> CutoverUsage:
    plan = inventory.cutovers[plan_id]
    rows: dict[str, list[OutageRow]] = {}
    for n, (check, start, end) in enumerate(outages):
        rows.setdefault(check, []).append(OutageRow(n, check, start, start, end, "", None))
    start, end = plan.window.start.timestamp(), plan.window.end.timestamp()
    covered = [(start, min(end, now))] if now > start else []
    checks = inventory.cutover_checks[plan_id]
    return usage_of(evaluate(plan, checks, {}, rows, covered, now))  # fmt: skip


def test_cutover_line_counts_overlap_with_window(inventory: Inventory) -> None:
    plan = inventory.cutovers["sap-nhap-2025-07-01"]
    start = plan.window.start.timestamp()
    member = inventory.cutover_checks[plan.id][0]
    outsider = "no-such.check"
    now = start + 86400
    usage = _judge(inventory, plan.id, [], now)
    assert (usage.verdict, usage.interruptions, usage.worst_s) == ("OK", 0, 0.0)
    # Began before the window: only the part inside counts; open ones run to now.
    outages = [(member, start - 100, start + 50), (member, now - 10, None), (outsider, start, None)]
    usage = _judge(inventory, plan.id, outages, now)
    assert usage.interruptions == 2
    assert usage.worst_s == 60.0
    assert usage.worst_check == member
    assert usage.verdict == "VIOLATED"
    assert _judge(inventory, plan.id, outages, start - 1).verdict == "NOT STARTED"


def test_cutover_with_a_budget(inventory: Inventory) -> None:
    plans = dict(inventory.cutovers)
    plan = plans["sap-nhap-2025-07-01"]
    budgeted = dataclasses.replace(
        inventory,
        config=inventory.config.model_copy(
            update={"cutovers": [plan.model_copy(update={"budget": 120.0})]}
        ),
    )
    start = plan.window.start.timestamp()
    member = inventory.cutover_checks[plan.id][0]
    within = _judge(budgeted, plan.id, [(member, start + 10, start + 50)], start + 999)
    assert within.verdict == "OK"
    nearly = _judge(budgeted, plan.id, [(member, start + 10, start + 110)], start + 999)
    assert nearly.verdict == "AT RISK"
    over = _judge(budgeted, plan.id, [(member, start + 10, start + 200)], start + 999)
    assert over.verdict == "VIOLATED"


def test_inventory_search_without_diacritics(inventory: Inventory) -> None:
    board = sample_board(inventory)
    index = Index(inventory)
    rows = inventory_rows(board, index, View(search="ninh kieu lan"))
    assert [k for k, _ in rows] == ["ninh-kieu.lan"]
    assert inventory_rows(board, index, View(search="Ninh Kiều LAN")) == rows
    everything = inventory_rows(board, index, View())
    assert len(everything) == len(inventory.checks)


def test_frame_is_complete_and_fast(inventory: Inventory) -> None:
    frame = compute_frame(sample_board(inventory), Index(inventory), View(lang="en"))
    assert len(frame.dcs) == 3
    assert len(frame.systems) == len(inventory.systems)
    assert len(frame.cutovers) == len(inventory.cutovers)
    assert frame.events[0][1][2][0].endswith(ODD_STATE)
    assert frame.compute_ms < 1000


def test_empty_board(inventory: Inventory) -> None:
    frame = compute_frame(Board(ts=SAMPLE_NOW, checks={}), Index(inventory), View())
    assert frame.outages == []
    assert frame.events == []
    assert len(frame.matrix) == 103
    lone = Board(
        ts=SAMPLE_NOW,
        checks={"x": CheckRow("x", "down")},
        outages=(OutageRow(1, "x", SAMPLE_NOW - 5, SAMPLE_NOW, None, "gone", 99),),
    )
    assert [r.check for r, _ in outage_tree(lone, Index(inventory))] == ["x"]


def test_retired_checks_show_as_retired_not_unknown(inventory: Inventory) -> None:
    """A retired system is never probed: the inventory says "retired", its element too, and
    a retired check never darkens the state of what else is there."""
    board = sample_board(inventory)
    index = Index(inventory)
    retired = [c for c, spec in inventory.checks.items() if not spec.lifecycle.probed]
    assert retired
    assert all(c not in board.checks for c in retired)
    rows = {r[0]: r[1] for r in inventory_rows(board, index, View(lang="en"))}
    assert all(rows[c][5][0].endswith("retired") for c in retired)
    problems = {k for k, _ in inventory_rows(board, index, View(state="problems"))}
    assert problems.isdisjoint(retired)
    assert worst(["retired", "up"]) == "up"
    assert worst(["retired"]) == "retired"
    assert state_label("retired", "vi") == "đã ngừng"
