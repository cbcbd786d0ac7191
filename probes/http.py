"""http probe (options only; the check is being written)."""

from __future__ import annotations

from pydantic import Field

from probes.base import Observation, Probe, ProbeOptions


class HttpOptions(ProbeOptions):
    """Fetch a URL over a new connection and judge status, body, latency and certificate."""

    url: str
    method: str = "GET"
    expect_status: list[int] = Field(default_factory=lambda: [200])
    """Status codes that count as up."""
    body_contains: str | None = None
    """Text the body must contain."""
    max_latency_ms: float | None = Field(default=None, gt=0)
    """A response slower than this makes the check DEGRADED."""
    follow_redirects: bool = False
    verify_tls: bool = True
    ca_file: str | None = None
    """PEM bundle of the CA that signed the server's certificate (a private CA)."""
    cert_warn_days: int = Field(default=14, ge=0)
    """A certificate expiring in fewer days makes the check DEGRADED."""


class HttpProbe(Probe[HttpOptions]):
    kind = "http"
    Options = HttpOptions

    async def check(self, options: HttpOptions) -> Observation:
        raise NotImplementedError
