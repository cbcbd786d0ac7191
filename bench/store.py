"""Storage: observations per second into the store's indexed tables, through ``Store``.

Ours is :class:`monitor.store.Store` (``record`` then ``flush``: the writer thread's
batches with rollups, state upserts and events in one transaction each). The peer is the
floor SQLite itself sets: the same rows into the same schema with one plain
``executemany`` per 10,000 rows and nothing else. CPU is this whole process's.

Both run ``--runs`` times, taking turns so that a slow spell of the machine hits both, and
each side's median run is reported. The garbage collector is run before each timed part:
the records, built up front, would otherwise fall due for collection in whichever side
runs first.
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
    parser.add_argument("--runs", type=int, default=3, help="runs of each side")


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


def bench_plain(records: list[Record], checks: int, directory: Path) -> tuple[float, float]:
    """The same rows with bare executemany into the same schema (the floor)."""
    path = directory / "plain.db"
    with Store(path, housekeeping=False) as store:
        ids = store.sync_checks(sleep_specs(checks, 60.0))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    sql = (
        "INSERT INTO observations (ts, check_id, status, latency_ms, reason, values_json) "
        "VALUES (?, ?, ?, ?, ?, ?)"
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
                    r.reason or None,
                    '{"rtt_avg_ms":1.5}' if r.values else None,
                )
                for r in chunk
            ],
        )
        conn.execute("COMMIT")
    wall, cpu = time.perf_counter() - t0, cpu_self() - cpu0
    conn.close()
    return wall, cpu


def run(args: argparse.Namespace) -> list[Row]:
    """Write the same records both ways, in turns; observations per second."""
    records = make_records(args.checks, args.rows)
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "plain": []}
    for _ in range(args.runs):
        for side, bench in (("ours", bench_ours), ("plain", bench_plain)):
            with tempfile.TemporaryDirectory() as d:
                wall, cpu = bench(records, args.checks, Path(d))
            runs[side].append({"wall": wall, "cpu": cpu})
    ours, plain = median_by(runs["ours"], "wall"), median_by(runs["plain"], "wall")
    n = len(records)
    size = f"{n:,} rows, {args.checks:,} checks, median of {args.runs}"
    return [
        Row(NAME, f"obs/s ({size})", "obs/s", n / ours["wall"], n / plain["wall"],
            "bare executemany", ">=", 200_000, "ours"),
        Row(NAME, "CPU per 1,000 obs", "ms", ours["cpu"] / n * 1e6, plain["cpu"] / n * 1e6,
            "bare executemany"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.__main__ import main

    main(["store", *sys.argv[1:]])
