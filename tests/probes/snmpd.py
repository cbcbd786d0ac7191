"""A real net-snmp agent for probe tests, on loopback or inside a private network namespace.

The agent gets its own generated configuration (``-C``: no system files), its own
persistent directory under the test's tmp dir (nothing under /var), a v2c community and
SNMPv3 users, and a ``sysDescr`` full of markup, escapes and non-ASCII text.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench import stop_process
from tests.probes.servers import free_port

SNMPD = shutil.which("snmpd") or ("/usr/sbin/snmpd" if Path("/usr/sbin/snmpd").exists() else None)
SNMPGET = shutil.which("snmpget")

ODD_DESCR = b"[red]x[/red] <b>bold</b> C\xe1\xba\xa7n Th\xc6\xa1 \x1b[31mansi\x1b[0m \xff end"
"""What the agent reports as sysDescr: Rich markup, HTML, Vietnamese, an ANSI escape and
a byte that is not UTF-8."""


def worker_tag() -> str:
    """Unique per xdist worker and process, for namespace and interface names."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"


@dataclass
class SnmpdConfig:
    """What the generated snmpd.conf grants and reports."""

    community: str = "ts-ro-community"
    user: str = "tsmon"
    auth_key: str = "auth-pass-123"
    priv_key: str = "priv-pass-456"
    sha256_user: str = "tsmon256"
    sys_name: str = "ts-agent-cần-thơ"
    sys_descr: bytes = ODD_DESCR

    def render(self, address: str) -> bytes:
        lines = [
            f"agentaddress udp:{address}",
            f"rocommunity {self.community}",
            f'createUser {self.user} SHA "{self.auth_key}" AES "{self.priv_key}"',
            f"rouser {self.user} priv",
            f'createUser {self.sha256_user} SHA-256 "{self.auth_key}" AES "{self.priv_key}"',
            f"rouser {self.sha256_user} priv",
            f"sysName {self.sys_name}",
            "sysLocation thongsuot test",
            "sysContact nobody",
            "dontLogTCPWrappersConnects yes",
        ]
        text = "\n".join(lines).encode() + b"\nsysDescr " + self.sys_descr + b"\n"
        return text


@dataclass
class Snmpd:
    """One snmpd process; ``restart()`` keeps its address (for reboot detection)."""

    workdir: Path
    host: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    config: SnmpdConfig = field(default_factory=SnmpdConfig)
    _proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        """Start the agent and wait until it answers a v2c GET."""
        assert SNMPD is not None, "snmpd is not installed"
        if not self.port:
            self.port = free_port(socket.SOCK_DGRAM, self.host) if self.netns is None else 161
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "snmpd.conf"
        conf.write_bytes(self.config.render(f"{self.host}:{self.port}"))
        # -C skips every system file, including the persistent one with the engine ID and
        # engineBoots; naming it in -c keeps them across restarts like a real agent.
        persisted = self.workdir / "persist" / "snmpd.conf"
        persisted.parent.mkdir(exist_ok=True)
        persisted.touch()
        files = f"{conf},{persisted}"
        command = [SNMPD, "-f", "-Lo", "-C", "-c", files, "-p", str(self.workdir / "pid")]
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(self.workdir / "persist"), "MIBS": ""}
        self._log = (self.workdir / "snmpd.log").open("ab")
        self._proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.02)
        log = (self.workdir / "snmpd.log").read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"snmpd did not start on {self.host}:{self.port}:\n{log}")

    def stop(self) -> None:
        """Stop the agent (idempotent)."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start again on the same address: sysUpTime starts from zero."""
        self.stop()
        self.start()

    def uptime_ticks(self) -> int:
        """sysUpTime.0 in hundredths of a second, read with the snmpget binary."""
        return int(self.snmpget("1.3.6.1.2.1.1.3.0", "-Ot"))

    def snmpget_bytes(self, oid: str) -> bytes:
        """One object's octets, asked alone with the snmpget binary (hex output)."""
        text = self.snmpget(oid, "-Ox")
        return bytes.fromhex(text.replace('"', "").replace("\n", " "))

    def snmpget(self, oid: str, *flags: str) -> str:
        """The value of one OID, as printed by ``snmpget -Oqv``."""
        assert SNMPGET is not None, "snmpget is not installed"
        command = [SNMPGET, "-v2c", "-c", self.config.community, "-t", "1", "-r", "1", "-Oqv"]
        out = subprocess.run(
            [*command, *flags, f"udp:{self.host}:{self.port}", oid],
            capture_output=True,
            check=True,
            timeout=10,
            env={**os.environ, "MIBS": ""},
        )
        return out.stdout.decode(errors="replace").strip()

    def _answers(self) -> bool:
        assert SNMPGET is not None, "snmpget is not installed"
        result = subprocess.run(
            [SNMPGET, "-v2c", "-c", self.config.community, "-t", "0.1", "-r", "0"]
            + [f"udp:{self.host}:{self.port}", "1.3.6.1.2.1.1.3.0"],
            capture_output=True,
            timeout=5,
            env={**os.environ, "MIBS": ""},
        )
        return result.returncode == 0


def _ip(*args: str, netns: str | None = None, check: bool = True) -> None:
    prefix = ["ip", "netns", "exec", netns, "ip"] if netns else ["ip"]
    subprocess.run([*prefix, *args], check=check, capture_output=True, timeout=10)


def _free_block() -> ipaddress.IPv4Network:
    """A /30 in 198.19.192.0/19 derived from the pid, not yet on any local interface."""
    used = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    base = int(ipaddress.IPv4Address("198.19.192.0"))
    start = os.getpid() % 2048
    for step in range(2048):
        block = ipaddress.IPv4Network((base + ((start + step) % 2048) * 4, 30))
        if not any(f" {host}/" in used for host in block):
            return block
    raise RuntimeError("no free /30 in 198.19.192.0/19")


@dataclass
class AgentNamespace:
    """A ``ts-snmp-<worker>-<pid>`` namespace reached through a management veth.

    Inside: ``mgmt0`` (where snmpd listens) and a veth pair ``eth1``/``eth1-peer``; taking
    ``eth1-peer`` down makes ``eth1`` lose its carrier, so the agent reports it oper down.
    """

    name: str = field(default_factory=lambda: f"ts-snmp-{worker_tag()}")
    outside: str = field(default_factory=lambda: f"tsm{os.getpid() % 10_000_000}")
    block: ipaddress.IPv4Network | None = None

    @property
    def agent_address(self) -> str:
        assert self.block is not None
        return str(self.block[2])

    def create(self) -> None:
        """Create the namespace, the management link and ``eth1`` (carrier up)."""
        self.destroy()
        self.block = _free_block()
        _ip("netns", "add", self.name)
        _ip("link", "set", "lo", "up", netns=self.name)
        _ip(
            "link", "add", self.outside, "type", "veth", "peer", "name", "mgmt0", "netns", self.name
        )
        _ip("addr", "add", f"{self.block[1]}/30", "dev", self.outside)
        _ip("link", "set", self.outside, "up")
        _ip("addr", "add", f"{self.block[2]}/30", "dev", "mgmt0", netns=self.name)
        _ip("link", "set", "mgmt0", "up", netns=self.name)
        _ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth1-peer", netns=self.name)
        _ip("link", "set", "eth1", "up", netns=self.name)
        _ip("link", "set", "eth1-peer", "up", netns=self.name)

    def set_link(self, device: str, up: bool) -> None:
        """Administratively raise or lower one device inside the namespace."""
        _ip("link", "set", device, "up" if up else "down", netns=self.name)

    def destroy(self) -> None:
        """Remove the namespace and the outside end of the management link."""
        _ip("link", "del", self.outside, check=False)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
