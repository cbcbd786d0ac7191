"""Pilot tests: every screen and key of the dashboard over the fixed sample board."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from textual.widgets import Input, Static, TabbedContent

from sites import Inventory
from tui.app import HELP_KEYS, AckScreen, DashboardApp, DetailScreen, HelpScreen, MainScreen
from tui.board import Ack, Board, CheckDetail
from tui.panels import matrix_rows
from tui.sample import MARKUP_DESCR, ODD_STATE, SampleScenario, SampleSource
from tui.table import LiveTable

from .conftest import SIZE


def table(app: DashboardApp, table_id: str) -> LiveTable:
    return app.screen.query_one(f"#{table_id}", LiveTable)


def plain_cells(app: DashboardApp, table_id: str, row_key: str) -> list[str]:
    return [cell.plain for cell in table(app, table_id).get_row(row_key)]


def static_text(app: DashboardApp, selector: str) -> str:
    content = app.screen.query_one(selector, Static).render()
    return str(getattr(content, "plain", content))


def make_app(source: object, inventory: Inventory, **kw: object) -> DashboardApp:
    return DashboardApp(source, inventory, show_timing=False, period=0.2, **kw)  # type: ignore[arg-type]


async def test_overview_shows_datacentres_matrix_and_systems(
    source: SampleSource, inventory: Inventory
) -> None:
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen)
        assert table(app, "dcs").row_count == 3
        assert table(app, "matrix").row_count == 103
        assert table(app, "systems").row_count == len(inventory.systems)
        sc = SampleScenario(inventory)
        cells = plain_cells(app, "matrix", sc.wan_site)
        assert cells[2] == "✕ mất"
        assert cells[3] == "○ không tới"
        summary = static_text(app, "#summary")
        assert "✕ mất 3" in summary
        assert f"◇ {ODD_STATE} 1" in summary
        assert "Thành phố Cần Thơ" in static_text(app, "#title")
        assert "10:00:00 05/07/2025" in static_text(app, "#title")  # Asia/Ho_Chi_Minh


async def test_tabs_by_number_and_mouse(source: SampleSource, inventory: Inventory) -> None:
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        tabs = app.screen.query_one(TabbedContent)
        expected = {
            "2": ("tab-outages", "outages", 3),
            "3": ("tab-cutover", "cutovers", len(inventory.cutovers)),
            "4": ("tab-inventory", "inventory", len(inventory.checks)),
            "5": ("tab-events", "events", 6),
            "1": ("tab-overview", "matrix", 103),
        }
        for key, (pane, table_id, rows) in expected.items():
            await pilot.press(key)
            await pilot.pause(0.05)
            assert tabs.active == pane
            assert app.screen.focused is table(app, table_id)
            assert table(app, table_id).row_count == rows
        await pilot.click("#--content-tab-tab-cutover")
        await pilot.pause(0.05)
        assert tabs.active == "tab-cutover"
        verdicts = [plain_cells(app, "cutovers", c)[-1] for c in inventory.cutovers]
        assert verdicts == ["VI PHẠM", "VI PHẠM", "VI PHẠM", "đạt", "chưa bắt đầu"]


async def test_filters_cycle_and_escape_resets(source: SampleSource, inventory: Inventory) -> None:
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        sc = SampleScenario(inventory)
        first_dc = next(iter(inventory.datacenters))
        await pilot.press("d")
        await pilot.pause(0.2)
        assert app.view.dc == first_dc
        n_dc = sum(1 for s in inventory.sites.values() if s.datacenter == first_dc)
        assert table(app, "matrix").row_count == n_dc
        await pilot.press("d", "d", "d")
        assert app.view.dc is None
        await pilot.press("f")
        assert app.view.province == app.index.provinces[0]
        await pilot.press("s")
        assert app.view.state == "problems"
        await pilot.press("s")
        await pilot.pause(0.2)
        assert app.view.state == "down"
        down = {k for k, _ in matrix_rows(app.board, app.index, app.view)}  # type: ignore[arg-type]
        assert down <= {sc.wan_site, sc.vc_site}
        assert table(app, "matrix").row_count == len(down) >= 1
        assert "trạng thái=mất kết nối" in static_text(app, "#status")
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert (app.view.dc, app.view.province, app.view.state) == (None, None, "all")
        assert table(app, "matrix").row_count == 103


async def test_search_without_diacritics(source: SampleSource, inventory: Inventory) -> None:
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("slash")
        search = app.screen.query_one("#search", Input)
        assert app.screen.focused is search
        await pilot.press(*"ninh kieu lan")
        await pilot.pause(0.2)
        assert table(app, "inventory").row_count == 1
        assert plain_cells(app, "inventory", "ninh-kieu.lan")[1].startswith("Ninh Kiều")
        await pilot.press("enter")
        assert app.screen.focused is table(app, "inventory")
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert search.value == ""
        assert table(app, "inventory").row_count == len(inventory.checks)


async def test_enter_drills_down_and_escape_goes_back(
    source: SampleSource, inventory: Inventory
) -> None:
    app = make_app(source, inventory)
    sc = SampleScenario(inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        matrix = table(app, "matrix")
        matrix.move_cursor(row=matrix.get_row_index(sc.wan_site))
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.element == sc.wan_site
        assert table(app, "detail-checks").row_count == len(inventory.checks_of(sc.wan_site))
        assert table(app, "detail-obs").row_count > 0
        assert table(app, "detail-outages").row_count == 1
        assert "min" in static_text(app, "#detail-chart-title")
        # Moving in the checks table selects another check and loads its history.
        await pilot.press("down")
        await pilot.pause(0.3)
        assert app.screen.selected == inventory.checks_of(sc.wan_site)[1].id
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        # Systems, data centres, outages, events and inventory rows drill down too.
        for key, table_id, element in (
            ("1", "systems", sc.system),
            ("2", "outages", sc.wan_site),
            ("5", "events", None),
            ("4", "inventory", None),
        ):
            await pilot.press(key)
            await pilot.pause(0.05)
            t = table(app, table_id)
            t.focus()
            await pilot.press("enter")
            await pilot.pause(0.2)
            assert isinstance(app.screen, DetailScreen), table_id
            if element is not None:
                assert app.screen.element == element
            await pilot.press("escape")
        table(app, "dcs").focus()
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.element == next(iter(inventory.datacenters))
        await pilot.press("escape")


async def test_mouse_click_selected_row_drills_down(
    source: SampleSource, inventory: Inventory
) -> None:
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        matrix = table(app, "matrix")
        third = matrix.ordered_rows[2].key.value
        await pilot.click("#matrix", offset=(3, 3))
        await pilot.pause(0.1)
        assert isinstance(app.screen, MainScreen)
        assert matrix.current_key == third
        await pilot.click("#matrix", offset=(3, 3))
        await pilot.pause(0.2)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.element == third


async def test_outages_root_first_and_space_folds(
    source: SampleSource, inventory: Inventory
) -> None:
    app = make_app(source, inventory)
    sc = SampleScenario(inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("2")
        outages = table(app, "outages")
        assert outages.row_count == 3
        first = plain_cells(app, "outages", "o:1")
        assert first[0].startswith("▸ ")
        assert first[4] == f"+{len(sc.behind_wan)}"
        assert first[3] == "0:12:34"
        await pilot.press("space")
        await pilot.pause(0.2)
        assert outages.row_count == 3 + len(sc.behind_wan)
        assert plain_cells(app, "outages", "o:1")[0].startswith("▾ ")
        await pilot.press("space")
        await pilot.pause(0.2)
        assert outages.row_count == 3


async def test_acknowledge_with_name_and_note(source: SampleSource, inventory: Inventory) -> None:
    app = make_app(source, inventory)
    sc = SampleScenario(inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("2", "a")
        await pilot.pause(0.1)
        assert isinstance(app.screen, AckScreen)
        await pilot.press("enter", "enter")  # no name yet: refused
        assert isinstance(app.screen, AckScreen)
        assert "Cần nhập tên" in static_text(app, "#ack-error")
        await pilot.press(*"Nguyễn Văn Đức", "enter", *"đã gọi nhà mạng", "enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, MainScreen)
        assert len(source.acks) == 1
        ack = source.acks[0]
        assert (ack.check, ack.by, ack.note) == (sc.wan, "Nguyễn Văn Đức", "đã gọi nhà mạng")
        assert plain_cells(app, "outages", "o:1")[5] == "✔ Nguyễn Văn Đức"
        await pilot.press("space")
        await pilot.pause(0.2)
        child = plain_cells(app, "outages", "o:10")
        assert child[5] == "✔ (theo gốc)"
        # Escape cancels; the name is remembered for the next one.
        await pilot.press("down", "a")
        await pilot.pause(0.1)
        assert app.screen.query_one("#ack-by", Input).value == "Nguyễn Văn Đức"
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert len(source.acks) == 1


async def test_acknowledge_from_matrix_and_detail(
    source: SampleSource, inventory: Inventory
) -> None:
    app = make_app(source, inventory, ack_name="Lan")
    sc = SampleScenario(inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        matrix = table(app, "matrix")
        matrix.move_cursor(row=matrix.get_row_index(sc.vc_site))
        await pilot.press("a")
        await pilot.pause(0.1)
        assert isinstance(app.screen, AckScreen)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert source.acks[-1].check == sc.vc_party
        matrix.move_cursor(row=matrix.get_row_index(sc.wan_site))
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("a")
        await pilot.pause(0.1)
        await pilot.press(*"ok", "enter")
        await pilot.pause(0.2)
        assert source.acks[-1].check == sc.wan
        assert source.acks[-1].note == "ok"


async def test_acknowledge_nothing(source: SampleSource, inventory: Inventory) -> None:
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("3", "a")
        await pilot.pause(0.1)
        assert isinstance(app.screen, MainScreen)
        assert any("Không có sự cố" in str(n.message) for n in app._notifications)


async def test_help_lists_every_key(source: SampleSource, inventory: Inventory) -> None:
    app = make_app(source, inventory)
    listed = {k for k, _ in HELP_KEYS}
    names = {"question_mark": "?", "slash": "/"}
    for cls in (DashboardApp, MainScreen, DetailScreen):
        for binding in cls.BINDINGS:
            key = names.get(binding.key, binding.key)  # type: ignore[union-attr]
            assert key in listed or key.isdigit(), key
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        text = static_text(app, "#help-text")
        for key, _label in HELP_KEYS:
            assert key in text
        assert "Xác nhận sự cố" in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("question_mark", "question_mark")
        assert isinstance(app.screen, MainScreen)


async def test_language_switch(source: SampleSource, inventory: Inventory) -> None:
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert app.view.lang == "vi"  # the inventory's locale
        await pilot.press("l")
        await pilot.pause(0.2)
        assert app.view.lang == "en"
        matrix = table(app, "matrix")
        assert [c.label.plain for c in matrix.ordered_columns][:2] == [
            "Commune / ward",
            "Former prov.",
        ]
        tabs = app.screen.query_one(TabbedContent)
        assert tabs.get_tab("tab-outages").label.plain == "Outages"
        sc = SampleScenario(inventory)
        assert plain_cells(app, "matrix", sc.wan_site)[2] == "✕ down"
        assert "Khu" not in static_text(app, "#status")
        await pilot.press("l")
        await pilot.pause(0.2)
        assert plain_cells(app, "matrix", sc.wan_site)[2] == "✕ mất"
    app = make_app(source, inventory, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert "open outages" in static_text(app, "#status")


async def test_device_text_is_shown_literally(source: SampleSource, inventory: Inventory) -> None:
    app = make_app(source, inventory)
    sc = SampleScenario(inventory)
    spec = inventory.checks[sc.snmp]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("5")
        reasons = [table(app, "events").get_row_at(i)[3] for i in range(6)]
        literal = next(r for r in reasons if "not bold" in r.plain)
        assert literal.plain == "[b]not bold[/b]"
        assert not literal.spans
        await pilot.press("1")
        dcs = table(app, "dcs")
        dcs.focus()
        dcs.move_cursor(row=dcs.get_row_index(spec.element))
        await pilot.press("enter")
        await pilot.pause(0.3)
        snmp = app.screen.query_one("#detail-snmp", Static).render()
        plain = static_text(app, "#detail-snmp")
        assert MARKUP_DESCR in plain
        assert all("link" not in str(span.style) for span in getattr(snmp, "spans", []))
        assert "Gi0/1: down" in plain
        assert f"{spec.element}-rtr" in plain


class SlowSource(SampleSource):
    """Blocks every snapshot after the first until released; records how many ran at once."""

    def __init__(self, inventory: Inventory) -> None:
        super().__init__(inventory)
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.gate = threading.Event()

    def snapshot(self) -> Board:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        if self.snapshots:
            self.gate.wait(10)
        with self._lock:
            self.active -= 1
        return super().snapshot()


async def test_slow_source_never_blocks_keys_or_overlaps(inventory: Inventory) -> None:
    source = SlowSource(inventory)
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.4)
        assert source.snapshots == 1  # counted when it returns
        assert source.active == 1  # the second snapshot is under way
        applied = app.frames_applied
        await pilot.press("2", "1")
        assert source.active == 1  # keys were handled while it still runs
        assert app.screen.query_one(TabbedContent).active == "tab-overview"
        source.gate.set()
        await pilot.pause(0.6)
        assert app.frames_applied > applied
        assert source.max_active == 1
        await pilot.press("r")


class BrokenSource(SampleSource):
    def snapshot(self) -> Board:
        raise RuntimeError("[red]database[/red] is on fire")

    def detail(self, checks: Sequence[str], limit: int = 120) -> dict[str, CheckDetail]:
        raise RuntimeError("no history")

    def acknowledge(self, ack: Ack) -> None:
        raise RuntimeError("read-only")


async def test_source_errors_are_shown_and_survived(inventory: Inventory) -> None:
    app = make_app(BrokenSource(inventory), inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert "[red]database[/red] is on fire" in static_text(app, "#status")
        await pilot.press("2", "1")
        assert app.screen.query_one(TabbedContent).active == "tab-overview"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "q")
    assert app.return_code == 0


@pytest.mark.parametrize("key", ["q"])
async def test_quit(source: SampleSource, inventory: Inventory, key: str) -> None:
    app = make_app(source, inventory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        await pilot.press(key)
    assert app.return_code == 0
