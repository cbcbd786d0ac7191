"""A real SIPp user-agent server answering OPTIONS, for probe tests.

Each server runs one generated scenario on a loopback port picked by binding port 0; the
control (``-cp``) and media (``-mp``) ports are picked the same way, so servers of several
xdist workers never collide on SIPp's fixed defaults (8888, 6000).
"""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench import stop_process
from tests.probes.servers import free_port

SIPP = shutil.which("sipp")

SERVER_TEXT = "[red]x[/red] <b>VC</b> \x1b[31mCần Thơ"
"""What the server puts in its Server header: Rich markup, HTML, an escape, Vietnamese."""

_RESPONSE = """
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]tsTag[call_number]
[last_Call-ID:]
[last_CSeq:]
Server: [server_text]
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE
Content-Length: [len]

"""

SCENARIOS = {
    "ok": ["200 OK"],
    "unavailable": ["503 Service Unavailable"],
    "trying-then-ok": ["100 Trying", "200 OK"],
}
"""Scenario name -> the responses sent, in order, to each OPTIONS."""


def scenario_xml(responses: list[str]) -> str:
    """A UAS scenario: receive OPTIONS, send each response (100 ms apart)."""
    sends = []
    for position, status in enumerate(responses):
        if position:
            sends.append('  <pause milliseconds="100"/>')
        sends.append(f"  <send><![CDATA[{_RESPONSE.format(status=status)}]]></send>")
    body = "\n".join(sends)
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<scenario name="thongsuot-options-uas">\n'
        '  <recv request="OPTIONS" crlf="true"/>\n'
        f"{body}\n"
        "</scenario>\n"
    )


def _bound(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
        return False


@dataclass
class Sipp:
    """One SIPp UAS process on 127.0.0.1 (``transport`` ``udp`` or ``tcp``)."""

    workdir: Path
    scenario: str = "ok"
    transport: str = "udp"
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _out: IO[bytes] | None = None

    def start(self) -> None:
        """Start SIPp in the foreground (screen output to a file) and wait for its socket."""
        assert SIPP is not None, "sipp is not installed"
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        self.workdir.mkdir(parents=True, exist_ok=True)
        xml = self.workdir / f"{self.scenario}.xml"
        xml.write_text(scenario_xml(SCENARIOS[self.scenario]), encoding="iso-8859-1")
        self.port = self.port or free_port(kind)
        command = [
            SIPP,
            "-sf", str(xml),
            "-i", "127.0.0.1",
            "-p", str(self.port),
            "-t", "u1" if self.transport == "udp" else "t1",
            "-cp", str(free_port(socket.SOCK_DGRAM)),
            "-mp", str(free_port(socket.SOCK_DGRAM)),
            "-nostdin",
            "-key", "server_text", SERVER_TEXT,
        ]  # fmt: skip
        self._out = (self.workdir / "sipp.out").open("ab")
        self._proc = subprocess.Popen(
            command, stdout=self._out, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._proc.poll() is None:
            if _bound(self.port, kind):
                return
            time.sleep(0.02)
        output = (self.workdir / "sipp.out").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"sipp did not start on port {self.port}:\n{output}")

    def stop(self) -> None:
        """Stop SIPp (idempotent)."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._out is not None:
            self._out.close()
            self._out = None
