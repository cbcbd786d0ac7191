"""Loader behaviour on small inline inventories: templates, overrides, dependencies."""

from __future__ import annotations

import textwrap

import pytest

import sites
from sites import ConfigError, Inventory, Lifecycle

BASE = """\
province: {name: Thành phố Thử, domain: thu.gov.vn}
defaults:
  interval: 1m
  kinds:
    icmp: {interval: 30s}
datacenters:
  - id: dc-a
    name: Trung tâm A
    former_province: Tỉnh A
    location: A
    checks:
      - {id: uplink, kind: icmp, role: uplink, host: 192.0.2.1}
      - {id: edge, kind: snmp, host: 192.0.2.1, community: "${TS_COMMUNITY:-public}"}
  - id: dc-b
    name: Trung tâm B
    former_province: Tỉnh B
    location: B
    checks: [{id: uplink, kind: icmp, role: uplink, host: 192.0.2.2}]
site_template:
  vars: {vc_port: 5060}
  checks:
    - {id: wan, kind: icmp, role: wan, host: "{wan_ip}"}
    - {id: vc_gov, kind: sip, role: vc_gov, host: "vc-gov.{id}.example", port: "{vc_port}"}
    - {id: portal, kind: http, url: "https://{id}.{domain}/", behind_gate: false}
  old_domain_checks:
    - {id: old, kind: http, url: "https://{old_domain}/"}
"""


def load(extra: str, environ: dict[str, str] | None = None) -> Inventory:
    return sites.loads(BASE + textwrap.dedent(extra), environ=environ or {})


def problems(extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(extra)
    return str(caught.value)


SITE = """\
sites:
  - name: An Bình
    kind: phường
    former_province: Tỉnh B
    vars: {wan_ip: 198.51.100.1}
"""


def test_site_id_derived_and_homed_by_province() -> None:
    inv = load(SITE)
    site = inv.sites["an-binh"]
    assert site.datacenter is None
    assert inv.checks["an-binh.wan"].datacenter == "dc-b"
    assert inv.checks["an-binh.wan"].depends_on == ("dc-b.uplink",)
    assert inv.checks["an-binh.vc_gov"].depends_on == ("an-binh.wan",)
    assert inv.checks["an-binh.portal"].depends_on == ()
    assert inv.checks["an-binh.vc_gov"].options.port == 5060  # type: ignore[attr-defined]
    assert inv.checks["an-binh.wan"].interval == 30
    assert inv.checks["an-binh.portal"].interval == 60
    assert inv.checks["dc-a.edge"].depends_on == ("dc-a.uplink",)


def test_environment_defaults_and_values() -> None:
    assert load(SITE).checks["dc-a.edge"].options.community == "public"  # type: ignore[attr-defined]
    inv = load(SITE, {"TS_COMMUNITY": "c0mm"})
    assert inv.checks["dc-a.edge"].options.community == "c0mm"  # type: ignore[attr-defined]


def test_overrides_and_extra_checks() -> None:
    inv = load(
        SITE
        + """\
    overrides:
      vc_gov: {port: 5061, interval: 2m, lifecycle: planned}
      portal: {url: "https://an-binh.example/"}
    checks:
      - {id: camera, kind: tcp, host: 192.0.2.9, port: 554, depends_on: [vc_gov]}
    old_domains: [anbinh.old.gov.vn]
"""
    )
    vc = inv.checks["an-binh.vc_gov"]
    assert vc.options.port == 5061  # type: ignore[attr-defined]
    assert vc.interval == 120
    assert vc.lifecycle is Lifecycle.PLANNED
    assert inv.checks["an-binh.portal"].options.url == "https://an-binh.example/"  # type: ignore[attr-defined]
    assert inv.checks["an-binh.camera"].depends_on == ("an-binh.wan", "an-binh.vc_gov")
    old = inv.checks["an-binh.old-anbinh"]
    assert old.lifecycle is Lifecycle.LOOKUP
    assert old.options.url == "https://anbinh.old.gov.vn/"  # type: ignore[attr-defined]


def test_retired_site_keeps_its_checks() -> None:
    inv = load(SITE.replace("kind: phường", "kind: phường\n    lifecycle: retired"))
    assert {c.lifecycle for c in inv.checks_of("an-binh")} == {Lifecycle.RETIRED}
    assert len(inv.checks_of("an-binh")) == 3


def test_element_dependencies_use_gates_or_all_checks() -> None:
    inv = load(
        """\
systems:
  - id: lgsp
    name: LGSP
    category: platform
    datacenter: dc-a
    checks:
      - {id: api, kind: http, url: "https://lgsp.thu.example/"}
      - {id: db, kind: tcp, host: lgsp.thu.example, port: 5432}
  - id: sso
    name: SSO
    category: platform
    datacenter: dc-a
    depends_on: [lgsp]
    checks:
      - {id: login, kind: http, url: "https://sso.thu.example/", depends_on: [dc-b, lgsp.db]}
"""
    )
    assert inv.checks["sso.login"].depends_on == (
        "dc-a.uplink",
        "dc-b.uplink",
        "lgsp.db",
        "lgsp.api",
    )


def test_options_sub_mapping_and_durations() -> None:
    inv = load(
        """\
systems:
  - id: dns
    name: DNS
    category: dns
    datacenter: dc-a
    checks:
      - id: ns1
        kind: dns
        name: Máy chủ tên miền
        server: 203.0.113.53
        timeout: 1500ms
        options: {name: thu.gov.vn, type: SOA}
"""
    )
    check = inv.checks["dns.ns1"]
    assert check.name == "DNS — Máy chủ tên miền"
    assert check.options.name == "thu.gov.vn"  # type: ignore[attr-defined]
    assert check.options.timeout == 1.5


def test_option_given_twice() -> None:
    text = problems(
        """\
systems:
  - id: web
    name: Web
    category: portal
    datacenter: dc-a
    checks:
      - {id: w, kind: http, url: "https://a.example/", options: {url: "https://b.example/"}}
"""
    )
    assert "option 'url' is given twice" in text


def test_cutover_and_maintenance_resolution() -> None:
    inv = load(
        SITE
        + """\
cutovers:
  - id: sap-nhap
    name: Sáp nhập
    elements: [dc-a]
    checks: ["*.vc_gov"]
    window: {start: 2025-06-24T00:00:00+07:00, end: 2025-07-15T00:00:00+07:00}
    deadline: 2025-06-30
    budget: không gián đoạn
  - id: later
    name: Sau
    elements: [an-binh]
    window: {start: 2026-01-01T00:00:00Z, end: 2026-02-01T00:00:00Z}
    deadline: 2025–2026
    budget: 4h
maintenance:
  - {id: weekly, name: Tuần, elements: ["*.wan"], cron: "0 1 * * 0", duration: 2h}
  - id: once
    name: Một lần
    elements: [dc-b.uplink]
    start: 2025-08-01T22:00:00+07:00
    end: 2025-08-02T02:00:00+07:00
"""
    )
    assert inv.cutover_checks["sap-nhap"] == ("dc-a.uplink", "dc-a.edge", "an-binh.vc_gov")
    merger = inv.cutovers["sap-nhap"]
    assert merger.budget == 0
    assert str(merger.deadline) == "2025-06-30"
    assert inv.cutovers["later"].deadline == "2025–2026"
    assert inv.cutovers["later"].budget == 4 * 3600
    assert inv.maintenance_checks == {"weekly": ("an-binh.wan",), "once": ("dc-b.uplink",)}
    assert inv.maintenance["weekly"].duration == 7200


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("cron: '0 1 * * 0'", "needs both cron and duration"),
        ("start: 2025-08-01T22:00:00+07:00", "needs both start and end"),
        ("cron: '0 1 * * 0', duration: 1h, start: 2025-08-01T22:00:00+07:00", "either"),
        ("reason: nothing", "give start/end"),
        (
            "start: 2025-08-02T22:00:00+07:00, end: 2025-08-01T22:00:00+07:00",
            "end must be after start",
        ),
    ],
)
def test_maintenance_forms(window: str, message: str) -> None:
    text = problems(f"maintenance:\n  - {{id: m, name: M, elements: [dc-a], {window}}}\n")
    assert message in text
    assert "maintenance[0]" in text


def test_template_check_redefined_by_site() -> None:
    text = problems(SITE + "    checks: [{id: wan, kind: icmp, host: 192.0.2.7}]\n")
    assert "check 'wan' is already defined by the site template" in text
    assert "overrides: {wan: …}" in text


def test_ambiguous_reference() -> None:
    text = problems(
        """\
systems:
  - id: uplink
    name: Ambiguous
    category: network
    datacenter: dc-a
    checks: [{id: ping, kind: icmp, host: 192.0.2.50}]
  - id: other
    name: Other
    category: network
    datacenter: dc-a
    checks:
      - {id: uplink, kind: icmp, host: 192.0.2.51}
      - {id: x, kind: icmp, host: 192.0.2.52, depends_on: [uplink]}
"""
    )
    assert "'uplink' is both a check of other and an element id" in text


def test_self_cycle_through_local_check() -> None:
    text = problems(
        """\
systems:
  - id: s
    name: S
    category: platform
    datacenter: dc-a
    checks:
      - {id: a, kind: icmp, host: 192.0.2.60, depends_on: [b]}
      - {id: b, kind: icmp, host: 192.0.2.61, depends_on: [a]}
"""
    )
    assert "dependency cycle: s.a → s.b → s.a" in text


def test_warnings_for_missing_gates() -> None:
    inv = sites.loads(
        """\
province: {name: X, domain: x.gov.vn}
datacenters:
  - {id: dc, name: DC, former_province: X, location: X, example: true,
     checks: [{id: ping, kind: icmp, host: 192.0.2.1}]}
sites:
  - {id: a, name: A, kind: xã, former_province: X,
     checks: [{id: lan, kind: icmp, host: 192.0.2.2}]}
""",
        environ={},
    )
    joined = "\n".join(inv.warnings)
    assert "1 data centres use example addresses" in joined
    assert "dc has no check with role 'uplink'" in joined
    assert "1 sites have no check with role 'wan'" in joined
    assert inv.checks["a.lan"].depends_on == ()


def test_public_api() -> None:
    for name in (
        "load",
        "Inventory",
        "ConfigError",
        "Problem",
        "CheckSpec",
        "Lifecycle",
        "ElementType",
        "inventory_rows",
        "render_table",
        "render_csv",
        "render_json",
    ):
        assert hasattr(sites, name), name
