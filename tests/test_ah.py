"""AH (RFC 4302): the ICV covers the IP header's immutable fields, and a NAT breaks it where ESP survives.

Expected ICVs are recomputed here with the standard library's ``hmac`` over
a copy of the packet whose mutable fields the *test* zeroes, following the
field lists of RFC 4302 3.3.3.1.1.1 (IPv4) and 3.3.3.1.2.1 (IPv6); the
header sizes follow RFC 4302 2.2 ("Payload Len ... in 32-bit words, minus
2") and 2.6 (ICV padding to 32 bits for IPv4, 64 bits for IPv6).  tshark
checks the header layout independently.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ikelab import packet as ip
from ikelab.ah import AhSa, ah_icv_coverage, icv_field_len, parse_ah, zero_mutable_fields
from ikelab.errors import ConfigError, IntegrityError, ParseError, ReplayError, UnknownSpiError
from ikelab.esp import EspSa
from ikelab.pcap import write_pcap

KEY = bytes(range(0x40, 0x60))  # 32 bytes for HMAC-SHA2-256
V4 = ("192.0.2.10", "198.51.100.20")
V6 = ("2001:db8::10", "2001:db8:1::20")


def pair(mode: str = "transport", integ: str = "AUTH_HMAC_SHA2_256_128", key: bytes = KEY, tunnel=None, **extra):
    out = AhSa(0x0A0B0C0D, direction="outbound", integrity=integ, integrity_key=key, mode=mode, tunnel=tunnel, **extra)
    inn = AhSa(0x0A0B0C0D, direction="inbound", integrity=integ, integrity_key=key, mode=mode, **extra)
    return out, inn


def fix_ipv4_checksum(packet: bytes) -> bytes:
    ihl = (packet[0] & 0x0F) * 4
    header = bytearray(packet[:ihl])
    header[10:12] = b"\x00\x00"
    header[10:12] = ip.internet_checksum(bytes(header)).to_bytes(2, "big")
    return bytes(header) + packet[ihl:]


def edit(packet: bytes, offset: int, value: bytes) -> bytes:
    """Change bytes of the IP header as a router or a NAT would (IPv4 checksum fixed up)."""
    changed = packet[:offset] + value + packet[offset + len(value) :]
    return fix_ipv4_checksum(changed) if packet[0] >> 4 == 4 else changed


def manual_icv_v4(packet: bytes, icv_len: int, key: bytes = KEY, digest=hashlib.sha256, seq_hi: bytes = b"") -> bytes:
    """RFC 4302 3.3.3.1.1.1 by hand: zero TOS, flags + fragment offset, TTL, checksum; zero the ICV field."""
    ihl = (packet[0] & 0x0F) * 4
    h = bytearray(packet[:ihl])
    h[1] = 0
    h[6:8] = b"\x00\x00"
    h[8] = 0
    h[10:12] = b"\x00\x00"
    ah_len = (packet[ihl + 1] + 2) * 4
    ah = packet[ihl : ihl + 12] + bytes(ah_len - 12)
    return hmac.new(key, bytes(h) + ah + packet[ihl + ah_len :] + seq_hi, digest).digest()[:icv_len]


def manual_icv_v6(packet: bytes, icv_len: int, key: bytes = KEY) -> bytes:
    """RFC 4302 3.3.3.1.2.1 by hand: zero Traffic Class, Flow Label and Hop Limit."""
    h = bytearray(packet[:40])
    h[0] &= 0xF0
    h[1:4] = b"\x00\x00\x00"
    h[7] = 0
    ah_len = (packet[41] + 2) * 4
    ah = packet[40:52] + bytes(ah_len - 12)
    return hmac.new(key, bytes(h) + ah + packet[40 + ah_len :], hashlib.sha256).digest()[:icv_len]


# ------------------------------------------------------------------------------------- layout


@pytest.mark.parametrize(
    "integ, key_len, version, ah_len, payload_len",
    [
        ("AUTH_HMAC_SHA1_96", 20, 4, 24, 4),  # 12 + 12-byte ICV: 24 bytes = 6 words, minus 2
        ("AUTH_HMAC_SHA1_96", 20, 6, 24, 4),  # 24 is already a multiple of 8
        ("AUTH_HMAC_SHA2_256_128", 32, 4, 28, 5),
        ("AUTH_HMAC_SHA2_256_128", 32, 6, 32, 6),  # 28 -> padded to 32 over IPv6 (RFC 4302 2.6)
        ("AUTH_HMAC_SHA2_384_192", 48, 6, 40, 8),
        ("AUTH_HMAC_SHA2_512_256", 64, 4, 44, 9),
    ],
)
def test_header_length_and_icv_padding(integ: str, key_len: int, version: int, ah_len: int, payload_len: int) -> None:
    src, dst = V4 if version == 4 else V6
    out, inn = pair(integ=integ, key=bytes(key_len))
    original = ip.icmp_echo(src, dst, 1, 1, b"abc")
    protected = out.protect_packet(original)
    hl = 20 if version == 4 else 40
    ah = parse_ah(protected, hl)
    assert (ah.payload_len, ah.length, ah.spi, ah.seq) == (payload_len, ah_len, 0x0A0B0C0D, 1)
    assert ah.next_header == (1 if version == 4 else 58)
    assert icv_field_len(out.integrity.icv_len, version) == ah_len - 12
    assert len(protected) == len(original) + ah_len
    assert inn.unprotect_packet(protected) == original


def test_transport_mode_ipv4_icv_by_hand() -> None:
    out, _ = pair()
    protected = out.protect_packet(ip.ip_udp(*V4, 1000, 2000, b"payload", ident=0x1234, ttl=33, dont_fragment=True))
    assert protected[9] == 51 and ip.internet_checksum(protected[:20]) == 0  # protocol AH, header checksum valid
    assert protected[32:48] == manual_icv_v4(protected, 16)


def test_transport_mode_ipv6_icv_by_hand() -> None:
    out, _ = pair()
    protected = out.protect_packet(ip.ip_udp(*V6, 1000, 2000, b"payload"))
    assert protected[6] == 51
    assert protected[52:68] == manual_icv_v6(protected, 16)
    assert protected[68:72] == bytes(4)  # the IPv6 ICV padding


def test_esn_high_bits_enter_the_icv() -> None:
    out, inn = pair(esn=True, initial_seq=2**32 + 6)
    protected = out.protect_packet(ip.icmp_echo(*V4, 1, 1))
    assert parse_ah(protected, 20).seq == 7  # low 32 bits on the wire
    assert protected[32:48] == manual_icv_v4(protected, 16, seq_hi=(1).to_bytes(4, "big"))
    _, fresh = pair(esn=True, initial_seq=2**32 + 1)
    assert fresh.unprotect_packet(protected) == ip.icmp_echo(*V4, 1, 1)


# ------------------------------------------------------------------------------ mutable fields


@pytest.mark.parametrize(
    "offset, value, what",
    [(8, b"\x01", "TTL"), (1, b"\xb8", "DSCP/ECN"), (6, b"\x40\x00", "DF flag"), (6, b"\x00\x00", "flags")],
)
def test_mutable_ipv4_fields_do_not_break_the_icv(offset: int, value: bytes, what: str) -> None:
    out, inn = pair()
    original = ip.icmp_echo(*V4, 1, 1, b"in flight", ttl=64)
    changed = edit(out.protect_packet(original), offset, value)
    result = inn.unprotect_packet(changed)
    assert ip.parse_ip(result).payload == ip.parse_ip(original).payload, what


@pytest.mark.parametrize(
    "offset, value, what",
    [(12, bytes([203, 0, 113, 77]), "source address"), (16, bytes([203, 0, 113, 78]), "destination address"),
     (4, b"\x12\x34", "identification")],
)
def test_immutable_ipv4_fields_break_the_icv(offset: int, value: bytes, what: str) -> None:
    out, inn = pair()
    changed = edit(out.protect_packet(ip.icmp_echo(*V4, 1, 1, b"x")), offset, value)
    with pytest.raises(IntegrityError):
        inn.unprotect_packet(changed)
    assert inn.window.top == 0 and inn.counters.integrity_errors == 1, what


def test_ipv6_mutable_and_immutable_fields() -> None:
    original = ip.icmp_echo(*V6, 1, 1, b"six")
    out, _ = pair()
    protected = out.protect_packet(original)
    # hop limit; flow label; traffic class (high nibble); traffic class low nibble = its ECN bits (a router's CE)
    for offset, value in ((7, b"\x01"), (1, b"\x0f\xff\xff"), (0, b"\x6f"), (1, b"\x30")):
        _, inn = pair()
        assert ip.parse_ip(inn.unprotect_packet(edit(protected, offset, value))).payload == ip.parse_ip(original).payload
    _, inn = pair()
    with pytest.raises(IntegrityError):
        inn.unprotect_packet(edit(protected, 8, b"\x20\x01\x0d\xb9"))  # source address


def ipv4_with_options(options: bytes, payload: bytes = b"\x08\x00\xf7\xff\x00\x00\x00\x00") -> bytes:
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload), 7, 0, 64, 1, 0,
                         bytes([192, 0, 2, 10]), bytes([198, 51, 100, 20])) + options
    return fix_ipv4_checksum(header + payload)


def test_ipv4_options_mutable_zeroed_immutable_covered() -> None:
    # Record Route (7, mutable) then Router Alert (148, immutable, RFC 4302 appendix A1)
    record_route = bytes([7, 7, 4]) + bytes(4)
    router_alert = bytes([148, 4, 0, 0])
    options = record_route + b"\x01" + router_alert  # 7 + 1 (NOP) + 4 = 12 bytes
    original = ipv4_with_options(options)
    zeroed = zero_mutable_fields(original[:32])
    assert zeroed[20:27] == bytes(7) and zeroed[27] == 1 and zeroed[28:32] == router_alert
    out, inn = pair()
    protected = out.protect_packet(original)
    assert ip.parse_ip(protected).header[20:32] == options  # options kept in transport mode
    routed = edit(protected, 23, bytes([10, 0, 0, 1]))  # a router records its address: still valid
    assert ip.parse_ip(inn.unprotect_packet(routed)).payload == ip.parse_ip(original).payload
    _, inn2 = pair()
    with pytest.raises(IntegrityError):
        inn2.unprotect_packet(edit(protected, 30, b"\x00\x01"))  # router alert value is covered


def test_timestamp_options_are_mutable() -> None:
    """RFC 4302 appendix A.1: Timestamp (68) is mutable, as Record Route is: routers write into it."""
    timestamp = bytes([68, 8, 5, 0]) + bytes.fromhex("00bc614e")  # pointer at the first free slot, a time stamp
    zeroed = zero_mutable_fields(ipv4_with_options(timestamp)[:28])
    assert zeroed[20:28] == bytes(8)


def test_flags_and_the_whole_fragment_offset_are_zeroed() -> None:
    header = bytearray(ipv4_with_options(b"")[:20])
    header[6:8] = b"\x3f\xff"  # MF and fragment offset 0x1FFF (RFC 791: 3 flag bits, 13 offset bits)
    zeroed = zero_mutable_fields(bytes(header))
    assert len(zeroed) == 20 and zeroed[6:8] == b"\x00\x00" and zeroed[12:20] == header[12:20]


def _resigned_v4(packet: bytes, icv_len: int = 16) -> bytes:
    """``packet`` (IPv4, AH after a 20-byte header) with its total length, checksum and ICV made right again."""
    ah_len = (packet[21] + 2) * 4
    fixed = fix_ipv4_checksum(packet[:2] + len(packet).to_bytes(2, "big") + packet[4:])
    zeroed = fixed[:32] + bytes(ah_len - 12) + fixed[20 + ah_len:]
    icv = manual_icv_v4(zeroed, icv_len)
    return fixed[:32] + icv + fixed[32 + icv_len:]


def test_an_icv_field_longer_than_the_algorithm_needs_is_refused() -> None:
    """RFC 4302 2.2: Payload Length says how long the ICV field is; for HMAC-SHA2-256-128 over IPv4 it is 16
    octets.  Eight more octets, signed correctly, are no AH the SA can check: a ParseError, counted."""
    out, inn = pair()
    good = out.protect_packet(ip.icmp_echo(*V4, 1, 1, b"x"))
    longer = bytearray(good[:20 + 28] + bytes(8) + good[20 + 28:])
    longer[21] += 2  # Payload Len, in 4-octet units minus 2
    with pytest.raises(ParseError, match="ICV field is 24 bytes"):
        inn.unprotect_packet(_resigned_v4(bytes(longer)))
    assert inn.counters.parse_errors == 1 and inn.window.top == 0


def test_a_tunnel_next_header_must_announce_the_inner_version() -> None:
    """Next header 41 (IPv6) in front of an IPv4 packet, signed correctly: refused, not delivered."""
    out, inn = pair(mode="tunnel", tunnel=("192.0.2.1", "192.0.2.2"))
    good = bytearray(out.protect_packet(ip.icmp_echo("10.1.0.1", "10.2.0.1", 1, 1, b"x")))
    assert good[20] == 4
    good[20] = 41
    with pytest.raises(ParseError, match="does not announce IPv4"):
        inn.unprotect_packet(_resigned_v4(bytes(good)))


def test_bad_options_are_parse_errors() -> None:
    with pytest.raises(ParseError):
        zero_mutable_fields(bytes([0x46]) + bytes(19) + bytes([7, 9, 0, 0]))  # option runs past the header


# ----------------------------------------------------------------------------- NAT contrast


def nat_rewrite_source(packet: bytes, new_src: str) -> bytes:
    """What a NAT does to an IPv4 packet: new source address, header checksum recomputed."""
    return edit(packet, 12, ip.parse_ip(ip.ip_packet(new_src, "192.0.2.1", 59, b"")).src.packed)


def test_nat_breaks_ah_but_not_esp_tunnel_mode() -> None:
    """The course's contrast (RFC 4302 3.3.3.1 vs RFC 4303 2): AH covers the source address, ESP's ICV does not."""
    inner = ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, b"through the NAT")
    tunnel = ("192.168.1.10", "203.0.113.2")

    ah_out, ah_in = pair(mode="tunnel", tunnel=tunnel)
    ah_packet = nat_rewrite_source(ah_out.protect_packet(inner), "198.51.100.99")
    with pytest.raises(IntegrityError):
        ah_in.unprotect_packet(ah_packet)

    esp_out = EspSa(0x1111, direction="outbound", encryption="ENCR_AES_GCM_16", encryption_key=bytes(20), tunnel=tunnel)
    esp_in = EspSa(0x1111, direction="inbound", encryption="ENCR_AES_GCM_16", encryption_key=bytes(20))
    esp_packet = nat_rewrite_source(esp_out.protect_packet(inner), "198.51.100.99")
    assert str(ip.parse_ip(esp_packet).src) == "198.51.100.99"
    assert esp_in.unprotect_packet(esp_packet) == inner


# ----------------------------------------------------------------------------- inbound checks


@pytest.mark.parametrize("version", [4, 6])
def test_tunnel_round_trip(version: int) -> None:
    outer = ("203.0.113.1", "203.0.113.2") if version == 4 else ("2001:db8:ffff::1", "2001:db8:ffff::2")
    src, dst = V4 if version == 4 else V6
    out, inn = pair(mode="tunnel", tunnel=outer)
    for n in range(1, 4):
        original = ip.icmp_echo(src, dst, 5, n, bytes(n))
        protected = out.protect_packet(original)
        assert parse_ah(protected, 20 if version == 4 else 40).next_header == (4 if version == 4 else 41)
        assert inn.unprotect_packet(protected) == original
    assert inn.counters.packets == 3 and inn.window.top == 3


def test_every_byte_tampered_is_rejected_and_the_window_stays() -> None:
    out, inn = pair()
    protected = out.protect_packet(ip.ip_udp(*V4, 1, 2, b"0123456789"))
    mutable = {1, 6, 7, 8, 10, 11}  # TOS, flags/fragment offset, TTL, checksum
    for pos in range(len(protected)):
        if pos in mutable:
            continue
        bad = bytearray(protected)
        bad[pos] ^= 0x04
        bad = fix_ipv4_checksum(bytes(bad))
        with pytest.raises((IntegrityError, ParseError, UnknownSpiError, ReplayError)):
            inn.unprotect_packet(bad)
        assert inn.window.top == 0 and inn.counters.packets == 0
    assert inn.unprotect_packet(protected)


def test_replay_and_wrong_spi() -> None:
    out, inn = pair()
    protected = out.protect_packet(ip.icmp_echo(*V4, 1, 1))
    inn.unprotect_packet(protected)
    with pytest.raises(ReplayError):
        inn.unprotect_packet(protected)
    other = AhSa(0x99, direction="inbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=KEY, mode="transport")
    with pytest.raises(UnknownSpiError):
        other.unprotect_packet(protected)
    with pytest.raises(ParseError):
        inn.unprotect_packet(ip.icmp_echo(*V4, 1, 1))  # not AH at all
    assert inn.counters.replay_errors == 1 and other.counters.spi_errors == 1


def test_icv_coverage_is_shown() -> None:
    out, _ = pair()
    protected = out.protect_packet(ip.icmp_echo(*V4, 1, 1, ttl=99))
    covered = ah_icv_coverage(protected, 20)
    assert covered[8] == 0 and covered[32:48] == bytes(16) and covered[48:] == protected[48:]


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError):
        AhSa(1000, direction="inbound", integrity=None, integrity_key=b"")
    with pytest.raises(ConfigError):
        AhSa(1000, direction="inbound", integrity="NONE", integrity_key=b"")
    with pytest.raises(ConfigError):
        AhSa(1000, direction="inbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=bytes(16))
    with pytest.raises(ConfigError):
        AhSa(1000, direction="outbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=KEY)  # tunnel needs addresses


# ----------------------------------------------------------------------------- tshark


def test_tshark_dissects_ikelab_ah(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tshark is required in CI")
        pytest.skip("tshark is not installed")
    transport, _ = pair()
    tunnel, _ = pair(mode="tunnel", tunnel=("2001:db8:ffff::1", "2001:db8:ffff::2"))
    frames = [transport.protect_packet(ip.icmp_echo(*V4, 3, 11, b"ah")), tunnel.protect_packet(ip.icmp_echo(*V4, 3, 12, b"ah"))]
    pcap = tmp_path / "ah.pcap"
    write_pcap(pcap, [(float(i), ip.ethernet(f)) for i, f in enumerate(frames)])
    fields = ["ah.spi", "ah.sequence", "ah.length", "ah.next_header", "ah.icv", "icmp.seq"]
    args = [tshark, "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path), HOME=str(tmp_path))
    lines = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=True).stdout.splitlines()
    rows = [dict(zip(fields, line.split("|"))) for line in lines]
    assert [int(r["ah.spi"], 16) for r in rows] == [0x0A0B0C0D, 0x0A0B0C0D]
    assert [r["ah.sequence"] for r in rows] == ["1", "1"]
    assert [r["ah.length"] for r in rows] == ["5", "6"]  # IPv4: 28 bytes; IPv6: padded to 32
    assert [r["ah.next_header"] for r in rows] == ["1", "4"]
    assert [len(bytes.fromhex(r["ah.icv"].replace(":", ""))) for r in rows] == [16, 20]
    assert [r["icmp.seq"] for r in rows] == ["11", "12"]


def _ipv6_ah_by_hand(padding: bytes, reserved: int = 0) -> bytes:
    """An IPv6 transport-mode AH packet (HMAC-SHA2-256-128: 12 + 16 bytes, then 4 bytes of padding to 64 bits)
    whose ICV is computed as RFC 4302 3.3.3 says: the IPv6 header's class, flow label and hop limit zeroed,
    the ICV zeroed, the padding and the RESERVED field as sent."""
    inner = ip.parse_ip(ip.ip_udp(*V6, 1234, 5678, b"payload!"))
    ah = struct.pack("!BBHII", 17, (12 + 16 + 4) // 4 - 2, reserved, 0x0A0B0C0D, 1)
    header = bytearray(inner.header)
    header[4:6] = (len(ah) + 16 + len(padding) + len(inner.payload)).to_bytes(2, "big")
    header[6] = 51
    zeroed = bytearray(header)
    zeroed[0] &= 0xF0
    zeroed[1:4] = b"\x00\x00\x00"
    zeroed[7] = 0
    icv = hmac.new(KEY, bytes(zeroed) + ah + bytes(16) + padding + inner.payload, hashlib.sha256).digest()[:16]
    return bytes(header) + ah + icv + padding + inner.payload


def test_icv_padding_is_covered_as_the_sender_chose_it() -> None:
    """RFC 4302 3.3.3.2.1: the padding's "content ... is arbitrarily selected by the sender" and "included in
    the ICV calculation".  ikelab zeroed it in the ICV input, so a peer padding with other bytes was refused."""
    _, inn = pair()
    plain = inn.unprotect_packet(_ipv6_ah_by_hand(b"\xaa\xbb\xcc\xdd"))
    assert ip.parse_udp(ip.parse_ip(plain)).payload == b"payload!"
    _, inn = pair()
    assert ip.parse_udp(ip.parse_ip(inn.unprotect_packet(_ipv6_ah_by_hand(bytes(4))))).payload == b"payload!"


def test_a_nonzero_reserved_field_is_ignored() -> None:
    """RFC 4302 2.3: RESERVED "MUST be set to zero by the sender, and it SHOULD be ignored by the recipient";
    it was refused with a ParseError before the ICV was even checked."""
    _, inn = pair()
    assert ip.parse_udp(ip.parse_ip(inn.unprotect_packet(_ipv6_ah_by_hand(bytes(4), reserved=0x1234)))).payload == b"payload!"


def test_tunnel_mode_ah_copies_an_outer_congestion_mark_inward() -> None:
    """RFC 4301 5.1.2.1 with RFC 6040 4.2, as for ESP: the outer ECN field is mutable for AH (zeroed for the
    ICV), so a router may set CE on it; the decapsulated ECN-capable packet carries CE on."""
    out, inn = pair(mode="tunnel", tunnel=("203.0.113.1", "203.0.113.2"))
    wire = out.protect_packet(ip.ip_packet(*V4, 17, bytes(8), tos=0b10))
    marked = edit(wire, 1, bytes([wire[1] | 0b11]))
    assert ip.parse_ip(inn.unprotect_packet(marked)).tos & 0b11 == 0b11


def test_byte_counts_cover_what_the_icv_covers() -> None:
    """RFC 4301 4.4.2.1: a byte lifetime counts "the number of bytes to which the IPsec cryptographic
    algorithm is applied", for AH its authentication algorithm: the whole packet (the payload alone was counted)."""
    out, inn = pair()
    protected = out.protect_packet(ip.icmp_echo(*V4, 1, 1, b"count me"))
    inn.unprotect_packet(protected)
    assert out.counters.bytes == inn.counters.bytes == len(protected)


# ----------------------------------------------------------------------------- mutation review edges


def test_payload_len_zero_is_shorter_than_the_ah_header() -> None:
    """RFC 4302 2.2: Payload Len is the AH length in 4-octet units minus 2, and the fixed part is 12 octets
    (Payload Len 1, the null-ICV case).  Payload Len 0 claims 8 octets: malformed."""
    header = struct.pack("!BBHII", 17, 0, 0, 0x0A0B0C0D, 1) + bytes(16)
    with pytest.raises(ParseError) as err:
        parse_ah(header)
    assert err.value.field == "payload_len"
    assert parse_ah(struct.pack("!BBHII", 17, 1, 0, 0x0A0B0C0D, 1)).icv_field == b""  # 12 octets: no ICV


def test_spi_zero_is_a_parse_error() -> None:
    """RFC 4302 2.4: SPI 0 "MUST NOT be sent on the wire"; a packet carrying it is malformed and counted as
    such, not as a packet for some other SA."""
    with pytest.raises(ParseError) as err:
        parse_ah(struct.pack("!BBHII", 17, 4, 0, 0, 1) + bytes(12))
    assert err.value.field == "spi"
    out, inn = pair()
    wire = bytearray(out.protect_packet(ip.icmp_echo(*V4, 1, 1)))
    wire[24:28] = bytes(4)  # the SPI field
    with pytest.raises(ParseError):
        inn.unprotect_packet(bytes(wire))
    assert (inn.counters.parse_errors, inn.counters.spi_errors) == (1, 0)


def test_the_security_option_is_immutable() -> None:
    """RFC 4302 appendix A.1 lists Security (130) among the immutable IPv4 options: it enters the ICV as sent.
    The ICV is recomputed by hand (``manual_icv_v4`` zeroes no option), and a changed label breaks it."""
    security = bytes([130, 11]) + bytes.fromhex("f13500000000000000") + b"\x00"  # 11 octets + End of Options
    original = ipv4_with_options(security)
    assert zero_mutable_fields(original[:32])[20:32] == security
    out, inn = pair()
    protected = out.protect_packet(original)
    assert protected[44:60] == manual_icv_v4(protected, 16)
    with pytest.raises(IntegrityError):
        inn.unprotect_packet(edit(protected, 22, b"\x00"))  # another classification level


def test_tunnel_mode_copies_dscp_and_ecn_to_the_outer_header() -> None:
    """RFC 4301 5.1.2.1 holds for AH tunnels too: the outer DSCP and ECN are copied from the inner header
    (0xBA: DSCP EF with ECT(0)), and being mutable (RFC 4302 3.3.3.1.1.1) they leave the ICV intact."""
    out, inn = pair(mode="tunnel", tunnel=("203.0.113.1", "203.0.113.2"))
    original = ip.ip_packet(*V4, 17, ip.udp(*V4, 1, 2, b"voice"), tos=0xBA)
    wire = out.protect_packet(original)
    assert wire[1] == 0xBA
    assert inn.unprotect_packet(wire) == original


def test_inbound_seq_is_the_highest_received_after_reordering() -> None:
    """RFC 4302 3.4.3: the window's reference is the highest authenticated number; a late packet must not pull
    the SA's ``seq`` below it."""
    out, inn = pair()
    packets = [out.protect_packet(ip.icmp_echo(*V4, 1, n)) for n in range(1, 4)]
    for p in (packets[0], packets[2], packets[1]):
        inn.unprotect_packet(p)
    assert inn.seq == inn.window.top == 3


def test_transport_mode_does_not_protect_a_fragment() -> None:
    """RFC 4302 3.3.4: "transport mode AH is applied only to whole IP datagrams (not to IP fragments)"."""
    out, _ = pair()
    fragment = edit(ip.ip_udp(*V4, 1234, 53, b"query"), 6, b"\x20\x00")  # More Fragments
    with pytest.raises(ConfigError, match="not fragments"):
        out.protect_packet(fragment)
    assert out.seq == 0
