"""Child process for the crash test: opens an outage, then writes until it is SIGKILLed.

``python -m tests.store.writer_proc DB T0`` prints ``outage`` once the outage is committed
and then ``rows N`` after every flush.
"""

from __future__ import annotations

import sys

from monitor.state import CheckMachine, Outcome
from monitor.store import Record, Store

CHECK = "crash.wan"
OTHER = "crash.portal"


def main() -> None:
    path, t0 = sys.argv[1], float(sys.argv[2])
    store = Store(path, housekeeping=False, batch_interval=0.01, batch_rows=2000)
    down = CheckMachine(CHECK, fail_after=2, recover_after=2)
    ok = CheckMachine(OTHER, fail_after=2, recover_after=2)
    ts = t0
    for outcome in (Outcome.OK, Outcome.DOWN, Outcome.DOWN):
        events = down.observe(ts, outcome, "connection refused" if outcome else "")
        store.record(Record(CHECK, ts, outcome, None, "", None, down.snapshot(), events))
        ts += 1.0
    store.flush()
    print("outage", flush=True)
    written = 0
    while True:
        for _ in range(500):
            events = down.observe(ts, Outcome.DOWN, "connection refused")
            store.record(
                Record(
                    CHECK,
                    ts,
                    Outcome.DOWN,
                    None,
                    "connection refused",
                    None,
                    down.snapshot(),
                    events,
                )
            )
            events = ok.observe(ts, Outcome.OK)
            store.record(
                Record(OTHER, ts, Outcome.OK, 1.5, "", {"rtt_ms": 1.5}, ok.snapshot(), events)
            )
            ts += 1.0
            written += 2
        store.flush()
        print(f"rows {written}", flush=True)


if __name__ == "__main__":
    main()
