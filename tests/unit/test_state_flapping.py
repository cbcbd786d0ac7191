"""Flapping: one episode instead of many outages, with the outage intervals left intact."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.state import (
    CheckMachine,
    CheckState,
    FlappingStarted,
    FlappingStopped,
    FlapPolicy,
    MachineState,
    OutageOpened,
    Outcome,
)
from tests.unit.test_state import DG, DN, ER, OK, feed


def test_a_flapping_link_is_one_episode() -> None:
    m = CheckMachine("wan", 2, 2, flap=FlapPolicy(window=300.0, start_after=6, stop_at=1))
    events = feed(m, [DN, DN, OK, OK] * 8)
    started = [e for e in events if isinstance(e, FlappingStarted)]
    assert len(started) == 1
    assert started[0].changes == 6
    assert started[0].start_ts == 1000.0  # the first outage start in the window
    assert m.flapping
    assert len([e for e in events if isinstance(e, OutageOpened)]) == 8  # still recorded
    # steady for longer than the window: the episode ends, once, in the settled state
    later = feed(m, [OK] * 40, t0=1000.0 + 32 * 10.0)
    stopped = [e for e in later if isinstance(e, FlappingStopped)]
    assert len(stopped) == 1
    assert stopped[0].state is CheckState.UP
    assert stopped[0].start_ts == 1000.0
    assert not m.flapping


def test_hysteresis_keeps_the_episode_while_changes_continue() -> None:
    m = CheckMachine("wan", 1, 1, flap=FlapPolicy(window=100.0, start_after=4, stop_at=1))
    events = feed(m, [DN, OK] * 3 + [OK, OK, OK, DN, OK, OK, OK, DN, OK])
    assert sum(isinstance(e, FlappingStarted) for e in events) == 1
    # with 2-3 changes always in the window it stays flapping: no stop/start churn
    assert not any(isinstance(e, FlappingStopped) for e in events)


def test_flap_state_survives_a_restart() -> None:
    policy = FlapPolicy(window=300.0, start_after=4, stop_at=0)
    m = CheckMachine("wan", 1, 1, flap=policy)
    feed(m, [DN, OK] * 3)
    assert m.flapping
    saved = MachineState.from_json(m.snapshot().to_json())
    resumed = CheckMachine("wan", 1, 1, saved, flap=policy)
    assert resumed.flapping
    assert not any(isinstance(e, FlappingStarted) for e in feed(resumed, [DN, OK], t0=1060.0))


outcome_lists = st.lists(st.sampled_from([OK, DG, DN, ER]), max_size=80)
thresholds = st.integers(min_value=1, max_value=4)


@settings(max_examples=300, deadline=None)
@given(outcome_lists, thresholds, thresholds, st.integers(2, 8), st.floats(20.0, 500.0))
def test_flap_detection_never_changes_outages(
    outcomes: list[Outcome], f: int, r: int, start_after: int, window: float
) -> None:
    plain = feed(CheckMachine("x", f, r), outcomes)
    policy = FlapPolicy(window=window, start_after=start_after, stop_at=start_after // 2)
    flapped = feed(CheckMachine("x", f, r, flap=policy), outcomes)
    core = [e for e in flapped if not isinstance(e, FlappingStarted | FlappingStopped)]
    assert core == plain
    episodes = [e for e in flapped if isinstance(e, FlappingStarted | FlappingStopped)]
    # episodes alternate start, stop, start …
    assert all(
        isinstance(e, FlappingStarted if i % 2 == 0 else FlappingStopped)
        for i, e in enumerate(episodes)
    )
