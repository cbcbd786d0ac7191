"""The per-check state machine: confirmation, outage intervals, restoration."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.state import (
    CheckMachine,
    CheckState,
    Event,
    MachineState,
    OutageClosed,
    OutageOpened,
    Outcome,
    StateChanged,
)
from probes.base import Status

OK, DG, DN, ER = Outcome.OK, Outcome.DEGRADED, Outcome.DOWN, Outcome.ERROR


def feed(m: CheckMachine, outcomes: list[Outcome], t0: float = 1000.0) -> list[Event]:
    events: list[Event] = []
    for i, o in enumerate(outcomes):
        events += m.observe(t0 + i * 10.0, o, o.name.lower())
    return events


def outages(events: list[Event]) -> list[tuple[float, float | None]]:
    """(start, end) pairs from a stream of events."""
    result: list[tuple[float, float | None]] = []
    for e in events:
        if isinstance(e, OutageOpened):
            result.append((e.start_ts, None))
        elif isinstance(e, OutageClosed):
            assert result
            assert result[-1] == (e.start_ts, None)
            result[-1] = (e.start_ts, e.end_ts)
    return result


def test_outcome_of_status() -> None:
    assert Outcome.of(Status.OK) is OK
    assert Outcome.of(Status.DEGRADED) is DG
    assert Outcome.of(Status.DOWN) is DN


def test_first_ok_is_up_at_once() -> None:
    m = CheckMachine("a", 3, 2)
    assert m.state is CheckState.UNKNOWN
    [ev] = m.observe(5.0, OK)
    assert ev == StateChanged("a", 5.0, CheckState.UNKNOWN, CheckState.UP, "")
    assert not m.wants_retry


def test_outage_starts_at_first_failure_and_ends_at_first_good() -> None:
    m = CheckMachine("a", fail_after=3, recover_after=2)
    events = feed(m, [OK, DN, DN, DN, DN, OK, OK, OK])
    # ts: 1000 ok, 1010 down (first of run), 1020, 1030 confirms; 1050 first good, 1060 confirms
    opened = [e for e in events if isinstance(e, OutageOpened)]
    closed = [e for e in events if isinstance(e, OutageClosed)]
    assert opened == [OutageOpened("a", 1010.0, 1030.0, "down")]
    assert closed == [OutageClosed("a", 1010.0, 1050.0)]
    states = [(e.ts, e.new) for e in events if isinstance(e, StateChanged)]
    assert states == [
        (1000.0, CheckState.UP),
        (1010.0, CheckState.SUSPECT),
        (1030.0, CheckState.DOWN),
        (1050.0, CheckState.RECOVERING),
        (1060.0, CheckState.UP),
    ]
    assert m.state is CheckState.UP
    assert m.since == 1050.0


def test_fewer_failures_than_fail_after_is_no_outage() -> None:
    m = CheckMachine("a", fail_after=3, recover_after=2)
    events = feed(m, [OK, DN, DN, OK, DN, DN, OK])
    assert outages(events) == []
    assert m.state is CheckState.UP


def test_retry_wanted_while_suspect_down_and_recovering() -> None:
    m = CheckMachine("a", fail_after=2, recover_after=2)
    seen = []
    for i, o in enumerate([OK, DN, DN, OK, OK]):
        m.observe(float(i), o)
        seen.append((m.state, m.wants_retry))
    assert seen == [
        (CheckState.UP, False),
        (CheckState.SUSPECT, True),
        (CheckState.DOWN, True),
        (CheckState.RECOVERING, True),
        (CheckState.UP, False),
    ]


def test_recovering_then_down_again_stays_one_outage() -> None:
    m = CheckMachine("a", fail_after=2, recover_after=3)
    events = feed(m, [DN, DN, OK, OK, DN, OK, OK, OK])
    assert outages(events) == [(1000.0, 1050.0)]


def test_degraded_is_confirmed_and_not_an_outage() -> None:
    m = CheckMachine("a", fail_after=2, recover_after=2)
    events = feed(m, [OK, DG, DG, DG, OK, OK])
    assert outages(events) == []
    states = [e.new for e in events if isinstance(e, StateChanged)]
    assert states == [CheckState.UP, CheckState.SUSPECT, CheckState.DEGRADED, CheckState.UP]
    assert m.since == 1040.0


def test_down_run_that_began_while_degraded_starts_the_outage() -> None:
    m = CheckMachine("a", fail_after=3, recover_after=1)
    events = feed(m, [DG, DN, DN, DN])
    assert outages(events) == [(1010.0, None)]
    assert m.state is CheckState.DOWN
    assert m.since == 1010.0


def test_recovery_into_degraded() -> None:
    m = CheckMachine("a", fail_after=1, recover_after=2)
    feed(m, [DN, OK, DG])
    assert m.state is CheckState.DEGRADED


def test_error_observations_are_neutral() -> None:
    m = CheckMachine("a", fail_after=3, recover_after=2)
    events = feed(m, [OK, DN, ER, DN, ER, ER, DN])
    assert outages(events) == [(1010.0, None)]
    m2 = CheckMachine("b", fail_after=2, recover_after=2)
    assert outages(feed(m2, [ER, ER, ER])) == []
    assert m2.state is CheckState.UNKNOWN


def test_fail_after_one_is_immediate() -> None:
    m = CheckMachine("a", fail_after=1, recover_after=1)
    assert outages(feed(m, [OK, DN, OK])) == [(1010.0, 1020.0)]


def test_restore_keeps_open_outage_without_reopening() -> None:
    m = CheckMachine("a", fail_after=2, recover_after=2)
    feed(m, [OK, DN, DN, DN])
    saved = MachineState.from_json(m.snapshot().to_json())
    restored = CheckMachine("a", 2, 2, saved)
    assert restored.state is CheckState.DOWN
    assert restored.wants_retry
    events = restored.observe(2000.0, DN) + restored.observe(2010.0, OK)
    events += restored.observe(2020.0, OK)
    assert not any(isinstance(e, OutageOpened) for e in events)
    assert [e for e in events if isinstance(e, OutageClosed)] == [OutageClosed("a", 1010.0, 2010.0)]


def test_from_json_ignores_unknown_keys() -> None:
    text = MachineState(state=CheckState.UP, hard=CheckState.UP).to_json()
    text = text[:-1] + ',"flapping_score":0.5}'
    assert MachineState.from_json(text).state is CheckState.UP


def reference_outages(
    outcomes: list[Outcome], fail_after: int, recover_after: int
) -> list[tuple[float, float | None]]:
    """An independent, obviously-correct scan of the rules in DESIGN principle 1/2."""
    obs = [(1000.0 + i * 10.0, o) for i, o in enumerate(outcomes) if o is not ER]
    result: list[tuple[float, float | None]] = []
    i, in_outage = 0, False
    while i < len(obs):
        need = fail_after if not in_outage else recover_after
        j = i
        while j < len(obs) and (obs[j][1] is DN) != in_outage:
            j += 1
        if j - i >= need:
            if not in_outage:
                result.append((obs[i][0], None))
            else:
                result[-1] = (result[-1][0], obs[i][0])
            in_outage = not in_outage
            # the confirming run's remaining observations are consumed by the new state
            i = i + need
            continue
        i = max(j, i + 1)
    return result


outcome_lists = st.lists(st.sampled_from([OK, DG, DN, ER]), max_size=60)
thresholds = st.integers(min_value=1, max_value=5)


@settings(max_examples=400, deadline=None)
@given(outcome_lists, thresholds, thresholds)
def test_outages_match_reference(outcomes: list[Outcome], f: int, r: int) -> None:
    m = CheckMachine("x", f, r)
    events = feed(m, outcomes)
    assert outages(events) == reference_outages(outcomes, f, r)
    assert m.state.in_outage == (bool(outages(events)) and outages(events)[-1][1] is None)


@settings(max_examples=300, deadline=None)
@given(outcome_lists, thresholds, thresholds, st.data())
def test_restore_anywhere_is_seamless(
    outcomes: list[Outcome], f: int, r: int, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(outcomes)))
    straight = CheckMachine("x", f, r)
    expected = feed(straight, outcomes)
    first = CheckMachine("x", f, r)
    events = feed(first, outcomes[:cut])
    resumed = CheckMachine("x", f, r, MachineState.from_json(first.snapshot().to_json()))
    events += feed(resumed, outcomes[cut:], t0=1000.0 + cut * 10.0)
    assert events == expected
    assert resumed.snapshot() == straight.snapshot()


@settings(max_examples=300, deadline=None)
@given(outcome_lists, thresholds, thresholds)
def test_event_stream_is_consistent(outcomes: list[Outcome], f: int, r: int) -> None:
    m = CheckMachine("x", f, r)
    events = feed(m, outcomes)
    state = CheckState.UNKNOWN
    for e in events:
        if isinstance(e, StateChanged):
            assert e.old is state
            assert e.new is not e.old
            state = e.new
        elif isinstance(e, OutageOpened):
            assert state is CheckState.DOWN
            assert e.start_ts <= e.confirmed_ts
        else:
            assert state in (CheckState.UP, CheckState.DEGRADED)
            assert e.start_ts < e.end_ts
    assert state is m.state
    if outages(events):
        assert [o for o in outcomes if o is not ER].count(DN) >= f


def test_snapshot_is_a_full_independent_copy_and_view_is_live() -> None:
    m = CheckMachine("copy.wan", fail_after=2, recover_after=1)
    m.observe(1.0, Outcome.DOWN, "connection refused")
    snap = m.snapshot()
    assert snap == m.view
    assert snap is not m.view
    assert MachineState.from_json(snap.to_json()) == snap
    m.observe(2.0, Outcome.DOWN, "connection refused")
    assert snap.state is CheckState.SUSPECT
    assert snap.last_ts == 1.0
    assert m.view.state is CheckState.DOWN
    assert m.view.last_ts == 2.0
    restored = CheckMachine("copy.wan", 2, 1, m.snapshot())
    assert restored.snapshot() == m.snapshot()
