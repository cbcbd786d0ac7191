"""Interval arithmetic and report periods, against brute force on an integer grid."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.intervals import (
    Granularity,
    clip,
    covered,
    intersect,
    local_midnight,
    normalize,
    periods,
    subtract,
    total,
    union,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")

spans = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 60)).map(lambda t: (float(t[0]), float(t[1]))),
    max_size=12,
)


def cells(s: list[tuple[float, float]]) -> set[int]:
    """The unit cells [i, i+1) a set of spans covers: the obviously-correct reference."""
    return {i for a, b in s for i in range(int(a), int(b))}


def canonical(s: list[tuple[float, float]]) -> bool:
    return all(a < b for a, b in s) and all(s[i][1] < s[i + 1][0] for i in range(len(s) - 1))


@settings(max_examples=500, deadline=None)
@given(spans, spans)
def test_set_operations_match_cells(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> None:
    na, nb = normalize(a), normalize(b)
    assert canonical(na)
    assert cells(na) == cells(a)
    assert total(na) == len(cells(a))
    for result, expected in (
        (union(na, nb), cells(a) | cells(b)),
        (intersect(na, nb), cells(a) & cells(b)),
        (subtract(na, nb), cells(a) - cells(b)),
    ):
        assert canonical(result)
        assert cells(result) == expected
        assert total(result) == len(expected)


@settings(max_examples=300, deadline=None)
@given(spans, st.integers(0, 60), st.integers(0, 60))
def test_clip(a: list[tuple[float, float]], lo: int, hi: int) -> None:
    na = normalize(a)
    assert cells(clip(na, lo, hi)) == {i for i in cells(a) if lo <= i < hi}


@settings(max_examples=300, deadline=None)
@given(spans, spans, spans)
def test_availability_identity_with_restarts_and_maintenance(
    runs: list[tuple[float, float]],
    maintenance: list[tuple[float, float]],
    outages: list[tuple[float, float]],
) -> None:
    """Unknown, maintenance, down and up partition the period, whatever overlaps."""
    period = (0.0, 60.0)
    covered = clip(normalize(runs), *period)
    maint = intersect(normalize(maintenance), covered)
    counted = subtract(covered, maint)
    down = intersect(normalize(outages), counted)
    up = subtract(counted, down)
    unknown = subtract([period], covered)
    assert total(unknown) + total(maint) + total(down) + total(up) == 60
    assert not intersect(down, maint)
    assert not intersect(down, unknown)
    assert cells(down) == cells(outages) & cells(runs) & set(range(60)) - cells(maintenance)


def test_periods_split_at_local_midnight() -> None:
    start = local_midnight(date(2025, 6, 30), HCM) + 3600 * 10  # Monday 10:00 local
    end = local_midnight(date(2025, 7, 2), HCM) + 60
    days = list(periods(start, end, Granularity.DAY, HCM))
    assert [datetime.fromtimestamp(a, HCM).isoformat() for a, _ in days] == [
        "2025-06-30T10:00:00+07:00",
        "2025-07-01T00:00:00+07:00",
        "2025-07-02T00:00:00+07:00",
    ]
    assert days[-1][1] == end
    # a local midnight is 17:00 UTC the day before
    assert datetime.fromtimestamp(days[1][0], ZoneInfo("UTC")).hour == 17


def test_weeks_start_on_monday() -> None:
    start = local_midnight(date(2025, 7, 3), HCM)  # a Thursday
    end = local_midnight(date(2025, 7, 22), HCM)
    weeks = list(periods(start, end, Granularity.WEEK, HCM))
    starts = [datetime.fromtimestamp(a, HCM) for a, _ in weeks]
    assert [d.date().isoformat() for d in starts] == [
        "2025-07-03",
        "2025-07-07",
        "2025-07-14",
        "2025-07-21",
    ]
    assert all(d.weekday() == 0 and d.hour == 0 for d in starts[1:])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=1.7e9, max_value=1.8e9),
        # exactly on a local midnight, the boundary case
        st.integers(0, 1000).map(lambda d: local_midnight(date(2025, 1, 1), HCM) + d * 86400.0),
    ),
    st.floats(min_value=1, max_value=40 * 86400),
    st.sampled_from(list(Granularity)),
)
def test_periods_partition_the_range(start: float, length: float, by: Granularity) -> None:
    end = start + length
    parts = list(periods(start, end, by, HCM))
    assert parts[0][0] == start
    assert parts[-1][1] == end
    assert all(a < b for a, b in parts)
    assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))
    for a, _ in parts[1:]:
        local = datetime.fromtimestamp(a, HCM)
        assert (local.hour, local.minute, local.second) == (0, 0, 0)
        if by is Granularity.WEEK:
            assert local.weekday() == 0
    for a, b in parts:
        if by is Granularity.DAY:
            assert local_date_of(b - 1e-3) == local_date_of(a)
        if by is Granularity.WEEK:
            assert b - a <= 7 * 86400


def local_date_of(ts: float) -> date:
    return datetime.fromtimestamp(ts, HCM).date()


@settings(max_examples=300, deadline=None)
@given(spans, st.integers(0, 60), st.integers(0, 60))
def test_covered_seconds(a: list[tuple[float, float]], lo: int, hi: int) -> None:
    na = normalize(a)
    expected = len({i for i in cells(a) if lo <= i < hi})
    assert covered(na, [e for _, e in na], lo, hi) == expected
