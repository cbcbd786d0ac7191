"""Data sources for the dashboard: the monitor's database, or a monitor in this process.

* :class:`DbSource` reads a running monitor's SQLite database through a read-only
  connection (``mode=ro``), one short read transaction per snapshot, so it never holds
  back the monitor's writer or its WAL checkpoints (NOTES A4.3, A4.4).
* :class:`LiveSource` takes check states from :meth:`monitor.engine.Monitor.snapshot`
  (thread-safe; the monitor runs on its own loop in another thread) and the rest (outages,
  events, cutover usage, history) from the same database, read-only.

Both are called from worker threads only; the UI thread never waits on them.

Acknowledgements are the one thing the dashboard writes: :class:`AckStore` keeps them in
the store's ``acknowledgements`` table, through its own short-lived connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.cutover import evaluate
from monitor.intervals import IntervalSet, clip, normalize
from monitor.store import RECENT_OBSERVATIONS, OutageRow
from sites import Inventory
from tui.board import (
    Ack,
    Board,
    CheckDetail,
    CheckRow,
    CutoverUsage,
    EventItem,
    ObservationItem,
    cutover_window,
    freeze_values,
    usage_of,
)

if TYPE_CHECKING:
    from monitor.engine import Monitor
    from monitor.store import Store

EVENT_LIMIT = 300
"""State changes kept on the board."""
_LATENCY_SCAN_LIMIT = 200_000
"""At most this many new observations are read per snapshot for last latencies."""


class SourceError(Exception):
    """The data source cannot be read; the message says what to do."""


def _state_text(value: Any) -> str:
    # CheckState is a StrEnum; a newer monitor may write states this version lacks.
    return str(value.value) if hasattr(value, "value") else str(value)


class DbReader:
    """Read-only queries on a monitor database; one connection, used under a lock."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 2000) -> None:
        self.path = Path(path)
        self._busy_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._last_obs_id: int | None = None
        self._latency: dict[int, float | None] = {}
        self._keys: dict[int, str] = {}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.path.exists():
                raise SourceError(
                    f"no database at {self.path}: start the monitor (thongsuot run) first, "
                    "or pass the path it writes to"
                )
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                isolation_level=None,
                timeout=self._busy_ms / 1000,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_ms)}")
            conn.execute("PRAGMA query_only=ON")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection (reopened on the next query)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` inside one short read transaction (a consistent view)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

    def _has_table(self, conn: sqlite3.Connection, name: str) -> bool:
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def checks(self, conn: sqlite3.Connection) -> dict[str, CheckRow]:
        """Every check's stored state, with the last latency seen."""
        self._refresh_keys(conn)
        self._refresh_latency(conn)
        rows = conn.execute(
            "SELECT s.check_id, s.state, s.since, s.last_ts, "
            "json_extract(s.machine, '$.last_reason') FROM check_state s"
        ).fetchall()
        keys, lat = self._keys, self._latency
        out: dict[str, CheckRow] = {}
        for cid, state, since, last_ts, reason in rows:
            key = keys.get(cid)
            if key is None:
                continue
            out[key] = CheckRow(key, str(state), since, last_ts, reason or "", lat.get(cid))
        return out

    def _refresh_keys(self, conn: sqlite3.Connection) -> None:
        n = conn.execute("SELECT count(*) FROM checks").fetchone()[0]
        if n != len(self._keys):
            self._keys = dict(conn.execute("SELECT id, key FROM checks").fetchall())

    def _refresh_latency(self, conn: sqlite3.Connection) -> None:
        top = conn.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0]
        if self._last_obs_id is None or top < self._last_obs_id:
            # First look (or the table was rebuilt): the newest rows cover every check.
            start = max(0, top - max(4 * len(self._keys), 1000))
        else:
            start = self._last_obs_id
        lat = self._latency
        for cid, ms in conn.execute(
            "SELECT check_id, latency_ms FROM observations WHERE id > ? ORDER BY id LIMIT ?",
            (start, _LATENCY_SCAN_LIMIT),
        ):
            lat[cid] = ms
        self._last_obs_id = top

    def open_outages(self, conn: sqlite3.Connection) -> tuple[OutageRow, ...]:
        """Outages not yet ended, oldest first."""
        return self._outages(conn, "o.end_ts IS NULL", ())

    def _outages(
        self, conn: sqlite3.Connection, where: str, params: Sequence[Any], tail: str = ""
    ) -> tuple[OutageRow, ...]:
        rows = conn.execute(
            "SELECT o.id, c.key, o.start_ts, o.confirmed_ts, o.end_ts, o.reason, o.root_cause "
            f"FROM outages o JOIN checks c ON c.id = o.check_id WHERE {where} "
            f"{tail or 'ORDER BY o.start_ts, o.id'}",
            params,
        ).fetchall()
        return tuple(OutageRow(i, k, s, cf, e, r or "", rc) for i, k, s, cf, e, r, rc in rows)

    def events(self, conn: sqlite3.Connection, limit: int = EVENT_LIMIT) -> tuple[EventItem, ...]:
        """The newest state changes, newest first."""
        rows = conn.execute(
            "SELECT c.key, s.ts, s.old, s.new, s.reason FROM state_changes s "
            "JOIN checks c ON c.id = s.check_id ORDER BY s.id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return tuple(EventItem(k, ts, str(o), str(n), r or "") for k, ts, o, n, r in rows)

    def cutovers(
        self, conn: sqlite3.Connection, inventory: Inventory, now: float
    ) -> tuple[CutoverUsage, ...]:
        """Every cutover plan judged by :func:`monitor.cutover.evaluate`, the rule the
        ``cutover`` report uses, on this snapshot's consistent view of the database."""
        span = cutover_window(inventory)
        if span is None:
            return ()
        start, end = span
        horizon = min(end, now)
        outages: dict[str, list[OutageRow]] = {}
        runs: IntervalSet = []
        if horizon > start:
            for row in conn.execute(
                "SELECT o.id, c.key, o.start_ts, o.confirmed_ts, o.end_ts, o.reason, "
                "o.root_cause, o.unreachable, o.blamed_on FROM outages o "
                "JOIN checks c ON c.id = o.check_id "
                "WHERE o.start_ts < ? AND (o.end_ts IS NULL OR o.end_ts > ?)",
                (horizon, start),
            ):
                oid, key, o_start, confirmed, o_end, reason, root, unreachable, blamed = row
                outage = OutageRow(
                    oid, key, o_start, confirmed, o_end, reason or "", root, bool(unreachable),
                    blamed,
                )  # fmt: skip
                outages.setdefault(outage.check, []).append(outage)
            runs = normalize(
                (started, stopped if stopped is not None else min(heartbeat, now))
                for started, heartbeat, stopped in conn.execute(
                    "SELECT started, heartbeat, stopped FROM monitor_runs"
                )
            )
        names = {key: spec.name for key, spec in inventory.checks.items()}
        usages = []
        for plan_id, plan in inventory.cutovers.items():
            p_start, p_end = plan.window.start.timestamp(), plan.window.end.timestamp()
            covered = clip(runs, p_start, min(p_end, now))
            checks = inventory.cutover_checks.get(plan_id, ())
            usages.append(usage_of(evaluate(plan, checks, names, outages, covered, now)))
        return tuple(usages)

    def acks(
        self, conn: sqlite3.Connection, outages: Sequence[OutageRow]
    ) -> dict[tuple[str, float], Ack]:
        """The latest acknowledgement of each open outage."""
        if not outages or not self._has_table(conn, "acknowledgements"):
            return {}
        oldest = min(o.start_ts for o in outages)
        wanted = {(o.check, o.start_ts) for o in outages}
        out: dict[tuple[str, float], Ack] = {}
        for key, start, by, note, ts in conn.execute(
            "SELECT check_key, outage_start_ts, acked_by, note, ts FROM acknowledgements "
            "WHERE outage_start_ts >= ? ORDER BY ts, id",
            (oldest,),
        ):
            if (key, start) in wanted:
                out[(key, start)] = Ack(key, start, by, note or "", ts)
        return out

    def detail(self, checks: Sequence[str], limit: int) -> dict[str, CheckDetail]:
        """Recent observations and outages of each check."""

        def run(conn: sqlite3.Connection) -> dict[str, CheckDetail]:
            out: dict[str, CheckDetail] = {}
            for key in checks:
                row = conn.execute("SELECT id FROM checks WHERE key = ?", (key,)).fetchone()
                if row is None:
                    out[key] = CheckDetail(key)
                    continue
                obs = tuple(
                    ObservationItem(ts, int(st), lat, reason or "", _values(v))
                    for ts, st, lat, reason, v in conn.execute(
                        RECENT_OBSERVATIONS, {"check": row[0], "limit": limit}
                    )
                )
                outages = self._outages(
                    conn, "o.check_id = ?", (row[0],), "ORDER BY o.start_ts DESC LIMIT 50"
                )
                out[key] = CheckDetail(key, obs, outages)
            return out

        result: dict[str, CheckDetail] = self.read(run)
        return result


def _values(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return freeze_values(data) if isinstance(data, dict) else {}


class AckStore:
    """Writes acknowledgements into the database's ``acknowledgements`` table."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def add(self, ack: Ack) -> None:
        """Store one acknowledgement (the table is the store's: migration m003)."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO acknowledgements "
                    "(check_key, outage_start_ts, acked_by, note, ts) VALUES (?, ?, ?, ?, ?)",
                    (ack.check, ack.outage_start_ts, ack.by, ack.note, ack.ts),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()


class _DbBacked:
    """What both sources share: history, outages, cutovers and acks from the database."""

    def __init__(self, path: str | Path, inventory: Inventory, clock: Callable[[], float]) -> None:
        self.inventory = inventory
        self.reader = DbReader(path)
        self.acks = AckStore(path)
        self._clock = clock
        self._last: Board | None = None

    def detail(self, checks: Sequence[str], limit: int = 120) -> dict[str, CheckDetail]:
        """Recent observations and outages of each check."""
        return self.reader.detail(checks, limit)

    def acknowledge(self, ack: Ack) -> None:
        """Store an acknowledgement."""
        self.acks.add(ack)

    def close(self) -> None:
        """Close the read connection."""
        self.reader.close()

    def _board(self, label: str, live_checks: Callable[[], Mapping[str, CheckRow]] | None) -> Board:
        now = self._clock()
        inv = self.inventory

        def run(conn: sqlite3.Connection) -> Board:
            checks = self.reader.checks(conn) if live_checks is None else live_checks()
            outages = self.reader.open_outages(conn)
            return Board(
                ts=now,
                checks=checks,
                outages=outages,
                events=self.reader.events(conn),
                cutovers=self.reader.cutovers(conn, inv, now),
                acks=self.reader.acks(conn, outages),
                source=label,
            )

        try:
            board: Board = self.reader.read(run)
        except sqlite3.OperationalError as exc:
            # A busy or half-created database: keep showing what we had, and say so.
            self.reader.close()
            if self._last is None:
                checks = live_checks() if live_checks is not None else {}
                return Board(ts=now, checks=checks, source=label, warning=str(exc))
            last = self._last
            return Board(
                ts=now,
                checks=live_checks() if live_checks is not None else last.checks,
                outages=last.outages,
                events=last.events,
                cutovers=last.cutovers,
                acks=last.acks,
                source=label,
                warning=f"{exc}",
            )
        self._last = board
        return board


class DbSource(_DbBacked):
    """``thongsuot dash``: everything from a running monitor's database, read-only."""

    def __init__(
        self,
        db_path: str | Path,
        inventory: Inventory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(db_path, inventory, clock)
        self.label = str(db_path)

    def snapshot(self) -> Board:
        """The current board from the database."""
        return self._board(self.label, None)


class LiveSource(_DbBacked):
    """The demo: states from a monitor running in another thread, history from its store."""

    def __init__(
        self,
        monitor: Monitor,
        store: Store,
        inventory: Inventory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(store.path, inventory, clock)
        self.monitor = monitor
        self.label = "live"

    def _live_checks(self) -> dict[str, CheckRow]:
        out: dict[str, CheckRow] = {}
        for key, snap in self.monitor.snapshot().items():
            out[key] = CheckRow(
                key,
                _state_text(snap.state),
                snap.since,
                snap.last_ts,
                snap.last_reason,
                snap.last_latency_ms,
                snap.blamed_on,
            )
        return out

    def snapshot(self) -> Board:
        """The monitor's current states, with outages and history from the database."""
        return self._board(self.label, self._live_checks)
