"""The continuity engine against real faults: real ICMP through a network namespace whose
link is taken down or made lossy with iptables (no sch_netem here), real TCP listeners
stopped, and the simulated province's injected faults.

Timings are short (checks every 0.1–0.3 s) so the suite stays fast; each test says what
it stands for at production intervals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.engine import Monitor
from monitor.state import CheckState, Event, FlappingStarted, OutageOpened
from monitor.store import Store
from probes.icmp import IcmpOptions
from probes.tcp import TcpOptions
from sites.spec import CheckSpec, ElementType, Lifecycle
from tests.probes.netns import Netns, netns, unavailable_reason
from tests.unit.test_engine import Server, running, until

NETNS_SKIP = unavailable_reason("iptables")
ROOT = Path(__file__).resolve().parents[2]


def check(
    key: str,
    kind: str,
    options: Any,
    *,
    parents: tuple[str, ...] = (),
    interval: float = 0.1,
    retry: float = 0.05,
    fail_after: int = 2,
    recover_after: int = 2,
) -> CheckSpec:
    element = key.split(".")[0]
    return CheckSpec(
        id=key,
        name=f"Kiểm tra {key}",
        kind=kind,
        options=options,
        element=element,
        element_type=ElementType.DATACENTER if element == "dc" else ElementType.SITE,
        datacenter="dc",
        site=None if element == "dc" else element,
        role=key.split(".")[1],
        lifecycle=Lifecycle.ACTIVE,
        interval=interval,
        retry_interval=retry,
        fail_after=fail_after,
        recover_after=recover_after,
        depends_on=parents,
    )


def ping(host: str, **kw: Any) -> IcmpOptions:
    return IcmpOptions(host=host, **{"count": 1, "timeout": 0.3, **kw})


@pytest.fixture
def lab() -> Iterator[Netns]:
    """A namespace: .2 is the data centre's end of the link, .10–.13 hosts behind it."""
    if NETNS_SKIP:
        pytest.skip(NETNS_SKIP)
    with netns("cont") as ns:
        ns.add_loopback(10, 11, 12, 13)
        yield ns


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "c.db", housekeeping=False, batch_interval=0.02) as s:
        yield s


def province(ns: Netns, **kw: Any) -> list[CheckSpec]:
    """dc.uplink ← a.wan ← (a.vc, a.lan); dc.uplink ← b.wan."""
    return [
        check("dc.uplink", "icmp", ping(ns.ns_address), **kw),
        check("a.wan", "icmp", ping(ns.addr(10)), parents=("dc.uplink",), **kw),
        check("a.vc", "icmp", ping(ns.addr(11)), parents=("a.wan",), **kw),
        check("a.lan", "icmp", ping(ns.addr(12)), parents=("a.wan",), **kw),
        check("b.wan", "icmp", ping(ns.addr(13)), parents=("dc.uplink",), **kw),
    ]


def drop(ns: Netns, *hosts: int, add: bool = True) -> None:
    for h in hosts:
        ns.iptables("-A" if add else "-D", "INPUT", "-d", ns.addr(h), "-j", "DROP")


@pytest.mark.netns
async def test_datacentre_link_down_is_one_root_outage(lab: Netns, store: Store) -> None:
    """The link into the namespace goes down: the uplink is the one root outage, every
    host behind it is UNREACHABLE and attached to it; detection within one interval plus
    the confirmation re-checks; recovery known at once."""
    specs = province(lab)
    monitor = Monitor(specs, store, jitter=0, tick=0.01)
    alerts: list[Event] = []
    monitor.subscribe_alerts(alerts.append)
    async with running(monitor):
        await until(lambda: all(s.state is CheckState.UP for s in monitor.snapshot().values()))
        cut = time.time()
        lab.ip("link", "set", lab.ns_if, "down")
        await until(lambda: monitor.snapshot()["dc.uplink"].state is CheckState.DOWN, within=5)
        detected = time.time() - cut
        await until(
            lambda: all(
                monitor.snapshot()[k].state is CheckState.UNREACHABLE
                for k in ("a.wan", "a.vc", "a.lan", "b.wan")
            ),
            within=5,
        )
        lab.ip("link", "set", lab.ns_if, "up")
        await asyncio.to_thread(
            lab.run,
            "true",  # let the veth carrier settle before the routes are checked
        )
        healed = time.time()
        await until(
            lambda: all(s.state is CheckState.UP for s in monitor.snapshot().values()),
            within=8,
        )
        recovered = time.time() - healed
    # interval 0.1 + 1 retry of 0.05, each failing ping waits its 0.3 s timeout
    assert detected < 0.1 + 2 * (0.3 + 0.05) + 0.3, detected
    assert recovered < 2.0, recovered
    outages = store.outages_between(0, 2**40)
    [root] = [o for o in outages if not o.unreachable]
    assert root.check == "dc.uplink"
    assert root.start_ts >= cut - 0.15
    children = [o for o in outages if o.unreachable]
    assert sorted(o.check for o in children) == ["a.lan", "a.vc", "a.wan", "b.wan"]
    assert {o.root_cause for o in children} == {root.id}
    assert [e.check for e in alerts if isinstance(e, OutageOpened)] == ["dc.uplink"]


@pytest.mark.netns
async def test_site_link_down_blames_the_site_wan(lab: Netns, store: Store) -> None:
    """Site a's link drops every packet: a.wan is the root, a.vc and a.lan are UNREACHABLE
    behind it, the data centre and site b are untouched."""
    monitor = Monitor(province(lab), store, jitter=0, tick=0.01)
    async with running(monitor):
        await until(lambda: all(s.state is CheckState.UP for s in monitor.snapshot().values()))
        drop(lab, 10, 11, 12)
        await until(
            lambda: (
                monitor.snapshot()["a.vc"].state is CheckState.UNREACHABLE
                and monitor.snapshot()["a.lan"].state is CheckState.UNREACHABLE
            ),
            within=5,
        )
        snap = monitor.snapshot()
        assert snap["a.wan"].state is CheckState.DOWN
        assert snap["a.vc"].blamed_on == "a.wan"
        assert snap["dc.uplink"].state is CheckState.UP
        assert snap["b.wan"].state is CheckState.UP
        drop(lab, 10, 11, 12, add=False)
        await until(lambda: all(s.state is CheckState.UP for s in monitor.snapshot().values()))
    outages = store.outages_between(0, 2**40)
    [root] = [o for o in outages if not o.unreachable]
    assert root.check == "a.wan"
    assert sorted((o.check, o.root_cause) for o in outages if o.unreachable) == [
        ("a.lan", root.id),
        ("a.vc", root.id),
    ]


@pytest.mark.netns
async def test_packet_loss_is_degraded_not_an_outage(lab: Netns, store: Store) -> None:
    """30 % random loss (iptables statistic) on one host: DEGRADED, never DOWN."""
    vc = check(
        "a.vc",
        "icmp",
        IcmpOptions(host=lab.addr(11), count=20, packet_interval=0.005, timeout=0.3),
        interval=0.2,
    )
    monitor = Monitor([vc], store, jitter=0, tick=0.01)
    async with running(monitor):
        await until(lambda: monitor.snapshot()["a.vc"].state is CheckState.UP)
        lab.iptables(
            "-A", "INPUT", "-d", lab.addr(11), "-p", "icmp",
            "-m", "statistic", "--mode", "random", "--probability", "0.3", "-j", "DROP",
        )  # fmt: skip
        await until(lambda: monitor.snapshot()["a.vc"].state is CheckState.DEGRADED, within=5)
        assert "loss" in monitor.snapshot()["a.vc"].last_reason
    assert store.outages_between(0, 2**40) == []


@pytest.mark.netns
async def test_flapping_link_is_reported_as_flapping(lab: Netns, store: Store) -> None:
    """The site link drops for 0.5 s every second for 7 s. With a 3 s flap window (30
    intervals) the WAN becomes FLAPPING after three outages; from then on its outages are
    recorded but not alerted: one FLAPPING alert instead of one per outage."""
    wan = check("a.wan", "icmp", ping(lab.addr(10), timeout=0.1))
    monitor = Monitor([wan], store, jitter=0, tick=0.01, flap_window=30, flap_changes=6)
    alerts: list[Event] = []
    monitor.subscribe_alerts(alerts.append)
    async with running(monitor):
        await until(lambda: monitor.snapshot()["a.wan"].state is CheckState.UP)
        for _ in range(7):
            drop(lab, 10)
            await asyncio.sleep(0.5)
            drop(lab, 10, add=False)
            await asyncio.sleep(0.5)
        assert monitor.snapshot()["a.wan"].state is CheckState.FLAPPING
        assert monitor.snapshot()["a.wan"].flapping
    store.flush()
    assert len(store.outages_between(0, 2**40)) >= 5
    assert sum(isinstance(e, FlappingStarted) for e in alerts) == 1
    assert sum(isinstance(e, OutageOpened) for e in alerts) <= 3
    [episode] = store.flaps_between(0, 2**40)
    assert episode.end_ts is None


@pytest.mark.netns
async def test_soak_nothing_fails_nothing_is_reported(lab: Netns, store: Store) -> None:
    """'Several minutes' compressed: 5 ICMP checks through the namespace and 20 TCP checks
    against real loopback listeners, every 0.1 s for 20 s — about 5,000 observations, the
    equivalent of 80 minutes of a 60 s-interval check: no outage, no state change but the
    first UP, no flapping."""
    servers = [Server() for _ in range(4)]
    for s in servers:
        await s.start()
    try:
        specs = province(lab)
        specs += [
            check(f"t{i}.tcp", "tcp", TcpOptions(host="127.0.0.1", port=servers[i % 4].port))
            for i in range(20)
        ]
        monitor = Monitor(specs, store, tick=0.01)
        events: list[Event] = []
        monitor.subscribe(events.append)
        async with running(monitor):
            await asyncio.sleep(20)
        store.flush()
        assert store.outages_between(0, 2**40) == []
        changes = store.state_changes()
        assert {(c.old, c.new) for c in changes} == {(CheckState.UNKNOWN, CheckState.UP)}
        assert len(changes) == len(specs)
        assert store.flaps_between(0, 2**40) == []
        total = sum(len(store.recent_observations(s.id, 10_000)) for s in specs)
        assert total > 3000
    finally:
        for s in servers:
            await s.stop()


@pytest.mark.netns
async def test_simulated_province_faults_have_the_right_root_causes(store: Store) -> None:
    """Part of the default inventory under sim.SimulatedProvince: a refused portal is its
    own outage; the data centre's uplink going down is one root outage with the sites'
    WAN links UNREACHABLE behind it (their other checks run on loopback, outside the
    namespace, and stay up)."""
    if NETNS_SKIP:
        pytest.skip(NETNS_SKIP)
    import sites
    from sim import Fault, FaultKind, SimulatedProvince

    inventory = await asyncio.to_thread(sites.load, ROOT / "sites.yaml")
    homed = [s.id for s in inventory.sites.values() if s.datacenter == "dc-cantho"]
    homed = homed[:2]
    chosen = [s for s in inventory.checks.values() if s.element == "dc-cantho" or s.site in homed]
    async with SimulatedProvince(
        chosen, faults=False, use_netns=True, interval=0.3, retry_interval=0.1
    ) as sim:
        specs = sim.specs
        probed = {s.id for s in specs if s.lifecycle.probed}
        monitor = Monitor(specs, store, tick=0.02)
        async with running(monitor):
            await until(
                lambda: all(
                    s.state in (CheckState.UP, CheckState.DEGRADED)
                    for s in monitor.snapshot().values()
                ),
                within=15,
            )
            portal = next(
                f
                for f in sim.catalogue
                if f.kind is FaultKind.REFUSED and f.target.endswith(".portal")
            )
            await sim.inject(portal)
            await until(lambda: monitor.snapshot()[portal.target].state is CheckState.DOWN)
            await sim.repair(portal)
            link = Fault(FaultKind.LINK_DOWN, "dc-cantho")
            behind = set(sim.affected(link)) - {"dc-cantho.uplink"}
            assert behind, "the sites' WAN links sit behind the uplink"
            await sim.inject(link)
            await until(
                lambda: (
                    monitor.snapshot()["dc-cantho.uplink"].state is CheckState.DOWN
                    and all(monitor.snapshot()[k].state is CheckState.UNREACHABLE for k in behind)
                ),
                within=10,
            )
            await sim.repair(link)
            await until(
                lambda: all(
                    monitor.snapshot()[k].state in (CheckState.UP, CheckState.DEGRADED)
                    for k in probed
                ),
                within=15,
            )
    outages = store.outages_between(0, 2**40)
    own = sorted(o.check for o in outages if not o.unreachable)
    assert own == sorted([portal.target, "dc-cantho.uplink"])
    uplink = next(o for o in outages if o.check == "dc-cantho.uplink")
    assert {o.check for o in outages if o.unreachable} == behind
    assert {o.root_cause for o in outages if o.unreachable} == {uplink.id}
