"""Review of ikelab.ts, ikelab.ts_payload and ikelab.identity: traffic selectors (RFC 7296 2.9, 3.13) and IDs (3.5).

The references are independent of the code under test:

* TS payload and selector octets laid out by hand with :mod:`struct` from RFC 7296 3.13 / 3.13.1
  (Number of TSs | RESERVED(3); TS Type | IP Protocol ID | Selector Length | Start Port | End Port |
  Starting Address | Ending Address; TS_IPV4_ADDR_RANGE = 7 is 16 octets, TS_IPV6_ADDR_RANGE = 8 is 40);
* range maths (first and last address of a network, the overlap of two ranges) by Python's :mod:`ipaddress`
  and plain integers;
* ID payload bodies laid out by hand from RFC 7296 3.5 / 2.15 (ID Type | RESERVED(3) | Identification Data),
  and DN DER from ``cryptography``'s own x509 Name encoder.

It also pins the fixes of this review: inputs of the wrong type or shape are ikelab errors that say what was
wrong, not TypeError / IndexError / AttributeError, and text written by ts_to_string / format_identity reads back.
"""

from __future__ import annotations

import ipaddress
import re
import struct

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings, strategies as st

from ikelab.config import IkeConfig
from ikelab.constants import IdType, PayloadType, TsType
from ikelab.errors import ConfigError, NegotiationError, ParseError
from ikelab.identity import (
    Identity,
    dn_from_string,
    dn_to_string,
    format_identity,
    id_body,
    identity_matches_certificate,
    matches,
    parse_identity,
)
from ikelab.payloads import IDi, RawTrafficSelector, TrafficSelector, TSi, TSr, decode_chain
from ikelab.ts import (
    address_range,
    check_range,
    narrow,
    resolve_ts,
    ts_contains,
    ts_from_string,
    ts_intersection,
    ts_to_string,
)
from ikelab.wire import DecodeContext
from test_auth import RSA_B
from test_identity_edges import _leaf
from test_proposals import T

# RFC 7296 3.13.1
TS_IPV4_ADDR_RANGE, TS_IPV6_ADDR_RANGE = 7, 8
ANY, OPAQUE = (0, 65535), (65535, 0)
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58


def selector_octets(ts_type: int, proto: int, ports: tuple[int, int], lo: str, hi: str) -> bytes:
    """One selector of RFC 7296 3.13.1, by hand: the length is 8 + both addresses."""
    a, b = ipaddress.ip_address(lo).packed, ipaddress.ip_address(hi).packed
    return struct.pack("!BBHHH", ts_type, proto, 8 + len(a) + len(b), *ports) + a + b


def ts_body(*selectors: bytes) -> bytes:
    """A TS payload body (RFC 7296 3.13): Number of TSs | RESERVED (3) | the selectors."""
    return struct.pack("!B3x", len(selectors)) + b"".join(selectors)


def decode_ts(body: bytes, payload_type: int = PayloadType.TSi):
    """Decode a TS payload body behind a generic payload header (RFC 7296 3.2)."""
    chain = struct.pack("!BBH", 0, 0, 4 + len(body)) + body
    (payload,) = decode_chain(payload_type, chain, 0, len(chain), DecodeContext())
    return payload


def sel(ts_type: int, proto: int, ports: tuple[int, int], lo: str, hi: str) -> TrafficSelector:
    return TrafficSelector(ts_type, proto, ports[0], ports[1], ipaddress.ip_address(lo), ipaddress.ip_address(hi))


# --------------------------------------------------------------------------- RFC 7296 3.13.1 octets


EDGE_SELECTORS = [
    (TS_IPV4_ADDR_RANGE, 0, ANY, "0.0.0.0", "255.255.255.255"),
    (TS_IPV4_ADDR_RANGE, UDP, (500, 500), "192.0.2.1", "192.0.2.1"),
    (TS_IPV4_ADDR_RANGE, UDP, OPAQUE, "255.255.255.255", "255.255.255.255"),
    (TS_IPV4_ADDR_RANGE, ICMP, (0x0800, 0x08FF), "10.0.0.0", "10.0.0.0"),
    (TS_IPV4_ADDR_RANGE, 255, (0, 0), "10.1.0.0", "10.1.0.77"),
    (TS_IPV6_ADDR_RANGE, 0, ANY, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    (TS_IPV6_ADDR_RANGE, TCP, (65535, 65535), "2001:db8::", "2001:db8::ffff"),
    (TS_IPV6_ADDR_RANGE, ICMPV6, (0x8000, 0x8000), "::", "::"),
]


@pytest.mark.parametrize("ts_type, proto, ports, lo, hi", EDGE_SELECTORS)
def test_a_selector_encodes_and_decodes_as_rfc7296_3_13_1_lays_it_out(ts_type, proto, ports, lo, hi):
    expected = selector_octets(ts_type, proto, ports, lo, hi)
    assert len(expected) == (16 if ts_type == TS_IPV4_ADDR_RANGE else 40)
    ts = sel(ts_type, proto, ports, lo, hi)
    for cls, payload_type in ((TSi, PayloadType.TSi), (TSr, PayloadType.TSr)):
        assert cls((ts,))._body(cls.__name__) == ts_body(expected)
        decoded = decode_ts(ts_body(expected), payload_type)
        assert type(decoded) is cls and decoded.selectors == (ts,)
        assert int(decoded.selectors[0].ts_type) == ts_type


def test_several_selectors_and_an_undecoded_type_in_one_payload():
    """RFC 7296 3.13: Number of TSs counts every selector; a type other than 7 and 8 is kept as octets."""
    v4 = selector_octets(7, 6, (80, 80), "192.0.2.0", "192.0.2.255")
    label = struct.pack("!BBH", 10, 0x2A, 4 + 3) + b"abc"
    v6 = selector_octets(8, 0, ANY, "2001:db8::", "2001:db8::1")
    payload = decode_ts(ts_body(v4, label, v6))
    assert payload.selectors == (T("192.0.2.0/24[tcp/80]"), RawTrafficSelector(10, 0x2A, b"abc"),
                                 T("2001:db8::-2001:db8::1"))
    assert TSi(payload.selectors)._body("TSi") == ts_body(v4, label, v6)
    assert str(payload.selectors[1]) == "TS type 10: 616263"


@pytest.mark.parametrize("body, field, offset", [
    # a TS_IPV4_ADDR_RANGE selector is 16 octets, not 40; TS_IPV6_ADDR_RANGE is 40, not 16
    (ts_body(struct.pack("!BBHHH", 7, 0, 40, 0, 65535) + bytes(32)), "TSi.ts[1].selector_length", 4 + 4 + 2),
    (ts_body(struct.pack("!BBHHH", 8, 0, 16, 0, 65535) + bytes(8)), "TSi.ts[1].selector_length", 4 + 4 + 2),
    (ts_body(struct.pack("!BBHHH", 7, 0, 15, 0, 65535) + bytes(7)), "TSi.ts[1].selector_length", 4 + 4 + 2),
    (ts_body(struct.pack("!BBH", 10, 0, 3)), "TSi.ts[1].selector_length", 4 + 4 + 2),
    (ts_body(struct.pack("!BBH", 10, 0, 9) + bytes(4)), "TSi.ts[1].selector_length", 4 + 4 + 2),
    (struct.pack("!B3x", 2) + struct.pack("!BBH", 10, 0, 4) + b"\x0a\x00\x00", "TSi.ts[2].selector_length", 4 + 8),
    (struct.pack("!B3x", 2) + selector_octets(7, 0, ANY, "10.0.0.0", "10.0.0.1"), "TSi.number_of_ts", 4),
    (struct.pack("!B3x", 1) + selector_octets(7, 0, ANY, "10.0.0.0", "10.0.0.1") * 2, "TSi.number_of_ts", 4),
    (b"\x01\x00\x00", "TSi.number_of_ts", 4),
])
def test_malformed_ts_payloads_are_parse_errors_at_the_field(body, field, offset):
    with pytest.raises(ParseError) as err:
        decode_ts(body)
    assert (err.value.field, err.value.offset) == (field, offset), err.value


def test_an_empty_ts_payload_and_the_255_selector_limit():
    assert decode_ts(struct.pack("!B3x", 0)).selectors == ()
    one = TrafficSelector.from_address("10.0.0.1")
    assert TSi((one,) * 255)._body("TSi")[0] == 255
    with pytest.raises(ConfigError) as err:
        TSi((one,) * 256)._body("TSi")
    assert err.value.field == "TSi.number_of_ts"


# --------------------------------------------------------------------------- TrafficSelector builders


def test_builders_give_the_range_ipaddress_gives():
    for net in ("0.0.0.0/0", "255.255.255.255/32", "10.0.0.0/31", "::/0", "::/128", "2001:db8::/127"):
        ts = TrafficSelector.from_network(net, ip_protocol=TCP, ports=(0, 0))
        ref = ipaddress.ip_network(net)
        assert (ts.start_addr, ts.end_addr) == (ref.network_address, ref.broadcast_address)
        assert int(ts.ts_type) == (7 if ref.version == 4 else 8)
        assert (ts.ip_protocol, ts.start_port, ts.end_port) == (TCP, 0, 0)
        assert ts.networks == [ref]
    assert (TrafficSelector.from_address("::").start_port, TrafficSelector.from_address("::").end_port) == ANY
    one = TrafficSelector.from_address("192.0.2.9", ports=65535)
    assert (one.start_port, one.end_port, one.start_addr, one.end_addr) == (65535, 65535, *[ipaddress.ip_address(
        "192.0.2.9")] * 2)
    assert str(TrafficSelector.any_ipv4()) == "0.0.0.0/0" and str(TrafficSelector.any_ipv6()) == "::/0"
    assert TrafficSelector.from_range("10.0.0.5", "10.0.0.5") == T("10.0.0.5")  # start == end is one address


def test_from_range_keeps_start_at_or_below_end_except_for_opaque_ports():
    """RFC 7296 3.13.1: Starting Address / Start Port are the smallest, Ending the largest; only OPAQUE ports
    are written start 65535, end 0."""
    with pytest.raises(ConfigError, match="start 10.0.0.9 is after end 10.0.0.1"):
        TrafficSelector.from_range("10.0.0.9", "10.0.0.1")
    with pytest.raises(ConfigError, match="start port is after the end port"):
        TrafficSelector.from_address("10.0.0.1", ports=(501, 500))
    with pytest.raises(ConfigError, match="start port is after the end port"):
        TrafficSelector.from_address("10.0.0.1", ports=(65535, 1))
    opaque = TrafficSelector.from_address("10.0.0.1", ip_protocol=UDP, ports=OPAQUE)
    assert (opaque.start_port, opaque.end_port) == OPAQUE and str(opaque) == "10.0.0.1/32[17/OPAQUE]"
    assert TrafficSelector.from_address("10.0.0.1", ports=[7, 9]).end_port == 9  # a list pair is a pair


@pytest.mark.parametrize("ports", ["500", (5,), (1, 2, 3), 5.0, {1, 2}])
def test_ports_of_the_wrong_shape_are_config_errors(ports):
    """They raised IndexError or TypeError, or ``"500"`` made the ports '5' and '0'."""
    with pytest.raises(ConfigError, match="ports must be a port, a .start, end. pair or None") as err:
        TrafficSelector.from_network("10.0.0.0/8", ports=ports)
    assert err.value.field == "ports"


def test_a_ts_payload_of_text_or_of_non_selectors_is_a_config_error():
    """TSi("10.0.0.0/8") made a selector of each character; a non-selector failed with AttributeError."""
    for bad in ("10.0.0.0/8", b"\x07", 5, TrafficSelector.any_ipv4()):
        with pytest.raises(ConfigError, match="selectors must be a tuple of traffic selectors"):
            TSi(bad)
    with pytest.raises(ConfigError) as err:
        TSr([TrafficSelector.any_ipv4(), "10.0.0.0/8"])._body("TSr")
    assert err.value.field == "TSr.ts[2]" and "is not a TrafficSelector" in str(err.value)
    assert TSi([TrafficSelector.any_ipv4()]).selectors == (TrafficSelector.any_ipv4(),)  # a list is made a tuple


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize("text, proto, ports", [
    ("10.0.0.0/8[tcp/0]", TCP, (0, 0)),
    ("10.0.0.0/8[tcp/65535]", TCP, (65535, 65535)),
    ("10.0.0.0/8[tcp/0-65535]", TCP, ANY),
    ("10.0.0.0/8[udp/0xffff]", UDP, (65535, 65535)),
    ("10.0.0.0/8[UDP/%ANY]", UDP, ANY),
    ("10.0.0.0/8[255]", 255, ANY),
    ("10.0.0.0/8[0]", 0, ANY),
    ("10.0.0.0/8[sctp]", 132, ANY),
    ("10.0.0.0/8[ipv6-icmp]", 58, ANY),
    # RFC 7296 3.13.1: ICMP Type in the high octet, Code in the low one; a decimal below 256 is a Type
    ("10.0.0.0/8[icmp/255]", ICMP, (0xFF00, 0xFF00)),
    ("10.0.0.0/8[icmp/256]", ICMP, (256, 256)),
    ("10.0.0.0/8[icmp/8-0x08ff]", ICMP, (0x0800, 0x08FF)),
    ("10.0.0.0/8[icmp/0x00ff]", ICMP, (0x00FF, 0x00FF)),
    ("2001:db8::/32[icmpv6/1-2]", ICMPV6, (0x0100, 0x0200)),
    ("10.0.0.0/8[udp/%opaque]", UDP, OPAQUE),
])
def test_ports_and_protocols_at_their_edges(text, proto, ports):
    ts = ts_from_string(text)
    assert (ts.ip_protocol, (ts.start_port, ts.end_port)) == (proto, ports)
    assert ts_from_string(ts_to_string(ts)) == ts


@pytest.mark.parametrize("text", ["10.0.0.0/8[%any/80]", "10.0.0.0/8[/80-81]", "10.0.0.0/8[0/%opaque]"])
def test_ports_with_protocol_0_are_configured_never_but_read_back_when_a_peer_sent_them(text):
    """RFC 7296 3.13.1: "For protocols for which port is undefined (including protocol 0) ... this field MUST
    be zero" (Start Port; End Port 65535).  Configured text may not ask for it (strongSwan would send such a
    selector); the text of one a peer sent, as events write it, reads back as it was."""
    with pytest.raises(ConfigError, match="3.13.1") as err:
        ts_from_string(text)
    assert err.value.field == "ts" and text in str(err.value)
    with pytest.raises(ConfigError, match="3.13.1"):
        IkeConfig(psk="x", local_ts=(text,))
    ts = ts_from_string(text, negotiated=True)
    assert ts.ip_protocol == 0 and (ts.start_port, ts.end_port) != ANY
    assert ts_from_string(ts_to_string(ts), negotiated=True) == ts


@pytest.mark.parametrize("text", ["10.0.0.0/8[tcp/65536]", "10.0.0.0/8[tcp/-1]", "10.0.0.0/8[tcp/2-1]",
                                  "10.0.0.0/8[-1]", "10.0.0.0/8[256]", "10.0.0.0/8[icmp/0x10000]",
                                  "10.0.0.0/8[tcp/x]", "10.0.0.0/8[tcp]x", "10.0.0.0/33", "::/129"])
def test_selector_text_outside_the_fields_is_refused(text):
    with pytest.raises(ConfigError) as err:
        ts_from_string(text)
    assert err.value.field == "ts" and text in str(err.value)


def test_text_of_selectors_is_the_smallest_cidr_or_a_range():
    assert ts_to_string(sel(7, 0, ANY, "0.0.0.0", "255.255.255.255")) == "0.0.0.0/0"
    assert ts_to_string(sel(7, 0, ANY, "255.255.255.255", "255.255.255.255")) == "255.255.255.255/32"
    assert ts_to_string(sel(7, 0, ANY, "10.0.0.1", "10.0.0.2")) == "10.0.0.1-10.0.0.2"
    assert ts_to_string(sel(8, 0, ANY, "::", "::1")) == "::/127"
    assert ts_to_string(sel(7, TCP, (80, 80), "10.0.0.0", "10.0.0.255")) == "10.0.0.0/24[tcp/80]"
    assert ts_to_string(sel(7, 0, (80, 81), "10.0.0.0", "10.0.0.255")) == "10.0.0.0/24[%any/80-81]"
    assert ts_to_string(sel(7, 99, ANY, "10.0.0.0", "10.0.0.255")) == "10.0.0.0/24[99]"
    assert ts_to_string(sel(7, ICMP, (0x0001, 0x00FF), "10.0.0.0", "10.0.0.0")) == "10.0.0.0/32[icmp/0x0001-0x00ff]"
    assert ts_to_string(sel(7, TCP, (1, 255), "10.0.0.0", "10.0.0.0")) == "10.0.0.0/32[tcp/1-255]"
    assert ts_to_string(sel(7, ICMP, OPAQUE, "10.0.0.0", "10.0.0.0")) == "10.0.0.0/32[icmp/%opaque]"
    # a selector that allows nothing is shown, not summarised
    assert ts_to_string(sel(7, 0, ANY, "10.0.0.9", "10.0.0.1")) == "10.0.0.9-10.0.0.1"
    assert ts_to_string(RawTrafficSelector(10, 0, b"\x01")) == "TS type 10: 01"


def test_address_ranges_and_their_errors():
    assert address_range(" 10.0.0.1 - 10.0.0.9 ") == (ipaddress.ip_address("10.0.0.1"),
                                                      ipaddress.ip_address("10.0.0.9"))
    assert address_range("10.0.0.7/8") == (ipaddress.ip_address("10.0.0.0"), ipaddress.ip_address("10.255.255.255"))
    assert address_range("::") == (ipaddress.ip_address("::"),) * 2
    lo = ipaddress.ip_address("10.0.0.1")
    assert check_range(lo, lo) == (lo, lo)
    with pytest.raises(ConfigError, match="the range starts at 10.0.0.2, after its end 10.0.0.1"):
        check_range(ipaddress.ip_address("10.0.0.2"), lo)
    with pytest.raises(ConfigError, match="but hi is str; address_range") as err:
        check_range(lo, "10.0.0.2")
    assert err.value.field == "hi"
    with pytest.raises(ConfigError, match="not int"):
        address_range(5)
    # a zone index is not on the wire (RFC 7296 3.13.1): it was reported as "starts after its end"
    with pytest.raises(ConfigError, match="no zone index"):
        ts_from_string("fe80::1%eth0")


def test_ts_from_string_says_what_kind_of_value_it_got():
    with pytest.raises(ConfigError, match="a traffic selector is text such as .*not int"):
        ts_from_string(5)
    with pytest.raises(ConfigError, match="empty traffic selector"):
        ts_from_string("  ")
    with pytest.raises(ConfigError, match="dynamic must be the IKE address as text.*not IPv4Address"):
        ts_from_string("dynamic", dynamic=ipaddress.ip_address("192.0.2.1"))
    with pytest.raises(ConfigError, match="dynamic must be the IKE address as text.*not list"):
        resolve_ts(("dynamic",), ["192.0.2.1"])
    assert ts_from_string("dynamic[udp/500]", dynamic="2001:db8::1") == T("2001:db8::1[udp/500]")
    assert ts_from_string(T("10.0.0.0/8")) == T("10.0.0.0/8")


def test_a_policy_entry_that_is_no_selector_is_refused_at_once():
    """resolve_ts passed a 5 or a None through as if it were a selector."""
    for selectors in ((5,), [None], ("10.0.0.0/8", b"10.0.0.0/8")):
        with pytest.raises(ConfigError, match="is neither selector text .* nor a TrafficSelector") as err:
            resolve_ts(selectors, None)
        assert err.value.field == "selectors"
    raw = RawTrafficSelector(10, 0, b"x")
    assert resolve_ts((raw, "10.0.0.0/8"), None) == (raw, T("10.0.0.0/8"))


# --------------------------------------------------------------------------- intersection and narrowing


def _reference_meet(a: TrafficSelector, b: TrafficSelector) -> tuple | None:
    """The overlap of two selectors with integers (RFC 7296 3.13.1: protocol 0 = any; OPAQUE only meets
    any-port or OPAQUE)."""
    if a.start_addr.version != b.start_addr.version or (a.ip_protocol and b.ip_protocol
                                                        and a.ip_protocol != b.ip_protocol):
        return None
    pa, pb = (a.start_port, a.end_port), (b.start_port, b.end_port)
    if OPAQUE in (pa, pb):
        if not {pa, pb} <= {OPAQUE, ANY}:
            return None
        ports = OPAQUE
    else:
        ports = (max(pa[0], pb[0]), min(pa[1], pb[1]))
        if ports[0] > ports[1]:
            return None
    lo, hi = max(int(a.start_addr), int(b.start_addr)), min(int(a.end_addr), int(b.end_addr))
    if lo > hi:
        return None
    return a.ip_protocol or b.ip_protocol, ports, lo, hi


@pytest.mark.parametrize("a, b", [
    ("255.255.255.255", "0.0.0.0/0"),
    ("0.0.0.0", "0.0.0.0/0"),
    ("::", "::/0"),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"),
    ("10.0.0.0-10.0.0.9", "10.0.0.9-10.0.0.20"),  # they share one address
    ("10.0.0.0-10.0.0.9", "10.0.0.10-10.0.0.20"),  # adjacent, no overlap
    ("10.0.0.0/8[tcp/0]", "10.0.0.0/8"),
    ("10.0.0.0/8[tcp/65535]", "10.0.0.0/8[tcp/100-65535]"),
    ("10.0.0.0/8[tcp/65535]", "10.0.0.0/8[tcp/%opaque]"),
    ("10.0.0.0/8[tcp/0-99]", "10.0.0.0/8[tcp/99-100]"),
    ("10.0.0.0/8[tcp/0-99]", "10.0.0.0/8[tcp/100-200]"),
    ("10.0.0.0/8[udp/%opaque]", "10.0.0.0/8[udp/%opaque]"),
    ("10.0.0.0/8[udp/%opaque]", "10.0.0.0/8"),
    ("10.0.0.0/8[udp]", "10.0.0.0/8[tcp]"),
    ("10.0.0.0/8[icmp/8]", "10.0.0.0/8[icmp/0x0800-0x08ff]"),
    ("10.0.0.0/8", "::/0"),
])
def test_intersection_at_range_edges_equals_the_integer_reference(a, b):
    x, y = T(a), T(b)
    for first, second in ((x, y), (y, x)):
        meet = ts_intersection(first, second)
        ref = _reference_meet(first, second)
        if ref is None:
            assert meet is None
            assert not ts_contains(first, second)
        else:
            assert (meet.ip_protocol, (meet.start_port, meet.end_port), int(meet.start_addr),
                    int(meet.end_addr)) == ref
            assert int(meet.ts_type) == int(first.ts_type)
            assert ts_contains(first, meet) and ts_contains(second, meet)


addr6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
ports = st.sampled_from([ANY, OPAQUE, (0, 0), (65535, 65535), (1, 1024), (1024, 65535), (80, 80)])


@st.composite
def v6_ts(draw):
    a, b = sorted([draw(addr6), draw(addr6)])
    p = draw(ports)
    return TrafficSelector(8, draw(st.sampled_from([0, TCP, UDP])), p[0], p[1], a, b)


@settings(max_examples=80, deadline=None)
@given(v6_ts(), v6_ts())
def test_ipv6_intersection_property(a, b):
    meet = ts_intersection(a, b)
    ref = _reference_meet(a, b)
    assert (None if meet is None else (meet.ip_protocol, (meet.start_port, meet.end_port), int(meet.start_addr),
                                       int(meet.end_addr))) == ref
    assert ts_contains(a, b) == (meet == b)


def test_selectors_of_other_types_or_families_never_meet():
    v4 = T("0.0.0.0/0")
    as_v6_type = TrafficSelector(8, 0, 0, 65535, v4.start_addr, v4.end_addr)  # type 8 holding IPv4 addresses
    assert ts_intersection(v4, as_v6_type) is None and ts_intersection(as_v6_type, v4) is None
    assert ts_intersection(v4, RawTrafficSelector(10)) is None
    assert ts_intersection(RawTrafficSelector(10), RawTrafficSelector(10)) is None
    with pytest.raises(ConfigError, match="both must be traffic selectors"):
        ts_intersection(v4, "0.0.0.0/0")


def test_malformed_selectors_in_an_intersection_are_config_errors():
    """Two address families in one selector, or ports that are not numbers, raised TypeError (narrow too)."""
    mixed = TrafficSelector(7, 0, 0, 65535, ipaddress.ip_address("10.0.0.0"), ipaddress.ip_address("2001:db8::1"))
    mixed_other = TrafficSelector(8, 0, 0, 65535, ipaddress.ip_address("2001:db8::"),
                                  ipaddress.ip_address("10.0.0.1"))
    for bad in (mixed, mixed_other):
        for a, b in ((bad, T("10.0.0.0/8")), (T("10.0.0.0/8"), bad), (bad, T("::/0"))):
            with pytest.raises(ConfigError, match="are of two families") as err:
                ts_intersection(a, b)
            assert err.value.value is bad
    with pytest.raises(ConfigError, match="are of two families"):
        narrow([mixed], [T("0.0.0.0/0")], ["0.0.0.0/0"], ["0.0.0.0/0"])
    texty = TrafficSelector(7, 0, "0", "65535", ipaddress.ip_address("10.0.0.0"), ipaddress.ip_address("10.0.0.1"))
    listy = TrafficSelector(7, 0, [0], 5, ipaddress.ip_address("10.0.0.0"), ipaddress.ip_address("10.0.0.1"))
    for bad in (texty, listy):
        for a, b in ((bad, T("10.0.0.0/8")), (T("10.0.0.0/8"), bad)):
            with pytest.raises(ConfigError, match="its IP protocol and ports must be integers") as err:
                ts_intersection(a, b)
            assert err.value.value is bad
    with pytest.raises(ConfigError, match="cannot be hashed or compared"):
        ts_intersection(RawTrafficSelector(10, 0, bytearray(b"x")), T("10.0.0.0/8"))


def test_narrowing_is_the_intersection_in_the_offered_order():
    """RFC 7296 2.9: the responder answers with the subset its policy allows, offered selector by selector."""
    tsi = [T("10.0.0.0/8"), T("192.0.2.0/24")]
    got_i, got_r = narrow(tsi, [T("0.0.0.0/0[tcp]")], ["192.0.2.128/25", "10.1.0.0/16", "10.2.0.0/16"],
                          ["198.51.100.0/24[tcp/443]", "198.51.100.0/24[udp]"])
    assert got_i == (T("10.1.0.0/16"), T("10.2.0.0/16"), T("192.0.2.128/25"))
    assert got_r == (T("198.51.100.0/24[tcp/443]"),)
    # a policy of every address leaves the offer as it is, with its protocol and ports
    offer = [T("10.0.0.1[udp/500]"), T("10.0.0.0/24[udp]")]
    assert narrow(offer, offer, ["0.0.0.0/0"], ["0.0.0.0/0"]) == ((T("10.0.0.0/24[udp]"),),) * 2
    # the packet-specific selector survives alone when it is all the policy allows (2.9)
    assert narrow(offer, offer, ["10.0.0.1"], ["0.0.0.0/0"])[0] == (T("10.0.0.1[udp]"),)


def test_ts_unacceptable_names_the_side_and_both_selector_lists():
    with pytest.raises(NegotiationError) as err:
        narrow([T("10.0.0.0/8")], [T("192.0.2.0/24[tcp]")], ["10.0.0.0/8"], ["192.0.2.0/24[udp]", "::/0"])
    assert err.value.notify_type == "TS_UNACCEPTABLE"
    assert str(err.value) == ("TSr offered 192.0.2.0/24[tcp] has nothing in common with the policy "
                              "192.0.2.0/24[udp], ::/0")
    with pytest.raises(NegotiationError, match=r"^TSi offered \(nothing\) has nothing in common with the policy "
                                               r"10\.0\.0\.0/8$"):
        narrow([], [T("0.0.0.0/0")], ["10.0.0.0/8"], ["0.0.0.0/0"])
    with pytest.raises(NegotiationError, match=r"^TSi offered 10\.0\.0\.0/8 .* policy \(nothing\)$"):
        narrow([T("10.0.0.0/8")], [T("0.0.0.0/0")], [], ["0.0.0.0/0"])
    # an offer given as an iterator is named in the refusal (it was read once, then shown as "(nothing)")
    with pytest.raises(NegotiationError, match=r"^TSi offered 10\.0\.0\.0/8 has nothing"):
        narrow(iter([T("10.0.0.0/8")]), [T("0.0.0.0/0")], ["11.0.0.0/8"], ["0.0.0.0/0"])


@pytest.mark.parametrize("args, field", [
    (("10.0.0.0/8", [T("0.0.0.0/0")], ["0.0.0.0/0"], ["0.0.0.0/0"]), "offered_tsi"),
    (([T("0.0.0.0/0")], None, ["0.0.0.0/0"], ["0.0.0.0/0"]), "offered_tsr"),
    (([T("0.0.0.0/0")], [T("0.0.0.0/0")], T("0.0.0.0/0"), ["0.0.0.0/0"]), "local_policy_tsi"),
    (([T("0.0.0.0/0")], [T("0.0.0.0/0")], ["0.0.0.0/0"], 5), "local_policy_tsr"),
])
def test_narrow_names_the_argument_that_is_not_a_list(args, field):
    with pytest.raises(ConfigError) as err:
        narrow(*args)
    assert err.value.field == field


# --------------------------------------------------------------------------- identities (RFC 7296 3.5)


@pytest.mark.parametrize("text, id_type, data", [
    ("0.0.0.0", 1, bytes(4)),
    ("255.255.255.255", 1, b"\xff" * 4),
    ("::", 5, bytes(16)),
    ("ipv6:::1", 5, bytes(15) + b"\x01"),
    ("fqdn:moon", 2, b"moon"),
    ("rfc822:a@b", 3, b"a@b"),
    ("userfqdn:a@b", 3, b"a@b"),
    ("keyid:#", 11, b""),
    ("keyid:text", 11, b"text"),
    ("%null", 13, b""),
    ("ID_DER_ASN1_GN:#3000", 10, b"\x30\x00"),
    ("id_fc_name:#0102", 12, b"\x01\x02"),
    ("ID_FQDN:moon", 2, b"moon"),
])
def test_identity_bodies_laid_out_by_hand(text, id_type, data):
    """RestOfInitIDPayload (RFC 7296 2.15) = ID Type | RESERVED (3) | Identification Data (3.5)."""
    ident = parse_identity(text)
    assert (int(ident.id_type), ident.data) == (id_type, data)
    assert ident.body() == struct.pack("!B3x", id_type) + data == id_body(id_type, data)
    assert parse_identity(format_identity(ident.id_type, ident.data)) == ident


def test_format_identity_text_reads_back_for_every_id_type():
    """%null (ID_NULL, RFC 7619) and 'ID_DER_ASN1_GN:#..' were read back as FQDNs (so a configured
    Identity(ID_NULL) became the FQDN "%null")."""
    assert format_identity(IdType.ID_NULL, b"") == "%null"
    assert parse_identity("%null") == Identity(IdType.ID_NULL, b"")
    for id_type in (IdType.ID_DER_ASN1_GN, IdType.ID_FC_NAME):
        text = format_identity(id_type, b"\x30\x03\x01\x02\x03")
        assert text == f"{id_type.name}:#3003010203"
        assert parse_identity(text) == Identity(id_type, b"\x30\x03\x01\x02\x03")
    assert parse_identity("ID_KEY_ID:#00ff") == Identity(IdType.ID_KEY_ID, b"\x00\xff")


@pytest.mark.parametrize("id_type, size", [(IdType.ID_IPV4_ADDR, 4), (IdType.ID_IPV6_ADDR, 16)])
def test_id_body_checks_the_address_size(id_type, size):
    """RFC 7296 3.5: "a single four (4) octet IPv4 address", "a single sixteen (16) octet IPv6 address"."""
    assert id_body(id_type, bytes(size)) == struct.pack("!B3x", id_type) + bytes(size)
    for n in (size - 1, size + 1, 0):
        with pytest.raises(ConfigError, match=f"{id_type.name} data is {n} octets, not {size}"):
            id_body(id_type, bytes(n))
        with pytest.raises(ConfigError):
            Identity(id_type, bytes(n)).body()
    assert id_body("ID_FQDN", b"x") == b"\x02\x00\x00\x00x"
    with pytest.raises(ConfigError, match="must be bytes, not str"):
        id_body(IdType.ID_FQDN, "x")


@pytest.mark.parametrize("char", ["\x00", "\r", "\n", "\t", "\x1f", "\x7f"])
def test_names_with_terminators_are_refused_as_the_id_payload_refuses_them(char):
    """RFC 7296 3.5: ID_FQDN "MUST NOT contain any terminators"; the IDi encoder refuses control characters,
    and parse_identity accepted them."""
    for text in (f"fqdn:moon{char}x", f"email:a{char}@b", f"moon{char}x", f"@moon{char}x", f"@@a{char}b"):
        with pytest.raises(ConfigError, match="control character"):
            parse_identity(text)
    with pytest.raises(ConfigError):
        IDi(IdType.ID_FQDN, f"moon{char}x".encode()).encode()
    assert parse_identity("fqdn: moon~x ").data == b"moon~x"  # printable ASCII, ends stripped


@pytest.mark.parametrize("value", ["a\\b", "a;b", "a,b", "x\\", "a\\,b;c"])
def test_dn_values_with_separators_and_backslashes_read_back(value):
    """dn_to_string escaped only ',': a '\\' or ';' in a value changed it or could not be read back."""
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "o"),
                      x509.NameAttribute(NameOID.COMMON_NAME, value, _type=_ASN1Type.UTF8String)])
    text = dn_to_string(name)
    assert dn_from_string(text).rdns[1].get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == value
    ident = Identity(IdType.ID_DER_ASN1_DN, name.public_bytes())
    assert format_identity(ident.id_type, ident.data) == text
    assert matches(text, ident)


def test_a_typed_dn_is_der_whichever_way_it_is_written():
    der = _name_der((NameOID.COUNTRY_NAME, "CH", _ASN1Type.PrintableString),
                    (NameOID.COMMON_NAME, "x", _ASN1Type.PrintableString))
    for text in ("dn:C=CH, CN=x", "asn1dn:C=CH, CN=x", "dn:#" + der.hex(), "C=CH, CN=x"):
        assert parse_identity(text) == Identity(IdType.ID_DER_ASN1_DN, der), text
    assert parse_identity("C=CH, CN=x", id_type=IdType.ID_DER_ASN1_DN).data == der
    with pytest.raises(ParseError):  # hex that is no DN
        parse_identity("dn:#3001")


def test_dn_text_with_slashes_is_x500_order_as_cryptography_encodes_it():
    expected = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CH", _type=_ASN1Type.PrintableString),
                          x509.NameAttribute(NameOID.COMMON_NAME, "a/b", _type=_ASN1Type.PrintableString)])
    assert parse_identity("/C=CH/CN=a\\/b").data == expected.public_bytes()
    assert parse_identity("C=CH; CN=a/b").data == expected.public_bytes()
    assert parse_identity("asn1dn:#" + expected.public_bytes().hex()).data == expected.public_bytes()


def test_an_oid_arc_too_large_is_a_parse_error():
    """An OID arc beyond cryptography's range raised ValueError from inside the DN reader."""
    oid = b"\x06\x15" + b"\xff" * 20 + b"\x01"
    atv = b"\x30" + bytes([len(oid) + 3]) + oid + b"\x0c\x01x"
    rdn = b"\x31" + bytes([len(atv)]) + atv
    der = b"\x30" + bytes([len(rdn)]) + rdn
    with pytest.raises(ParseError, match="OBJECT IDENTIFIER out of range") as err:
        format_identity(IdType.ID_DER_ASN1_DN, der)
    assert err.value.offset == 8


def test_identity_against_a_certificate_refuses_what_is_not_bytes_or_a_certificate():
    """bytes(4) made four zero octets of an int, a str raised TypeError, and a missing certificate
    AttributeError."""
    cert = _leaf([x509.IPAddress(ipaddress.ip_address("0.0.0.4"))])
    assert identity_matches_certificate(IdType.ID_IPV4_ADDR, b"\x00\x00\x00\x04", cert)
    assert identity_matches_certificate(IdType.ID_IPV4_ADDR, bytearray(b"\x00\x00\x00\x04"), cert)
    for data in (4, "0.0.0.4", None):
        with pytest.raises(ConfigError, match="must be bytes"):
            identity_matches_certificate(IdType.ID_IPV4_ADDR, data, cert)
    with pytest.raises(ConfigError, match="cert must be an x509.Certificate, not NoneType"):
        identity_matches_certificate(IdType.ID_IPV4_ADDR, b"\x00\x00\x00\x04", None)


def test_an_id_type_that_is_not_one_is_a_config_error():
    """An unhashable id_type raised TypeError from the cache."""
    for id_type in ([1], {}, 4, 256, "ID_NOPE"):
        with pytest.raises(ConfigError, match="unknown IdType"):
            parse_identity("moon", id_type=id_type)
    assert parse_identity("192.0.2.1", id_type=2) == parse_identity("192.0.2.1", id_type="ID_FQDN")


# --------------------------------------------------------------------------- found by hand mutation


def test_an_identity_is_frozen_and_hashable():
    """parse_identity hands out cached Identity objects: one changed in place would change the cache."""
    import dataclasses

    ident = parse_identity("moon.example")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ident.data = b"sun.example"  # type: ignore[misc]
    assert {ident: 1}[Identity(IdType.ID_FQDN, b"moon.example")] == 1


def test_dn_text_edges():
    """A trailing backslash escapes nothing and is kept; ';' separates like ',' but '/' only after a leading '/';
    text without '=' or that is not text is no DN."""
    assert dn_from_string("CN=x\\").rdns[0].get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "x\\"
    assert [a.value for a in dn_from_string("O=a;CN=b/c")] == ["a", "b/c"]
    assert [a.value for a in dn_from_string("/O=a/CN=b;c")] == ["a", "b;c"]
    for bad in (5, None, b"CN=x", "moon"):
        with pytest.raises(ConfigError, match="not a distinguished name"):
            dn_from_string(bad)


def _name_der(*attrs: tuple[x509.ObjectIdentifier, str, _ASN1Type]) -> bytes:
    """The DER of a Name with one attribute per RDN, from cryptography's encoder."""
    return x509.Name([x509.NameAttribute(oid, value, _type=kind) for oid, value, kind in attrs]).public_bytes()


@pytest.mark.parametrize("kind", [_ASN1Type.NumericString, _ASN1Type.VisibleString, _ASN1Type.T61String,
                                  _ASN1Type.PrintableString, _ASN1Type.IA5String, _ASN1Type.UTF8String,
                                  _ASN1Type.BMPString, _ASN1Type.UniversalString])
def test_every_directory_string_type_of_a_dn_reads(kind):
    der = _name_der((NameOID.COUNTRY_NAME, "CH", _ASN1Type.PrintableString), (NameOID.SERIAL_NUMBER, "0123", kind))
    assert format_identity(IdType.ID_DER_ASN1_DN, der) == "C=CH, SN=0123"
    assert matches("C=CH, SN=0123", Identity(IdType.ID_DER_ASN1_DN, der))


@pytest.mark.parametrize("oid, text", [
    (NameOID.DOMAIN_COMPONENT, "DC"),  # 0.9.2342.19200300.100.1.25: first octet 9, arcs 0 and 9
    (NameOID.USER_ID, "UID"),
    (NameOID.EMAIL_ADDRESS, "E"),  # 1.2.840.113549.1.9.1: arcs of several octets
    (x509.ObjectIdentifier("2.999.1"), "2.999.1"),  # X.690 8.19.4: 40 * 2 + 999 = 1079, two octets
    (x509.ObjectIdentifier("1.0.1"), "1.0.1"),  # first octet 40: arcs 1 and 0
    (x509.ObjectIdentifier("2.0.1"), "2.0.1"),  # first octet 80: arcs 2 and 0
    (x509.ObjectIdentifier("0.39.1"), "0.39.1"),
])
def test_dn_attribute_oids_decode_as_x690_8_19_writes_them(oid, text):
    # strongSwan's string types, as parse_identity writes them: IA5String for E, else PrintableString
    der = _name_der((oid, "x", _ASN1Type.IA5String if text == "E" else _ASN1Type.PrintableString))
    assert format_identity(IdType.ID_DER_ASN1_DN, der) == f"{text}=x"
    assert parse_identity(f"{text}=x").data == der


def test_dn_der_lengths_in_long_form():
    """X.690 8.1.3.5: a length above 127 is 0x80 + the number of length octets, then the length."""
    der = _name_der((NameOID.COMMON_NAME, "c" * 64, _ASN1Type.UTF8String),
                    (NameOID.ORGANIZATION_NAME, "o" * 200, _ASN1Type.UTF8String))
    assert der[:4] == bytes([0x30, 0x82]) + struct.pack("!H", len(der) - 4)
    assert format_identity(IdType.ID_DER_ASN1_DN, der) == f"CN={'c' * 64}, O={'o' * 200}"
    # an empty value ends its SEQUENCE exactly: the TLV of two octets fits
    empty = _name_der((x509.ObjectIdentifier("2.5.4.41"), "", _ASN1Type.UTF8String))
    assert empty.endswith(b"\x0c\x00") and format_identity(IdType.ID_DER_ASN1_DN, empty) == "N="


@pytest.mark.parametrize("der, reason, offset", [
    (b"\x30\x80", "unsupported or truncated DER length (0x80)", 1),  # indefinite length: not DER
    (b"\x30\x85\x00\x00\x00\x00\x00", "unsupported or truncated DER length (0x85)", 1),  # 5 length octets
    (b"\x30\x82\x00", "unsupported or truncated DER length (0x82)", 1),  # the length octets run past the end
    (b"\x30\x81\x05", "DER length 5 not in its shortest form", 1),  # X.690 10.1
    (b"\x30\x82\x00\x05" + bytes(5), "DER length 5 not in its shortest form", 1),
    (b"\x30", "truncated DER element", 0),
    (b"\x30\x04\x31\x02\x30\x00", "truncated DER element", 6),  # an empty AttributeTypeAndValue
    (b"\x30\x06\x31\x04\x30\x02\x04\x00", "an attribute type is an OBJECT IDENTIFIER", 6),  # an OCTET STRING
    (b"\x30\x08\x31\x06\x30\x04\x06\x00\x0c\x00", "empty OBJECT IDENTIFIER", 8),
    (b"\x30\x09\x31\x07\x30\x05\x06\x01\x88\x0c\x00", "truncated OBJECT IDENTIFIER", 8),  # last octet continues
    (b"\x30\x09\x31\x07\x30\x05\x06\x01\x55\x02\x00", "unsupported DN value tag 0x02: not a directory string",
     9),  # an INTEGER value
    (b"\x30\x02\x31\x00", "a relative distinguished name is a non-empty DER SET", 2),
    (b"\x30\x02\x30\x00", "a relative distinguished name is a non-empty DER SET", 2),
    (b"\x31\x00", "a DN is one DER SEQUENCE filling the identification data", 0),
    (b"\x30\x00\x00", "a DN is one DER SEQUENCE filling the identification data", 0),
])
def test_malformed_dn_der_says_what_and_where(der, reason, offset):
    with pytest.raises(ParseError) as err:
        format_identity(IdType.ID_DER_ASN1_DN, der)
    assert (err.value.reason, err.value.offset, err.value.field) == (reason, offset, "ID_DER_ASN1_DN")


def test_the_key_id_of_an_rsa_certificate_whose_lengths_are_in_long_form():
    """RFC 5280 4.2.1.2 method 1 as cryptography computes it; an RSA-2048 SubjectPublicKeyInfo is 294 octets,
    so its lengths take the long form (X.690 8.1.3.5), which an EC key's do not."""
    from ikelab.certs import make_ca
    from ikelab.identity import key_id_of

    cert = make_ca("C=CH, O=strongSwan, CN=RSA CA", RSA_B)
    digest = x509.SubjectKeyIdentifier.from_public_key(RSA_B.public_key()).digest
    assert key_id_of(cert) == digest
    assert identity_matches_certificate(IdType.ID_KEY_ID, digest, cert)
    assert identity_matches_certificate("ID_DER_ASN1_DN", parse_identity("C=CH, O=strongSwan, CN=RSA CA").data, cert)


def test_parse_identity_refuses_what_is_not_text_and_empty_text():
    for bad in (5, None, b"moon"):
        with pytest.raises(ConfigError, match="identity must be a string, not"):
            parse_identity(bad)
    for empty in ("", "   "):
        with pytest.raises(ConfigError) as err:
            parse_identity(empty)
        assert str(err.value) == "empty identity"


def test_an_exact_pattern_matches_the_same_type_and_data_only():
    """RFC 7296 3.5: an ID is its type and its data; names compare without case, addresses and key IDs exactly."""
    moon = Identity(IdType.ID_RFC822_ADDR, b"moon")
    assert matches("email:MOON", moon)
    assert not matches("fqdn:moon", moon)  # the same octets, another type
    assert matches("192.0.2.1", parse_identity("192.0.2.1"))
    assert not matches("192.0.2.2", parse_identity("192.0.2.1"))
    assert matches("@#00ff", parse_identity("keyid:#00ff")) and not matches("@#00fe", parse_identity("keyid:#00ff"))
    assert matches("*", moon) and matches("%any6", moon) and matches("*oo*", moon) and not matches("*x*", moon)


@pytest.mark.parametrize("name, number", [("icmp", 1), ("igmp", 2), ("ipencap", 4), ("tcp", 6), ("udp", 17),
                                          ("ipv6", 41), ("gre", 47), ("esp", 50), ("ah", 51), ("icmpv6", 58),
                                          ("sctp", 132), ("udplite", 136)])
def test_protocol_names_are_the_iana_numbers(name, number):
    """IANA Assigned Internet Protocol Numbers, as the IP Protocol ID of RFC 7296 3.13.1."""
    ts = ts_from_string(f"10.0.0.0/8[{name}]")
    assert ts.ip_protocol == number
    assert TSi((ts,))._body("TSi")[5] == number  # after Number of TSs, RESERVED and TS Type
    assert ts_to_string(ts) == f"10.0.0.0/8[{name}]"


def test_id_types_a_certificate_cannot_vouch_for_do_not_match_it():
    cert = _leaf([x509.DNSName("moon.example"), x509.RFC822Name("moon@example")])
    for id_type in (IdType.ID_DER_ASN1_GN, IdType.ID_FC_NAME, IdType.ID_NULL):
        assert not identity_matches_certificate(id_type, b"moon.example", cert)
    assert identity_matches_certificate(IdType.ID_FQDN, b"moon.example", cert)
    assert not identity_matches_certificate(IdType.ID_FQDN, b"moon.example", _leaf([]))


def test_the_constructor_reads_addresses_and_ts_types_given_as_text_and_numbers():
    ts = TrafficSelector(7, 6, 80, 80, "192.0.2.0", "192.0.2.255")
    assert ts == T("192.0.2.0/24[tcp/80]") and ts.ts_type is TsType.TS_IPV4_ADDR_RANGE
    assert TrafficSelector(9, 0, 0, 0, "10.0.0.1", "10.0.0.1").ts_type == 9  # unassigned: the int itself
    for field, args in (("start_addr", ("nope", "10.0.0.1")), ("end_addr", ("10.0.0.1", None))):
        with pytest.raises(ConfigError, match=f"{field} = .* is not an IP address") as err:
            TrafficSelector(7, 0, 0, 65535, *args)
        assert err.value.field == field


def test_the_encoder_names_the_field_that_does_not_fit():
    v4, v6 = ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("2001:db8::1")
    for ts_type, start, end, field in ((7, v4, v6, "end_addr"), (7, v6, v4, "start_addr"), (8, v6, v4, "end_addr"),
                                       (8, v4, v6, "start_addr")):
        with pytest.raises(ConfigError, match=re.escape(f"TSi.ts[1].{field} = ") + ".* does not match") as err:
            TSi((TrafficSelector(ts_type, 0, 0, 65535, start, end),))._body("TSi")
        assert err.value.field == f"TSi.ts[1].{field}"
    for ts_type, message in ((300, "TSi.ts[1].ts_type = 300 does not fit in 8 bits"),
                             (9, "TSi.ts[1]: TrafficSelector encodes TS types 7 and 8; use RawTrafficSelector")):
        with pytest.raises(ConfigError) as err:
            TSi((TrafficSelector(ts_type, 0, 0, 65535, v4, v4),))._body("TSi")
        assert str(err.value).startswith(message) and err.value.field == "TSi.ts[1].ts_type"


def test_ports_given_as_int_subclasses_encode_over_the_whole_16_bits():
    import enum

    port = enum.IntEnum("Port", {"LOW": 0, "HIGH": 65535})
    host = ipaddress.ip_address("10.0.0.1")
    ts = TrafficSelector(7, UDP, port.LOW, port.HIGH, host, host)
    assert TSi((ts,))._body("TSi") == ts_body(selector_octets(7, UDP, ANY, "10.0.0.1", "10.0.0.1"))
    ts = TrafficSelector(7, UDP, port.HIGH, port.HIGH, ts.start_addr, ts.end_addr)
    assert TSi((ts,))._body("TSi")[8:12] == b"\xff\xff\xff\xff"


def test_an_undecoded_selector_fills_the_16_bit_selector_length_at_most():
    """RFC 7296 3.13.1: Selector Length (2 octets) counts the 4-octet header too: at most 65531 octets of data."""
    longest = RawTrafficSelector(10, 0, bytes(0xFFFF - 4))
    assert TSi((longest,))._body("TSi")[4:8] == b"\x0a\x00\xff\xff"
    with pytest.raises(ConfigError) as err:
        TSi((RawTrafficSelector(10, 0, bytes(0xFFFF - 3)),))._body("TSi")
    assert err.value.field == "TSi.ts[1].data"
    for ts_type in (256, -1, 7, 8):
        with pytest.raises(ConfigError) as err:
            TSi((RawTrafficSelector(ts_type),))._body("TSi")
        assert err.value.field == "TSi.ts[1].ts_type"


def test_the_dump_rows_of_a_ts_payload_sit_on_the_octets_of_rfc7296_3_13_1():
    v6 = selector_octets(8, UDP, (500, 4500), "2001:db8::", "2001:db8::ff")
    label = struct.pack("!BBH", 10, 42, 7) + b"abc"
    body = ts_body(v6, label)
    chain = struct.pack("!BBH", 0, 0, 4 + len(body)) + body
    trace: list = []
    decode_chain(PayloadType.TSr, chain, 0, len(chain), DecodeContext(trace=trace))
    rows = [(r.offset, r.length, r.path, r.value) for r in trace if ".ts[" in r.path or "_ts" in r.path
            or "reserved" in r.path]
    s2 = 8 + len(v6)  # the second selector, after the generic header, the TS header and the first selector
    assert rows == [
        (4, 1, "TSr.number_of_ts", "2"), (5, 3, "TSr.reserved", "000000"),
        (8, 1, "TSr.ts[1].ts_type", "TS_IPV6_ADDR_RANGE (8)"), (9, 1, "TSr.ts[1].ip_protocol", "17"),
        (10, 2, "TSr.ts[1].selector_length", "40"), (12, 2, "TSr.ts[1].start_port", "500"),
        (14, 2, "TSr.ts[1].end_port", "4500"), (16, 16, "TSr.ts[1].start_addr", "2001:db8::"),
        (32, 16, "TSr.ts[1].end_addr", "2001:db8::ff"),
        (s2, 1, "TSr.ts[2].ts_type", "unknown (10)"), (s2 + 1, 1, "TSr.ts[2].second_octet", "42"),
        (s2 + 2, 2, "TSr.ts[2].selector_length", "7"), (s2 + 4, 3, "TSr.ts[2].data", "616263"),
    ]
