"""IP fragmentation and reassembly (ikelab.ip_fragments), RFC 791 3.2 and RFC 8200 4.5.

Every fragment must parse as a valid IP packet (ikelab.packet checks the
IPv4 header checksum and lengths), and reassembling the pieces in any order,
with duplicates, must give back the original datagram.  tshark's view of
fragmented captures is compared in tests/test_dissect.py.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab import packet as ip
from ikelab.errors import ConfigError, ParseError
from ikelab.ip_fragments import Reassembler, fragment, fragment_key


def feed(reassembler: Reassembler, pieces: list[bytes], order: list[int]) -> list[object]:
    """Add the pieces in ``order`` (indices, repeats allowed); what each add returned."""
    results = []
    for n, i in enumerate(order):
        pkt = ip.parse_ip(pieces[i])
        key = fragment_key(pkt.version, str(pkt.src), str(pkt.dst), pkt.protocol, pkt.ident)
        results.append(reassembler.add(key, pkt.fragment_offset, pkt.more_fragments, pkt.payload, n + 1))
    return results


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3000), mtu=st.integers(68, 1500), v6=st.booleans(), seed=st.integers(0, 2**16))
def test_any_order_with_duplicates_gives_the_datagram_back(size: int, mtu: int, v6: bool, seed: int) -> None:
    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("192.0.2.1", "192.0.2.2")
    data = random.Random(seed).randbytes(size)
    packet = ip.ip_udp(src, dst, 500, 500, data)
    pieces = fragment(packet, mtu, ident=seed if v6 else seed & 0xFFFF)
    assert all(len(p) <= mtu for p in pieces)
    if len(packet) <= mtu:
        assert pieces == [packet]
        return
    parsed = [ip.parse_ip(p) for p in pieces]  # checksums and lengths are checked here
    assert all(p.is_fragment and p.fragment_offset % 8 == 0 for p in parsed)
    assert [p.more_fragments for p in parsed] == [True] * (len(pieces) - 1) + [False]
    order = list(range(len(pieces)))
    rng = random.Random(seed)
    rng.shuffle(order)
    order.insert(rng.randrange(len(order) + 1), rng.randrange(len(pieces)))  # one piece comes twice
    results = feed(Reassembler(), pieces, order)
    done = [r for r in results if r is not None]
    assert len(done) == 1 and results.index(done[0]) >= len(pieces) - 1
    assert ip.parse_udp(ip.ip_packet(src, dst, 17, done[0].payload)).payload == data
    assert sum(size for _, size in done[0].pieces) == len(done[0].payload)


def test_the_wire_format_of_each_fragment() -> None:
    """RFC 791: 8-octet units, MF on all but the last, the header repeated; RFC 8200: a Fragment header."""
    v4 = fragment(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(300), ident=0x1234), 200)
    assert [len(p) for p in v4] == [196, 152] and v4[0][4:6] == v4[1][4:6] == b"\x12\x34"
    assert v4[0][6:8] == b"\x20\x00" and v4[1][6:8] == (176 // 8).to_bytes(2, "big")
    v6 = fragment(ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, bytes(200)), 200, ident=0xABCDEF)
    assert [p[6] for p in v6] == [44, 44] and v6[0][40:48] == bytes.fromhex("1100000100abcdef")
    assert v6[1][40:48] == bytes([17, 0]) + (152).to_bytes(2, "big") + (0xABCDEF).to_bytes(4, "big")


def test_what_cannot_be_fragmented_is_refused() -> None:
    packet = ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(300), dont_fragment=True)
    with pytest.raises(ConfigError, match="Don't Fragment"):
        fragment(packet, 200)
    with pytest.raises(ConfigError, match="mtu must be an int >= 68"):
        fragment(packet, 60)
    with pytest.raises(ConfigError, match="a fragment already"):
        fragment(fragment(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(300)), 200)[1], 100)
    with pytest.raises(ConfigError, match="Identification must be in 0..65535, got 65536"):
        fragment(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(300)), 200, ident=0x10000)
    with pytest.raises(ConfigError, match="ident must be in 0..2\\*\\*32-1"):
        fragment(ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, bytes(300)), 200, ident=-1)
    with pytest.raises(ConfigError, match="extension header 44 is not supported"):
        fragment(fragment(ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, bytes(300)), 200)[0], 100)
    with pytest.raises(ConfigError, match="not an IP packet"):
        fragment(bytes(100), 80)
    with pytest.raises(ConfigError, match="packet must be bytes, not int"):
        fragment(1500, 1280)  # type: ignore[arg-type]


def test_a_hole_never_completes_and_the_table_is_bounded() -> None:
    pieces = fragment(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(500)), 200)
    r = Reassembler(max_pending=2)
    assert feed(r, pieces, [0, 2]) == [None, None] and r.pending == 1  # the middle piece is missing
    other = [fragment(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(500), ident=i), 200)[0] for i in (1, 2)]
    feed(r, other, [0, 1])
    assert r.pending == 2  # the oldest datagram made room
    assert feed(r, pieces, [1]) == [None]  # its first and last pieces were dropped with it


def test_pieces_that_disagree_are_refused() -> None:
    """RFC 5722: overlapping fragments with different data make the datagram invalid."""
    key = fragment_key(4, "192.0.2.1", "192.0.2.2", 17, 7)
    r = Reassembler()
    assert r.add(key, 0, True, bytes(16), 1) is None
    assert r.add(key, 0, True, bytes(16), 2) is None  # the same piece again is harmless
    with pytest.raises(ParseError, match="overlap at bytes 8..16 with different data"):
        r.add(key, 8, True, b"\x01" * 16, 3)
    assert r.pending == 0
    with pytest.raises(ParseError, match="not a multiple of 8"):
        r.add(key, 0, True, bytes(12), 4)
    assert r.add(key, 16, False, bytes(4), 5) is None
    with pytest.raises(ParseError, match="two last fragments end at 20 and 28"):
        r.add(key, 16, False, bytes(12), 6)
    assert r.add(key, 16, False, bytes(4), 7) is None
    with pytest.raises(ParseError, match="reaches byte 40, past the datagram's end 20"):
        r.add(key, 24, True, bytes(16), 8)


def test_a_hole_of_one_fragment_block_is_still_a_hole() -> None:
    """Offsets count 8-octet blocks (RFC 791): pieces at 0..8 and 16..24 leave 8..16 missing; the datagram
    is not complete, whatever the last piece's More Fragments flag says."""
    key = fragment_key(4, "192.0.2.1", "192.0.2.2", 17, 9)
    r = Reassembler()
    assert r.add(key, 0, True, b"A" * 8, 1) is None
    assert r.add(key, 16, False, b"C" * 8, 2) is None
    done = r.add(key, 8, True, b"B" * 8, 3)
    assert done is not None and r.pending == 0
    assert done.payload == b"A" * 8 + b"B" * 8 + b"C" * 8 and done.pieces == ((1, 8), (3, 8), (2, 8))


def test_same_identification_but_another_protocol_is_another_datagram() -> None:
    """RFC 791 3.2: IPv4 fragments belong together by (source, destination, protocol, Identification).  A UDP
    datagram and an ESP packet between the same hosts with the same Identification, fragments interleaved,
    come back as two datagrams, each whole."""
    udp = ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"U" * 400, ident=0x4242)
    esp = ip.ip_packet("192.0.2.1", "192.0.2.2", 50, b"\x00\x00\x10\x00" + b"E" * 404, ident=0x4242)
    pieces_udp, pieces_esp = fragment(udp, 200), fragment(esp, 200)
    assert len(pieces_udp) == len(pieces_esp) == 3
    interleaved = [p for pair in zip(pieces_udp, pieces_esp) for p in pair]
    done = [r for r in feed(Reassembler(), interleaved, list(range(6))) if r is not None]
    assert [r.payload for r in done] == [udp[20:], esp[20:]]
    assert [r.frames for r in done] == [(1, 3, 5), (2, 4, 6)]


# ----------------------------------------------------------------------------- mutation review edges


def test_a_packet_of_exactly_the_mtu_is_sent_whole() -> None:
    """A packet of ``mtu`` bytes fits the link; one byte more must be cut, each piece within the MTU."""
    packet = ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(172))
    assert len(packet) == 200
    assert fragment(packet, 200) == [packet]
    pieces = fragment(packet, 199)
    assert len(pieces) == 2 and all(len(p) <= 199 for p in pieces)


def test_68_octets_is_the_smallest_mtu() -> None:
    """RFC 791 3.2: "Every internet module must be able to forward a datagram of 68 octets without further
    fragmentation": 68 is allowed (48 octets of data per fragment, six 8-octet blocks), 67 is not."""
    packet = ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(100))
    pieces = fragment(packet, 68)
    assert [len(p) - 20 for p in pieces] == [48, 48, 12]
    with pytest.raises(ConfigError, match="mtu must be an int >= 68"):
        fragment(packet, 67)


def test_a_first_fragment_is_a_fragment_already() -> None:
    """RFC 791 3.2: a datagram with More Fragments set is a fragment even at offset 0; cutting it again as if it
    were whole would clear its MF flag and end the datagram early."""
    first = fragment(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(300)), 200)[0]
    assert first[6:8] == b"\x20\x00"  # MF set, offset 0
    with pytest.raises(ConfigError, match="a fragment already"):
        fragment(first, 100)


def test_an_ipv4_header_with_options_is_refused() -> None:
    """RFC 791 3.1: only options with the "copied" flag go into every fragment; the module does not sort them."""
    plain = ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(300))
    total = len(plain) + 4
    with_options = bytes([0x46, plain[1]]) + total.to_bytes(2, "big") + plain[4:20] + b"\x01\x01\x01\x00" + plain[20:]
    with pytest.raises(ConfigError, match="options \\(24 bytes\\)"):
        fragment(with_options, 200)


@pytest.mark.parametrize("next_header", [0, 43, 60])
def test_ipv6_extension_headers_are_refused(next_header: int) -> None:
    """RFC 8200 4.5: Hop-by-Hop (0) and Routing (43) headers belong to the unfragmentable part, which this module
    does not build; Destination Options (60) are refused too, as the docstring says."""
    packet = bytearray(ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, bytes(300)))
    packet[6] = next_header
    with pytest.raises(ConfigError, match=f"extension header {next_header} is not supported"):
        fragment(bytes(packet), 200)


def test_the_ipv6_identification_has_32_bits() -> None:
    """RFC 8200 4.5: the Fragment header's Identification is 32 bits: 2^32 - 1 is the largest."""
    packet = ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, bytes(300))
    assert {p[44:48] for p in fragment(packet, 200, ident=2**32 - 1)} == {b"\xff\xff\xff\xff"}
    with pytest.raises(ConfigError, match="ident must be in 0..2\\*\\*32-1"):
        fragment(packet, 200, ident=2**32)


def test_an_ipv6_datagram_is_known_without_its_protocol() -> None:
    """RFC 8200 4.5: fragments belong together by Source Address, Destination Address and Identification."""
    assert fragment_key(6, "2001:db8::1", "2001:db8::2", 17, 5) == fragment_key(6, "2001:db8::1", "2001:db8::2", 50, 5)
    assert fragment_key(4, "192.0.2.1", "192.0.2.2", 17, 5) != fragment_key(4, "192.0.2.1", "192.0.2.2", 50, 5)


def test_a_piece_of_the_wrong_length_drops_its_datagram() -> None:
    """The class docstring: a fragment that is refused drops the datagram, so pieces held before it go too."""
    key = fragment_key(4, "192.0.2.1", "192.0.2.2", 17, 3)
    r = Reassembler()
    assert r.add(key, 0, True, bytes(8), 1) is None and r.pending == 1
    with pytest.raises(ParseError, match="not a multiple of 8"):
        r.add(key, 8, True, bytes(12), 2)
    assert r.pending == 0


def test_ipv4_pieces_that_overlap_and_agree_give_each_byte_once() -> None:
    """RFC 791 3.2 (reassembly): an IPv4 datagram may arrive cut two ways, for example re-fragmented on another
    path; bytes held twice appear once in the datagram."""
    key = fragment_key(4, "192.0.2.1", "192.0.2.2", 17, 4)
    r = Reassembler()
    assert r.add(key, 0, True, b"A" * 8 + b"B" * 8, 1) is None
    assert r.add(key, 8, True, b"B" * 8 + b"C" * 8, 2) is None
    done = r.add(key, 24, False, b"D" * 4, 3)
    assert done is not None and done.payload == b"A" * 8 + b"B" * 8 + b"C" * 8 + b"D" * 4



def test_a_shorter_copy_at_the_same_offset_does_not_forget_bytes_held() -> None:
    """RFC 791 3.2: an IPv4 fragment may be fragmented again on another path, so the same offset can come twice,
    once with 16 octets and once with 8.  The datagram is complete once every byte arrived, in any order;
    before the fix the shorter copy replaced the longer one and left a hole that never closed."""
    key = fragment_key(4, "192.0.2.1", "192.0.2.2", 17, 8)
    r = Reassembler()
    assert r.add(key, 0, True, b"A" * 8 + b"B" * 8, 1) is None
    assert r.add(key, 0, True, b"A" * 8, 2) is None
    done = r.add(key, 16, False, b"C" * 4, 3)
    assert done is not None and done.payload == b"A" * 8 + b"B" * 8 + b"C" * 4 and r.pending == 0

@pytest.mark.parametrize("last_first", [False, True])
def test_a_piece_past_the_last_fragments_end_is_refused_in_either_order(last_first: bool) -> None:
    """The last fragment (MF = 0) fixes the datagram's length; a piece that reaches past it is refused and the
    datagram dropped whether it came before the last fragment or after it.  Before the fix, the order
    "piece, then last fragment" reassembled a 32-byte payload for a datagram that ends at byte 20."""
    key = fragment_key(4, "192.0.2.1", "192.0.2.2", 17, 5)
    pieces = [(0, True, bytes(8)), (8, True, bytes(24)), (16, False, bytes(4))]
    if last_first:
        pieces = [pieces[2], pieces[0], pieces[1]]
    r = Reassembler()
    assert r.add(key, *pieces[0], 1) is None and r.add(key, *pieces[1], 2) is None
    with pytest.raises(ParseError, match="reaches byte 32, past the datagram's end 20"):
        r.add(key, *pieces[2], 3)
    assert r.pending == 0


def test_overlapping_ipv6_fragments_discard_the_datagram() -> None:
    """RFC 8200 4.5 (after RFC 5722): "If any of the fragments being reassembled overlap with any other fragments
    ... reassembly of that packet must be abandoned", even when the bytes agree; an exact duplicate may be
    dropped instead.  The module docstring promised this; before the fix agreeing IPv6 overlaps reassembled."""
    key = fragment_key(6, "2001:db8::1", "2001:db8::2", 17, 6)
    r = Reassembler()
    assert r.add(key, 0, True, bytes(16), 1) is None
    assert r.add(key, 0, True, bytes(16), 2) is None  # the same fragment twice: a duplicate, not an overlap
    with pytest.raises(ParseError, match="IPv6 fragments overlap at bytes 8..16 \\(RFC 8200 4.5"):
        r.add(key, 8, True, bytes(16), 3)
    assert r.pending == 0
    assert r.add(key, 0, True, bytes(16), 4) is None  # the rest of it now starts a new datagram
    assert r.add(key, 16, False, bytes(4), 5) is not None
    lenient = Reassembler(strict_ipv6=False)  # as Wireshark, for ikelab.dissect: agreeing overlaps are taken
    assert lenient.add(key, 0, True, bytes(16), 1) is None and lenient.add(key, 8, True, bytes(16), 2) is None
    assert lenient.add(key, 24, False, bytes(4), 3).payload == bytes(28)


@pytest.mark.parametrize("v6", [False, True])
def test_a_payload_of_whole_fragments_ends_with_mf_clear(v6: bool) -> None:
    """RFC 791 3.2 and RFC 8200 4.5: the last fragment has More Fragments clear, also when the payload is an
    exact multiple of a fragment's share: with mtu 200 that is 176 octets (IPv4) or 152 (IPv6, 40 + 8 octets of
    headers), and a payload of twice that gives two fragments, the second one the last."""
    share = 152 if v6 else 176
    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("192.0.2.1", "192.0.2.2")
    packet = ip.ip_udp(src, dst, 500, 500, bytes(2 * share - 8))  # the UDP header is part of the IP payload
    parsed = [ip.parse_ip(p) for p in fragment(packet, 200, ident=7)]
    assert [(p.fragment_offset, p.more_fragments, len(p.payload)) for p in parsed] == [(0, True, share),
                                                                                        (share, False, share)]
    done = feed(Reassembler(), fragment(packet, 200, ident=7), [0, 1])
    assert done[0] is None and done[1] is not None


def test_the_identification_asked_for_is_in_every_fragment() -> None:
    """RFC 791 3.2: every fragment of a datagram carries its Identification (octets 4-5), ``ident`` replacing
    the packet's own; an IPv6 Fragment header's Identification (octets 44-47) is 0 unless ``ident`` is given."""
    v4 = fragment(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(300), ident=0x1234), 200, ident=0xBEEF)
    assert [p[4:6] for p in v4] == [b"\xbe\xef"] * 2
    v6 = fragment(ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, bytes(300)), 200)
    assert [p[44:48] for p in v6] == [bytes(4)] * 3


@pytest.mark.parametrize("version, limit", [(4, 65515), (6, 65535)])
def test_a_fragment_past_the_largest_datagram_is_refused(version: int, limit: int) -> None:
    """RFC 791 3.1: Total Length is 16 bits and counts the 20-octet header, so an IPv4 payload ends by octet
    65515; RFC 8200 4.5: a fragment that would make the Payload Length exceed 65,535 "must be discarded".
    The 13-bit offset reaches 65528, so a crafted last fragment could otherwise build a larger datagram."""
    key = fragment_key(version, "a", "b", 17, 1)
    r = Reassembler()
    assert r.add(key, 0, True, bytes(8), 1) is None
    assert r.add(key, limit - 3, False, bytes(3), 2) is None  # ends exactly at the limit: allowed
    r = Reassembler()
    assert r.add(key, 0, True, bytes(8), 1) is None
    with pytest.raises(ParseError, match=f"reaches byte {limit + 1}: the datagram would outgrow"):
        r.add(key, limit - 3, False, bytes(4), 2)
    assert r.pending == 0
