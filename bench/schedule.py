"""Scheduling: CPU of firing 10,000 checks a minute, our timing wheel against APScheduler 3.

Every variant runs in its own process for ``--seconds`` after a short warm-up, with a
no-op job, and reports its own CPU (``getrusage``) per fire:

- ``wheel``: ``monitor.schedule.TimingWheel`` (100 ms ticks) starting one task per fire,
  as the engine does: the scheduler alone, the figure the 1 % target is about.
- ``monitor``: the whole ``monitor.engine.Monitor`` with a no-op probe (scheduler, state
  machines, snapshots and the store writing every observation to SQLite).
- ``aps-spread`` / ``aps-aligned``: APScheduler 3 ``AsyncIOScheduler`` interval jobs whose
  first runs are spread evenly over the interval, or aligned to whole seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import Row, cpu_self

NAME = "schedule"
VARIANTS = ("wheel", "monitor", "aps-spread", "aps-aligned")
WARMUP_S = 3.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Checks, interval and measuring time."""
    parser.add_argument("--checks", type=int, default=10_000, help="jobs (default 10000)")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between runs")
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring window")


async def _measure(fires: list[int], seconds: float) -> dict[str, float]:
    await asyncio.sleep(WARMUP_S)
    f0, c0, t0 = fires[0], cpu_self(), time.perf_counter()
    await asyncio.sleep(seconds)
    return {"fires": fires[0] - f0, "cpu": cpu_self() - c0, "wall": time.perf_counter() - t0}


async def _noop() -> None:
    return None


async def _wheel(checks: int, interval: float, seconds: float) -> dict[str, float]:
    from monitor.schedule import TimingWheel, first_offset

    loop = asyncio.get_running_loop()
    fires = [0]
    tasks: set[asyncio.Task[None]] = set()

    def fire(keys: list[str]) -> None:
        now = loop.time()
        for key in keys:
            fires[0] += 1
            task = loop.create_task(_noop())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            wheel.schedule(key, now + interval)

    wheel: TimingWheel[str] = TimingWheel(loop, 0.1, fire)
    now = loop.time()
    for i in range(checks):
        key = f"bench-{i:05d}.ping"
        wheel.schedule(key, now + first_offset(key, interval))
    try:
        return await _measure(fires, seconds)
    finally:
        wheel.cancel_all()


async def _monitor(checks: int, interval: float, seconds: float) -> dict[str, float]:
    from bench.specs import NoopProbe, sleep_specs
    from monitor.engine import Monitor
    from monitor.store import Store

    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "schedule.db", housekeeping=False)
        try:
            monitor = Monitor(sleep_specs(checks, interval), store, probes={"noop": NoopProbe})
            stop = asyncio.Event()
            task = asyncio.create_task(monitor.run(stop))
            await asyncio.sleep(WARMUP_S)
            f0, c0, t0 = monitor.fires, cpu_self(), time.perf_counter()
            await asyncio.sleep(seconds)
            result = {
                "fires": monitor.fires - f0,
                "cpu": cpu_self() - c0,
                "wall": time.perf_counter() - t0,
            }
            stop.set()
            await task
        finally:
            store.close()
    return result


async def _apscheduler(checks: int, interval: float, seconds: float, aligned: bool):  # type: ignore[no-untyped-def]
    from apscheduler.events import EVENT_JOB_EXECUTED
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    fires = [0]
    sched = AsyncIOScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    )

    def count(event: object) -> None:
        fires[0] += 1

    sched.add_listener(count, EVENT_JOB_EXECUTED)
    base = datetime.now(UTC) + timedelta(seconds=1)
    for i in range(checks):
        offset = i * interval / checks
        if aligned:
            offset = float(int(offset))
        start = base + timedelta(seconds=offset)
        sched.add_job(_noop, IntervalTrigger(seconds=interval, start_date=start), id=f"j{i}")
    sched.start()
    try:
        return await _measure(fires, seconds)
    finally:
        sched.shutdown(wait=False)


def worker(variant: str, checks: int, interval: float, seconds: float) -> None:
    """Run one variant and print its figures as JSON."""
    if variant == "wheel":
        result = asyncio.run(_wheel(checks, interval, seconds))
    elif variant == "monitor":
        result = asyncio.run(_monitor(checks, interval, seconds))
    else:
        result = asyncio.run(_apscheduler(checks, interval, seconds, variant == "aps-aligned"))
    print(json.dumps(result))


def run(args: argparse.Namespace) -> list[Row]:
    """Run every variant (two at a time, one per core) and compare CPU per fire."""
    results: dict[str, dict[str, float]] = {}
    for pair in (VARIANTS[:2], VARIANTS[2:]):
        procs = {
            v: subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.schedule",
                    "--worker",
                    v,
                    str(args.checks),
                    str(args.interval),
                    str(args.seconds),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for v in pair
        }
        for v, proc in procs.items():
            out, err = proc.communicate(timeout=args.seconds + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"schedule worker {v} failed: {err.strip()[-400:]}")
            results[v] = json.loads(out)

    def per_fire_us(v: str) -> float:
        r = results[v]
        return r["cpu"] / max(r["fires"], 1) * 1e6

    def core_pct(v: str) -> float:
        r = results[v]
        return r["cpu"] / r["wall"] * 100

    rate = args.checks / args.interval * 60
    size = f"{args.checks:,} checks / {args.interval:g} s = {rate:,.0f}/min"
    rows = [
        Row(NAME, f"µs CPU per fire ({size})", "µs", per_fire_us("wheel"),
            per_fire_us("aps-spread"), "APScheduler 3 spread"),
        Row(NAME, "µs CPU per fire", "µs", per_fire_us("wheel"), per_fire_us("aps-aligned"),
            "APScheduler 3 aligned"),
        Row(NAME, "scheduler, % of one core", "%", core_pct("wheel"), core_pct("aps-spread"),
            "APScheduler 3 spread", "<=", 1.0, "ours"),
        Row(NAME, "whole monitor, no-op probe, % core", "%", core_pct("monitor"),
            note="engine + state machines + store writing every observation"),
    ]  # fmt: skip
    fired = results["wheel"]["fires"] / results["wheel"]["wall"] * 60
    if fired < rate * 0.95:
        rows.append(Row(NAME, "wheel fires per minute (short!)", "/min", fired))
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    else:
        from bench.__main__ import main

        main(["schedule", *sys.argv[1:]])
