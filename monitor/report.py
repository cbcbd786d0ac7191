"""Plain-text, CSV and JSON renderings of availability, cutover and maintenance reports.

Tables are aligned by display width (Vietnamese diacritics included); times are shown in
the province's zone; JSON carries unix seconds and ISO times with their offset.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from monitor.availability import Report, Row
from monitor.console import format_duration
from monitor.cutover import CutoverStatus
from monitor.maintenance import Window
from sites.listing import display_width

Format = Literal["table", "csv", "json"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: the record key, its table header, and whether it is right-aligned."""

    key: str
    header: str
    right: bool = False


def parse_when(text: str, tz: ZoneInfo, *, end_of_day: bool = False) -> float:
    """A unix time from ``2025-07-01`` (local midnight; the next one if ``end_of_day``),
    ``2025-07-01T08:30`` (local), or an ISO time with its offset.

    Raises ``ValueError`` with a readable message.
    """
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=tz).timestamp()
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a date or time: use 2025-07-01, 2025-07-01T08:30 "
            "or 2025-07-01T08:30+07:00"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=tz)
    return stamp.timestamp()


def local(ts: float | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """``ts`` in the province's zone; empty for None."""
    return "" if ts is None else datetime.fromtimestamp(ts, tz).strftime(fmt)


def iso(ts: float | None, tz: ZoneInfo) -> str | None:
    """``ts`` as ISO 8601 with the province's offset."""
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat()


def percent(value: float | None, digits: int = 3) -> str:
    """``99.982 %``; ``-`` when there is nothing to measure."""
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def duration(seconds: float | None) -> str:
    """A short duration, ``-`` for None."""
    return "-" if seconds is None else format_duration(seconds)


def render(columns: Sequence[Column], records: Sequence[Mapping[str, Any]], fmt: Format) -> str:
    """Records as an aligned table, CSV or a JSON list (JSON keeps the raw values)."""
    if fmt == "json":
        return json.dumps(list(records), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.key for c in columns])
        for r in records:
            writer.writerow(["" if r.get(c.key) is None else r.get(c.key) for c in columns])
        return out.getvalue()
    cells = [[c.header for c in columns]]
    cells += [["" if r.get(c.key) is None else str(r.get(c.key)) for c in columns] for r in records]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for row in cells:
        parts = []
        for i, (text, col) in enumerate(zip(row, columns, strict=True)):
            pad = " " * (widths[i] - display_width(text))
            parts.append(pad + text if col.right else text + pad)
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


SLA_COLUMNS = (
    Column("period", "Kỳ / period"),
    Column("key", "id"),
    Column("name", "Tên / name"),
    Column("checks", "checks", right=True),
    Column("availability", "availability", right=True),
    Column("own_availability", "own", right=True),
    Column("down", "down", right=True),
    Column("unreachable", "unreachable", right=True),
    Column("outages", "outages", right=True),
    Column("longest", "longest", right=True),
    Column("mttr", "MTTR", right=True),
    Column("mtbf", "MTBF", right=True),
    Column("maintenance", "maintenance", right=True),
    Column("unknown", "unknown", right=True),
    Column("flaps", "flaps", right=True),
)


def sla_records(report: Report, tz: ZoneInfo, fmt: Format) -> list[dict[str, Any]]:
    """One record per row; durations formatted for tables, raw seconds otherwise."""
    out = []
    for row in report.rows:
        f = row.figures
        raw = fmt != "table"
        rec: dict[str, Any] = {
            "period": _period(row, tz),
            "key": row.key,
            "name": row.name,
            "checks": f.checks,
        }
        if raw:
            rec.update(
                start=iso(row.start, tz),
                end=iso(row.end, tz),
                availability=f.availability,
                own_availability=f.own_availability,
                down=round(f.down, 3),
                unreachable=round(f.unreachable, 3),
                outages=f.outages,
                unreachable_outages=f.unreachable_outages,
                longest=round(f.longest, 3),
                mttr=None if f.mttr is None else round(f.mttr, 3),
                mtbf=None if f.mtbf is None else round(f.mtbf, 3),
                counted=round(f.counted, 3),
                maintenance=round(f.maintenance, 3),
                unknown=round(f.unknown, 3),
                flaps=f.flaps,
                samples=f.samples,
                latency_avg_ms=None if f.latency_avg is None else round(f.latency_avg, 3),
            )
        else:
            rec.update(
                availability=percent(f.availability),
                own_availability=percent(f.own_availability),
                down=duration(f.down),
                unreachable=duration(f.unreachable),
                outages=f"{f.outages}+{f.unreachable_outages}"
                if f.unreachable_outages
                else str(f.outages),
                longest=duration(f.longest) if f.longest else "-",
                mttr=duration(f.mttr),
                mtbf=duration(f.mtbf),
                # Shares of the period, so a group's check-seconds read like a check's.
                maintenance=_share(f.maintenance, f.period),
                unknown=_share(f.unknown, f.period),
                flaps=str(f.flaps) if f.flaps else "-",
            )
        out.append(rec)
    return out


def _share(seconds: float, period: float) -> str:
    return f"{seconds / period:.1%}" if seconds and period else "-"


def _period(row: Row, tz: ZoneInfo) -> str:
    start = datetime.fromtimestamp(row.start, tz)
    end = datetime.fromtimestamp(row.end, tz)
    if start.time() == time(0) and end.time() == time(0):
        last = end.date() - timedelta(days=1)
        if last == start.date():
            return start.date().isoformat()
        return f"{start.date().isoformat()}..{last.isoformat()}"
    return f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}"


def sla_text(
    report: Report, tz: ZoneInfo, fmt: Format, *, names: Mapping[str, str], roots: int = 10
) -> str:
    """The whole ``thongsuot sla`` output: rows, then (tables) the root outages."""
    records = sla_records(report, tz, fmt)
    if fmt == "json":
        doc = {
            "from": iso(report.start, tz),
            "to": iso(report.end, tz),
            "group": str(report.group),
            "rows": records,
            "root_outages": [
                {
                    "outage": r.outage.id,
                    "check": r.outage.check,
                    "start": iso(r.outage.start_ts, tz),
                    "end": iso(r.outage.end_ts, tz),
                    "reason": r.outage.reason,
                    "affected": list(r.affected),
                    "attributed_seconds": round(r.attributed, 3),
                }
                for r in report.roots
            ],
        }
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    text = render(SLA_COLUMNS, records, fmt)
    if fmt == "table" and report.roots and roots:
        lines = [
            "",
            "Root outages (unreachable time of the checks behind them is attributed here):",
        ]
        for r in report.roots[:roots]:
            o = r.outage
            end = local(o.end_ts, tz, "%H:%M:%S") if o.end_ts is not None else "ongoing"
            label = names.get(o.check, "")
            lines.append(
                f"  {local(o.start_ts, tz)} → {end}  {o.check}"
                + (f" ({label})" if label else "")
                + f": {len(r.affected)} checks unreachable, {format_duration(r.attributed)} "
                f"in total — {o.reason or 'down'}"
            )
        text += "\n".join(lines) + "\n"
    return text


CUTOVER_COLUMNS = (
    Column("check", "check"),
    Column("name", "Tên / name"),
    Column("start", "from"),
    Column("end", "to"),
    Column("seconds", "interrupted", right=True),
    Column("cause", "cause"),
)


def cutover_text(statuses: Sequence[CutoverStatus], tz: ZoneInfo, fmt: Format) -> str:
    """The ``thongsuot cutover`` output."""
    if fmt == "json":
        return json.dumps([_cutover_doc(s, tz) for s in statuses], ensure_ascii=False, indent=2) + (
            "\n"
        )
    if fmt == "csv":
        records = [
            {"plan": s.plan.id, "verdict": str(s.verdict), **_interruption(i, tz, raw=True)}
            for s in statuses
            for i in s.interruptions
        ]
        cols = (Column("plan", "plan"), Column("verdict", "verdict"), *CUTOVER_COLUMNS)
        return render(cols, records, "csv")
    parts = []
    for s in statuses:
        head = (
            f"{s.verdict}  {s.plan.id} — {s.plan.name}\n"
            f"  window {local(s.start, tz, '%Y-%m-%d %H:%M')} → "
            f"{local(s.end, tz, '%Y-%m-%d %H:%M')}, budget "
            f"{format_duration(s.plan.budget)} per check, {s.checks} checks; "
            f"{len(s.interruptions)} interruptions, {format_duration(s.used_total)} in total, "
            f"worst check {format_duration(s.used_max)}"
        )
        if s.unmonitored > 0:
            head += f"; not monitored for {format_duration(s.unmonitored)} of the window"
        parts.append(head)
        if s.interruptions:
            records = [_interruption(i, tz, raw=False) for i in s.interruptions]
            table = render(CUTOVER_COLUMNS, records, "table")
            parts.append("\n".join("  " + line for line in table.splitlines()))
        parts.append("")
    return "\n".join(parts)


def _interruption(i: Any, tz: ZoneInfo, *, raw: bool) -> dict[str, Any]:
    cause = f"behind {i.blamed_on}" if i.blamed_on else (i.reason or "down")
    return {
        "check": i.check,
        "name": i.name,
        "start": iso(i.start, tz) if raw else local(i.start, tz),
        "end": (iso(i.end, tz) if raw else local(i.end, tz)) if i.end is not None else "ongoing",
        "seconds": round(i.seconds, 3) if raw else format_duration(i.seconds),
        "cause": cause,
    }


def _cutover_doc(s: CutoverStatus, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "plan": s.plan.id,
        "name": s.plan.name,
        "verdict": str(s.verdict),
        "window": {"start": iso(s.start, tz), "end": iso(s.end, tz)},
        "budget_seconds": s.plan.budget,
        "checks": s.checks,
        "interrupted_seconds": round(s.used_total, 3),
        "worst_check_seconds": round(s.used_max, 3),
        "unmonitored_seconds": round(s.unmonitored, 3),
        "per_check": [
            {
                "check": b.check,
                "used_seconds": round(b.used, 3),
                "interruptions": b.interruptions,
                "verdict": str(b.verdict),
            }
            for b in s.budgets
        ],
        "interruptions": [
            {**_interruption(i, tz, raw=True), "root_outage": i.root_cause} for i in s.interruptions
        ],
    }


MAINTENANCE_COLUMNS = (
    Column("id", "id"),
    Column("source", "source"),
    Column("name", "Tên / name"),
    Column("start", "from"),
    Column("end", "to"),
    Column("checks", "checks", right=True),
    Column("reason", "reason"),
)


def maintenance_text(windows: Sequence[Window], tz: ZoneInfo, fmt: Format) -> str:
    """The ``thongsuot maintenance list`` output."""
    raw = fmt != "table"
    records = [
        {
            "id": w.id,
            "source": w.source,
            "name": w.name,
            "start": iso(w.start, tz) if raw else local(w.start, tz, "%Y-%m-%d %H:%M"),
            "end": iso(w.end, tz) if raw else local(w.end, tz, "%Y-%m-%d %H:%M"),
            "checks": sorted(w.checks) if fmt == "json" else len(w.checks),
            "reason": w.reason,
        }
        for w in windows
    ]
    return render(MAINTENANCE_COLUMNS, records, fmt)
