"""SNMP: CPU per value, our probe (one shared socket, one GET per check) against snmpget.

A real snmpd on 127.0.0.1 (generated config, no system files) serves both. Each check of
ours fetches the system group plus seven ifTable/ifXTable columns of every interface of
this host in one GET (after the first check found the ifIndexes); ``snmpget`` is given
the same OIDs on one command line, so it too needs one PDU. Ours is timed in-process
over ``--checks`` checks; snmpget as whole processes (``wait4``), ``--runs`` times.

The gated row is v2c, the probe's default (our own codec). A second row, without a
target, shows SNMPv3 authPriv (SHA/AES), which still goes through pysnmp, against
``snmpget -v3`` with the same user.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import Row, cpu_self, skipped, stop_process

NAME = "snmp"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """How many checks and snmpget runs."""
    parser.add_argument("--checks", type=int, default=2000, help="checks of ours")
    parser.add_argument("--runs", type=int, default=100, help="snmpget processes")


def _interfaces() -> dict[str, int]:
    found = {}
    for name in sorted(os.listdir("/sys/class/net"))[:8]:
        try:
            found[name] = int(Path(f"/sys/class/net/{name}/ifindex").read_text())
        except (OSError, ValueError):
            continue
    return found


V3 = {"user": "bench", "auth_key": "bench-auth-key", "priv_key": "bench-priv-key"}
V3_SNMPGET = ["-v3", "-l", "authPriv", "-u", V3["user"], "-a", "SHA", "-A", V3["auth_key"],
              "-x", "AES", "-X", V3["priv_key"]]  # fmt: skip


async def _ours(
    port: int, interfaces: list[str], checks: int, version: str = "2c"
) -> tuple[float, int, dict[str, object]]:
    from probes.snmp import SnmpOptions, SnmpProbe

    credentials = V3 if version == "3" else {}
    options = SnmpOptions(
        host="127.0.0.1",
        port=port,
        interfaces=interfaces,
        timeout=2.0,
        version=version,
        **credentials,
    )
    probe = SnmpProbe()
    await probe.start()
    try:
        first = await probe.check(options)  # finds the ifIndexes (a walk), once
        todo = iter(range(checks))
        values = 0

        async def lane() -> None:
            nonlocal values
            for _ in todo:
                obs = await probe.check(options)
                values += len(obs.values)

        cpu0 = cpu_self()
        await asyncio.gather(*(lane() for _ in range(10)))
        return cpu_self() - cpu0, values, dict(first.values)
    finally:
        await probe.close()


def _snmpget(
    port: int, oids: list[str], runs: int, auth: list[str] | None = None
) -> tuple[float, str]:
    cpu, out = 0.0, ""
    env = {**os.environ, "MIBS": "", "MIBDIRS": ""}
    for _ in range(runs):
        proc = subprocess.Popen(
            ["snmpget", *(auth or ["-v2c", "-c", "public"]), "-On", "-t", "2", "-r", "0",
             f"127.0.0.1:{port}", *oids],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        if status != 0:
            raise RuntimeError(f"snmpget failed: {out[-300:]}")
        cpu += usage.ru_utime + usage.ru_stime
    return cpu, out


def run(args: argparse.Namespace) -> list[Row]:
    """Start snmpd, run both, compare CPU per value."""
    snmpd = shutil.which("snmpd") or (
        "/usr/sbin/snmpd" if Path("/usr/sbin/snmpd").exists() else None
    )
    if snmpd is None or shutil.which("snmpget") is None:
        return [skipped(NAME, "CPU per value", "snmpd/snmpget are not installed", "snmpget")]
    from probes import snmp as s

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_sock:
        probe_sock.bind(("127.0.0.1", 0))
        port = probe_sock.getsockname()[1]
    interfaces = _interfaces()
    oids = [".".join(map(str, o)) for o in s.SYSTEM_OIDS]
    oids += [".".join(map(str, c + (i,))) for i in interfaces.values() for c in s.IF_COLUMNS]
    with tempfile.TemporaryDirectory() as d:
        conf = Path(d) / "snmpd.conf"
        conf.write_text(f"agentaddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n"
                        f'createUser {V3["user"]} SHA "{V3["auth_key"]}" AES "{V3["priv_key"]}"\n'
                        f"rouser {V3['user']} priv\n"
                        "sysName bench-agent\ndontLogTCPWrappersConnects yes\n")  # fmt: skip
        env = {**os.environ, "SNMP_PERSISTENT_DIR": d, "MIBS": ""}
        agent = subprocess.Popen([snmpd, "-f", "-Lo", "-C", "-c", str(conf)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            time.sleep(0.5)
            peer_cpu, text = _snmpget(port, oids, args.runs)
            ours_cpu, values, first = asyncio.run(_ours(port, list(interfaces), args.checks))
            v3_runs, v3_checks = max(args.runs // 4, 1), max(args.checks // 4, 1)
            peer_v3_cpu, v3_text = _snmpget(port, oids, v3_runs, V3_SNMPGET)
            ours_v3_cpu, _, first_v3 = asyncio.run(
                _ours(port, list(interfaces), v3_checks, version="3")
            )
        finally:
            stop_process(agent)
    per_value = _per_value(len(oids))
    same = first.get("sys_name") == "bench-agent" and 'STRING: "bench-agent"' in text
    same_v3 = first_v3.get("sys_name") == "bench-agent" and 'STRING: "bench-agent"' in v3_text
    return [
        Row(NAME, f"µs CPU per value, v2c ({len(oids)} OIDs in one GET)", "µs",
            per_value(ours_cpu, args.checks, None), per_value(peer_cpu, args.runs, text),
            "snmpget", "<=", 1.5),
        Row(NAME, "values agree with snmpget (sysName, v2c and v3)", "bool",
            float(same and same_v3), op=">=", bound=1, compare="ours"),
        Row(NAME, "µs CPU per value, v3 authPriv via pysnmp (no target)", "µs",
            per_value(ours_v3_cpu, v3_checks, None), per_value(peer_v3_cpu, v3_runs, v3_text),
            "snmpget -v3"),
    ]  # fmt: skip


def _per_value(oids: int) -> Callable[[float, int, str | None], float]:
    """µs of CPU per value: ours per requested OID, snmpget per value it printed."""

    def per_value(cpu: float, runs: int, text: str | None) -> float:
        values = oids if text is None else text.count("\n.") + (1 if text.startswith(".") else 0)
        return cpu / max(runs * values, 1) * 1e6

    return per_value


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(["snmp", *sys.argv[1:]]))
