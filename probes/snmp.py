"""snmp probe: system facts, interface states and utilisation from an SNMP agent.

SNMP v1 and v2c go over one non-blocking UDP socket (per address family) shared by every
check of a probe instance, with our own codec (:mod:`probes._ber`): pysnmp spent about
2 ms of CPU per check on them. Answers are matched to requests by source address and
port, request-id, version and community; anything else arriving on the socket, malformed
or not, is dropped. SNMPv3 keeps pysnmp: one shared :class:`SnmpEngine`, created on the
first v3 check (a new engine per request costs about 160 times the CPU), OIDs numeric and
MIB lookup off. Both paths hand the judging code the same plain values
(:data:`probes._ber.SnmpValue`).

A check costs one GET for the system group. When interfaces are configured, the first
check walks the needed ifTable/ifXTable columns with GETBULK to find their ifIndex; later
checks fold those rows into the same single GET and fall back to a walk only when the
agent renumbered its interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyasn1.type import univ
from pydantic import Field, field_validator, model_validator
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB256_AES,
    USM_PRIV_NONE,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
)
from pysnmp.proto import errind
from pysnmp.proto.mpmod.rfc3412 import SnmpV3MessageProcessingModel
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from probes import _ber
from probes._ber import NoValue, SnmpValue
from probes._udp import ProbeClosed, SharedUdp, Sockaddr
from probes.base import (
    Observation,
    Probe,
    ProbeOptions,
    ProbeSetupError,
    Status,
    Value,
    format_seconds,
    safe_text,
)
from probes.resolve import Resolver

Oid = tuple[int, ...]

SYS_DESCR: Oid = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: Oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYSTEM_OIDS: tuple[Oid, ...] = (SYS_UPTIME, SYS_NAME, SYS_DESCR)

IF_DESCR: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_ADMIN_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_OPER_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
IF_HC_IN_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)
IF_HC_OUT_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10)
IF_HIGH_SPEED: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15)
IF_COLUMNS: tuple[Oid, ...] = (
    IF_DESCR,
    IF_NAME,
    IF_ADMIN_STATUS,
    IF_OPER_STATUS,
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
    IF_HIGH_SPEED,
)

IF_STATUS_NAMES = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}

MAX_REPETITIONS = 20
MAX_BULK_REQUESTS = 200
"""A walk stops after this many GETBULKs, so a looping agent cannot hold a check."""
MAX_NEXT_REQUESTS = MAX_BULK_REQUESTS * MAX_REPETITIONS
"""The same bound for v1 walks, which get one row per GETNEXT."""
MAX_IF_ROWS = 10_000
MAX_CACHED_OIDS = 50_000
_CONTEXT = ContextData()
MAX_CACHED_TARGETS = 10_000
"""Transport targets and credentials kept (one per distinct agent and settings)."""
TARGET_TTL_S = 60.0
"""How long a host name's resolved transport target is reused."""
SYS_DESCR_LIMIT = 255
SYS_NAME_LIMIT = 100
TICKS_WRAP = 2**32
WRAP_SLACK_TICKS = 6000
"""How far (1/100 s) a wrapped sysUpTime may land from where our clock expects it."""
COUNTER64_WRAP = 2**64
MAX_REASONS = 3

AUTH_PROTOCOLS = {
    "MD5": USM_AUTH_HMAC96_MD5,
    "SHA": USM_AUTH_HMAC96_SHA,
    "SHA-224": USM_AUTH_HMAC128_SHA224,
    "SHA-256": USM_AUTH_HMAC192_SHA256,
    "SHA-384": USM_AUTH_HMAC256_SHA384,
    "SHA-512": USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS = {
    "DES": USM_PRIV_CBC56_DES,
    "AES": USM_PRIV_CFB128_AES,
    "AES-192": USM_PRIV_CFB192_AES,
    "AES-256": USM_PRIV_CFB256_AES,
}


class SnmpOptions(ProbeOptions):
    """Read system facts and interface states from an SNMP agent."""

    host: str
    port: int = Field(default=161, ge=1, le=65535)
    version: Literal["1", "2c", "3"] = "2c"
    """``2c`` or ``1`` (community), or ``3`` (USM user; authPriv when ``priv_key`` is set)."""
    community: str = "public"
    """v1/v2c community; write ``${NAME}`` to take it from the environment."""
    user: str | None = None
    """v3 USM user name (required for version 3)."""
    auth_key: str | None = None
    """v3 authentication passphrase (at least 8 characters); write ``${NAME}``."""
    priv_key: str | None = None
    """v3 privacy passphrase (at least 8 characters); without it the check is authNoPriv."""
    auth_protocol: Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] = "SHA"
    """v3 authentication protocol, as configured on the agent (``SHA`` is HMAC-SHA-96)."""
    priv_protocol: Literal["DES", "AES", "AES-192", "AES-256"] = "AES"
    """v3 privacy protocol, as configured on the agent (``AES`` is AES-128-CFB)."""
    retries: int = Field(default=1, ge=0, le=5)
    """Retransmissions per request; each try waits ``timeout / (retries + 1)``."""
    interfaces: list[str] = Field(default_factory=list)
    """Interfaces that must be up, by ifName (``eth1``, ``Gi0/1``) or else by ifDescr."""
    max_utilisation_pct: float | None = Field(default=None, gt=0, le=100)
    """Inbound or outbound utilisation of a listed interface above this is DEGRADED."""

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # YAML reads `version: 3` as an int; `2c` is never a number.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _v3_needs_credentials(self) -> SnmpOptions:
        if self.version == "3":
            if not self.user:
                raise ValueError("SNMP version 3 needs `user`")
            if not self.auth_key:
                raise ValueError("SNMP version 3 needs `auth_key` (authNoAuth is not supported)")
            for name, key in (("auth_key", self.auth_key), ("priv_key", self.priv_key)):
                if key is not None and len(key) < 8:
                    raise ValueError(f"SNMPv3 `{name}` must be at least 8 characters (RFC 3414)")
        return self


@dataclass(slots=True)
class _Counters:
    in_octets: int
    out_octets: int
    at: float


@dataclass(slots=True)
class _AgentState:
    """What one check remembers about an agent for the next one."""

    uptime_ticks: int | None = None
    at: float = 0.0
    if_index: dict[str, int] = field(default_factory=dict)
    counters: dict[int, _Counters] = field(default_factory=dict)


@dataclass(slots=True)
class _V3Use:
    credentials: tuple[str | None, ...]
    count: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)


class _SnmpFailure(Exception):
    """A failed exchange; ``observation`` is what the check reports."""

    def __init__(self, observation: Observation) -> None:
        super().__init__(observation.reason)
        self.observation = observation


class _NoResponse(Exception):
    """Every try of a v1/v2c request went unanswered."""


class _BadResponse(Exception):
    """The answer to a v1/v2c request could not be decoded."""


def _plain(value: Any) -> SnmpValue:
    """A pysnmp value as the fast path decodes it (see :data:`probes._ber.SnmpValue`)."""
    if isinstance(value, EndOfMibView):
        return NoValue.END_OF_MIB_VIEW
    if isinstance(value, NoSuchInstance):
        return NoValue.NO_SUCH_INSTANCE
    if isinstance(value, NoSuchObject):
        return NoValue.NO_SUCH_OBJECT
    if isinstance(value, univ.Null):  # a subclass of OctetString in pyasn1
        return NoValue.NULL
    if isinstance(value, univ.Integer) and value.hasValue():
        return int(value)
    if isinstance(value, univ.OctetString) and value.hasValue():
        return bytes(value.asOctets())
    if isinstance(value, univ.ObjectIdentifier) and value.hasValue():
        return tuple(value)
    return NoValue.NULL


def _as_int(value: SnmpValue | None) -> int | None:
    return value if isinstance(value, int) else None


def _as_bytes(value: SnmpValue | None) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return str(value).encode()
    return None


def _as_text(value: SnmpValue | None, limit: int) -> str | None:
    raw = _as_bytes(value)
    return None if raw is None else safe_text(raw, limit)


def _format_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


@dataclass(slots=True, eq=False)
class _Request:
    """A v1/v2c request in flight: what it was sent as and what may answer it."""

    future: asyncio.Future[_ber.Message]
    sock: socket.socket
    address: tuple[Any, ...]
    peer: tuple[str, int]
    version: int
    community: bytes
    wire: bytes
    per_try: float
    tries_left: int
    timer: asyncio.TimerHandle | None = None


class _CommunityClient(SharedUdp[int, _Request]):
    """SNMP v1/v2c requests over one shared socket per address family, keyed by request-id.

    An answer counts only from the address and port the request went to, with its
    version and community. A retransmission resends the same bytes (same request-id),
    so a late answer to an earlier try is still taken.
    """

    async def exchange(
        self,
        address: tuple[int, tuple[Any, ...]],
        version: int,
        community: bytes,
        pdu_type: int,
        oids: Sequence[Oid],
        per_try: float,
        tries: int,
    ) -> _ber.Message:
        """Send a request for ``oids`` and wait for its Response.

        GETBULKs ask for ``MAX_REPETITIONS`` rows without non-repeaters.

        Raises :class:`_NoResponse` after ``tries`` unanswered tries of ``per_try``
        seconds, :class:`_BadResponse` for an undecodable answer, :class:`ProbeClosed`
        when the probe closes, ``OSError`` when the datagram cannot be sent.
        """
        family, sockaddr = address
        sock = self._socket(family)
        loop = asyncio.get_running_loop()
        request_id = random.getrandbits(31)
        while request_id in self._pending:
            request_id = random.getrandbits(31)
        wire = _ber.encode_request(
            version, community, pdu_type, request_id, oids, 0, MAX_REPETITIONS
        )
        request = _Request(
            loop.create_future(),
            sock,
            sockaddr,
            (sockaddr[0], sockaddr[1]),
            version,
            community,
            wire,
            per_try,
            tries - 1,
        )
        self._pending[request_id] = request
        try:
            self._transmit(request)
            return await request.future
        finally:
            if self._pending.get(request_id) is request:
                del self._pending[request_id]
            if request.timer is not None:
                request.timer.cancel()
            if request.future.done() and not request.future.cancelled():
                request.future.exception()  # retrieved: a cancelled check may never look
            else:
                request.future.cancel()

    def _transmit(self, request: _Request) -> None:
        """Send (or resend) the request and arm the timer of this try."""
        # A full send buffer loses the datagram like the network would; the next try
        # covers it. Other errors (no route, …) are the check's answer.
        self._send(request.sock, request.wire, request.address)
        assert self._loop is not None
        request.timer = self._loop.call_later(request.per_try, self._expired, request)

    def _expired(self, request: _Request) -> None:
        if request.future.done():
            return
        if request.tries_left <= 0:
            request.future.set_exception(_NoResponse())
            return
        request.tries_left -= 1
        try:
            self._transmit(request)
        except OSError as exc:
            request.future.set_exception(exc)

    @staticmethod
    def _finish(request: _Request, error: BaseException) -> None:
        if not request.future.done():
            request.future.set_exception(error)

    def _received(self, sock: socket.socket, data: bytes, source: Sockaddr) -> None:
        try:
            message = _ber.decode_message(data)
        except _ber.DecodeError as exc:
            if exc.request_id is None:
                return
            request = self._pending.get(exc.request_id)
            if request is not None and self._matches(request, source, exc.version, exc.community):
                self._finish(request, _BadResponse(exc.reason))
            return
        request = self._pending.get(message.request_id)
        if (
            request is None
            or message.pdu_type != _ber.RESPONSE
            or not self._matches(request, source, message.version, message.community)
            or request.future.done()
        ):
            return
        request.future.set_result(message)

    def _refused(self, sock: socket.socket, destination: Sockaddr, payload: bytes) -> None:
        """Left to the retries and the timeout, as SNMPv3 through pysnmp is: both
        versions say "no SNMP response" when no agent listens."""

    @staticmethod
    def _matches(
        request: _Request, source: Sockaddr, version: int | None, community: bytes | None
    ) -> bool:
        return (
            source[0] == request.peer[0]
            and source[1] == request.peer[1]
            and version == request.version
            and community == request.community
        )


class SnmpProbe(Probe[SnmpOptions]):
    """Checks an SNMP agent over shared sockets; remembers counters between checks."""

    kind = "snmp"
    Options = SnmpOptions

    def __init__(self) -> None:
        self._engine: SnmpEngine | None = None
        self._client = _CommunityClient()
        self._resolver = Resolver(ttl=TARGET_TTL_S)
        self._agents: dict[tuple[str, int], _AgentState] = {}
        self._v3_users: dict[str, _V3Use] = {}
        self._object_types: dict[Oid, ObjectType] = {}
        self._targets: dict[tuple[str, int, float, int], tuple[Any, float]] = {}
        self._auths: dict[tuple[Any, ...], UsmUserData] = {}

    def _object_type(self, oid: Oid) -> ObjectType:
        """The request varbind for ``oid``, built once.

        pysnmp resolves every varbind against its MIB view on every request, even with
        ``lookupMib=False``, which costs more than the rest of a GET; a resolved
        ``ObjectType`` skips that, so they are kept (up to ``MAX_CACHED_OIDS``).
        """
        found = self._object_types.get(oid)
        if found is None:
            if len(self._object_types) >= MAX_CACHED_OIDS:
                self._object_types.clear()
            found = self._object_types[oid] = ObjectType(ObjectIdentity(oid))
        return found

    async def start(self) -> None:
        """Nothing to do up front: sockets open on first use, the v3 engine on the first
        v3 check (about 80 ms of CPU, once)."""

    async def close(self) -> None:
        """Close the v1/v2c sockets and the v3 engine's socket."""
        self._client.close()
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None

    async def check(self, options: SnmpOptions) -> Observation:
        """GET the system group (and the listed interfaces' rows) and judge them."""
        await self.start()
        started = time.perf_counter()
        stage = ["no SNMP response"]
        target: Any = None
        try:
            async with asyncio.timeout(options.timeout):
                async with self._v3_credentials(options):
                    target = await self._target(options)
                    return await self._check(options, target, started, stage)
        except TimeoutError:
            observation = Observation.down(f"{stage[0]} within {format_seconds(options.timeout)}")
        except _SnmpFailure as failure:
            observation = failure.observation
        timed_out = observation.reason.startswith("no SNMP response")
        if options.version == "3" and target is not None and timed_out:
            self._forget_engine_id(tuple(target.transport_address))
        return observation

    def _forget_engine_id(self, address: tuple[Any, ...]) -> None:
        """Make the next v3 request to this agent rediscover its engine ID.

        pysnmp caches a peer's engine ID for 300 s and drops replies from any other, so an
        agent that comes back with a new engine ID (replaced device, wiped storage) would
        look silent for five minutes. The cache is private; if it moves, nothing breaks
        but this shortcut.
        """
        if self._engine is None:
            return
        for model in self._engine.message_processing_subsystems.values():
            if isinstance(model, SnmpV3MessageProcessingModel):
                cache = getattr(model, "_SnmpV3MessageProcessingModel__engineIdCache", None)
                if isinstance(cache, dict):
                    for key in [k for k in cache if _peer_address(k) == address[:2]]:
                        del cache[key]

    async def _check(
        self, options: SnmpOptions, target: Any, started: float, stage: list[str]
    ) -> Observation:
        """One check; ``stage[0]`` says what a deadline would have interrupted."""
        state = self._agents.setdefault((options.host, options.port), _AgentState())
        wanted = list(dict.fromkeys(options.interfaces))
        cached = [state.if_index.get(name) for name in wanted]
        rows_by_name: dict[str, dict[Oid, SnmpValue | None]] | None = None

        oids = list(SYSTEM_OIDS)
        if wanted and None not in cached:
            oids += [
                column + (index,) for index in cached if index is not None for column in IF_COLUMNS
            ]
        answer = await self._get(options, target, oids)
        stage[0] = "SNMP interface walk did not finish"
        if wanted and None not in cached:
            rows_by_name = {}
            for name, index in zip(wanted, cached, strict=True):
                assert index is not None
                row = {column: answer.get(column + (index,)) for column in IF_COLUMNS}
                if not self._row_matches(row, name):
                    rows_by_name = None
                    break
                rows_by_name[name] = row
        latency_ms = (time.perf_counter() - started) * 1000
        now = time.monotonic()

        values: dict[str, Value] = {}
        problems: list[tuple[Status, str]] = []
        uptime = _as_int(answer.get(SYS_UPTIME))
        values["sys_uptime_s"] = None if uptime is None else round(uptime / 100, 2)
        values["sys_name"] = _as_text(answer.get(SYS_NAME), SYS_NAME_LIMIT)
        values["sys_descr"] = _as_text(answer.get(SYS_DESCR), SYS_DESCR_LIMIT)

        rebooted = self._rebooted(state, uptime, now)
        if rebooted and uptime is not None:
            problems.append((Status.DEGRADED, f"rebooted {_format_age(uptime / 100)} ago"))
        if rebooted:
            state.counters.clear()
        if uptime is not None:
            state.uptime_ticks, state.at = uptime, now

        if wanted:
            if rows_by_name is None:
                rows_by_name = await self._find_interfaces(options, target, state, wanted)
                now = time.monotonic()
            for name in wanted:
                found = rows_by_name.get(name)
                if found is None:
                    problems.append((Status.DOWN, f"interface {safe_text(name, 60)} not found"))
                    continue
                problems += self._judge_interface(options, state, name, found, now, values)

        if not problems:
            return Observation(Status.OK, "", latency_ms, values)
        status = Status.DOWN if any(s is Status.DOWN for s, _ in problems) else Status.DEGRADED
        ordered = [text for s, text in problems if s is Status.DOWN]
        ordered += [text for s, text in problems if s is not Status.DOWN]
        reason = "; ".join(ordered[:MAX_REASONS])
        if len(ordered) > MAX_REASONS:
            reason += f" (+{len(ordered) - MAX_REASONS} more)"
        return Observation(status, reason, latency_ms, values)

    @staticmethod
    def _rebooted(state: _AgentState, uptime: int | None, now: float) -> bool:
        if uptime is None or state.uptime_ticks is None or uptime >= state.uptime_ticks:
            return False
        # sysUpTime is a 32-bit TimeTicks: after ~497 days it wraps to 0 without a reboot,
        # landing where the old value plus the elapsed time would be, modulo 2**32.
        elapsed = (now - state.at) * 100
        after_wrap = state.uptime_ticks + elapsed - TICKS_WRAP
        return abs(uptime - after_wrap) > max(WRAP_SLACK_TICKS, elapsed / 10)

    @staticmethod
    def _row_matches(row: dict[Oid, SnmpValue | None], name: str) -> bool:
        return name in (_decode(row.get(IF_NAME)), _decode(row.get(IF_DESCR)))

    async def _find_interfaces(
        self, options: SnmpOptions, target: Any, state: _AgentState, wanted: list[str]
    ) -> dict[str, dict[Oid, SnmpValue | None]]:
        table = await self._walk(options, target, IF_COLUMNS)
        by_name: dict[str, int] = {}
        by_descr: dict[str, int] = {}
        for index in sorted(table[IF_DESCR].keys() | table[IF_NAME].keys()):
            if (name := _decode(table[IF_NAME].get(index))) is not None:
                by_name.setdefault(name, index)
            if (descr := _decode(table[IF_DESCR].get(index))) is not None:
                by_descr.setdefault(descr, index)
        state.if_index.clear()
        rows: dict[str, dict[Oid, SnmpValue | None]] = {}
        for name in wanted:
            found = by_name.get(name, by_descr.get(name))
            if found is None:
                continue
            state.if_index[name] = found
            rows[name] = {column: table[column].get(found) for column in IF_COLUMNS}
        return rows

    @staticmethod
    def _judge_interface(
        options: SnmpOptions,
        state: _AgentState,
        name: str,
        row: dict[Oid, SnmpValue | None],
        now: float,
        values: dict[str, Value],
    ) -> list[tuple[Status, str]]:
        label = safe_text(name, 60)
        admin = _as_int(row.get(IF_ADMIN_STATUS))
        oper = _as_int(row.get(IF_OPER_STATUS))
        values[f"if.{name}.admin_status"] = IF_STATUS_NAMES.get(admin or 0, _opt_str(admin))
        values[f"if.{name}.oper_status"] = IF_STATUS_NAMES.get(oper or 0, _opt_str(oper))
        problems: list[tuple[Status, str]] = []
        if admin == 2:
            problems.append((Status.DEGRADED, f"{label} administratively down"))
        elif oper is None:
            problems.append((Status.DEGRADED, f"ifOperStatus unavailable for {label}"))
        elif oper != 1:
            status_name = IF_STATUS_NAMES.get(oper, str(oper))
            problems.append((Status.DOWN, f"ifOperStatus {status_name} on {label}"))

        speed_mbps = _as_int(row.get(IF_HIGH_SPEED))
        in_octets = _as_int(row.get(IF_HC_IN_OCTETS))
        out_octets = _as_int(row.get(IF_HC_OUT_OCTETS))
        values[f"if.{name}.speed_mbps"] = speed_mbps
        index = state.if_index.get(name)
        if index is None or in_octets is None or out_octets is None:
            return problems
        previous = state.counters.get(index)
        state.counters[index] = _Counters(in_octets, out_octets, now)
        if previous is None or not speed_mbps or now <= previous.at:
            return problems
        capacity_bits = (now - previous.at) * speed_mbps * 1_000_000
        for direction, current, before in (
            ("in", in_octets, previous.in_octets),
            ("out", out_octets, previous.out_octets),
        ):
            delta = _counter_delta(before, current)
            if delta is None:
                continue
            pct = round(delta * 8 / capacity_bits * 100, 2)
            values[f"if.{name}.{direction}_pct"] = pct
            limit = options.max_utilisation_pct
            if limit is not None and pct > limit:
                word = "inbound" if direction == "in" else "outbound"
                problems.append(
                    (Status.DEGRADED, f"{label} at {pct:.0f}% {word} (limit {limit:g}%)")
                )
        return problems

    async def _get(
        self, options: SnmpOptions, target: Any, oids: Sequence[Oid]
    ) -> dict[Oid, SnmpValue]:
        if options.version != "3":
            answer = await self._exchange(options, target, _ber.GET_REQUEST, oids)
            return dict(answer)
        return dict(await self._v3(options, target, oids, get_cmd))

    async def _next(
        self, options: SnmpOptions, target: Any, oids: Sequence[Oid]
    ) -> list[tuple[Oid, SnmpValue]]:
        """The rows after ``oids``: GETBULK (v2c, v3), one GETNEXT (v1)."""
        if options.version == "1":
            return await self._exchange(options, target, _ber.GET_NEXT_REQUEST, oids)
        if options.version == "2c":
            return await self._exchange(options, target, _ber.GET_BULK_REQUEST, oids)
        return await self._v3(options, target, oids, bulk_cmd, 0, MAX_REPETITIONS)

    async def _v3(
        self,
        options: SnmpOptions,
        target: Any,
        oids: Sequence[Oid],
        command: Callable[..., Awaitable[Any]],
        *head: int,
    ) -> list[tuple[Oid, SnmpValue]]:
        """One pysnmp ``command`` (get_cmd, bulk_cmd with its ``head`` arguments) for v3."""
        try:
            ei, es, ix, var_binds = await command(
                self._require_engine(),
                self._auth(options),
                target,
                _CONTEXT,
                *head,
                *(self._object_type(oid) for oid in oids),
                lookupMib=False,
            )
        except PySnmpError as exc:
            raise _SnmpFailure(Observation.down(f"SNMP error: {safe_text(exc, 120)}")) from exc
        self._raise_for_error(options, ei, es, ix, oids)
        return [(tuple(oid), _plain(value)) for oid, value in var_binds]

    async def _walk(
        self, options: SnmpOptions, target: Any, columns: Iterable[Oid]
    ) -> dict[Oid, dict[int, SnmpValue]]:
        """Walk table columns side by side, each up to its own end."""
        table: dict[Oid, dict[int, SnmpValue]] = {column: {} for column in columns}
        cursor: dict[Oid, Oid] = {column: column for column in table}
        active = list(table)
        limit = MAX_NEXT_REQUESTS if options.version == "1" else MAX_BULK_REQUESTS
        for _ in range(limit):
            if not active:
                break
            var_binds = await self._next(options, target, [cursor[column] for column in active])
            if not var_binds:
                break
            finished: set[Oid] = set()
            # GETBULK answers row by row: column 0, column 1, …, column 0, column 1, …
            for position, (oid, value) in enumerate(var_binds):
                column = active[position % len(active)]
                if column in finished:
                    continue
                if (
                    value is NoValue.END_OF_MIB_VIEW
                    or len(oid) != len(column) + 1
                    or oid[: len(column)] != column
                    or oid <= cursor[column]
                    or len(table[column]) >= MAX_IF_ROWS
                ):
                    finished.add(column)
                    continue
                table[column][oid[-1]] = value
                cursor[column] = oid
            active = [column for column in active if column not in finished]
        return table

    async def _exchange(
        self, options: SnmpOptions, target: Any, pdu_type: int, oids: Sequence[Oid]
    ) -> list[tuple[Oid, SnmpValue]]:
        """One v1/v2c request over the shared socket; errors become ``_SnmpFailure``.

        SNMPv1 answers a GET or GETNEXT with noSuchName for the whole PDU when one OID
        has no value (or no successor): that OID is answered with noSuchObject (GET) or
        endOfMibView (GETNEXT) and the others are asked again, as SNMPv2 would answer.
        """
        version = _ber.VERSION_1 if options.version == "1" else _ber.VERSION_2C
        community = options.community.encode()
        per_try = options.timeout / (options.retries + 1)
        asked = list(oids)
        positions = list(range(len(asked)))
        gaps: set[int] = set()
        answer: list[tuple[Oid, SnmpValue]] = []
        while asked:
            try:
                message = await self._client.exchange(
                    target, version, community, pdu_type, asked, per_try, options.retries + 1
                )
            except _NoResponse:
                reason = f"no SNMP response within {format_seconds(options.timeout)}"
                raise _SnmpFailure(Observation.down(reason)) from None
            except _BadResponse as exc:
                reason = f"malformed SNMP response: {safe_text(exc, 80)}"
                raise _SnmpFailure(Observation.down(reason)) from None
            except ProbeClosed as exc:
                raise _SnmpFailure(Observation.down(exc.reason)) from None
            except OSError as exc:
                reason = f"cannot reach {safe_text(options.host, 80)}: {exc.strerror or exc}"
                raise _SnmpFailure(Observation.down(safe_text(reason, 160))) from exc
            status, index = message.error_status, message.error_index
            if (
                status == _ber.NO_SUCH_NAME
                and version == _ber.VERSION_1
                and 0 < index <= len(asked)
            ):
                gaps.add(positions.pop(index - 1))
                asked.pop(index - 1)
                continue
            if status:
                where = ""
                if 0 < index <= len(asked):
                    where = " at " + ".".join(map(str, asked[index - 1]))
                text = safe_text(_ber.error_status_name(status), 40)
                raise _SnmpFailure(Observation.down(f"SNMP error {text}{where}"))
            answer = message.varbinds
            break
        if not gaps:
            return answer
        marker = (
            NoValue.END_OF_MIB_VIEW if pdu_type == _ber.GET_NEXT_REQUEST else NoValue.NO_SUCH_OBJECT
        )
        found = iter(answer)
        merged: list[tuple[Oid, SnmpValue]] = []
        for position, oid in enumerate(oids):
            if position in gaps:
                merged.append((oid, marker))
            elif (binding := next(found, None)) is not None:
                merged.append(binding)
        return merged

    def _raise_for_error(
        self, options: SnmpOptions, ei: Any, es: Any, ix: Any, oids: Sequence[Oid]
    ) -> None:
        if ei:
            raise _SnmpFailure(Observation.down(self._describe(options, ei)))
        if es and int(es):
            position = int(ix) - 1 if ix else -1
            where = ""
            if 0 <= position < len(oids):
                where = " at " + ".".join(map(str, oids[position]))
            text = safe_text(es.prettyPrint() if hasattr(es, "prettyPrint") else es, 40)
            raise _SnmpFailure(Observation.down(f"SNMP error {text}{where}"))

    @staticmethod
    def _describe(options: SnmpOptions, indication: Any) -> str:
        user = safe_text(options.user or "", 40)
        if isinstance(indication, errind.RequestTimedOut):
            return f"no SNMP response within {format_seconds(options.timeout)}"
        if isinstance(indication, errind.WrongDigest):
            return f"SNMPv3 authentication failed for user {user!r}: wrong auth key or protocol"
        if isinstance(indication, errind.UnknownUserName):
            return f"SNMPv3 user {user!r} unknown to the agent"
        if isinstance(indication, errind.DecryptionError):
            return f"SNMPv3 decryption failed for user {user!r}: wrong priv key or protocol"
        if isinstance(indication, errind.UnsupportedSecurityLevel):
            return f"agent refuses this security level for SNMPv3 user {user!r}"
        if isinstance(indication, errind.NotInTimeWindow):
            return "SNMPv3 message not in time window (agent clock or engine boots changed)"
        if isinstance(indication, errind.EncryptionError):
            raise ProbeSetupError(
                "SNMPv3 privacy needs the `cryptography` package: pip install 'cryptography>=43'"
            )
        return f"SNMP error: {safe_text(indication, 120)}"

    async def _target(self, options: SnmpOptions) -> Any:
        """Where requests go: an address for v1/v2c, a pysnmp transport target for v3.

        A name's resolution is kept for ``TARGET_TTL_S`` seconds either way.
        """
        if options.version != "3":
            return await self._address(options)
        return await self._v3_target(options)

    async def _address(self, options: SnmpOptions) -> tuple[int, tuple[Any, ...]]:
        """(address family, socket address) of the agent; a name's IPv4 address first."""
        try:
            found = await self._resolver.resolve(options.host, options.port, socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            reason = f"cannot resolve {safe_text(options.host, 80)}"
            raise _SnmpFailure(Observation.down(reason)) from exc
        return min(found, key=lambda item: item[0] != socket.AF_INET)

    async def _v3_target(self, options: SnmpOptions) -> Any:
        """The pysnmp transport target, built once per (host, port, timeout, retries).

        ``create()`` resolves the host in a worker thread (``getaddrinfo``) on every call,
        which cost more than the SNMP exchange itself. An address literal is kept until
        the cache fills; a name is resolved again after ``TARGET_TTL_S`` seconds.
        """
        per_try = options.timeout / (options.retries + 1)
        key = (options.host, options.port, per_try, options.retries)
        now = time.monotonic()
        cached = self._targets.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            literal = ipaddress.ip_address(options.host)
        except ValueError:
            literal = None
        kind = Udp6TransportTarget if literal and literal.version == 6 else UdpTransportTarget
        try:
            target = await kind.create(
                (options.host, options.port), timeout=per_try, retries=options.retries
            )
        except PySnmpError as exc:
            reason = f"cannot resolve {safe_text(options.host, 80)}"
            raise _SnmpFailure(Observation.down(reason)) from exc
        if len(self._targets) >= MAX_CACHED_TARGETS:
            self._targets.clear()
        expires = float("inf") if literal is not None else now + TARGET_TTL_S
        self._targets[key] = (target, expires)
        return target

    def _auth(self, options: SnmpOptions) -> UsmUserData:
        """The credentials object, built once per distinct credentials."""
        key = (
            options.version,
            options.community,
            options.user,
            options.auth_key,
            options.priv_key,
            options.auth_protocol,
            options.priv_protocol,
        )
        found = self._auths.get(key)
        if found is None:
            if len(self._auths) >= MAX_CACHED_TARGETS:
                self._auths.clear()
            found = self._auths[key] = self._make_auth(options)
        return found

    @staticmethod
    def _make_auth(options: SnmpOptions) -> UsmUserData:
        return UsmUserData(
            options.user,
            options.auth_key,
            options.priv_key,
            authProtocol=AUTH_PROTOCOLS[options.auth_protocol],
            privProtocol=(
                PRIV_PROTOCOLS[options.priv_protocol] if options.priv_key else USM_PRIV_NONE
            ),
        )

    @contextlib.asynccontextmanager
    async def _v3_credentials(self, options: SnmpOptions) -> AsyncIterator[None]:
        """Let checks with different keys for one user name take turns.

        pysnmp keeps one USM entry per user name and replaces it when the keys change,
        so a reply to a request sent with the old keys would fail its digest check.
        """
        if options.version != "3" or options.user is None:
            yield
            return
        credentials = (
            options.auth_key,
            options.priv_key,
            options.auth_protocol,
            options.priv_protocol,
        )
        while (use := self._v3_users.get(options.user)) and use.credentials != credentials:
            await use.idle.wait()
        if use is None:
            use = self._v3_users[options.user] = _V3Use(credentials)
        use.count += 1
        try:
            yield
        finally:
            use.count -= 1
            if use.count == 0:
                del self._v3_users[options.user]
                use.idle.set()

    def _require_engine(self) -> SnmpEngine:
        if self._engine is None:
            self._engine = SnmpEngine()
        return self._engine


def _peer_address(key: Any) -> tuple[Any, ...] | None:
    """The (host, port) of a pysnmp engine-ID cache key ``(domain, address)``."""
    try:
        return tuple(key[1])[:2]
    except (TypeError, IndexError):
        return None


def _decode(value: SnmpValue | None) -> str | None:
    raw = _as_bytes(value)
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _counter_delta(before: int, current: int) -> int | None:
    """Octets between two Counter64 readings; ``None`` when the counter was reset."""
    if current >= before:
        return current - before
    # A real 64-bit wrap only happens from near the top; anything else is a reset.
    if before > COUNTER64_WRAP - 2**62:
        return current + COUNTER64_WRAP - before
    return None
