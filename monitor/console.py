"""State changes as one line each, in the province's time, for logs and the terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.state import (
    CheckState,
    Event,
    FlappingStarted,
    FlappingStopped,
    OutageClosed,
    OutageOpened,
    StateChanged,
)
from sites.spec import CheckSpec

_COLOURS = {
    "DOWN": "31;1",
    "UP": "32;1",
    "DEGRADED": "33;1",
    "FAULT": "35",
    "REPAIR": "36",
    "FLAPPING": "35;1",
    "STABLE": "32",
    "UNREACH": "90",
}

SHOWN_CHANGES = frozenset({CheckState.DEGRADED})
"""Plain state changes worth a line: outages get their own lines (opened/closed), and the
soft states (suspect, recovering) are only steps towards them."""


def format_duration(seconds: float) -> str:
    """``"2 h 05 m"``, ``"3 m 20 s"``, ``"45 s"``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} m"
    if minutes:
        return f"{minutes} m {secs:02d} s"
    return f"{secs} s"


class Console:
    """Renders monitor events as lines: time, verdict, check, its name, why."""

    def __init__(
        self, specs: Mapping[str, CheckSpec], tz: str, *, color: bool = False, clock: bool = True
    ) -> None:
        self._specs = specs
        self._tz = ZoneInfo(tz)
        self._color = color
        self._show_clock = clock

    def clock(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self._tz).strftime("%H:%M:%S")

    def line(self, ts: float, verdict: str, subject: str, text: str) -> str:
        tag = f"{verdict:<8}"
        if self._color and verdict in _COLOURS:
            tag = f"\x1b[{_COLOURS[verdict]}m{tag}\x1b[0m"
        line = f"{tag} {subject}  {text}"
        return f"{self.clock(ts)}  {line}" if self._show_clock else line

    def describe(self, event: Event) -> str | None:
        """One line for an event, or None for the soft steps not worth one."""
        subject = self._subject(event.check)
        match event:
            case OutageOpened(parent=str(parent)):
                return self.line(
                    event.confirmed_ts,
                    "UNREACH",
                    subject,
                    f"behind {parent} — {event.reason}, since {self.clock(event.start_ts)}",
                )
            case FlappingStarted():
                return self.line(
                    event.ts,
                    "FLAPPING",
                    subject,
                    f"{event.changes} outage starts/ends since {self.clock(event.start_ts)}; "
                    "alerts held until it settles",
                )
            case FlappingStopped():
                length = format_duration(event.end_ts - event.start_ts)
                return self.line(
                    event.end_ts,
                    "STABLE",
                    subject,
                    f"no longer flapping after {length}; now {event.state.value.upper()}",
                )
            case OutageOpened():
                return self.line(
                    event.confirmed_ts,
                    "DOWN",
                    subject,
                    f"{event.reason} — since {self.clock(event.start_ts)}",
                )
            case OutageClosed():
                length = format_duration(event.end_ts - event.start_ts)
                return self.line(event.end_ts, "UP", subject, f"back after {length} down")
            case StateChanged(new=new) if new in SHOWN_CHANGES:
                return self.line(event.ts, new.value.upper(), subject, event.reason)
            case StateChanged(old=CheckState.DEGRADED, new=CheckState.UP):
                return self.line(event.ts, "UP", subject, "no longer degraded")
        return None

    def _subject(self, check: str) -> str:
        spec = self._specs.get(check)
        return f"{check} ({spec.name})" if spec is not None and spec.name else check


class ZoneFormatter(logging.Formatter):
    """Log records stamped in the province's zone, e.g. ``2025-07-01 09:32:40+07``."""

    def __init__(self, fmt: str, tz: str) -> None:
        super().__init__(fmt)
        self._tz = ZoneInfo(tz)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = datetime.fromtimestamp(record.created, self._tz)
        return stamp.strftime("%Y-%m-%d %H:%M:%S") + stamp.strftime("%z")[:3]


def setup_logging(level: int, process_name: bool = False) -> None:
    """Log to stderr in the command line's format, each line naming its process when
    ``process_name`` (one of ``run --procs``); APScheduler's job chatter left out."""
    name = " (%(processName)s)" if process_name else ""
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)-7s %(name)s{name}: %(message)s",
        stream=sys.stderr,
    )
    # Its job additions and start/stop lines say nothing an operator needs.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def log_in_zone(tz: str) -> None:
    """Stamp every root log handler's records in ``tz`` (the province's zone)."""
    for handler in logging.getLogger().handlers:
        fmt = handler.formatter._fmt if handler.formatter else None
        handler.setFormatter(ZoneFormatter(fmt or "%(asctime)s %(message)s", tz))
