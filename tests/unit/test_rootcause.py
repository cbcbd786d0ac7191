"""Root cause: failures behind a failing parent are UNREACHABLE and point at its outage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine import Monitor
from monitor.intervals import normalize
from monitor.state import (
    Blocker,
    CheckMachine,
    CheckState,
    Event,
    OutageClosed,
    OutageOpened,
    Outcome,
    RootCauseChanged,
)
from monitor.store import Record, Store
from sites.spec import CheckSpec
from tests.unit.test_engine import REGISTRY, ConnectOptions, Server, running, spec, until

OK, DN = Outcome.OK, Outcome.DOWN


def test_failure_behind_a_down_parent_is_unreachable_at_once() -> None:
    m = CheckMachine("xa.vc", fail_after=3, recover_after=2)
    m.observe(0.0, OK)
    parent = Blocker("xa.wan", since=5.0, confirmed=True)
    [changed, opened] = m.observe(10.0, DN, "timeout", blocker=parent)
    assert changed.new is CheckState.UNREACHABLE  # type: ignore[union-attr]
    assert opened == OutageOpened("xa.vc", 10.0, 10.0, "timeout", "xa.wan")
    assert not m.wants_retry  # the parent's recovery wakes it instead
    events = m.observe(20.0, OK) + m.observe(30.0, OK)
    assert OutageClosed("xa.vc", 10.0, 20.0) in events
    assert m.state is CheckState.UP


def test_suspect_parent_needs_confirmation_but_still_takes_the_blame() -> None:
    m = CheckMachine("xa.vc", fail_after=2, recover_after=1)
    parent = Blocker("xa.wan", since=5.0, confirmed=False)
    assert not [e for e in m.observe(10.0, DN, blocker=parent) if isinstance(e, OutageOpened)]
    opened = [e for e in m.observe(20.0, DN, blocker=parent) if isinstance(e, OutageOpened)]
    assert opened == [OutageOpened("xa.vc", 10.0, 20.0, "", "xa.wan")]


def test_an_older_own_outage_is_not_blamed_on_a_newer_parent_failure() -> None:
    m = CheckMachine("xa.vc", fail_after=1, recover_after=1)
    m.observe(10.0, DN)
    events = m.observe(100.0, DN, blocker=Blocker("xa.wan", since=90.0, confirmed=True))
    assert events == []
    assert m.state is CheckState.DOWN


def test_child_confirmed_first_is_reattributed_when_the_parent_shows() -> None:
    m = CheckMachine("xa.vc", fail_after=1, recover_after=1)
    m.observe(10.0, DN)
    assert m.state is CheckState.DOWN
    events = m.observe(20.0, DN, blocker=Blocker("xa.wan", since=8.0, confirmed=True))
    assert RootCauseChanged("xa.vc", 10.0, 20.0, "xa.wan") in events
    assert m.state is CheckState.UNREACHABLE
    assert m.since == 10.0


def test_still_failing_after_the_parent_recovered_becomes_its_own_outage() -> None:
    m = CheckMachine("xa.vc", fail_after=2, recover_after=1)
    parent = Blocker("xa.wan", since=0.0, confirmed=True)
    m.observe(10.0, DN, blocker=parent)
    events = m.observe(50.0, DN, "HTTP 503")
    assert [e for e in events if not hasattr(e, "old")] == [
        OutageClosed("xa.vc", 10.0, 50.0),
        OutageOpened("xa.vc", 50.0, 50.0, "HTTP 503"),
    ]
    assert m.state is CheckState.DOWN


def _outage_spans(events: list[Event]) -> list[tuple[float, float]]:
    opened: dict[float, float] = {}
    spans = []
    for e in events:
        if isinstance(e, OutageOpened):
            opened[e.start_ts] = e.start_ts
        elif isinstance(e, OutageClosed):
            spans.append((opened.pop(e.start_ts), e.end_ts))
    spans += [(s, 1e9) for s in opened]
    return normalize(spans)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([OK, DN]), st.booleans()), max_size=60),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_unconfirmed_blame_never_changes_when_the_check_was_out(
    steps: list[tuple[Outcome, bool]], f: int, r: int
) -> None:
    """Blame (from a merely suspect parent) only labels outages: the time spans are those
    of the plain machine, and outages never overlap."""
    plain, blamed = CheckMachine("x", f, r), CheckMachine("x", f, r)
    a: list[Event] = []
    b: list[Event] = []
    for i, (o, blocked) in enumerate(steps):
        ts = 1000.0 + i * 10.0
        a += plain.observe(ts, o)
        blocker = Blocker("p", 0.0, confirmed=False) if blocked else None
        b += blamed.observe(ts, o, blocker=blocker)
    assert _outage_spans(a) == _outage_spans(b)
    assert plain.state.in_outage == blamed.state.in_outage


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store(tmp_path / "rc.db", housekeeping=False, batch_interval=0.01) as s:
        yield s


def test_store_links_children_to_the_root_outage(store: Store) -> None:
    """Parent chain uplink ← wan ← vc, written in the order the engine would."""
    up, wan, vc = (
        CheckMachine("dc.uplink", 1, 1),
        CheckMachine("s.wan", 1, 1),
        CheckMachine("s.vc", 1, 1),
    )
    # the vc failed first and is suspect only; the wan is blamed on the uplink
    rec = [
        Record("s.vc", 10.0, DN, events=vc.observe(10.0, DN)),
        Record("dc.uplink", 11.0, DN, events=up.observe(11.0, DN)),
        Record(
            "s.wan", 12.0, DN, events=wan.observe(12.0, DN, blocker=Blocker("dc.uplink", 5, True))
        ),
        Record("s.vc", 13.0, DN, events=vc.observe(13.0, DN, blocker=Blocker("s.wan", 3, True))),
    ]
    for r in rec:
        store.record(r)
    store.flush()
    rows = {o.check: o for o in store.outages_between(0, 100)}
    root = rows["dc.uplink"]
    assert root.root_cause is None
    assert not root.unreachable
    assert (rows["s.wan"].root_cause, rows["s.wan"].blamed_on) == (root.id, "dc.uplink")
    assert (rows["s.vc"].root_cause, rows["s.vc"].blamed_on) == (root.id, "s.wan")
    assert rows["s.vc"].unreachable
    assert {o.check for o in store.attached_outages(root.id)} == {"s.wan", "s.vc"}


def _tree(port_of: dict[str, int], interval: float = 0.1) -> list[CheckSpec]:
    """dc.uplink ← a.wan ← a.vc, a.portal and dc.uplink ← b.wan (real TCP listeners)."""
    deps = {
        "dc.uplink": (),
        "a.wan": ("dc.uplink",),
        "b.wan": ("dc.uplink",),
        "a.vc": ("a.wan",),
        "a.portal": ("a.wan",),
    }
    specs = []
    for key, parents in deps.items():
        s = spec(key, "connect", ConnectOptions(port=port_of[key]), interval=interval, retry=0.05)
        specs.append(
            CheckSpec(**{**{f: getattr(s, f) for f in s.__slots__}, "depends_on": parents})
        )
    return specs


async def test_uplink_failure_is_one_root_outage_and_recovery_wakes_children(
    store: Store,
) -> None:
    servers = {k: Server() for k in ("dc.uplink", "a.wan", "b.wan", "a.vc", "a.portal")}
    for s in servers.values():
        await s.start()
    try:
        # slow children (2 s) show that waking, not their schedule, finds the recovery
        specs = _tree({k: s.port for k, s in servers.items()})
        specs = [
            s if s.id == "dc.uplink" else CheckSpec(**{**_fields(s), "interval": 2.0})
            for s in specs
        ]
        monitor = Monitor(specs, store, probes=REGISTRY, jitter=0, tick=0.01)
        events: list[Event] = []
        alerts: list[Event] = []
        monitor.subscribe(events.append)
        monitor.subscribe_alerts(alerts.append)
        async with running(monitor):
            await until(lambda: all(s.state is CheckState.UP for s in monitor.snapshot().values()))
            for s in servers.values():  # the whole data centre goes dark at once
                await s.stop()
            await until(
                lambda: all(
                    s.state in (CheckState.DOWN, CheckState.UNREACHABLE)
                    for s in monitor.snapshot().values()
                ),
                within=8,
            )
            snap = monitor.snapshot()
            assert snap["dc.uplink"].state is CheckState.DOWN
            assert {k for k, s in snap.items() if s.state is CheckState.UNREACHABLE} == {
                "a.wan",
                "b.wan",
                "a.vc",
                "a.portal",
            }
            for s in servers.values():
                await s.start()
            t0 = asyncio.get_running_loop().time()
            await until(
                lambda: all(s.state is CheckState.UP for s in monitor.snapshot().values()),
                within=3,
            )
            # well under the children's 2 s interval: they were woken
            assert asyncio.get_running_loop().time() - t0 < 1.5
        store.flush()
        outages = store.outages_between(0, 2**40)
        roots = [o for o in outages if not o.unreachable]
        assert [o.check for o in roots] == ["dc.uplink"]
        assert {o.check for o in outages if o.unreachable} == {"a.wan", "b.wan", "a.vc", "a.portal"}
        assert all(o.root_cause == roots[0].id for o in outages if o.unreachable)
        assert all(o.end_ts is not None for o in outages)
        opened_alerts = [e for e in alerts if isinstance(e, OutageOpened)]
        assert [e.check for e in opened_alerts] == ["dc.uplink"]
    finally:
        for s in servers.values():
            await s.stop()


def _fields(s: CheckSpec) -> dict[str, Any]:
    return {f: getattr(s, f) for f in s.__slots__}


async def test_a_child_failing_first_asks_its_parent_and_no_false_outage_appears(
    store: Store,
) -> None:
    """The uplink is checked every 5 s, its children every 0.1 s: the children's first
    failures wake the parents, so they never confirm an outage of their own."""
    servers = {k: Server() for k in ("dc.uplink", "a.wan", "b.wan", "a.vc", "a.portal")}
    for s in servers.values():
        await s.start()
    try:
        specs = [
            CheckSpec(**{**_fields(s), "interval": 5.0, "fail_after": 3})
            if s.id == "dc.uplink"
            else CheckSpec(**{**_fields(s), "fail_after": 3})
            for s in _tree({k: s.port for k, s in servers.items()})
        ]
        monitor = Monitor(specs, store, probes=REGISTRY, jitter=0, tick=0.01)
        alerts: list[Event] = []
        monitor.subscribe_alerts(alerts.append)
        async with running(monitor):
            await until(lambda: all(s.state is CheckState.UP for s in monitor.snapshot().values()))
            for s in servers.values():
                await s.stop()
            await until(lambda: monitor.snapshot()["dc.uplink"].state is CheckState.DOWN, within=3)
            await asyncio.sleep(0.5)
        store.flush()
        outages = store.outages_between(0, 2**40)
        assert [o.check for o in outages if not o.unreachable] == ["dc.uplink"]
        assert {o.check for o in outages if o.unreachable} == {"a.wan", "b.wan", "a.vc", "a.portal"}
        assert [e.check for e in alerts if isinstance(e, OutageOpened)] == ["dc.uplink"]
    finally:
        for s in servers.values():
            await s.stop()
