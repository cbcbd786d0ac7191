"""Certificate helpers shared by the probes that speak TLS (http, smtp).

Three things live here:

- :func:`client_context` builds (and caches) the ``ssl.SSLContext`` a probe verifies with,
  turning an unreadable ``ca_file`` into a :class:`ProbeSetupError`.
- :func:`describe_tls_error` turns ``ssl`` exceptions into short reasons such as
  "TLS: certificate verify failed (certificate has expired)".
- :class:`CertExpiryCache` reads a server's certificate expiry with a separate TLS
  handshake, at most once per ``ttl`` seconds per endpoint.

Why a separate handshake for HTTPS: aiohttp buffers small bodies and releases the
connection before ``session.get()`` yields, so ``response.connection`` is already ``None``
and the peer certificate is gone (NOTES-libraries A6.5). Reaching into private attributes
or subclassing the connector's private ``_wrap_create_connection`` would break on the next
aiohttp release. A certificate changes rarely, so one extra handshake per endpoint per
hour is cheap, and it uses only the public ``asyncio``/``ssl`` API. The handshake does not
verify: the HTTP request itself already verified the chain and the name, and reading the
DER form works even for ``verify_tls: false`` targets whose expiry we still want to know.
SMTP does not need the cache: its STARTTLS upgrade is done by hand, so the probe reads the
certificate straight from its own connection with :func:`cert_not_after`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from probes.base import ProbeSetupError, safe_text

_DAY = 86400.0


@functools.lru_cache(maxsize=64)
def _cached_context(verify: bool, ca_file: str | None, mtime: float) -> ssl.SSLContext:
    del mtime  # part of the cache key only: a replaced CA file gives a new context
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        try:
            ctx = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ProbeSetupError(
                f"cannot load CA file {ca_file!r}: {exc}; point ca_file at a readable PEM bundle"
            ) from exc
    # Every check is a fresh handshake and sessions are never resumed (a resumed one would
    # skip the certificate), so a session ticket is work for the server and for us alone.
    ctx.options |= ssl.OP_NO_TICKET
    return ctx


def client_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """The client context for a check: the system trust store, or ``ca_file`` if given.

    With ``verify`` false the context accepts any certificate and any name. Contexts are
    cached (building one parses the whole trust store); a CA file that changes on disk
    is picked up. Raises :class:`ProbeSetupError` when ``ca_file`` cannot be loaded.
    """
    mtime = 0.0
    if verify and ca_file is not None:
        try:
            mtime = os.stat(ca_file).st_mtime
        except OSError as exc:
            raise ProbeSetupError(
                f"cannot read CA file {ca_file!r}: {exc.strerror}; fix ca_file in the check"
            ) from exc
    return _cached_context(verify, ca_file if verify else None, mtime)


def cert_not_after(der: bytes) -> datetime:
    """The expiry (UTC) of a DER-encoded certificate."""
    return x509.load_der_x509_certificate(der).not_valid_after_utc


def days_left(not_after: datetime, now: datetime | None = None) -> float:
    """Days until ``not_after`` (negative once expired), to one decimal."""
    now = now or datetime.now(UTC)
    return round((not_after - now).total_seconds() / _DAY, 1)


def expiry_verdict(days: float, warn_days: int) -> tuple[str, str] | None:
    """("down"|"degraded", reason) for a certificate that needs attention, else ``None``."""
    if days < 0:
        return "down", f"TLS: certificate expired {_days(-days)} ago"
    if days < warn_days:
        return "degraded", f"TLS: certificate expires in {_days(days)}"
    return None


def _days(days: float) -> str:
    whole = max(int(days), 0)
    if whole == 0:
        return "less than a day"
    return "1 day" if whole == 1 else f"{whole} days"


def describe_tls_error(exc: BaseException) -> str:
    """A short reason for a failed handshake, naming what the verifier disliked."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        return f"TLS: certificate verify failed ({safe_text(detail, 120)})"
    if isinstance(exc, ssl.SSLError):
        detail = exc.reason or exc.strerror or str(exc)
        return f"TLS: handshake failed ({safe_text(detail, 120)})"
    return f"TLS: handshake failed ({safe_text(exc, 120)})"


@dataclass(frozen=True, slots=True)
class _Entry:
    not_after: datetime | None
    fetched: float


class CertExpiryCache:
    """Certificate expiry per ``(host, port, server_name)``, refreshed every ``ttl`` s.

    A failed fetch is remembered for ``retry_after`` seconds so a flapping endpoint does
    not cost a handshake per check. Concurrent checks of one endpoint share one fetch.
    """

    def __init__(self, ttl: float = 3600.0, retry_after: float = 300.0) -> None:
        self.ttl = ttl
        self.retry_after = retry_after
        self._entries: dict[tuple[str, int, str | None], _Entry] = {}
        self._locks: dict[tuple[str, int, str | None], asyncio.Lock] = {}

    async def not_after(
        self, host: str, port: int, server_name: str | None, handshake_timeout: float
    ) -> datetime | None:
        """The endpoint's certificate expiry, or ``None`` if it could not be read."""
        key = (host, port, server_name)
        entry = self._fresh(key)
        if entry is not None:
            return entry.not_after
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._fresh(key)
            if entry is None:
                value = await fetch_not_after(host, port, server_name, handshake_timeout)
                entry = _Entry(value, time.monotonic())
                self._entries[key] = entry
            return entry.not_after

    def _fresh(self, key: tuple[str, int, str | None]) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = time.monotonic() - entry.fetched
        limit = self.ttl if entry.not_after is not None else self.retry_after
        return entry if age < limit else None


async def fetch_not_after(
    host: str, port: int, server_name: str | None, handshake_timeout: float
) -> datetime | None:
    """Handshake with ``host:port`` (SNI ``server_name`` or ``host``) and read the expiry.

    Returns ``None`` when the handshake fails or times out: the caller's own request
    reports what is wrong with the endpoint; this is only a measurement.
    """
    ctx = client_context(verify=False, ca_file=None)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(handshake_timeout):
            _, writer = await asyncio.open_connection(
                host, port, ssl=ctx, server_hostname=server_name or host
            )
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            return cert_not_after(der) if der else None
    except (OSError, TimeoutError, ValueError):
        return None
    finally:
        if writer is not None:
            await close_writer(writer)


async def close_writer(writer: asyncio.StreamWriter, grace: float = 1.0) -> None:
    """Close a stream, giving a TLS peer ``grace`` seconds to finish; abort after that."""
    writer.close()
    try:
        async with asyncio.timeout(grace):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except OSError:
        pass
