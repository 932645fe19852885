"""Review of ikelab.packet and ikelab.ip_fragments against RFC 791, 768, 792, 8200, 4443, 5722 and 6946.

Every expected value comes from bytes built here with :mod:`struct` and from :func:`ref_checksum`, a
reference Internet checksum written independently of ikelab's (a plain one's complement sum, RFC 1071 4.1).
"""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikelab import packet as ip
from ikelab.errors import ConfigError, ParseError
from ikelab.ip_fragments import Reassembler, fragment, fragment_key

A4, B4 = ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("198.51.100.2")
A6, B6 = ipaddress.IPv6Address("2001:db8::1"), ipaddress.IPv6Address("2001:db8::2")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ref_checksum(data: bytes) -> int:
    """RFC 1071 4.1, byte pair by byte pair, carries folded at each step."""
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) + (data[i + 1] if i + 1 < len(data) else 0)
        total = (total & 0xFFFF) + (total >> 16)
    return 0xFFFF - total


def v4(payload: bytes, *, proto: int = 17, options: bytes = b"", frag: int = 0, total: int | None = None,
       fix_sum: bool = True) -> bytes:
    ihl = 5 + len(options) // 4
    total = 4 * ihl + len(payload) if total is None else total
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0x1234, frag, 64, proto, 0, A4.packed, B4.packed)
    head += options
    if fix_sum:
        head = head[:10] + struct.pack("!H", ref_checksum(head)) + head[12:]
    return head + payload


def v6(next_header: int, body: bytes, plen: int | None = None) -> bytes:
    plen = len(body) if plen is None else plen
    return struct.pack("!IHBB", 6 << 28, plen, next_header, 64) + A6.packed + B6.packed + body


def ext(next_header: int, size: int = 8) -> bytes:
    """A Hop-by-Hop, Routing or Destination Options header of ``size`` octets, padded with PadN."""
    return bytes([next_header, size // 8 - 1, 1, size - 4]) + bytes(size - 4)


def udp_ref(src: ipaddress._BaseAddress, dst: ipaddress._BaseAddress, payload: bytes, sport: int = 500,
            dport: int = 4500) -> bytes:
    length = 8 + len(payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!xBH", 17, length)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", length, 17)
    head = struct.pack("!HHHH", sport, dport, length, 0)
    value = ref_checksum(pseudo + head + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, value) + payload


# ---- IPv4 ------------------------------------------------------------------------------------------------------


def test_ipv4_options_padding_and_flags_are_read_as_rfc_791_lays_them_out() -> None:
    datagram = udp_ref(A4, B4, b"hi")
    raw = v4(datagram, options=b"\x01\x01\x01\x00", frag=0x4000) + b"\x00" * 6  # NOPs, EOL; Ethernet padding
    pkt = ip.parse_ip(raw)
    assert (pkt.header, pkt.payload, pkt.dont_fragment, pkt.is_fragment) == (raw[:24], datagram, True, False)
    assert ip.parse_udp(raw).payload == b"hi"
    frag = ip.parse_ip(v4(b"x" * 16, frag=0x2000 | 185))
    assert (frag.more_fragments, frag.fragment_offset, frag.is_fragment) == (True, 1480, True)


@pytest.mark.parametrize("raw, field, offset", [
    (v4(b"")[:19], "ipv4_header", 19),
    (b"\x44" + v4(b"")[1:], "ihl", 0),
    (v4(b"abcd", total=19), "total_length", 2),
    (v4(b"", options=bytes(8), total=24), "total_length", 2),
    (v4(b"", options=bytes(8))[:24], "ipv4_options", 24),
    (v4(b"abcd", total=30), "total_length", 2),
    (v4(b"abcd", fix_sum=False), "header_checksum", 10),
    (v4(b"abcd", frag=0x8000), "flags", 6),
], ids=["short", "ihl", "total<ihl", "total<options", "options-cut", "total>bytes", "checksum", "reserved-flag"])
def test_broken_ipv4_headers_name_the_field(raw: bytes, field: str, offset: int) -> None:
    with pytest.raises(ParseError) as err:
        ip.parse_ip(raw)
    assert (err.value.field, err.value.offset) == (field, offset)


def test_the_built_ipv4_header_matches_the_reference() -> None:
    built = ip.ip_packet(A4, B4, 50, b"\xaa" * 10, ident=0x1234, dont_fragment=True)
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 30, 0x1234, 0x4000, 64, 50, 0, A4.packed, B4.packed)
    assert built == head[:10] + struct.pack("!H", ref_checksum(head)) + head[12:] + b"\xaa" * 10


# ---- IPv6 extension headers ------------------------------------------------------------------------------------


def test_the_extension_header_chain_is_walked_to_the_upper_layer() -> None:
    datagram = udp_ref(A6, B6, b"payload")
    chain = ext(43, 8) + ext(60, 16) + ext(17, 24)  # Hop-by-Hop -> Routing -> Destination Options -> UDP
    pkt = ip.parse_ip(v6(0, chain + datagram))
    assert (pkt.protocol, pkt.payload, len(pkt.header)) == (17, datagram, 40 + 48)
    assert ip.parse_udp(pkt).payload == b"payload"
    assert ip.selectors(pkt) == ip.Selectors(A6, B6, 17, 500, 4500)


@pytest.mark.parametrize("upper", [50, 51])
def test_esp_and_ah_end_the_walk(upper: int) -> None:
    body = ext(upper, 8) + ext(60, 8)  # what follows ESP or AH is theirs, even if it reads like a header
    pkt = ip.parse_ip(v6(60, body))
    assert (pkt.protocol, pkt.payload) == (upper, body[8:])


def test_a_non_first_fragment_is_fragment_data_not_more_headers() -> None:
    """RFC 8200 4.5: after the Fragment header of a non-first fragment comes the middle of the fragmentable
    part; reading it as a Destination Options header gave a bogus hdr_ext_len error or cut the payload."""
    data = bytes([17, 200]) + bytes(30)  # as a header: 1608 octets long
    pkt = ip.parse_ip(v6(44, struct.pack("!BBHI", 60, 0, 16 | 1, 7) + data))
    assert (pkt.protocol, pkt.payload, pkt.fragment_offset, pkt.more_fragments, pkt.ident) == (60, data, 16, True, 7)
    assert ip.selectors(pkt) == ip.Selectors(A6, B6, 60, None, None)
    first = ext(17, 8) + bytes(16)
    pkt = ip.parse_ip(v6(44, struct.pack("!BBHI", 60, 0, 1, 7) + first))
    assert (pkt.protocol, pkt.payload) == (60, first)  # all of it goes to reassembly


def test_an_atomic_fragment_is_read_on_like_a_whole_packet() -> None:
    datagram = udp_ref(A6, B6, b"atomic")
    pkt = ip.parse_ip(v6(44, struct.pack("!BBHI", 17, 0, 0, 9) + datagram))  # RFC 6946: offset 0, M 0
    assert (pkt.is_fragment, pkt.protocol, pkt.payload) == (False, 17, datagram)
    assert ip.parse_udp(pkt).payload == b"atomic"


@pytest.mark.parametrize("raw, field", [
    (v6(60, ext(0, 8) + ext(59, 8)), "next_header"),  # RFC 8200 4.3: Hop-by-Hop only right after the header
    (v6(0, b""), "payload_length"),  # a jumbogram (RFC 2675)
    (v6(0, ext(59, 8), plen=16), "payload_length"),
    (v6(60, ext(59, 8)[:6]), "extension_header"),
    (v6(43, ext(59, 16)[:8]), "hdr_ext_len"),
    (v6(44, bytes(7)), "extension_header"),
    (v6(17, b"")[:39], "ipv6_header"),
], ids=["hbh-late", "jumbo", "plen>bytes", "ext-cut", "ext-len", "frag-cut", "short"])
def test_broken_ipv6_packets_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(ParseError) as err:
        ip.parse_ip(raw)
    assert err.value.field == field


def test_a_jumbogram_is_refused_at_build_time() -> None:
    with pytest.raises(ConfigError, match="jumbograms"):
        ip.ip_packet(A6, B6, 17, bytes(65536))


# ---- UDP, ICMP ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("src, dst", [(A4, B4), (A6, B6)])
@pytest.mark.parametrize("payload", [b"", b"a", b"odd length!", bytes(range(256))])
def test_udp_checksums_match_the_reference(src: ipaddress._BaseAddress, dst: ipaddress._BaseAddress,
                                           payload: bytes) -> None:
    assert ip.udp(src, dst, 500, 4500, payload) == udp_ref(src, dst, payload)
    assert ip.parse_udp(ip.ip_packet(src, dst, 17, udp_ref(src, dst, payload))).payload == payload


@pytest.mark.parametrize("src, dst", [(A4, B4), (A6, B6)])
def test_a_computed_zero_is_sent_as_all_ones(src: ipaddress._BaseAddress, dst: ipaddress._BaseAddress) -> None:
    """RFC 768: a computed 0 goes out as 0xFFFF; choose the last two octets so that the sum is all ones."""
    probe = udp_ref(src, dst, b"\0\0")
    pseudo_sum = 0xFFFF - ref_checksum(probe[:6] + b"\0\0" + probe[8:] + (src.packed + dst.packed
                 + (struct.pack("!xBH", 17, 10) if src.version == 4 else struct.pack("!I3xB", 10, 17))))
    filler = (0xFFFF - pseudo_sum) % 0xFFFF
    built = ip.udp(src, dst, 500, 4500, filler.to_bytes(2, "big"))
    assert built[6:8] == b"\xff\xff"
    assert ip.parse_udp(ip.ip_packet(src, dst, 17, built)).checksum == 0xFFFF


def test_zero_udp_checksum_rules_differ_by_family() -> None:
    """RFC 768: 0 means no checksum over IPv4; RFC 8200 8.1: IPv6 receivers discard it."""
    plain = struct.pack("!HHHH", 1, 2, 10, 0) + b"ok"
    assert ip.parse_udp(v4(plain)).payload == b"ok"
    assert ip.udp(A4, B4, 1, 2, b"ok", checksum=False) == plain
    with pytest.raises(ParseError) as err:
        ip.parse_udp(v6(17, plain))
    assert (err.value.field, err.value.offset) == ("checksum", 6)
    with pytest.raises(ConfigError):
        ip.udp(A6, B6, 1, 2, b"ok", checksum=False)


@pytest.mark.parametrize("raw, field", [
    (v4(udp_ref(A4, B4, b"abc")[:10]), "length"),
    (v4(udp_ref(A4, B4, b"abc")[:7]), "udp_header"),
    (v4(udp_ref(A4, B4, b"abc")[:-1] + b"x"), "checksum"),
    (v4(udp_ref(A4, B4, bytes(16))[:16], frag=0x2000), "more_fragments"),  # a first fragment only
    (v4(bytes(16), frag=0x0002), "fragment_offset"),
    (v4(bytes(16), proto=6), "protocol"),
], ids=["length", "short", "checksum", "first-fragment", "later-fragment", "not-udp"])
def test_broken_udp_names_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(ParseError) as err:
        ip.parse_udp(raw)
    assert err.value.field == field


@pytest.mark.parametrize("src, dst", [(A4, B4), (A6, B6)])
def test_icmp_echo_checksums_match_the_reference(src: ipaddress._BaseAddress, dst: ipaddress._BaseAddress) -> None:
    """RFC 792: the checksum covers the message; RFC 4443 2.3: for ICMPv6 the pseudo-header too."""
    kind, proto = (8, 1) if src.version == 4 else (128, 58)
    message = struct.pack("!BBHHH", kind, 0, 0, 0x42, 7) + b"ping!"
    pseudo = b"" if src.version == 4 else src.packed + dst.packed + struct.pack("!I3xB", len(message), 58)
    message = message[:2] + struct.pack("!H", ref_checksum(pseudo + message)) + message[4:]
    built = ip.icmp_echo(src, dst, 0x42, 7, b"ping!")
    assert ip.parse_ip(built).payload == message and ip.parse_ip(built).protocol == proto
    parsed = ip.parse_icmp(built)
    assert (parsed.is_echo_request, parsed.ident, parsed.seq, parsed.payload) == (True, 0x42, 7, b"ping!")
    with pytest.raises(ParseError):
        ip.parse_icmp(ip.ip_packet(src, dst, proto, message[:-1] + b"?"))


def test_icmp_in_a_non_first_fragment_is_refused() -> None:
    """Its first octets are the middle of the message, not a type and a code."""
    with pytest.raises(ParseError) as err:
        ip.parse_icmp(v4(bytes([8, 0]) + bytes(14), proto=1, frag=0x0001))
    assert err.value.field == "fragment_offset"


# ---- Ethernet --------------------------------------------------------------------------------------------------


def test_ethernet_skips_vlan_tags_and_refuses_802_3_lengths() -> None:
    macs = bytes.fromhex("00005e005302 00005e005301")
    inner = v4(b"")
    tagged = macs + struct.pack("!HHHH", 0x88A8, 10, 0x8100, 20) + struct.pack("!H", 0x0800) + inner
    assert ip.parse_ethernet(tagged) == ("00:00:5e:00:53:02", "00:00:5e:00:53:01", 0x0800, inner)
    assert ip.ethernet(inner) == macs + b"\x08\x00" + inner
    for raw, field in [(tagged[:17], "vlan_tag"), (macs + b"\x00\x2e" + inner, "ethertype"),
                       (macs, "ethernet_header")]:
        with pytest.raises(ParseError) as err:
            ip.parse_ethernet(raw)
        assert err.value.field == field


# ---- Fuzz: only typed errors -----------------------------------------------------------------------------------

SEEDS = [v4(udp_ref(A4, B4, b"abc")), v4(b"\x08\0" + bytes(6), proto=1), v6(0, ext(44, 8) + struct.pack(
    "!BBHI", 60, 0, 8, 1) + ext(17, 8)), v6(17, udp_ref(A6, B6, b"x")), v6(58, bytes([128]) + bytes(7))]


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
       st.integers(0, 220))
def test_mutated_packets_give_only_typed_errors(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    raw = bytearray(seed)
    for at, value in flips:
        if at < len(raw):
            raw[at] = value
    raw = raw[:cut]
    for parse in (lambda b: ip.parse_ip(b), lambda b: ip.parse_ip(b, verify_checksum=False), ip.parse_udp,
                  ip.parse_icmp, ip.selectors, lambda b: ip.parse_ethernet(bytes(14) + b)):
        try:
            parse(bytes(raw))
        except ParseError:
            pass


# ---- Reassembly ------------------------------------------------------------------------------------------------

K4 = fragment_key(4, "a", "b", 17, 1)
K6 = fragment_key(6, "a", "b", 17, 1)


@pytest.mark.parametrize("kwargs", [{"max_pending": 0}, {"max_pending": True}, {"max_bytes": -1},
                                    {"timeout": float("nan")}])
def test_limits_that_make_no_sense_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Reassembler(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("offset, data", [(-8, bytes(8)), (1.5, bytes(8)), (True, bytes(8)), (0, 8), (8, "text")])
def test_an_offset_or_data_of_the_wrong_kind_is_a_config_error(offset: object, data: object) -> None:
    with pytest.raises(ConfigError):
        Reassembler().add(K4, offset, False, data, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [K4, K6])
def test_an_atomic_fragment_is_processed_in_isolation(key: tuple[object, ...]) -> None:
    """RFC 6946 4: even with the same addresses and Identification as fragments being reassembled."""
    r = Reassembler()
    assert r.add(key, 0, True, b"A" * 16, 1) is None
    atomic = r.add(key, 0, False, b"B" * 8, 2)
    assert atomic is not None and (atomic.payload, atomic.frames) == (b"B" * 8, (2,))
    whole = r.add(key, 16, False, b"C" * 4, 3)
    assert whole is not None and (whole.payload, whole.frames) == (b"A" * 16 + b"C" * 4, (1, 3))


def test_overlapping_ipv6_fragments_drop_the_whole_datagram_even_when_they_agree() -> None:
    """RFC 8200 4.5 / RFC 5722; an exact duplicate may be dropped alone."""
    r = Reassembler()
    assert r.add(K6, 0, True, bytes(16), 1) is None
    assert r.add(K6, 0, True, bytes(16), 2) is None
    with pytest.raises(ParseError):
        r.add(K6, 8, True, bytes(16), 3)
    assert r.pending == 0
    assert r.add(K6, 16, False, bytes(8), 4) is None  # the rest starts a datagram of its own, never completed


def test_a_flood_of_agreeing_overlaps_cannot_grow_without_bound() -> None:
    """IPv4 keeps overlaps that agree; 8192 offsets of up to 64 KiB each would hold half a gigabyte."""
    r = Reassembler(max_bytes=4096)
    with pytest.raises(ParseError, match="max_bytes"):
        for n in range(100):
            r.add(K4, 8 * n, True, bytes(1024), n)
    assert r.pending == 0
    other = fragment_key(4, "a", "b", 17, 2)
    assert r.add(K4, 0, True, bytes(3000), 1) is None
    assert r.add(other, 0, True, bytes(2000), 2) is None  # the older datagram makes room
    assert r.pending == 1
    assert r.add(K4, 3000, False, bytes(8), 3) is None  # its pieces are gone
    whole = r.add(other, 2000, False, bytes(8), 4)
    assert whole is not None and whole.frames == (2, 4)


def test_datagrams_expire_after_the_timeout_when_given_the_time() -> None:
    r = Reassembler(timeout=60)
    assert r.add(K4, 0, True, bytes(8), 1, now=100.0) is None
    assert r.add(K6, 0, True, bytes(8), 2, now=159.0) is None
    assert r.pending == 2
    assert r.add(K6, 8, False, bytes(8), 3, now=160.0) is not None  # K6 is 1 s old; K4, 60 s: gone
    assert r.pending == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([K4, K6, fragment_key(4, "a", "b", 6, 1)]), st.integers(0, 40),
                          st.booleans(), st.integers(0, 5)), max_size=30))
def test_random_fragments_give_typed_errors_and_bounded_state(adds: list[tuple[tuple[object, ...], int, bool,
                                                                                     int]]) -> None:
    r = Reassembler(max_pending=2, max_bytes=200)
    for n, (key, units, more, blocks) in enumerate(adds):
        try:
            r.add(key, 8 * units, more, bytes([n]) * (8 * blocks + (0 if more else n % 3)), n)
        except ParseError:
            pass
        assert r.pending <= 2


def test_ipv4_fragments_built_by_hand_reassemble() -> None:
    payload = bytes(range(200))
    r = Reassembler()
    got = []
    for off, more, piece in [(96, False, payload[96:]), (0, True, payload[:48]), (48, True, payload[48:96])]:
        pkt = ip.parse_ip(v4(piece, frag=(0x2000 if more else 0) | off // 8))
        got.append(r.add(fragment_key(4, str(pkt.src), str(pkt.dst), pkt.protocol, pkt.ident),
                         pkt.fragment_offset, pkt.more_fragments, pkt.payload, len(got) + 1))
    assert got[:2] == [None, None] and got[2] is not None and got[2].payload == payload
    assert got[2].frames == (2, 3, 1)


@pytest.mark.parametrize("packet", [v4(bytes(200)) + bytes(6), v4(bytes(200))[:-4], v6(17, bytes(200), plen=100)],
                         ids=["v4-padded", "v4-cut", "v6-plen"])
def test_fragment_refuses_a_packet_whose_length_field_disagrees(packet: bytes) -> None:
    """The padding or the missing tail would otherwise be shared out into the fragments."""
    with pytest.raises(ConfigError):
        fragment(packet, 100)


@pytest.mark.parametrize("key", [K4, K6])
def test_two_last_fragments_that_end_apart_drop_the_datagram(key: tuple[object, ...]) -> None:
    """RFC 815: the last fragment fixes the datagram's length; another end contradicts it."""
    r = Reassembler()
    assert r.add(key, 8, True, bytes(8), 1) is None  # octets 0..7 still missing
    assert r.add(key, 16, False, bytes(4), 2) is None
    with pytest.raises(ParseError, match="two last fragments"):
        r.add(key, 24, False, bytes(8), 3)
    assert r.pending == 0
