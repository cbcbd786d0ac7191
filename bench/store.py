"""Storage: observations per second into the store's indexed tables, through ``Store``.

Ours is :class:`monitor.store.Store` (``record`` then ``flush``: the writer thread's
batches with rollups, state upserts and events in one transaction each). CPU is this
whole process's.

* **Burst**: 300,000 rows into a new database as fast as they come. The peer is the floor
  SQLite itself sets: the same rows into the same schema with one plain ``executemany``
  per 10,000 rows and nothing else.
* **Layout**: the observations table alone at the monitor's pace, a commit per
  ``--batch`` rows (1,700 a second is 100,000 checks a minute), into a database that
  already holds ``--prefill`` rows, both sides with bare ``executemany``. Ours is the
  store's table, each check's rows chained (see ``m004_observation_chains``); the peer is
  the usual layout, and ours before the chains: a (check_id, ts) index. Its inserts land
  on a random page each, and every page a batch touches is written again at commit.

The burst's two sides run ``--runs`` times, taking turns so that a slow spell of the
machine hits both, and each side's median run is reported, with the range of its runs
under the table; the layout's run once each.
The garbage collector is run before each timed part: the records, built up front, would
otherwise fall due for collection in whichever side runs first.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench import Row, cpu_self, median_by
from bench.specs import sleep_specs
from monitor.state import CheckMachine, Outcome
from monitor.store import Record, Store

NAME = "store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Rows and checks."""
    parser.add_argument("--rows", type=int, default=300_000, help="observations to write")
    parser.add_argument("--checks", type=int, default=10_000, help="distinct checks")
    parser.add_argument("--runs", type=int, default=5, help="runs of each side")
    parser.add_argument("--prefill", type=int, default=2_000_000, help="rows already stored")
    parser.add_argument("--batch", type=int, default=1_700, help="rows a batch, steady part")
    parser.add_argument("--batches", type=int, default=60, help="batches, steady part")


def make_records(checks: int, rows: int) -> list[Record]:
    """``rows`` observations round-robin over ``checks`` checks, 1 % of them failures."""
    specs = sleep_specs(checks, 60.0)
    machines = [CheckMachine(s.id) for s in specs]
    t0 = time.time() - rows / checks * 60.0
    records = []
    for i in range(rows):
        c = i % checks
        ts = t0 + (i // checks) * 60.0 + c * 60.0 / checks
        down = i % 97 == 0
        outcome = Outcome.DOWN if down else Outcome.OK
        events = machines[c].observe(ts, outcome, "timeout" if down else "")
        records.append(
            Record(
                specs[c].id,
                ts,
                outcome,
                None if down else 1.0 + (i % 50),
                "connect timeout after 3.0 s" if down else "",
                None if down else {"rtt_avg_ms": 1.5},
                machines[c].snapshot(),
                events,
            )
        )
    return records


def bench_ours(records: list[Record], checks: int, directory: Path) -> tuple[float, float]:
    """Seconds and CPU seconds to record and commit ``records``."""
    with Store(directory / "ours.db", housekeeping=False) as store:
        store.sync_checks(sleep_specs(checks, 60.0))
        gc.collect()
        cpu0, t0 = cpu_self(), time.perf_counter()
        for r in records:
            store.record(r)
        store.flush()
        return time.perf_counter() - t0, cpu_self() - cpu0


def _bare_connection(path: Path) -> sqlite3.Connection:
    """A connection for bare ``executemany``, set up as the store's writer is."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def bench_plain(records: list[Record], checks: int, directory: Path) -> tuple[float, float]:
    """The same rows with bare executemany into the same schema (the floor)."""
    path = directory / "plain.db"
    with Store(path, housekeeping=False) as store:
        ids = store.sync_checks(sleep_specs(checks, 60.0))
    conn = _bare_connection(path)
    # Absent values bound as "", as the store does (binding None costs sqlite3 more).
    sql = (
        "INSERT INTO observations (ts, check_id, status, latency_ms, reason, values_json) "
        "VALUES (?, ?, ?, ?, nullif(?, ''), nullif(?, ''))"
    )
    gc.collect()
    cpu0, t0 = cpu_self(), time.perf_counter()
    for start in range(0, len(records), 10_000):
        chunk = records[start : start + 10_000]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            sql,
            [
                (
                    r.ts,
                    ids[r.check],
                    int(r.outcome),
                    r.latency_ms,
                    r.reason,
                    '{"rtt_avg_ms":1.5}' if r.values else "",
                )
                for r in chunk
            ],
        )
        conn.execute("COMMIT")
    wall, cpu = time.perf_counter() - t0, cpu_self() - cpu0
    conn.close()
    return wall, cpu


_PREFILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
INSERT INTO observations (id, prev_id, ts, check_id, status, latency_ms, values_json)
SELECT i, CASE WHEN i > :checks THEN i - :checks END, :t0 + i * :step, (i - 1) % :checks + 1,
       0, 1.5, '{"rtt_avg_ms":1.5}'
FROM n
"""


def prefilled(directory: Path, checks: int, rows: int, indexed: bool) -> Path:
    """A database of ``checks`` checks with ``rows`` observations, round-robin, in the past.

    Ours (``indexed`` False) is made by the store and chained; the peer's is a bare
    observations table with the per-check index."""
    path = directory / ("indexed.db" if indexed else "chained.db")
    conn = sqlite3.connect(path, isolation_level=None)
    if indexed:
        conn.execute("PRAGMA page_size=65536")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE observations (id INTEGER PRIMARY KEY, prev_id INTEGER, ts REAL "
            "NOT NULL, check_id INTEGER NOT NULL, status INTEGER NOT NULL, latency_ms REAL, "
            "reason TEXT, values_json TEXT)"
        )
        conn.execute("CREATE INDEX observations_check_ts ON observations(check_id, ts)")
    else:
        with Store(path, housekeeping=False) as store:
            ids = store.sync_checks(sleep_specs(checks, 60.0))
        assert sorted(ids.values()) == list(range(1, checks + 1))
    t0 = time.time() - 86400.0
    conn.execute(_PREFILL, {"rows": rows, "checks": checks, "t0": t0, "step": 1e-3})
    if not indexed:
        conn.execute(
            "INSERT INTO observation_heads SELECT id, :rows - :checks + id FROM checks",
            {"rows": rows - rows % checks, "checks": checks},
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def steady(records: list[Record], batch: int, path: Path, chained: bool) -> float:
    """CPU seconds per row written with bare ``executemany``, one commit per ``batch`` rows.

    Chained rows carry their own id and the check's previous row's, as the store writes
    them, and the batch moves each check's head and notes its id and time range."""
    conn = _bare_connection(path)
    keys = {key: cid for cid, key in enumerate(dict.fromkeys(r.check for r in records), 1)}
    heads = dict(conn.execute("SELECT check_id, last_id FROM observation_heads")) if chained else {}
    gc.collect()
    cpu0 = cpu_self()
    for start in range(0, len(records), batch):
        conn.execute("BEGIN IMMEDIATE")
        oid = conn.execute("SELECT max(id) FROM observations").fetchone()[0]
        rows = []
        for r in records[start : start + batch]:
            cid = keys[r.check]
            oid += 1
            rows.append((oid, heads.get(cid), r.ts, cid, int(r.outcome), r.latency_ms,
                         r.reason or None, '{"rtt_avg_ms":1.5}' if r.values else None))  # fmt: skip
            heads[cid] = oid
        conn.executemany(
            "INSERT INTO observations (id, prev_id, ts, check_id, status, latency_ms, reason, "
            "values_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if chained:
            stamps = [row[2] for row in rows]
            conn.execute(
                "INSERT INTO observation_batches VALUES (?, ?, ?, ?)",
                (rows[0][0], oid, min(stamps), max(stamps)),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO observation_heads VALUES (?, ?)",
                [(cid, heads[cid]) for cid in {row[3] for row in rows}],
            )
        conn.execute("COMMIT")
    conn.close()
    return (cpu_self() - cpu0) / len(records)


def run(args: argparse.Namespace) -> list[Row]:
    """Write the same records both ways, in turns; observations per second."""
    records = make_records(args.checks, args.rows)
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "plain": []}
    for _ in range(args.runs):
        for side, bench in (("ours", bench_ours), ("plain", bench_plain)):
            with tempfile.TemporaryDirectory() as d:
                wall, spent = bench(records, args.checks, Path(d))
            runs[side].append({"wall": wall, "cpu": spent})
    ours, plain = median_by(runs["ours"], "wall"), median_by(runs["plain"], "wall")
    n = len(records)
    rates = {side: sorted(n / r["wall"] for r in done) for side, done in runs.items()}
    spread = (
        f"per run, ours {rates['ours'][0]:,.0f}-{rates['ours'][-1]:,.0f}, bare executemany "
        f"{rates['plain'][0]:,.0f}-{rates['plain'][-1]:,.0f}"
    )
    size = f"{n:,} rows, {args.checks:,} checks, median of {args.runs}"
    rows = args.batch * args.batches
    with tempfile.TemporaryDirectory() as d:
        chained = prefilled(Path(d), args.checks, args.prefill, indexed=False)
        indexed = prefilled(Path(d), args.checks, args.prefill, indexed=True)
        cpu = {"ours": steady(records[:rows], args.batch, chained, chained=True),
               "indexed": steady(records[:rows], args.batch, indexed, chained=False)}  # fmt: skip
    return [
        Row(NAME, f"obs/s ({size})", "obs/s", n / ours["wall"], n / plain["wall"],
            "bare executemany", ">=", 200_000, "ours", spread),
        Row(NAME, "CPU per 1,000 obs", "ms", ours["cpu"] / n * 1e6, plain["cpu"] / n * 1e6,
            "bare executemany"),
        Row(NAME, f"layout at the monitor's pace: CPU per 1,000 obs, {args.batch:,}-row "
            f"batches into {args.prefill:,} rows", "ms", cpu["ours"] * 1e6,
            cpu["indexed"] * 1e6, "per-check index"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.__main__ import main

    main(["store", *sys.argv[1:]])
