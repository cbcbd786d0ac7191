"""ICMP sweep: our probe against ``fping -i0`` and stock ``icmplib.async_multiping``.

``--hosts`` targets (default 5,000) in a namespace of our own, ``--dead-pct`` of them
(default 10 %) silent; one echo request each with a 0.5 s timeout. fping is timed as a
whole process (``wait4``); the Python contestants each run in a fresh process and time
only the sweep (interpreter start and imports are a daemon's one-off cost, not a sweep's).
Every contestant's verdicts are checked against the truth: a dead host reported alive is
a failure whatever the timings.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Row, cpu_self, median_by, skipped
from bench import _netns as netns

TIMEOUT_S = 0.5
NAME = "icmp"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's size."""
    parser.add_argument("--hosts", type=int, default=5000, help="targets (default 5000)")
    parser.add_argument("--dead-pct", type=float, default=10.0, help="silent share, %%")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contestant (median)")
    parser.add_argument("--no-icmplib", action="store_true", help="skip stock icmplib")


async def _sweep_ours(addresses: list[str]) -> tuple[float, float, list[str]]:
    from probes.base import Observation
    from probes.icmp import IcmpOptions, IcmpProbe

    options = [IcmpOptions(host=a, count=1, timeout=TIMEOUT_S) for a in addresses]
    probe = IcmpProbe()
    await probe.start()
    # In a running monitor the inventory and its options are old objects the collector
    # hardly visits (no full collection in a 30 s `bench monitor` window); freezing what
    # was built before the sweep gives the same, for ours and icmplib alike.
    gc.freeze()
    try:
        cpu0, t0 = cpu_self(), time.perf_counter()
        # As the engine does with the ICMP checks that fall due in one tick.
        results = await probe.check_many(options)
        up = [isinstance(r, Observation) and r.ok for r in results]
        wall, cpu = time.perf_counter() - t0, cpu_self() - cpu0
    finally:
        await probe.close()
    return wall, cpu, [a for a, ok in zip(addresses, up, strict=True) if ok]


async def _sweep_icmplib(addresses: list[str]) -> tuple[float, float, list[str]]:
    from icmplib import async_multiping

    gc.freeze()
    cpu0, t0 = cpu_self(), time.perf_counter()
    hosts = await async_multiping(addresses, count=1, timeout=TIMEOUT_S, privileged=True)
    wall, cpu = time.perf_counter() - t0, cpu_self() - cpu0
    return wall, cpu, [h.address for h in hosts if h.is_alive]


def worker(kind: str, list_file: str) -> None:
    """Sweep the addresses in ``list_file``; print wall, CPU and alive hosts as JSON."""
    addresses = Path(list_file).read_text().split()
    sweep = _sweep_ours if kind == "ours" else _sweep_icmplib
    wall, cpu, alive = asyncio.run(sweep(addresses))
    print(json.dumps({"wall": wall, "cpu": cpu, "alive": alive}))


def _run_python(kind: str, list_file: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.icmp", "--worker", kind, str(list_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} sweep failed: {result.stderr.strip()[-500:]}")
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _run_fping(list_file: Path) -> dict[str, object]:
    command = ["fping", "-a", "-q", "-i", "0", "-r", "0", "-t", str(int(TIMEOUT_S * 1000))]
    with open(list_file) as targets:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdin=targets, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        _, _, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = 0
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "alive": out.split()}


def _score(result: dict[str, object], live: set[str], dead: set[str]) -> dict[str, float]:
    alive = set(result["alive"])  # type: ignore[call-overload]
    return {
        "wall": float(result["wall"]),  # type: ignore[arg-type]
        "cpu": float(result["cpu"]),  # type: ignore[arg-type]
        "false_up": len(alive & dead),
        "false_down": len(live - alive),
    }


def _spread(runs: dict[str, list[dict[str, float]]], key: str) -> str:
    """The range of ours/fping over the runs, each run against the fping run just before it."""
    ratios = [o[key] / f[key] for o, f in zip(runs["ours"], runs["fping"], strict=True) if f[key]]
    if len(ratios) < 2:
        return ""
    return f"ratio per run {min(ratios):.2f}-{max(ratios):.2f} over {len(ratios)} runs"


def run(args: argparse.Namespace) -> list[Row]:
    """Set up the targets, run every contestant ``--repeat`` times, compare medians."""
    why = netns.unavailable() or (None if shutil.which("fping") else "fping is not installed")
    if why:
        return [skipped(NAME, "sweep", why, "fping -i0")]
    dead_n = round(args.hosts * args.dead_pct / 100)
    rows: list[Row] = []
    with netns.TargetNet(args.hosts - dead_n, dead_n) as net, tempfile.TemporaryDirectory() as d:
        list_file = Path(d) / "targets"
        list_file.write_text("\n".join(net.addresses) + "\n")
        live, dead = set(net.live), set(net.dead)
        contestants = {"fping": lambda: _run_fping(list_file)}
        contestants["ours"] = lambda: _run_python("ours", list_file)
        if not args.no_icmplib:
            contestants["icmplib"] = lambda: _run_python("icmplib", list_file)
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in contestants}
        for _ in range(args.repeat):
            for name, contestant in contestants.items():
                runs[name].append(_score(contestant(), live, dead))
                time.sleep(TIMEOUT_S)  # let stray replies of one contestant die out
    size = f"{args.hosts} hosts, {args.dead_pct:g} % dead"
    fping = median_by(runs["fping"], "wall")
    ours = median_by(runs["ours"], "wall")
    ours_cpu = median_by(runs["ours"], "cpu")
    fping_cpu = median_by(runs["fping"], "cpu")
    rows.append(
        Row(NAME, f"wall ({size})", "s", ours["wall"], fping["wall"], "fping -i0", "<=", 1.2,
            note=_spread(runs, "wall"))
    )  # fmt: skip
    rows.append(
        Row(NAME, "CPU", "s", ours_cpu["cpu"], fping_cpu["cpu"], "fping -i0", "<=", 2.0,
            note=_spread(runs, "cpu"))
    )  # fmt: skip
    if "icmplib" in runs:
        stock = median_by(runs["icmplib"], "wall")
        stock_cpu = median_by(runs["icmplib"], "cpu")
        rows.append(Row(NAME, "wall", "s", ours["wall"], stock["wall"], "icmplib multiping"))
        rows.append(Row(NAME, "CPU", "s", ours_cpu["cpu"], stock_cpu["cpu"], "icmplib multiping"))
    for name, scored in runs.items():
        false_up = max(r["false_up"] for r in scored)
        false_down = max(r["false_down"] for r in scored)
        target: dict[str, object] = {}
        if name == "ours":
            target = {"op": "<=", "bound": 0.0, "compare": "ours"}
        rows.append(
            Row(NAME, f"dead reported up ({name})", "hosts", false_up, **target)  # type: ignore[arg-type]
        )
        if false_down:
            rows.append(Row(NAME, f"live reported down ({name})", "hosts", false_down))
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        parser = argparse.ArgumentParser(prog="python -m bench.icmp")
        add_arguments(parser)
        from bench import render

        print(render(run(parser.parse_args())))
