"""Interval arithmetic on half-open ``[start, end)`` spans of unix seconds, and report periods.

An interval set is a list of ``(start, end)`` pairs. :func:`normalize` makes it canonical
(sorted, non-empty, non-overlapping, non-touching); every other set operation takes and
returns canonical sets, in linear time. Availability is built from these (the Icinga DB
method): time-weighted from outage, maintenance and monitor-run intervals, never a ratio of
samples.

Report periods follow the province's calendar: days start at local midnight and weeks on
Monday at local midnight (Asia/Ho_Chi_Minh has no daylight saving, but nothing here
assumes that).
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[float, float]
IntervalSet = list[Interval]


def normalize(spans: Iterable[Interval]) -> IntervalSet:
    """Sorted, merged, with empty spans dropped: the canonical form."""
    out: IntervalSet = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def total(spans: IntervalSet) -> float:
    """Seconds covered by a canonical set."""
    return sum(end - start for start, end in spans)


def clip(spans: IntervalSet, start: float, end: float) -> IntervalSet:
    """The part of a canonical set inside ``[start, end)``."""
    out: IntervalSet = []
    for s, e in spans:
        if e <= start:
            continue
        if s >= end:
            break
        out.append((max(s, start), min(e, end)))
    return out


def covered(spans: IntervalSet, ends: list[float], start: float, end: float) -> float:
    """Seconds of ``[start, end)`` covered by canonical ``spans``; ``ends`` is the list of
    their end times (precomputed: this is the hot path of a report, one call per outage)."""
    seconds = 0.0
    if end <= start:
        return seconds
    i = bisect.bisect_right(ends, start)
    while i < len(spans):
        s, e = spans[i]
        if s >= end:
            break
        seconds += min(e, end) - max(s, start)
        i += 1
    return seconds


def union(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    """Everything in ``a`` or ``b``."""
    if not a:
        return list(b)
    if not b:
        return list(a)
    return normalize([*a, *b])


def intersect(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    """Everything in both ``a`` and ``b``."""
    out: IntervalSet = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    """Everything in ``a`` and not in ``b``."""
    out: IntervalSet = []
    j = 0
    for start, end in a:
        cur = start
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            if cur >= end:
                break
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


class Granularity(enum.StrEnum):
    """How a report splits its range: one row for all of it, per local day or per week."""

    ALL = "all"
    DAY = "day"
    WEEK = "week"


def local_midnight(day: date, tz: ZoneInfo) -> float:
    """Unix time of ``day``'s midnight in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).timestamp()


def local_date(ts: float, tz: ZoneInfo) -> date:
    """The calendar date in ``tz`` at unix time ``ts``."""
    return datetime.fromtimestamp(ts, tz).date()


def periods(start: float, end: float, by: Granularity, tz: ZoneInfo) -> Iterator[Interval]:
    """Split ``[start, end)`` at local midnights (``DAY``) or Monday midnights (``WEEK``).

    The first and last pieces may be partial when ``start``/``end`` are not on a boundary.
    """
    if end <= start:
        return
    if by is Granularity.ALL:
        yield (start, end)
        return
    day = local_date(start, tz)
    if by is Granularity.WEEK:
        day -= timedelta(days=day.weekday())
    step = timedelta(days=7 if by is Granularity.WEEK else 1)
    cur = start
    while cur < end:
        day += step
        boundary = local_midnight(day, tz)
        if boundary <= cur:
            continue
        nxt = min(boundary, end)
        yield (cur, nxt)
        cur = nxt
