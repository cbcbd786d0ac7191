"""snmp probe (options only; the check is being written)."""

from __future__ import annotations

from pydantic import Field

from probes.base import Observation, Probe, ProbeOptions


class SnmpOptions(ProbeOptions):
    """Read system facts and interface states from an SNMP agent."""

    host: str
    port: int = Field(default=161, ge=1, le=65535)
    version: str = "2c"
    """``2c`` or ``3``."""
    community: str = "public"
    """v2c community; write ``${NAME}`` to take it from the environment."""
    interfaces: list[str] = Field(default_factory=list)
    """Interface names (ifDescr) that must be up."""


class SnmpProbe(Probe[SnmpOptions]):
    kind = "snmp"
    Options = SnmpOptions

    async def check(self, options: SnmpOptions) -> Observation:
        raise NotImplementedError
