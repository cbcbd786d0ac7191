"""IcmpProbe against real ICMP: loopback, and hosts in a network namespace of our own.

Namespace layout (see tests/probes/netns.py), 198.19.X.0/24 routed into it:
.10 live, .11 live behind 50 % random loss, .13 live but echo requests dropped,
.128/26 blackholed (silent), .192/26 an ``unreachable`` route (ICMP host unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from probes.base import Observation, ProbeSetupError, Status
from probes.icmp import SETUP_HINT, IcmpOptions, IcmpProbe, echo_request, open_icmp_socket
from tests.probes.netns import (
    Netns,
    is_in_ping_group_range,
    loopback_block,
    netns_fixture,
    unavailable_reason,
)

ROOT = Path(__file__).resolve().parents[2]
LIVE, LOSSY, SILENT, DEAD, UNREACHABLE = 10, 11, 13, 130, 200
HAS_IPV6 = socket.has_ipv6 and os.path.exists("/proc/net/if_inet6")


def _arrange(ns: Netns) -> None:
    ns.add_loopback(LIVE, LOSSY, SILENT)
    ns.ip("route", "add", "blackhole", ns.addr(128) + "/26")
    ns.ip("route", "add", "unreachable", ns.addr(192) + "/26")
    ns.enable_forwarding()
    ns.iptables(
        "-A", "INPUT", "-d", ns.addr(LOSSY), "-p", "icmp",
        "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "DROP",
    )  # fmt: skip
    ns.iptables("-A", "INPUT", "-d", ns.addr(SILENT), "-p", "icmp", "-j", "DROP")
    ns.sysctl("net.ipv4.ping_group_range", "0 2147483647")
    # ARP for a missing neighbour gives up after one 100 ms probe, so "host unreachable"
    # from the neighbour layer arrives quickly.
    ns.sysctl(f"net.ipv4.neigh.{ns.ns_if}.mcast_solicit", "1")
    ns.sysctl(f"net.ipv4.neigh.{ns.ns_if}.retrans_time_ms", "100")


lab = netns_fixture("icmp", setup=_arrange, binaries=("iptables",))


@pytest.fixture
async def probe() -> AsyncIterator[IcmpProbe]:
    probe = IcmpProbe(socket_mode="raw")
    try:
        await probe.start()
    except ProbeSetupError as exc:
        pytest.skip(f"cannot open a raw ICMP socket here: {exc}")
    yield probe
    await probe.close()


def observed(results: list[Observation | Exception]) -> list[Observation]:
    """``check_many``'s results, which must all be observations."""
    found = [r for r in results if isinstance(r, Observation)]
    assert len(found) == len(results), results
    return found


def quick(host: str, **kw: float) -> IcmpOptions:
    return IcmpOptions.model_validate(
        {"host": host, "count": 3, "packet_interval": 0.02, "timeout": 0.5} | kw
    )


async def test_loopback_is_up_with_rtts(probe: IcmpProbe) -> None:
    for host in ("127.0.0.1", str(loopback_block()[7])):
        obs = await probe.check(quick(host))
        assert obs.status is Status.OK, obs
        v = obs.values
        assert v["sent"] == v["received"] == 3
        assert v["loss_pct"] == 0.0
        assert 0 < v["rtt_min_ms"] <= v["rtt_avg_ms"] <= v["rtt_max_ms"] < 500  # type: ignore[operator]
        assert v["jitter_ms"] is not None
        assert obs.latency_ms == v["rtt_avg_ms"]


async def test_answered_ping_ends_at_once_and_leaves_nothing_behind(probe: IcmpProbe) -> None:
    started = time.perf_counter()
    obs = await probe.check(quick("127.0.0.1", count=1, timeout=5.0))
    assert obs.status is Status.OK, obs
    assert time.perf_counter() - started < 1.0
    assert not probe._pingers[socket.AF_INET]._pending


async def test_ipv6_loopback(probe: IcmpProbe) -> None:
    if not HAS_IPV6:
        pytest.skip("no IPv6 on this host")
    obs = await probe.check(quick("::1"))
    assert obs.status is Status.OK, obs


async def test_unresolvable_name_is_down(probe: IcmpProbe) -> None:
    # A name with a space is rejected by the resolver without sending any query.
    obs = await probe.check(quick("no such host.invalid"))
    assert obs.status is Status.DOWN
    assert obs.reason == "cannot resolve no such host.invalid"


async def test_check_before_start_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="start"):
        await IcmpProbe().check(quick("127.0.0.1"))


async def test_forced_dgram_mode_without_permission_says_what_to_do() -> None:
    if is_in_ping_group_range(os.getegid()):
        pytest.skip("this host already allows unprivileged ICMP")
    probe = IcmpProbe(socket_mode="dgram")
    with pytest.raises(ProbeSetupError) as info:
        await probe.start()
    assert "sysctl -w net.ipv4.ping_group_range='0 2147483647'" in str(info.value)
    await probe.close()


def test_no_privilege_at_all_is_a_setup_error() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to an unprivileged user")
    if is_in_ping_group_range(65534):
        pytest.skip("this host allows unprivileged ICMP for everyone")
    code = (
        "import asyncio, os\n"
        "from probes.base import ProbeSetupError\n"
        "from probes.icmp import IcmpProbe\n"
        "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
        "async def main():\n"
        "    try:\n"
        "        await IcmpProbe().start()\n"
        "    except ProbeSetupError as exc:\n"
        "        print(exc)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(SETUP_HINT), out.stdout
    assert "gid 65534" in out.stdout


def test_socket_selection_by_mode() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for a raw socket")
    sock, raw = open_icmp_socket(socket.AF_INET, "raw")
    with sock:
        assert raw
        assert sock.type == socket.SOCK_RAW
    if is_in_ping_group_range(os.getegid()):
        sock, raw = open_icmp_socket(socket.AF_INET, "auto")
        with sock:
            assert not raw
            assert sock.type == socket.SOCK_DGRAM
    else:
        sock, raw = open_icmp_socket(socket.AF_INET, "auto")
        with sock:
            assert raw, "auto falls back to a raw socket when datagram ICMP is refused"


@pytest.mark.netns
async def test_live_host_in_namespace(lab: Netns, probe: IcmpProbe) -> None:
    obs = await probe.check(quick(lab.addr(LIVE)))
    assert obs.status is Status.OK, obs
    assert obs.values["received"] == 3


@pytest.mark.netns
async def test_blackholed_address_is_down_after_the_timeout(lab: Netns, probe: IcmpProbe) -> None:
    started = time.perf_counter()
    obs = await probe.check(quick(lab.addr(DEAD), count=2, timeout=0.3))
    elapsed = time.perf_counter() - started
    assert obs.status is Status.DOWN
    assert obs.reason == "no reply to 2 pings"
    assert obs.values["loss_pct"] == 100.0
    assert obs.latency_ms is None
    assert 0.3 <= elapsed < 1.0


@pytest.mark.netns
async def test_host_unreachable_is_reported_without_waiting(lab: Netns, probe: IcmpProbe) -> None:
    started = time.perf_counter()
    obs = await probe.check(quick(lab.addr(UNREACHABLE), count=3, timeout=2.0))
    assert obs.status is Status.DOWN
    assert obs.reason == "host unreachable"
    assert obs.values["error_from"] == lab.ns_address
    assert time.perf_counter() - started < 1.0


@pytest.mark.netns
async def test_partial_loss_is_degraded(lab: Netns, probe: IcmpProbe) -> None:
    lossy = lab.addr(LOSSY)
    obs = await probe.check(quick(lossy, count=20, packet_interval=0.005, timeout=0.3))
    # 50 % random loss: all 20 lost or none lost each have odds of one in a million.
    assert obs.status is Status.DEGRADED, obs
    assert 0 < obs.values["loss_pct"] < 100  # type: ignore[operator]
    assert obs.reason == f"{obs.values['loss_pct']:.0f} % loss"
    assert obs.values["sent"] == 20
    assert 0 < obs.values["received"] < 20  # type: ignore[operator]
    tolerant = quick(lossy, count=20, packet_interval=0.005, timeout=0.3, max_loss_pct=99)
    assert (await probe.check(tolerant)).status is Status.OK


@pytest.mark.netns
async def test_rtt_over_threshold_is_degraded(lab: Netns, probe: IcmpProbe) -> None:
    obs = await probe.check(quick(lab.addr(LIVE), max_rtt_ms=0.001))
    assert obs.status is Status.DEGRADED
    assert obs.reason.startswith("avg RTT ")
    assert obs.reason.endswith(" ms > 0.001 ms")


@contextlib.asynccontextmanager
async def impostor(
    identifier: int, target: str, sequences: range, pause: float
) -> AsyncIterator[socket.socket]:
    """Another pinger on this host that uses our identifier: echo requests to ``target``
    with each of ``sequences``, again every ``pause`` s until the block ends. Yields its
    raw socket, where the replies it provokes arrive."""
    stop = asyncio.Event()

    async def send(sock: socket.socket) -> None:
        while not stop.is_set():
            for sequence in sequences:
                sock.sendto(
                    echo_request(socket.AF_INET, identifier, sequence, bytes(56)), (target, 0)
                )
            await asyncio.sleep(pause)

    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setblocking(False)
        task = asyncio.create_task(send(sock))
        try:
            yield sock
        finally:
            stop.set()
            await task


def echo_replies(sock: socket.socket, identifier: int) -> int:
    """How many echo replies with ``identifier`` wait on the raw socket ``sock``."""
    count = 0
    while True:
        try:
            data = sock.recv(2048)
        except BlockingIOError:
            return count
        icmp = data[(data[0] & 0x0F) * 4 :]
        icmp_type, _, _, ident, _ = struct.unpack_from("!BBHHH", icmp)
        count += icmp_type == 0 and ident == identifier


@pytest.mark.netns
async def test_colliding_identifier_does_not_make_a_dead_host_alive(
    lab: Netns, probe: IcmpProbe
) -> None:
    """Another pinger uses our identifier and our sequence numbers on a live host."""
    assert probe.identifier is not None
    async with impostor(probe.identifier, lab.addr(LIVE), range(1, 16), 0.01) as sock:
        obs = await probe.check(quick(lab.addr(DEAD), count=3, timeout=0.4))
        colliding = echo_replies(sock, probe.identifier)
    assert colliding > 0, "the impostor's replies never arrived, so the test proves nothing"
    assert obs.status is Status.DOWN, obs
    assert obs.reason == "no reply to 3 pings"


@pytest.mark.netns
async def test_many_hosts_at_once_take_about_one_timeout(lab: Netns, probe: IcmpProbe) -> None:
    block = loopback_block()
    live = [f"{block.network_address + 1 + i % 250}" for i in range(200)]
    dead = [lab.addr(DEAD + i) for i in range(20)]
    timeout = 1.0
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            probe.check(quick(h, count=2, packet_interval=0.05, timeout=timeout))
            for h in live + dead
        )
    )
    elapsed = time.perf_counter() - started
    assert [r.status for r in results[:200]] == [Status.OK] * 200
    assert [r.reason for r in results[200:]] == ["no reply to 2 pings"] * 20
    assert timeout <= elapsed < timeout + 0.05 + 0.8


@pytest.mark.netns
def test_unprivileged_sockets_inside_the_namespace(lab: Netns) -> None:
    """ping_group_range is widened in the namespace only: "auto" picks a datagram socket."""
    targets = {
        "live": lab.addr(LIVE),
        "loopback": "127.0.0.1",
        "silent": lab.addr(SILENT),
        "no_neighbour": lab.addr(5),
        "unreachable_route": lab.addr(UNREACHABLE),
    }
    code = (
        "import asyncio, json, sys\n"
        "from probes.icmp import IcmpOptions, IcmpProbe\n"
        "async def main():\n"
        "    probe = IcmpProbe()\n"
        "    await probe.start()\n"
        "    out = {'mode': probe.mode}\n"
        "    targets = json.loads(sys.argv[1])\n"
        "    opts = dict(count=2, packet_interval=0.02, timeout=0.5)\n"
        "    obs = await asyncio.gather(*(probe.check(IcmpOptions(host=h, **opts))\n"
        "                                 for h in targets.values()))\n"
        "    out.update({k: [o.status.value, o.reason] for k, o in zip(targets, obs)})\n"
        "    sweep = await probe.check_many([IcmpOptions(host=h, count=1, timeout=0.5)\n"
        "                                    for h in targets.values()])\n"
        "    out['sweep'] = [[o.status.value, o.reason] for o in sweep]\n"
        "    await probe.close()\n"
        "    print(json.dumps(out))\n"
        "asyncio.run(main())\n"
    )
    run = lab.run(sys.executable, "-c", code, json.dumps(targets), cwd=ROOT, timeout=30)
    out = json.loads(run.stdout)
    assert out == {
        "mode": "dgram",
        "live": ["ok", ""],
        "loopback": ["ok", ""],
        "silent": ["down", "no reply to 2 pings"],
        "no_neighbour": ["down", "host unreachable"],
        "unreachable_route": ["down", "host unreachable"],
        "sweep": [
            ["ok", ""],
            ["ok", ""],
            ["down", "no reply to 1 ping"],
            ["down", "host unreachable"],
            ["down", "host unreachable"],
        ],
    }


def test_namespace_helper_reports_why_it_cannot_run() -> None:
    reason = unavailable_reason("surely-not-a-binary-name")
    assert reason is not None


@pytest.mark.netns
async def test_single_ping_answers_expires_and_reports_unreachable(
    lab: Netns, probe: IcmpProbe
) -> None:
    """The sweep path (count 1): a reply, the reply deadline, and an ICMP error."""
    live = await probe.check(quick(lab.addr(LIVE), count=1))
    assert live.status is Status.OK, live
    assert live.values["sent"] == live.values["received"] == 1
    assert live.latency_ms == live.values["rtt_avg_ms"] == live.values["rtt_min_ms"]
    started = time.perf_counter()
    dead = await probe.check(quick(lab.addr(DEAD), count=1, timeout=0.2))
    assert dead.status is Status.DOWN
    assert dead.reason == "no reply to 1 ping"
    assert dead.values["loss_pct"] == 100.0
    assert 0.2 <= time.perf_counter() - started < 0.5
    started = time.perf_counter()
    unreachable = await probe.check(quick(lab.addr(UNREACHABLE), count=1, timeout=2.0))
    assert unreachable.reason == "host unreachable"
    assert unreachable.values["error_from"] == lab.ns_address
    assert time.perf_counter() - started < 1.0
    slow = await probe.check(quick(lab.addr(LIVE), count=1, max_rtt_ms=0.001))
    assert slow.status is Status.DEGRADED
    assert slow.reason.endswith(" ms > 0.001 ms")


@pytest.mark.netns
async def test_single_pings_with_different_timeouts_each_keep_their_own(
    lab: Netns, probe: IcmpProbe
) -> None:
    """A short reply wait sent after a long one still expires first."""

    async def timed(host: str, wait: float) -> tuple[str, float]:
        started = time.perf_counter()
        obs = await probe.check(quick(host, count=1, timeout=wait))
        return obs.reason, time.perf_counter() - started

    long_wait = asyncio.create_task(timed(lab.addr(DEAD), 0.6))
    await asyncio.sleep(0.01)
    short = await asyncio.gather(*(timed(lab.addr(DEAD + 1 + i), 0.15) for i in range(20)))
    live = await probe.check(quick(lab.addr(LIVE), count=1))
    assert live.status is Status.OK
    assert all(reason == "no reply to 1 ping" for reason, _ in short)
    assert all(0.15 <= elapsed < 0.45 for _, elapsed in short), short
    reason, elapsed = await long_wait
    assert reason == "no reply to 1 ping"
    assert 0.6 <= elapsed < 0.9


@pytest.mark.netns
async def test_checks_cancelled_or_closed_while_waiting(lab: Netns) -> None:
    probe = IcmpProbe(socket_mode="raw")
    try:
        await probe.start()
    except ProbeSetupError as exc:
        pytest.skip(f"cannot open a raw ICMP socket here: {exc}")
    try:
        task = asyncio.create_task(probe.check(quick(lab.addr(DEAD), count=1, timeout=5.0)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stranded = asyncio.create_task(probe.check(quick(lab.addr(DEAD), count=1, timeout=5.0)))
        sweep = [quick(lab.addr(DEAD + i), count=1, timeout=5.0) for i in range(3)]
        stranded_sweep = asyncio.create_task(probe.check_many(sweep))
        await asyncio.sleep(0.05)
    finally:
        await probe.close()
    obs = await asyncio.wait_for(stranded, 1.0)
    assert obs.reason == "no reply to 1 ping"
    results = observed(await asyncio.wait_for(stranded_sweep, 1.0))
    assert [r.reason for r in results] == ["no reply to 1 ping"] * 3
    assert not probe._pingers


@pytest.mark.netns
async def test_check_many_gives_each_host_its_own_verdict(lab: Netns, probe: IcmpProbe) -> None:
    """One call as the engine makes it: a sweep (single pings to addresses, two reply
    waits), a series, an unresolvable name; results in order, as from separate checks."""
    batch = [
        quick(lab.addr(LIVE), count=1),
        quick(lab.addr(DEAD), count=1, timeout=0.2),
        quick(lab.addr(UNREACHABLE), count=1),
        quick("127.0.0.1", count=1, timeout=0.3),
        quick(lab.addr(LIVE)),
        quick("no such host.invalid"),
        quick(lab.addr(DEAD + 1), count=1, max_rtt_ms=0.001),
    ]
    results = observed(await probe.check_many(batch))
    assert [(r.status, r.reason) for r in results] == [
        (Status.OK, ""),
        (Status.DOWN, "no reply to 1 ping"),
        (Status.DOWN, "host unreachable"),
        (Status.OK, ""),
        (Status.OK, ""),
        (Status.DOWN, "cannot resolve no such host.invalid"),
        (Status.DOWN, "no reply to 1 ping"),
    ]
    live, series = results[0], results[4]
    assert live.values["sent"] == live.values["received"] == 1
    assert series.values["sent"] == series.values["received"] == 3
    assert not probe._pingers[socket.AF_INET]._pending


@pytest.mark.netns
async def test_sweep_of_many_hosts_skips_none(lab: Netns, probe: IcmpProbe) -> None:
    """1,250 live hosts and 100 dead ones in one burst: every live one answers, no dead
    one does, and the sweep takes about one reply wait."""
    block = loopback_block()
    live = [f"{block.network_address + 1 + i % 250}" for i in range(1250)]
    dead = [lab.addr(DEAD + i % 60) for i in range(100)]
    started = time.perf_counter()
    results = observed(await probe.check_many([quick(h, count=1) for h in live + dead]))
    elapsed = time.perf_counter() - started
    assert [r.status for r in results] == [Status.OK] * len(live) + [Status.DOWN] * len(dead)
    assert 0.5 <= elapsed < 1.5


@pytest.mark.netns
async def test_colliding_identifier_does_not_make_a_dead_host_alive_in_single_pings(
    lab: Netns, probe: IcmpProbe
) -> None:
    """As above, for single pings, alone and in a burst: replies with our id and
    sequences, from a live host."""
    assert probe.identifier is not None
    dead = [quick(lab.addr(DEAD + i), count=1, timeout=0.3) for i in range(48)]
    async with impostor(probe.identifier, lab.addr(LIVE), range(1, 64), 0.005) as sock:
        await asyncio.sleep(0.02)
        alone = asyncio.gather(*map(probe.check, dead[:8]))
        results = [*await alone, *observed(await probe.check_many(dead[8:]))]
        colliding = echo_replies(sock, probe.identifier)
    assert colliding > 0, "the impostor's replies never arrived, so the test proves nothing"
    assert [r.reason for r in results] == ["no reply to 1 ping"] * 48
