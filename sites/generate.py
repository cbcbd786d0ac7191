"""Generate the default ``sites.yaml`` for the real province from the commune list.

    python -m sites.generate              # writes ./sites.yaml
    python -m sites.generate --check      # exit 1 if ./sites.yaml is not what would be written

The communes come from ``sites/data/can-tho-communes.csv``; the data centres, shared
systems and cutover plans from the provincial plans (KH 141/KH-UBND of Cần Thơ, and the
commune-level model of KH 2495/KH-UBND). Addresses are placeholders: the real addresses of
the government WAN are not public, so every element is marked ``example: true`` and uses
only the reserved ``.example`` TLD and the RFC 5737 documentation ranges.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sites.parsing import slugify

_PLAIN = re.compile(r"^[^\W\d_][\w .()–'/-]*$")
_SPECIAL = {"yes", "no", "true", "false", "on", "off", "null", "y", "n", "~"}


def _q(text: str) -> str:
    """A YAML scalar: plain when unambiguous, else double-quoted (JSON is valid YAML)."""
    if _PLAIN.match(text) and text.lower() not in _SPECIAL and not text.endswith((" ", ":")):
        return text
    return json.dumps(text, ensure_ascii=False)


CSV_PATH = Path(__file__).parent / "data" / "can-tho-communes.csv"
DEFAULT_OUT = Path("sites.yaml")

DATACENTERS = (
    ("dc-cantho", "Trung tâm dữ liệu Cần Thơ", "Cần Thơ", "Ninh Kiều, Cần Thơ", 1),
    ("dc-haugiang", "Trung tâm dữ liệu Hậu Giang", "Hậu Giang", "Vị Thanh", 2),
    ("dc-soctrang", "Trung tâm dữ liệu Sóc Trăng", "Sóc Trăng", "Sóc Trăng", 3),
)
"""(id, name, former province, location, last octet of the example edge address)."""

PLAN = "KH 141/KH-UBND"
BT_PLAN = "KH 2495/KH-UBND (Bình Thuận, mô hình cấp xã)"
SKHCN = "Sở Khoa học và Công nghệ"
VP = "Văn phòng UBND thành phố"


@dataclass(frozen=True)
class SystemDef:
    id: str
    name: str
    category: str
    datacenter: str
    deadline: str
    source: str
    owner: str
    checks: tuple[str, ...]
    lifecycle: str = "active"
    depends_on: tuple[str, ...] = ()
    notes: str = ""


def _http(url: str, check_id: str = "web", name: str = "Trang web", extra: str = "") -> str:
    return f"{{id: {check_id}, kind: http, name: {_q(name)}, url: {_q(url)}{extra}}}"


SYSTEMS: tuple[SystemDef, ...] = (
    SystemDef(
        "tthc",
        "Hệ thống thông tin giải quyết thủ tục hành chính (Cổng dịch vụ công)",
        "administration",
        "dc-cantho",
        "2025-06-30",
        f"{PLAN} §II.1",
        SKHCN,
        (_http("https://dichvucong.cantho.example/"),),
    ),
    SystemDef(
        "qlvb",
        "Hệ thống quản lý văn bản và điều hành",
        "administration",
        "dc-haugiang",
        "2025-06-30",
        f"{PLAN} §II.2",
        SKHCN,
        (_http("https://qlvb.cantho.example/"),),
        depends_on=("sso",),
        notes="Mở rộng hệ thống của tỉnh Hậu Giang cho toàn thành phố.",
    ),
    SystemDef(
        "lgsp",
        "Nền tảng tích hợp, chia sẻ dữ liệu dùng chung (LGSP)",
        "platform",
        "dc-cantho",
        "2025-06-30",
        f"{PLAN} §II.3",
        SKHCN,
        (_http("https://lgsp.cantho.example/health", "api", "API"),),
    ),
    SystemDef(
        "sso",
        "Nền tảng xác thực tập trung (SSO)",
        "platform",
        "dc-cantho",
        "2025-06-30",
        f"{PLAN} §II.4",
        SKHCN,
        (_http("https://sso.cantho.example/", "login", "Trang đăng nhập"),),
        depends_on=("lgsp",),
        notes="Tích hợp trên LGSP; dữ liệu SSO Hậu Giang, Sóc Trăng chuyển về trước sáp nhập.",
    ),
    SystemDef(
        "sso-haugiang",
        "Nền tảng SSO tỉnh Hậu Giang (cũ)",
        "platform",
        "dc-haugiang",
        "2025-06-30",
        f"{PLAN} §II.4",
        SKHCN,
        (_http("https://sso.haugiang.example/", "login", "Trang đăng nhập"),),
        lifecycle="retired",
        notes="Dữ liệu đã chuyển sang SSO thành phố.",
    ),
    SystemDef(
        "sso-soctrang",
        "Nền tảng SSO tỉnh Sóc Trăng (cũ)",
        "platform",
        "dc-soctrang",
        "2025-06-30",
        f"{PLAN} §II.4",
        SKHCN,
        (_http("https://sso.soctrang.example/", "login", "Trang đăng nhập"),),
        lifecycle="retired",
        notes="Dữ liệu đã chuyển sang SSO thành phố.",
    ),
    *(
        SystemDef(
            f"kho-du-lieu-{dc.removeprefix('dc-')}",
            f"Kho dữ liệu dùng chung {prov}",
            "data",
            dc,
            "2025–2026",
            f"{PLAN} §II.5",
            SKHCN,
            (_http(f"https://khodulieu.{dc.removeprefix('dc-')}.example/", "api", "API"),),
            notes="Giữ nguyên hiện trạng; phương án hợp nhất sau sáp nhập.",
        )
        for dc, _, prov, _, _ in DATACENTERS
    ),
    SystemDef(
        "spp",
        "Nền tảng quy hoạch không gian (SPP)",
        "platform",
        "dc-cantho",
        "2025–2026",
        f"{PLAN} §II.6",
        SKHCN,
        (_http("https://spp.cantho.example/"),),
    ),
    SystemDef(
        "cong-du-lieu",
        "Cổng dữ liệu thành phố Cần Thơ",
        "data",
        "dc-cantho",
        "2025-06-30",
        f"{PLAN} §II.7",
        SKHCN,
        (_http("https://data.cantho.example/"),),
    ),
    SystemDef(
        "can-tho-smart",
        "Ứng dụng di động Can Tho Smart (máy chủ API)",
        "application",
        "dc-cantho",
        "2025-06-30",
        f"{PLAN} §II.8",
        SKHCN,
        (_http("https://smart.cantho.example/api/health", "api", "API"),),
    ),
    *(
        SystemDef(
            f"ioc-{dc.removeprefix('dc-')}",
            f"Trung tâm giám sát, điều hành thông minh (IOC) {prov}",
            "monitoring",
            dc,
            "2025–2026",
            f"{PLAN} §II.9",
            SKHCN,
            (_http(f"https://ioc.{dc.removeprefix('dc-')}.example/"),),
            notes="Giữ nguyên hiện trạng thời gian đầu; sau đó hợp nhất một hệ thống.",
        )
        for dc, _, prov, _, _ in DATACENTERS
    ),
    SystemDef(
        "cong-ttdt",
        "Cổng thông tin điện tử thành phố (cổng chính)",
        "portal",
        "dc-cantho",
        "2025-06-30",
        f"{PLAN} §II.10",
        VP,
        (_http("https://cantho.gov.vn/"),),
        notes="Cổng thành phần của từng xã, phường: xem site_template (check portal).",
    ),
    SystemDef(
        "cong-ttdt-haugiang",
        "Cổng thông tin điện tử tỉnh Hậu Giang (cũ)",
        "portal",
        "dc-haugiang",
        "2025-06-30",
        f"{PLAN} §II.10; {BT_PLAN} §II.7",
        VP,
        (_http("https://haugiang.gov.vn/", extra=", expect_status: [200, 301, 302]"),),
        lifecycle="kept-for-lookup",
        notes="Giữ để tra cứu, chuyển đổi dữ liệu.",
    ),
    SystemDef(
        "cong-ttdt-soctrang",
        "Cổng thông tin điện tử tỉnh Sóc Trăng (cũ)",
        "portal",
        "dc-soctrang",
        "2025-06-30",
        f"{PLAN} §II.10; {BT_PLAN} §II.7",
        VP,
        (_http("https://soctrang.gov.vn/", extra=", expect_status: [200, 301, 302]"),),
        lifecycle="kept-for-lookup",
        notes="Giữ để tra cứu, chuyển đổi dữ liệu.",
    ),
    SystemDef(
        "bao-cao",
        "Hệ thống thông tin báo cáo",
        "reporting",
        "dc-cantho",
        "Năm 2025",
        f"{PLAN} §II.11",
        VP,
        (_http("https://baocao.cantho.example/"),),
    ),
    SystemDef(
        "tong-dai-1022",
        "Tổng đài dịch vụ công 1022",
        "call-centre",
        "dc-cantho",
        "2025-06-30",
        f"{PLAN} §II.12",
        VP,
        (
            "{id: sip, kind: sip, name: Tổng đài (SIP), host: 1022.cantho.example}",
            _http("https://1022.cantho.example/", "web", "Trang phản ánh, kiến nghị"),
        ),
    ),
    SystemDef(
        "thu-dien-tu",
        "Hệ thống thư điện tử công vụ",
        "mail",
        "dc-soctrang",
        "2025-06-30",
        f"{PLAN} §II.13; {BT_PLAN} §II.4",
        SKHCN,
        (
            "{id: smtp, kind: smtp, name: Máy chủ thư (SMTP), host: mail.cantho.example}",
            _http("https://mail.cantho.example/", "webmail", "Webmail"),
        ),
        depends_on=("sso",),
        notes="Mở rộng hệ thống thư của tỉnh Sóc Trăng; tài khoản user@<xã>.cantho.gov.vn.",
    ),
    *(
        SystemDef(
            f"hntt-{dc.removeprefix('dc-')}",
            f"Hệ thống hội nghị truyền hình (MCU) {prov}",
            "video-conference",
            dc,
            "2025-06-30",
            f"{PLAN} §II.14",
            SKHCN,
            (
                f"{{id: mcu, kind: sip, name: MCU (SIP), "
                f"host: mcu.{dc.removeprefix('dc-')}.example}}",
            ),
            notes="Tiếp tục duy trì hệ thống của 03 tỉnh, thành phố.",
        )
        for dc, _, prov, _, _ in DATACENTERS
    ),
    SystemDef(
        "soc",
        "Hệ thống giám sát điều hành an toàn thông tin mạng (SOC)",
        "security",
        "dc-cantho",
        "Năm 2025",
        f"{PLAN} §II.15",
        "Công an thành phố Cần Thơ",
        (
            "{id: collector, kind: tcp, name: Bộ thu nhận nhật ký, host: soc.cantho.example, "
            "port: 6514}",
        ),
    ),
    SystemDef(
        "mang-tsl",
        "Mạng truyền số liệu chuyên dùng (lõi)",
        "network",
        "dc-cantho",
        "2025-06-30",
        f"{PLAN} §II.16; {BT_PLAN} §II.1",
        SKHCN,
        ("{id: core, kind: icmp, name: Router lõi, host: 203.0.113.254}",),
        notes="Giữ nguyên hạ tầng của 03 tỉnh; cấu hình theo quy hoạch IP của Cục Bưu điện "
        "Trung ương.",
    ),
    SystemDef(
        "ten-mien",
        "Hệ thống phân giải tên miền (DNS) cantho.gov.vn",
        "dns",
        "dc-cantho",
        "2025-06-30",
        f"{BT_PLAN} §II.3",
        SKHCN,
        (
            "{id: ns1, kind: dns, name: Máy chủ tên miền 1, server: 203.0.113.53, "
            "options: {name: cantho.gov.vn, type: SOA}}",
            "{id: ns2, kind: dns, name: Máy chủ tên miền 2, server: 203.0.113.54, "
            "options: {name: cantho.gov.vn, type: SOA}}",
        ),
        notes="Mỗi xã, phường có tên miền <xã>.cantho.gov.vn; tên miền cũ được giữ để tra cứu.",
    ),
)

OLD_DISTRICTS = {
    "Ninh Kiều": ("Quận Ninh Kiều", "ninhkieu.cantho.gov.vn"),
    "Bình Thủy": ("Quận Bình Thủy", "binhthuy.cantho.gov.vn"),
    "Cái Răng": ("Quận Cái Răng", "cairang.cantho.gov.vn"),
    "Ô Môn": ("Quận Ô Môn", "omon.cantho.gov.vn"),
    "Thốt Nốt": ("Quận Thốt Nốt", "thotnot.cantho.gov.vn"),
    "Phong Điền": ("Huyện Phong Điền", "phongdien.cantho.gov.vn"),
    "Thới Lai": ("Huyện Thới Lai", "thoilai.cantho.gov.vn"),
    "Cờ Đỏ": ("Huyện Cờ Đỏ", "codo.cantho.gov.vn"),
    "Vĩnh Thạnh": ("Huyện Vĩnh Thạnh", "vinhthanh.cantho.gov.vn"),
    "Vị Thanh": ("Thành phố Vị Thanh", "vithanh.haugiang.gov.vn"),
    "Ngã Bảy": ("Thành phố Ngã Bảy", "ngabay.haugiang.gov.vn"),
    "Long Mỹ": ("Thị xã Long Mỹ", "longmy.haugiang.gov.vn"),
    "Vị Thủy": ("Huyện Vị Thủy", "vithuy.haugiang.gov.vn"),
    "Châu Thành": ("Huyện Châu Thành", "chauthanh.haugiang.gov.vn"),
    "Phụng Hiệp": ("Huyện Phụng Hiệp", "phunghiep.haugiang.gov.vn"),
    "Sóc Trăng": ("Thành phố Sóc Trăng", "tpsoctrang.soctrang.gov.vn"),
    "Vĩnh Châu": ("Thị xã Vĩnh Châu", "vinhchau.soctrang.gov.vn"),
    "Ngã Năm": ("Thị xã Ngã Năm", "nganam.soctrang.gov.vn"),
    "Kế Sách": ("Huyện Kế Sách", "kesach.soctrang.gov.vn"),
    "Mỹ Tú": ("Huyện Mỹ Tú", "mytu.soctrang.gov.vn"),
    "Mỹ Xuyên": ("Huyện Mỹ Xuyên", "myxuyen.soctrang.gov.vn"),
    "Long Phú": ("Huyện Long Phú", "longphu.soctrang.gov.vn"),
    "Cù Lao Dung": ("Huyện Cù Lao Dung", "culaodung.soctrang.gov.vn"),
    "Trần Đề": ("Huyện Trần Đề", "trande.soctrang.gov.vn"),
}
"""Sites named after a former district-level unit, and that unit's portal domain (pattern
<district>.<old province>.gov.vn): kept for look-up. Verify before relying on them."""


@dataclass(frozen=True)
class Commune:
    name: str
    kind: str
    former_province: str
    unchanged_by_merger: bool
    name_verified: bool

    @property
    def id(self) -> str:
        return slugify(self.name)


def read_communes(path: Path = CSV_PATH) -> list[Commune]:
    """The communes of the CSV, in file order."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Commune(
                row["name"].strip(),
                row["kind"].strip(),
                row["former_province"].strip(),
                row["unchanged_by_merger"].strip() == "yes",
                row["name_verified"].strip() == "yes",
            )
            for row in csv.DictReader(handle)
        ]


HEADER = """\
# sites.yaml: the inventory thongsuot monitors, for Thành phố Cần Thơ (merged 1 July 2025
# from Cần Thơ, Hậu Giang and Sóc Trăng).
#
# Generated by `python -m sites.generate` from sites/data/can-tho-communes.csv (the 103
# commune-level units of Resolution 1668/NQ-UBTVQH15) and the city's plan KH 141/KH-UBND
# (15/6/2025) on the shared systems; the commune-office model (WAN point, two online meeting
# rooms, <xã>.cantho.gov.vn domain, mail, component portal) follows KH 2495/KH-UBND §II.
# Once you edit it by hand, stop regenerating it.
#
# THE ADDRESSES ARE PLACEHOLDERS. The real addresses of the government WAN (mạng truyền số
# liệu chuyên dùng) and of the internal systems are not public. Everything marked
# `example: true` uses names under the reserved .example TLD or the RFC 5737 documentation
# ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24, which reach nothing. Replace them,
# then remove `example: true`; `thongsuot check` warns while any remain. Names of domains
# (<xã>.cantho.gov.vn) are the real naming scheme; old domains are guesses to verify.
#
# Keys: version, province, defaults, datacenters, systems, site_template, sites, cutovers,
# maintenance. Durations: 30 (seconds), 30s, 5m, 2h, 1d. Secrets: ${NAME} or
# ${NAME:-default}, read from the environment. Placeholders in checks: {id}, {name},
# {domain}, {datacenter}, … and every var. A check is `id`, `kind` (icmp, tcp, http, dns,
# smtp, snmp, sip), optional `name`, `role`, timing, `depends_on`, `lifecycle`, plus the
# options of its probe kind. Roles `uplink` (data centre) and `wan` (site) are gates: the
# other checks of the element sit behind them, and a site's wan sits behind its data
# centre's uplink, so an outage upstream is reported once.
"""


def _lines(*lines: str) -> list[str]:
    return list(lines)


def render(communes: Sequence[Commune]) -> str:
    """The whole default ``sites.yaml`` text."""
    out = [HEADER, "version: 1", ""]
    out += _lines(
        "province:",
        "  name: Thành phố Cần Thơ",
        "  domain: cantho.gov.vn",
        "  timezone: Asia/Ho_Chi_Minh",
        "  locale: vi",
        "",
        "# One lost packet is not an outage: 3 failures in a row (re-checked every 10 s) make",
        "# a check DOWN, 2 successes bring it back.",
        "defaults:",
        "  interval: 60s",
        "  retry_interval: 10s",
        "  fail_after: 3",
        "  recover_after: 2",
        "  timeout: 5s",
        "  kinds:",
        "    icmp: {interval: 30s, timeout: 2s}",
        "    http: {timeout: 10s}",
        '    snmp: {community: "${THONGSUOT_SNMP_COMMUNITY:-public}"}',
        "",
        "# The three data centres stay up in the first phase (KH 141/KH-UBND §II.17).",
        "datacenters:",
    )
    for dc_id, name, province, location, octet in DATACENTERS:
        out += _lines(
            f"  - id: {dc_id}",
            f"    name: {_q(name)}",
            f"    former_province: {_q(province)}",
            f"    location: {_q(location)}",
            "    example: true",
            "    checks:",
            f"      - {{id: uplink, kind: icmp, role: uplink, name: Đường truyền ra, "
            f"host: 203.0.113.{octet}}}",
            f"      - {{id: edge, kind: snmp, role: router, name: Router biên (SNMP), "
            f"host: 203.0.113.{octet}}}",
        )
    out += ["", "# Shared systems and platforms of KH 141/KH-UBND §II.1–16.", "systems:"]
    for system in SYSTEMS:
        out += _system(system)
    out += _template()
    out += _sites(communes)
    out += _cutovers()
    out += _lines(
        "",
        "# Planned maintenance, e.g. a weekly window for the site routers:",
        "#   - {id: router-weekly, name: Bảo trì router, elements: ['*.router'],",
        '#      cron: "0 1 * * 0", duration: 2h}      # Sundays 01:00, province time',
        "# or a one-off window with start: and end: (with a UTC offset).",
        "maintenance: []",
    )
    return "\n".join(out) + "\n"


def _system(system: SystemDef) -> list[str]:
    lines = [
        f"  - id: {system.id}",
        f"    name: {_q(system.name)}",
        f"    category: {system.category}",
        f"    datacenter: {system.datacenter}",
    ]
    if system.lifecycle != "active":
        lines.append(f"    lifecycle: {system.lifecycle}")
    deadline = system.deadline
    is_date = deadline[0].isdigit() and "–" not in deadline
    lines.append(f"    deadline: {deadline if is_date else _q(deadline)}")
    lines.append(f"    source: {_q(system.source)}")
    lines.append(f"    owner: {_q(system.owner)}")
    if system.depends_on:
        lines.append(f"    depends_on: [{', '.join(system.depends_on)}]")
    lines.append("    example: true")
    if system.notes:
        lines.append(f"    notes: {_q(system.notes)}")
    lines.append("    checks:")
    lines += [f"      - {check}" for check in system.checks]
    return lines


def _template() -> list[str]:
    return _lines(
        "",
        "# What every commune/ward office gets (KH 2495/KH-UBND §II.1–4, 7; KH 141/KH-UBND",
        "# §II.10, 13, 14, 16). The portal, DNS name and mail domain are served from the data",
        "# centre, so those checks do not sit behind the commune's WAN link.",
        "site_template:",
        "  example: true",
        "  vars:",
        "    dns_server: 203.0.113.53",
        "  checks:",
        "    - id: wan",
        "      kind: icmp",
        "      role: wan",
        "      name: Đường truyền số liệu chuyên dùng (WAN)",
        '      host: "{wan_ip}"',
        "    - id: router",
        "      kind: snmp",
        "      role: router",
        "      name: Router WAN (SNMP)",
        '      host: "{wan_ip}"',
        "    - id: lan",
        "      kind: icmp",
        "      role: lan",
        "      name: Mạng nội bộ (gateway LAN)",
        '      host: "{lan_gw}"',
        "    - id: vc_gov",
        "      kind: sip",
        "      role: vc_gov",
        "      name: Phòng họp trực tuyến khối Chính quyền",
        '      host: "{vc_gov_host}"',
        "    - id: vc_party",
        "      kind: sip",
        "      role: vc_party",
        "      name: Phòng họp trực tuyến khối Đảng",
        '      host: "{vc_party_host}"',
        "    - id: portal",
        "      kind: http",
        "      role: portal",
        "      name: Cổng thông tin điện tử thành phần",
        '      url: "https://{id}.{domain}/"',
        "      behind_gate: false",
        "      depends_on: [cong-ttdt]",
        "    - id: dns",
        "      kind: dns",
        "      role: dns",
        "      name: Tên miền {id}.{domain}",
        '      server: "{dns_server}"',
        '      options: {name: "{id}.{domain}", type: A}',
        "      behind_gate: false",
        "      depends_on: [ten-mien]",
        "    - id: mail",
        "      kind: dns",
        "      role: mail",
        "      name: Thư điện tử @{id}.{domain} (MX)",
        '      server: "{dns_server}"',
        '      options: {name: "{id}.{domain}", type: MX}',
        "      behind_gate: false",
        "      depends_on: [ten-mien]",
        "  # Old domains of the units a site absorbed, kept for look-up (KH 2495/KH-UBND §II.3).",
        "  old_domain_checks:",
        "    - id: old_portal",
        "      kind: http",
        "      role: old_portal",
        "      name: Trang cũ {old_domain} (giữ để tra cứu)",
        '      url: "https://{old_domain}/"',
        "      expect_status: [200, 301, 302]",
        "      behind_gate: false",
    )


def _sites(communes: Sequence[Commune]) -> list[str]:
    out = _lines(
        "",
        "# The 103 commune-level units (31 phường, 72 xã). Each is homed on the data centre of",
        "# its former province. unchanged_by_merger: true marks the units that kept their",
        "# boundaries; name_verified: false marks names without a second source (correct them).",
        "# vars are the placeholder addresses the template's checks use.",
        "sites:",
    )
    dc_by_province = {province: dc for dc, _, province, _, _ in DATACENTERS}
    seen: set[str] = set()
    for index, commune in enumerate(communes, start=1):
        if commune.id in seen:
            raise ValueError(f"two communes share the slug {commune.id!r}")
        seen.add(commune.id)
        slug = commune.id
        out += [
            f"  - id: {slug}",
            f"    name: {_q(commune.name)}",
            f"    kind: {commune.kind}",
            f"    former_province: {_q(commune.former_province)}",
            f"    datacenter: {dc_by_province[commune.former_province]}",
        ]
        if commune.unchanged_by_merger:
            out.append("    unchanged_by_merger: true")
        if not commune.name_verified:
            out.append("    name_verified: false")
        out += [
            "    example: true",
            f"    vars: {{wan_ip: 198.51.100.{index}, lan_gw: 192.0.2.{index}, "
            f"vc_gov_host: vc-gov.{slug}.example, vc_party_host: vc-party.{slug}.example}}",
        ]
        old = OLD_DISTRICTS.get(commune.name)
        if old is not None:
            unit, domain = old
            out.append(f"    old_domains: [{{domain: {domain}, former_unit: {_q(unit)}}}]")
    return out


def _cutovers() -> list[str]:
    return _lines(
        "",
        '# Cutover plans: what must not be interrupted (budget 0s = "không gián đoạn",',
        "# KH 141/KH-UBND §I.2), inside which window. Deadlines and sources come from the plans;",
        "# the windows are the monitoring team's choice (one week before to two weeks after).",
        "cutovers:",
        "  - id: sap-nhap-2025-07-01",
        "    name: Hợp nhất các hệ thống dùng chung khi sáp nhập (01/7/2025)",
        "    systems: [tthc, qlvb, lgsp, sso, cong-du-lieu, can-tho-smart, cong-ttdt,",
        "              tong-dai-1022, thu-dien-tu, mang-tsl, ten-mien]",
        "    window: {start: 2025-06-24T00:00:00+07:00, end: 2025-07-15T00:00:00+07:00}",
        "    deadline: 2025-06-30",
        "    budget: 0s",
        f'    source: "{PLAN} §I.2; §II.1–4, 7, 8, 10, 12, 13, 16"',
        "  - id: wan-xa-2025",
        "    name: Đường truyền số liệu chuyên dùng đến trụ sở xã, phường mới",
        '    checks: ["*.wan"]',
        "    elements: [dc-cantho, dc-haugiang, dc-soctrang]",
        "    window: {start: 2025-06-24T00:00:00+07:00, end: 2025-07-15T00:00:00+07:00}",
        "    deadline: 2025-06-30",
        "    budget: 0s",
        f'    source: "{PLAN} §II.16, §II.17; {BT_PLAN} §II.1"',
        "  - id: hntt-xa-2025",
        "    name: 02 phòng họp trực tuyến mỗi xã, phường hoạt động từ 01/7/2025",
        '    checks: ["*.vc_gov", "*.vc_party"]',
        "    systems: [hntt-cantho, hntt-haugiang, hntt-soctrang]",
        "    window: {start: 2025-07-01T00:00:00+07:00, end: 2025-07-15T00:00:00+07:00}",
        "    deadline: 2025-06-30",
        "    budget: 0s",
        f'    source: "{PLAN} §II.14; {BT_PLAN} §II.2"',
        "  - id: ten-mien-thu-cong-xa-2025",
        "    name: Tên miền, thư điện tử và cổng thành phần của xã, phường mới",
        '    checks: ["*.dns", "*.mail", "*.portal"]',
        "    window: {start: 2025-06-24T00:00:00+07:00, end: 2025-07-15T00:00:00+07:00}",
        "    deadline: 2025-06-30",
        "    budget: 0s",
        f'    source: "{PLAN} §II.10, §II.13; {BT_PLAN} §II.3, §II.4, §II.7"',
        "  - id: hop-nhat-2025-2026",
        "    name: Hợp nhất kho dữ liệu, SPP, IOC và trung tâm dữ liệu",
        "    systems: [kho-du-lieu-cantho, kho-du-lieu-haugiang, kho-du-lieu-soctrang, spp,",
        "              ioc-cantho, ioc-haugiang, ioc-soctrang]",
        "    elements: [dc-cantho, dc-haugiang, dc-soctrang]",
        "    window: {start: 2026-01-01T00:00:00+07:00, end: 2027-01-01T00:00:00+07:00}",
        "    deadline: 2025–2026",
        "    budget: 0s",
        f'    source: "{PLAN} §II.5, §II.6, §II.9, §II.17"',
    )


def main(argv: Iterable[str] | None = None) -> int:
    """Write (or ``--check``) the default inventory."""
    parser = argparse.ArgumentParser(prog="python -m sites.generate", description=__doc__)
    parser.add_argument("--csv", type=Path, default=CSV_PATH, help="commune list (CSV)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="file to write")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if --out differs from what would be written"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    text = render(read_communes(args.csv))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            sys.stderr.write(f"{args.out} is out of date: run python -m sites.generate\n")
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {args.out} ({len(text.splitlines())} lines)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
