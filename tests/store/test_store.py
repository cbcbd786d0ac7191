"""The SQLite store: schema, batched writes, rollups, retention, crash safety."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.state import (
    CheckMachine,
    CheckState,
    Event,
    OutageClosed,
    OutageOpened,
    Outcome,
    StateChanged,
)
from monitor.store import MIGRATIONS, Record, Store
from tests.store.writer_proc import CHECK, OTHER

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_790_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db", housekeeping=False, batch_interval=0.02, clock=lambda: NOW) as s:
        yield s


def raw(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_schema_and_pragmas(store: Store) -> None:
    tables = {r[0] for r in raw(store.path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "checks",
        "observations",
        "state_changes",
        "outages",
        "rollups_hourly",
        "check_state",
        "monitor_runs",
        "_sqlite_migrations",
    } <= tables
    with store.reader() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM checks")


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    for _ in range(3):
        Store(path, housekeeping=False).close()
    applied = raw(path, "SELECT migration_set, name FROM _sqlite_migrations")
    assert applied == [
        ("thongsuot", "m001_initial"),
        ("thongsuot", "m002_continuity"),
        ("thongsuot", "m003_acknowledgements"),
        ("thongsuot", "m004_observation_chains"),
    ]
    import sqlite_utils

    db = sqlite_utils.Database(path)
    try:
        assert MIGRATIONS.pending(db) == []
    finally:
        db.close()


def test_batched_writes_and_reads(store: Store) -> None:
    n = 12_345
    for i in range(n):
        store.record(
            Record(
                f"c{i % 7}",
                NOW + i,
                Outcome.DOWN if i % 5 == 0 else Outcome.OK,
                None if i % 5 == 0 else float(i % 40),
                "Không kết nối được" if i % 5 == 0 else "",
                {"rtt_avg_ms": 1.25, "http_status": 200} if i % 5 else None,
            )
        )
    store.flush()
    assert store.rows_written == n
    assert raw(store.path, "SELECT count(*) FROM observations") == [(n,)]
    recent = store.recent_observations("c0", limit=3)
    assert [r.ts for r in recent] == sorted((r.ts for r in recent), reverse=True)
    assert recent[0].ts == NOW + max(i for i in range(n) if i % 7 == 0)
    down = next(r for r in store.recent_observations("c0", 50) if r.outcome is Outcome.DOWN)
    assert down.reason == "Không kết nối được"
    assert down.latency_ms is None
    up = next(r for r in store.recent_observations("c0", 50) if r.outcome is Outcome.OK)
    assert up.values == {"rtt_avg_ms": 1.25, "http_status": 200}


def test_events_states_and_outages(store: Store) -> None:
    m = CheckMachine("hcm.wan", fail_after=2, recover_after=1)
    outcomes = [Outcome.OK, Outcome.DOWN, Outcome.DOWN, Outcome.DOWN, Outcome.OK, Outcome.DOWN]
    for i, o in enumerate(outcomes):
        ts = NOW + 60 * i
        ev = m.observe(ts, o, "connection refused" if o else "")
        store.record(Record("hcm.wan", ts, o, None, "", None, m.snapshot(), ev))
        store.flush()  # one transaction per observation: exercises cross-batch updates
    [out] = store.outages_between(NOW, NOW + 1000)
    assert (out.check, out.start_ts, out.confirmed_ts, out.end_ts) == (
        "hcm.wan",
        NOW + 60,
        NOW + 120,
        NOW + 240,
    )
    assert out.reason == "connection refused"
    assert out.root_cause is None
    assert store.open_outages() == []
    assert store.outages_between(NOW + 250, NOW + 1000) == []
    assert len(store.outages_between(NOW + 200, NOW + 230)) == 1
    changes = [(c.old, c.new) for c in store.state_changes("hcm.wan")]
    assert changes[:3] == [
        (CheckState.UNKNOWN, CheckState.UP),
        (CheckState.UP, CheckState.SUSPECT),
        (CheckState.SUSPECT, CheckState.DOWN),
    ]
    current = store.current_states()["hcm.wan"]
    assert current.state is CheckState.SUSPECT
    assert current.machine == m.snapshot()


def test_open_outage_is_listed(store: Store) -> None:
    store.record(
        Record(
            "x",
            NOW,
            Outcome.DOWN,
            events=[
                StateChanged("x", NOW, CheckState.UP, CheckState.DOWN, "r"),
                OutageOpened("x", NOW - 30, NOW, "HTTP 503"),
            ],
        )
    )
    store.flush()
    [o] = store.open_outages()
    assert (o.check, o.start_ts, o.end_ts, o.reason) == ("x", NOW - 30, None, "HTTP 503")
    store.record(Record("x", NOW + 5, Outcome.OK, events=[OutageClosed("x", NOW - 30, NOW + 5)]))
    store.flush()
    assert store.open_outages() == []


def test_monitor_runs(store: Store) -> None:
    run = store.start_run(NOW, pid=123)
    store.heartbeat(run, NOW + 10)
    store.stop_run(run, NOW + 20)
    crashed = store.start_run(NOW + 30)
    store.heartbeat(crashed, NOW + 40)
    store.flush()
    runs = store.runs()
    assert [(r.started, r.heartbeat, r.stopped, r.pid) for r in runs] == [
        (NOW, NOW + 20, NOW + 20, 123),
        (NOW + 30, NOW + 40, None, None),
    ]


observation = st.tuples(
    st.integers(min_value=0, max_value=3),  # check
    st.floats(min_value=0, max_value=4 * 3600 - 1e-3),  # offset within four hours
    st.sampled_from(list(Outcome)),
    st.one_of(st.none(), st.floats(min_value=0, max_value=5000, allow_nan=False)),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(observation, max_size=40), max_size=6))
def test_rollups_equal_raw_aggregation(
    batches: list[list[tuple[int, float, Outcome, float | None]]],
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.db"
        with Store(path, housekeeping=False, batch_interval=0.01) as s:
            for batch in batches:
                for c, off, outcome, lat in batch:
                    s.record(Record(f"c{c}", NOW + off, outcome, lat))
                s.flush()
            assert_rollups_equal_raw_aggregation(path)
            total = sum(len(b) for b in batches)
            assert sum(r.total for r in s.rollups(0, 2**40)) == total


def assert_rollups_equal_raw_aggregation(path: Path) -> None:
    rollups = raw(
        path,
        "SELECT check_id, hour, n_ok, n_degraded, n_down, n_error, latency_count, "
        "latency_min, latency_max, latency_sum FROM rollups_hourly ORDER BY 1, 2",
    )
    expected = raw(
        path,
        "SELECT check_id, CAST(ts / 3600 AS INTEGER) * 3600, sum(status = 0), "
        "sum(status = 1), sum(status = 2), sum(status = 3), count(latency_ms), "
        "min(latency_ms), max(latency_ms), total(latency_ms) "
        "FROM observations GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert [r[:9] for r in rollups] == [e[:9] for e in expected]
    for r, e in zip(rollups, expected, strict=True):
        assert r[9] == pytest.approx(e[9])


def test_retention_purge_keeps_history(tmp_path: Path) -> None:
    with Store(tmp_path / "p.db", housekeeping=False, retention_days=30) as s:
        day = 86400.0
        for check in ("a", "b"):
            for age in (40, 31, 29, 1):
                s.record(Record(check, NOW - age * day, Outcome.DOWN, 3.0))
        s.record(
            Record("a", NOW - 40 * day, Outcome.DOWN, events=[OutageOpened("a", 1.0, 2.0, "x")])
        )
        s.flush()
        assert s.purge(NOW, chunk=1) == 5
        left = raw(s.path, "SELECT check_id, ts FROM observations ORDER BY 1, 2")
        assert [ts for _, ts in left] == [NOW - 29 * day, NOW - day] * 2
        assert sum(r.total for r in s.rollups(0, 2**40)) == 9
        assert len(s.open_outages()) == 1
        assert s.purge(NOW) == 0


def test_purge_drops_old_batches_whole_and_trims_mixed_ones(tmp_path: Path) -> None:
    day = 86400.0
    batches = [(50, 45), (44, 35), (40, 20), (10, 5), (3, 1), (60, 2)]
    with Store(tmp_path / "b.db", housekeeping=False, retention_days=30) as s:
        for ages in batches:
            for age in ages:
                s.record(Record("a", NOW - age * day, Outcome.OK))
            s.flush()
        assert s.purge(NOW, chunk=2) == 6
        left = raw(s.path, "SELECT ts FROM observations ORDER BY id")
        assert left == [(NOW - age * day,) for age in (20, 10, 5, 3, 1, 2)]
        assert raw(s.path, "SELECT first_id, min_ts FROM observation_batches ORDER BY 1") == [
            (5, NOW - 20 * day),
            (7, NOW - 10 * day),
            (9, NOW - 3 * day),
            (11, NOW - 2 * day),
        ]
        assert s.purge(NOW) == 0


def test_housekeeping_runs_purge_and_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with Store(
        path, retention_days=1, purge_every=0.2, checkpoint_every=0.2, batch_interval=0.01
    ) as s:
        s.record(Record("a", time.time() - 3 * 86400, Outcome.OK))
        s.record(Record("a", time.time(), Outcome.OK))
        s.flush()
        deadline = time.monotonic() + 5
        while raw(path, "SELECT count(*) FROM observations")[0][0] != 1:
            assert time.monotonic() < deadline, "purge job did not run"
            time.sleep(0.05)
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0


def test_checkpoint_truncates_wal(store: Store) -> None:
    for i in range(3000):
        store.record(Record("a", NOW + i, Outcome.OK, 1.0))
    store.flush()
    busy, _, _ = store.checkpoint()
    assert busy == 0
    assert Path(str(store.path) + "-wal").stat().st_size == 0


def test_a_failed_batch_leaves_no_phantom_check(store: Store) -> None:
    # The failed batch created the check's row, then rolled back: the next batch must
    # create it again rather than reuse an id that does not exist.
    unencodable: dict[str, object] = {"x": object()}
    store.record(Record("new-check", NOW, Outcome.OK, 1.0, "", unencodable))  # type: ignore[arg-type]
    store.flush()
    assert store.write_errors == 1
    store.record(Record("new-check", NOW + 1, Outcome.OK, 1.0))
    store.flush()
    assert len(store.recent_observations("new-check")) == 1


def test_writer_survives_a_bad_command(store: Store) -> None:
    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO nowhere VALUES (1)")

    with pytest.raises(sqlite3.OperationalError):
        store.submit(boom).result()
    store.record(Record("a", NOW, Outcome.OK))
    store.flush()
    assert len(store.recent_observations("a")) == 1


def test_kill_9_then_reopen_resumes(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.store.writer_proc", str(path), str(NOW)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "outage"
        while True:
            line = proc.stdout.readline()
            assert line, "writer process exited early"
            if int(line.split()[1]) >= 20_000:
                break
        # keep it writing so the kill is likely to land inside a transaction
        time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    with Store(path, housekeeping=False) as s:
        assert raw(path, "PRAGMA integrity_check") == [("ok",)]
        before = raw(path, "SELECT count(*), max(id) FROM observations")[0]
        assert isinstance(before[0], int)
        assert before[0] >= 20_003
        [outage] = s.open_outages()
        assert (outage.check, outage.start_ts) == (CHECK, NOW + 1)
        states = s.current_states()
        assert states[CHECK].state is CheckState.DOWN
        assert states[OTHER].state is CheckState.UP
        # the stored machine matches the stored observations: same last timestamp
        last_ts = raw(
            path,
            "SELECT max(ts) FROM observations WHERE check_id = (SELECT id FROM checks "
            "WHERE key = ?)",
            (CHECK,),
        )[0][0]
        assert isinstance(last_ts, float)
        assert states[CHECK].last_ts == last_ts

        m = CheckMachine(CHECK, 2, 2, states[CHECK].machine)
        ts = last_ts + 1
        events: list[Event] = []
        for outcome in (Outcome.DOWN, Outcome.OK, Outcome.OK):
            ev = m.observe(ts, outcome)
            events += ev
            s.record(Record(CHECK, ts, outcome, None, "", None, m.snapshot(), ev))
            ts += 1
        s.flush()
        assert not any(isinstance(e, OutageOpened) for e in events)
        assert s.open_outages() == []
        [closed] = s.outages_between(0, 2**40, CHECK)
        assert (closed.start_ts, closed.end_ts) == (NOW + 1, last_ts + 2)
        assert raw(path, "SELECT count(*) FROM observations WHERE id > ?", (before[1],)) == [(3,)]
        assert raw(path, "PRAGMA integrity_check") == [("ok",)]


def test_records_from_many_threads_all_land_before_a_command(tmp_path: Path) -> None:
    # record() appends to a buffer the writer takes in batches; a command (here a count
    # inside the writer's own transaction) must still see every record queued before it.
    import threading

    with Store(tmp_path / "t.db", housekeeping=False, batch_rows=700, max_batch_rows=3000) as s:

        def produce(k: int) -> None:
            for i in range(5000):
                s.record(Record(f"t{k}.c{i % 13}", NOW + i, Outcome.OK, 1.0))

        threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen = s.submit(
            lambda conn: conn.execute("SELECT count(*) FROM observations").fetchone()[0]
        ).result()
        assert seen == 20_000
        assert s.rows_written == 20_000
        assert s.write_errors == 0
        assert sum(r.total for r in s.rollups(0, 2**40)) == 20_000


def test_batch_interval_bounds_how_long_a_record_waits(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db", housekeeping=False, batch_interval=0.05) as s:
        s.record(Record("lone.check", NOW, Outcome.OK, 2.0))
        deadline = time.monotonic() + 5
        while s.rows_written == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert s.rows_written == 1  # written by the timer, without a flush


def test_a_full_buffer_is_written_once_records_stop_coming(tmp_path: Path) -> None:
    """Past ``batch_rows``, the writer waits only until the buffer stops growing, not for
    the batch timer."""
    with Store(tmp_path / "t.db", housekeeping=False, batch_rows=50, batch_interval=3600) as s:
        for i in range(50):
            s.record(Record(f"c{i % 7}", NOW + i, Outcome.OK, 1.0))
        deadline = time.monotonic() + 5
        while s.rows_written < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert s.rows_written == 50


def _as_stored(values: Mapping[str, object]) -> dict[str, object]:
    """``values`` as they read back from the store: JSON has no NaN or infinity."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()
    }


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(st.characters(codec=None), max_size=12),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(st.characters(codec=None), max_size=20),
        ),
        max_size=5,
    )
)
def test_values_are_stored_as_json_that_reads_back(values: dict[str, object]) -> None:
    """Any values a probe may report, huge integers and lone surrogates included, become
    text SQLite can bind and its JSON functions accept, and read back as they were."""
    from monitor.store import _encode_values

    text = _encode_values(values)  # type: ignore[arg-type]
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT json_valid(?)", (text,)).fetchone() == (1,)
    assert json.loads(text) == _as_stored(values)


def test_new_databases_get_big_pages_existing_ones_keep_theirs(tmp_path: Path) -> None:
    from monitor.store import PAGE_SIZE

    Store(tmp_path / "new.db", housekeeping=False).close()
    assert raw(tmp_path / "new.db", "PRAGMA page_size") == [(PAGE_SIZE,)]
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("CREATE TABLE x (y)")
    conn.close()
    with Store(old, housekeeping=False) as s:
        s.record(Record("c", NOW, Outcome.OK))
        s.flush()
    assert raw(old, "PRAGMA page_size") == [(4096,)]


def test_each_check_chains_its_history_across_batches_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    written: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    for run in range(3):
        with Store(path, housekeeping=False) as s:
            for batch in range(4):
                for i in range(50 + 37 * batch):
                    key = "abc"[(i * i + batch) % 3]
                    ts = NOW + run * 10_000 + batch * 1_000 + i
                    s.record(Record(key, ts, Outcome.OK, 1.0))
                    written[key].append(ts)
                s.flush()
            for key, stamps in written.items():
                got = [r.ts for r in s.recent_observations(key, 10_000)]
                assert got == stamps[::-1]
                assert [r.ts for r in s.recent_observations(key, 5)] == stamps[:-6:-1]
    assert Store(path, housekeeping=False).recent_observations("nowhere") == []


def test_a_chain_ends_where_the_purge_cut_it_and_ids_come_round_again(tmp_path: Path) -> None:
    day = 86400.0
    with Store(tmp_path / "p.db", housekeeping=False, retention_days=30) as s:
        for age in (40, 35, 20, 10):
            s.record(Record("a", NOW - age * day, Outcome.OK))
        s.flush()
        assert s.purge(NOW) == 2
        assert [r.ts for r in s.recent_observations("a")] == [NOW - 10 * day, NOW - 20 * day]
        # Everything purged: the table is empty and the next rows get ids 1, 2, ...
        # again, while "a" still names its old head (id 4) as the previous row.
        assert s.purge(NOW + 100 * day) == 2
        s.record(Record("b", NOW, Outcome.OK))
        for i in range(5):
            s.record(Record("a", NOW + i, Outcome.OK))
        s.flush()
        assert raw(s.path, "SELECT id, prev_id FROM observations ORDER BY id")[:3] == [
            (1, None),
            (2, 4),
            (3, 2),
        ]
        assert [r.ts for r in s.recent_observations("a")] == [NOW + i for i in range(4, -1, -1)]
        assert [r.ts for r in s.recent_observations("b")] == [NOW]


def test_a_database_from_before_the_chains_is_migrated(tmp_path: Path) -> None:
    import sqlite_utils

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    MIGRATIONS.apply(db, stop_before="m004_observation_chains")
    db.execute("INSERT INTO checks (id, key) VALUES (1, 'a'), (2, 'b'), (3, 'idle')")
    db.conn.executemany(
        "INSERT INTO observations (ts, check_id, status) VALUES (?, ?, 0)",
        [(NOW + i, 1 + i % 2) for i in range(9)],
    )
    db.conn.commit()
    db.close()
    with Store(path, housekeeping=False) as s:
        assert [r.ts for r in s.recent_observations("a")] == [NOW + i for i in (8, 6, 4, 2, 0)]
        assert s.recent_observations("idle") == []
        s.record(Record("b", NOW + 9, Outcome.OK))
        s.flush()
        assert [r.ts for r in s.recent_observations("b", 3)] == [NOW + 9, NOW + 7, NOW + 5]
    index = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'observations'"
    assert raw(path, index) == []
    assert raw(path, "SELECT * FROM observation_batches ORDER BY 1") == [
        (1, 9, NOW, NOW + 8),
        (10, 10, NOW + 9, NOW + 9),
    ]


def test_chains_and_rollups_within_and_across_insert_chunks(tmp_path: Path) -> None:
    """A batch is written 200 rows at a time: a check seen twice in those rows, hours
    that change within them and times out of order are all in order in what is stored."""
    path = tmp_path / "chunks.db"
    with Store(path, housekeeping=False, batch_rows=100_000) as s:
        for batch in range(2):
            for i in range(1_000):
                key = "hot" if i % 7 == 0 else f"c{i % 300}"
                ts = NOW + batch * 10_000 + i * 10 - (i % 11 == 5) * 4_000
                outcome = Outcome.DOWN if i % 13 == 0 else Outcome.OK
                s.record(Record(key, ts, outcome, None if outcome else float(i % 40)))
            s.flush()
        hours = raw(path, "SELECT count(DISTINCT CAST(ts / 3600 AS INTEGER)) FROM observations")
        assert hours == [(7,)]
        chains = raw(
            path,
            "SELECT prev_id, lag(id) OVER (PARTITION BY check_id ORDER BY id) FROM observations",
        )
        assert len(chains) == 2_000
        assert all(prev == expected for prev, expected in chains)
        assert_rollups_equal_raw_aggregation(path)


def test_a_check_keeps_the_state_of_its_last_record_that_has_one(store: Store) -> None:
    m = CheckMachine("a", fail_after=1, recover_after=1)
    events = m.observe(NOW, Outcome.OK, "")
    store.record(Record("a", NOW, Outcome.OK, state=m.snapshot(), events=events))
    store.flush()
    up = m.snapshot()
    store.record(Record("b", NOW, Outcome.OK))
    store.record(Record("a", NOW + 1, Outcome.OK))
    store.flush()
    assert store.current_states()["a"].machine == up
    events = m.observe(NOW + 2, Outcome.DOWN, "x")
    store.record(Record("a", NOW + 2, Outcome.DOWN, state=m.snapshot(), events=events))
    store.record(Record("a", NOW + 3, Outcome.DOWN))
    store.flush()
    states = store.current_states()
    assert states["a"].state is CheckState.DOWN
    assert states["a"].machine == m.snapshot() != up
    assert "b" not in states


@pytest.mark.parametrize("n", [1, 199, 200, 201, 401, 1_000])
def test_multi_row_inserts_keep_every_row_and_its_order(tmp_path: Path, n: int) -> None:
    """Whole 200-row INSERTs plus a one-row tail: every row lands once, in order, with
    its values as JSON."""

    def values(i: int) -> dict[str, object] | None:
        choices: list[dict[str, object] | None] = [
            {"rtt_avg_ms": 0.1 + i},
            {"http_status": 200 + i},
            {"rtt_avg_ms": float("nan")},
            {"a": 1.5, "b": "x"},
            None,
            {"độ trễ": 2.0},
        ]
        return choices[i % len(choices)]

    with Store(tmp_path / "m.db", housekeeping=False, batch_rows=100_000) as s:
        for i in range(n):
            s.record(
                Record(
                    f"c{i % 3}",
                    NOW + i,
                    Outcome.DOWN if i % 7 == 3 else Outcome.OK,
                    None if i % 7 == 3 else float(i),
                    "down" if i % 7 == 3 else "",
                    values(i),  # type: ignore[arg-type]
                )
            )
        s.flush()
        rows = raw(
            s.path,
            "SELECT c.key, o.ts, o.status, o.latency_ms, o.reason, o.values_json "
            "FROM observations o JOIN checks c ON c.id = o.check_id ORDER BY o.id",
        )
    assert [(*row[:5], row[5] and json.loads(row[5])) for row in rows] == [
        (
            f"c{i % 3}",
            NOW + i,
            2 if i % 7 == 3 else 0,
            None if i % 7 == 3 else float(i),
            "down" if i % 7 == 3 else None,
            None if values(i) is None else _as_stored(values(i)),  # type: ignore[arg-type]
        )
        for i in range(n)
    ]


def test_state_changes_between_outage_events_keep_their_order(store: Store) -> None:
    """State changes go in runs of executemany; the outage rows between them stay put."""
    m = CheckMachine("a", fail_after=1, recover_after=1)
    recs = []
    for i, outcome in enumerate([Outcome.OK, Outcome.DOWN, Outcome.OK, Outcome.DOWN]):
        ts = NOW + i
        events = m.observe(ts, outcome, "x")
        recs.append(Record("a", ts, outcome, state=m.snapshot(), events=events))
    for r in recs:
        store.record(r)
    store.flush()
    expected = [e for r in recs for e in r.events if isinstance(e, StateChanged)]
    assert store.state_changes("a") == expected
    outages = raw(store.path, "SELECT start_ts, end_ts FROM outages ORDER BY id")
    assert outages == [(NOW + 1, NOW + 2), (NOW + 3, None)]
    ids = raw(store.path, "SELECT ts FROM state_changes ORDER BY id")
    assert [t for (t,) in ids] == [e.ts for e in expected]
