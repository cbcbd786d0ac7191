"""dns probe (options only; the check is being written)."""

from __future__ import annotations

from pydantic import Field

from probes.base import Observation, Probe, ProbeOptions


class DnsOptions(ProbeOptions):
    """Ask a DNS server for a record and compare the answer."""

    server: str
    """Address of the server to ask."""
    port: int = Field(default=53, ge=1, le=65535)
    name: str
    """Name to look up, e.g. ``ninh-kieu.cantho.gov.vn``."""
    type: str = "A"
    """Record type: A, AAAA, MX, CNAME, NS, TXT, SOA."""
    expect: list[str] = Field(default_factory=list)
    """Answers that must be present (empty: any answer will do)."""
    expect_rcode: str = "NOERROR"


class DnsProbe(Probe[DnsOptions]):
    kind = "dns"
    Options = DnsOptions

    async def check(self, options: DnsOptions) -> Observation:
        raise NotImplementedError
