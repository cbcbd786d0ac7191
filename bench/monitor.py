"""The whole monitor: the real engine, probes and store against simulated targets.

``--checks`` checks (default 1,000) in the province's proportions (ICMP, SIP, DNS, HTTPS,
HTTP, SNMP, TCP, SMTP) every ``--interval`` seconds (default 6 s: 10,000 checks a minute
for 1,000 checks) against cheap listeners on ``127.<block>.0.<n>`` served by a separate
process (``bench.targets``), so target CPU is not counted. The monitor runs in its own
process(es) and measures itself (``getrusage``) after a warm-up.

``--procs N`` deals the checks to N monitor processes as ``thongsuot run --procs N`` does
(:func:`monitor.shard.split`, which says how they share the work and the database); each
process measures itself. A failed commit would count in ``write errors``.

Afterwards the database is read: observations per second in the window, late checks
(a gap between two runs of one check longer than its interval plus jitter and 1 s),
missed runs (a gap over twice the interval), and any non-OK observation or outage,
which against healthy targets is a false alarm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import Row, cpu_self, machine_busy, peak_rss_mb, user_sys
from bench import targets as tg

NAME = "monitor"
MIX = (("icmp", 24), ("sip", 22), ("dns", 22), ("https", 12), ("http", 5), ("snmp", 12),
       ("tcp", 2), ("smtp", 1))  # fmt: skip
"""Share of each kind, percent (the default sites.yaml's, plus some TCP, HTTP and SMTP)."""
WARMUP_S = 4.0
JITTER = 0.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Size, rate and processes."""
    parser.add_argument("--checks", type=int, default=1000, help="checks (default 1000)")
    parser.add_argument("--interval", type=float, default=6.0, help="seconds between runs")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window")
    parser.add_argument("--procs", type=int, default=1, help="monitor processes")
    parser.add_argument("--addresses", type=int, default=20, help="target addresses")
    parser.add_argument("--profile", metavar="DIR", help="write cProfile stats of each process")
    parser.add_argument(
        "--kind",
        action="append",
        choices=[k for k, _ in MIX],
        help="only checks of this kind (repeatable; default: the whole mix)",
    )


def make_specs(
    checks: int,
    interval: float,
    block: int,
    addresses: int,
    ca: str,
    only: list[str] | None = None,
) -> list[Any]:
    """The checks, kinds interleaved in the mix's proportions (of the ``only`` kinds)."""
    from bench.specs import spec
    from probes.dns import DnsOptions
    from probes.http import HttpOptions
    from probes.icmp import IcmpOptions
    from probes.sip import SipOptions
    from probes.smtp import SmtpOptions
    from probes.snmp import SnmpOptions
    from probes.tcp import TcpOptions

    kinds = [k for k, share in MIX for _ in range(share) if not only or k in only]
    ports = tg.PORTS
    specs = []
    for i in range(checks):
        kind = kinds[(i * 37) % len(kinds)]
        host = tg.address(block, i % addresses)
        if kind == "icmp":
            probe, options = "icmp", IcmpOptions(host=host, count=1, timeout=1.0)
        elif kind == "sip":
            probe, options = "sip", SipOptions(host=host, port=ports["sip"], timeout=1.0)
        elif kind == "dns":
            probe = "dns"
            options = DnsOptions(server=host, port=ports["dns"], name=tg.DNS_NAME, timeout=1.0)
        elif kind == "https":
            probe = "http"
            options = HttpOptions(url=f"https://{host}:{ports['https']}/", ca_file=ca, timeout=2.0)
        elif kind == "http":
            probe, options = "http", HttpOptions(url=f"http://{host}:{ports['http']}/", timeout=2.0)
        elif kind == "snmp":
            probe, options = "snmp", SnmpOptions(host=host, port=ports["snmp"], timeout=1.0)
        elif kind == "tcp":
            probe, options = "tcp", TcpOptions(host=host, port=ports["tcp"], timeout=1.0)
        else:
            probe = "smtp"
            options = SmtpOptions(host=host, port=ports["smtp"], starttls=False, timeout=2.0)
        specs.append(spec(f"t{i:05d}.{kind}", probe, options, interval))
    return specs


async def _work(config: dict[str, Any]) -> dict[str, Any]:
    from monitor.engine import Monitor
    from monitor.shard import split
    from monitor.store import Store

    every = make_specs(
        config["checks"],
        config["interval"],
        config["block"],
        config["addresses"],
        config["ca"],
        config["kind"],
    )
    specs = split(every, config["procs"])[config["shard"]]
    store = Store(config["db"], housekeeping=False)
    try:
        monitor = Monitor(specs, store, jitter=JITTER)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop))
        await asyncio.sleep(WARMUP_S)
        profiler = None
        if config.get("profile"):
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        f0, c0, t0, w0 = monitor.fires, cpu_self(), time.perf_counter(), time.time()
        await asyncio.sleep(config["seconds"])
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(Path(config["profile"]) / f"monitor-{config['shard']}.prof")
        result = {
            "fires": monitor.fires - f0,
            "cpu": cpu_self() - c0,
            "wall": time.perf_counter() - t0,
            "start": w0,
            "end": time.time(),
            "rss_mb": peak_rss_mb(),
        }
        stop.set()
        await task
    finally:
        store.close()
    result["write_errors"] = store.write_errors
    result["checks"] = len(specs)
    return result


def worker(config_json: str) -> None:
    """One monitor process: run its shard, print its figures as JSON."""
    print(json.dumps(asyncio.run(_work(json.loads(config_json)))))


def analyse(db: Path, start: float, end: float, interval: float) -> dict[str, Any]:
    """Observations, lateness, misses and false alarms in ``[start, end)``."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT check_id, ts, status, reason FROM observations WHERE ts >= ? "
            "ORDER BY check_id, ts",
            (start - 3 * interval,),
        ).fetchall()
        outages = conn.execute(
            "SELECT count(*) FROM outages WHERE start_ts >= ?", (start - interval,)
        ).fetchone()[0]
        checks = conn.execute("SELECT count(*) FROM checks").fetchone()[0]
    finally:
        conn.close()
    late_after = interval * (1 + JITTER) + 1.0
    missed_after = 2 * interval
    observed = late = missed = 0
    bad: Counter[str] = Counter()
    seen: set[int] = set()
    previous: tuple[int, float] | None = None
    for check_id, ts, status, reason in rows:
        if start <= ts < end:
            observed += 1
            seen.add(check_id)
            if status != 0:
                bad[reason or f"status {status}"] += 1
            if previous is not None and previous[0] == check_id:
                gap = ts - previous[1]
                late += gap > late_after
                missed += gap > missed_after
        previous = (check_id, ts)
    if end - start > 2 * interval:
        missed += checks - len(seen)
    return {"obs": observed, "late": late, "missed": missed, "bad": bad, "outages": outages}


def run(args: argparse.Namespace) -> list[Row]:
    """Start the targets, run the monitor process(es), read back the database."""
    block = 200 + os.getpid() % 40
    addresses = max(1, args.addresses)
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as d:
        tg.make_ca(Path(d), [tg.address(block, n) for n in range(addresses)])
        ready_recv, ready_send = ctx.Pipe(duplex=False)
        stop = ctx.Event()
        server = ctx.Process(target=tg.serve, args=(block, addresses, d, ready_send, stop))
        server.start()
        try:
            if not ready_recv.poll(60):
                raise RuntimeError("the simulated targets did not start")
            db = Path(d) / "monitor.db"
            from monitor.store import Store

            Store(db, housekeeping=False).close()  # the schema, before writers race for it
            base = {"checks": args.checks, "interval": args.interval, "seconds": args.seconds,
                    "block": block, "addresses": addresses, "ca": str(Path(d) / "ca.pem"),
                    "db": str(db), "procs": args.procs, "profile": args.profile,
                    "kind": args.kind}  # fmt: skip
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.monitor",
                        "--worker",
                        json.dumps({**base, "shard": i}),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
                for i in range(args.procs)
            ]
            targets0, machine0 = sum(user_sys(server.pid)), machine_busy()
            results = []
            for proc in procs:
                out, err = proc.communicate(timeout=args.seconds + WARMUP_S + 120)
                if proc.returncode != 0:
                    raise RuntimeError(f"monitor worker failed: {err.strip()[-600:]}")
                results.append(json.loads(out))
            targets1, machine1 = sum(user_sys(server.pid)), machine_busy()
            # The whole run, warm-up included: a rough share, to tell whether the machine
            # (not the monitor) was the limit.
            run_s = (machine1[1] - machine0[1]) / (os.cpu_count() or 1)
            targets_pct = (targets1 - targets0) / run_s * 100
            machine_pct = (machine1[0] - machine0[0]) / (machine1[1] - machine0[1]) * 100
            start = max(r["start"] for r in results)
            end = min(r["end"] for r in results)
            found = analyse(db, start, end, args.interval)
        finally:
            stop.set()
            server.join(10)
            if server.is_alive():
                server.terminate()
                server.join(5)
    fires = sum(r["fires"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    wall = end - start
    rate = args.checks / args.interval * 60
    size = f"{args.checks:,} checks / {args.interval:g} s = {rate:,.0f}/min, {args.procs} proc"
    if args.kind:
        size += ", " + "+".join(args.kind) + " only"
    core_pct = cpu / max(r["wall"] for r in results) * 100
    rss = max(r["rss_mb"] for r in results)
    ten_k = args.procs == 1 and abs(rate - 10_000) <= 1_000
    bad = sum(found["bad"].values())
    rows = [
        Row(NAME, f"obs/s ({size})", "obs/s", found["obs"] / wall,
            note=f"{found['obs']:,} observations in {wall:.0f} s"),
        Row(NAME, "CPU per 1,000 checks", "s", cpu / max(fires, 1) * 1000),
        Row(NAME, "CPU, % of one core (all procs)", "%", core_pct,
            **({"op": "<=", "bound": 10.0, "compare": "ours"} if ten_k else {})),  # type: ignore[arg-type]
        Row(NAME, "peak RSS (largest proc)", "MB", rss,
            **({"op": "<=", "bound": 150.0, "compare": "ours"} if ten_k else {})),  # type: ignore[arg-type]
        Row(NAME, "late checks", "runs", found["late"], op="<=", bound=0, compare="ours"),
        Row(NAME, "missed runs", "runs", found["missed"], op="<=", bound=0, compare="ours"),
        Row(NAME, "non-OK observations (false)", "obs", bad, op="<=", bound=0, compare="ours",
            note=", ".join(f"{n}× {r}" for r, n in found["bad"].most_common(3))),
        Row(NAME, "outages opened (false)", "outages", found["outages"], op="<=", bound=0,
            compare="ours"),
        Row(NAME, "write errors (all procs)", "batches", sum(r["write_errors"] for r in results),
            op="<=", bound=0, compare="ours",
            note="checks per proc: " + ", ".join(str(r["checks"]) for r in results)),
        Row(NAME, "simulated targets' CPU, % of one core (not ours)", "%", targets_pct),
        Row(NAME, "machine busy, % of all cores", "%", machine_pct,
            note="everything running, targets and other work included"),
    ]  # fmt: skip
    if rate >= 20_000:
        # Each process's own rate: their windows differ by up to a second.
        done = sum(r["fires"] / r["wall"] for r in results) * 60
        rows.insert(1, Row(NAME, "checks per minute done", "/min", done, rate, "requested",
                           ">=", 0.98))  # fmt: skip
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        from bench.__main__ import main

        sys.exit(main(["monitor", *sys.argv[1:]]))
