"""Response framing of the http probe's own HTTP/1.1 client, against hand-written servers.

Each server below answers with exact bytes, so the cases nginx never produces (chunked
bodies cut at odd places, gzip bombs, interim responses, bare LF line ends, short bodies)
are pinned down. ``tests/probes/test_http.py`` covers the probe against a real nginx.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest

from probes import tls
from probes.base import Observation, Status
from probes.http import HttpOptions, HttpProbe
from tests.probes import servers

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def probe() -> HttpProbe:
    return HttpProbe()


def _answer(*parts: bytes, linger: float = 0.0) -> servers.Handler:
    """A handler that reads the request head, writes ``parts`` and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for part in parts:
            writer.write(part)
            await writer.drain()
        if linger:
            await asyncio.sleep(linger)

    return handle


def _chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nX-T: 1\r\n\r\n"


async def _check(probe: HttpProbe, handler: servers.Handler, **options: object) -> Observation:
    async with servers.raw_server(handler) as port:
        return await probe.check(
            HttpOptions.model_validate(
                {"url": f"http://127.0.0.1:{port}/", "timeout": 2, **options}
            )
        )


OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"


async def test_chunked_body(probe: HttpProbe) -> None:
    handler = _answer(
        OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n",
        _chunked(b"Th\xc3\xa0nh ph", b"\xe1\xbb\x91 C\xe1\xba\xa7n Th\xc6\xa1"),
    )
    obs = await _check(probe, handler, body_contains="Thành phố Cần Thơ")
    assert obs.status is Status.OK, obs
    assert obs.values["bytes"] == len("Thành phố Cần Thơ".encode())
    assert obs.values["body_truncated"] is False


async def test_chunked_body_past_the_limit_is_cut(probe: HttpProbe) -> None:
    handler = _answer(
        OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n", _chunked(b"a" * 700, b"b" * 700)
    )
    obs = await _check(probe, handler, max_body_bytes=1000, body_contains="zzz")
    assert obs.values["bytes"] == 1000
    assert obs.values["body_truncated"] is True
    assert obs.reason == "body lacks 'zzz' (first 1000 B read)"


async def test_bad_chunk_size(probe: HttpProbe) -> None:
    handler = _answer(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"zz\r\nhello\r\n")
    obs = await _check(probe, handler)
    assert obs.status is Status.DOWN
    assert obs.reason == "broken body: bad chunk size 'zz'"


async def test_body_shorter_than_content_length(probe: HttpProbe) -> None:
    obs = await _check(probe, _answer(OK_HEAD + b"Content-Length: 10\r\n\r\nshort"))
    assert obs.status is Status.DOWN
    assert obs.reason == "broken body: connection closed after 5 of 10 bytes"


async def test_body_until_the_connection_ends(probe: HttpProbe) -> None:
    obs = await _check(probe, _answer(OK_HEAD + b"\r\n", b"no length", b", just the end"))
    assert obs.status is Status.OK, obs
    assert obs.values["bytes"] == len(b"no length, just the end")


async def test_interim_responses_are_skipped(probe: HttpProbe) -> None:
    handler = _answer(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
    )
    obs = await _check(probe, handler)
    assert obs.status is Status.DOWN
    assert obs.reason == "HTTP 503"


async def test_bare_lf_and_folded_headers(probe: HttpProbe) -> None:
    handler = _answer(b"HTTP/1.0 200 OK\nContent-Length: 2\nX-Old: a\n  b\n\nok")
    obs = await _check(probe, handler, body_contains="ok")
    assert obs.status is Status.OK, obs


async def test_head_request_has_no_body(probe: HttpProbe) -> None:
    # A HEAD answer announces a length it does not send; reading it would hang.
    handler = _answer(OK_HEAD + b"Content-Length: 5000\r\n\r\n", linger=5)
    obs = await _check(probe, handler, method="HEAD")
    assert obs.status is Status.OK, obs
    assert obs.values["bytes"] == 0


async def test_gzip_body_is_decoded(probe: HttpProbe) -> None:
    body = gzip.compress("Cổng thông tin điện tử".encode())
    handler = _answer(
        OK_HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body), body
    )
    obs = await _check(probe, handler, body_contains="điện tử")
    assert obs.status is Status.OK, obs


async def test_raw_deflate_body_is_decoded(probe: HttpProbe) -> None:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = packer.compress(b"deflated ok") + packer.flush()
    handler = _answer(
        OK_HEAD + b"Content-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(body), body
    )
    assert (await _check(probe, handler, body_contains="deflated ok")).ok


async def test_gzip_bomb_is_bounded(probe: HttpProbe) -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    handler = _answer(
        OK_HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb), bomb
    )
    obs = await _check(probe, handler, max_body_bytes=4096)
    assert obs.status is Status.OK, obs
    assert obs.values["bytes"] == 4096
    assert obs.values["body_truncated"] is True


async def test_corrupt_gzip(probe: HttpProbe) -> None:
    handler = _answer(OK_HEAD + b"Content-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip")
    obs = await _check(probe, handler)
    assert obs.status is Status.DOWN
    assert obs.reason == "broken body: bad gzip data"


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx",
            "invalid HTTP response: Content-Length",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid HTTP response: Content-Length"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "invalid HTTP response: header line"),
        (b"HTTP/2 200\r\n\r\n", "invalid HTTP response: status line"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Le",
            "invalid HTTP response: connection closed in the headers",
        ),
    ],
)
async def test_malformed_heads(probe: HttpProbe, head: bytes, reason: str) -> None:
    obs = await _check(probe, _answer(head))
    assert obs.status is Status.DOWN
    assert obs.reason.startswith(reason), obs.reason


async def test_relative_redirect_and_method_change(probe: HttpProbe) -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0])
        if head.startswith(b"POST /form"):
            writer.write(
                b"HTTP/1.1 303 See Other\r\nLocation: done?x=1\r\nContent-Length: 0\r\n\r\n"
            )
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with servers.raw_server(handle) as port:
        options = HttpOptions(
            url=f"http://127.0.0.1:{port}/form", method="POST", follow_redirects=True, timeout=2
        )
        obs = await probe.check(options)
    assert obs.status is Status.OK, obs
    assert obs.values["redirects"] == 1
    assert seen == [b"POST /form HTTP/1.1", b"GET /done?x=1 HTTP/1.1"]


async def test_request_carries_host_and_custom_headers(probe: HttpProbe) -> None:
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async with servers.raw_server(handle) as port:
        options = HttpOptions(
            url=f"http://localhost:{port}/p?q=1",
            headers={"Authorization": "Bearer t", "User-Agent": "probe-x"},
            server_name="portal.cantho.test",
            expect_status=[204],
            timeout=2,
        )
        assert (await probe.check(options)).ok
    lines = heads[0].decode().split("\r\n")
    assert lines[0] == "GET /p?q=1 HTTP/1.1"
    assert f"Host: portal.cantho.test:{port}" in lines
    assert "Authorization: Bearer t" in lines
    assert "User-Agent: probe-x" in lines
    assert "Connection: close" in lines
    assert sum(line.lower().startswith("user-agent") for line in lines) == 1


async def test_renewed_certificate_shows_at_once(probe: HttpProbe, pki: servers.TestPki) -> None:
    options = {"ca_file": str(pki.ca_file), "timeout": 2}
    handler = _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    async with servers.raw_server(handler, pki.server_context(pki.near_expiry)) as port:
        url = f"https://127.0.0.1:{port}/"
        before = await probe.check(HttpOptions.model_validate({"url": url, **options}))
    async with servers.raw_server(handler, pki.server_context(pki.valid), port=port):
        after = await probe.check(HttpOptions.model_validate({"url": url, **options}))
    assert before.status is Status.DEGRADED, before
    assert after.status is Status.OK, after
    days = after.values["cert_days_left"]
    assert isinstance(days, float)
    assert days > 300


async def _check_tls(
    probe: HttpProbe, pki: servers.TestPki, handler: servers.Handler, **options: object
) -> Observation:
    async with servers.raw_server(handler, pki.server_context(pki.valid)) as port:
        return await probe.check(
            HttpOptions.model_validate(
                {"url": f"https://127.0.0.1:{port}/", "timeout": 2, **options}
            )
        )


async def test_tls_to_a_plain_listener(probe: HttpProbe) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with servers.raw_server(plain) as port:
        obs = await probe.check(
            HttpOptions(url=f"https://127.0.0.1:{port}/", verify_tls=False, timeout=2)
        )
    assert obs.status is Status.DOWN
    assert obs.reason == "TLS: handshake failed (wrong version number)", obs.reason


async def test_tls_listener_hangs_up_in_the_handshake(probe: HttpProbe) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)

    async with servers.raw_server(hang_up) as port:
        obs = await probe.check(
            HttpOptions(url=f"https://127.0.0.1:{port}/", verify_tls=False, timeout=2)
        )
    assert obs.status is Status.DOWN
    assert obs.reason == "TLS: handshake failed (connection closed by the server)", obs.reason


async def test_tls_body_may_end_without_close_notify(
    probe: HttpProbe, pki: servers.TestPki
) -> None:
    async def abrupt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK_HEAD + b"\r\nall of it")
        await writer.drain()
        writer.transport.abort()

    obs = await _check_tls(probe, pki, abrupt, ca_file=str(pki.ca_file), body_contains="of it")
    assert obs.status is Status.OK, obs
    assert obs.values["bytes"] == 9


async def test_tls_ip_address_mismatch(probe: HttpProbe, pki: servers.TestPki) -> None:
    handler = _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    obs = await _check_tls(probe, pki, handler, ca_file=str(pki.ca_file), server_name="127.0.0.9")
    assert obs.status is Status.DOWN
    assert obs.reason == (
        "TLS: certificate verify failed "
        "(IP address mismatch, certificate is not valid for '127.0.0.9'.)"
    )


async def test_tls_unicode_server_name(probe: HttpProbe, pki: servers.TestPki) -> None:
    handler = _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    name = "cổngthôngtin.cantho.test"
    obs = await _check_tls(probe, pki, handler, ca_file=str(pki.ca_file), server_name=name)
    assert obs.status is Status.DOWN
    assert obs.reason == (
        "TLS: certificate verify failed "
        f"(Hostname mismatch, certificate is not valid for {name!r}.)"
    )


async def test_tls_system_store_is_the_one_python_uses(
    probe: HttpProbe, pki: servers.TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    # The context is cached per process; build it afresh under these variables.
    tls._cached_openssl_context.cache_clear()
    try:
        obs = await _check_tls(probe, pki, handler)
    finally:
        tls._cached_openssl_context.cache_clear()
    assert obs.status is Status.OK, obs
