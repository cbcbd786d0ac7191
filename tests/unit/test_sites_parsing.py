"""Slugs, durations, ${ENV} substitution, {placeholders} and cron."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sites.parsing import (
    expand_placeholders,
    format_duration,
    parse_duration,
    slugify,
    substitute_env,
)
from sites.schedule import cron_trigger


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Vị Thanh 1", "vi-thanh-1"),
        ("Ô Môn", "o-mon"),
        ("Đông Thuận", "dong-thuan"),
        ("Cờ Đỏ", "co-do"),
        ("Hồ Đắc Kiện", "ho-dac-kien"),
        ("Hỏa Lựu", "hoa-luu"),
        ("Lịch Hội Thượng", "lich-hoi-thuong"),
        ("  Long  Phú 1 ", "long-phu-1"),
        ("Ngã Bảy", "nga-bay"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_slugify_decomposed_input() -> None:
    import unicodedata

    assert slugify(unicodedata.normalize("NFD", "Vị Thanh 1")) == "vi-thanh-1"


@given(st.text())
def test_slug_shape(text: str) -> None:
    slug = slugify(text)
    assert re.fullmatch(r"([a-z0-9]+(-[a-z0-9]+)*)?", slug)
    assert slugify(slug) == slug


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        (30, 30.0),
        (2.5, 2.5),
        ("30", 30.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        (" 1.5h ", 5400.0),
        ("0", 0.0),
    ],
)
def test_parse_duration(written: object, seconds: float) -> None:
    assert parse_duration(written) == seconds


@pytest.mark.parametrize("bad", ["5 mins", "", "m", "-5", -1, True, None, "1h 30", "1x", [1]])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**7))
def test_duration_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=999), st.sampled_from(["s", "m", "h", "d"])),
        min_size=1,
        max_size=4,
    )
)
def test_duration_sums_parts(parts: list[tuple[int, str]]) -> None:
    size = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert parse_duration(text) == sum(n * size[unit] for n, unit in parts)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 0.5, 30, 60, 90, 5400, 86400)] == [
        "0s",
        "500ms",
        "30s",
        "1m",
        "1m30s",
        "1h30m",
        "1d",
    ]


def test_substitute_env() -> None:
    env = {"A": "alpha", "EMPTY": ""}
    assert substitute_env("x-${A}-y", env).text == "x-alpha-y"
    assert substitute_env("${B:-beta}", env).text == "beta"
    assert substitute_env("${EMPTY:-fallback}", env).text == "fallback"
    assert substitute_env("$${A} costs $$5", env).text == "${A} costs $5"
    result = substitute_env("${MISSING}", env)
    assert result.missing == ("MISSING",)
    assert result.used == ("MISSING",)
    assert substitute_env("${1BAD}", env).malformed == ("${1BAD}",)
    assert substitute_env("no dollars", env).used == ()


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_substitute_env_leaves_plain_text(text: str) -> None:
    assert substitute_env(text, {}).text == text


def test_expand_placeholders() -> None:
    ctx = {"id": "ninh-kieu", "domain": "cantho.gov.vn"}
    assert expand_placeholders("https://{id}.{domain}/", ctx) == (
        "https://ninh-kieu.cantho.gov.vn/",
        [],
    )
    assert expand_placeholders("{{literal}} a{2}", ctx) == ("{literal} a{2}", [])
    assert expand_placeholders("{nope}", ctx) == ("{nope}", ["nope"])


def test_cron_uses_sunday_zero() -> None:
    """APScheduler 3 alone would read weekday 0 as Monday."""
    trigger = cron_trigger("0 1 * * 0", "Asia/Ho_Chi_Minh")
    after = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)  # a Tuesday
    fire = trigger.get_next_fire_time(None, after)
    assert fire is not None
    assert fire.weekday() == 6  # Sunday
    assert (fire.hour, fire.minute) == (1, 0)
    assert cron_trigger("0 1 * * 7", "UTC").get_next_fire_time(None, after).weekday() == 6
    weekdays = cron_trigger("0 8 * * 1-5", "UTC")
    fires = []
    current = after
    for _ in range(5):
        current = weekdays.get_next_fire_time(None, current + dt.timedelta(minutes=1))
        fires.append(current.weekday())
    assert sorted(fires) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("bad", ["61 * * * *", "0 1 * *", "0 1 * * 8", "0 25 * * *", "x y z w v"])
def test_cron_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        cron_trigger(bad, "UTC")
