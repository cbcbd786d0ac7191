"""Certificate helpers shared by the probes that speak TLS (http, smtp).

- :func:`client_context` builds (and caches) the ``ssl.SSLContext`` a probe verifies with,
  turning an unreadable ``ca_file`` into a :class:`ProbeSetupError`.
- :func:`describe_tls_error` turns ``ssl`` exceptions into short reasons such as
  "TLS: certificate verify failed (certificate has expired)".
- :func:`cert_not_after`, :func:`days_left` and :func:`expiry_verdict` judge the
  certificate each probe reads from its own connection (the DER form, which is there
  even when ``verify_tls`` is off).
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
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
