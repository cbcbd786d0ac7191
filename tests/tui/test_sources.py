"""The database-backed sources against a real monitor database (written by the Store)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from monitor.engine import Monitor
from monitor.state import Outcome
from monitor.store import Record, Store
from sites import Inventory
from tui.app import run_dash
from tui.board import Ack
from tui.sample import MARKUP_DESCR, ODD_STATE, SAMPLE_NOW, SampleScenario, sample_board
from tui.sources import DbSource, LiveSource, SourceError

from .fixed_db import build_db


@pytest.fixture
def db(tmp_path: Path, inventory: Inventory) -> Path:
    return build_db(tmp_path / "monitor.db", inventory)


def test_db_source_reads_the_board(db: Path, inventory: Inventory) -> None:
    source = DbSource(db, inventory, clock=lambda: SAMPLE_NOW)
    try:
        board = source.snapshot()
    finally:
        source.close()
    sample = sample_board(inventory)
    assert board.warning == ""
    assert len(board.checks) == len(sample.checks)
    assert {k: r.state for k, r in board.checks.items()} == {
        k: r.state for k, r in sample.checks.items()
    }
    sc = SampleScenario(inventory)
    assert board.checks[sc.odd].state == ODD_STATE
    assert board.checks[sc.wan].reason == "100 % loss (3/3)"
    assert board.checks[sc.snmp].latency_ms == sample.checks[sc.snmp].latency_ms
    assert len(board.outages) == len(sample.outages)
    wan = next(o for o in board.outages if o.check == sc.wan)
    children = [o for o in board.outages if o.root_cause == wan.id]
    assert sorted(o.check for o in children) == sorted(sc.behind_wan)
    assert [e.new for e in board.events] == [e.new for e in sample.events]
    assert [c.verdict for c in board.cutovers][:3] == ["VIOLATED"] * 3


def test_db_detail_keeps_device_text(db: Path, inventory: Inventory) -> None:
    source = DbSource(db, inventory, clock=lambda: SAMPLE_NOW)
    sc = SampleScenario(inventory)
    detail = source.detail([sc.snmp, "no-such.check"])
    source.close()
    assert len(detail[sc.snmp].observations) == 3
    assert detail[sc.snmp].observations[0].values["sys_descr"] == MARKUP_DESCR
    assert detail["no-such.check"].observations == ()


def test_acknowledgement_is_stored(db: Path, inventory: Inventory) -> None:
    source = DbSource(db, inventory, clock=lambda: SAMPLE_NOW)
    sc = SampleScenario(inventory)
    wan = next(o for o in source.snapshot().outages if o.check == sc.wan)
    source.acknowledge(Ack(sc.wan, wan.start_ts, "Trần Thị Bích", "đã báo VNPT", SAMPLE_NOW))
    board = source.snapshot()
    source.close()
    ack = board.acks[(sc.wan, wan.start_ts)]
    assert (ack.by, ack.note) == ("Trần Thị Bích", "đã báo VNPT")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM acknowledgements").fetchone()[0] == 1


def test_missing_database(tmp_path: Path, inventory: Inventory) -> None:
    source = DbSource(tmp_path / "nope.db", inventory)
    with pytest.raises(SourceError, match="start the monitor"):
        source.snapshot()
    assert not (tmp_path / "nope.db").exists()  # read-only: never created
    assert run_dash(inventory, tmp_path / "nope.db") == 2


def test_database_without_tables_gives_a_warning(tmp_path: Path, inventory: Inventory) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    source = DbSource(path, inventory)
    board = source.snapshot()
    source.close()
    assert "no such table" in board.warning
    assert board.checks == {}


def test_reads_while_the_monitor_writes(db: Path, inventory: Inventory) -> None:
    """WAL: the dashboard's reads and the monitor's writes never wait for each other."""
    stop = threading.Event()
    keys = list(inventory.checks)[:50]

    def write() -> None:
        with Store(db, housekeeping=False, batch_interval=0.01) as store:
            i = 0
            while not stop.is_set():
                store.record(Record(keys[i % 50], time.time(), Outcome.OK, 1.0 + i % 7))
                i += 1
                if i % 200 == 0:
                    time.sleep(0.005)

    writer = threading.Thread(target=write)
    writer.start()
    source = DbSource(db, inventory)
    try:
        worst = 0.0
        for _ in range(20):
            t0 = time.perf_counter()
            board = source.snapshot()
            worst = max(worst, time.perf_counter() - t0)
            assert board.warning == ""
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()
        source.close()
    assert worst < 1.0


def test_live_source_takes_states_from_the_monitor(db: Path, inventory: Inventory) -> None:
    store = Store(db, housekeeping=False)
    try:
        monitor = Monitor(inventory.checks.values(), store)
        source = LiveSource(monitor, store, inventory, clock=lambda: SAMPLE_NOW)
        board = source.snapshot()
        source.close()
    finally:
        store.close()
    assert board.source == "live"
    probed = [c.id for c in inventory.checks.values() if c.lifecycle.probed]
    assert set(board.checks) == set(probed)
    assert {r.state for r in board.checks.values()} == {"unknown"}  # not started yet
    assert len(board.outages) == len(sample_board(inventory).outages)  # from the database
