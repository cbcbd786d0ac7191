"""The timing wheel and the first-run spread."""

from __future__ import annotations

import asyncio
import random

import pytest

from monitor.schedule import TimingWheel, first_offset, jittered


def test_first_offset_is_stable_and_in_range() -> None:
    assert first_offset("ninh-kieu.wan", 60.0) == first_offset("ninh-kieu.wan", 60.0)
    assert first_offset("ninh-kieu.wan", 60.0) != first_offset("cai-rang.wan", 60.0)
    for i in range(1000):
        assert 0.0 <= first_offset(f"c{i}", 30.0) < 30.0


def test_first_offsets_spread_evenly() -> None:
    buckets = [0] * 10
    for i in range(10_000):
        buckets[int(first_offset(f"site-{i}.check", 60.0) / 6.0)] += 1
    assert min(buckets) > 850
    assert max(buckets) < 1150


def test_jitter_bounds() -> None:
    rng = random.Random(1)
    values = [jittered(10.0, 0.1, rng) for _ in range(1000)]
    assert 9.0 <= min(values) < 9.2
    assert 10.8 < max(values) <= 11.0
    assert jittered(10.0, 0.0, rng) == 10.0


async def test_wheel_batches_into_ticks_and_never_fires_early() -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[float, list[int]]] = []
    wheel: TimingWheel[int] = TimingWheel(
        loop, 0.05, lambda keys: fired.append((loop.time(), keys))
    )
    start = loop.time()
    rng = random.Random(7)
    due = {i: start + rng.uniform(0.0, 0.3) for i in range(500)}
    for key, when in due.items():
        wheel.schedule(key, when)
    assert len(wheel) == 500
    await asyncio.sleep(0.45)
    assert sorted(k for _, keys in fired for k in keys) == list(range(500))
    assert len(fired) <= 8  # ~0.3 s / 0.05 s ticks, not 500 wakeups
    for at, keys in fired:
        for key in keys:
            assert at >= due[key] - 1e-3
            assert at - due[key] < 0.05 + 0.05
    assert len(wheel) == 0


async def test_wheel_cancel_all() -> None:
    loop = asyncio.get_running_loop()
    fired: list[list[str]] = []
    wheel: TimingWheel[str] = TimingWheel(loop, 0.01, fired.append)
    wheel.schedule("a", loop.time() + 0.02)
    wheel.cancel_all()
    await asyncio.sleep(0.05)
    assert fired == []


def test_wheel_rejects_bad_tick() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="tick"):
            TimingWheel(loop, 0, lambda keys: None)
    finally:
        loop.close()
