"""A fixed monitor database holding the sample board, written through the real Store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.state import CheckState, MachineState, Outcome
from monitor.store import Record, Store
from sites import Inventory
from tui.sample import MARKUP_DESCR, SAMPLE_NOW, sample_board

_OUTCOME = {"up": Outcome.OK, "degraded": Outcome.DEGRADED, "unknown": Outcome.OK}


def build_db(path: Path, inventory: Inventory, now: float = SAMPLE_NOW) -> Path:
    """Write the sample board into a monitor database at ``path``; return it."""
    board = sample_board(inventory, now)
    with Store(path, housekeeping=False) as store:
        ids = store.sync_checks(inventory.checks.values(), ts=now - 86400)
        # The monitor ran all along, as in the sample: cutover windows are judged, not unknown.
        first = min(p.window.start.timestamp() for p in inventory.cutovers.values())
        store.heartbeat(store.start_run(ts=first), ts=now)
        for row in board.checks.values():
            spec = inventory.checks[row.id]
            values = None
            if spec.kind == "snmp":
                values = {
                    "sys_name": f"{spec.element}-rtr",
                    "sys_descr": MARKUP_DESCR,
                    "sys_uptime_s": 1234567.0,
                    "if.Gi0/0.oper_status": "up",
                    "if.Gi0/1.oper_status": "down",
                }
            known = row.state in CheckState.__members__.values()
            machine = MachineState(
                state=CheckState(row.state) if known else CheckState.DOWN,
                since=row.since,
                last_ts=row.last_ts,
                last_reason=row.reason,
            )
            for i in (2, 1, 0):
                store.record(
                    Record(
                        row.id,
                        (row.last_ts or now) - 30 * i,
                        _OUTCOME.get(row.state, Outcome.DOWN),
                        row.latency_ms,
                        row.reason,
                        values,
                        machine,
                    )
                )
        store.flush()
        assert store.write_errors == 0, "the Store could not write the sample observations"

        def raw(conn: sqlite3.Connection) -> None:
            # States and links newer than this monitor version, as a newer one would write.
            for row in board.checks.values():
                conn.execute(
                    "UPDATE check_state SET state = ? WHERE check_id = ?", (row.state, ids[row.id])
                )
            outage_ids: dict[int, int] = {}
            for o in board.outages:
                cur = conn.execute(
                    "INSERT INTO outages (check_id, start_ts, confirmed_ts, end_ts, reason, "
                    "root_cause) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        ids[o.check],
                        o.start_ts,
                        o.confirmed_ts,
                        o.end_ts,
                        o.reason,
                        outage_ids.get(o.root_cause) if o.root_cause else None,
                    ),
                )
                assert cur.lastrowid is not None
                outage_ids[o.id] = cur.lastrowid
            for e in reversed(board.events):
                conn.execute(
                    "INSERT INTO state_changes (check_id, ts, old, new, reason) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (ids[e.check], e.ts, e.old, e.new, e.reason),
                )

        store.submit(raw).result()
    return path
