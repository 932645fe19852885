"""Tests for ikelab.packet: IPv4/IPv6/UDP/ICMP/Ethernet build and parse.

Independent references:
* RFC 1071 section 3 (numerical example of the Internet checksum);
* the IPv4 header checksum worked examples of Wikipedia's "Internet checksum"
  / "IPv4 header checksum" articles (header 4500 0073 0000 4000 4011 b861
  c0a8 0001 c0a8 00c7, and 4500 0030 4422 4000 8006 442e 8c7c 19ac ae24 1e2b);
* tshark's own checksum validation (ip/udp/icmp/icmpv6 checksum status) and
  field dissection of packets ikelab built.
"""

from __future__ import annotations

import ipaddress
import subprocess
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tshark_util import require_tshark

from ikelab.errors import ConfigError, ParseError
from ikelab.packet import (
    DEFAULT_DST_MAC,
    DEFAULT_SRC_MAC,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    PROTO_ESP,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_UDP,
    ethernet,
    icmp_echo,
    internet_checksum,
    ip_packet,
    ip_udp,
    parse_ethernet,
    parse_icmp,
    parse_ip,
    parse_udp,
    selectors,
    udp,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- checksums


def test_internet_checksum_rfc1071_example() -> None:
    # RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (after the
    # end-around carry); the checksum is its one's complement, 220d.
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    # Odd length: a zero byte is appended (RFC 1071 section 4.1 "add left-over byte").
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6")) == internet_checksum(bytes.fromhex("0001f203f4f5f600"))


# Wikipedia, "Internet checksum" / "IPv4 header checksum", calculation example.
WIKI_HEADER = bytes.fromhex("45000073000040004011b861c0a80001c0a800c7")


def test_ipv4_header_checksum_worked_examples() -> None:
    # Wikipedia's older example (also quoted on wiser.orbit-lab.org, "Checksum Calculation (source: wikipedia)").
    header_2 = bytes.fromhex("45000030442240008006442e8c7c19acae241e2b")
    for header, expected in ((WIKI_HEADER, 0xB861), (header_2, 0x442E)):
        zeroed = header[:10] + b"\x00\x00" + header[12:]
        assert internet_checksum(zeroed) == expected
        assert internet_checksum(header) == 0  # verifying a correct header gives 0


def test_ip_packet_reproduces_the_worked_example_header() -> None:
    payload = bytes(0x73 - 20)
    built = ip_packet("192.168.0.1", "192.168.0.199", 17, payload, ident=0, ttl=64, dont_fragment=True)
    assert built[:20] == WIKI_HEADER
    assert built[20:] == payload


def test_parse_the_worked_example() -> None:
    pkt = parse_ip(WIKI_HEADER + bytes(0x73 - 20))
    assert pkt.version == 4
    assert pkt.src == ipaddress.IPv4Address("192.168.0.1")
    assert pkt.dst == ipaddress.IPv4Address("192.168.0.199")
    assert (pkt.protocol, pkt.ttl, pkt.ident, pkt.dont_fragment, pkt.checksum) == (17, 64, 0, True, 0xB861)
    assert pkt.header == WIKI_HEADER and len(pkt.payload) == 0x73 - 20


def test_wrong_ipv4_checksum_is_a_parse_error_with_field_and_offset() -> None:
    bad = WIKI_HEADER[:10] + b"\xb8\x62" + WIKI_HEADER[12:] + bytes(0x73 - 20)
    with pytest.raises(ParseError) as info:
        parse_ip(bad)
    assert info.value.field == "header_checksum" and info.value.offset == 10
    assert "b862" in str(info.value) and "b861" in str(info.value)
    assert parse_ip(bad, verify_checksum=False).checksum == 0xB862


# ---------------------------------------------------------------- tshark cross-check


def _pcap(frames: list[bytes]) -> bytes:
    """A classic pcap written here by hand (not with ikelab.pcap) so this file tests packet.py alone."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 1000 + i, 0, len(frame), len(frame)) + frame
    return out


def _zero_checksum_payload() -> bytes:
    # A 2-byte payload chosen so that the computed UDP checksum is 0, which
    # RFC 768 says is transmitted as all ones (0xFFFF).
    base = udp("192.0.2.1", "192.0.2.2", 1234, 5678, b"\x00\x00")
    return base[6:8]


PACKETS = [
    ("udp4", ip_udp("192.0.2.1", "198.51.100.7", 500, 500, b"IKE_SA_INIT", ident=0x1234, ttl=17, dont_fragment=True)),
    ("udp4-odd", ip_udp("192.0.2.1", "198.51.100.7", 4500, 4500, b"\x00\x00\x00\x00odd", ident=7)),
    ("udp4-empty", ip_udp("10.0.0.1", "10.0.0.2", 1, 65535, b"")),
    ("udp4-ffff", ip_udp("192.0.2.1", "192.0.2.2", 1234, 5678, _zero_checksum_payload())),
    ("udp6", ip_udp("2001:db8::1", "2001:db8:ffff::2", 500, 500, b"hello v6", ttl=3)),
    ("udp6-odd", ip_udp("2001:db8::1", "fe80::1", 4500, 500, bytes(range(255)))),
    ("icmp4-req", icmp_echo("192.0.2.1", "198.51.100.7", 0x4242, 1, b"ping through ESP")),
    ("icmp4-rep", icmp_echo("198.51.100.7", "192.0.2.1", 0x4242, 1, b"ping through ESP!", reply=True)),
    ("icmp6-req", icmp_echo("2001:db8::1", "2001:db8::2", 7, 65535, b"abc")),
    ("icmp6-rep", icmp_echo("2001:db8::2", "2001:db8::1", 7, 65535, b"abcd", reply=True)),
]

FIELDS = [
    "ip.checksum.status", "udp.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.ttl", "ipv6.hlim", "ip.id", "ip.flags.df", "ip.len",
    "ipv6.plen", "udp.srcport", "udp.dstport", "udp.length", "icmp.type", "icmpv6.type", "icmp.ident", "icmp.seq",
    "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
]


def _tshark_fields(tmp_path, frames: list[bytes]) -> list[dict[str, str]]:
    tshark = require_tshark()
    path = tmp_path / "packets.pcap"
    path.write_bytes(_pcap(frames))
    args = [tshark, "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-T", "fields"]
    for field in FIELDS:
        args += ["-e", field]
    result = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    return [dict(zip(FIELDS, row)) for row in rows]


@pytest.mark.tshark
def test_tshark_finds_every_checksum_good_and_fields_right(tmp_path) -> None:
    rows = _tshark_fields(tmp_path, [ethernet(p) for _, p in PACKETS])
    assert len(rows) == len(PACKETS)
    good = "1"  # tshark's checksum status: 0 Bad, 1 Good, 2 Unverified
    for (name, _), row in zip(PACKETS, rows):
        statuses = {k: v for k, v in row.items() if k.endswith("checksum.status") and v}
        assert statuses and all(v == good for v in statuses.values()), (name, statuses)
        if name.startswith(("udp4", "icmp4")):
            assert row["ip.checksum.status"] == good, name
        if name.startswith("udp"):
            assert row["udp.checksum.status"] == good, name
    udp4, _, _, ffff, udp6, *_ = rows
    assert (udp4["ip.src"], udp4["ip.dst"], udp4["ip.ttl"], udp4["ip.id"]) == ("192.0.2.1", "198.51.100.7", "17", "0x1234")
    assert udp4["ip.flags.df"] in ("1", "True") and udp4["ip.len"] == str(20 + 8 + len(b"IKE_SA_INIT"))
    assert (udp4["udp.srcport"], udp4["udp.dstport"], udp4["udp.length"]) == ("500", "500", str(8 + 11))
    assert (udp6["ipv6.src"], udp6["ipv6.dst"], udp6["ipv6.hlim"]) == ("2001:db8::1", "2001:db8:ffff::2", "3")
    assert udp6["ipv6.plen"] == str(8 + 8)
    assert PACKETS[3][1][26:28] == b"\xff\xff"  # computed 0 is sent as all ones (RFC 768)
    icmp_req, icmp_rep, icmp6_req, icmp6_rep = rows[6:]
    assert (icmp_req["icmp.type"], icmp_rep["icmp.type"]) == ("8", "0")
    assert icmp_req["icmp.ident"] in ("16962", "0x4242") and icmp_req["icmp.seq"] in ("1", "0x0001")
    assert (icmp6_req["icmpv6.type"], icmp6_rep["icmpv6.type"]) == ("128", "129")
    assert icmp6_req["icmpv6.echo.identifier"] in ("7", "0x0007")


@pytest.mark.tshark
def test_tshark_flags_deliberately_broken_checksums(tmp_path) -> None:
    # The cross-check above can fail: the same tshark call reports Bad (0) on damaged checksums.
    def flip(packet: bytes, index: int) -> bytes:
        return packet[:index] + bytes([packet[index] ^ 0x01]) + packet[index + 1 :]

    udp4 = PACKETS[0][1]
    udp6 = PACKETS[4][1]
    icmp4 = PACKETS[6][1]
    icmp6 = PACKETS[8][1]
    frames = [flip(udp4, 11), flip(udp4, 27), flip(udp6, 47), flip(icmp4, 23), flip(icmp6, 43)]
    rows = _tshark_fields(tmp_path, [ethernet(f) for f in frames])
    assert rows[0]["ip.checksum.status"] == "0"
    assert rows[1]["udp.checksum.status"] == "0"
    assert rows[2]["udp.checksum.status"] == "0"
    assert rows[3]["icmp.checksum.status"] == "0"
    assert rows[4]["icmpv6.checksum.status"] == "0"


# ---------------------------------------------------------------- round trips

ipv4s = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))
ipv6s = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
addr_pairs = st.one_of(st.tuples(ipv4s, ipv4s), st.tuples(ipv6s, ipv6s))
ports = st.integers(0, 65535)
payloads = st.binary(max_size=300)


@SETTINGS
@given(addr_pairs, ports, ports, payloads, st.integers(0, 255), st.integers(0, 65535), st.booleans())
def test_udp_round_trip(pair, sport, dport, payload, ttl, ident, as_string) -> None:
    src, dst = pair
    raw = ip_udp(str(src) if as_string else src, str(dst) if as_string else dst, sport, dport, payload, ttl=ttl, ident=ident)
    pkt = parse_ip(raw)
    assert (pkt.version, pkt.src, pkt.dst, pkt.protocol, pkt.ttl) == (src.version, src, dst, PROTO_UDP, ttl)
    assert pkt.to_bytes() == raw
    if src.version == 4:
        assert pkt.ident == ident and len(pkt.header) == 20
    else:
        assert len(pkt.header) == 40
    dgram = parse_udp(pkt)
    assert (dgram.sport, dgram.dport, dgram.payload, dgram.length) == (sport, dport, payload, 8 + len(payload))
    assert dgram.checksum != 0
    assert parse_udp(raw) == dgram  # raw bytes accepted too
    assert selectors(raw) == (src, dst, PROTO_UDP, sport, dport)


@SETTINGS
@given(addr_pairs, st.integers(0, 65535), st.integers(0, 65535), payloads, st.booleans())
def test_icmp_echo_round_trip(pair, ident, seq, payload, reply) -> None:
    src, dst = pair
    raw = icmp_echo(src, dst, ident, seq, payload, reply)
    pkt = parse_ip(raw)
    msg = parse_icmp(pkt)
    expected_type = {(4, False): 8, (4, True): 0, (6, False): 128, (6, True): 129}[(src.version, reply)]
    assert pkt.protocol == (PROTO_ICMP if src.version == 4 else PROTO_ICMPV6)
    assert (msg.type, msg.code, msg.ident, msg.seq, msg.payload) == (expected_type, 0, ident, seq, payload)
    assert msg.is_echo_reply == reply and msg.is_echo_request != reply
    assert selectors(pkt).sport == expected_type << 8


@SETTINGS
@given(addr_pairs, st.integers(0, 255).filter(lambda p: p not in (0, 43, 44, 60)), payloads, st.binary(max_size=30))
def test_ip_packet_round_trip_and_trailing_padding_ignored(pair, protocol, payload, padding) -> None:
    # (0, 43, 44 and 60 are IPv6 extension headers: the parser would walk into the payload.)
    src, dst = pair
    raw = ip_packet(src, dst, protocol, payload)
    pkt = parse_ip(raw + padding)  # e.g. Ethernet padding of a short frame
    assert pkt == parse_ip(raw)
    assert (pkt.protocol, pkt.payload, pkt.to_bytes()) == (protocol, payload, raw)


# ---------------------------------------------------------------- truncation and corruption


@SETTINGS
@given(st.sampled_from([p for _, p in PACKETS]), st.data())
def test_every_proper_prefix_is_a_parse_error(packet, data) -> None:
    cut = data.draw(st.integers(0, len(packet) - 1))
    with pytest.raises(ParseError):
        pkt = parse_ip(packet[:cut])
        # A prefix that still parses as IP (impossible: lengths are declared) must fail in UDP/ICMP.
        parse_udp(pkt) if pkt.protocol == PROTO_UDP else parse_icmp(pkt)


def test_every_proper_prefix_exhaustively() -> None:
    for name, packet in PACKETS:
        for cut in range(len(packet)):
            with pytest.raises(ParseError):
                parse_ip(packet[:cut])
        assert parse_ip(packet).to_bytes() == packet, name


def test_every_single_bit_flip_in_the_ipv4_header_is_caught() -> None:
    # The Internet checksum detects every single-bit error (RFC 1071 section 2),
    # so each flip must raise ParseError; without verification, never another exception.
    for _, packet in PACKETS:
        if packet[0] >> 4 != 4:
            continue
        for bit in range(20 * 8):
            damaged = bytearray(packet)
            damaged[bit // 8] ^= 0x80 >> (bit % 8)
            with pytest.raises(ParseError):
                parse_ip(bytes(damaged))
            try:
                pkt = parse_ip(bytes(damaged), verify_checksum=False)
            except ParseError:
                continue
            assert pkt != parse_ip(packet)


@SETTINGS
@given(st.sampled_from([p for _, p in PACKETS]), st.data())
def test_any_byte_flip_gives_a_packet_or_a_parse_error(packet, data) -> None:
    index = data.draw(st.integers(0, len(packet) - 1))
    value = data.draw(st.integers(0, 255))
    damaged = packet[:index] + bytes([value]) + packet[index + 1 :]
    for verify in (True, False):
        try:
            pkt = parse_ip(damaged, verify_checksum=verify)
            selectors(pkt)
            if pkt.protocol == PROTO_UDP:
                parse_udp(pkt, verify_checksum=verify)
            elif pkt.protocol in (PROTO_ICMP, PROTO_ICMPV6):
                parse_icmp(pkt, verify_checksum=verify)
        except ParseError as error:
            assert error.field and error.offset >= 0


@SETTINGS
@given(st.binary(max_size=120))
def test_garbage_gives_only_parse_errors(data) -> None:
    for parse in (parse_ip, parse_udp, parse_icmp, selectors, parse_ethernet):
        try:
            parse(data)
        except ParseError:
            pass


def test_udp_checksum_errors() -> None:
    raw = bytearray(ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"payload"))
    raw[-1] ^= 0xFF
    with pytest.raises(ParseError) as info:
        parse_udp(bytes(raw))
    assert info.value.field == "checksum" and info.value.offset == 6
    assert parse_udp(bytes(raw), verify_checksum=False).payload[-1] == ord("d") ^ 0xFF


def test_zero_udp_checksum_allowed_on_ipv4_only() -> None:
    raw = ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, b"\x00\x00\x00\x01esp", checksum=False)
    assert raw[26:28] == b"\x00\x00"
    assert parse_udp(raw).checksum == 0
    with pytest.raises(ConfigError):
        ip_udp("2001:db8::1", "2001:db8::2", 4500, 4500, b"x", checksum=False)
    v6 = bytearray(ip_udp("2001:db8::1", "2001:db8::2", 4500, 4500, b"x"))
    v6[46:48] = b"\x00\x00"
    with pytest.raises(ParseError) as info:
        parse_udp(bytes(v6))
    assert info.value.field == "checksum"


def test_udp_length_mismatch() -> None:
    raw = bytearray(ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"abcdef", checksum=False))
    raw[24:26] = (8 + 3).to_bytes(2, "big")
    with pytest.raises(ParseError) as info:
        parse_udp(bytes(raw))
    assert info.value.field == "length" and info.value.offset == 4


def test_wrong_protocol_and_version() -> None:
    esp = ip_packet("192.0.2.1", "192.0.2.2", PROTO_ESP, b"\x00\x00\x01\x00" + bytes(12))
    with pytest.raises(ParseError) as info:
        parse_udp(esp)
    assert info.value.field == "protocol"
    with pytest.raises(ParseError) as info:
        parse_ip(b"\x55" + bytes(40))
    assert info.value.field == "version"
    assert selectors(esp) == (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2"), PROTO_ESP, None, None)


# ---------------------------------------------------------------- IPv4 options, IPv6 extension headers, fragments


def test_ipv4_with_options() -> None:
    udp_part = udp("192.0.2.1", "192.0.2.2", 53, 53, b"q")
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x46, 0, 24 + len(udp_part), 9, 0, 64, 17, 0,
                                   bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])) + b"\x01\x01\x01\x00")  # NOP NOP NOP EOL
    header[10:12] = internet_checksum(bytes(header)).to_bytes(2, "big")
    pkt = parse_ip(bytes(header) + udp_part)
    assert len(pkt.header) == 24 and parse_udp(pkt).payload == b"q"


def test_ipv6_extension_headers_are_skipped() -> None:
    udp_part = udp("2001:db8::1", "2001:db8::2", 500, 500, b"ike")
    hop_by_hop = bytes([60, 0, 1, 4, 0, 0, 0, 0])  # next: dest opts; PadN option of 4 bytes
    dest_opts = bytes([17, 0, 1, 4, 0, 0, 0, 0])  # next: UDP
    body = hop_by_hop + dest_opts + udp_part
    raw = struct.pack("!IHBB", 6 << 28, len(body), 0, 64) + ipaddress.IPv6Address("2001:db8::1").packed \
        + ipaddress.IPv6Address("2001:db8::2").packed + body
    pkt = parse_ip(raw)
    assert pkt.protocol == PROTO_UDP and len(pkt.header) == 56 and pkt.payload == udp_part
    assert parse_udp(pkt).payload == b"ike"
    assert selectors(pkt)[2:] == (PROTO_UDP, 500, 500)
    with pytest.raises(ParseError) as info:  # extension header length running past the payload
        parse_ip(raw[:40 + 1] + b"\x05" + raw[42:])
    assert info.value.field == "hdr_ext_len"


def test_ipv6_fragment_header_and_ipv4_fragments() -> None:
    frag = bytes([17, 0]) + ((1 << 3) | 1).to_bytes(2, "big") + (0xDEADBEEF).to_bytes(4, "big")  # offset 8, M=1
    body = frag + bytes(16)
    raw = struct.pack("!IHBB", 6 << 28, len(body), 44, 64) + bytes(15) + b"\x01" + bytes(15) + b"\x02" + body
    pkt = parse_ip(raw)
    assert (pkt.protocol, pkt.fragment_offset, pkt.more_fragments, pkt.ident) == (PROTO_UDP, 8, True, 0xDEADBEEF)
    assert pkt.is_fragment and selectors(pkt).sport is None  # OPAQUE: no ports in a non-first fragment
    with pytest.raises(ParseError):
        parse_udp(pkt)
    v4 = bytearray(ip_packet("192.0.2.1", "192.0.2.2", 17, bytes(16)))
    v4[6:8] = (0x2000 | 2).to_bytes(2, "big")  # MF, offset 16 bytes
    v4[10:12] = b"\x00\x00"
    v4[10:12] = internet_checksum(bytes(v4[:20])).to_bytes(2, "big")
    pkt4 = parse_ip(bytes(v4))
    assert (pkt4.more_fragments, pkt4.fragment_offset, pkt4.is_fragment) == (True, 16, True)


# ---------------------------------------------------------------- Ethernet


def test_ethernet_framing() -> None:
    ip4 = ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"x")
    frame = ethernet(ip4)
    assert frame[:6] == bytes.fromhex("00005e005302") and frame[6:12] == bytes.fromhex("00005e005301")
    assert frame[12:14] == b"\x08\x00" and frame[14:] == ip4
    # RFC 7042 2.1.2: 00-00-5E-00-53-00 .. 00-00-5E-00-53-FF are for documentation.
    for mac in (DEFAULT_SRC_MAC, DEFAULT_DST_MAC):
        assert mac.lower().replace("-", ":").startswith("00:00:5e:00:53:")
    ip6 = ip_udp("2001:db8::1", "2001:db8::2", 500, 500, b"x")
    frame6 = ethernet(ip6, src_mac="02-00-00-00-00-01", dst_mac=b"\xff" * 6)
    assert frame6[12:14] == b"\x86\xdd"
    assert parse_ethernet(frame6) == ("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", ETHERTYPE_IPV6, ip6)
    dst, src, ethertype, payload = parse_ethernet(frame)
    assert (ethertype, payload) == (ETHERTYPE_IPV4, ip4)
    tagged = frame[:12] + b"\x81\x00\x00\x05" + frame[12:]  # 802.1Q tag, VLAN 5
    assert parse_ethernet(tagged).payload == ip4


def test_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        ip_udp("192.0.2.1", "2001:db8::1", 500, 500, b"")
    assert info.value.field == "dst"
    with pytest.raises(ConfigError):
        ip_udp("192.0.2.300", "192.0.2.1", 500, 500, b"")
    with pytest.raises(ConfigError):
        ip_udp("192.0.2.1", "192.0.2.2", 65536, 500, b"")
    with pytest.raises(ConfigError):
        ip_udp("192.0.2.1", "192.0.2.2", 500, 500, "text")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ip_packet("192.0.2.1", "192.0.2.2", 256, b"")
    with pytest.raises(ConfigError):
        ip_packet("192.0.2.1", "192.0.2.2", 50, bytes(65536))
    with pytest.raises(ConfigError):
        icmp_echo("192.0.2.1", "192.0.2.2", -1, 0)
    with pytest.raises(ConfigError):
        ethernet(b"\x00abc")
    with pytest.raises(ConfigError):
        ethernet(ip_udp("192.0.2.1", "192.0.2.2", 1, 2, b""), src_mac="00:11:22:33:44")


def test_a_recomputed_udp_checksum_of_zero_is_sent_as_all_ones() -> None:
    """RFC 768: a computed checksum of 0 is transmitted as 0xFFFF, since 0 means "no checksum".  The segment's
    two payload octets are chosen so that the sum comes out at 0; a receiver must still find it valid."""
    from ikelab.packet import internet_checksum, with_checksum_for

    src, dst = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")
    pseudo = src.packed + dst.packed + bytes([0, 17]) + (10).to_bytes(2, "big")
    for word in range(0x10000):
        segment = struct.pack("!HHHH", 4500, 4500, 10, 0x1234) + word.to_bytes(2, "big")
        if internet_checksum(pseudo + segment[:6] + b"\0\0" + segment[8:]) == 0:
            break
    fixed = with_checksum_for(src, dst, 17, segment)
    assert fixed[6:8] == b"\xff\xff" and fixed[8:] == segment[8:]
    assert internet_checksum(pseudo + fixed) == 0  # what a receiver checks: the sum over it all is all ones
