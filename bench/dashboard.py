"""Refresh cost of the dashboard with many checks and many state changes.

    python -m bench dashboard                   # 3,000 and 10,000 checks, 50 changes/refresh
    python -m bench dashboard --checks 10000 --changes 200 --refreshes 20

Runs the real app headless (Textual's ``run_test``) over the default inventory, padded with
copies of its site checks, and a source that changes ``--changes`` checks' states on every
snapshot. Reports the first paint, then per refresh: the worker's time (snapshot + every
panel's rows, off the UI thread), the UI thread's time to diff and write the changed cells,
the cells written, and how long a key press takes while refreshing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import sites
from bench import Row
from sites import Inventory
from tui.app import DashboardApp
from tui.board import Board, CheckRow
from tui.sample import SampleSource, scaled_inventory

DEFAULT = Path(__file__).resolve().parents[1] / "sites.yaml"
_STATES = ("up", "up", "up", "degraded", "suspect", "down", "recovering", "unreachable")


class ChurnSource(SampleSource):
    """The sample board, with ``changes`` random checks changing state per snapshot."""

    def __init__(self, inventory: Inventory, changes: int, seed: int = 4) -> None:
        super().__init__(inventory)
        self.changes = changes
        self._rng = random.Random(seed)
        self._keys = list(self._board.checks)
        self._checks: dict[str, CheckRow] = dict(self._board.checks)

    def snapshot(self) -> Board:
        self.snapshots += 1
        rng = self._rng
        now = self.now + self.snapshots
        for key in rng.sample(self._keys, min(self.changes, len(self._keys))):
            old = self._checks[key]
            self._checks[key] = dataclasses.replace(
                old, state=rng.choice(_STATES), since=now, latency_ms=rng.random() * 100
            )
        return dataclasses.replace(self._board, ts=now, checks=dict(self._checks))


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(inventory: Inventory, changes: int, refreshes: int) -> dict[str, float]:
    """Run the app until ``refreshes`` frames have been applied; return the figures."""
    source = ChurnSource(inventory, changes)
    app = DashboardApp(source, inventory, period=0.2, show_timing=False)
    worker_ms: list[float] = []
    apply_ms: list[float] = []
    cells: list[int] = []
    key_ms: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        t0 = time.perf_counter()
        while app.frames_applied < 1:
            await pilot.pause(0.005)
        await pilot.pause()
        first_paint = (time.perf_counter() - t0) * 1000
        seen = app.frames_applied
        stalls: list[float] = []
        done = asyncio.Event()

        async def lag() -> None:
            # How late a 10 ms timer fires on the UI loop: the longest the screen was frozen.
            while not done.is_set():
                s0 = time.perf_counter()
                await asyncio.sleep(0.01)
                stalls.append((time.perf_counter() - s0) * 1000 - 10)

        probe = asyncio.create_task(lag())
        while len(apply_ms) < refreshes:
            k0 = time.perf_counter()
            await pilot.press("r")
            key_ms.append((time.perf_counter() - k0) * 1000)
            await pilot.pause(0.05)
            if app.frames_applied > seen:
                seen = app.frames_applied
                worker_ms.append(app.poll_ms)
                apply_ms.append(app.apply_ms)
                cells.append(app.cells_written)
        done.set()
        await probe
        await pilot.press("q")
    return {
        "checks": len(inventory.checks),
        "changes_per_refresh": changes,
        "first_paint_ms": round(first_paint),
        "worker_ms_median": round(statistics.median(worker_ms), 1),
        "worker_ms_p90": round(_pct(worker_ms, 0.9), 1),
        "apply_ms_median": round(statistics.median(apply_ms), 1),
        "apply_ms_p90": round(_pct(apply_ms, 0.9), 1),
        "cells_written_median": statistics.median(cells),
        "key_ms_median": round(statistics.median(key_ms), 1),
        "key_ms_max": round(max(key_ms), 1),
        "ui_stall_ms_p99": round(_pct(stalls, 0.99), 1),
        "ui_stall_ms_max": round(max(stalls), 1),
        "refreshes": len(apply_ms),
    }


NAME = "dashboard"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sites-file", default=DEFAULT, type=Path, help="inventory to pad")
    parser.add_argument("--checks", type=int, nargs="*", default=[3000, 10000], help="sizes")
    parser.add_argument("--changes", type=int, default=50, help="state changes per refresh")
    parser.add_argument("--refreshes", type=int, default=15, help="refreshes to measure")


def run(args: argparse.Namespace) -> list[Row]:
    """Per size: first paint, refresh work off and on the UI thread, key latency, stalls."""
    base = sites.load(str(args.sites_file))
    rows: list[Row] = []
    for n in args.checks:
        r = asyncio.run(measure(scaled_inventory(base, n), args.changes, args.refreshes))
        size = f"{n:,} checks, {args.changes} changes/refresh"
        rows += [
            Row(NAME, f"first paint ({size})", "ms", r["first_paint_ms"]),
            Row(NAME, f"refresh, worker thread, median ({size})", "ms",
                r["worker_ms_median"]),
            Row(NAME, f"refresh, UI thread, median ({size})", "ms",
                r["apply_ms_median"]),
            Row(NAME, f"key press while refreshing, median ({size})", "ms",
                r["key_ms_median"]),
            Row(NAME, f"UI stall, p99 ({size})", "ms", r["ui_stall_ms_p99"],
                op="<=", bound=1000.0, compare="ours",
                note="the screen must update at least once a second"),
        ]  # fmt: skip
    return rows


if __name__ == "__main__":
    from bench.__main__ import main

    main([NAME, *sys.argv[1:]])
