"""Vietnamese and English labels for the dashboard; Vietnamese is the default.

Only the dashboard's own words live here. Names from the inventory are shown as written
(with their diacritics) in both languages.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["vi", "en"]

LANGS: tuple[Lang, ...] = ("vi", "en")

_LABELS: dict[str, tuple[str, str]] = {
    "title": ("Thông suốt — giám sát hạ tầng", "Thông suốt — infrastructure monitor"),
    "tab.overview": ("Tổng quan", "Overview"),
    "tab.outages": ("Sự cố", "Outages"),
    "tab.cutover": ("Chuyển đổi", "Cutover"),
    "tab.inventory": ("Danh mục", "Inventory"),
    "tab.events": ("Nhật ký", "Events"),
    "col.datacenter": ("Trung tâm dữ liệu", "Data centre"),
    "col.dc": ("TTDL", "DC"),
    "col.state": ("Trạng thái", "State"),
    "col.up": ("Tốt", "Up"),
    "col.warn": ("Cảnh báo", "Warn"),
    "col.down": ("Mất", "Down"),
    "col.sites_hit": ("Xã bị ảnh hưởng", "Sites hit"),
    "col.site": ("Xã, phường", "Commune / ward"),
    "col.former": ("Tỉnh cũ", "Former prov."),
    "col.wan": ("WAN", "WAN"),
    "col.vc_gov": ("HNTH CQ", "VC gov"),
    "col.vc_party": ("HNTH Đảng", "VC party"),
    "col.portal": ("Cổng TP", "Portal"),
    "col.dns": ("Tên miền", "DNS"),
    "col.mail": ("Thư", "Mail"),
    "col.system": ("Hệ thống dùng chung", "Shared system"),
    "col.since": ("Từ lúc", "Since"),
    "col.duration": ("Thời gian", "Duration"),
    "col.check": ("Kiểm tra", "Check"),
    "col.name": ("Tên", "Name"),
    "col.reason": ("Lý do", "Reason"),
    "col.ack": ("Xác nhận", "Ack"),
    "col.affected": ("Ảnh hưởng", "Affected"),
    "col.plan": ("Kế hoạch chuyển đổi", "Cutover plan"),
    "col.window": ("Khung thời gian", "Window"),
    "col.budget": ("Ngân sách", "Budget"),
    "col.interruptions": ("Số lần gián đoạn", "Interruptions"),
    "col.used": ("Đã dùng", "Used"),
    "col.verdict": ("Kết luận", "Verdict"),
    "col.time": ("Thời điểm", "Time"),
    "col.change": ("Thay đổi", "Change"),
    "col.kind": ("Loại", "Kind"),
    "col.role": ("Vai trò", "Role"),
    "col.element": ("Đối tượng", "Element"),
    "col.latency": ("Độ trễ", "Latency"),
    "col.result": ("Kết quả", "Result"),
    "col.start": ("Bắt đầu", "Start"),
    "col.end": ("Kết thúc", "End"),
    "col.lifecycle": ("Vòng đời", "Lifecycle"),
    "state.unknown": ("chưa rõ", "unknown"),
    "state.up": ("tốt", "up"),
    "state.suspect": ("nghi lỗi", "suspect"),
    "state.degraded": ("suy giảm", "degraded"),
    "state.down": ("mất", "down"),
    "state.recovering": ("đang hồi", "recovering"),
    "state.unreachable": ("không tới", "unreachable"),
    "state.maintenance": ("bảo trì", "maintenance"),
    "state.flapping": ("chập chờn", "flapping"),
    "state.retired": ("đã ngừng", "retired"),
    "outcome.0": ("tốt", "ok"),
    "outcome.1": ("suy giảm", "degraded"),
    "outcome.2": ("lỗi", "down"),
    "outcome.3": ("lỗi đầu dò", "probe error"),
    "verdict.not_started": ("chưa bắt đầu", "not started"),
    "verdict.ok": ("đạt", "OK"),
    "verdict.unknown": ("không rõ", "unknown"),
    "verdict.at_risk": ("NGUY CƠ", "AT RISK"),
    "verdict.violated": ("VI PHẠM", "VIOLATED"),
    "budget.none": ("không gián đoạn", "no interruption"),
    "filter.all": ("tất cả", "all"),
    "filter.problems": ("có vấn đề", "problems"),
    "filter.down": ("mất kết nối", "down"),
    "status.filter": ("Lọc", "Filter"),
    "status.state": ("trạng thái", "state"),
    "status.source": ("Nguồn", "Source"),
    "status.refresh": ("làm mới", "refresh"),
    "status.checks": ("kiểm tra", "checks"),
    "status.open": ("sự cố đang mở", "open outages"),
    "status.error": ("Lỗi nguồn dữ liệu", "Data source error"),
    "status.waiting": ("Đang tải dữ liệu…", "Loading…"),
    "search.placeholder": (
        "Tìm (tên, mã, xã, hệ thống — không cần dấu)…",
        "Search (name, id, site, system — diacritics optional)…",
    ),
    "search.count": ("kết quả", "matches"),
    "ack.title": ("Xác nhận sự cố", "Acknowledge outage"),
    "ack.by": ("Người xác nhận", "Your name"),
    "ack.note": ("Ghi chú", "Note"),
    "ack.save": ("Lưu", "Save"),
    "ack.cancel": ("Huỷ", "Cancel"),
    "ack.done": ("Đã xác nhận", "Acknowledged"),
    "ack.nothing": ("Không có sự cố nào để xác nhận ở đây", "Nothing to acknowledge here"),
    "ack.need_name": ("Cần nhập tên người xác nhận", "A name is required"),
    "ack.via": ("theo gốc", "via root"),
    "detail.facts": ("Thông tin", "Facts"),
    "detail.checks": ("Các kiểm tra", "Checks"),
    "detail.observations": ("Quan sát gần đây", "Recent observations"),
    "detail.outages": ("Sự cố", "Outages"),
    "detail.latency": ("Độ trễ theo thời gian", "Latency over time"),
    "detail.snmp": ("Thiết bị (SNMP)", "Device (SNMP)"),
    "detail.loading": ("Đang tải…", "Loading…"),
    "detail.none": ("(chưa có)", "(none yet)"),
    "type.datacenter": ("Trung tâm dữ liệu", "Data centre"),
    "type.site": ("Xã, phường", "Commune / ward"),
    "type.system": ("Hệ thống", "System"),
    "type.check": ("Kiểm tra", "Check"),
    "help.title": ("Phím tắt", "Keys"),
    "help.close": ("Nhấn Esc hoặc ? để đóng", "Press Esc or ? to close"),
    "key.quit": ("Thoát", "Quit"),
    "key.help": ("Trợ giúp (danh sách phím)", "Help (this list)"),
    "key.search": ("Tìm trong danh mục", "Search the inventory"),
    "key.drill": ("Xem chi tiết dòng đang chọn", "Drill down into the selected row"),
    "key.back": ("Quay lại / xoá tìm kiếm", "Back / clear the search"),
    "key.dc": ("Lọc theo trung tâm dữ liệu (xoay vòng)", "Filter by data centre (cycle)"),
    "key.province": ("Lọc theo tỉnh cũ (xoay vòng)", "Filter by former province (cycle)"),
    "key.state": ("Lọc theo trạng thái (xoay vòng)", "Filter by state (cycle)"),
    "key.ack": ("Xác nhận sự cố (tên và ghi chú)", "Acknowledge an outage (name and note)"),
    "key.fold": ("Mở/gập các đối tượng bị ảnh hưởng", "Fold / unfold affected children"),
    "key.lang": ("Đổi ngôn ngữ Việt / Anh", "Switch Vietnamese / English"),
    "key.refresh": ("Làm mới ngay", "Refresh now"),
    "key.tabs": ("Chuyển thẻ: Tổng quan … Nhật ký", "Switch tab: Overview … Events"),
    "key.focus": ("Chuyển giữa các bảng", "Move between tables"),
    "key.mouse": (
        "Chuột: bấm thẻ, bấm dòng, bấm đúp để xem chi tiết",
        "Mouse: click tabs, rows; click a selected row to drill down",
    ),
}


def t(key: str, lang: Lang) -> str:
    """The label for ``key`` in ``lang``; the key itself if it has none."""
    pair = _LABELS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "vi" else pair[1]


def state_label(state: str, lang: Lang) -> str:
    """A state's short label; a state this version does not know is shown as its value."""
    pair = _LABELS.get("state." + state)
    if pair is None:
        return state
    return pair[0] if lang == "vi" else pair[1]


def known(key: str) -> bool:
    """True if ``key`` has labels (for tests)."""
    return key in _LABELS
