"""http probe: fetch a URL over a fresh connection and judge what came back.

Design notes:

- Every check opens a new connection (a kept-alive one would keep answering after the
  listener behind it died) through :mod:`probes.http_client`, our own small HTTP/1.1
  client on non-blocking sockets; see there why not aiohttp.
- Concurrency is bounded by a semaphore and the latency clock starts inside it, so time
  spent queueing never counts as the target's slowness or as a timeout.
- The body is read up to ``max_body_bytes`` (before and after gzip decoding) and then the
  connection is dropped, so a huge, endless, compressed or binary body costs at most that.
- The certificate's expiry is read from the checked connection itself, so a renewed or
  replaced certificate shows on the next check.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from OpenSSL import SSL
from pydantic import Field, field_validator
from yarl import URL

from probes import tls
from probes.base import (
    Observation,
    Probe,
    ProbeOptions,
    Status,
    Value,
    format_seconds,
    safe_text,
)
from probes.http_client import Connection, Head, HttpError
from probes.resolve import Resolver

_USER_AGENT = "thongsuot-health-check/0.1"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


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

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"not a header name: {name!r}")
            if any(c in text for c in "\r\n\0") or not text.isascii():
                raise ValueError(f"header {name}: value must be one line of ASCII")
        return value


@dataclass(slots=True)
class _Timing:
    """Where a check is, for the reason its deadline gives (one per check)."""

    started: float = field(default_factory=time.perf_counter)
    connected: float | None = None
    phase: str = "connect"


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL means for a request: where to connect and what to send first."""

    url: URL
    method: str
    host: str
    port: int
    tls: bool
    tls_name: str
    """The name for SNI and certificate verification."""
    request_line_host: bytes
    """The request line and the Host header, to which the other headers are added."""


@functools.lru_cache(maxsize=4096)
def _target(url_text: str, method: str, server_name: str | None) -> _Target:
    url = URL(url_text)
    secure = url.scheme == "https"
    host = url.raw_host or ""
    port = url.port or (443 if secure else 80)
    name = server_name or (f"[{host}]" if ":" in host else host)
    default_port = 443 if secure else 80
    host_header = name if url.explicit_port in (None, default_port) else f"{name}:{port}"
    path = url.raw_path_qs or "/"
    head = f"{method} {path} HTTP/1.1\r\nHost: {host_header}\r\n"
    return _Target(
        url, method, host, port, secure, server_name or host, head.encode("ascii", "replace")
    )


@functools.lru_cache(maxsize=1024)
def _request(target: _Target, headers: tuple[tuple[str, str], ...]) -> bytes:
    """The whole request for ``target`` with the check's extra ``headers``."""
    lines = [target.request_line_host]
    given = {name.lower() for name, _ in headers}
    for name, value in (("User-Agent", _USER_AGENT), ("Accept", "*/*")):
        if name.lower() not in given:
            lines.append(f"{name}: {value}\r\n".encode())
    for name, value in headers:
        if name.lower() not in ("host", "connection"):
            lines.append(f"{name}: {value}\r\n".encode())
    lines.append(b"Connection: close\r\n\r\n")
    return b"".join(lines)


class HttpProbe(Probe[HttpOptions]):
    """HTTP(S) checks, each over a new connection."""

    kind = "http"
    Options = HttpOptions
    concurrency = 100

    def __init__(self) -> None:
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._resolver = Resolver()

    async def check(self, options: HttpOptions) -> Observation:
        """Fetch ``options.url`` once and judge the response."""
        context = (
            tls.openssl_context(options.verify_tls, options.ca_file)
            if options.url.startswith("https")
            else None
        )
        async with self._semaphore:
            timing = _Timing()
            try:
                async with asyncio.timeout(options.timeout):
                    return await self._fetch(options, context, timing)
            except HttpError as exc:
                return Observation.down(str(exc))
            except TimeoutError:
                return Observation.down(_deadline_reason(timing, options.timeout))

    async def _fetch(
        self, options: HttpOptions, context: SSL.Context | None, timing: _Timing
    ) -> Observation:
        headers = tuple(options.headers.items())
        target = _target(options.url, options.method, options.server_name)
        method = options.method
        redirects = 0
        while True:
            head, body, truncated, not_after = await self._exchange(
                target, headers, context, options, timing
            )
            location = head.headers.get("location")
            if not (options.follow_redirects and head.status in _REDIRECTS and location):
                break
            if redirects == options.max_redirects:
                raise HttpError(f"redirect loop: more than {options.max_redirects} redirects")
            redirects += 1
            if method != "HEAD" and (
                head.status == 303 or (head.status in (301, 302) and method == "POST")
            ):
                method = "GET"
            target = _redirect_target(target, location, method, options)
            if target.tls and context is None:
                context = tls.openssl_context(options.verify_tls, options.ca_file)
        latency_ms = (time.perf_counter() - timing.started) * 1000
        values: dict[str, Value] = {
            "http_status": head.status,
            "bytes": len(body),
            "body_truncated": truncated,
            "redirects": redirects,
            "ttfb_ms": round((head.at - timing.started) * 1000, 2),
        }
        if timing.connected is not None:
            values["connect_ms"] = round((timing.connected - timing.started) * 1000, 2)
        verdict = _judge_response(head, body, truncated, options)
        if verdict is None and not_after is not None:
            verdict = _certificate_verdict(not_after, options, values)
        if verdict is not None and verdict[0] is Status.DOWN:
            return Observation(Status.DOWN, verdict[1], latency_ms, values)
        reasons = [verdict[1]] if verdict is not None else []
        if options.max_latency_ms is not None and latency_ms > options.max_latency_ms:
            reasons.insert(0, f"slow: {latency_ms:.0f} ms > {options.max_latency_ms:.0f} ms")
        if reasons:
            return Observation(Status.DEGRADED, "; ".join(reasons), latency_ms, values)
        return Observation(Status.OK, f"HTTP {head.status}", latency_ms, values)

    async def _exchange(
        self,
        target: _Target,
        headers: tuple[tuple[str, str], ...],
        context: SSL.Context | None,
        options: HttpOptions,
        timing: _Timing,
    ) -> tuple[Head, bytes, bool, datetime | None]:
        """One request on one new connection: head, body, truncation, certificate expiry."""
        timing.phase = "connect"
        try:
            addresses = await self._resolver.resolve(target.host, target.port)
        except socket.gaierror as exc:
            raise HttpError(f"cannot resolve {safe_text(target.host, 80)}") from exc
        connection = await Connection.open(
            addresses,
            context if target.tls else None,
            target.tls_name,
            options.connect_timeout,
            options.read_timeout,
        )
        try:
            if timing.connected is None:
                timing.connected = time.perf_counter()
            timing.phase = "response"
            await connection.send(_request(target, headers))
            head = await connection.read_head()
            timing.phase = "body"
            body, truncated = await connection.read_body(
                head, target.method, options.max_body_bytes
            )
            return head, body, truncated, connection.peer_not_after()
        finally:
            connection.close()


def _redirect_target(target: _Target, location: str, method: str, options: HttpOptions) -> _Target:
    try:
        url = target.url.join(URL(location))
    except ValueError as exc:
        raise HttpError(f"bad redirect Location {safe_text(location, 80)!r}") from exc
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise HttpError(f"redirect to unsupported URL {safe_text(location, 80)!r}")
    same_host = url.raw_host == target.host
    return _target(str(url), method, options.server_name if same_host else None)


def _certificate_verdict(
    not_after: datetime, options: HttpOptions, values: dict[str, Value]
) -> tuple[Status, str] | None:
    days = tls.days_left(not_after)
    values["cert_days_left"] = days
    verdict = tls.expiry_verdict(days, options.cert_warn_days)
    if verdict is None:
        return None
    return (Status.DOWN if verdict[0] == "down" else Status.DEGRADED, verdict[1])


def _decode(head: Head, body: bytes) -> str:
    charset = head.charset or "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _judge_response(
    head: Head, body: bytes, truncated: bool, options: HttpOptions
) -> tuple[Status, str] | None:
    """A DOWN verdict for the status line or body, or ``None`` if they pass."""
    status = head.status
    if status not in options.expect_status:
        reason = f"HTTP {status}"
        if 300 <= status < 400 and not options.follow_redirects:
            location = head.headers.get("location")
            if location:
                reason += f" → {safe_text(location, 100)}"
        return Status.DOWN, reason
    cut = f" (first {format_bytes(len(body))} read)" if truncated else ""
    text: str | None = None
    if options.body_contains is not None:
        text = _decode(head, body)
        if options.body_contains not in text:
            return Status.DOWN, f"body lacks {safe_text(options.body_contains, 60)!r}{cut}"
    if options.body_regex is not None:
        text = text if text is not None else _decode(head, body)
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
    return f"body not complete within {after}"
