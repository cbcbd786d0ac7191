"""Protocol probes: one module per kind, collected in a registry keyed by kind."""

from __future__ import annotations

from probes.base import Observation, Probe, ProbeOptions, ProbeSetupError, Status, safe_text
from probes.dns import DnsProbe
from probes.http import HttpProbe
from probes.icmp import IcmpProbe
from probes.sip import SipProbe
from probes.smtp import SmtpProbe
from probes.snmp import SnmpProbe
from probes.tcp import TcpProbe

PROBES: dict[str, type[Probe[ProbeOptions]]] = {
    p.kind: p  # type: ignore[misc]
    for p in (IcmpProbe, TcpProbe, HttpProbe, DnsProbe, SmtpProbe, SnmpProbe, SipProbe)
}
"""Every probe kind, by the name used for ``kind:`` in sites.yaml."""

__all__ = [
    "PROBES",
    "Observation",
    "Probe",
    "ProbeOptions",
    "ProbeSetupError",
    "Status",
    "safe_text",
]
