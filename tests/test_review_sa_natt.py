"""Review of the SA payload (RFC 7296 3.3) and of UDP encapsulation of ESP (RFC 3948).

Every expected octet is built here with :mod:`struct` from the RFC's field layouts, never by ikelab's
encoder: an IKE header (3.1), a generic payload header (3.2), Proposal (3.3.1), Transform (3.3.2) and
Attribute (3.3.5) substructures.  Decoding goes through :func:`ikelab.message.decode`, so error offsets
count from the first octet of the IKE header.
"""

from __future__ import annotations

import struct

import pytest

from ikelab import packet as ip
from ikelab import sa_payload
from ikelab.errors import ConfigError, ParseError
from ikelab.message import decode
from ikelab.natt import KeepaliveClock, add_non_esp_marker, classify_udp4500, extract_esp, udp_encapsulate
from ikelab.sa_payload import SA, Proposal, Transform

SA_AT = 28 + 4  # the SA body starts after the IKE header and the generic payload header


def tv(atype: int, value: int) -> bytes:
    """A TV attribute: AF=1 | Attribute Type (15 bits) | Attribute Value (RFC 7296 3.3.5)."""
    return struct.pack("!HH", 0x8000 | atype, value)


def tlv(atype: int, value: bytes) -> bytes:
    """A TLV attribute: AF=0 | Attribute Type | Attribute Length | Attribute Value."""
    return struct.pack("!HH", atype, len(value)) + value


def tr(ttype: int, tid: int, attrs: bytes = b"", last: int = 0) -> bytes:
    """A Transform substructure (RFC 7296 3.3.2); ``last`` 0 or 3."""
    return struct.pack("!BBHBBH", last, 0, 8 + len(attrs), ttype, 0, tid) + attrs


def prop(num: int, proto: int, spi: bytes, transforms: list[bytes], last: int = 0, count: int | None = None,
         length: int | None = None) -> bytes:
    """A Proposal substructure (RFC 7296 3.3.1); ``last`` 0 or 2; Last Substruc of the transforms set here."""
    body = b"".join(t if i == len(transforms) - 1 or t[0] != 0 else b"\x03" + t[1:] for i, t in enumerate(transforms))
    n = len(transforms) if count is None else count
    return struct.pack("!BBHBBBB", last, 0, 8 + len(spi) + len(body) if length is None else length,
                       num, proto, len(spi), n) + spi + body


def sa_body(*proposals: bytes) -> bytes:
    """Proposals joined with Last Substruc 2 on all but the last (unless a proposal set its own)."""
    return b"".join(p if i == len(proposals) - 1 or p[0] != 0 else b"\x02" + p[1:] for i, p in enumerate(proposals))


def message(body: bytes) -> bytes:
    """An IKE_SA_INIT request (RFC 7296 3.1) whose only payload is an SA (33) with ``body``."""
    total = 28 + 4 + len(body)
    return (bytes(range(1, 9)) + bytes(8) + struct.pack("!BBBBII", 33, 0x20, 34, 0x08, 0, total)
            + struct.pack("!BBH", 0, 0, 4 + len(body)) + body)


def decoded(body: bytes) -> SA:
    sa = decode(message(body)).payloads[0]
    assert isinstance(sa, SA)
    return sa


def forget() -> None:
    sa_payload._KNOWN_TRANSFORMS.clear()
    sa_payload._KNOWN_PROPOSALS.clear()


AES_CBC_128 = tr(1, 12, tv(14, 128))
SHA256 = tr(3, 12)  # AUTH_HMAC_SHA2_256_128
PRF_SHA256 = tr(2, 5)
MODP2048 = tr(4, 14)
NO_ESN = tr(5, 0)

WELL_FORMED = {
    "IKE_SA_INIT, no SPI": sa_body(prop(1, 1, b"", [AES_CBC_128, PRF_SHA256, SHA256, MODP2048])),
    "IKE rekey, 8-octet SPI": sa_body(prop(1, 1, bytes(range(8)), [AES_CBC_128, PRF_SHA256, SHA256, MODP2048])),
    "ESP, 4-octet SPI": sa_body(prop(1, 3, b"\xc0\x01\x02\x03", [AES_CBC_128, SHA256, NO_ESN])),
    "AH, 4-octet SPI": sa_body(prop(1, 2, b"\xc0\x01\x02\x04", [SHA256, NO_ESN])),
    "three proposals": sa_body(prop(1, 1, b"", [AES_CBC_128, MODP2048]), prop(2, 1, b"", [tr(1, 20, tv(14, 256))]),
                               prop(3, 1, b"", [tr(1, 28)])),
    "accepted proposal keeps its number": sa_body(prop(7, 3, b"\x00\x00\x00\x09", [tr(1, 20, tv(14, 256))])),
    "no transforms": sa_body(prop(1, 3, b"\x00\x00\x00\x09", [])),
    "unknown type and id": sa_body(prop(1, 1, b"", [tr(250, 0xFFFF), tr(1, 60000), AES_CBC_128])),
    "Key Length then unknown TV and TLV attributes": sa_body(
        prop(1, 1, b"", [tr(1, 12, tv(14, 256) + tv(0x7FFF, 0xFFFF) + tlv(17, b"\x01\x02\x03") + tlv(18, b""))])),
    "largest Key Length": sa_body(prop(1, 1, b"", [tr(1, 12, tv(14, 0xFFFF))])),
}


@pytest.mark.parametrize("fresh", [True, False], ids=["first sight", "remembered"])
@pytest.mark.parametrize("name", list(WELL_FORMED))
def test_well_formed_sa_payloads_round_trip_octet_for_octet(name: str, fresh: bool) -> None:
    """RFC 7296 3.3: decode, then encode gives the same octets, whether or not the decoder's tables knew them."""
    body = WELL_FORMED[name]
    if fresh:
        forget()
    else:
        decoded(body)
    sa = decoded(body)
    assert sa.encode() == struct.pack("!BBH", 0, 0, 4 + len(body)) + body
    assert SA(sa.proposals).encode() == sa.encode()  # the public constructor agrees with the decoder


def test_unknown_transform_types_ids_and_attributes_decode_for_negotiation_to_skip() -> None:
    """RFC 7296 3.3.6: a transform of a type or ID not understood, or with an attribute not understood, makes
    only that transform (or proposal) unacceptable; so each must decode, as plain numbers, with what follows."""
    sa = decoded(WELL_FORMED["unknown type and id"])
    (p,) = sa.proposals
    assert [(int(t.type), int(t.id)) for t in p.transforms] == [(250, 0xFFFF), (1, 60000), (1, 12)]
    assert p.transforms[2].key_length == 128 and p.of_type(250) == (p.transforms[0],)
    sa = decoded(WELL_FORMED["Key Length then unknown TV and TLV attributes"])
    t = sa.proposals[0].transforms[0]
    assert t.key_length == 256 and t.attributes == ((0x7FFF, 0xFFFF), (17, b"\x01\x02\x03"), (18, b""))


# (body, field, offset of the problem counted from the SA body's first octet)
MALFORMED = {
    "no proposal": (b"", "SA.proposal[1]", 0),
    "proposal of 7 octets": (prop(1, 1, b"", [])[:7], "SA.proposal[1].proposal_length", 0),
    "Proposal Length 7": (prop(1, 1, b"", [], length=7), "SA.proposal[1].proposal_length", 2),
    "Proposal Length past the payload": (prop(1, 1, b"", [SHA256], length=17), "SA.proposal[1].proposal_length", 2),
    "proposal Last Substruc 3": (b"\x03" + prop(1, 1, b"", [SHA256])[1:], "SA.proposal[1].last_substruc", 0),
    "last proposal says more follow": (b"\x02" + prop(1, 1, b"", [SHA256])[1:], "SA.proposal[1].last_substruc", 16),
    "bytes after the last proposal": (prop(1, 1, b"", [SHA256]) + prop(2, 1, b"", [SHA256]), "SA.proposal[2]", 16),
    "proposal number 0": (prop(0, 1, b"", [SHA256]), "SA.proposal[1].proposal_number", 4),
    "second proposal numbered 1": (sa_body(prop(1, 1, b"", [SHA256]), prop(1, 1, b"", [SHA256])),
                                   "SA.proposal[2].proposal_number", 20),
    "second proposal numbered 3": (sa_body(prop(1, 1, b"", [SHA256]), prop(3, 1, b"", [SHA256])),
                                   "SA.proposal[2].proposal_number", 20),
    "protocol 0": (prop(1, 0, b"", [SHA256]), "SA.proposal[1].protocol_id", 5),
    "protocol 4": (prop(1, 4, b"", [SHA256]), "SA.proposal[1].protocol_id", 5),
    "IKE SPI of 4": (prop(1, 1, b"\x00\x00\x00\x01", [SHA256]), "SA.proposal[1].spi_size", 6),
    "ESP SPI of 0": (prop(1, 3, b"", [SHA256]), "SA.proposal[1].spi_size", 6),
    "ESP SPI of 8": (prop(1, 3, bytes(8), [SHA256]), "SA.proposal[1].spi_size", 6),
    "SPI past the Proposal Length": (prop(1, 3, b"\x00\x00\x00\x01", [], length=10), "SA.proposal[1].spi_size", 6),
    "Num Transforms 2, one present": (prop(1, 1, b"", [SHA256], count=2), "SA.proposal[1].num_transforms", 7),
    "Num Transforms 1, two present": (prop(1, 1, b"", [SHA256, MODP2048], count=1), "SA.proposal[1].num_transforms", 7),
    "Num Transforms 0, one present": (prop(1, 1, b"", [SHA256], count=0), "SA.proposal[1].transform[1]", 8),
    "last transform says more follow": (prop(1, 1, b"", [tr(3, 12, last=3)]), "SA.proposal[1].num_transforms", 7),
    "bytes after the last transform": (prop(1, 1, b"", [SHA256, tr(4, 14)], count=2)[:8] + SHA256 + MODP2048,
                                       "SA.proposal[1].transform[2]", 16),
    "transform Last Substruc 2": (prop(1, 1, b"", [tr(3, 12, last=2)]), "SA.proposal[1].transform[1].last_substruc", 8),
    "Transform Length 7": (prop(1, 1, b"", [b"\x00\x00\x00\x07" + SHA256[4:]]),
                           "SA.proposal[1].transform[1].transform_length", 10),
    "Transform Length past the proposal": (prop(1, 1, b"", [b"\x00\x00\x00\x0c" + SHA256[4:]]),
                                           "SA.proposal[1].transform[1].transform_length", 10),
    "2 octets of attribute": (prop(1, 1, b"", [tr(1, 12, b"\x80\x0e")]),
                              "SA.proposal[1].transform[1].attribute[1].type", 16),
    "Key Length in TLV form": (prop(1, 1, b"", [tr(1, 12, tlv(14, b"\x00\x80"))]),
                               "SA.proposal[1].transform[1].attribute[1].format", 16),
    "Key Length twice": (prop(1, 1, b"", [tr(1, 12, tv(14, 128) + tv(14, 256))]),
                         "SA.proposal[1].transform[1].attribute[2].type", 20),
    "TLV length past the transform": (prop(1, 1, b"", [tr(1, 12, struct.pack("!HH", 17, 5) + b"abcd")]),
                                      "SA.proposal[1].transform[1].attribute[1].length", 18),
}


@pytest.mark.parametrize("fresh", [True, False], ids=["first sight", "parts remembered"])
@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_sa_payloads_are_parse_errors_naming_field_and_offset(name: str, fresh: bool) -> None:
    """RFC 7296 3.3.1-3.3.5 and 2.7 (numbering): a ParseError naming the field and its datagram offset, also
    when well-formed proposals and transforms with the same octets were decoded just before."""
    body, field, offset = MALFORMED[name]
    if fresh:
        forget()
    else:  # teach the tables every well-formed part that can be cut from this body
        for cut in range(len(body) + 1):
            for start in range(0, len(body), 4):
                try:
                    decoded(body[start:cut])
                except ParseError:
                    pass
    with pytest.raises(ParseError) as err:
        decoded(body)
    assert (err.value.field, err.value.offset) == (field, SA_AT + offset)


def test_remembered_proposals_take_the_spi_and_last_substruc_of_the_octets_at_hand() -> None:
    """The table of proposals is keyed by octets without the SPI: two offers that differ only in the SPI must
    each keep their own SPI, and a recalled proposal must still be followed by the right number of proposals."""
    forget()
    a = decoded(sa_body(prop(1, 3, b"\x00\x00\x00\x0a", [AES_CBC_128, SHA256, NO_ESN])))
    b = decoded(sa_body(prop(1, 3, b"\x00\x00\x00\x0b", [AES_CBC_128, SHA256, NO_ESN])))
    assert (a.proposals[0].spi, b.proposals[0].spi) == (b"\x00\x00\x00\x0a", b"\x00\x00\x00\x0b")
    ah = decoded(sa_body(prop(1, 2, b"\x00\x00\x00\x0b", [AES_CBC_128, SHA256, NO_ESN])))
    assert int(ah.proposals[0].protocol) == 2  # same transforms and SPI, another protocol
    rekey = decoded(sa_body(prop(1, 1, b"\x00" * 7 + b"\x01", [AES_CBC_128]), prop(2, 1, b"", [AES_CBC_128])))
    assert [p.spi for p in rekey.proposals] == [b"\x00" * 7 + b"\x01", b""]
    again = decoded(sa_body(prop(1, 1, b"\x00" * 7 + b"\x02", [AES_CBC_128]), prop(2, 1, b"", [AES_CBC_128])))
    assert [p.spi for p in again.proposals] == [b"\x00" * 7 + b"\x02", b""]


def test_decoded_objects_shared_by_the_tables_cannot_be_changed_by_one_caller() -> None:
    """A remembered Transform or SPI-less Proposal is handed to every caller: it must be frozen all through."""
    forget()
    body = WELL_FORMED["Key Length then unknown TV and TLV attributes"]
    first, second = decoded(body).proposals[0], decoded(body).proposals[0]
    assert first == second
    for obj, field, value in ((first, "number", 2), (first, "transforms", ()), (first.transforms[0], "key_length", 1)):
        with pytest.raises(AttributeError):
            setattr(obj, field, value)
    attrs = first.transforms[0].attributes
    assert type(attrs) is tuple and all(type(pair) is tuple and type(pair[1]) in (int, bytes) for pair in attrs)
    assert hash(first) == hash(second)


def test_a_transform_keeps_no_buffer_its_caller_can_change() -> None:
    """The encoder remembers a transforms tuple's octets: a bytearray attribute value or SPI changed after
    construction must change neither the object nor what it encodes (nor leave it unhashable)."""
    value, spi = bytearray(b"ab"), bytearray(b"\x00\x00\x00\x05")
    t = Transform(1, 12, attributes=[[17, value]])
    p = Proposal(1, 3, spi, [t])
    before = SA((p,)).encode()
    value[:] = b"zz"
    spi[:] = b"\x00\x00\x00\x06"
    assert t.attributes == ((17, b"ab"),) and p.spi == b"\x00\x00\x00\x05"
    assert hash(p) == hash(Proposal(1, 3, b"\x00\x00\x00\x05", (t,)))
    expected = prop(1, 3, b"\x00\x00\x00\x05", [tr(1, 12, tlv(17, b"ab"))])
    assert SA((p,)).encode() == before == struct.pack("!BBH", 0, 0, 4 + len(expected)) + expected


def test_key_length_is_always_sent_in_tv_form() -> None:
    """RFC 7296 3.3.5: "Key Length ... 14 ... TV": AF bit set, type 14, the value in the second word."""
    odd = Transform(250, 3, 128, ((17, 1), (18, b"x")))
    body = SA((Proposal.ike(Transform.encr("ENCR_AES_CBC", 256), odd),)).encode()[4:]
    assert body == prop(1, 1, b"", [tr(1, 12, tv(14, 256)), tr(250, 3, tv(14, 128) + tv(17, 1) + tlv(18, b"x"))])


@pytest.mark.parametrize("make, field", [
    (lambda: SA((Proposal(0, 1, b"", ()),)), "proposal_number"),
    (lambda: SA((Proposal(1, 0, b"", ()),)), "protocol_id"),
    (lambda: SA((Proposal(1, 7, b"\x01", ()),)), "protocol_id"),
    (lambda: SA((Proposal(1, 1, b"\x01\x02\x03\x04", ()),)), "spi"),
    (lambda: SA((Proposal(1, 3, b"", ()),)), "spi"),
    (lambda: SA((Proposal(1, 1, b"", (Transform(1, 12),) * 256),)), "num_transforms"),
    (lambda: SA((Proposal(1, 1, b""), Proposal(3, 1, b""))), "proposal_number"),
    (lambda: SA(()), "proposals"),
    (lambda: SA((Proposal.ike(Transform(1, 12, 0x10000)),)), "key_length"),
    (lambda: SA((Proposal.ike(Transform(1, 12, attributes=((14, 128),))),)), "attributes"),
    (lambda: SA((Proposal.ike(Transform(1, 12, attributes=((0x8000, 1),))),)), "type"),
    (lambda: SA((Proposal.ike(Transform(256, 1)),)), "transform_type"),
])
def test_what_the_decoder_would_refuse_is_not_encoded(make, field: str) -> None:
    """Encoding refuses, with a ConfigError naming the field, what RFC 7296 3.3.1-3.3.5 (and the decoder)
    refuse: proposal number 0, a protocol other than IKE/AH/ESP, a wrong SPI size, too many transforms..."""
    with pytest.raises(ConfigError) as err:
        make().encode()
    assert err.value.field is not None and err.value.field.endswith(field)


@pytest.mark.parametrize("make, field", [
    (lambda: Proposal.ike("ENCR_AES_CBC"), "transforms[0]"),  # type: ignore[arg-type]
    (lambda: Proposal(transforms=None), "transforms"),  # type: ignore[arg-type]
    (lambda: Proposal(transforms=[Transform(1, 12), (1, 12)]), "transforms[1]"),  # type: ignore[list-item]
    (lambda: SA(None), "proposals"),  # type: ignore[arg-type]
    (lambda: SA([Proposal(), "x"]), "proposals[1]"),  # type: ignore[list-item]
    (lambda: SA.from_proposals([object()]), "proposals[0]"),  # type: ignore[list-item]
    (lambda: Transform(1, 12, attributes=5), "attributes"),  # type: ignore[arg-type]
    (lambda: Transform(1, 12, attributes=((17,),)), "attributes"),
])
def test_arguments_of_the_wrong_kind_are_config_errors_not_attribute_or_type_errors(make, field: str) -> None:
    """A bad argument is refused where it is given, naming it, not met later as a bare error deep inside."""
    with pytest.raises(ConfigError) as err:
        make()
    assert err.value.field == field


def test_from_proposals_numbers_one_two_three() -> None:
    """RFC 7296 3.3.1: "The first Proposal MUST have a Proposal Num of one, and each subsequent Proposal MUST
    be one more than the previous proposal"."""
    offers = [Proposal(5, 1, b"", (Transform(3, 12),)), Proposal(9, 1, b"", (Transform(3, 13),))]
    body = SA.from_proposals(offers).encode()
    assert body[4:] == sa_body(prop(1, 1, b"", [tr(3, 12)]), prop(2, 1, b"", [tr(3, 13)]))


# --------------------------------------------------------------------------------------------
# RFC 3948: UDP encapsulation of ESP
# --------------------------------------------------------------------------------------------

ESP8 = struct.pack("!II", 0x1001, 1)


@pytest.mark.parametrize("payload, kind, data", [
    (b"\xff", "keepalive", b"\xff"),  # RFC 3948 2.3
    (bytes(4), "ike", b""),  # RFC 3948 2.2: the marker alone
    (bytes(4) + b"\x01" * 28, "ike", b"\x01" * 28),
    (ESP8, "esp", ESP8),  # RFC 3948 2.1, RFC 4303 2: the 8-octet header
    (b"\xff" + ESP8[1:], "esp", b"\xff" + ESP8[1:]),  # starts with 0xFF but is no keepalive
    (b"\x00\x00\x00\x01" + bytes(4), "esp", b"\x00\x00\x00\x01" + bytes(4)),  # SPI 1: not the marker
    (bytearray(ESP8), "esp", ESP8),
])
def test_udp4500_payloads_are_sorted_by_the_rfc_3948_rule(payload: bytes, kind: str, data: bytes) -> None:
    assert classify_udp4500(payload) == (kind, data)


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x00\x00\x00", b"\xff\xff", ESP8[:7]])
def test_udp4500_payloads_of_nothing_known_are_parse_errors(payload: bytes) -> None:
    with pytest.raises(ParseError) as err:
        classify_udp4500(payload)
    assert (err.value.field, err.value.offset) == ("udp_payload", 0)


@pytest.mark.parametrize("bad", [5, None, "ike", 28.0])
def test_add_non_esp_marker_refuses_what_is_not_bytes(bad: object) -> None:
    """bytes(5) is five zero octets: add_non_esp_marker(5) was four plus five zeros, a message nobody sent."""
    with pytest.raises(ConfigError, match="ike_message must be bytes"):
        add_non_esp_marker(bad)  # type: ignore[arg-type]
    assert add_non_esp_marker(bytearray(b"\x01\x02")) == b"\x00\x00\x00\x00\x01\x02"


@pytest.mark.parametrize("version, header", [(4, 20), (6, 40)])
def test_extract_esp_needs_an_esp_header_over_protocol_50_as_over_udp(version: int, header: int) -> None:
    """RFC 4303 2: SPI and Sequence Number make 8 octets; 7 are no ESP packet, whichever way they came."""
    src, dst = ("192.0.2.1", "192.0.2.2") if version == 4 else ("2001:db8::1", "2001:db8::2")
    short = ip.parse_ip(ip.ip_packet(src, dst, 50, ESP8[:7]))
    with pytest.raises(ParseError, match="ESP header needs 8 bytes") as err:
        extract_esp(short)
    assert (err.value.field, err.value.offset) == ("esp_header", header)
    assert extract_esp(ip.parse_ip(ip.ip_packet(src, dst, 50, ESP8))) == ESP8
    wire = udp_encapsulate(ESP8, src, dst, sport=40000)
    assert struct.unpack_from("!HH", wire, header) == (40000, 4500) and wire[header + 8:] == ESP8
    assert extract_esp(ip.parse_ip(wire)) == ESP8


def test_a_late_report_of_an_earlier_packet_does_not_bring_the_keepalive_forward() -> None:
    """RFC 3948 4: a keepalive is owed after ``interval`` seconds without any packet; the latest one counts."""
    clock = KeepaliveClock(20.0)
    clock.sent(4500, 30.0)
    clock.sent(4500, 10.0)  # reported late
    assert clock.due(4500) == 50.0 and not clock.owed(4500, 45.0)


@pytest.mark.parametrize("now", [float("nan"), float("inf"), "10", None, True])
def test_a_send_time_that_is_no_time_is_a_config_error(now: object) -> None:
    """NaN made due() NaN and owed() false for ever: the NAT mapping would silently lapse."""
    clock = KeepaliveClock(20.0)
    with pytest.raises(ConfigError, match="now"):
        clock.sent(4500, now)  # type: ignore[arg-type]
    assert clock.due(4500) == 20.0
