"""tcp probe (options only; the check is being written)."""

from __future__ import annotations

from pydantic import Field

from probes.base import Observation, Probe, ProbeOptions


class TcpOptions(ProbeOptions):
    """Open a TCP connection and close it."""

    host: str
    port: int = Field(ge=1, le=65535)
    max_latency_ms: float | None = Field(default=None, gt=0)
    """Connect time above this makes the check DEGRADED."""


class TcpProbe(Probe[TcpOptions]):
    kind = "tcp"
    Options = TcpOptions

    async def check(self, options: TcpOptions) -> Observation:
        raise NotImplementedError
