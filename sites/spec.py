"""The resolved form of the inventory that the monitor consumes.

``sites.yaml`` is written for people (templates, defaults, element references); the
loader turns it into one flat, fully-resolved :class:`CheckSpec` per check, with every
default applied and every dependency expanded to check ids.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from probes.base import ProbeOptions


class Lifecycle(enum.StrEnum):
    """Where an element stands in the merger."""

    PLANNED = "planned"
    """Announced in a plan, not yet live: probed and shown, never alerted."""
    ACTIVE = "active"
    """In service: probed, alerted, counted."""
    LOOKUP = "kept-for-lookup"
    """Old domain or site kept read-only for look-up and data migration (seed 003 §II.3)."""
    RETIRED = "retired"
    """Closed (a defunct district office's WAN point): kept in the inventory, not probed."""

    @property
    def probed(self) -> bool:
        return self is not Lifecycle.RETIRED


class ElementType(enum.StrEnum):
    DATACENTER = "datacenter"
    SITE = "site"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check, fully resolved: what to probe, how often, and what it sits behind."""

    id: str
    """Globally unique: ``<element>.<check>``, e.g. ``ninh-kieu.wan``, ``dc-cantho.uplink``."""
    name: str
    """Human label with diacritics, e.g. "Ninh Kiều — Phòng họp trực tuyến khối Đảng"."""
    kind: str
    """Probe kind, a key of ``probes.PROBES``."""
    options: ProbeOptions
    """An instance of ``PROBES[kind].Options``: the probe's whole input."""
    element: str
    """Id of the data centre, site or system that owns the check."""
    element_type: ElementType
    datacenter: str | None
    """The data centre the element is homed on."""
    site: str | None
    """The site id when the element is a commune/ward site."""
    role: str | None
    """What the check watches for its element: ``uplink``, ``wan``, ``lan``, ``vc_gov``,
    ``vc_party``, ``portal``, ``dns``, ``mail``, ``web`` …; ``uplink`` and ``wan`` are gates
    that the element's other checks sit behind."""
    lifecycle: Lifecycle
    interval: float
    """Seconds between checks while the check is healthy."""
    retry_interval: float
    """Seconds between checks while a failure is being confirmed."""
    fail_after: int
    """Consecutive failed observations that make the check DOWN."""
    recover_after: int
    """Consecutive good observations that bring it back UP."""
    depends_on: tuple[str, ...] = ()
    """Ids of the checks this one sits behind (implicit and explicit, resolved)."""
