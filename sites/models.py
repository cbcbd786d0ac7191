"""Typed models of ``sites.yaml``.

Every model forbids unknown keys, so a typo is an error with a did-you-mean hint, and
every field's docstring documents the key. Checks are the exception: a check mixes the
common keys below with the options of its probe kind, which are validated afterwards
against ``probes.PROBES[kind].Options`` (the probe option classes are the schema).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sites.parsing import CHECK_ID, ELEMENT_ID, is_hostname, is_ip, parse_duration, slugify
from sites.schedule import cron_trigger
from sites.spec import Lifecycle

_NO_INTERRUPTION = {"no interruption", "không gián đoạn", "khong gian doan", "none"}


def _duration(value: object) -> float:
    return parse_duration(value)


def _budget(value: object) -> float:
    if isinstance(value, str) and value.strip().lower() in _NO_INTERRUPTION:
        return 0.0
    return parse_duration(value)


def _scalar_text(value: object) -> object:
    """Let ``port: 5060`` or ``ip: 10`` stand where text is expected (vars)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _hostname(value: str) -> str:
    if "://" in value or "/" in value:
        raise ValueError(f"{value!r} is a URL: give only the domain name")
    if not is_hostname(value) or is_ip(value):
        raise ValueError(f"{value!r} is not a valid domain name")
    return value


def _deadline(value: object) -> object:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
"""Seconds; written ``30``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``."""
PositiveDuration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
Budget = Annotated[float, BeforeValidator(_budget), Field(ge=0)]
"""Seconds of interruption allowed; ``0``/``"không gián đoạn"`` means none at all."""
ElementId = Annotated[str, Field(pattern=ELEMENT_ID.pattern, max_length=63)]
CheckId = Annotated[str, Field(pattern=CHECK_ID.pattern, max_length=63)]
Role = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Text = Annotated[str, Field(min_length=1)]
VarValue = Annotated[str, BeforeValidator(_scalar_text)]
Deadline = Annotated[dt.date | Text, BeforeValidator(_deadline)]
"""A date (``2025-06-30``) or a period as the plan words it (``"2025–2026"``, ``"Năm 2025"``)."""
Hostname = Annotated[str, AfterValidator(_hostname)]
"""A DNS name such as ``cantho.gov.vn``."""

SiteKind = Literal["phường", "xã"]
SystemCategory = Literal[
    "administration",
    "platform",
    "data",
    "portal",
    "application",
    "reporting",
    "call-centre",
    "mail",
    "video-conference",
    "security",
    "network",
    "dns",
    "monitoring",
    "other",
]


class Model(BaseModel):
    """Base of every inventory model: strict keys, immutable, documented fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Province(Model):
    """The province (or centrally-run city) the inventory describes."""

    name: Text
    """Official name with diacritics, e.g. "Thành phố Cần Thơ"."""
    domain: Hostname
    """Government domain; commune names live under it: ``<slug>.cantho.gov.vn``."""
    timezone: str = "Asia/Ho_Chi_Minh"
    """IANA zone for display, reports and recurring maintenance windows."""
    locale: Literal["vi", "en"] = "vi"
    """Language of the dashboard and reports."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Ho_Chi_Minh") from None
        return value


class KindDefaults(BaseModel):
    """Defaults for every check of one probe kind: timing keys plus that probe's options.

    Extra keys are the probe's options (``community``, ``timeout``, ``verify_tls`` …);
    the loader validates them against the probe's option class.
    """

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)

    interval: PositiveDuration | None = None
    """Seconds between checks while healthy."""
    retry_interval: PositiveDuration | None = None
    """Seconds between checks while a failure is being confirmed."""
    fail_after: int | None = Field(default=None, ge=1, le=100)
    """Consecutive failures that make a check DOWN."""
    recover_after: int | None = Field(default=None, ge=1, le=100)
    """Consecutive successes that bring it back UP."""


class Defaults(Model):
    """What every check gets unless it, its site's overrides or its kind say otherwise."""

    interval: PositiveDuration = 60.0
    """Seconds between checks while healthy."""
    retry_interval: PositiveDuration = 10.0
    """Seconds between checks while a failure is being confirmed."""
    fail_after: int = Field(default=3, ge=1, le=100)
    """Consecutive failed observations that make a check DOWN (one lost packet is not an
    outage)."""
    recover_after: int = Field(default=2, ge=1, le=100)
    """Consecutive good observations that bring a check back UP."""
    timeout: PositiveDuration | None = None
    """Probe deadline in seconds for every kind; unset keeps each probe's own default."""
    kinds: dict[str, KindDefaults] = Field(default_factory=dict)
    """Per-kind overrides, keyed by probe kind: ``icmp: {interval: 30s}``."""


class CheckConfig(BaseModel):
    """One check as written: the common keys below plus the options of its probe ``kind``.

    ``options:`` may hold the probe's options as a sub-mapping; it is needed only when an
    option has the name of a common key (the dns probe's ``name``, the name to look up).
    """

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)

    id: CheckId
    """Unique within its element; the global id is ``<element>.<id>``."""
    kind: str
    """Probe kind: icmp, tcp, http, dns, smtp, snmp, sip."""
    name: Text | None = None
    """Human label; the resolved name is "<element name> — <this>"."""
    role: Role | None = None
    """What the check watches: ``uplink`` and ``wan`` are gates the element's other checks
    sit behind; others (lan, vc_gov, vc_party, portal, dns, mail …) are labels."""
    interval: PositiveDuration | None = None
    """Seconds between checks while healthy."""
    retry_interval: PositiveDuration | None = None
    """Seconds between checks while a failure is being confirmed."""
    fail_after: int | None = Field(default=None, ge=1, le=100)
    """Consecutive failures that make the check DOWN."""
    recover_after: int | None = Field(default=None, ge=1, le=100)
    """Consecutive successes that bring it back UP."""
    depends_on: list[str] = Field(default_factory=list)
    """Extra parents: check ids (``lgsp.api``), checks of this element (``lan``) or element
    ids (their gate checks, or all their checks when they have no gate)."""
    behind_gate: bool = True
    """Sit behind the element's gate (wan/uplink). Set false for checks of things hosted
    elsewhere, e.g. a commune's portal served from the data centre."""
    lifecycle: Lifecycle | None = None
    """Defaults to the element's lifecycle."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Probe options as a sub-mapping (optional; see the class docstring)."""


class CheckOverride(BaseModel):
    """Changes to one templated check of one site: any common key but id/kind, or options."""

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)

    name: Text | None = None
    """Human label."""
    role: Role | None = None
    """See the check's ``role``."""
    interval: PositiveDuration | None = None
    """Seconds between checks while healthy."""
    retry_interval: PositiveDuration | None = None
    """Seconds between checks while a failure is being confirmed."""
    fail_after: int | None = Field(default=None, ge=1, le=100)
    """Consecutive failures that make the check DOWN."""
    recover_after: int | None = Field(default=None, ge=1, le=100)
    """Consecutive successes that bring it back UP."""
    depends_on: list[str] | None = None
    """Replaces the template's explicit ``depends_on``."""
    behind_gate: bool | None = None
    """See the check's ``behind_gate``."""
    lifecycle: Lifecycle | None = None
    """E.g. ``retired`` for a room that was never set up."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Probe options as a sub-mapping."""


class Datacenter(Model):
    """One of the data centres kept running after the merger (seed 000 §II.17)."""

    id: ElementId
    """Slug, e.g. ``dc-cantho``."""
    name: Text
    """E.g. "Trung tâm dữ liệu Hậu Giang"."""
    former_province: Text
    """The merged unit it served; sites of that unit are homed on it."""
    location: str = ""
    """Where it is, e.g. "Vị Thanh"."""
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    """Consolidation later retires some (000 §II.17)."""
    example: bool = False
    """True while the addresses are placeholders an operator must replace."""
    vars: dict[str, VarValue] = Field(default_factory=dict)
    """Values for ``{placeholders}`` in this element's checks."""
    checks: list[CheckConfig] = Field(default_factory=list)
    """Include one with role ``uplink``: every site and system homed here sits behind it."""
    notes: str | None = None
    """Free text for operators."""


class System(Model):
    """A shared platform from the plans (TTHC, QLVB, LGSP, SSO, mail, VC, DNS …)."""

    id: ElementId
    """Slug, e.g. ``lgsp``."""
    name: Text
    """Name as the plan words it."""
    category: SystemCategory = "other"
    """Kind of system, for grouping on the dashboard."""
    datacenter: str
    """Id of the data centre hosting it; its checks sit behind that DC's uplink."""
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    """``kept-for-lookup`` for an old province's portal kept read-only."""
    deadline: Deadline | None = None
    """Completion deadline from the plan: a date or a period like "2025–2026"."""
    source: str | None = None
    """Plan reference, e.g. "KH 141/KH-UBND §II.3"."""
    owner: str | None = None
    """Agency in charge, e.g. "Sở Khoa học và Công nghệ"."""
    depends_on: list[str] = Field(default_factory=list)
    """Elements or checks every check of this system sits behind (SSO behind LGSP)."""
    example: bool = False
    """True while the addresses are placeholders an operator must replace."""
    vars: dict[str, VarValue] = Field(default_factory=dict)
    """Values for ``{placeholders}`` in this element's checks."""
    checks: list[CheckConfig] = Field(default_factory=list)
    """How the system is watched."""
    notes: str | None = None
    """Free text for operators."""


class SiteTemplate(Model):
    """What every commune office gets (seed 003 §II): expanded once per site.

    Strings may use ``{placeholders}``: ``{id}``, ``{name}``, ``{kind}``,
    ``{former_province}``, ``{datacenter}``, ``{domain}``, ``{province}`` and every var.
    """

    vars: dict[str, VarValue] = Field(default_factory=dict)
    """Defaults for site vars (a site's own vars win); may use the element placeholders."""
    checks: list[CheckConfig] = Field(default_factory=list)
    """Checks of every site: WAN (role ``wan``), LAN, two VC rooms, portal, DNS, mail …"""
    old_domain_checks: list[CheckConfig] = Field(default_factory=list)
    """Checks made for each of a site's ``old_domains``; extra placeholders
    ``{old_domain}`` and ``{old_domain_id}``; lifecycle defaults to the old domain's."""
    example: bool = False
    """True while the template's vars are placeholders."""


class OldDomain(Model):
    """A domain of a defunct unit, kept for look-up and data migration (seed 003 §II.3)."""

    domain: Hostname
    """E.g. ``ninhkieu.cantho.gov.vn``."""
    former_unit: str | None = None
    """The unit it belonged to, e.g. "Quận Ninh Kiều"."""
    lifecycle: Lifecycle = Lifecycle.LOOKUP
    """``retired`` once it is switched off."""


def _old_domain(value: object) -> object:
    return {"domain": value} if isinstance(value, str) else value


class Site(Model):
    """A new commune-level unit's People's Committee office (one of the 103)."""

    id: ElementId
    """ASCII slug of the name ("Vị Thanh 1" -> ``vi-thanh-1``); derived when omitted."""
    name: Text
    """Official name with diacritics."""
    kind: SiteKind
    """``phường`` (ward) or ``xã`` (commune)."""
    former_province: Text
    """The merged unit it came from; decides its data centre."""
    datacenter: str | None = None
    """Data centre id; defaults to the one of its former province."""
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    """Lifecycle of the site and default of its checks."""
    unchanged_by_merger: bool = False
    """True for the units that kept their old boundaries."""
    name_verified: bool = True
    """False when the name could not be checked against a second source."""
    example: bool = False
    """True while vars hold placeholder addresses an operator must replace."""
    vars: dict[str, VarValue] = Field(default_factory=dict)
    """Addresses and other values for the template's placeholders (``wan_ip`` …)."""
    old_domains: list[Annotated[OldDomain, BeforeValidator(_old_domain)]] = Field(
        default_factory=list
    )
    """Domains of the defunct units it absorbed, kept for look-up."""
    checks: list[CheckConfig] = Field(default_factory=list)
    """Checks of this site only, added to the template's."""
    overrides: dict[str, CheckOverride] = Field(default_factory=dict)
    """Changes to templated checks, keyed by template check id: ``{vc_party: {port: 5061}}``."""
    notes: str | None = None
    """Free text for operators."""

    @model_validator(mode="before")
    @classmethod
    def _derive_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" not in data and isinstance(data.get("name"), str):
            return {"id": slugify(data["name"]), **data}
        return data


class Window(Model):
    """A span of time with explicit UTC offsets."""

    start: AwareDatetime
    """E.g. ``2025-06-24T00:00:00+07:00``."""
    end: AwareDatetime
    """After ``start``."""

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Cutover(Model):
    """A cutover plan: what must not be interrupted, when, and how much is tolerated."""

    id: ElementId
    """Slug, e.g. ``sap-nhap-2025-07-01``."""
    name: Text
    """What happens, as the plan says it."""
    description: str | None = None
    """Longer explanation."""
    systems: list[str] = Field(default_factory=list)
    """Ids of systems whose checks are held to the budget."""
    elements: list[str] = Field(default_factory=list)
    """Ids of any elements (sites, data centres, systems)."""
    checks: list[str] = Field(default_factory=list)
    """Check ids or patterns such as ``"*.vc_gov"``."""
    window: Window
    """When the budget applies."""
    deadline: Deadline | None = None
    """Completion deadline from the plan."""
    budget: Budget = 0.0
    """Total interruption allowed per check inside the window; 0 = "không gián đoạn"."""
    source: str | None = None
    """Plan reference, e.g. "KH 141/KH-UBND §I.2, §II.1"."""


class Maintenance(Model):
    """A planned maintenance window: one-off (start/end) or recurring (cron + duration)."""

    id: ElementId
    """Slug."""
    name: Text
    """What is done."""
    elements: list[str] = Field(min_length=1)
    """Element ids, check ids or patterns (``"*.router"``) covered by the window."""
    start: AwareDatetime | None = None
    """One-off window start."""
    end: AwareDatetime | None = None
    """One-off window end."""
    cron: str | None = None
    """Recurring start, standard cron ``minute hour day month weekday`` (Sunday = 0 or 7),
    in the province's time zone unless ``timezone`` is set."""
    duration: PositiveDuration | None = None
    """Length of each recurring window."""
    timezone: str | None = None
    """IANA zone for ``cron``."""
    reason: str | None = None
    """Free text shown on the dashboard."""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            cron_trigger(value, "UTC")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Maintenance:
        one_off = self.start is not None or self.end is not None
        recurring = self.cron is not None or self.duration is not None
        if one_off and recurring:
            raise ValueError("give either start/end (one-off) or cron/duration (recurring)")
        if one_off and (self.start is None or self.end is None):
            raise ValueError("a one-off window needs both start and end")
        if recurring and (self.cron is None or self.duration is None):
            raise ValueError("a recurring window needs both cron and duration")
        if not one_off and not recurring:
            raise ValueError("give start/end (one-off) or cron/duration (recurring)")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class SitesFile(Model):
    """The whole ``sites.yaml``."""

    version: Literal[1] = 1
    """Schema version of this file."""
    province: Province
    """The province described."""
    defaults: Defaults = Field(default_factory=Defaults)
    """Timing defaults and per-kind overrides."""
    datacenters: list[Datacenter] = Field(min_length=1)
    """The data centres."""
    systems: list[System] = Field(default_factory=list)
    """Shared systems and platforms."""
    site_template: SiteTemplate = Field(default_factory=SiteTemplate)
    """What every site gets."""
    sites: list[Site] = Field(default_factory=list)
    """Commune and ward offices."""
    cutovers: list[Cutover] = Field(default_factory=list)
    """Cutover plans with interruption budgets."""
    maintenance: list[Maintenance] = Field(default_factory=list)
    """Planned maintenance windows."""
