"""The default sites.yaml: the real province, loaded and resolved."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

import sites
from sites import CheckSpec, ElementType, Inventory, Lifecycle, generate

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "sites.yaml"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return sites.load(DEFAULT, environ={})


def test_counts(inventory: Inventory) -> None:
    assert len(inventory.sites) == 103
    assert len(inventory.datacenters) == 3
    kinds = [s.kind for s in inventory.sites.values()]
    assert kinds.count("phường") == 31
    assert kinds.count("xã") == 72
    assert len(inventory.checks) >= 700
    assert sum(s.unchanged_by_merger for s in inventory.sites.values()) == 8
    assert {s.id for s in inventory.sites.values() if not s.name_verified} == {
        "tai-van",
        "lich-hoi-thuong",
        "tran-de",
    }


def test_every_site_has_two_vc_rooms_wan_portal_dns_mail(inventory: Inventory) -> None:
    for site_id in inventory.sites:
        roles = {c.role for c in inventory.checks_of(site_id)}
        assert {"wan", "lan", "vc_gov", "vc_party", "portal", "dns", "mail"} <= roles, site_id
        portal = inventory.checks[f"{site_id}.portal"].options
        assert portal.url == f"https://{site_id}.cantho.gov.vn/"  # type: ignore[attr-defined]
        dns = inventory.checks[f"{site_id}.dns"].options
        assert dns.name == f"{site_id}.cantho.gov.vn"  # type: ignore[attr-defined]


def test_diacritics_preserved(inventory: Inventory) -> None:
    names = {s.name for s in inventory.sites.values()}
    assert {"Ninh Kiều", "Ô Môn", "Vị Thanh 1", "Hồ Đắc Kiện", "Lịch Hội Thượng"} <= names
    assert all(unicodedata.is_normalized("NFC", n) for n in names)
    assert inventory.checks["o-mon.vc_party"].name == "Ô Môn — Phòng họp trực tuyến khối Đảng"
    assert inventory.sites["vi-thanh-1"].name == "Vị Thanh 1"
    assert inventory.province.name == "Thành phố Cần Thơ"


def test_sites_homed_on_their_former_province(inventory: Inventory) -> None:
    by_province = {dc.former_province: dc.id for dc in inventory.datacenters.values()}
    for site in inventory.sites.values():
        assert site.datacenter == by_province[site.former_province]
    assert inventory.sites["vi-thanh"].datacenter == "dc-haugiang"
    assert inventory.sites["soc-trang"].datacenter == "dc-soctrang"


def test_dependency_chains(inventory: Inventory) -> None:
    checks = inventory.checks
    assert checks["dc-haugiang.uplink"].depends_on == ()
    assert checks["dc-haugiang.uplink"].role == "uplink"
    assert checks["vi-thanh.wan"].depends_on == ("dc-haugiang.uplink",)
    for role in ("router", "lan", "vc_gov", "vc_party"):
        assert checks[f"vi-thanh.{role}"].depends_on == ("vi-thanh.wan",)
    # Served from the data centre, not through the commune's link.
    assert checks["vi-thanh.portal"].depends_on == ("cong-ttdt.web",)
    assert checks["vi-thanh.dns"].depends_on == ("ten-mien.ns1", "ten-mien.ns2")
    assert checks["qlvb.web"].depends_on == ("dc-haugiang.uplink", "sso.login")
    assert checks["sso.login"].depends_on == ("dc-cantho.uplink", "lgsp.api")
    for check in checks.values():
        for parent in check.depends_on:
            assert parent in checks


def _walk_up(checks: dict[str, CheckSpec], start: str) -> list[str]:
    chain, current = [start], start
    while checks[current].depends_on:
        current = checks[current].depends_on[0]
        chain.append(current)
    return chain


def test_vc_room_chain_reaches_the_data_centre(inventory: Inventory) -> None:
    chain = _walk_up(dict(inventory.checks), "ninh-kieu.vc_gov")
    assert chain == ["ninh-kieu.vc_gov", "ninh-kieu.wan", "dc-cantho.uplink"]


def test_defaults_applied(inventory: Inventory) -> None:
    wan = inventory.checks["ninh-kieu.wan"]
    assert (wan.interval, wan.retry_interval, wan.fail_after, wan.recover_after) == (30, 10, 3, 2)
    vc = inventory.checks["ninh-kieu.vc_gov"]
    assert vc.interval == 60
    assert inventory.checks["ninh-kieu.router"].options.community == "public"  # type: ignore[attr-defined]
    assert inventory.checks["ninh-kieu.portal"].options.timeout == 10


def test_snmp_community_from_environment() -> None:
    inv = sites.load(DEFAULT, environ={"THONGSUOT_SNMP_COMMUNITY": "s3cret"})
    assert inv.checks["ninh-kieu.router"].options.community == "s3cret"  # type: ignore[attr-defined]


def test_lifecycles(inventory: Inventory) -> None:
    assert inventory.checks["sso-haugiang.login"].lifecycle is Lifecycle.RETIRED
    assert not inventory.checks["sso-haugiang.login"].lifecycle.probed
    assert inventory.checks["cong-ttdt-soctrang.web"].lifecycle is Lifecycle.LOOKUP
    old = inventory.checks["ninh-kieu.old_portal-ninhkieu"]
    assert old.lifecycle is Lifecycle.LOOKUP
    assert old.options.url == "https://ninhkieu.cantho.gov.vn/"  # type: ignore[attr-defined]
    assert inventory.checks["ninh-kieu.wan"].lifecycle is Lifecycle.ACTIVE


def test_element_types(inventory: Inventory) -> None:
    assert inventory.checks["dc-cantho.uplink"].element_type is ElementType.DATACENTER
    assert inventory.checks["lgsp.api"].element_type is ElementType.SYSTEM
    spec = inventory.checks["o-mon.wan"]
    assert (spec.element_type, spec.site, spec.datacenter) == (
        ElementType.SITE,
        "o-mon",
        "dc-cantho",
    )
    assert inventory.element_type("o-mon") is ElementType.SITE


def test_cutovers(inventory: Inventory) -> None:
    merger = inventory.cutovers["sap-nhap-2025-07-01"]
    assert merger.budget == 0
    assert merger.window.start.utcoffset() is not None
    assert "KH 141/KH-UBND" in (merger.source or "")
    assert "lgsp.api" in inventory.cutover_checks["sap-nhap-2025-07-01"]
    vc = inventory.cutover_checks["hntt-xa-2025"]
    assert sum(c.endswith((".vc_gov", ".vc_party")) for c in vc) == 206
    assert len(inventory.cutover_checks["wan-xa-2025"]) == 103 + 6


def test_placeholder_addresses_only(inventory: Inventory) -> None:
    """Nothing in the default file points at a real network address."""
    import ipaddress

    documentation = [
        ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
    ]
    for check in inventory.checks.values():
        for key in ("host", "server"):
            value = getattr(check.options, key, None)
            if value is None:
                continue
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                assert value.endswith(".example"), (check.id, value)
            else:
                assert any(address in net for net in documentation), (check.id, value)
    assert inventory.warnings
    assert "103 sites" in inventory.warnings[0]
    assert "example: true" in inventory.warnings[0]


def test_generated_file_is_up_to_date() -> None:
    assert generate.render(generate.read_communes()) == DEFAULT.read_text(encoding="utf-8")


def test_generate_check_mode(tmp_path: Path) -> None:
    out = tmp_path / "sites.yaml"
    assert generate.main(["--out", str(out), "--check"]) == 1
    assert generate.main(["--out", str(out)]) == 0
    assert generate.main(["--out", str(out), "--check"]) == 0
    assert (
        sites.load(out, environ={}).checks.keys() == sites.load(DEFAULT, environ={}).checks.keys()
    )


def test_only_sites_keeps_data_centres_systems_and_the_chosen_sites(inventory: Inventory) -> None:
    small = inventory.only_sites(["ninh-kieu", "vi-thanh-1"])
    assert list(small.sites) == ["ninh-kieu", "vi-thanh-1"]
    assert small.datacenters.keys() == inventory.datacenters.keys()
    assert small.systems.keys() == inventory.systems.keys()
    assert {c.site for c in small.checks.values()} == {None, "ninh-kieu", "vi-thanh-1"}
    assert "ninh-kieu.vc_party" in small.checks
    for plan, ids in small.cutover_checks.items():
        assert set(ids) <= small.checks.keys()
        assert set(ids) == set(inventory.cutover_checks[plan]) & small.checks.keys()
