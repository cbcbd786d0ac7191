"""smtp probe (options only; the check is being written)."""

from __future__ import annotations

from pydantic import Field

from probes.base import Observation, Probe, ProbeOptions


class SmtpOptions(ProbeOptions):
    """Read the banner, say EHLO and optionally STARTTLS."""

    host: str
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = True
    """Upgrade with STARTTLS and check the certificate."""
    verify_tls: bool = True
    ca_file: str | None = None
    cert_warn_days: int = Field(default=14, ge=0)


class SmtpProbe(Probe[SmtpOptions]):
    kind = "smtp"
    Options = SmtpOptions

    async def check(self, options: SmtpOptions) -> Observation:
        raise NotImplementedError
