"""HTTP(S): checks per second per core, our probe against Prometheus' blackbox_exporter.

One nginx (generated config, temp dir, a process of its own so its CPU counts for
nobody) serves a tiny static page over HTTP and over HTTPS with a private CA on
``--addresses`` loopback addresses 127.<block>.0.n; it closes every connection after its
response (``keepalive_timeout 0``), so the sockets waiting in TIME_WAIT are its own, not
the contestants'. Both contestants open a new connection per check (a kept-alive one
would hide a listener that died) and go through the same target URLs, ``--concurrency``
checks in flight.

- Ours: the real ``HttpProbe`` in a child process (imports and startup are a daemon's
  one-off cost); a short warm-up (which also fetches the certificate expiry once), then
  ``--checks`` checks timed with the child's own CPU clock.
- blackbox_exporter: started with a generated config (``http_2xx``, and ``https_ca``
  with ``tls_config.ca_file``); driven through ``/probe`` by an aiohttp client in this
  process (kept-alive connections to the exporter are its API; the exporter itself
  disables keep-alive for the probes it makes). Its CPU is read from /proc before and
  after.

Figure: checks / CPU-seconds of the contestant's process, i.e. checks/s per core. Every
check of both must succeed, or the figure is withheld.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import (
    Row,
    median_by,
    nginx_config,
    run_nginx,
    skipped,
    stop_process,
    user_sys,
    wait_for_tcp,
)

NAME = "http"
BLACKBOX = "prometheus-blackbox-exporter"
PEER = "blackbox_exporter"
TIMEOUT_S = 5.0
TARGETS = {"http": 2.0, "https": 1.3}
"""Required ratio ours/peer of checks/s per core, per scheme (issue #5)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sizes of the comparison."""
    parser.add_argument("--checks", type=int, default=3000, help="checks per run (default 3000)")
    parser.add_argument("--concurrency", type=int, default=32, help="checks in flight")
    parser.add_argument("--addresses", type=int, default=16, help="target addresses")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contestant (median)")
    parser.add_argument("--profile", metavar="DIR", help="write cProfile stats of ours here")


def _blackbox_binary() -> str | None:
    return shutil.which(BLACKBOX) or (
        f"/usr/bin/{BLACKBOX}" if os.access(f"/usr/bin/{BLACKBOX}", os.X_OK) else None
    )


def _free_on_all(addresses: Sequence[str], avoid: set[int]) -> int:
    """A TCP port free on every address right now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((addresses[0], 0))
            port = int(s.getsockname()[1])
        if port in avoid:
            continue
        try:
            for a in addresses[1:]:
                with socket.socket() as s:
                    s.bind((a, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every target address")


def _nginx_config(root: Path, addresses: Sequence[str], http: int, https: int) -> str:
    plain = "\n".join(f"        listen {a}:{http};" for a in addresses)
    tls = "\n".join(f"        listen {a}:{https} ssl;" for a in addresses)
    location = 'location = /health { default_type text/plain; return 200 "ok\\n"; }'
    return nginx_config(
        root,
        1024,
        f"""    keepalive_timeout 0;
    server {{
{plain}
        {location}
    }}
    server {{
{tls}
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        {location}
    }}""",
    )


def _nginx(
    binary: str, root: Path, addresses: list[str]
) -> contextlib.AbstractContextManager[tuple[int, int]]:
    """nginx serving /health over HTTP and HTTPS on every address: yields the two ports."""

    def configure() -> tuple[str, list[tuple[str, int]], tuple[int, int]]:
        http = _free_on_all(addresses, set())
        https = _free_on_all(addresses, {http})
        listens = [(addresses[-1], http), (addresses[-1], https)]
        return _nginx_config(root, addresses, http, https), listens, (http, https)

    return run_nginx(binary, root, configure)


@contextlib.contextmanager
def _blackbox(binary: str, root: Path, ca_file: Path) -> Iterator[tuple[int, int]]:
    """blackbox_exporter on 127.0.0.1: yields (its pid, its port)."""
    conf = root / "blackbox.yml"
    conf.write_text(
        f"""modules:
  http_2xx:
    prober: http
    timeout: {TIMEOUT_S:g}s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ["ok"]
  https_ca:
    prober: http
    timeout: {TIMEOUT_S:g}s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ["ok"]
      fail_if_not_ssl: true
      tls_config:
        ca_file: {ca_file}
"""
    )
    for attempt in range(5):
        port = _free_on_all(["127.0.0.1"], set())
        proc = subprocess.Popen(
            [binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            wait_for_tcp("127.0.0.1", port, proc, PEER)
        except (RuntimeError, TimeoutError):
            stop_process(proc)
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.stderr:
                proc.stderr.close()
            if attempt == 4:
                raise RuntimeError(f"{PEER} did not start: {err[-500:]}") from None
            continue
        try:
            yield proc.pid, port
        finally:
            stop_process(proc)
            if proc.stderr:
                proc.stderr.close()
        return


async def _drive_blackbox(
    pid: int, port: int, module: str, urls: list[str], checks: int, concurrency: int
) -> dict[str, float]:
    import aiohttp

    base = f"http://127.0.0.1:{port}/probe"
    failures = 0

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal failures
        params = {"module": module, "target": urls[i % len(urls)]}
        async with session.get(base, params=params) as r:
            text = await r.text()
        if r.status != 200 or "\nprobe_success 1" not in text:
            failures += 1

    async def lane(session: aiohttp.ClientSession, todo: Iterator[int]) -> None:
        for i in todo:
            await one(session, i)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S * 4)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = iter(range(min(concurrency * 2, checks)))
        await asyncio.gather(*(lane(session, warm) for _ in range(concurrency)))
        failures = 0
        todo = iter(range(checks))
        (user0, sys0), t0 = user_sys(pid), time.perf_counter()
        await asyncio.gather(*(lane(session, todo) for _ in range(concurrency)))
        wall, (user1, sys1) = time.perf_counter() - t0, user_sys(pid)
    return {"wall": wall, "cpu": user1 + sys1 - user0 - sys0, "sys": sys1 - sys0,
            "failed": failures, "checks": checks}  # fmt: skip


async def _ours(config: dict[str, Any]) -> dict[str, float]:
    from probes.http import HttpOptions, HttpProbe

    options = [
        HttpOptions(url=u, ca_file=config["ca_file"], body_contains="ok", timeout=TIMEOUT_S)
        for u in config["urls"]
    ]
    checks, concurrency = int(config["checks"]), int(config["concurrency"])
    probe = HttpProbe()
    await probe.start()
    failed: list[str] = []

    # Lanes that each take the next check when theirs ends, as in the icmp bench: at most
    # ``concurrency`` checks in flight.
    async def lane(todo: Iterator[int]) -> None:
        for i in todo:
            obs = await probe.check(options[i % len(options)])
            if not obs.ok:
                failed.append(obs.reason)

    try:
        warm = iter(range(min(concurrency * 2, checks)))
        await asyncio.gather(*(lane(warm) for _ in range(concurrency)))
        failed.clear()
        gc.freeze()
        todo = iter(range(checks))
        profiler = None
        if config.get("profile"):
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        (user0, sys0), t0 = user_sys(), time.perf_counter()
        await asyncio.gather(*(lane(todo) for _ in range(concurrency)))
        wall, (user1, sys1) = time.perf_counter() - t0, user_sys()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(config["profile"])
    finally:
        await probe.close()
    return {"wall": wall, "cpu": user1 + sys1 - user0 - sys0, "sys": sys1 - sys0,
            "failed": len(failed), "checks": checks,
            "first_failure": failed[0] if failed else ""}  # type: ignore[dict-item]  # fmt: skip


def worker(config_json: str) -> None:
    """Run our checks as ``config_json`` says; print wall, CPU and failures as JSON."""
    print(json.dumps(asyncio.run(_ours(json.loads(config_json)))))


def _run_ours(config: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.http", "--worker", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if result.returncode != 0:
        raise RuntimeError(f"our checks failed: {result.stderr.strip()[-500:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def _rate(run: dict[str, Any]) -> float | None:
    if run["failed"] or run["cpu"] <= 0:
        return None
    return float(run["checks"]) / float(run["cpu"])


def run(args: argparse.Namespace) -> list[Row]:
    """Start nginx and blackbox_exporter, run both contestants, compare checks/s per core."""
    metric = "checks/s per core ({}, new connection each)"
    blackbox = _blackbox_binary()
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    why = None
    if blackbox is None:
        why = f"{BLACKBOX} is not installed (apt-get install {BLACKBOX})"
    elif nginx is None:
        why = "nginx is not installed (apt-get install nginx-light)"
    if why is not None:
        return [skipped(NAME, metric.format(s.upper()), why, PEER) for s in TARGETS]
    assert blackbox is not None
    assert nginx is not None
    from bench.targets import make_ca

    block = 200 + os.getpid() % 50
    addresses = [f"127.{block}.0.{n + 1}" for n in range(max(args.addresses, 1))]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="ts-bench-http-") as d:
        root = Path(d)
        ca_file, _, _ = make_ca(root, addresses)  # also writes cert.pem and key.pem
        with _nginx(nginx, root, addresses) as ports, _blackbox(blackbox, root, ca_file) as bb:
            for scheme, port in zip(TARGETS, ports, strict=True):
                urls = [f"{scheme}://{a}:{port}/health" for a in addresses]
                module = "http_2xx" if scheme == "http" else "https_ca"
                for n in range(args.repeat):
                    config = {"urls": urls, "ca_file": str(ca_file), "checks": args.checks,
                              "concurrency": args.concurrency}  # fmt: skip
                    if args.profile and n == 0:
                        Path(args.profile).mkdir(parents=True, exist_ok=True)
                        config["profile"] = str(Path(args.profile) / f"ours-{scheme}.prof")
                    runs.setdefault(("ours", scheme), []).append(_run_ours(config))
                    peer = asyncio.run(
                        _drive_blackbox(*bb, module, urls, args.checks, args.concurrency)
                    )
                    runs.setdefault((PEER, scheme), []).append(peer)
    rows = []
    size = f"{args.checks} checks, {args.concurrency} in flight"
    for scheme, bound in TARGETS.items():
        ours = median_by(runs[("ours", scheme)], "cpu")
        peer = median_by(runs[(PEER, scheme)], "cpu")
        notes = []
        for who, r in (("ours", ours), (PEER, peer)):
            if r["failed"]:
                extra = f" ({r.get('first_failure')})" if r.get("first_failure") else ""
                notes.append(f"{who}: {r['failed']} of {r['checks']} checks failed{extra}")
            else:
                notes.append(
                    f"{who} {r['cpu']:.2f} s CPU ({r['sys']:.2f} s system), "
                    f"{r['checks'] / r['wall']:.0f} checks/s wall"
                )
        rows.append(
            Row(NAME, metric.format(scheme.upper()), "checks/s", _rate(ours), _rate(peer), PEER,
                ">=", bound, note=f"{size}; " + "; ".join(notes))
        )  # fmt: skip
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        from bench.__main__ import main

        sys.exit(main(["http", *sys.argv[1:]]))
