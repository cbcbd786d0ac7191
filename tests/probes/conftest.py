"""Fixtures that start real servers for the probe tests (see ``servers.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.probes import servers


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> servers.TestPki:
    """A private CA with valid, near-expiry and expired server certificates."""
    return servers.make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def nginx(
    tmp_path_factory: pytest.TempPathFactory, pki: servers.TestPki
) -> Iterator[servers.Nginx]:
    """A real nginx serving /ok, /status/503, /redirect, /loop, /json, /big over HTTP(S)."""
    binary = _binary("nginx")
    with servers.run_nginx(binary, tmp_path_factory.mktemp("nginx"), pki) as running:
        yield running


@pytest.fixture(scope="session")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Port of a real dnsmasq on 127.0.0.1 serving the ``cantho.test`` test zone."""
    binary = _binary("dnsmasq")
    root: Path = tmp_path_factory.mktemp("dnsmasq")
    with servers.run_dnsmasq(binary, root) as port:
        yield port


@pytest.fixture(scope="session")
def smtpd_starttls(pki: servers.TestPki) -> Iterator[int]:
    """Port of an aiosmtpd server offering STARTTLS with the valid test certificate."""
    with servers.run_smtpd(pki.server_context(pki.valid)) as port:
        yield port


@pytest.fixture(scope="session")
def smtpd_starttls_near_expiry(pki: servers.TestPki) -> Iterator[int]:
    """Port of an aiosmtpd server whose STARTTLS certificate expires in 5 days."""
    with servers.run_smtpd(pki.server_context(pki.near_expiry)) as port:
        yield port


@pytest.fixture(scope="session")
def smtpd_starttls_expired(pki: servers.TestPki) -> Iterator[int]:
    """Port of an aiosmtpd server whose STARTTLS certificate expired yesterday."""
    with servers.run_smtpd(pki.server_context(pki.expired)) as port:
        yield port


@pytest.fixture(scope="session")
def smtpd_plain() -> Iterator[int]:
    """Port of an aiosmtpd server that does not offer STARTTLS."""
    with servers.run_smtpd(None) as port:
        yield port
