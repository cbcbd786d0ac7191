"""The smtp probe against real aiosmtpd servers (with and without STARTTLS) and hostile ones."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from probes.base import ProbeSetupError, Status
from probes.smtp import SmtpOptions, SmtpProbe
from tests.probes import servers

pytestmark = pytest.mark.timeout(30)

probe = SmtpProbe()


def _options(port: int, **extra: object) -> SmtpOptions:
    return SmtpOptions.model_validate({"host": "127.0.0.1", "port": port, "timeout": 3, **extra})


async def test_starttls_with_private_ca(smtpd_starttls: int, pki: servers.TestPki) -> None:
    obs = await probe.check(_options(smtpd_starttls, ca_file=str(pki.ca_file)))
    assert obs.status is Status.OK, obs
    assert obs.reason == "STARTTLS ok"
    assert obs.values["banner"] == "mail.cantho.test thongsuot test ESMTP"
    assert obs.values["starttls"] is True
    assert obs.values["tls"] is True
    extensions = obs.values["esmtp_extensions"]
    assert isinstance(extensions, int)
    assert extensions >= 3
    days = obs.values["cert_days_left"]
    assert isinstance(days, float)
    assert 364 <= days <= 365
    assert obs.latency_ms is not None


async def test_starttls_server_name(smtpd_starttls: int, pki: servers.TestPki) -> None:
    options = _options(smtpd_starttls, ca_file=str(pki.ca_file), server_name="mail.cantho.test")
    assert (await probe.check(options)).ok


async def test_starttls_without_ca_fails_verification(smtpd_starttls: int) -> None:
    obs = await probe.check(_options(smtpd_starttls))
    assert obs.status is Status.DOWN
    assert obs.reason == "TLS: certificate verify failed (unable to get local issuer certificate)"
    assert obs.values["starttls"] is True


async def test_starttls_wrong_name(smtpd_starttls: int, pki: servers.TestPki) -> None:
    options = _options(smtpd_starttls, ca_file=str(pki.ca_file), server_name="mail.hau-giang.test")
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason.startswith("TLS: certificate verify failed (Hostname mismatch")


async def test_starttls_unverified(smtpd_starttls: int) -> None:
    obs = await probe.check(_options(smtpd_starttls, verify_tls=False))
    assert obs.status is Status.OK, obs
    assert isinstance(obs.values["cert_days_left"], float)


async def test_starttls_near_expiry_is_degraded(
    smtpd_starttls_near_expiry: int, pki: servers.TestPki
) -> None:
    obs = await probe.check(_options(smtpd_starttls_near_expiry, ca_file=str(pki.ca_file)))
    assert obs.status is Status.DEGRADED, obs
    assert re.fullmatch(r"TLS: certificate expires in [45] days", obs.reason), obs.reason
    assert obs.latency_ms is not None


async def test_starttls_expired(smtpd_starttls_expired: int, pki: servers.TestPki) -> None:
    verified = await probe.check(_options(smtpd_starttls_expired, ca_file=str(pki.ca_file)))
    assert verified.status is Status.DOWN
    assert verified.reason == "TLS: certificate verify failed (certificate has expired)"
    unverified = await probe.check(_options(smtpd_starttls_expired, verify_tls=False))
    assert unverified.status is Status.DOWN
    assert unverified.reason == "TLS: certificate expired 1 day ago"


async def test_starttls_not_offered(smtpd_plain: int) -> None:
    obs = await probe.check(_options(smtpd_plain))
    assert obs.status is Status.DOWN
    assert obs.reason == "STARTTLS not offered"
    assert obs.values["starttls"] is False


async def test_plain_smtp(smtpd_plain: int) -> None:
    obs = await probe.check(_options(smtpd_plain, starttls=False))
    assert obs.status is Status.OK, obs
    assert obs.reason == "EHLO ok"
    assert "cert_days_left" not in obs.values


async def test_missing_ca_file(smtpd_starttls: int) -> None:
    with pytest.raises(ProbeSetupError, match="cannot read CA file"):
        await probe.check(_options(smtpd_starttls, ca_file="/nonexistent/ca.pem"))


async def test_connection_refused() -> None:
    obs = await probe.check(_options(servers.closed_port()))
    assert obs.status is Status.DOWN
    assert obs.reason == "connection refused"


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    with servers.unaccepting_port() as port:
        yield port


async def test_connect_timeout(unaccepting_port: int) -> None:
    obs = await probe.check(_options(unaccepting_port, timeout=0.3))
    assert obs.status is Status.DOWN
    assert obs.reason == "connect timeout after 300 ms"


def _scripted(banner: bytes, replies: dict[bytes, bytes] | None = None) -> servers.Handler:
    """A fake server: sends ``banner`` and answers each command from ``replies``."""
    script = {
        b"EHLO": b"250-mail.cantho.test\r\n250 8BITMIME\r\n",
        b"QUIT": b"221 bye\r\n",
        **(replies or {}),
    }

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        await writer.drain()
        while line := await reader.readline():
            verb = line.split()[0].upper() if line.split() else b""
            writer.write(script.get(verb, b"502 no\r\n"))
            await writer.drain()

    return handle


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    return


async def _huge_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    chunk = b"220 " + b"A" * (1 << 20)
    for _ in range(10):
        writer.write(chunk)
        await writer.drain()


async def _endless_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    chunk = "220-Cần Thơ\r\n".encode() * 10_000
    for _ in range(60):
        writer.write(chunk)
        await writer.drain()


@pytest.mark.parametrize(
    ("handler", "options", "status", "reason"),
    [
        (
            _scripted("554 5.3.2 Hệ thống bận, thử lại sau\r\n".encode()),
            {},
            Status.DOWN,
            "banner 554 5.3.2 Hệ thống bận, thử lại sau",
        ),
        (_silent, {"timeout": 0.3}, Status.DOWN, "no banner within 300 ms"),
        (_hang_up, {}, Status.DOWN, "connection closed during banner"),
        (_huge_line, {}, Status.DOWN, "banner reply line longer than 2048 bytes"),
        (_endless_lines, {}, Status.DOWN, "banner reply longer than 100 lines"),
        (
            _scripted(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
            {},
            Status.DOWN,
            "not an SMTP reply during banner: HTTP/1.1 400 Bad Request",
        ),
        (
            _scripted(b"220-one\r\n250 two\r\n"),
            {},
            Status.DOWN,
            "inconsistent multi-line reply during banner",
        ),
        (
            _scripted(b"220 ok\r\n", {b"EHLO": b"502 5.5.1 EHLO unsupported\r\n"}),
            {},
            Status.DOWN,
            "EHLO refused: 502 5.5.1 EHLO unsupported",
        ),
        (
            _scripted(
                b"220 ok\r\n",
                {
                    b"EHLO": b"250-mail\r\n250 STARTTLS\r\n",
                    b"STARTTLS": b"454 4.7.0 TLS not available\r\n",
                },
            ),
            {},
            Status.DOWN,
            "STARTTLS refused: 454 4.7.0 TLS not available",
        ),
        (
            _scripted(b"220 ok\r\n", {b"EHLO": b"250-mail\r\n250 STARTTLS\r\n", b"STARTTLS": b""}),
            {"timeout": 0.3},
            Status.DOWN,
            "no reply to STARTTLS within 300 ms",
        ),
        (
            _scripted(b"220 ok\r\n", {b"QUIT": b""}),
            {"starttls": False, "timeout": 1},
            Status.DOWN,
            "no reply to QUIT within 1.0 s",
        ),
    ],
)
async def test_hostile_and_broken_servers(
    handler: servers.Handler, options: dict[str, object], status: Status, reason: str
) -> None:
    async with servers.raw_server(handler) as port:
        obs = await probe.check(_options(port, **options))
    assert (obs.status, obs.reason) == (status, reason)


@pytest.mark.parametrize(
    ("banner", "shown"),
    [
        (b"220 \x00\xff\xfe binary\x1b[31m junk\r\n", "\ufffd\ufffd\ufffd binary\ufffd[31m junk"),
        (
            "220 <script>[bold red]Cần Thơ[/]</script>\r\n".encode(),
            "<script>[bold red]Cần Thơ[/]</script>",
        ),
        (b"220-first\r\n220-\xe2\x80\xae second\r\n220 third\r\n", "first \ufffd second third"),
    ],
)
async def test_strange_but_valid_banners(banner: bytes, shown: str) -> None:
    async with servers.raw_server(_scripted(banner)) as port:
        obs = await probe.check(_options(port, starttls=False))
    assert obs.status is Status.OK, obs
    assert obs.values["banner"] == shown
    assert obs.values["esmtp_extensions"] == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"host": "mail.cantho.test", "helo_name": "bad name\r\nRCPT TO:<x>"},
        {"host": "mail.cantho.test", "port": 0},
        {"host": "mail.cantho.test", "tls": True},
    ],
)
def test_invalid_options(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SmtpOptions.model_validate(bad)
