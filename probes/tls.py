"""TLS and certificate helpers shared by the probes that speak TLS (http, smtp).

There are two TLS stacks, for a measured reason:

- HTTP checks drive their own non-blocking socket (:mod:`probes.http_client`) through
  pyOpenSSL, on the OpenSSL that ships inside ``cryptography``. The system OpenSSL 3.0
  behind Python's ``ssl`` spends about a quarter of a client handshake parsing the
  server's certificate, most of it looking up key decoders (``perf``); the bundled one
  does not, and an HTTPS check costs about 16 % less CPU (``python -m bench http``).
  :func:`openssl_context` builds (and caches) that context, :func:`open_client` starts a
  connection that sends SNI and verifies the name or IP address as ``ssl`` does,
  :func:`describe_openssl_error` words its failures and :func:`peer_not_after` reads the
  certificate's expiry.
- SMTP's STARTTLS upgrades an asyncio stream, which takes an ``ssl.SSLContext``:
  :func:`client_context` builds (and caches) one, :func:`describe_tls_error` words
  ``ssl`` exceptions and :func:`cert_not_after` reads the expiry from the DER form.

Both trust the same store (the system's, or ``ca_file``), turn an unreadable ``ca_file``
into a :class:`ProbeSetupError`, and give the same reasons, such as
"TLS: certificate verify failed (certificate has expired)". The certificate is read
even when ``verify_tls`` is off; :func:`days_left` and :func:`expiry_verdict` judge it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.bindings.openssl.binding import Binding
from OpenSSL import SSL

from probes.base import ProbeSetupError, describe_os_error, safe_text

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
    """The ``ssl`` client context for a check: the system trust store, or ``ca_file``.

    With ``verify`` false the context accepts any certificate and any name. Contexts are
    cached (building one parses the whole trust store); a CA file that changes on disk
    is picked up. Raises :class:`ProbeSetupError` when ``ca_file`` cannot be loaded.
    """
    return _cached_context(verify, ca_file if verify else None, _ca_mtime(verify, ca_file))


def openssl_context(verify: bool, ca_file: str | None) -> SSL.Context:
    """The same as :func:`client_context`, as a pyOpenSSL context for :func:`open_client`."""
    return _cached_openssl_context(verify, ca_file if verify else None, _ca_mtime(verify, ca_file))


def _ca_mtime(verify: bool, ca_file: str | None) -> float:
    if not verify or ca_file is None:
        return 0.0
    try:
        return os.stat(ca_file).st_mtime
    except OSError as exc:
        raise ProbeSetupError(
            f"cannot read CA file {ca_file!r}: {exc.strerror}; fix ca_file in the check"
        ) from exc


_lib = Binding.lib
_ffi = Binding.ffi
_GROUPS = b"X25519:P-256:X448:P-521:P-384"
"""The groups Python's ``ssl`` offers here, X25519 first with the only key share: the
bundled OpenSSL would add a post-quantum share, about a tenth of a health check's CPU."""


@functools.lru_cache(maxsize=64)
def _cached_openssl_context(verify: bool, ca_file: str | None, mtime: float) -> SSL.Context:
    del mtime  # part of the cache key only, as in _cached_context
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_COMPRESSION)
    if _lib.SSL_CTX_set1_curves_list(ctx._context, _GROUPS) != 1:
        _lib.ERR_clear_error()  # an OpenSSL that lacks one keeps its defaults
    if not verify:
        ctx.set_verify(SSL.VERIFY_NONE)
        return ctx
    ctx.set_verify(SSL.VERIFY_PEER)
    try:
        if ca_file is not None:
            ctx.load_verify_locations(ca_file)
        else:
            # The store Python's ssl uses, not the bundled OpenSSL's build-time paths.
            paths = ssl.get_default_verify_paths()
            if paths.cafile is None and paths.capath is None:
                ctx.set_default_verify_paths()
            else:
                ctx.load_verify_locations(paths.cafile, paths.capath)
    except SSL.Error as exc:
        raise ProbeSetupError(
            f"cannot load CA file {ca_file!r}: {_openssl_reason(exc)}; "
            "point ca_file at a readable PEM bundle"
        ) from exc
    return ctx


def open_client(context: SSL.Context, sock: socket.socket, name: str) -> SSL.Connection:
    """A client connection on connected ``sock``, ready for ``do_handshake``.

    As ``ssl`` does: SNI for a host name (none for an IP address), and when the context
    verifies, the certificate must be valid for that name (no partial wildcards) or
    address. Raises ``UnicodeError`` for a name IDNA cannot encode.
    """
    connection = SSL.Connection(context, sock)
    param = _lib.SSL_get0_param(connection._ssl)
    try:
        packed = ipaddress.ip_address(name).packed
    except ValueError:
        encoded = name.encode("idna")
        connection.set_tlsext_host_name(encoded)
        _lib.X509_VERIFY_PARAM_set_hostflags(param, _lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
        _lib.X509_VERIFY_PARAM_set1_host(param, encoded, len(encoded))
    else:
        _lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
    connection.set_connect_state()
    return connection


def describe_openssl_error(
    exc: SSL.Error, connection: SSL.Connection, name: str, handshake: bool = True
) -> str:
    """The reason for a pyOpenSSL failure on ``connection`` to ``name``, in the handshake
    or after it, worded as :func:`describe_tls_error` words the same failure from ``ssl``."""
    stage = "handshake" if handshake else "connection"
    if isinstance(exc, SSL.SysCallError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else -1
        if code <= 0:
            return f"TLS: {stage} failed (connection closed by the server)"
        return f"TLS: {stage} failed ({describe_os_error(OSError(code, os.strerror(code)))})"
    reason = _openssl_reason(exc)
    result = _lib.SSL_get_verify_result(connection._ssl)
    if reason == "certificate verify failed" and result != _lib.X509_V_OK:
        if result == _lib.X509_V_ERR_HOSTNAME_MISMATCH:
            detail = f"Hostname mismatch, certificate is not valid for {name!r}."
        elif result == _lib.X509_V_ERR_IP_ADDRESS_MISMATCH:
            detail = f"IP address mismatch, certificate is not valid for {name!r}."
        else:
            detail = _ffi.string(_lib.X509_verify_cert_error_string(result)).decode()
        return f"TLS: certificate verify failed ({safe_text(detail, 120)})"
    return f"TLS: {stage} failed ({safe_text(reason, 120)})"


def _openssl_reason(exc: SSL.Error) -> str:
    """The last reason in pyOpenSSL's error list (lib, function, reason), else the text."""
    errors = exc.args[0] if exc.args else None
    if isinstance(errors, list) and errors and isinstance(errors[-1], tuple):
        return str(errors[-1][-1])
    return str(exc) or type(exc).__name__


def peer_not_after(connection: SSL.Connection) -> datetime | None:
    """The expiry (UTC) of the server's certificate, verified or not; ``None`` if none."""
    cert = connection.get_peer_certificate()
    stamp = cert.get_notAfter() if cert is not None else None
    return _generalized_time(stamp) if stamp else None


@functools.lru_cache(maxsize=1024)
def _generalized_time(stamp: bytes) -> datetime:
    return datetime.strptime(stamp.decode("ascii"), "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


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
