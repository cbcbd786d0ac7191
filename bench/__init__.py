"""Benchmarks: thongsuot's probes, scheduler, store and whole monitor against their peers.

``python -m bench`` runs every comparison with default sizes and prints one table row per
figure: benchmark, peer, peer's figure, ours, the ratio ours/peer, the target and whether
it is met. ``python -m bench icmp`` runs one; ``python -m bench icmp --help`` lists sizes.

Each benchmark module exposes ``add_arguments(parser)`` and ``run(args) -> list[Row]``.
Everything a benchmark starts (namespaces, servers, worker processes) is bounded in time
and removed when it ends, also when it fails.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

Compare = Literal["ratio", "ours"]
"""What a row's target bounds: the ratio ours/peer, or our own figure."""


@dataclass(frozen=True, slots=True)
class Row:
    """One figure of one benchmark, with its peer and target."""

    bench: str
    metric: str
    unit: str
    ours: float | None
    peer: float | None = None
    peer_name: str = ""
    op: Literal["<=", ">=", ""] = ""
    bound: float | None = None
    compare: Compare = "ratio"
    note: str = ""
    """Why a figure is missing, or what it hides (shown under the table)."""

    @property
    def ratio(self) -> float | None:
        """ours / peer, when both are known."""
        if self.ours is None or self.peer is None or self.peer == 0:
            return None
        return self.ours / self.peer

    @property
    def passed(self) -> bool | None:
        """Whether the target is met; None without a target or a figure."""
        if not self.op or self.bound is None:
            return None
        value = self.ratio if self.compare == "ratio" else self.ours
        if value is None:
            return None
        return value <= self.bound if self.op == "<=" else value >= self.bound

    @property
    def target(self) -> str:
        """The target as text, e.g. "ratio <= 1.2" or "<= 1 %"."""
        if not self.op or self.bound is None:
            return ""
        what = "ratio " if self.compare == "ratio" else ""
        unit = "" if self.compare == "ratio" else f" {self.unit}"
        return f"{what}{self.op} {fmt(self.bound)}{unit}"


def fmt(value: float | None) -> str:
    """A figure with about three significant digits; "-" when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def render(rows: Sequence[Row]) -> str:
    """The rows as a fixed-width table, notes below."""
    header = ("benchmark", "metric", "unit", "peer", "peer value", "ours", "ratio", "target", "")
    lines = [header]
    for row in rows:
        verdict = {True: "pass", False: "FAIL", None: ""}[row.passed]
        lines.append(
            (
                row.bench,
                row.metric,
                row.unit,
                row.peer_name,
                fmt(row.peer),
                fmt(row.ours),
                fmt(row.ratio),
                row.target,
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"- {row.bench} {row.metric}: {row.note}" for row in rows if row.note]
    if notes:
        out += ["", *notes]
    return "\n".join(line.rstrip() for line in out)


def cpu_self() -> float:
    """CPU seconds (user + system) used so far by this process, all threads."""
    return sum(user_sys())


def user_sys(pid: int | None = None) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` (from /proc), or of this process."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime, usage.ru_stime
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    Read from VmHWM: ``ru_maxrss`` carries the parent's peak over fork and exec on Linux,
    so a worker started by a big harness would report the harness's size.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wait_for_tcp(
    host: str, port: int, proc: subprocess.Popen[bytes] | None, what: str, timeout: float = 10.0
) -> None:
    """Block until something accepts on ``host:port``; fail if ``proc`` (``what``) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"{what} does not listen on {host}:{port} after {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a child we started, killing it if it does not stop in 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def nginx_config(root: Path, connections: int, http: str) -> str:
    """An nginx configuration that runs in the foreground with every file under ``root``;
    ``http`` is the rest of its ``http`` block (settings and servers)."""
    return f"""
daemon off;
master_process on;
worker_processes 1;
user root;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
{http}
}}
"""


@contextlib.contextmanager
def run_nginx(
    binary: str,
    root: Path,
    configure: Callable[[], tuple[str, Sequence[tuple[str, int]], T]],
    timeout: float = 10.0,
) -> Iterator[T]:
    """nginx under ``root`` until the block ends. ``configure()`` gives its configuration,
    the (address, port)s to wait for and what to yield; when a port turns out to be taken,
    it is asked again (five tries in all)."""
    (root / "tmp").mkdir(exist_ok=True)
    conf = root / "nginx.conf"
    for attempt in range(5):
        text, listens, result = configure()
        conf.write_text(text)
        proc = subprocess.Popen(
            [binary, "-e", str(root / "error.log"), "-p", str(root), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for address, port in listens:
                wait_for_tcp(address, port, proc, "nginx", timeout=timeout)
        except (RuntimeError, TimeoutError):
            stop_process(proc)
            if attempt == 4:
                log = (root / "error.log").read_text(errors="replace")
                raise RuntimeError(f"nginx did not start:\n{log[-2000:]}") from None
            continue
        try:
            yield result
        finally:
            stop_process(proc)
        return


def median(values: Iterable[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(list(values)))


def median_by(runs: Sequence[dict[str, float]], key: str) -> dict[str, float]:
    """The run whose ``key`` is the median of all runs (keeps a run's figures together)."""
    ordered = sorted(runs, key=lambda r: r[key])
    return ordered[len(ordered) // 2]


def skipped(bench: str, metric: str, reason: str, peer_name: str = "") -> Row:
    """A row for a comparison that could not run, saying why."""
    return Row(bench, metric, "", None, None, peer_name, note=f"skipped: {reason}")


Runner = Callable[..., list[Row]]
