"""The http probe against a real nginx (HTTP and HTTPS with a private CA) and hostile servers."""

from __future__ import annotations

import asyncio
import os
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import ValidationError

from probes import tls
from probes.base import ProbeSetupError, Status
from probes.http import HttpOptions, HttpProbe
from tests.probes import servers

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def probe() -> HttpProbe:
    return HttpProbe()


@pytest.fixture
async def app_server() -> AsyncIterator[int]:
    """An aiohttp server for behaviour nginx cannot easily fake: slowness, binary bodies."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "2")))
        return web.Response(text="late")

    async def slow_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b"partial")
        await asyncio.sleep(2)
        return response

    async def binary(request: web.Request) -> web.Response:
        return web.Response(
            body=os.urandom(200_000) + "\x1b[31m[bold]\u202e".encode(),
            content_type="text/html",
            charset="no-such-charset",
        )

    app = web.Application()
    app.router.add_get("/slow", slow)
    app.router.add_get("/slow-body", slow_body)
    app.router.add_get("/binary", binary)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, servers.LOOPBACK, 0)
    await site.start()
    port = int(runner.addresses[0][1])
    yield port
    await runner.cleanup()


def _url(port: int, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{port}{path}"


async def test_ok(probe: HttpProbe, nginx: servers.Nginx) -> None:
    obs = await probe.check(HttpOptions(url=_url(nginx.http_port, "/ok"), body_contains="ok"))
    assert obs.status is Status.OK, obs
    assert obs.reason == "HTTP 200"
    assert obs.values["http_status"] == 200
    assert obs.values["bytes"] == 3
    assert obs.values["redirects"] == 0
    assert obs.latency_ms is not None
    assert obs.latency_ms > 0
    assert isinstance(obs.values["connect_ms"], float)
    assert "cert_days_left" not in obs.values


async def test_503_is_down(probe: HttpProbe, nginx: servers.Nginx) -> None:
    obs = await probe.check(HttpOptions(url=_url(nginx.http_port, "/status/503")))
    assert obs.status is Status.DOWN
    assert obs.reason == "HTTP 503"
    assert obs.values["http_status"] == 503


async def test_expected_503_is_ok(probe: HttpProbe, nginx: servers.Nginx) -> None:
    options = HttpOptions(url=_url(nginx.http_port, "/status/503"), expect_status=[503])
    assert (await probe.check(options)).status is Status.OK


async def test_head_request(probe: HttpProbe, nginx: servers.Nginx) -> None:
    obs = await probe.check(HttpOptions(url=_url(nginx.http_port, "/big"), method="head"))
    assert obs.status is Status.OK, obs
    assert obs.values["bytes"] == 0


async def test_body_mismatch(probe: HttpProbe, nginx: servers.Nginx) -> None:
    options = HttpOptions(url=_url(nginx.http_port, "/ok"), body_contains="Cần Thơ")
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "body lacks 'Cần Thơ'"


async def test_body_vietnamese_and_regex(probe: HttpProbe, nginx: servers.Nginx) -> None:
    url = _url(nginx.http_port, "/vi")
    assert (await probe.check(HttpOptions(url=url, body_contains="Cần Thơ"))).ok
    assert (await probe.check(HttpOptions(url=url, body_regex=r"phố\s+Cần"))).ok
    obs = await probe.check(HttpOptions(url=url, body_regex=r"^Hậu Giang"))
    assert obs.status is Status.DOWN
    assert obs.reason == "body does not match /^Hậu Giang/"


@pytest.mark.parametrize(
    ("path", "equals", "status", "reason"),
    [
        ("status", "ok", Status.OK, "HTTP 200"),
        ("checks.nodes.1", "2", Status.OK, "HTTP 200"),
        ("ready", "true", Status.OK, "HTTP 200"),
        ("checks.db", None, Status.OK, "HTTP 200"),
        ("checks.db", "down", Status.DOWN, "JSON checks.db is 'up', expected 'down'"),
        ("checks.cache", None, Status.DOWN, "JSON has no checks.cache"),
        ("checks.nodes.7", None, Status.DOWN, "JSON has no checks.nodes.7"),
    ],
)
async def test_json_condition(
    probe: HttpProbe,
    nginx: servers.Nginx,
    path: str,
    equals: str | None,
    status: Status,
    reason: str,
) -> None:
    options = HttpOptions(url=_url(nginx.http_port, "/json"), json_path=path, json_equals=equals)
    obs = await probe.check(options)
    assert (obs.status, obs.reason) == (status, reason)


async def test_json_condition_on_non_json_body(probe: HttpProbe, nginx: servers.Nginx) -> None:
    options = HttpOptions(url=_url(nginx.http_port, "/big"), json_path="status")
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "body is not JSON (cut at 1 MiB)"


async def test_redirect_not_followed(probe: HttpProbe, nginx: servers.Nginx) -> None:
    obs = await probe.check(HttpOptions(url=_url(nginx.http_port, "/redirect")))
    assert obs.status is Status.DOWN
    assert obs.reason == "HTTP 301 → /ok"
    options = HttpOptions(url=_url(nginx.http_port, "/redirect"), expect_status=[301])
    assert (await probe.check(options)).ok


async def test_redirect_followed(probe: HttpProbe, nginx: servers.Nginx) -> None:
    options = HttpOptions(
        url=_url(nginx.http_port, "/redirect"), follow_redirects=True, body_contains="ok"
    )
    obs = await probe.check(options)
    assert obs.status is Status.OK, obs
    assert obs.values["http_status"] == 200
    assert obs.values["redirects"] == 1


async def test_redirect_loop(probe: HttpProbe, nginx: servers.Nginx) -> None:
    options = HttpOptions(
        url=_url(nginx.http_port, "/loop"), follow_redirects=True, max_redirects=3
    )
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "redirect loop: more than 3 redirects"


async def test_tls_with_private_ca(
    probe: HttpProbe, nginx: servers.Nginx, pki: servers.TestPki
) -> None:
    options = HttpOptions(url=_url(nginx.https_port, "/ok", "https"), ca_file=str(pki.ca_file))
    obs = await probe.check(options)
    assert obs.status is Status.OK, obs
    days = obs.values["cert_days_left"]
    assert isinstance(days, float)
    assert 364 <= days <= 365


async def test_tls_server_name_for_ip_url(
    probe: HttpProbe, nginx: servers.Nginx, pki: servers.TestPki
) -> None:
    options = HttpOptions(
        url=_url(nginx.https_port, "/ok", "https"),
        ca_file=str(pki.ca_file),
        server_name="web.cantho.test",
    )
    assert (await probe.check(options)).ok


async def test_tls_without_ca_fails_verification(probe: HttpProbe, nginx: servers.Nginx) -> None:
    obs = await probe.check(HttpOptions(url=_url(nginx.https_port, "/ok", "https")))
    assert obs.status is Status.DOWN
    assert obs.reason == "TLS: certificate verify failed (unable to get local issuer certificate)"


async def test_tls_verification_can_be_turned_off(probe: HttpProbe, nginx: servers.Nginx) -> None:
    options = HttpOptions(url=_url(nginx.https_port, "/ok", "https"), verify_tls=False)
    obs = await probe.check(options)
    assert obs.status is Status.OK, obs
    assert isinstance(obs.values["cert_days_left"], float)


async def test_tls_wrong_hostname(
    probe: HttpProbe, nginx: servers.Nginx, pki: servers.TestPki
) -> None:
    options = HttpOptions(
        url=_url(nginx.https_port, "/ok", "https"),
        ca_file=str(pki.ca_file),
        server_name="portal.hau-giang.test",
    )
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason.startswith("TLS: certificate verify failed (Hostname mismatch")
    assert "portal.hau-giang.test" in obs.reason


async def test_tls_expired_certificate(
    probe: HttpProbe, nginx: servers.Nginx, pki: servers.TestPki
) -> None:
    url = _url(nginx.https_expired_port, "/ok", "https")
    obs = await probe.check(HttpOptions(url=url, ca_file=str(pki.ca_file)))
    assert obs.status is Status.DOWN
    assert obs.reason == "TLS: certificate verify failed (certificate has expired)"
    unverified = await probe.check(HttpOptions(url=url, verify_tls=False))
    assert unverified.status is Status.DOWN
    assert unverified.reason == "TLS: certificate expired 1 day ago"
    assert unverified.values["http_status"] == 200


async def test_tls_certificate_near_expiry_is_degraded(
    probe: HttpProbe, nginx: servers.Nginx, pki: servers.TestPki
) -> None:
    url = _url(nginx.https_near_port, "/ok", "https")
    obs = await probe.check(HttpOptions(url=url, ca_file=str(pki.ca_file)))
    assert obs.status is Status.DEGRADED, obs
    assert re.fullmatch(r"TLS: certificate expires in [45] days", obs.reason), obs.reason
    assert obs.values["http_status"] == 200
    quiet = await probe.check(HttpOptions(url=url, ca_file=str(pki.ca_file), cert_warn_days=3))
    assert quiet.status is Status.OK


async def test_missing_ca_file_is_a_setup_error(probe: HttpProbe, nginx: servers.Nginx) -> None:
    options = HttpOptions(url=_url(nginx.https_port, "/ok", "https"), ca_file="/nonexistent/ca.pem")
    with pytest.raises(ProbeSetupError, match="cannot read CA file"):
        await probe.check(options)


async def test_ca_file_without_certificates_is_a_setup_error(
    probe: HttpProbe, nginx: servers.Nginx, tmp_path: Path
) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("<html>not a certificate</html>\n")
    options = HttpOptions(url=_url(nginx.https_port, "/ok", "https"), ca_file=str(garbage))
    with pytest.raises(ProbeSetupError, match="cannot load CA file .*ca.pem"):
        await probe.check(options)


async def test_connection_refused(probe: HttpProbe) -> None:
    options = HttpOptions(url=_url(servers.closed_port(), "/ok"), timeout=2)
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "connection refused"
    assert obs.latency_ms is None


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    with servers.unaccepting_port() as port:
        yield port


async def test_connect_timeout(probe: HttpProbe, unaccepting_port: int) -> None:
    options = HttpOptions(url=_url(unaccepting_port, "/"), timeout=2, connect_timeout=0.2)
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "connect timeout after 200 ms"
    deadline = await probe.check(HttpOptions(url=_url(unaccepting_port, "/"), timeout=0.2))
    assert deadline.reason == "connect timeout after 200 ms"


async def test_read_timeout(probe: HttpProbe, app_server: int) -> None:
    options = HttpOptions(url=_url(app_server, "/slow"), timeout=2, read_timeout=0.2)
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "read timeout after 200 ms"


async def test_deadline_while_waiting_for_response(probe: HttpProbe, app_server: int) -> None:
    obs = await probe.check(HttpOptions(url=_url(app_server, "/slow"), timeout=0.2))
    assert obs.status is Status.DOWN
    assert obs.reason in ("no response within 200 ms", "read timeout after 200 ms")


async def test_body_stalls(probe: HttpProbe, app_server: int) -> None:
    options = HttpOptions(url=_url(app_server, "/slow-body"), timeout=2, read_timeout=0.2)
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "read timeout after 200 ms"


async def test_latency_threshold_degrades(probe: HttpProbe, app_server: int) -> None:
    options = HttpOptions(url=_url(app_server, "/slow?s=0.05"), max_latency_ms=10)
    obs = await probe.check(options)
    assert obs.status is Status.DEGRADED, obs
    assert obs.reason.startswith("slow: ")
    assert obs.reason.endswith(" ms > 10 ms")
    assert obs.latency_ms is not None
    assert obs.latency_ms >= 50


async def test_huge_body_is_bounded(probe: HttpProbe, nginx: servers.Nginx) -> None:
    obs = await probe.check(HttpOptions(url=_url(nginx.http_port, "/big")))
    assert obs.status is Status.OK
    assert obs.values["bytes"] == 1 << 20
    assert obs.values["body_truncated"] is True
    small = await probe.check(
        HttpOptions(url=_url(nginx.http_port, "/big"), max_body_bytes=1000, body_contains="zzz")
    )
    assert small.values["bytes"] == 1000
    assert small.reason == "body lacks 'zzz' (first 1000 B read)"


async def test_binary_body(probe: HttpProbe, app_server: int) -> None:
    url = _url(app_server, "/binary")
    assert (await probe.check(HttpOptions(url=url))).ok
    obs = await probe.check(HttpOptions(url=url, body_contains="Cần Thơ"))
    assert obs.status is Status.DOWN
    assert obs.reason == "body lacks 'Cần Thơ'"


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"\x00\xff\x1b[2J<html>not http</html>\r\n\r\n")
    await writer.drain()


async def _huge_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nX-Junk: " + b"A" * 200_000 + b"\r\n\r\n")
    await writer.drain()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (_garbage, "invalid HTTP response: "),
        (_huge_header, "invalid HTTP response: "),
        (_hang_up, "server closed the connection without a response"),
    ],
)
async def test_hostile_servers(probe: HttpProbe, handler: servers.Handler, reason: str) -> None:
    async with servers.raw_server(handler) as port:
        obs = await probe.check(HttpOptions(url=_url(port, "/"), timeout=2))
    assert obs.status is Status.DOWN
    assert obs.reason.startswith(reason), obs.reason
    assert "\x1b" not in obs.reason
    assert "\x00" not in obs.reason
    assert len(obs.reason) < 120


async def test_many_concurrent_checks_each_get_a_fresh_connection(
    probe: HttpProbe, nginx: servers.Nginx
) -> None:
    options = HttpOptions(url=_url(nginx.http_port, "/ok"))
    results = await asyncio.gather(*(probe.check(options) for _ in range(40)))
    assert all(obs.ok for obs in results)
    assert all(isinstance(obs.values["connect_ms"], float) for obs in results)


@pytest.mark.parametrize(
    "bad",
    [
        {"url": "ftp://127.0.0.1/"},
        {"url": "/relative"},
        {"url": "http://127.0.0.1/", "body_regex": "("},
        {"url": "http://127.0.0.1/", "method": "GE T"},
        {"url": "http://127.0.0.1/", "surprise": 1},
        {"url": "http://127.0.0.1/", "headers": {"X-A": "1\r\nX-Injected: 1"}},
        {"url": "http://127.0.0.1/", "headers": {"Bad Name": "1"}},
    ],
)
def test_invalid_options(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        HttpOptions.model_validate(bad)


def test_describe_tls_error() -> None:
    err = ssl.SSLCertVerificationError(1, "x")
    err.verify_message = "certificate has expired"
    assert tls.describe_tls_error(err) == "TLS: certificate verify failed (certificate has expired)"
