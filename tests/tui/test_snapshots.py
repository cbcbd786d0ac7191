"""Snapshot tests of the main screens on the fixed sample data (pytest-textual-snapshot).

Update the pictures after an intended change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sites import Inventory
from tui.app import DashboardApp
from tui.sample import SampleScenario, SampleSource

from .conftest import SIZE

pytest.importorskip("pytest_textual_snapshot", reason="needs pytest-textual-snapshot")


def app_for(inventory: Inventory, **kw: Any) -> DashboardApp:
    # A long period: the screen is drawn once from the fixed board and stays still.
    return DashboardApp(SampleSource(inventory), inventory, show_timing=False, period=60, **kw)


def keys(*pressed: str, pause: float = 0.3) -> Callable[[Any], Awaitable[None]]:
    async def run(pilot: Any) -> None:
        await pilot.pause(0.3)
        for key in pressed:
            await pilot.press(key)
            await pilot.pause(0.05)
        await pilot.pause(pause)

    return run


@pytest.mark.parametrize(
    ("name", "pressed", "lang"),
    [
        ("overview", (), "vi"),
        ("overview_en", (), "en"),
        ("outages_unfolded", ("2", "space"), "vi"),
        ("cutover", ("3",), "vi"),
        ("events", ("5",), "en"),
        ("help", ("question_mark",), "vi"),
    ],
)
def test_main_screens(
    snap_compare: Any, inventory: Inventory, name: str, pressed: tuple[str, ...], lang: str
) -> None:
    assert snap_compare(
        app_for(inventory, lang=lang), terminal_size=SIZE, run_before=keys(*pressed)
    )


def test_detail_screen(snap_compare: Any, inventory: Inventory) -> None:
    sc = SampleScenario(inventory)

    async def run(pilot: Any) -> None:
        await pilot.pause(0.3)
        app = pilot.app
        matrix = app.screen.query_one("#matrix")
        matrix.move_cursor(row=matrix.get_row_index(sc.wan_site))
        await pilot.press("enter")
        await pilot.pause(0.6)

    assert snap_compare(app_for(inventory), terminal_size=SIZE, run_before=run)
