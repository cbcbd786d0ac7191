"""`thongsuot run` end to end: a real HTTP server goes away and comes back.

The outage the daemon records must start at the first failed observation and end at the
first good one; a kill -9 must leave a database that the next run continues.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

INVENTORY = """\
version: 1
province: {{name: Thử nghiệm, domain: test.example}}
defaults: {{interval: 0.4s, retry_interval: 0.2s, fail_after: 2, recover_after: 2, timeout: 1s}}
datacenters:
  - id: dc-a
    name: Trung tâm dữ liệu A
    former_province: Cần Thơ
    checks:
      - {{id: uplink, kind: tcp, role: uplink, host: 127.0.0.1, port: {uplink_port}}}
systems:
  - id: cong
    name: Cổng thông tin điện tử
    datacenter: dc-a
    checks:
      - {{id: web, kind: http, url: "http://127.0.0.1:{web_port}/", body_contains: Cần Thơ}}
"""


async def _home(_: web.Request) -> web.Response:
    return web.Response(text="Cổng Cần Thơ")


class Portal:
    """A real aiohttp server on a fixed port that the test stops and starts."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", _home)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        self._runner = None


def _rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


async def _wait_for(what: Callable[[], bool]) -> None:
    async with asyncio.timeout(15):
        # The daemon is another process: its database is the only thing to watch.
        while not what():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def _observations(db: Path, check: str) -> list[tuple[float, int]]:
    try:
        rows = _rows(
            db,
            "SELECT o.ts, o.status FROM observations o JOIN checks c ON c.id = o.check_id "
            "WHERE c.key = ? ORDER BY o.ts",
            check,
        )
    except sqlite3.OperationalError:
        return []
    return [(float(ts), int(status)) for ts, status in rows]  # type: ignore[arg-type]


def _outages(db: Path, check: str) -> list[tuple[float, float | None]]:
    rows = _rows(
        db,
        "SELECT o.start_ts, o.end_ts FROM outages o JOIN checks c ON c.id = o.check_id "
        "WHERE c.key = ? ORDER BY o.start_ts",
        check,
    )
    return [(float(s), None if e is None else float(e)) for s, e in rows]  # type: ignore[arg-type]


def _daemon(inventory: Path, db: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "thongsuot.cli", "run", str(inventory), "--db", str(db), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_outage_interval_from_first_failure_to_first_success(tmp_path: Path) -> None:
    portal = Portal()
    await portal.start()
    uplink = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    uplink_port = uplink.sockets[0].getsockname()[1]
    inventory = tmp_path / "sites.yaml"
    inventory.write_text(
        INVENTORY.format(uplink_port=uplink_port, web_port=portal.port), encoding="utf-8"
    )
    db = tmp_path / "monitor.db"
    daemon = _daemon(inventory, db)
    try:
        await _wait_for(lambda: len(_observations(db, "cong.web")) >= 2)
        await portal.stop()
        await _wait_for(lambda: bool(_outages(db, "cong.web")))
        await asyncio.sleep(0.5)
        await portal.start()
        await _wait_for(lambda: _outages(db, "cong.web")[-1][1] is not None)
    finally:
        daemon.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(daemon.communicate, timeout=15)
        uplink.close()
        await uplink.wait_closed()
        await portal.stop()
    assert daemon.returncode == 0, output
    assert "Traceback" not in output
    assert "DOWN" in output, output
    assert "UP" in output, output

    observations = _observations(db, "cong.web")
    [(start, end)] = _outages(db, "cong.web")
    first_bad = next(i for i, (_, status) in enumerate(observations) if status == 2)
    assert all(status == 0 for _, status in observations[:first_bad])
    assert start == observations[first_bad][0]
    first_good_after = next(ts for ts, status in observations[first_bad:] if status == 0)
    assert end == first_good_after
    assert not _outages(db, "dc-a.uplink"), "the uplink never failed"
    runs = _rows(db, "SELECT stopped FROM monitor_runs")
    assert len(runs) == 1
    assert runs[0][0] is not None, "a clean stop closes the run"


async def test_kill_9_then_restart_continues_history(tmp_path: Path) -> None:
    portal = Portal()
    await portal.start()
    inventory = tmp_path / "sites.yaml"
    inventory.write_text(INVENTORY.format(uplink_port=portal.port, web_port=portal.port))
    db = tmp_path / "monitor.db"
    try:
        daemon = _daemon(inventory, db)
        await _wait_for(lambda: len(_observations(db, "cong.web")) >= 3)
        os.kill(daemon.pid, signal.SIGKILL)
        await asyncio.to_thread(daemon.communicate, timeout=10)
        before = len(_observations(db, "cong.web"))

        daemon = _daemon(inventory, db)
        await _wait_for(lambda: len(_observations(db, "cong.web")) >= before + 3)
        daemon.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(daemon.communicate, timeout=15)
    finally:
        await portal.stop()
    assert daemon.returncode == 0, output
    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
    runs = _rows(db, "SELECT started, stopped FROM monitor_runs ORDER BY id")
    assert len(runs) == 2
    assert runs[0][1] is None, "the killed run never stopped cleanly"
    assert runs[1][1] is not None
    assert not _outages(db, "cong.web"), "a restart is not an outage"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("version: 1\nprovince: {name: X, domain: x.example}\ndatacenters: [{id: a}]\n", ":3:"),
        ("version: 1\nprovnce: {}\n", "did you mean 'province'?"),
    ],
)
def test_broken_inventory_exits_2_without_traceback(tmp_path: Path, text: str, needle: str) -> None:
    inventory = tmp_path / "sites.yaml"
    inventory.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "thongsuot.cli", "run", str(inventory), "--db", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert needle in result.stderr, result.stderr
    assert not (tmp_path / "x").exists(), "nothing is written for a broken inventory"


TWO_DATACENTRES = INVENTORY.replace(
    "systems:\n",
    """\
  - id: dc-b
    name: Trung tâm dữ liệu B
    former_province: Hậu Giang
    checks:
      - {{id: uplink, kind: tcp, role: uplink, host: 127.0.0.1, port: {uplink_port}}}
systems:
""",
)
CHECKS = ("dc-a.uplink", "dc-b.uplink", "cong.web")


async def _run_two(tmp_path: Path) -> tuple[Portal, Path, subprocess.Popen[str]]:
    portal = Portal()
    await portal.start()
    inventory = tmp_path / "sites.yaml"
    text = TWO_DATACENTRES.format(uplink_port=portal.port, web_port=portal.port)
    inventory.write_text(text, encoding="utf-8")
    db = tmp_path / "monitor.db"
    daemon = _daemon(inventory, db, "--procs", "2")
    await _wait_for(lambda: all(len(_observations(db, key)) >= 3 for key in CHECKS))
    return portal, db, daemon


async def test_two_processes_share_the_checks_and_the_database(tmp_path: Path) -> None:
    portal, db, daemon = await _run_two(tmp_path)
    try:
        runs = _rows(db, "SELECT pid, stopped FROM monitor_runs ORDER BY id")
        daemon.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(daemon.communicate, timeout=15)
    finally:
        await portal.stop()
    assert daemon.returncode == 0, output
    assert "Traceback" not in output, output
    assert len(runs) == 2
    assert len({pid for pid, _ in runs} | {daemon.pid}) == 3, "two monitors besides the supervisor"
    assert "(monitor 1/2): monitoring 2 checks" in output, output
    assert "(monitor 2/2): monitoring 1 checks" in output, output
    assert all(stopped is not None for (stopped,) in _rows(db, "SELECT stopped FROM monitor_runs"))
    assert not _rows(db, "SELECT * FROM outages")


async def test_one_process_dying_stops_the_others(tmp_path: Path) -> None:
    portal, db, daemon = await _run_two(tmp_path)
    try:
        [(victim,), (survivor,)] = _rows(db, "SELECT pid FROM monitor_runs ORDER BY id")
        assert isinstance(victim, int)
        os.kill(victim, signal.SIGKILL)
        output, _ = await asyncio.to_thread(daemon.communicate, timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        await portal.stop()
    assert daemon.returncode == 1, output
    assert "exited with code -9; stopping the others" in output, output
    stopped = dict(_rows(db, "SELECT pid, stopped FROM monitor_runs"))
    assert stopped[victim] is None
    assert stopped[survivor] is not None, "the survivor stopped cleanly"
