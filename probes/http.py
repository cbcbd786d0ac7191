"""http probe: fetch a URL over a fresh connection and judge what came back.

Design notes (see NOTES-libraries A6):

- One ``aiohttp.ClientSession`` per probe instance, opened in :meth:`HttpProbe.start`
  and closed in :meth:`HttpProbe.close`. Its connector uses ``force_close=True``: a
  kept-alive connection would keep answering after the listener behind it died.
- Concurrency is bounded by a semaphore no larger than the connector's limit, and the
  latency clock starts inside it: aiohttp's ``connect``/``total`` timeouts include time
  spent queueing for a connector slot, so only ``sock_connect``/``sock_read`` are used,
  under the probe's own ``asyncio.timeout`` deadline.
- The body is read in chunks up to ``max_body_bytes`` and then the connection is dropped,
  so a huge, endless or binary body costs at most that much.
- Certificate expiry comes from :class:`probes.tls.CertExpiryCache` (a separate
  handshake at most once an hour per endpoint) because aiohttp releases the connection,
  and with it the peer certificate, before a small response is handed over.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import Field, field_validator
from yarl import URL

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

_USER_AGENT = "thongsuot-health-check/0.1"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class HttpOptions(ProbeOptions):
    """Fetch a URL over a new connection and judge status, body, latency and certificate."""

    url: str
    """``http://`` or ``https://`` URL to fetch."""
    method: str = "GET"
    """HTTP method (GET, HEAD, POST …)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers, e.g. ``{Authorization: "Bearer …"}``."""
    expect_status: list[int] = Field(default_factory=lambda: [200])
    """Status codes that count as up."""
    body_contains: str | None = None
    """Text the body must contain."""
    body_regex: str | None = None
    """Regular expression (Python syntax) that must match somewhere in the body."""
    json_path: str | None = None
    """Dotted path into a JSON body, e.g. ``status`` or ``checks.db.0.state``; it must exist."""
    json_equals: str | None = None
    """The value at ``json_path`` must equal this (compared as text; true/false/null for
    JSON literals)."""
    max_body_bytes: int = Field(default=1 << 20, ge=0, le=64 << 20)
    """Read at most this many body bytes; body conditions see only this much."""
    max_latency_ms: float | None = Field(default=None, gt=0)
    """A response slower than this makes the check DEGRADED."""
    connect_timeout: float | None = Field(default=None, gt=0)
    """Seconds allowed for TCP connect and TLS handshake (default: the whole ``timeout``)."""
    read_timeout: float | None = Field(default=None, gt=0)
    """Seconds allowed between two reads from the socket (default: the whole ``timeout``)."""
    follow_redirects: bool = False
    """Follow redirects and judge the final response; otherwise a 301 is reported as is."""
    max_redirects: int = Field(default=10, ge=1, le=50)
    """More redirects than this count as a redirect loop (DOWN)."""
    verify_tls: bool = True
    """Verify the server certificate chain and name."""
    ca_file: str | None = None
    """PEM bundle of the CA that signed the server's certificate (a private CA)."""
    server_name: str | None = None
    """Name for TLS SNI, certificate verification and the Host header, when the URL
    holds an IP address (e.g. one node behind a load balancer)."""
    cert_warn_days: int = Field(default=14, ge=0)
    """A certificate expiring in fewer days makes the check DEGRADED."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        url = URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @field_validator("method")
    @classmethod
    def _check_method(cls, value: str) -> str:
        if not _TOKEN.match(value):
            raise ValueError("not an HTTP method")
        return value.upper()

    @field_validator("body_regex")
    @classmethod
    def _check_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


@dataclass
class _Timing:
    """Filled in by :class:`_TimedConnector` while a request runs (one per check)."""

    started: float
    connected: float | None = None
    connections: int = 0
    phase: str = "connect"


_TIMING: contextvars.ContextVar[_Timing | None] = contextvars.ContextVar("_TIMING", default=None)
"""The running check's timing, seen by :class:`_TimedConnector` (same task, no trace)."""


class _TimedConnector(aiohttp.TCPConnector):
    """A connector that notes when each hop's connection is up in the check's ``_Timing``.

    Overriding the public ``connect`` instead of using a ``TraceConfig``: with a trace
    configured, aiohttp builds and sends about eight trace events per request, which cost
    more than a tenth of a plain-HTTP check's CPU. ``connect`` runs once per hop (also
    per redirect) in the task that called ``check``, and with ``force_close`` it always
    opens a new connection.
    """

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp passes it by name)
    ) -> aiohttp.connector.Connection:
        timing = _TIMING.get()
        if timing is not None:
            timing.phase = "connect"
        connection = await super().connect(req, traces, timeout)
        if timing is not None:
            timing.connections += 1
            if timing.connected is None:
                timing.connected = time.perf_counter()
            timing.phase = "response"
        return connection


@functools.lru_cache(maxsize=4096)
def _parse_url(url: str) -> URL:
    return URL(url)


@functools.lru_cache(maxsize=256)
def _client_timeout(sock_connect: float, sock_read: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=sock_connect, sock_read=sock_read)


class HttpProbe(Probe[HttpOptions]):
    """HTTP(S) checks through one shared session; each check opens a new connection."""

    kind = "http"
    Options = HttpOptions
    concurrency = 100

    def __init__(self, cert_cache_ttl: float = 3600.0) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._certs = tls.CertExpiryCache(ttl=cert_cache_ttl)

    async def start(self) -> None:
        """Open the shared session (idempotent)."""
        if self._session is not None:
            return
        connector = _TimedConnector(
            limit=self.concurrency, limit_per_host=0, force_close=True, ttl_dns_cache=60
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            headers={"User-Agent": _USER_AGENT},
            auto_decompress=True,
        )

    async def close(self) -> None:
        """Close the shared session."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def check(self, options: HttpOptions) -> Observation:
        """Fetch ``options.url`` once and judge the response."""
        if self._session is None:
            raise RuntimeError("HttpProbe.start() must be awaited before check()")
        session = self._session
        url = _parse_url(options.url)
        ssl_arg: ssl.SSLContext | bool = (
            tls.client_context(options.verify_tls, options.ca_file)
            if url.scheme == "https"
            else True
        )
        async with self._semaphore:
            timing = _Timing(started=time.perf_counter())
            deadline = asyncio.timeout(options.timeout)
            token = _TIMING.set(timing)
            try:
                async with deadline:
                    return await self._fetch(session, url, ssl_arg, options, timing)
            except aiohttp.ServerTimeoutError as exc:
                return Observation.down(_timeout_reason(exc, options))
            except TimeoutError:
                return Observation.down(_deadline_reason(timing, options.timeout))
            except aiohttp.ClientError as exc:
                return Observation.down(_client_error_reason(exc, options))
            except ssl.SSLError as exc:
                return Observation.down(tls.describe_tls_error(exc))
            except OSError as exc:
                return Observation.down(f"connection failed: {safe_text(exc.strerror or exc, 80)}")
            finally:
                _TIMING.reset(token)

    async def _fetch(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        ssl_arg: ssl.SSLContext | bool,
        options: HttpOptions,
        timing: _Timing,
    ) -> Observation:
        headers = dict(options.headers)
        if options.server_name:
            headers.setdefault("Host", _host_header(options.server_name, url))
        request_timeout = _client_timeout(
            options.connect_timeout or options.timeout, options.read_timeout or options.timeout
        )
        async with session.request(
            options.method,
            url,
            headers=headers,
            ssl=ssl_arg,
            server_hostname=options.server_name if url.scheme == "https" else None,
            allow_redirects=options.follow_redirects,
            max_redirects=options.max_redirects,
            timeout=request_timeout,
        ) as response:
            ttfb = time.perf_counter()
            timing.phase = "body"
            body, truncated = await _read_bounded(response, options.max_body_bytes)
            latency_ms = (time.perf_counter() - timing.started) * 1000
            values: dict[str, Value] = {
                "http_status": response.status,
                "bytes": len(body),
                "body_truncated": truncated,
                "redirects": len(response.history),
                "ttfb_ms": round((ttfb - timing.started) * 1000, 2),
            }
            if timing.connected is not None:
                values["connect_ms"] = round((timing.connected - timing.started) * 1000, 2)
            verdict = _judge_response(response, body, truncated, options)
        if verdict is None and url.scheme == "https":
            timing.phase = "certificate"
            remaining = _deadline_left(options.timeout, timing.started)
            cert = await self._cert_check(url, options, remaining, values)
            if cert is not None:
                verdict = cert
        if verdict is not None and verdict[0] is Status.DOWN:
            return Observation(Status.DOWN, verdict[1], latency_ms, values)
        reasons = [verdict[1]] if verdict is not None else []
        if options.max_latency_ms is not None and latency_ms > options.max_latency_ms:
            reasons.insert(0, f"slow: {latency_ms:.0f} ms > {options.max_latency_ms:.0f} ms")
        if reasons:
            return Observation(Status.DEGRADED, "; ".join(reasons), latency_ms, values)
        return Observation(Status.OK, f"HTTP {response.status}", latency_ms, values)

    async def _cert_check(
        self, url: URL, options: HttpOptions, remaining: float, values: dict[str, Value]
    ) -> tuple[Status, str] | None:
        host = url.raw_host or ""
        port = url.port or 443
        not_after = await self._certs.not_after(
            host, port, options.server_name, handshake_timeout=max(remaining, 0.05)
        )
        if not_after is None:
            return None
        days = tls.days_left(not_after)
        values["cert_days_left"] = days
        verdict = tls.expiry_verdict(days, options.cert_warn_days)
        if verdict is None:
            return None
        return (Status.DOWN if verdict[0] == "down" else Status.DEGRADED, verdict[1])


def _deadline_left(timeout: float, started: float) -> float:
    """Seconds left of a ``timeout`` that began at ``started`` (perf_counter)."""
    return timeout - (time.perf_counter() - started)


def _host_header(server_name: str, url: URL) -> str:
    default_port = 443 if url.scheme == "https" else 80
    port = url.explicit_port
    return server_name if port in (None, default_port) else f"{server_name}:{port}"


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` body bytes and whether more were left unread."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(min(65536, limit - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), not response.content.at_eof()


def _decode(response: aiohttp.ClientResponse, body: bytes) -> str:
    charset = response.charset or "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _judge_response(
    response: aiohttp.ClientResponse, body: bytes, truncated: bool, options: HttpOptions
) -> tuple[Status, str] | None:
    """A DOWN verdict for the status line or body, or ``None`` if they pass."""
    status = response.status
    if status not in options.expect_status:
        reason = f"HTTP {status}"
        if 300 <= status < 400 and not options.follow_redirects:
            location = response.headers.get("Location")
            if location:
                reason += f" → {safe_text(location, 100)}"
        return Status.DOWN, reason
    cut = f" (first {format_bytes(len(body))} read)" if truncated else ""
    text: str | None = None
    if options.body_contains is not None:
        text = _decode(response, body)
        if options.body_contains not in text:
            return Status.DOWN, f"body lacks {safe_text(options.body_contains, 60)!r}{cut}"
    if options.body_regex is not None:
        text = text if text is not None else _decode(response, body)
        if re.search(options.body_regex, text) is None:
            return Status.DOWN, f"body does not match /{safe_text(options.body_regex, 60)}/{cut}"
    if options.json_path is not None:
        return _judge_json(body, truncated, options)
    return None


def _judge_json(body: bytes, truncated: bool, options: HttpOptions) -> tuple[Status, str] | None:
    assert options.json_path is not None
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        cut = f" (cut at {format_bytes(len(body))})" if truncated else ""
        return Status.DOWN, f"body is not JSON{cut}"
    node = document
    for part in options.json_path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return Status.DOWN, f"JSON has no {safe_text(options.json_path, 60)}"
    if options.json_equals is None:
        return None
    actual = node if isinstance(node, str) else json.dumps(node, ensure_ascii=False)
    if actual != options.json_equals:
        return Status.DOWN, (
            f"JSON {safe_text(options.json_path, 40)} is {safe_text(actual, 40)!r}, "
            f"expected {safe_text(options.json_equals, 40)!r}"
        )
    return None


def format_bytes(size: int) -> str:
    """ "512 B", "64 KiB", "1 MiB": sizes in reasons."""
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size} B"


def _deadline_reason(timing: _Timing, timeout: float) -> str:
    after = format_seconds(timeout)
    if timing.phase == "connect":
        return f"connect timeout after {after}"
    if timing.phase == "response":
        return f"no response within {after}"
    if timing.phase == "certificate":
        return f"certificate check not complete within {after}"
    return f"body not complete within {after}"


def _timeout_reason(exc: BaseException, options: HttpOptions) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connect timeout after {format_seconds(options.connect_timeout or options.timeout)}"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return f"read timeout after {format_seconds(options.read_timeout or options.timeout)}"
    return f"timeout after {format_seconds(options.timeout)}"


def _client_error_reason(exc: aiohttp.ClientError, options: HttpOptions) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return tls.describe_tls_error(exc.certificate_error)
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        inner = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        return tls.describe_tls_error(inner)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {safe_text(exc.host, 80)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return describe_os_error(exc.os_error)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return f"redirect loop: more than {options.max_redirects} redirects"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"bad URL {safe_text(exc.url, 80)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection without a response"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"broken body: {safe_text(exc, 80)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"invalid HTTP response: {safe_text(exc.message, 80)}"
    if isinstance(exc, aiohttp.ClientOSError):
        return f"connection failed: {safe_text(exc.strerror or exc, 80)}"
    return f"HTTP client error: {type(exc).__name__}: {safe_text(exc, 80)}"
