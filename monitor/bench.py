"""Measurements of the monitor core: store insert throughput and scheduler CPU per fire.

``python -m monitor.bench store --checks 2000 --rows 1000000``
``python -m monitor.bench schedule --checks 10000 --interval 10 --seconds 30``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from monitor.engine import Monitor
from monitor.state import CheckMachine, Outcome
from monitor.store import Record, Store
from probes.base import Observation, Probe, ProbeOptions
from sites.spec import CheckSpec, ElementType, Lifecycle


class SleepOptions(ProbeOptions):
    """Options of the benchmark's no-network probe."""

    delay: float = 0.05
    """Seconds each check sleeps before answering OK."""


class SleepProbe(Probe[SleepOptions]):
    """A probe that sleeps and answers OK: isolates the scheduler's own cost."""

    kind = "sleep"
    Options = SleepOptions
    concurrency: ClassVar[int] = 100_000

    async def check(self, options: SleepOptions) -> Observation:
        await asyncio.sleep(options.delay)
        return Observation.up(options.delay * 1000)


def make_specs(n: int, interval: float, kind: str = "sleep") -> list[CheckSpec]:
    """``n`` synthetic checks of the sleep probe."""
    return [
        CheckSpec(
            id=f"bench-{i:05d}.ping",
            name=f"Điểm {i}",
            kind=kind,
            options=SleepOptions(),
            element=f"bench-{i:05d}",
            element_type=ElementType.SITE,
            datacenter=None,
            site=f"bench-{i:05d}",
            role="wan",
            lifecycle=Lifecycle.ACTIVE,
            interval=interval,
            retry_interval=interval / 3,
            fail_after=3,
            recover_after=2,
        )
        for i in range(n)
    ]


def bench_store(checks: int, rows: int, directory: Path) -> dict[str, float]:
    """Record ``rows`` observations spread over ``checks`` checks; rows/s until committed."""
    specs = make_specs(checks, 60.0)
    path = directory / "bench.db"
    with Store(path, housekeeping=False) as store:
        store.sync_checks(specs)
        machines = [CheckMachine(s.id) for s in specs]
        t0 = time.time() - rows / checks * 60.0
        recs = []
        for i in range(rows):
            c = i % checks
            ts = t0 + (i // checks) * 60.0 + c * 60.0 / checks
            outcome = Outcome.DOWN if i % 97 == 0 else Outcome.OK
            m = machines[c]
            events = m.observe(ts, outcome, "timeout" if outcome else "")
            recs.append(
                Record(
                    specs[c].id,
                    ts,
                    outcome,
                    None if outcome else 1.0 + (i % 50),
                    "connect timeout after 3.0 s" if outcome else "",
                    {"rtt_avg_ms": 1.5} if not outcome else None,
                    m.snapshot(),
                    events,
                )
            )
        start = time.perf_counter()
        cpu0 = time.process_time()
        for r in recs:
            store.record(r)
        store.flush()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    return {
        "checks": checks,
        "rows": rows,
        "seconds": round(wall, 3),
        "rows_per_s": round(rows / wall),
        "cpu_s": round(cpu, 3),
        "rows_per_cpu_s": round(rows / cpu),
        "db_mb": round(path.stat().st_size / 1e6, 1),
    }


async def bench_schedule(
    checks: int, interval: float, seconds: float, tick: float
) -> dict[str, float]:
    """Run ``checks`` sleep-probe checks; CPU of the whole process per 1,000 fires."""
    specs = make_specs(checks, interval)
    fires = 0

    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "sched.db", housekeeping=False)
        try:
            monitor = Monitor(specs, store, probes={"sleep": SleepProbe}, tick=tick)
            stop = asyncio.Event()
            task = asyncio.create_task(monitor.run(stop))
            # Let first runs (spread over one interval) settle into the steady state.
            await asyncio.sleep(interval)
            fires0 = monitor.fires
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.perf_counter() - t0
            fires = monitor.fires - fires0
            stop.set()
            await task
        finally:
            store.close()
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {
        "checks": checks,
        "interval_s": interval,
        "fires": fires,
        "fires_per_s": round(fires / wall, 1),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_1000_fires": round(cpu / max(fires, 1) * 1e6, 1),
        "cpu_pct_one_core": round(cpu / wall * 100, 2),
    }


def main() -> None:
    """Command-line entry point; prints one JSON object per measurement."""
    parser = argparse.ArgumentParser(prog="python -m monitor.bench")
    sub = parser.add_subparsers(dest="what", required=True)
    p_store = sub.add_parser("store", help="observations/s into the store")
    p_store.add_argument("--checks", type=int, default=2000)
    p_store.add_argument("--rows", type=int, default=1_000_000)
    p_sched = sub.add_parser("schedule", help="scheduler+engine CPU per 1,000 fires")
    p_sched.add_argument("--checks", type=int, default=10_000)
    p_sched.add_argument("--interval", type=float, default=10.0)
    p_sched.add_argument("--seconds", type=float, default=30.0)
    p_sched.add_argument("--tick", type=float, default=0.1)
    args = parser.parse_args()
    if args.what == "store":
        with tempfile.TemporaryDirectory() as d:
            print(json.dumps(bench_store(args.checks, args.rows, Path(d))))
    else:
        result = asyncio.run(bench_schedule(args.checks, args.interval, args.seconds, args.tick))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
