"""SQLite storage: raw observations, state changes, outage intervals, hourly rollups.

One writer (DESIGN principle 6, NOTES A4): a dedicated thread owns the only writing
connection. Records are appended to a buffer (the writer is woken once per batch, not per
record); commands come through a queue and run after every record buffered before them.
It writes batches (every ``batch_interval`` seconds, or sooner once ``batch_rows`` rows
are waiting and no more are arriving; more when a backlog has built up) in one
``BEGIN IMMEDIATE`` transaction with ``executemany``. Observations, the per-check state
machine snapshot and the events they caused go in the *same* transaction, so after a
``kill -9`` the stored machine state always matches the stored outages: a restart neither
re-alerts nor loses an open outage.

Readers open their own short-lived connection per query and never keep a read
transaction open (an open reader starves WAL checkpoints).

Hourly rollups are maintained at write time: the batch's counts per (check, hour) are
summed in Python while its rows are built and merged with one upsert each, so uptime over
a week or a year never scans raw observations, which are only kept for ``retention_days``.
Housekeeping (retention purge, WAL checkpoint) runs from an APScheduler background
scheduler.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import orjson
import sqlite_utils
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.state import (
    CheckState,
    Event,
    FlappingStarted,
    FlappingStopped,
    MachineState,
    OutageClosed,
    OutageOpened,
    Outcome,
    RootCauseChanged,
    StateChanged,
)
from probes.base import Value

if TYPE_CHECKING:
    from sites.spec import CheckSpec

log = logging.getLogger(__name__)

PAGE_SIZE = int(os.environ.get("THONGSUOT_PAGE_SIZE", "65536"))
"""SQLite page size of new databases."""
_WAL_CHECKPOINT_BYTES = 32 * 1024 * 1024
# Only for what orjson refuses (see _encode_values); ASCII, so no lone surrogate reaches
# SQLite's UTF-8 binding.
_FALLBACK = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _encode_values(values: Mapping[str, Value]) -> str:
    """``values`` as compact JSON text.

    orjson writes a typical probe's values in a tenth of the json module's time, which
    was most of the writer's per-row work. A NaN or an infinity is written as null: JSON
    has no such numbers, and SQLite's JSON functions reject the json module's ``NaN``.
    """
    try:
        return orjson.dumps(values).decode()
    except TypeError:
        # An integer beyond 64 bits, a non-string key or a lone surrogate in a string.
        return _FALLBACK.encode(
            {str(k): None if type(v) is float and v - v != 0.0 else v for k, v in values.items()}
        )


T = TypeVar("T")

MIGRATIONS = sqlite_utils.Migrations("thongsuot")
"""The schema, as numbered migrations; applied on every open (idempotent)."""


@MIGRATIONS()
def m001_initial(db: sqlite_utils.Database) -> None:
    """Checks, observations, state changes, outages, hourly rollups, monitor runs."""
    for sql in _M001:
        db.execute(sql)


_M001 = (
    """CREATE TABLE checks (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        name TEXT, kind TEXT, element TEXT, element_type TEXT, datacenter TEXT, site TEXT,
        role TEXT, lifecycle TEXT, interval REAL, retry_interval REAL,
        fail_after INTEGER, recover_after INTEGER,
        depends_on TEXT,  -- JSON list of check keys
        options TEXT,     -- JSON of the probe options
        first_seen REAL, last_seen REAL
    )""",
    # id follows insertion order, which is (nearly) time order; the only index is the
    # per-check one that history queries and the retention purge need (NOTES A4.5).
    """CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        check_id INTEGER NOT NULL REFERENCES checks(id),
        status INTEGER NOT NULL,  -- monitor.state.Outcome: 0 ok, 1 degraded, 2 down, 3 error
        latency_ms REAL,
        reason TEXT,
        values_json TEXT
    )""",
    "CREATE INDEX observations_check_ts ON observations(check_id, ts)",
    """CREATE TABLE state_changes (
        id INTEGER PRIMARY KEY,
        check_id INTEGER NOT NULL REFERENCES checks(id),
        ts REAL NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL, reason TEXT
    )""",
    "CREATE INDEX state_changes_check_ts ON state_changes(check_id, ts)",
    "CREATE INDEX state_changes_ts ON state_changes(ts)",
    """CREATE TABLE outages (
        id INTEGER PRIMARY KEY,
        check_id INTEGER NOT NULL REFERENCES checks(id),
        start_ts REAL NOT NULL,
        confirmed_ts REAL NOT NULL,
        end_ts REAL,       -- NULL while open
        reason TEXT,
        root_cause INTEGER REFERENCES outages(id)  -- the parent's outage, when known
    )""",
    "CREATE INDEX outages_check_start ON outages(check_id, start_ts)",
    "CREATE INDEX outages_start ON outages(start_ts)",
    "CREATE INDEX outages_open ON outages(check_id) WHERE end_ts IS NULL",
    """CREATE TABLE rollups_hourly (
        check_id INTEGER NOT NULL REFERENCES checks(id),
        hour INTEGER NOT NULL,  -- unix time of the start of the UTC hour
        n_ok INTEGER NOT NULL DEFAULT 0,
        n_degraded INTEGER NOT NULL DEFAULT 0,
        n_down INTEGER NOT NULL DEFAULT 0,
        n_error INTEGER NOT NULL DEFAULT 0,
        latency_sum REAL NOT NULL DEFAULT 0,
        latency_min REAL,
        latency_max REAL,
        latency_count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (check_id, hour)
    ) WITHOUT ROWID""",
    "CREATE INDEX rollups_hourly_hour ON rollups_hourly(hour)",
    """CREATE TABLE check_state (
        check_id INTEGER PRIMARY KEY REFERENCES checks(id),
        state TEXT NOT NULL,
        since REAL,
        last_ts REAL,
        machine TEXT NOT NULL  -- JSON of monitor.state.MachineState
    )""",
    """CREATE TABLE monitor_runs (
        id INTEGER PRIMARY KEY,
        started REAL NOT NULL,
        heartbeat REAL NOT NULL,
        stopped REAL,  -- NULL if the process died (kill -9, power cut): use heartbeat
        pid INTEGER
    )""",
)


@MIGRATIONS()
def m002_continuity(db: sqlite_utils.Database) -> None:
    """Unreachable outages and their root cause, flapping episodes, maintenance windows."""
    for sql in _M002:
        db.execute(sql)


_M002 = (
    # unreachable = 1: the outage is blamed on an ancestor check (blamed_on, a check key);
    # root_cause then points at the root outage (the top of the chain) once it is known.
    "ALTER TABLE outages ADD COLUMN unreachable INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE outages ADD COLUMN blamed_on TEXT",
    "CREATE INDEX outages_root ON outages(root_cause) WHERE root_cause IS NOT NULL",
    """CREATE TABLE flaps (
        id INTEGER PRIMARY KEY,
        check_id INTEGER NOT NULL REFERENCES checks(id),
        start_ts REAL NOT NULL,
        end_ts REAL,       -- NULL while flapping
        changes INTEGER NOT NULL
    )""",
    "CREATE INDEX flaps_check_start ON flaps(check_id, start_ts)",
    # Windows declared from the command line; the inventory's own windows live in sites.yaml.
    """CREATE TABLE maintenance_windows (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        patterns TEXT NOT NULL,  -- JSON list, as given
        checks TEXT NOT NULL,    -- JSON list of check keys they matched
        start_ts REAL NOT NULL,
        end_ts REAL NOT NULL,
        reason TEXT,
        created REAL NOT NULL
    )""",
)


@MIGRATIONS()
def m003_acknowledgements(db: sqlite_utils.Database) -> None:
    """Operators' acknowledgements of outages, written by the dashboard (``a``)."""
    db.execute(
        """CREATE TABLE acknowledgements (
            id INTEGER PRIMARY KEY,
            check_key TEXT NOT NULL,
            outage_start_ts REAL NOT NULL,  -- with check_key, names the outage
            acked_by TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            ts REAL NOT NULL
        )"""
    )
    db.execute(
        "CREATE INDEX acknowledgements_outage ON acknowledgements(check_key, outage_start_ts)"
    )


@MIGRATIONS()
def m004_observation_chains(db: sqlite_utils.Database) -> None:
    """Each check's observations chained newest to oldest, in place of a per-check index.

    A (check_id, ts) index costs a B-tree seek for every row written, to a random page,
    and at the monitor's pace a batch rewrites one such page for about every check in
    it: with the index the table cost about twice the CPU a row in a database of 2
    million rows (``bench store``, the layout row), 2.8 times in one of 3 million, and
    the gap grows with the index. A row now carries the id
    of the same check's previous row (``prev_id``) and ``observation_heads`` the newest
    one's, which the writer knows without reading anything (a narrow table of its own:
    a batch rewrites a few of its pages, not every page of ``checks``); a check's recent
    history is a walk back along that chain, one rowid lookup a row
    (:data:`RECENT_OBSERVATIONS`).

    Nor is there an index on ts: the retention purge goes by ``observation_batches``,
    one row per written batch with its id range and its oldest and newest ts (a block
    range index). That is one small row a second instead of an index entry per row,
    about 8 % of the writer's CPU in a burst.
    """
    for sql in _M004:
        db.execute(sql)


_M004 = (
    "ALTER TABLE observations ADD COLUMN prev_id INTEGER",
    """CREATE TABLE observation_heads (
        check_id INTEGER PRIMARY KEY REFERENCES checks(id),
        last_id INTEGER NOT NULL
    )""",
    # Rows of one check were written in the order observed, so id order is their order.
    """UPDATE observations SET prev_id = chained.prev FROM (
        SELECT id, lag(id) OVER (PARTITION BY check_id ORDER BY id) AS prev FROM observations
    ) AS chained WHERE observations.id = chained.id AND chained.prev IS NOT NULL""",
    """INSERT INTO observation_heads (check_id, last_id)
        SELECT check_id, max(id) FROM observations GROUP BY check_id""",
    "DROP INDEX observations_check_ts",
    """CREATE TABLE observation_batches (
        first_id INTEGER PRIMARY KEY,
        last_id INTEGER NOT NULL,
        min_ts REAL NOT NULL,
        max_ts REAL NOT NULL
    )""",
    "CREATE INDEX observation_batches_min_ts ON observation_batches(min_ts)",
    """INSERT INTO observation_batches (first_id, last_id, min_ts, max_ts)
        SELECT min(id), max(id), min(ts), max(ts) FROM observations GROUP BY id / 65536""",
)

RECENT_OBSERVATIONS = """
WITH RECURSIVE chain(id, prev_id, ts, status, latency_ms, reason, values_json) AS (
    SELECT o.id, o.prev_id, o.ts, o.status, o.latency_ms, o.reason, o.values_json
    FROM observation_heads h JOIN observations o ON o.id = h.last_id AND o.check_id = h.check_id
    WHERE h.check_id = :check
    UNION ALL
    SELECT o.id, o.prev_id, o.ts, o.status, o.latency_ms, o.reason, o.values_json
    FROM chain JOIN observations o ON o.id = chain.prev_id
    WHERE o.check_id = :check AND o.id < chain.id
    LIMIT :limit
)
SELECT ts, status, latency_ms, reason, values_json FROM chain ORDER BY id DESC
"""
"""The newest ``:limit`` observations of check id ``:check``, newest first.

A link is followed only to a smaller id of the same check: once the retention purge has
emptied the table, ids are handed out again from 1, and an old link may then name a row
that is not the check's previous one."""


_OBS_COLUMNS = (
    "INSERT INTO observations (id, prev_id, ts, check_id, status, latency_ms, reason, "
    "values_json) VALUES "
)
# sqlite3 binds None through its adaptation protocol (a dict lookup and two attribute
# lookups, ~0.3 µs; an int, float or str is bound directly). An OK row has no reason, a
# check's first row no previous row and many a failed one no values: these are bound as 0
# and "" instead and turned into NULL here (no row id is 0).
_OBS_ROW = "(?, nullif(?, 0), ?, ?, ?, ?, nullif(?, ''), nullif(?, ''))"
_OBS_WIDTH = 8
_INSERT_OBS = _OBS_COLUMNS + _OBS_ROW
_OBS_PER_INSERT = 200
"""Rows per multi-row INSERT: one statement step per 200 rows, not one per row."""
_INSERT_OBS_MANY = _OBS_COLUMNS + ", ".join([_OBS_ROW] * _OBS_PER_INSERT)
_LAST_OBS_ID = "SELECT coalesce(max(id), 0) FROM observations"
_INSERT_BATCH = "INSERT INTO observation_batches VALUES (?, ?, ?, ?)"
_SET_HEAD = """
INSERT INTO observation_heads (check_id, last_id) VALUES (?, ?)
ON CONFLICT (check_id) DO UPDATE SET last_id = excluded.last_id
"""
_STATUS = (0, 1, 2, 3)
"""Outcome -> plain int: sqlite3 binds an IntEnum through its slower adaptation path."""
# The batch's hourly aggregates, computed in Python while the rows are built, merged into
# the stored hours: one upsert per (check, hour) per batch instead of re-reading the rows.
_ROLLUP = """
INSERT INTO rollups_hourly (check_id, hour, n_ok, n_degraded, n_down, n_error,
                            latency_sum, latency_min, latency_max, latency_count)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (check_id, hour) DO UPDATE SET
    n_ok = n_ok + excluded.n_ok,
    n_degraded = n_degraded + excluded.n_degraded,
    n_down = n_down + excluded.n_down,
    n_error = n_error + excluded.n_error,
    latency_sum = latency_sum + excluded.latency_sum,
    latency_min = min(coalesce(latency_min, excluded.latency_min),
                      coalesce(excluded.latency_min, latency_min)),
    latency_max = max(coalesce(latency_max, excluded.latency_max),
                      coalesce(excluded.latency_max, latency_max)),
    latency_count = latency_count + excluded.latency_count
"""
_UPSERT_STATE = """
INSERT INTO check_state (check_id, state, since, last_ts, machine) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (check_id) DO UPDATE SET state = excluded.state, since = excluded.since,
    last_ts = excluded.last_ts, machine = excluded.machine
"""
_UPSERT_CHECK = """
INSERT INTO checks (key, name, kind, element, element_type, datacenter, site, role, lifecycle,
                    interval, retry_interval, fail_after, recover_after, depends_on, options,
                    first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET name = excluded.name, kind = excluded.kind,
    element = excluded.element, element_type = excluded.element_type,
    datacenter = excluded.datacenter, site = excluded.site, role = excluded.role,
    lifecycle = excluded.lifecycle, interval = excluded.interval,
    retry_interval = excluded.retry_interval, fail_after = excluded.fail_after,
    recover_after = excluded.recover_after, depends_on = excluded.depends_on,
    options = excluded.options, last_seen = excluded.last_seen
"""


@dataclass(slots=True)
class Record:
    """One observation as handed to :meth:`Store.record`, with what it caused.

    ``state`` is the check's state machine after this observation; ``events`` the
    events it emitted. Both are written in the same transaction as the observation.
    """

    check: str
    ts: float
    outcome: Outcome
    latency_ms: float | None = None
    reason: str = ""
    values: Mapping[str, Value] | None = None
    state: MachineState | None = None
    events: Sequence[Event] = ()


@dataclass(frozen=True, slots=True)
class ObservationRow:
    """A stored observation."""

    check: str
    ts: float
    outcome: Outcome
    latency_ms: float | None
    reason: str
    values: dict[str, Value]


@dataclass(frozen=True, slots=True)
class OutageRow:
    """A stored outage interval; ``end_ts`` is None while it is open."""

    id: int
    check: str
    start_ts: float
    confirmed_ts: float
    end_ts: float | None
    reason: str
    root_cause: int | None
    """Id of the root outage this one is attached to (unreachable outages only)."""
    unreachable: bool = False
    """Blamed on an ancestor check that was failing: not this check's own fault."""
    blamed_on: str | None = None
    """The ancestor check key it is blamed on."""


@dataclass(frozen=True, slots=True)
class FlapRow:
    """A flapping episode; ``end_ts`` is None while it lasts."""

    id: int
    check: str
    start_ts: float
    end_ts: float | None
    changes: int


@dataclass(frozen=True, slots=True)
class MaintenanceRow:
    """A maintenance window declared from the command line."""

    id: int
    name: str
    patterns: tuple[str, ...]
    checks: tuple[str, ...]
    start_ts: float
    end_ts: float
    reason: str
    created: float


@dataclass(frozen=True, slots=True)
class CheckRow:
    """A check's descriptive row as last synchronised from the inventory."""

    check: str
    name: str
    kind: str
    element: str
    element_type: str
    datacenter: str | None
    site: str | None
    lifecycle: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class RollupTotal:
    """A check's observation counts and latency summed over whole hours of a period."""

    check: str
    n_ok: int
    n_degraded: int
    n_down: int
    n_error: int
    latency_avg: float | None


@dataclass(frozen=True, slots=True)
class RollupRow:
    """One check's counts and latency summary for one UTC hour (``hour`` = its start)."""

    check: str
    hour: int
    n_ok: int
    n_degraded: int
    n_down: int
    n_error: int
    latency_sum: float
    latency_min: float | None
    latency_max: float | None
    latency_count: int

    @property
    def total(self) -> int:
        return self.n_ok + self.n_degraded + self.n_down + self.n_error


@dataclass(frozen=True, slots=True)
class StoredState:
    """A check's current state as last written, with the full machine state."""

    check: str
    state: CheckState
    since: float | None
    last_ts: float | None
    machine: MachineState


@dataclass(frozen=True, slots=True)
class MonitorRun:
    """One run of the monitor process; ``stopped`` is None if it died without stopping."""

    id: int
    started: float
    heartbeat: float
    stopped: float | None
    pid: int | None


@dataclass(slots=True)
class _Command:
    fn: Callable[[sqlite3.Connection], Any]
    future: Future[Any] = field(default_factory=Future)
    transaction: bool = True


@dataclass(slots=True)
class _Gathered:
    """What :meth:`Store._observations` gathers from a batch for the rest of its write."""

    hours: dict[int, defaultdict[int, list[float | None]]] = field(default_factory=dict)
    """Per UTC hour, per check id: the latencies of the batch's rows."""
    not_ok: list[tuple[int, int, int]] = field(default_factory=list)
    """(hour, check id, status code) of each row that is not OK."""
    events: list[tuple[int, Event]] = field(default_factory=list)
    tail: list[Any] = field(default_factory=list)
    min_ts: float = float("inf")
    max_ts: float = float("-inf")


_STOP = object()
_WAKE = object()
_SETTLE = 0.005
"""How long a full buffer must stop growing before the writer takes it."""


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN ourselves, and a SELECT's implicit
    # transaction ends as soon as its cursor is exhausted.
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Store:
    """The monitor's database. Thread-safe: any thread may record and query.

    Writes go through one writer thread; :meth:`record` and :meth:`heartbeat` return at
    once, the other write methods wait for the writer. Call :meth:`close` (or use the
    store as a context manager) to drain and stop it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        retention_days: float = 30.0,
        batch_interval: float = 1.0,
        batch_rows: int = 5_000,
        max_batch_rows: int = 500_000,
        housekeeping: bool = True,
        purge_every: float = 3600.0,
        checkpoint_every: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self.batch_interval = batch_interval
        self.batch_rows = batch_rows
        self.max_batch_rows = max(max_batch_rows, batch_rows)
        self._clock = clock
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # A deque: its append and popleft are atomic, so neither side takes a lock.
        self._buffer: deque[Record] = deque()
        self._ids: dict[str, int] = {}
        self._heads: dict[int, int] = {}
        """Check id → id of its newest observation (the chains' heads, see m004)."""
        self._closed = False
        self.rows_written = 0
        """Observations committed so far by this store's writer."""
        self.write_errors = 0
        """Batches that failed to commit (logged); their rows are lost."""

        conn = _connect(self.path)
        try:
            if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                # Only a new file: an existing one keeps its page size (changing it means
                # a VACUUM). Bigger pages make the per-check upserts (states, rollups)
                # cheaper to commit: fewer, fuller pages per batch.
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            # The writer keeps the per-check tables' pages hot between batches.
            conn.execute("PRAGMA cache_size=-65536")
            # Checkpoint when the WAL reaches ~32 MB, not 1,000 pages: fewer, bigger
            # checkpoints rewrite each hot page once instead of after every batch.
            # Housekeeping still truncates it every ``checkpoint_every`` seconds.
            conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_BYTES // PAGE_SIZE}")
            MIGRATIONS.apply(sqlite_utils.Database(conn))
            self._load_checks(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._thread = threading.Thread(target=self._writer, name="store-writer", daemon=True)
        self._thread.start()

        self._scheduler: BackgroundScheduler | None = None
        if housekeeping:
            self._scheduler = BackgroundScheduler(
                timezone=UTC,
                job_defaults={"coalesce": True, "max_instances": 1},
            )
            now = datetime.now(UTC)
            # Generous grace: a late purge or checkpoint is still worth running.
            self._scheduler.add_job(
                self.purge,
                "interval",
                seconds=purge_every,
                next_run_time=now + timedelta(seconds=min(60.0, purge_every)),
                misfire_grace_time=max(1, int(purge_every)),
                id="purge",
            )
            self._scheduler.add_job(
                self.checkpoint,
                "interval",
                seconds=checkpoint_every,
                misfire_grace_time=max(1, int(checkpoint_every / 2)),
                id="checkpoint",
            )
            self._scheduler.start()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, rec: Record) -> None:
        """Queue one observation (and its state and events) for the next batch."""
        # A deque append, not a queue put: a put wakes the writer thread, which costs more
        # than the write itself at thousands of records a second. The writer is woken
        # once per batch: by the first record (to start the batch timer) and when the
        # batch is full. It only blocks with an empty buffer, so the first record after
        # that always wakes it; a missed "full" wake only waits for the batch timer.
        buffer = self._buffer
        buffer.append(rec)
        n = len(buffer)
        if n == 1 or n == self.batch_rows:
            self._queue.put(_WAKE)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Run ``fn(conn)`` on the writer thread inside one ``BEGIN IMMEDIATE`` transaction,
        after every record queued before it has been written."""
        if self._closed:
            raise RuntimeError("store is closed")
        cmd = _Command(fn)
        self._queue.put(cmd)
        return cmd.future

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self.submit(fn).result()

    def flush(self) -> None:
        """Block until everything queued so far is committed."""
        self._call(lambda conn: None)

    def close(self) -> None:
        """Stop housekeeping, drain the queue, checkpoint and close. Idempotent."""
        if self._closed:
            return
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def sync_checks(self, specs: Iterable[CheckSpec], ts: float | None = None) -> dict[str, int]:
        """Insert or update the checks' descriptive rows; return key → id for all checks."""
        now = self._clock() if ts is None else ts
        rows = [
            (
                s.id,
                s.name,
                s.kind,
                s.element,
                str(s.element_type),
                s.datacenter,
                s.site,
                s.role,
                str(s.lifecycle),
                s.interval,
                s.retry_interval,
                s.fail_after,
                s.recover_after,
                json.dumps(list(s.depends_on)),
                s.options.model_dump_json(),
                now,
                now,
            )
            for s in specs
        ]

        def write(conn: sqlite3.Connection) -> dict[str, int]:
            conn.executemany(_UPSERT_CHECK, rows)
            self._load_checks(conn)
            return dict(self._ids)

        return self._call(write)

    def start_run(self, ts: float | None = None, pid: int | None = None) -> int:
        """Record that a monitor run started; return its id for :meth:`heartbeat`."""
        now = self._clock() if ts is None else ts

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO monitor_runs (started, heartbeat, pid) VALUES (?, ?, ?)",
                (now, now, pid),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

        return self._call(write)

    def heartbeat(self, run_id: int, ts: float | None = None) -> None:
        """Note that run ``run_id`` is still alive (does not wait)."""
        now = self._clock() if ts is None else ts
        self.submit(
            lambda conn: conn.execute(
                "UPDATE monitor_runs SET heartbeat = ? WHERE id = ?", (now, run_id)
            )
        )

    def stop_run(self, run_id: int, ts: float | None = None) -> None:
        """Record a clean stop of run ``run_id``."""
        now = self._clock() if ts is None else ts
        self._call(
            lambda conn: conn.execute(
                "UPDATE monitor_runs SET heartbeat = ?, stopped = ? WHERE id = ?",
                (now, now, run_id),
            )
        )

    def purge(self, now: float | None = None, *, chunk: int = 20) -> int:
        """Delete observations older than the retention period; return how many.

        Goes through ``chunk`` written batches per transaction, letting queued records in
        between, so a big purge never stalls recording. Rollups, outages and state
        changes are kept.
        """
        cutoff = (self._clock() if now is None else now) - self.retention_days * 86400.0

        def step(conn: sqlite3.Connection) -> tuple[int, int]:
            ranges = conn.execute(
                "SELECT first_id, last_id, max_ts FROM observation_batches WHERE min_ts < ? "
                "ORDER BY min_ts LIMIT ?",
                (cutoff, chunk),
            ).fetchall()
            deleted = 0
            for first, last, newest in ranges:
                if newest < cutoff:
                    sql = "DELETE FROM observations WHERE id BETWEEN ? AND ?"
                    deleted += conn.execute(sql, (first, last)).rowcount
                    conn.execute("DELETE FROM observation_batches WHERE first_id = ?", (first,))
                    continue
                # Written in one batch, observed on both sides of the cutoff.
                sql = "DELETE FROM observations WHERE id BETWEEN ? AND ? AND ts < ?"
                deleted += conn.execute(sql, (first, last, cutoff)).rowcount
                conn.execute(
                    "UPDATE observation_batches SET min_ts = (SELECT min(ts) FROM observations "
                    "WHERE id BETWEEN ? AND ?) WHERE first_id = ?",
                    (first, last, first),
                )
            return len(ranges), deleted

        total = 0
        while True:
            ranges, deleted = self._call(step)
            total += deleted
            if ranges < chunk:
                return total

    def checkpoint(self) -> tuple[int, int, int]:
        """``PRAGMA wal_checkpoint(TRUNCATE)``: (busy, wal pages, checkpointed pages)."""

        def run(conn: sqlite3.Connection) -> tuple[int, int, int]:
            row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return int(row[0]), int(row[1]), int(row[2])

        # A checkpoint cannot run inside a transaction.
        cmd = _Command(run, transaction=False)
        self._queue.put(cmd)
        result: tuple[int, int, int] = cmd.future.result()
        return result

    def _take(self) -> list[Record]:
        """Up to ``max_batch_rows`` buffered records, oldest first."""
        buffer = self._buffer
        pop = buffer.popleft
        return [pop() for _ in range(min(len(buffer), self.max_batch_rows))]

    def _drain(self) -> None:
        """Write everything buffered (a command must see every record queued before it)."""
        while self._buffer:
            self._write_batch(self._take())

    def _writer(self) -> None:
        conn = self._conn
        deadline: float | None = None
        seen, settled = -1, 0.0
        try:
            while True:
                timeout = None
                if self._buffer:
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + self.batch_interval
                    # Under a backlog the buffer holds more than batch_rows: take it all
                    # (up to max_batch_rows); bigger transactions make the random per-check
                    # upserts cheaper (NOTES A4.5), and a batch writes each check's
                    # state once (~10 µs of JSON and upsert): 10,000 checks cost ~1 µs a
                    # row at 100k rows a batch, 0.2 µs at 500k (hence the default).
                    # A full buffer is written once records stop pouring in (no growth
                    # for _SETTLE seconds) or at the deadline: a small batch started in
                    # the middle of a burst would fight the producer for the GIL and
                    # write every check's state and rollups twice.
                    n = len(self._buffer)
                    if n >= self.batch_rows and n != seen:
                        seen, settled = n, now + _SETTLE
                    if now >= deadline or (n == seen and now >= settled):
                        self._write_batch(self._take())
                        # What arrived meanwhile has waited since the write began: after
                        # a write as long as the interval (a backlog), the next one starts
                        # at once.
                        deadline = now + self.batch_interval if self._buffer else None
                        seen = -1
                        continue
                    timeout = (settled if n == seen else deadline) - now
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    continue
                if item is _WAKE:
                    continue
                self._drain()
                deadline = None
                seen = -1
                if item is _STOP:
                    break
                self._run_command(item)
        finally:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                log.exception("final checkpoint failed")
            conn.close()

    def _run_command(self, cmd: _Command) -> None:
        if not cmd.future.set_running_or_notify_cancel():
            return
        conn = self._conn
        try:
            if not cmd.transaction:
                result = cmd.fn(conn)
            else:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = cmd.fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except Exception as exc:
            log.exception("store command failed")
            if not cmd.future.done():
                cmd.future.set_exception(exc)
        else:
            if not cmd.future.done():
                cmd.future.set_result(result)

    def _load_checks(self, conn: sqlite3.Connection) -> None:
        """Read the checks' ids and chain heads (as committed: another process may write)."""
        self._ids = dict(conn.execute("SELECT key, id FROM checks").fetchall())
        self._heads = dict(conn.execute("SELECT check_id, last_id FROM observation_heads"))

    def _check_id(self, conn: sqlite3.Connection, key: str) -> int:
        cid = self._ids.get(key)
        if cid is None:
            now = self._clock()
            cur = conn.execute(
                "INSERT INTO checks (key, first_seen, last_seen) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen RETURNING id",
                (key, now, now),
            )
            cid = int(cur.fetchone()[0])
            self._ids[key] = cid
        return cid

    def _write_batch(self, batch: list[Record]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Inside BEGIN IMMEDIATE no other writer can take ids under us.
                first = conn.execute(_LAST_OBS_ID).fetchone()[0] + 1
                got = _Gathered()
                conn.executemany(_INSERT_OBS_MANY, self._observations(conn, batch, first, got))
                tail = got.tail
                conn.executemany(
                    _INSERT_OBS, [tail[i : i + _OBS_WIDTH] for i in range(0, len(tail), _OBS_WIDTH)]
                )
                conn.execute(_INSERT_BATCH, (first, first + len(batch) - 1, got.min_ts, got.max_ts))
                conn.executemany(_ROLLUP, _rollups(got.hours, got.not_ok))
                heads = self._heads
                touched = {cid for lats in got.hours.values() for cid in lats}
                conn.executemany(_SET_HEAD, [(cid, heads[cid]) for cid in touched])
                states = _latest_states(batch, first, heads, touched, self._ids)
                if states:
                    conn.executemany(
                        _UPSERT_STATE,
                        [
                            (cid, m.state.value, m.since, m.last_ts, m.to_json())
                            for cid, m in states.items()
                        ],
                    )
                _write_events(conn, got.events, self._ids)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                    # Ids handed out inside the rolled-back transaction do not exist.
                    self._load_checks(conn)
                raise
        except Exception:
            self.write_errors += 1
            log.exception("could not write %d observations; they are lost", len(batch))
        else:
            self.rows_written += len(batch)

    def _observations(
        self, conn: sqlite3.Connection, batch: list[Record], first: int, got: _Gathered
    ) -> Iterator[list[Any]]:
        """Parameters for :data:`_INSERT_OBS_MANY`, ``_OBS_PER_INSERT`` rows at a time, with
        ids from ``first`` on; the last rows, too few for a list, are left in ``got.tail``.

        What the rest of the transaction writes is gathered into ``got`` on the way. The
        lists are made as ``executemany`` asks for them (built up front, a 300,000-row
        batch's would be one list of 2.4 million items). A loop over the records takes
        what only they hold; the rest is done a column at a time, by slices, ``map`` and
        ``zip`` (the interpreter's C code). Done in the loop, a row's updates of the
        per-check dicts (its chain head, its hour's latencies, its state) cost about as
        much as reading its record. With the NULLs of :data:`_OBS_ROW`, this took the
        writer's CPU for a 300,000-row batch of ``bench store`` from 1.2 to 0.83 s.
        """
        ids = self._ids
        heads = self._heads
        encode = _encode_values
        status = _STATUS
        hours = got.hours
        events = got.events
        hour = -1
        hour_end = -1.0
        lats: defaultdict[int, list[float | None]] = defaultdict(list)
        width = _OBS_WIDTH
        for start in range(0, len(batch), _OBS_PER_INSERT):
            chunk = batch[start : start + _OBS_PER_INSERT]
            n = len(chunk)
            params: list[Any] = []
            for r in chunk:
                cid = ids.get(r.check) or self._check_id(conn, r.check)
                values = r.values
                params += (
                    0, 0, r.ts, cid, status[r.outcome], r.latency_ms, r.reason,
                    encode(values) if values else "",
                )  # fmt: skip
                if r.events:
                    events += zip(repeat(cid), r.events)
            oids = range(first + start, first + start + n)
            cids = params[3::width]
            stamps = params[2::width]
            latencies = params[5::width]
            params[0::width] = oids
            params[1::width] = map(heads.get, cids, repeat(0, n))
            if len(set(cids)) < n:
                # A check twice in the chunk: its later row follows its earlier one.
                last: dict[int, int] = {}
                for i, cid in enumerate(cids):
                    if cid in last:
                        params[i * width + 1] = last[cid]
                    last[cid] = oids[i]
            heads.update(zip(cids, oids, strict=True))
            lo = min(stamps)
            hi = max(stamps)
            got.min_ts = min(got.min_ts, lo)
            got.max_ts = max(got.max_ts, hi)
            # The latencies per UTC hour and check, summed once per group by _rollups;
            # the hour as SQL's CAST(ts / 3600 AS INTEGER) * 3600 for ts >= 0.
            if not hour <= lo < hour_end:
                hour = int(lo / 3600) * 3600
                hour_end = hour + 3600.0
                lats = hours.setdefault(hour, defaultdict(list))
            if hi < hour_end:
                deque(map(list.append, map(lats.__getitem__, cids), latencies), maxlen=0)
            else:
                for cid, ts, latency in zip(cids, stamps, latencies, strict=True):
                    hours.setdefault(int(ts / 3600) * 3600, defaultdict(list))[cid].append(latency)
            # Rows that are not OK are few: listed apart, so that an OK row costs nothing here.
            statuses = params[4::width]
            if any(statuses):
                rows = compress(zip(cids, stamps, statuses, strict=True), statuses)
                got.not_ok += [(int(ts / 3600) * 3600, cid, code) for cid, ts, code in rows]
            if n < _OBS_PER_INSERT:
                got.tail = params
            else:
                yield params

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A short-lived read-only connection; close it promptly (it is, on exit)."""
        conn = _connect(self.path)
        try:
            conn.execute("PRAGMA query_only=ON")
            yield conn
        finally:
            conn.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.reader() as conn:
            return conn.execute(sql, params).fetchall()

    def recent_observations(self, check: str, limit: int = 100) -> list[ObservationRow]:
        """The newest ``limit`` observations of ``check``, newest first."""
        with self.reader() as conn:
            found = conn.execute("SELECT id FROM checks WHERE key = ?", (check,)).fetchone()
            if found is None:
                return []
            params = {"check": found[0], "limit": limit}
            rows = conn.execute(RECENT_OBSERVATIONS, params).fetchall()
        return [
            ObservationRow(check, ts, Outcome(st), lat, reason or "", json.loads(v) if v else {})
            for ts, st, lat, reason, v in rows
        ]

    def open_outages(self) -> list[OutageRow]:
        """Outages not yet ended, oldest first."""
        return self._outages("o.end_ts IS NULL", ())

    def outages_between(
        self, start: float, end: float, check: str | None = None
    ) -> list[OutageRow]:
        """Outages overlapping ``[start, end)`` (open ones included), oldest first."""
        where = "o.start_ts < ? AND (o.end_ts IS NULL OR o.end_ts > ?)"
        params: list[Any] = [end, start]
        if check is not None:
            where += " AND c.key = ?"
            params.append(check)
        return self._outages(where, params)

    def attached_outages(self, root: int) -> list[OutageRow]:
        """The unreachable outages attached to root outage ``root``, oldest first."""
        return self._outages("o.root_cause = ?", (root,))

    def _outages(self, where: str, params: Sequence[Any]) -> list[OutageRow]:
        rows = self._rows(
            "SELECT o.id, c.key, o.start_ts, o.confirmed_ts, o.end_ts, o.reason, o.root_cause, "
            "o.unreachable, o.blamed_on "
            f"FROM outages o JOIN checks c ON c.id = o.check_id WHERE {where} "
            "ORDER BY o.start_ts, o.id",
            params,
        )
        return [
            OutageRow(i, k, s, cf, e, r or "", rc, bool(u), b)
            for i, k, s, cf, e, r, rc, u, b in rows
        ]

    def flaps_between(self, start: float, end: float, check: str | None = None) -> list[FlapRow]:
        """Flapping episodes overlapping ``[start, end)`` (ongoing ones included)."""
        where = "f.start_ts < ? AND (f.end_ts IS NULL OR f.end_ts > ?)"
        params: list[Any] = [end, start]
        if check is not None:
            where += " AND c.key = ?"
            params.append(check)
        rows = self._rows(
            "SELECT f.id, c.key, f.start_ts, f.end_ts, f.changes FROM flaps f "
            f"JOIN checks c ON c.id = f.check_id WHERE {where} ORDER BY f.start_ts, f.id",
            params,
        )
        return [FlapRow(*row) for row in rows]

    def checks(self) -> dict[str, CheckRow]:
        """Every check ever synchronised, by key."""
        rows = self._rows(
            "SELECT key, coalesce(name, ''), coalesce(kind, ''), coalesce(element, ''), "
            "coalesce(element_type, ''), datacenter, site, coalesce(lifecycle, ''), "
            "first_seen, last_seen FROM checks"
        )
        return {row[0]: CheckRow(*row) for row in rows}

    def rollup_totals(self, start: float, end: float) -> dict[str, RollupTotal]:
        """Per check, the hourly rollups whose hour starts in ``[start, end)``, summed."""
        rows = self._rows(
            "SELECT c.key, total(r.n_ok), total(r.n_degraded), total(r.n_down), "
            "total(r.n_error), total(r.latency_sum), total(r.latency_count) "
            "FROM rollups_hourly r JOIN checks c ON c.id = r.check_id "
            "WHERE r.hour >= ? AND r.hour < ? GROUP BY r.check_id",
            (start, end),
        )
        return {
            k: RollupTotal(k, int(a), int(b), int(d), int(e), ls / lc if lc else None)
            for k, a, b, d, e, ls, lc in rows
        }

    def maintenance_windows(
        self, start: float | None = None, end: float | None = None
    ) -> list[MaintenanceRow]:
        """Command-line maintenance windows overlapping ``[start, end)`` (all if not given)."""
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        rows = self._rows(
            "SELECT id, name, patterns, checks, start_ts, end_ts, coalesce(reason, ''), created "
            "FROM maintenance_windows WHERE start_ts < ? AND end_ts > ? ORDER BY start_ts, id",
            (hi, lo),
        )
        return [
            MaintenanceRow(i, n, tuple(json.loads(p)), tuple(json.loads(c)), s, e, r, cr)
            for i, n, p, c, s, e, r, cr in rows
        ]

    def add_maintenance(
        self,
        name: str,
        patterns: Sequence[str],
        checks: Sequence[str],
        start: float,
        end: float,
        reason: str = "",
    ) -> int:
        """Store a maintenance window; return its id."""
        if end <= start:
            raise ValueError("a maintenance window must end after it starts")
        now = self._clock()

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO maintenance_windows (name, patterns, checks, start_ts, end_ts, "
                "reason, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    json.dumps(list(patterns), ensure_ascii=False),
                    json.dumps(list(checks)),
                    start,
                    end,
                    reason or None,
                    now,
                ),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

        return self._call(write)

    def remove_maintenance(self, window_id: int) -> bool:
        """Delete a command-line maintenance window; False if there was none with that id."""
        return self._call(
            lambda conn: (
                conn.execute("DELETE FROM maintenance_windows WHERE id = ?", (window_id,)).rowcount
                > 0
            )
        )

    def state_changes(self, check: str | None = None, since: float = 0.0) -> list[StateChanged]:
        """State transitions at or after ``since``, oldest first, as the events that made them."""
        where, params = "s.ts >= ?", [since]
        if check is not None:
            where += " AND c.key = ?"
            params.append(check)  # type: ignore[arg-type]
        rows = self._rows(
            "SELECT c.key, s.ts, s.old, s.new, s.reason FROM state_changes s "
            f"JOIN checks c ON c.id = s.check_id WHERE {where} ORDER BY s.ts, s.id",
            params,
        )
        return [
            StateChanged(k, ts, CheckState(o), CheckState(n), r or "") for k, ts, o, n, r in rows
        ]

    def current_states(self) -> dict[str, StoredState]:
        """Every check's last written state, by check key."""
        rows = self._rows(
            "SELECT c.key, s.state, s.since, s.last_ts, s.machine "
            "FROM check_state s JOIN checks c ON c.id = s.check_id"
        )
        return {
            k: StoredState(k, CheckState(st), since, last, MachineState.from_json(m))
            for k, st, since, last, m in rows
        }

    def rollups(self, start: float, end: float, check: str | None = None) -> list[RollupRow]:
        """Hourly rollups whose hour starts in ``[start, end)``, by check then hour."""
        where, params = "r.hour >= ? AND r.hour < ?", [start, end]
        if check is not None:
            where += " AND c.key = ?"
            params.append(check)  # type: ignore[arg-type]
        rows = self._rows(
            "SELECT c.key, r.hour, r.n_ok, r.n_degraded, r.n_down, r.n_error, r.latency_sum, "
            "r.latency_min, r.latency_max, r.latency_count FROM rollups_hourly r "
            f"JOIN checks c ON c.id = r.check_id WHERE {where} ORDER BY c.key, r.hour",
            params,
        )
        return [RollupRow(*row) for row in rows]

    def runs(self) -> list[MonitorRun]:
        """Every monitor run, oldest first."""
        return [
            MonitorRun(*row)
            for row in self._rows(
                "SELECT id, started, heartbeat, stopped, pid FROM monitor_runs ORDER BY id"
            )
        ]


def _open_outage_id(conn: sqlite3.Connection, cid: int) -> tuple[int, int] | None:
    """(id, root id) of the check's open outage, if any."""
    row = conn.execute(
        "SELECT id, coalesce(root_cause, id) FROM outages WHERE check_id = ? AND end_ts IS NULL "
        "ORDER BY start_ts DESC LIMIT 1",
        (cid,),
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def _parent_outage(conn: sqlite3.Connection, pid: int, at: float) -> int | None:
    """Root id of the parent's outage that a child outage starting at ``at`` is behind:
    its open one, else its latest that had not ended by ``at``."""
    row = conn.execute(
        "SELECT coalesce(root_cause, id) FROM outages WHERE check_id = ? "
        "AND (end_ts IS NULL OR end_ts >= ?) ORDER BY end_ts IS NULL DESC, start_ts DESC "
        "LIMIT 1",
        (pid, at),
    ).fetchone()
    return None if row is None else int(row[0])


def _attach_children(conn: sqlite3.Connection, key: str, outage: int, root: int) -> None:
    """Point the open outages blamed on ``key`` (outage ``outage``) at ``root``, and theirs."""
    rows = conn.execute(
        "UPDATE outages SET root_cause = ? WHERE end_ts IS NULL AND unreachable = 1 "
        "AND blamed_on = ? AND (root_cause IS NULL OR root_cause = ?) "
        "RETURNING id, (SELECT key FROM checks WHERE checks.id = outages.check_id)",
        (root, key, outage),
    ).fetchall()
    for child_id, child_key in rows:
        _attach_children(conn, child_key, child_id, root)


def _rollups(
    hours: Mapping[int, Mapping[int, list[float | None]]],
    not_ok: Iterable[tuple[int, int, int]],
) -> list[list[Any]]:
    """Rollup rows for :data:`_ROLLUP` from a batch's latencies per hour and check."""
    rows: dict[tuple[int, int], list[Any]] = {}
    for hour, lats in hours.items():
        for cid, group in lats.items():
            n = len(group)
            known = cast(
                "list[float]", [x for x in group if x is not None] if None in group else group
            )
            if known:
                total = sum(known, 0.0)
                rows[hour, cid] = [cid, hour, n, 0, 0, 0, total, min(known), max(known), len(known)]
            else:
                rows[hour, cid] = [cid, hour, n, 0, 0, 0, 0.0, None, None, 0]
    for hour, cid, outcome in not_ok:
        row = rows[hour, cid]
        row[2] -= 1
        row[2 + outcome] += 1
    return list(rows.values())


def _latest_states(
    batch: Sequence[Record],
    first: int,
    heads: Mapping[int, int],
    checks: Collection[int],
    ids: Mapping[str, int],
) -> dict[int, MachineState]:
    """The state of each of ``checks`` after its last record in ``batch`` that has one.

    ``batch`` was written from id ``first`` on and ``heads`` holds each check's last id,
    so only a check's last record is read, not every record's state: an object of its
    own, cold in memory by the time its batch is written.
    """
    states = {}
    for cid in checks:
        state = batch[heads[cid] - first].state
        if state is not None:
            states[cid] = state
    if len(states) < len(checks):
        # A check whose last record has no state: its latest record that has one.
        for r in reversed(batch):
            cid = ids[r.check]
            if cid not in states and r.state is not None:
                states[cid] = r.state
    return states


def _write_events(
    conn: sqlite3.Connection, events: Sequence[tuple[int, Event]], ids: Mapping[str, int]
) -> None:
    """Write a batch's events in order; runs of state changes go as one executemany."""
    changes: list[tuple[Any, ...]] = []
    for cid, e in events:
        if type(e) is StateChanged:
            changes.append((cid, e.ts, str(e.old), str(e.new), e.reason))
            continue
        if changes:
            conn.executemany(_INSERT_STATE_CHANGE, changes)
            changes = []
        _write_event(conn, cid, e, ids)
    if changes:
        conn.executemany(_INSERT_STATE_CHANGE, changes)


_INSERT_STATE_CHANGE = (
    "INSERT INTO state_changes (check_id, ts, old, new, reason) VALUES (?, ?, ?, ?, ?)"
)


def _write_event(conn: sqlite3.Connection, cid: int, e: Event, ids: Mapping[str, int]) -> None:
    if isinstance(e, StateChanged):
        conn.execute(
            "INSERT INTO state_changes (check_id, ts, old, new, reason) VALUES (?, ?, ?, ?, ?)",
            (cid, e.ts, str(e.old), str(e.new), e.reason),
        )
    elif isinstance(e, OutageOpened):
        root = None
        if e.parent is not None and e.parent in ids:
            root = _parent_outage(conn, ids[e.parent], e.start_ts)
        cur = conn.execute(
            "INSERT INTO outages (check_id, start_ts, confirmed_ts, reason, root_cause, "
            "unreachable, blamed_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cid, e.start_ts, e.confirmed_ts, e.reason, root, e.unreachable, e.parent),
        )
        assert cur.lastrowid is not None
        key = _key_of(conn, cid)
        _attach_children(conn, key, cur.lastrowid, root if root is not None else cur.lastrowid)
    elif isinstance(e, OutageClosed):
        conn.execute(
            "UPDATE outages SET end_ts = ? WHERE check_id = ? AND start_ts = ? AND end_ts IS NULL",
            (e.end_ts, cid, e.start_ts),
        )
    elif isinstance(e, RootCauseChanged):
        own = _open_outage_id(conn, cid)
        if own is None:
            return
        root = None
        if e.parent is not None and e.parent in ids:
            root = _parent_outage(conn, ids[e.parent], e.start_ts)
        conn.execute(
            "UPDATE outages SET unreachable = ?, blamed_on = ?, root_cause = ? WHERE id = ?",
            (e.parent is not None, e.parent, root, own[0]),
        )
        new_root = root if root is not None else own[0]
        conn.execute(
            "UPDATE outages SET root_cause = ? WHERE end_ts IS NULL AND root_cause = ?",
            (new_root, own[0]),
        )
        _attach_children(conn, _key_of(conn, cid), own[0], new_root)
    elif isinstance(e, FlappingStarted):
        conn.execute(
            "INSERT INTO flaps (check_id, start_ts, changes) VALUES (?, ?, ?)",
            (cid, e.start_ts, e.changes),
        )
    elif isinstance(e, FlappingStopped):
        conn.execute(
            "UPDATE flaps SET end_ts = ? WHERE check_id = ? AND start_ts = ? AND end_ts IS NULL",
            (e.end_ts, cid, e.start_ts),
        )


def _key_of(conn: sqlite3.Connection, cid: int) -> str:
    return str(conn.execute("SELECT key FROM checks WHERE id = ?", (cid,)).fetchone()[0])
