"""A minimal BER codec for the SNMP v1/v2c messages the snmp probe sends and receives.

Encodes GetRequest, GetNextRequest and GetBulkRequest with NULL values; decodes any
community-based message whose PDU has the Response layout (the request PDUs share it).
The decoder follows one fixed schema (message, PDU, varbind list, varbind, value), so it
never recurses: anything else, a constructed value, an indefinite or oversized length, a
truncated field, trailing bytes or a number out of its type's range raises
:class:`DecodeError` and nothing else. Non-minimal integer, length and sub-identifier
encodings are accepted, as agents in the field send them.

Values come back as plain Python: ``int`` for Integer32, Counter32, Gauge32/Unsigned32,
TimeTicks and Counter64; ``bytes`` for OCTET STRING, Opaque and IpAddress (4 bytes); an
OID tuple for OBJECT IDENTIFIER; a :class:`NoValue` marker for NULL, noSuchObject,
noSuchInstance and endOfMibView.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass

Oid = tuple[int, ...]


class NoValue(enum.Enum):
    """A varbind without a value: NULL, or one of SNMPv2's three exceptions."""

    NULL = 0x05
    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82


SnmpValue = int | bytes | Oid | NoValue
"""What a varbind holds once decoded (see the module docstring)."""

VERSION_1 = 0
VERSION_2C = 1

GET_REQUEST = 0xA0
GET_NEXT_REQUEST = 0xA1
RESPONSE = 0xA2
GET_BULK_REQUEST = 0xA5

ERROR_STATUS_NAMES = (
    "noError",
    "tooBig",
    "noSuchName",
    "badValue",
    "readOnly",
    "genErr",
    "noAccess",
    "wrongType",
    "wrongLength",
    "wrongEncoding",
    "wrongValue",
    "noCreation",
    "inconsistentValue",
    "resourceUnavailable",
    "commitFailed",
    "undoFailed",
    "authorizationError",
    "notWritable",
    "inconsistentName",
)
NO_SUCH_NAME = 2

MAX_MESSAGE = 65535
"""Longest datagram decoded (the largest a UDP socket can deliver)."""
MAX_OID_ARCS = 128
"""RFC 2578: an OID has at most 128 sub-identifiers, each below 2**32."""
MAX_ARC = 2**32 - 1
MAX_INTEGER_OCTETS = 16
"""Longest integer content accepted: room for a Counter64 with generous zero padding."""
MAX_LENGTH_OCTETS = 4

_SEQUENCE = 0x30
_INTEGER = 0x02
_OCTET_STRING = 0x04
_NULL = 0x05
_OID = 0x06
_IP_ADDRESS = 0x40
_COUNTER32 = 0x41
_GAUGE32 = 0x42
_TIME_TICKS = 0x43
_OPAQUE = 0x44
_COUNTER64 = 0x46
_UINTEGER32 = 0x47
_PDU_TAGS = frozenset(range(0xA0, 0xA9))
_UNSIGNED_LIMITS = {
    _COUNTER32: 2**32,
    _GAUGE32: 2**32,
    _TIME_TICKS: 2**32,
    _UINTEGER32: 2**32,
    _COUNTER64: 2**64,
}
_NO_VALUES = {marker.value: marker for marker in NoValue}


class DecodeError(ValueError):
    """A datagram that is not a well-formed SNMP v1/v2c message.

    ``request_id``, ``version`` and ``community`` are set when the header was readable,
    so a caller can tell a broken answer to its own request from stray noise.
    """

    def __init__(
        self,
        reason: str,
        version: int | None = None,
        community: bytes | None = None,
        request_id: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.version = version
        self.community = community
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded community-based SNMP message."""

    version: int
    community: bytes
    pdu_type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[tuple[Oid, SnmpValue]]


def error_status_name(status: int) -> str:
    """RFC 3416's name for an error-status (the number itself when unknown)."""
    return ERROR_STATUS_NAMES[status] if 0 <= status < len(ERROR_STATUS_NAMES) else str(status)


def _length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def encode_integer(value: int) -> bytes:
    """An INTEGER, minimally encoded in two's complement."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return _tlv(_INTEGER, value.to_bytes(size, "big", signed=True))


def encode_oid(oid: Sequence[int]) -> bytes:
    """An OBJECT IDENTIFIER (at least two arcs, the first 0-2, each below 2**32)."""
    if not 2 <= len(oid) <= MAX_OID_ARCS or not 0 <= oid[0] <= 2:
        raise ValueError(f"cannot encode OID {oid!r}")
    if oid[0] < 2 and not 0 <= oid[1] < 40:
        raise ValueError(f"cannot encode OID {oid!r}")
    out = bytearray()
    first = oid[0] * 40 + oid[1]
    if not 0 <= first <= MAX_ARC + 80 or not all(0 <= arc <= MAX_ARC for arc in oid[2:]):
        raise ValueError(f"cannot encode OID {oid!r}")
    for arc in (first, *oid[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(_OID, bytes(out))


@functools.lru_cache(maxsize=4096)
def _varbinds(oids: tuple[Oid, ...]) -> bytes:
    # A monitor asks the same few OID lists again and again.
    return _tlv(_SEQUENCE, b"".join(_tlv(_SEQUENCE, encode_oid(oid) + b"\x05\x00") for oid in oids))


@functools.lru_cache(maxsize=1024)
def _header(version: int, community: bytes) -> bytes:
    return encode_integer(version) + _tlv(_OCTET_STRING, community)


def encode_request(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: Sequence[Oid],
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """A whole request message: each OID with a NULL value.

    For GetBulkRequest the PDU's two middle fields are ``non_repeaters`` and
    ``max_repetitions``; for the other PDUs they are error-status and error-index, zero.
    """
    if pdu_type == GET_BULK_REQUEST:
        middle = encode_integer(non_repeaters) + encode_integer(max_repetitions)
    else:
        middle = b"\x02\x01\x00\x02\x01\x00"
    body = encode_integer(request_id) + middle + _varbinds(tuple(oids))
    return _tlv(_SEQUENCE, _header(version, community) + _tlv(pdu_type, body))


class _Reader:
    """Reads TLVs from ``data[start:end]``; every read is checked against ``end``."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data = data
        self.pos = start
        self.end = end

    def at_end(self) -> bool:
        return self.pos >= self.end

    def tlv(self, what: str) -> tuple[int, int, int]:
        """(tag, content start, content end) of the next TLV."""
        data, pos, end = self.data, self.pos, self.end
        if pos + 2 > end:
            raise DecodeError(f"truncated {what}")
        tag = data[pos]
        if tag & 0x1F == 0x1F:
            raise DecodeError(f"{what}: multi-byte tag")
        first = data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise DecodeError(f"{what}: indefinite length")
        else:
            count = first & 0x7F
            # Leading zero octets are a non-minimal but valid length.
            while count and pos < end and data[pos] == 0:
                pos += 1
                count -= 1
            if count > MAX_LENGTH_OCTETS:
                raise DecodeError(f"{what}: oversized length")
            if pos + count > end:
                raise DecodeError(f"truncated {what} length")
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        if length > end - pos:
            raise DecodeError(f"{what}: length {length} beyond the datagram")
        self.pos = pos + length
        return tag, pos, pos + length

    def expect(self, tag: int, what: str) -> tuple[int, int]:
        found, start, stop = self.tlv(what)
        if found != tag:
            raise DecodeError(f"{what}: unexpected tag 0x{found:02x}")
        return start, stop

    def integer(self, what: str) -> int:
        start, stop = self.expect(_INTEGER, what)
        return _signed(self.data, start, stop, what)


def _signed(data: bytes, start: int, stop: int, what: str) -> int:
    if start == stop:
        raise DecodeError(f"{what}: empty integer")
    if stop - start > MAX_INTEGER_OCTETS:
        raise DecodeError(f"{what}: integer too long")
    value = int.from_bytes(data[start:stop], "big", signed=True)
    if not -(2**31) <= value < 2**31:
        raise DecodeError(f"{what}: {value} out of Integer32 range")
    return value


def _unsigned(data: bytes, start: int, stop: int, limit: int, what: str) -> int:
    if start == stop:
        raise DecodeError(f"{what}: empty integer")
    if stop - start > MAX_INTEGER_OCTETS:
        raise DecodeError(f"{what}: integer too long")
    value = int.from_bytes(data[start:stop], "big", signed=True)
    if value < 0:
        # Some agents drop the leading zero octet of a large counter; read it unsigned
        # (as net-snmp does) when that fits the type.
        value = int.from_bytes(data[start:stop], "big")
    if value >= limit:
        raise DecodeError(f"{what}: {value} out of range")
    return value


def _oid(data: bytes, start: int, stop: int, what: str) -> Oid:
    if start == stop:
        raise DecodeError(f"{what}: empty OID")
    arcs: list[int] = []
    arc = 0
    pending = False
    for pos in range(start, stop):
        byte = data[pos]
        arc = (arc << 7) | (byte & 0x7F)
        if arc > MAX_ARC + 80:
            raise DecodeError(f"{what}: sub-identifier too large")
        if byte & 0x80:
            pending = True
            continue
        pending = False
        if arcs:
            if arc > MAX_ARC:
                raise DecodeError(f"{what}: sub-identifier too large")
            arcs.append(arc)
        elif arc < 80:
            arcs += divmod(arc, 40)
        else:
            arcs += (2, arc - 80)
        if len(arcs) > MAX_OID_ARCS:
            raise DecodeError(f"{what}: more than {MAX_OID_ARCS} sub-identifiers")
        arc = 0
    if pending:
        raise DecodeError(f"{what}: truncated sub-identifier")
    return tuple(arcs)


def _value(data: bytes, tag: int, start: int, stop: int) -> SnmpValue:
    if tag in (_OCTET_STRING, _OPAQUE):
        return data[start:stop]
    if tag == _INTEGER:
        return _signed(data, start, stop, "value")
    limit = _UNSIGNED_LIMITS.get(tag)
    if limit is not None:
        return _unsigned(data, start, stop, limit, "value")
    if tag == _OID:
        return _oid(data, start, stop, "value")
    if tag == _IP_ADDRESS:
        if stop - start != 4:
            raise DecodeError(f"IpAddress of {stop - start} octets")
        return data[start:stop]
    marker = _NO_VALUES.get(tag)
    if marker is not None:
        if start != stop:
            raise DecodeError(f"{marker.name} with content")
        return marker
    raise DecodeError(f"value of unknown type 0x{tag:02x}")


def decode_message(data: bytes) -> Message:
    """Decode one datagram; raises :class:`DecodeError` for anything malformed."""
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > MAX_MESSAGE:
        raise DecodeError("datagram too long")
    outer = _Reader(data, 0, len(data))
    start, stop = outer.expect(_SEQUENCE, "message")
    if not outer.at_end():
        raise DecodeError("bytes after the message")
    message = _Reader(data, start, stop)
    version = message.integer("version")
    if version not in (VERSION_1, VERSION_2C):
        raise DecodeError(f"not SNMP v1/v2c (version {version})")
    c_start, c_stop = message.expect(_OCTET_STRING, "community")
    community = data[c_start:c_stop]
    pdu_type, p_start, p_stop = message.tlv("PDU")
    if pdu_type not in _PDU_TAGS:
        raise DecodeError(f"PDU: unexpected tag 0x{pdu_type:02x}", version, community)
    if not message.at_end():
        raise DecodeError("bytes after the PDU", version, community)
    pdu = _Reader(data, p_start, p_stop)
    request_id = pdu.integer("request-id")
    try:
        error_status = pdu.integer("error-status")
        error_index = pdu.integer("error-index")
        v_start, v_stop = pdu.expect(_SEQUENCE, "variable-bindings")
        if not pdu.at_end():
            raise DecodeError("bytes after the variable-bindings")
        varbinds: list[tuple[Oid, SnmpValue]] = []
        bindings = _Reader(data, v_start, v_stop)
        while not bindings.at_end():
            b_start, b_stop = bindings.expect(_SEQUENCE, "varbind")
            binding = _Reader(data, b_start, b_stop)
            o_start, o_stop = binding.expect(_OID, "varbind name")
            oid = _oid(data, o_start, o_stop, "varbind name")
            tag, start, stop = binding.tlv("varbind value")
            if not binding.at_end():
                raise DecodeError("bytes after a varbind value")
            varbinds.append((oid, _value(data, tag, start, stop)))
    except DecodeError as exc:
        raise DecodeError(exc.reason, version, community, request_id) from None
    return Message(version, community, pdu_type, request_id, error_status, error_index, varbinds)
