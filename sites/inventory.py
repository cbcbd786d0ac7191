"""The loaded inventory: the models as written plus the flat, resolved checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from sites.models import (
    Cutover,
    Datacenter,
    Defaults,
    Maintenance,
    Province,
    Site,
    SitesFile,
    SiteTemplate,
    System,
)
from sites.spec import CheckSpec, ElementType

Element = Datacenter | System | Site


@dataclass(frozen=True)
class Inventory:
    """Everything in ``sites.yaml``, validated and resolved.

    ``config`` is the file as written (typed); ``checks`` is what the monitor runs: one
    :class:`CheckSpec` per check in file order, with defaults applied, templates expanded
    and dependencies resolved to check ids.
    """

    path: str
    """The file it was loaded from, as given."""
    config: SitesFile
    checks: Mapping[str, CheckSpec]
    """Every check by id, in file order (data centres, systems, sites)."""
    cutover_checks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Cutover id -> ids of the checks held to its budget."""
    maintenance_checks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Maintenance window id -> ids of the checks it covers."""
    warnings: tuple[str, ...] = ()
    """Things to fix before production that do not stop the monitor."""

    def only_sites(self, keep: Iterable[str]) -> Inventory:
        """This inventory with only the sites in ``keep`` (data centres and systems stay)."""
        kept = set(keep)
        checks = {k: c for k, c in self.checks.items() if c.site is None or c.site in kept}
        return replace(
            self,
            config=self.config.model_copy(
                update={"sites": [s for s in self.config.sites if s.id in kept]}
            ),
            checks=checks,
            cutover_checks={
                plan: tuple(c for c in ids if c in checks)
                for plan, ids in self.cutover_checks.items()
            },
            maintenance_checks={
                window: tuple(c for c in ids if c in checks)
                for window, ids in self.maintenance_checks.items()
            },
        )

    @property
    def province(self) -> Province:
        return self.config.province

    @property
    def defaults(self) -> Defaults:
        return self.config.defaults

    @property
    def site_template(self) -> SiteTemplate:
        return self.config.site_template

    @property
    def datacenters(self) -> dict[str, Datacenter]:
        return {dc.id: dc for dc in self.config.datacenters}

    @property
    def systems(self) -> dict[str, System]:
        return {s.id: s for s in self.config.systems}

    @property
    def sites(self) -> dict[str, Site]:
        return {s.id: s for s in self.config.sites}

    @property
    def cutovers(self) -> dict[str, Cutover]:
        return {c.id: c for c in self.config.cutovers}

    @property
    def maintenance(self) -> dict[str, Maintenance]:
        return {m.id: m for m in self.config.maintenance}

    def element(self, element_id: str) -> Element:
        """The data centre, system or site with this id (KeyError if none)."""
        for group in (self.config.datacenters, self.config.systems, self.config.sites):
            for item in group:
                if item.id == element_id:
                    return item
        raise KeyError(element_id)

    def element_type(self, element_id: str) -> ElementType:
        """Whether an id names a data centre, a system or a site."""
        item = self.element(element_id)
        if isinstance(item, Datacenter):
            return ElementType.DATACENTER
        if isinstance(item, System):
            return ElementType.SYSTEM
        return ElementType.SITE

    def checks_of(self, element_id: str) -> list[CheckSpec]:
        """The checks of one element, in order."""
        return [c for c in self.checks.values() if c.element == element_id]

    def datacenter_of(self, element_id: str) -> str | None:
        """The data centre an element is homed on."""
        for check in self.checks.values():
            if check.element == element_id:
                return check.datacenter
        item = self.element(element_id)
        if isinstance(item, Datacenter):
            return item.id
        return item.datacenter
