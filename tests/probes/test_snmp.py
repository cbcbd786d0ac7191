"""The snmp probe against a real net-snmp agent (and a scripted agent for odd answers)."""

from __future__ import annotations

import asyncio
import bisect
import re
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from pyasn1.codec.ber import decoder, encoder
from pydantic import ValidationError
from pysnmp.proto import rfc1902
from pysnmp.proto.api import v2c

from probes.base import Status, safe_text
from probes.snmp import (
    IF_ADMIN_STATUS,
    IF_DESCR,
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
    IF_HIGH_SPEED,
    IF_NAME,
    IF_OPER_STATUS,
    IF_STATUS_NAMES,
    SYS_DESCR,
    SYS_NAME,
    SYS_UPTIME,
    Oid,
    SnmpOptions,
    SnmpProbe,
)
from tests.probes import servers
from tests.probes.snmpd import SNMPD, SNMPGET, AgentNamespace, Snmpd

needs_snmpd = pytest.mark.skipif(
    SNMPD is None or SNMPGET is None, reason="needs net-snmp's snmpd and snmpget (apt snmpd snmp)"
)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    if SNMPD is None or SNMPGET is None:
        pytest.skip("needs net-snmp's snmpd and snmpget (apt snmpd snmp)")
    snmpd = Snmpd(tmp_path_factory.mktemp("snmpd"))
    snmpd.start()
    yield snmpd
    snmpd.stop()


@pytest.fixture
async def probe() -> AsyncIterator[SnmpProbe]:
    snmp = SnmpProbe()
    await snmp.start()
    yield snmp
    await snmp.close()


def v2c_options(agent: Snmpd, **extra: Any) -> SnmpOptions:
    return SnmpOptions(host=agent.host, port=agent.port, community=agent.config.community, **extra)


def v1_options(agent: Snmpd, **extra: Any) -> SnmpOptions:
    return v2c_options(agent, version="1", **extra)


def v3_options(agent: Snmpd, **extra: Any) -> SnmpOptions:
    fields: dict[str, Any] = {
        "host": agent.host,
        "port": agent.port,
        "version": "3",
        "user": agent.config.user,
        "auth_key": agent.config.auth_key,
        "priv_key": agent.config.priv_key,
    }
    return SnmpOptions(**(fields | extra))


@needs_snmpd
async def test_v2c_reads_system_group(agent: Snmpd, probe: SnmpProbe) -> None:
    obs = await probe.check(v2c_options(agent))
    assert obs.status is Status.OK, obs.reason
    assert obs.values["sys_name"] == "ts-agent-cần-thơ"
    assert isinstance(obs.values["sys_uptime_s"], float)
    assert obs.values["sys_uptime_s"] >= 0
    assert obs.latency_ms is not None
    assert obs.latency_ms > 0


@needs_snmpd
async def test_markup_in_sys_descr_is_literal_and_sanitised(agent: Snmpd, probe: SnmpProbe) -> None:
    descr = (await probe.check(v2c_options(agent))).values["sys_descr"]
    assert isinstance(descr, str)
    assert descr.startswith("[red]x[/red] <b>bold</b> Cần Thơ ")
    assert "\x1b" not in descr
    assert "\ufffd[31mansi" in descr
    assert descr.endswith("\ufffd end")


OPTIONS_BY_VERSION = {"1": v1_options, "2c": v2c_options, "3": v3_options}


@needs_snmpd
@pytest.mark.parametrize("version", ["1", "2c", "3"])
async def test_packed_get_matches_individual_snmpget(
    agent: Snmpd, probe: SnmpProbe, version: str
) -> None:
    # v1 and v2c take our own codec, v3 pysnmp: the packed GET (system group and, from
    # the second check on, the interface row) must agree with snmpget asking one OID each.
    options = OPTIONS_BY_VERSION[version](agent, interfaces=["lo"])
    await probe.check(options)
    obs = await probe.check(options)
    assert obs.status is Status.OK, obs.reason
    assert obs.values["sys_name"] == safe_text(agent.snmpget_bytes("1.3.6.1.2.1.1.5.0"), 100)
    assert obs.values["sys_descr"] == safe_text(agent.snmpget_bytes("1.3.6.1.2.1.1.1.0"), 255)
    ticks = agent.uptime_ticks()
    uptime = obs.values["sys_uptime_s"]
    assert isinstance(uptime, float)
    assert 0 <= ticks - uptime * 100 < 300
    index = agent.snmpget("1.3.6.1.2.1.2.2.1.1.1")
    oper = IF_STATUS_NAMES[int(agent.snmpget(f"1.3.6.1.2.1.2.2.1.8.{index}"))]
    admin = IF_STATUS_NAMES[int(agent.snmpget(f"1.3.6.1.2.1.2.2.1.7.{index}"))]
    assert (obs.values["if.lo.oper_status"], obs.values["if.lo.admin_status"]) == (oper, admin)
    assert obs.values["if.lo.speed_mbps"] == int(agent.snmpget(f"1.3.6.1.2.1.31.1.1.1.15.{index}"))
    if version == "1":
        # Counter64 does not exist in SNMPv1: the agent refuses the HC counters.
        assert "if.lo.in_pct" not in obs.values
    else:
        assert isinstance(obs.values["if.lo.in_pct"], float)


@needs_snmpd
async def test_v1_reads_system_group_and_interfaces(agent: Snmpd, probe: SnmpProbe) -> None:
    first = await probe.check(v1_options(agent, interfaces=["lo", "nope0"]))
    assert (first.status, first.reason) == (Status.DOWN, "interface nope0 not found")
    assert first.values["sys_name"] == "ts-agent-cần-thơ"
    assert first.values["if.lo.oper_status"] == "up"
    # The packed GET names Counter64 objects, so the v1 agent answers noSuchName: the
    # probe asks again without them rather than failing the check.
    second = await probe.check(v1_options(agent, interfaces=["lo"]))
    assert second.status is Status.OK, second.reason
    assert second.values["if.lo.oper_status"] == "up"


@needs_snmpd
@pytest.mark.parametrize(
    ("user_field", "auth_protocol"), [("user", "SHA"), ("sha256_user", "SHA-256")]
)
async def test_v3_auth_priv(
    agent: Snmpd, probe: SnmpProbe, user_field: str, auth_protocol: str
) -> None:
    user = getattr(agent.config, user_field)
    obs = await probe.check(v3_options(agent, user=user, auth_protocol=auth_protocol))
    assert obs.status is Status.OK, obs.reason
    assert obs.values["sys_name"] == "ts-agent-cần-thơ"


@needs_snmpd
async def test_wrong_community_is_a_timeout(agent: Snmpd, probe: SnmpProbe) -> None:
    options = SnmpOptions(host=agent.host, port=agent.port, community="wrong", timeout=0.3)
    started = time.perf_counter()
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "no SNMP response within 300 ms"
    assert time.perf_counter() - started < 1.0


@needs_snmpd
async def test_v3_wrong_auth_key(agent: Snmpd, probe: SnmpProbe) -> None:
    obs = await probe.check(v3_options(agent, auth_key="not-the-key"))
    assert obs.status is Status.DOWN
    assert obs.reason == "SNMPv3 authentication failed for user 'tsmon': wrong auth key or protocol"


@needs_snmpd
async def test_v3_wrong_priv_key_is_silence(agent: Snmpd, probe: SnmpProbe) -> None:
    # net-snmp drops a PDU it cannot decrypt without a report, so this looks like a timeout.
    obs = await probe.check(v3_options(agent, priv_key="not-the-key", timeout=0.4))
    assert obs.status is Status.DOWN
    assert obs.reason == "no SNMP response within 400 ms"


@needs_snmpd
async def test_v3_unknown_user(agent: Snmpd, probe: SnmpProbe) -> None:
    obs = await probe.check(v3_options(agent, user="nobody"))
    assert obs.status is Status.DOWN
    assert obs.reason == "SNMPv3 user 'nobody' unknown to the agent"


async def test_no_agent_on_closed_port(probe: SnmpProbe) -> None:
    port = servers.free_port(socket.SOCK_DGRAM)
    options = SnmpOptions(host="127.0.0.1", port=port, timeout=0.3, retries=2)
    started = time.perf_counter()
    obs = await probe.check(options)
    assert obs.status is Status.DOWN
    assert obs.reason == "no SNMP response within 300 ms"
    assert obs.latency_ms is None
    assert time.perf_counter() - started < 0.8


async def test_close_fails_a_waiting_request_and_the_probe_can_be_used_again() -> None:
    own = SnmpProbe()
    with servers.silent_udp_socket() as port:
        options = SnmpOptions(host="127.0.0.1", port=port, timeout=5, retries=0)
        waiting = asyncio.create_task(own.check(options))
        await asyncio.sleep(0.1)
        await own.close()
        obs = await waiting
        assert obs.status is Status.DOWN
        assert obs.reason == "probe closed while waiting for an answer"
        again = await own.check(SnmpOptions(host="127.0.0.1", port=port, timeout=0.2))
        assert again.reason == "no SNMP response within 200 ms"
        await own.close()


async def test_unresolvable_host_is_down(probe: SnmpProbe) -> None:
    obs = await probe.check(SnmpOptions(host="no-such-host.invalid", timeout=1))
    assert obs.status is Status.DOWN
    assert obs.reason.startswith(("cannot resolve", "no SNMP response"))


@needs_snmpd
@pytest.mark.parametrize("version", ["2c", "3"])
async def test_interface_counters_across_two_checks(
    agent: Snmpd, probe: SnmpProbe, version: str
) -> None:
    options = OPTIONS_BY_VERSION[version](agent, interfaces=["lo"])
    first = await probe.check(options)
    assert first.status is Status.OK, first.reason
    assert first.values["if.lo.oper_status"] == "up"
    assert "if.lo.in_pct" not in first.values
    second = await probe.check(options)
    assert second.status is Status.OK, second.reason
    for key in ("if.lo.in_pct", "if.lo.out_pct"):
        value = second.values[key]
        assert isinstance(value, float)
        assert value >= 0


@needs_snmpd
@pytest.mark.parametrize("version", ["2c", "3"])
async def test_missing_interface_is_down(agent: Snmpd, probe: SnmpProbe, version: str) -> None:
    obs = await probe.check(OPTIONS_BY_VERSION[version](agent, interfaces=["lo", "nope0"]))
    assert obs.status is Status.DOWN
    assert obs.reason == "interface nope0 not found"
    assert obs.values["if.lo.oper_status"] == "up"


@needs_snmpd
async def test_reboot_is_reported_once(tmp_path: Path, probe: SnmpProbe) -> None:
    snmpd = Snmpd(tmp_path)
    snmpd.start()
    try:
        await asyncio.sleep(0.4)
        assert (await probe.check(v2c_options(snmpd))).status is Status.OK
        assert (await probe.check(v3_options(snmpd))).status is Status.OK
        snmpd.restart()
        rebooted = await probe.check(v2c_options(snmpd))
        assert rebooted.status is Status.DEGRADED
        assert re.fullmatch(r"rebooted \d+ s ago", rebooted.reason)
        again = await probe.check(v2c_options(snmpd))
        assert again.status is Status.OK, again.reason
        after_v3 = await probe.check(v3_options(snmpd))
        assert after_v3.status is Status.OK, after_v3.reason
    finally:
        snmpd.stop()


@needs_snmpd
async def test_v3_agent_with_a_new_engine_id_recovers(tmp_path: Path, probe: SnmpProbe) -> None:
    snmpd = Snmpd(tmp_path)
    snmpd.start()
    try:
        options = v3_options(snmpd)
        assert (await probe.check(options)).status is Status.OK
        # A replaced device: same address, new engine ID. pysnmp drops its replies until
        # the probe forgets the old engine ID, which costs one failed check, not 300 s.
        snmpd.stop()
        shutil.rmtree(tmp_path / "persist")
        snmpd.start()
        first = await probe.check(v3_options(snmpd, timeout=0.4))
        assert first.status is Status.DOWN
        assert first.reason == "no SNMP response within 400 ms"
        second = await probe.check(options)
        assert second.status is Status.OK, second.reason
    finally:
        snmpd.stop()


def test_v3_options_need_credentials() -> None:
    with pytest.raises(ValidationError, match="needs `user`"):
        SnmpOptions(host="h", version="3", auth_key="12345678")
    with pytest.raises(ValidationError, match="at least 8"):
        SnmpOptions(host="h", version="3", user="u", auth_key="short")
    with pytest.raises(ValidationError):
        SnmpOptions(host="h", version="2")
    assert SnmpOptions.model_validate({"host": "h", "version": 1}).version == "1"


def test_yaml_integer_version_is_accepted() -> None:
    options = SnmpOptions.model_validate(
        {"host": "h", "version": 3, "user": "u", "auth_key": "12345678"}
    )
    assert options.version == "3"


@pytest.fixture(scope="module")
def namespace() -> Iterator[AgentNamespace]:
    netns = AgentNamespace()
    netns.create()
    yield netns
    netns.destroy()


@pytest.fixture
def ns_agent(namespace: AgentNamespace, tmp_path: Path) -> Iterator[Snmpd]:
    if SNMPD is None or SNMPGET is None:
        pytest.skip("needs net-snmp's snmpd and snmpget (apt snmpd snmp)")
    snmpd = Snmpd(tmp_path, host=namespace.agent_address, netns=namespace.name)
    yield snmpd
    snmpd.stop()


@pytest.mark.netns
@pytest.mark.parametrize(
    ("eth1_up", "peer_up", "status", "reason"),
    [
        (True, True, Status.OK, ""),
        (True, False, Status.DOWN, "ifOperStatus down on eth1"),
        (False, True, Status.DEGRADED, "eth1 administratively down"),
    ],
)
async def test_interface_state_in_namespace(
    namespace: AgentNamespace,
    ns_agent: Snmpd,
    probe: SnmpProbe,
    eth1_up: bool,
    peer_up: bool,
    status: Status,
    reason: str,
) -> None:
    namespace.set_link("eth1", eth1_up)
    namespace.set_link("eth1-peer", peer_up)
    # net-snmp caches ifTable for a few seconds, so the link state is set before it starts.
    ns_agent.start()
    obs = await probe.check(v2c_options(ns_agent, interfaces=["eth1", "mgmt0"]))
    assert (obs.status, obs.reason) == (status, reason)
    assert obs.values["if.mgmt0.oper_status"] == "up"


class ScriptedAgent(asyncio.DatagramProtocol):
    """A v2c agent answering GET and GETBULK from a dict, with whatever types it holds."""

    def __init__(self, objects: dict[Oid, Any]) -> None:
        self.objects = objects
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.requests += 1
        request, _ = decoder.decode(data, asn1Spec=v2c.Message())
        pdu = v2c.apiMessage.get_pdu(request)
        response = v2c.apiMessage.get_response(request)
        asked = [tuple(oid) for oid, _ in v2c.apiPDU.get_varbinds(pdu)]
        if pdu.isSameTypeWith(v2c.GetBulkRequestPDU()):
            keys = sorted(self.objects)
            answer: list[tuple[Oid, Any]] = []
            for _ in range(int(v2c.apiBulkPDU.get_max_repetitions(pdu))):
                for position, cursor in enumerate(asked):
                    at = bisect.bisect_right(keys, cursor)
                    if at == len(keys):
                        answer.append((cursor, v2c.EndOfMibView()))
                        continue
                    asked[position] = keys[at]
                    answer.append((keys[at], self.objects[keys[at]]))
        else:
            answer = [(oid, self.objects.get(oid, v2c.NoSuchObject())) for oid in asked]
        v2c.apiPDU.set_varbinds(v2c.apiMessage.get_pdu(response), answer)
        assert self.transport is not None
        self.transport.sendto(encoder.encode(response), addr)


def interface_rows(index: int, name: str) -> dict[Oid, Any]:
    row: dict[Oid, Any] = {
        IF_DESCR: rfc1902.OctetString(f"Ethernet {name}".encode()),
        IF_NAME: rfc1902.OctetString(name.encode()),
        IF_ADMIN_STATUS: rfc1902.Integer(1),
        IF_OPER_STATUS: rfc1902.Integer(1),
        IF_HC_IN_OCTETS: rfc1902.Counter64(1000),
        IF_HC_OUT_OCTETS: rfc1902.Counter64(1000),
        IF_HIGH_SPEED: rfc1902.Gauge32(1000),
    }
    return {column + (index,): value for column, value in row.items()}


def system_objects(uptime: int = 123_456) -> dict[Oid, Any]:
    return {
        SYS_DESCR: rfc1902.OctetString(b"scripted agent"),
        SYS_UPTIME: rfc1902.TimeTicks(uptime),
        SYS_NAME: rfc1902.OctetString(b"scripted"),
    }


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedAgent, int]]:
    loop = asyncio.get_running_loop()
    agent = ScriptedAgent(system_objects())
    transport, _ = await loop.create_datagram_endpoint(lambda: agent, local_addr=("127.0.0.1", 0))
    yield agent, transport.get_extra_info("sockname")[1]
    transport.close()


async def test_steady_state_is_one_get(
    scripted: tuple[ScriptedAgent, int], probe: SnmpProbe
) -> None:
    agent, port = scripted
    agent.objects |= interface_rows(3, "eth0") | interface_rows(7, "eth1")
    options = SnmpOptions(host="127.0.0.1", port=port, interfaces=["eth1", "Ethernet eth0"])
    assert (await probe.check(options)).status is Status.OK
    walked = agent.requests
    assert walked >= 2
    assert (await probe.check(options)).status is Status.OK
    assert agent.requests == walked + 1
    # The agent renumbers its interfaces: the packed GET notices and the probe walks again.
    agent.objects = system_objects() | interface_rows(4, "eth0") | interface_rows(9, "eth1")
    obs = await probe.check(options)
    assert obs.status is Status.OK, obs.reason
    assert agent.requests > walked + 2


async def test_utilisation_from_counter_deltas(
    scripted: tuple[ScriptedAgent, int], probe: SnmpProbe
) -> None:
    agent, port = scripted
    agent.objects |= interface_rows(2, "eth1")
    options = SnmpOptions(host="127.0.0.1", port=port, interfaces=["eth1"], max_utilisation_pct=30)
    assert (await probe.check(options)).status is Status.OK
    await asyncio.sleep(0.5)
    # Half of 1000 Mb/s for 0.5 s inbound; nothing outbound.
    agent.objects[IF_HC_IN_OCTETS + (2,)] = rfc1902.Counter64(1000 + 31_250_000)
    obs = await probe.check(options)
    in_pct = obs.values["if.eth1.in_pct"]
    assert isinstance(in_pct, float)
    assert 35 < in_pct <= 50.01
    assert obs.values["if.eth1.out_pct"] == 0.0
    assert obs.status is Status.DEGRADED
    assert re.fullmatch(r"eth1 at \d+% inbound \(limit 30%\)", obs.reason)
    # A counter that went backwards was reset: no figure rather than a negative one.
    agent.objects[IF_HC_IN_OCTETS + (2,)] = rfc1902.Counter64(10)
    obs = await probe.check(options)
    assert obs.status is Status.OK, obs.reason
    assert "if.eth1.in_pct" not in obs.values
    assert obs.values["if.eth1.out_pct"] == 0.0


async def test_counter64_wrap_is_not_a_reset(
    scripted: tuple[ScriptedAgent, int], probe: SnmpProbe
) -> None:
    agent, port = scripted
    agent.objects |= interface_rows(2, "eth1")
    agent.objects[IF_HC_IN_OCTETS + (2,)] = rfc1902.Counter64(2**64 - 1000)
    options = SnmpOptions(host="127.0.0.1", port=port, interfaces=["eth1"])
    await probe.check(options)
    agent.objects[IF_HC_IN_OCTETS + (2,)] = rfc1902.Counter64(1000)
    obs = await probe.check(options)
    in_pct = obs.values["if.eth1.in_pct"]
    assert isinstance(in_pct, float)
    assert in_pct > 0


@pytest.mark.parametrize(
    ("oper", "admin", "status", "reason"),
    [
        (7, 1, Status.DOWN, "ifOperStatus lowerLayerDown on eth1"),
        (2, 2, Status.DEGRADED, "eth1 administratively down"),
        (99, 1, Status.DOWN, "ifOperStatus 99 on eth1"),
    ],
)
async def test_interface_status_codes(
    scripted: tuple[ScriptedAgent, int],
    probe: SnmpProbe,
    oper: int,
    admin: int,
    status: Status,
    reason: str,
) -> None:
    agent, port = scripted
    agent.objects |= interface_rows(5, "eth1")
    agent.objects[IF_OPER_STATUS + (5,)] = rfc1902.Integer(oper)
    agent.objects[IF_ADMIN_STATUS + (5,)] = rfc1902.Integer(admin)
    obs = await probe.check(SnmpOptions(host="127.0.0.1", port=port, interfaces=["eth1"]))
    assert (obs.status, obs.reason) == (status, reason)


@pytest.mark.parametrize(
    "objects",
    [
        {SYS_UPTIME: rfc1902.OctetString(b"soon"), SYS_NAME: rfc1902.Integer(5)},
        {SYS_NAME: rfc1902.OctetString(b"\x00\xff\x1b[2J" * 4000)},
        {SYS_DESCR: rfc1902.OctetString(b"[bold red]boom[/] <script>x</script>\r\n" * 6)},
        {SYS_DESCR: v2c.NoSuchInstance(), SYS_NAME: v2c.NoSuchObject()},
        {SYS_UPTIME: rfc1902.Counter64(2**63), SYS_DESCR: rfc1902.IpAddress("1.2.3.4")},
    ],
    ids=["wrong-types", "huge-binary", "markup", "no-such", "odd-numbers"],
)
async def test_odd_values_never_crash(
    scripted: tuple[ScriptedAgent, int], probe: SnmpProbe, objects: dict[Oid, Any]
) -> None:
    agent, port = scripted
    agent.objects |= objects
    obs = await probe.check(SnmpOptions(host="127.0.0.1", port=port, interfaces=["eth9"]))
    assert obs.status is Status.DOWN
    assert obs.reason == "interface eth9 not found"
    for key in ("sys_name", "sys_descr"):
        text = obs.values[key]
        assert text is None or (isinstance(text, str) and len(text) <= 255)
        assert text is None or not re.search(r"[\x00-\x1f\x7f]", text)


async def test_uptime_wrap_is_not_a_reboot(
    scripted: tuple[ScriptedAgent, int], probe: SnmpProbe
) -> None:
    agent, port = scripted
    agent.objects[SYS_UPTIME] = rfc1902.TimeTicks(2**32 - 1)
    options = SnmpOptions(host="127.0.0.1", port=port)
    assert (await probe.check(options)).status is Status.OK
    agent.objects[SYS_UPTIME] = rfc1902.TimeTicks(5)
    obs = await probe.check(options)
    assert obs.status is Status.OK, obs.reason


@needs_snmpd
async def test_transport_target_is_built_once_per_settings(
    agent: Snmpd, probe: SnmpProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    # create() resolves in a worker thread: it must not run on every v3 check, but a
    # different timeout or retry count needs a target of its own. v1/v2c never build one.
    import probes.snmp as snmp_module

    created: list[tuple[Any, ...]] = []
    original = snmp_module.UdpTransportTarget.create

    async def counting(*args: Any, **kwargs: Any) -> Any:
        created.append((args[-1], kwargs.get("timeout"), kwargs.get("retries")))
        return await original(*args, **kwargs)

    monkeypatch.setattr(snmp_module.UdpTransportTarget, "create", counting)
    for _ in range(3):
        assert (await probe.check(v3_options(agent))).status is Status.OK
        assert (await probe.check(v2c_options(agent))).status is Status.OK
    assert len(created) == 1
    assert (await probe.check(v3_options(agent, timeout=2.0))).status is Status.OK
    assert (await probe.check(v3_options(agent, retries=0))).status is Status.OK
    assert len(created) == 3
    wrong_community = SnmpOptions(
        host=agent.host, port=agent.port, community="sai-cong-dong", timeout=0.4
    )
    wrong = await probe.check(wrong_community)
    assert wrong.status is Status.DOWN  # requests never leak across communities


@needs_snmpd
async def test_host_name_is_resolved_once(
    agent: Snmpd, probe: SnmpProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    lookups: list[str] = []
    original = loop.getaddrinfo

    async def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return await original(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    options = SnmpOptions(host="localhost", port=agent.port, community=agent.config.community)
    for _ in range(3):
        obs = await probe.check(options)
        assert obs.status is Status.OK, obs.reason
    assert lookups == ["localhost"]
    assert (await probe.check(v2c_options(agent))).status is Status.OK
    assert lookups == ["localhost"]  # an address literal needs no lookup
