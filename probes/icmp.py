"""icmp probe (options only; the check is being written)."""

from __future__ import annotations

from pydantic import Field

from probes.base import Observation, Probe, ProbeOptions


class IcmpOptions(ProbeOptions):
    """Ping a host: round-trip time, loss and jitter over a few echo requests."""

    host: str
    """Address or name to ping."""
    count: int = Field(default=3, ge=1, le=100)
    """Echo requests per check."""
    packet_interval: float = Field(default=0.2, ge=0.0, le=10)
    """Seconds between echo requests of one check."""
    timeout: float = Field(default=2.0, gt=0, le=60)
    """Seconds to wait for each reply."""
    max_loss_pct: float = Field(default=0.0, ge=0, le=100)
    """Loss above this (but below 100 %) makes the check DEGRADED."""
    max_rtt_ms: float | None = Field(default=None, gt=0)
    """Average RTT above this makes the check DEGRADED."""


class IcmpProbe(Probe[IcmpOptions]):
    kind = "icmp"
    Options = IcmpOptions

    async def check(self, options: IcmpOptions) -> Observation:
        raise NotImplementedError
