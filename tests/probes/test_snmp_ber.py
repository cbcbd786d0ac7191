"""The v1/v2c BER codec (probes._ber): against pysnmp's encoder and decoder, hostile bytes."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import rfc1902
from pysnmp.proto.api import v1, v2c

from probes import _ber
from probes._ber import DecodeError, NoValue
from probes.snmp import Oid, _plain

FAST = settings(max_examples=200, deadline=None)

oids = st.builds(
    lambda first, second, rest: (first, second, *rest),
    st.integers(0, 1),
    st.integers(0, 39),
    st.lists(st.integers(0, 2**32 - 1), max_size=20),
) | st.builds(
    lambda second, rest: (2, second, *rest),
    st.integers(0, 2**32 - 81),
    st.lists(st.integers(0, 2**32 - 1), max_size=20),
)

pysnmp_values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(rfc1902.Integer32),
    st.integers(0, 2**32 - 1).map(rfc1902.Counter32),
    st.integers(0, 2**32 - 1).map(rfc1902.Gauge32),
    st.integers(0, 2**32 - 1).map(rfc1902.Unsigned32),
    st.integers(0, 2**32 - 1).map(rfc1902.TimeTicks),
    st.integers(0, 2**64 - 1).map(rfc1902.Counter64),
    st.binary(max_size=300).map(rfc1902.OctetString),
    st.binary(max_size=40).map(rfc1902.Opaque),
    st.binary(min_size=4, max_size=4).map(rfc1902.IpAddress),
    oids.map(rfc1902.ObjectName),
    st.sampled_from(["noSuchObject", "noSuchInstance", "endOfMibView", "null"]).map(
        lambda name: {
            "noSuchObject": v2c.NoSuchObject,
            "noSuchInstance": v2c.NoSuchInstance,
            "endOfMibView": v2c.EndOfMibView,
            "null": v2c.Null,
        }[name]("")
    ),
)


def pysnmp_response(
    varbinds: list[tuple[Oid, Any]],
    request_id: int = 1234,
    community: bytes = b"public",
    error_status: int = 0,
    error_index: int = 0,
    api: Any = v2c,
) -> bytes:
    """A Response message as pysnmp encodes it."""
    message = api.Message()
    api.apiMessage.set_defaults(message)
    api.apiMessage.set_community(message, community)
    pdu = api.GetResponsePDU()
    api.apiPDU.set_defaults(pdu)
    api.apiPDU.set_request_id(pdu, request_id)
    api.apiPDU.set_error_status(pdu, error_status)
    api.apiPDU.set_error_index(pdu, error_index)
    api.apiPDU.set_varbinds(pdu, varbinds)
    api.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


@FAST
@given(st.binary(max_size=600))
def test_arbitrary_bytes_only_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        _ber.decode_message(data)


@FAST
@given(
    st.lists(st.tuples(oids, pysnmp_values), max_size=5),
    st.data(),
)
def test_mutated_responses_only_raise_decode_error(
    varbinds: list[tuple[Oid, Any]], data: st.DataObject
) -> None:
    wire = bytearray(pysnmp_response(varbinds))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    with contextlib.suppress(DecodeError):
        _ber.decode_message(bytes(wire[:cut]))


@FAST
@given(
    st.lists(st.tuples(oids, pysnmp_values), max_size=6),
    st.integers(-(2**31), 2**31 - 1),
    st.binary(max_size=40),
    st.integers(0, 18),
    st.integers(0, 6),
)
def test_decodes_what_pysnmp_encodes(
    varbinds: list[tuple[Oid, Any]],
    request_id: int,
    community: bytes,
    error_status: int,
    error_index: int,
) -> None:
    wire = pysnmp_response(varbinds, request_id, community, error_status, error_index)
    message = _ber.decode_message(wire)
    assert (message.version, message.community, message.pdu_type) == (1, community, 0xA2)
    assert (message.request_id, message.error_status, message.error_index) == (
        request_id,
        error_status,
        error_index,
    )
    # The v3 path converts pysnmp's values with _plain: both paths see the same values.
    assert message.varbinds == [(oid, _plain(value)) for oid, value in varbinds]


def test_v1_response_and_value_edges() -> None:
    varbinds: list[tuple[Oid, Any]] = [
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), v1.TimeTicks(2**32 - 1)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 1), v1.Integer(-(2**31))),
        ((1, 3, 6, 1, 2, 1, 1, 5, 0), v1.OctetString(b"")),
        ((1, 3, 6, 1, 4, 1, 2**32 - 1), v1.IpAddress("10.0.0.1")),
    ]
    wire = pysnmp_response(varbinds, request_id=-5, api=v1)
    message = _ber.decode_message(wire)
    assert message.version == 0
    assert message.request_id == -5
    assert message.varbinds == [
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), 2**32 - 1),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 1), -(2**31)),
        ((1, 3, 6, 1, 2, 1, 1, 5, 0), b""),
        ((1, 3, 6, 1, 4, 1, 2**32 - 1), b"\x0a\x00\x00\x01"),
    ]


@FAST
@given(
    st.sampled_from([_ber.GET_REQUEST, _ber.GET_NEXT_REQUEST, _ber.GET_BULK_REQUEST]),
    st.integers(0, 2**31 - 1),
    st.binary(max_size=300),
    st.lists(oids, min_size=1, max_size=30),
    st.booleans(),
)
def test_pysnmp_decodes_what_we_encode(
    pdu_type: int, request_id: int, community: bytes, asked: list[Oid], v2: bool
) -> None:
    version = _ber.VERSION_2C if v2 or pdu_type == _ber.GET_BULK_REQUEST else _ber.VERSION_1
    api: Any = v2c if version == _ber.VERSION_2C else v1
    wire = _ber.encode_request(version, community, pdu_type, request_id, asked, 0, 20)
    message, rest = decoder.decode(wire, asn1Spec=api.Message())
    assert rest == b""
    assert int(api.apiMessage.get_version(message)) == version
    assert bytes(api.apiMessage.get_community(message)) == community
    pdu = api.apiMessage.get_pdu(message)
    assert pdu.tagSet[0][2] == pdu_type & 0x1F
    assert int(api.apiPDU.get_request_id(pdu)) == request_id
    assert [tuple(oid) for oid, _ in api.apiPDU.get_varbinds(pdu)] == asked
    assert all(isinstance(value, api.Null) for _, value in api.apiPDU.get_varbinds(pdu))
    if pdu_type == _ber.GET_BULK_REQUEST:
        assert int(v2c.apiBulkPDU.get_non_repeaters(pdu)) == 0
        assert int(v2c.apiBulkPDU.get_max_repetitions(pdu)) == 20
    else:
        assert (int(api.apiPDU.get_error_status(pdu)), int(api.apiPDU.get_error_index(pdu))) == (
            0,
            0,
        )
    # And our own decoder reads our requests back (the PDU layout is the same).
    ours = _ber.decode_message(wire)
    assert (ours.pdu_type, ours.request_id, ours.community) == (pdu_type, request_id, community)
    assert [oid for oid, _ in ours.varbinds] == asked
    assert all(value is NoValue.NULL for _, value in ours.varbinds)


def tlv(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    return bytes([tag, 0x82]) + len(content).to_bytes(2, "big") + content


def response(value: bytes, *, header: bytes = b"\x02\x01\x01\x04\x06public") -> bytes:
    """A v2c Response with request-id 7 and one varbind for 1.3.6.1 holding ``value``."""
    varbind = tlv(0x30, b"\x06\x03\x2b\x06\x01" + value)
    pdu = tlv(0xA2, b"\x02\x01\x07\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbind))
    return tlv(0x30, header + pdu)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"\x02\x04\xff\xff\xff\xfe", -2),
        (b"\x02\x03\xff\xff\xfe", -2),  # non-minimal: redundant sign octets
        (b"\x02\x05\x00\x00\x00\x00\x07", 7),  # non-minimal: leading zeros
        (b"\x41\x04\xff\xff\xff\xff", 2**32 - 1),  # Counter32 without its leading zero
        (b"\x41\x05\x00\xff\xff\xff\xff", 2**32 - 1),
        (b"\x46\x09\x00" + b"\xff" * 8, 2**64 - 1),
        (b"\x46\x08" + b"\xff" * 8, 2**64 - 1),
        (b"\x46\x0c\x00\x00\x00\x00" + b"\x01" * 8, int.from_bytes(b"\x01" * 8, "big")),
        (b"\x43\x01\x00", 0),
        (b"\x04\x81\x03abc", b"abc"),  # non-minimal long-form length
        (b"\x04\x84\x00\x00\x00\x03abc", b"abc"),
        (b"\x06\x04\x2b\x80\x80\x06", (1, 3, 6)),  # sub-identifier with padding
        (b"\x06\x01\x52", (2, 2)),
        (b"\x80\x00", NoValue.NO_SUCH_OBJECT),
        (b"\x81\x00", NoValue.NO_SUCH_INSTANCE),
        (b"\x82\x00", NoValue.END_OF_MIB_VIEW),
        (b"\x05\x00", NoValue.NULL),
    ],
)
def test_tolerated_encodings(value: bytes, expected: Any) -> None:
    message = _ber.decode_message(response(value))
    assert message.varbinds == [((1, 3, 6, 1), expected)]


def nested(depth: int) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = tlv(0x30, inner)
    return inner


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated message"),
        (b"\x30", "truncated message"),
        (b"\x30\x80" + b"\x00" * 4, "indefinite length"),
        (b"\x30\x85\x01\x00\x00\x00\x00", "oversized length"),
        (b"\x30\x84\x7f\xff\xff\xff", "beyond the datagram"),
        (b"\x1f\x01\x00", "multi-byte tag"),
        (response(b"\x05\x00") + b"\x00", "bytes after the message"),
        (response(b"\x41\x05\x01\x00\x00\x00\x00"), "out of range"),
        (response(b"\x46\x09\x01" + b"\x00" * 8), "out of range"),
        (response(b"\x02\x05\x00\x80\x00\x00\x00"), "out of Integer32 range"),
        (response(b"\x02\x00"), "empty integer"),
        (response(b"\x02\x11" + b"\x00" * 17), "integer too long"),
        (response(b"\x40\x05\x01\x02\x03\x04\x05"), "IpAddress of 5 octets"),
        (response(b"\x06\x02\x2b\x86"), "truncated sub-identifier"),
        (response(b"\x06\x06\x2b\x90\x80\x80\x80\x00"), "sub-identifier too large"),
        (response(b"\x06\x00"), "empty OID"),
        (response(b"\x06\x81\x82" + b"\x01" * 130), "more than 128"),
        (response(b"\x24\x03\x04\x01a"), "unknown type 0x24"),  # constructed OCTET STRING
        (response(b"\x30\x00"), "unknown type 0x30"),
        (response(b"\x80\x01\x00"), "NO_SUCH_OBJECT with content"),
        (response(b"\x04\x05abc"), "beyond the datagram"),
        (response(b"\x05\x00", header=b"\x02\x01\x03\x04\x00"), "version 3"),
        (nested(3000), "unexpected tag 0x30"),
        (b"\x30\x03\x02\x01\x01", "truncated community"),
    ],
)
def test_malformed_messages_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        _ber.decode_message(data)


def test_broken_varbinds_keep_the_header_for_matching() -> None:
    with pytest.raises(DecodeError) as caught:
        _ber.decode_message(response(b"\x41\x00"))
    assert (caught.value.version, caught.value.community, caught.value.request_id) == (
        1,
        b"public",
        7,
    )


def test_error_status_names_follow_pysnmp() -> None:
    # The v3 path words an error-status with pysnmp's prettyPrint(); v1/v2c must match it.
    for status in range(25):
        pdu = v2c.GetResponsePDU()
        v2c.apiPDU.set_defaults(pdu)
        v2c.apiPDU.set_error_status(pdu, status)
        pretty = v2c.apiPDU.get_error_status(pdu).prettyPrint()
        assert _ber.error_status_name(status) == pretty


def test_encoder_refuses_what_cannot_be_an_oid() -> None:
    for bad in [(1,), (3, 1), (1, 40), (1, 3, -1), (1, 3, 2**32), tuple(range(129))]:
        with pytest.raises(ValueError, match="cannot encode OID"):
            _ber.encode_request(1, b"public", _ber.GET_REQUEST, 1, [bad])
