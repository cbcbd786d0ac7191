"""Dealing checks to monitor processes: dependency groups stay whole, load is balanced."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.specs import NoopOptions, spec
from monitor.shard import split
from sites.spec import CheckSpec, Lifecycle


def _check(key: str, interval: float = 60.0, *deps: str, probed: bool = True) -> CheckSpec:
    made = spec(key, "noop", NoopOptions(), interval)
    lifecycle = Lifecycle.ACTIVE if probed else Lifecycle.RETIRED
    return dataclasses.replace(made, depends_on=deps, lifecycle=lifecycle)


def _load(shard: list[CheckSpec]) -> float:
    return sum(60.0 / s.interval for s in shard if s.lifecycle.probed)


def _shard_of(shards: list[list[CheckSpec]]) -> dict[str, int]:
    return {s.id: i for i, shard in enumerate(shards) for s in shard}


def test_a_dependency_chain_stays_in_one_process() -> None:
    checks = [
        _check("dc-a.uplink"),
        _check("site-1.wan", 60, "dc-a.uplink"),
        _check("site-1.portal", 60, "site-1.wan"),
        _check("dc-b.uplink"),
        _check("site-2.wan", 60, "dc-b.uplink"),
        _check("lone.check"),
    ]
    where = _shard_of(split(checks, 3))
    assert where["dc-a.uplink"] == where["site-1.wan"] == where["site-1.portal"]
    assert where["dc-b.uplink"] == where["site-2.wan"] != where["dc-a.uplink"]
    assert len(set(where.values())) == 3


def test_load_is_checks_per_minute_not_checks() -> None:
    fast = [_check(f"fast-{i}", 6.0) for i in range(10)]  # 100 a minute
    slow = [_check(f"slow-{i}", 60.0) for i in range(100)]  # 100 a minute
    shards = split(fast + slow, 2)
    assert [_load(shard) for shard in shards] == [100.0, 100.0]


def test_retired_checks_weigh_nothing_but_are_dealt() -> None:
    checks = [_check(f"gone-{i}", probed=False) for i in range(5)] + [_check("live")]
    shards = split(checks, 2)
    assert sorted(s.id for shard in shards for s in shard) == sorted(s.id for s in checks)


def test_the_deal_ignores_inventory_order() -> None:
    rng = random.Random(5)
    checks = [_check(f"c{i}", rng.choice((6.0, 30.0, 60.0))) for i in range(300)]
    checks += [_check(f"d{i}", 60, f"c{i}") for i in range(0, 300, 7)]
    shuffled = rng.sample(checks, len(checks))
    assert _shard_of(split(checks, 4)) == _shard_of(split(shuffled, 4))


def test_more_processes_than_groups_leaves_some_idle() -> None:
    shards = split([_check("a"), _check("b", 60, "a")], 3)
    assert sorted(len(shard) for shard in shards) == [0, 0, 2]


def test_at_least_one_part() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split([_check("a")], 0)


@given(
    intervals=st.lists(st.sampled_from((6.0, 10.0, 30.0, 60.0, 300.0)), min_size=1, max_size=80),
    edges=st.lists(st.tuples(st.integers(0, 79), st.integers(0, 79)), max_size=60),
    parts=st.integers(1, 6),
)
def test_every_check_once_and_groups_whole(
    intervals: list[float], edges: list[tuple[int, int]], parts: int
) -> None:
    deps: dict[int, list[str]] = {}
    for child, parent in edges:
        if child < len(intervals) and parent < len(intervals):
            deps.setdefault(child, []).append(f"k{parent}")
    checks = [_check(f"k{i}", every, *deps.get(i, ())) for i, every in enumerate(intervals)]
    shards = split(checks, parts)
    assert len(shards) == parts
    where = _shard_of(shards)
    assert sorted(where) == sorted(c.id for c in checks)
    assert sum(len(shard) for shard in shards) == len(checks)
    for check in checks:
        for dep in check.depends_on:
            assert where[dep] == where[check.id]
