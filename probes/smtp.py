"""smtp probe: banner, EHLO, optional STARTTLS with certificate checks, QUIT.

Spoken by hand over asyncio streams rather than ``smtplib`` so that every read is
bounded (line length and lines per reply), the whole exchange sits under one deadline,
and the STARTTLS upgrade exposes the peer certificate for the expiry check. No mail is
ever sent: the probe says QUIT right after the last EHLO.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import time
from dataclasses import dataclass

from pydantic import Field

from probes import tls
from probes.base import (
    Observation,
    Probe,
    ProbeOptions,
    Status,
    Value,
    describe_os_error,
    format_seconds,
    safe_text,
)

MAX_LINE = 2048
"""Longest reply line accepted, in bytes (RFC 5321 allows 512)."""
MAX_LINES = 100
"""Most lines accepted in one multi-line reply."""

_REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -]|$)(.*)$", re.DOTALL)


class SmtpOptions(ProbeOptions):
    """Read the banner, say EHLO and optionally STARTTLS."""

    host: str
    """Mail server address or name."""
    port: int = Field(default=25, ge=1, le=65535)
    """SMTP port (25, or 587 for submission)."""
    starttls: bool = True
    """Upgrade with STARTTLS and check the certificate; a server not offering it is DOWN."""
    verify_tls: bool = True
    """Verify the STARTTLS certificate chain and name."""
    ca_file: str | None = None
    """PEM bundle of the CA that signed the server's certificate (a private CA)."""
    server_name: str | None = None
    """Name to verify the certificate against and send as SNI (default: ``host``)."""
    cert_warn_days: int = Field(default=14, ge=0)
    """A certificate expiring in fewer days makes the check DEGRADED."""
    helo_name: str = Field(default="thongsuot.localdomain", pattern=r"^[A-Za-z0-9.\-\[\]:]+$")
    """Name the probe introduces itself with in EHLO."""


class _ReplyError(Exception):
    """The server's reply was unusable; the message is the DOWN reason."""


@dataclass
class _Progress:
    phase: str = "connect"


class SmtpProbe(Probe[SmtpOptions]):
    """One SMTP conversation per check, ending in QUIT before any mail transaction."""

    kind = "smtp"
    Options = SmtpOptions

    async def check(self, options: SmtpOptions) -> Observation:
        """Talk to ``options.host:options.port`` and judge banner, EHLO and TLS."""
        ssl_context = (
            tls.client_context(options.verify_tls, options.ca_file) if options.starttls else None
        )
        progress = _Progress()
        writer: asyncio.StreamWriter | None = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(options.timeout):
                reader, writer = await asyncio.open_connection(
                    options.host, options.port, limit=MAX_LINE
                )
                return await _converse(reader, writer, options, ssl_context, progress, started)
        except TimeoutError:
            return Observation.down(_timeout_reason(progress.phase, options.timeout))
        except _ReplyError as exc:
            return Observation.down(str(exc))
        except socket.gaierror:
            return Observation.down(f"cannot resolve {safe_text(options.host, 80)}")
        except ConnectionRefusedError:
            return Observation.down("connection refused")
        except ssl.SSLError as exc:
            return Observation.down(tls.describe_tls_error(exc))
        except OSError as exc:
            return Observation.down(f"{describe_os_error(exc)} during {progress.phase}")
        finally:
            if writer is not None:
                await tls.close_writer(writer)


async def _converse(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    options: SmtpOptions,
    ssl_context: ssl.SSLContext | None,
    progress: _Progress,
    started: float,
) -> Observation:
    progress.phase = "banner"
    code, lines = await _read_reply(reader, progress.phase)
    banner = safe_text(b" ".join(lines), 200)
    values: dict[str, Value] = {"banner": banner}
    if code != 220:
        return Observation.down(f"banner {code} {safe_text(banner, 100)}".rstrip(), None, **values)

    extensions = await _ehlo(reader, writer, options, progress, "EHLO")
    values["starttls"] = "STARTTLS" in extensions
    values["esmtp_extensions"] = len(extensions)
    degraded: str | None = None
    if options.starttls:
        assert ssl_context is not None
        if "STARTTLS" not in extensions:
            return Observation.down("STARTTLS not offered", None, **values)
        progress.phase = "STARTTLS"
        writer.write(b"STARTTLS\r\n")
        code, lines = await _read_reply(reader, progress.phase)
        if code != 220:
            text = safe_text(b" ".join(lines), 100)
            return Observation.down(f"STARTTLS refused: {code} {text}".rstrip(), None, **values)
        progress.phase = "TLS handshake"
        try:
            await writer.start_tls(ssl_context, server_hostname=options.server_name or options.host)
        except ssl.SSLError as exc:
            return Observation.down(tls.describe_tls_error(exc), None, **values)
        values["tls"] = True
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            days = tls.days_left(tls.cert_not_after(der))
            values["cert_days_left"] = days
            verdict = tls.expiry_verdict(days, options.cert_warn_days)
            if verdict is not None and verdict[0] == "down":
                return Observation.down(verdict[1], None, **values)
            degraded = verdict[1] if verdict is not None else None
        extensions = await _ehlo(reader, writer, options, progress, "EHLO after STARTTLS")
        values["esmtp_extensions"] = len(extensions)
    latency_ms = (time.perf_counter() - started) * 1000

    progress.phase = "QUIT"
    writer.write(b"QUIT\r\n")
    with contextlib.suppress(_ReplyError, OSError):
        # The verdict is settled; a server that drops the line instead of saying 221
        # is impolite, not down.
        await _read_reply(reader, progress.phase)
    if degraded is not None:
        return Observation(Status.DEGRADED, degraded, latency_ms, values)
    return Observation(
        Status.OK, "STARTTLS ok" if options.starttls else "EHLO ok", latency_ms, values
    )


async def _ehlo(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    options: SmtpOptions,
    progress: _Progress,
    phase: str,
) -> set[str]:
    """Say EHLO and return the extension keywords offered (upper case)."""
    progress.phase = phase
    writer.write(f"EHLO {options.helo_name}\r\n".encode("ascii"))
    code, lines = await _read_reply(reader, phase)
    if code != 250:
        text = safe_text(b" ".join(lines), 100)
        raise _ReplyError(f"{phase} refused: {code} {text}".rstrip())
    keywords = set()
    for line in lines[1:]:
        word = line.split(b" ", 1)[0].strip()
        if word:
            keywords.add(word.decode("ascii", errors="replace").upper())
    return keywords


async def _read_reply(reader: asyncio.StreamReader, phase: str) -> tuple[int, list[bytes]]:
    """One (possibly multi-line) reply: its code and the text of each line.

    Raises :class:`_ReplyError` for anything that is not a well-formed, bounded reply.
    """
    lines: list[bytes] = []
    code: bytes | None = None
    while True:
        if len(lines) >= MAX_LINES:
            raise _ReplyError(f"{phase} reply longer than {MAX_LINES} lines")
        try:
            raw = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise _ReplyError(f"{phase} reply line longer than {MAX_LINE} bytes") from None
        except asyncio.IncompleteReadError as exc:
            detail = f": {safe_text(exc.partial, 80)}" if exc.partial.strip() else ""
            raise _ReplyError(f"connection closed during {phase}{detail}") from None
        match = _REPLY_LINE.match(raw.rstrip(b"\r\n"))
        if match is None:
            raise _ReplyError(f"not an SMTP reply during {phase}: {safe_text(raw, 80)}")
        if code is not None and match.group(1) != code:
            raise _ReplyError(f"inconsistent multi-line reply during {phase}")
        code = match.group(1)
        lines.append(match.group(3))
        if match.group(2) != b"-":
            return int(code), lines


def _timeout_reason(phase: str, timeout: float) -> str:
    after = format_seconds(timeout)
    if phase == "connect":
        return f"connect timeout after {after}"
    if phase == "banner":
        return f"no banner within {after}"
    if phase == "TLS handshake":
        return f"TLS handshake not complete within {after}"
    return f"no reply to {phase} within {after}"
