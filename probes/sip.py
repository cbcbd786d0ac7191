"""sip probe (options only; the check is being written)."""

from __future__ import annotations

from pydantic import Field

from probes.base import Observation, Probe, ProbeOptions


class SipOptions(ProbeOptions):
    """Send a SIP OPTIONS request to a video-conference server."""

    host: str
    port: int = Field(default=5060, ge=1, le=65535)
    transport: str = "udp"
    """``udp`` or ``tcp``."""
    expect_status: list[int] = Field(default_factory=lambda: [200])


class SipProbe(Probe[SipOptions]):
    kind = "sip"
    Options = SipOptions

    async def check(self, options: SipOptions) -> Observation:
        raise NotImplementedError
