"""Session 38: a coverage-guided review of ikelab's IPsec, capture and teaching side.

Each test reaches a line the whole suite left unexecuted and asserts what a user relies on there: the typed
error (class, ``field``, ``offset``, what the message names) for bad input, the packet the RFC asks for, and
that a refused packet leaves the SA's state (sequence number, replay window, counters) as it was.  Independent
references: RFC text, ``struct``/``cryptography`` recomputations, Scapy and tshark where they apply.
"""

from __future__ import annotations

import ipaddress

import pytest

from ikelab import packet as ip
from ikelab import transforms
from ikelab.errors import ConfigError, ParseError
from ikelab.esp import EspSa

A = ipaddress.ip_address
SPI = 0x0A0B0C0D
GCM_KEY = bytes(range(20))  # AES-128-GCM key and 4-byte salt (RFC 4106 8.1)


def gcm_sa(direction: str, **kw: object) -> EspSa:
    return EspSa(SPI, direction=direction, encryption="ENCR_AES_GCM_16", key_bits=128, encryption_key=GCM_KEY,
                 **kw)  # type: ignore[arg-type]


def sa_state(sa: object) -> tuple[object, ...]:
    return sa.seq, sa.window.top, sa.window.bitmap, sa.counters  # type: ignore[attr-defined]


def udp_packet(payload_len: int, version: int = 4) -> bytes:
    src, dst = (A("192.0.2.1"), A("192.0.2.2")) if version == 4 else (A("2001:db8::1"), A("2001:db8::2"))
    return ip.ip_packet(src, dst, ip.PROTO_UDP, ip.udp(src, dst, 1000, 2000, bytes(payload_len)))


# ----------------------------------------------------------------------------------- ESP SA (RFC 4303 3.3)

@pytest.mark.parametrize("kw", [
    dict(mode="tunnel", tunnel=("198.51.100.1", "198.51.100.2")),
    dict(mode="tunnel", tunnel=("198.51.100.1", "198.51.100.2"), udp_encap=(4500, 4500)),
    dict(mode="transport"),
    dict(mode="transport", udp_encap=(4500, 4500)),
], ids=["tunnel", "tunnel-udp", "transport", "transport-udp"])
def test_a_packet_too_big_for_its_outer_header_uses_up_no_sequence_number(kw: dict) -> None:
    """RFC 4303 3.3.3 and RFC 4301 4.4.2.1: the sequence number counts packets sent and the lifetime counters
    the bytes protected.  An inner packet that, once encrypted, no longer fits the 16-bit length of its outer
    IPv4 (or UDP) header is refused with a ConfigError naming the payload, and it must not use up a sequence
    number or count towards the lifetime: the next packet still goes out as sequence number 1."""
    sa = gcm_sa("outbound", **kw)
    before = sa_state(sa)
    with pytest.raises(ConfigError, match="exceeds 65535") as err:
        sa.protect_packet(udp_packet(65535 - 28 - 30))  # 20 + 8 + 65477 = 65505 bytes: fits, ESP around it not
    assert err.value.field == "payload"
    assert sa_state(sa) == before and sa.counters.packets == 0 and sa.counters.bytes == 0
    small = udp_packet(10)
    out = ip.parse_ip(sa.protect_packet(small))
    esp = out.payload[8:] if out.protocol == ip.PROTO_UDP else out.payload
    assert int.from_bytes(esp[4:8], "big") == 1 and sa.seq == 1 and sa.counters.packets == 1
    inbound = gcm_sa("inbound", mode=kw["mode"])
    assert inbound.unprotect_packet(out.to_bytes()) == small


def test_an_inbound_tunnel_sa_asked_to_send_names_its_direction() -> None:
    """RFC 4301 4.4.2: an SA is unidirectional.  ``protect_packet`` on an inbound tunnel-mode SA is a
    ConfigError about the direction (as on a transport-mode SA, and as AH says), not a request to add the
    tunnel addresses, which an inbound SA does not need."""
    inbound = gcm_sa("inbound")
    with pytest.raises(ConfigError, match="is inbound; this operation needs an outbound SA") as err:
        inbound.protect_packet(udp_packet(4))
    assert err.value.field == "direction"
    assert inbound.seq == 0 and inbound.counters.packets == 0


# ------------------------------------------------------------------------- ESP packet functions (RFC 4303 2)

CBC = transforms.encryption("ENCR_AES_CBC", 128)
SHA256 = transforms.integrity("AUTH_HMAC_SHA2_256_128")
CBC_ARGS = dict(encryption=CBC, encryption_key=bytes(16), integrity=SHA256, integrity_key=bytes(32))


@pytest.mark.parametrize("block_size", [0, 256, True, 16.0])
def test_esp_padding_names_a_block_size_outside_a_byte(block_size: object) -> None:
    """RFC 4303 2.4: the padding aligns to the cipher's block size, a number of bytes (1..255 here: the
    one-byte Pad Length).  Anything else is a ConfigError naming ``block_size``, never a ZeroDivisionError."""
    from ikelab.esp import esp_padding

    with pytest.raises(ConfigError, match="block size must be an int in 1..255") as err:
        esp_padding(3, block_size)  # type: ignore[arg-type]
    assert err.value.field == "block_size"


def test_parse_esp_header_refuses_text_with_a_parse_error_at_offset_0() -> None:
    """RFC 4303 2.1-2.2: SPI and Sequence Number are the first 8 octets of a packet, which is bytes; a str of
    8 characters is a ParseError at offset 0, not a struct.error."""
    from ikelab.esp_packet import parse_esp_header

    with pytest.raises(ParseError, match="expected bytes, got str") as err:
        parse_esp_header("\x00\x00\x00\x01\x00\x00\x00\x01")  # type: ignore[arg-type]
    assert (err.value.field, err.value.offset) == ("esp", 0)
    assert parse_esp_header(memoryview(b"\x00\x00\x00\x01\x00\x00\x00\x02rest")) == (1, 2)


def test_esp_seal_checks_next_header_and_iv_length() -> None:
    """RFC 4303 2.6: Next Header is one octet; RFC 3602 3: AES-CBC carries a 16-octet IV.  Each wrong value is
    a ConfigError naming its argument, and the right ones give a packet ``esp_open`` reads back."""
    from ikelab.esp import esp_open, esp_seal

    common = dict(spi=SPI, seq=1, payload=b"data", **CBC_ARGS)
    with pytest.raises(ConfigError, match="next header must be a byte, got 256") as err:
        esp_seal(iv=bytes(16), next_header=256, **common)  # type: ignore[arg-type]
    assert err.value.field == "next_header"
    with pytest.raises(ConfigError, match="ENCR_AES_CBC needs a 16-byte IV, got 8") as err:
        esp_seal(iv=bytes(8), next_header=4, **common)  # type: ignore[arg-type]
    assert err.value.field == "iv"
    packet = esp_seal(iv=bytes(16), next_header=17, **common)  # type: ignore[arg-type]
    opened = esp_open(packet, seq=1, **CBC_ARGS)  # type: ignore[arg-type]
    assert (opened.payload, opened.next_header, opened.padding) == (b"data", 17, bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))


@pytest.mark.parametrize("which", ["encryption", "integrity"])
def test_esp_seal_and_open_take_transform_objects_not_names(which: str) -> None:
    """The pure functions take :mod:`ikelab.transforms` objects; a name in their place is a ConfigError
    naming the argument and saying how to make the object, not an AttributeError from inside."""
    from ikelab.esp import esp_open, esp_seal

    bad = dict(CBC_ARGS, **{which: "ENCR_AES_CBC" if which == "encryption" else "AUTH_HMAC_SHA2_256_128"})
    with pytest.raises(ConfigError, match=rf"{which} must be an ikelab.transforms object, not str") as err:
        esp_seal(spi=SPI, seq=1, iv=bytes(16), payload=b"x", next_header=4, **bad)  # type: ignore[arg-type]
    assert err.value.field == which
    packet = esp_seal(spi=SPI, seq=1, iv=bytes(16), payload=b"x", next_header=4, **CBC_ARGS)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=rf"ikelab.transforms.{which}\(") as err:
        esp_open(packet, seq=1, **bad)  # type: ignore[arg-type]
    assert err.value.field == which


# ------------------------------------------------------------------------------------ EspSa construction

@pytest.mark.parametrize("udp_encap", [4500, (4500, 4500, 4500), "4500"])
def test_udp_encap_must_be_a_port_pair(udp_encap: object) -> None:
    """RFC 3948 2: UDP encapsulation has a source and a destination port; anything but a pair is a
    ConfigError naming ``udp_encap`` (a str of length 4 is not a pair either)."""
    with pytest.raises(ConfigError, match="udp_encap must be a \\(sport, dport\\) pair") as err:
        gcm_sa("inbound", udp_encap=udp_encap)
    assert err.value.field == "udp_encap" and err.value.value == udp_encap


def test_an_integrity_key_without_an_integrity_transform_is_refused() -> None:
    """RFC 4303 3.2 / RFC 7296 3.3: an AEAD cipher has no separate integrity transform, so KEYMAT cut for one
    (RFC 7296 2.17) means the caller's transforms and keys disagree: a ConfigError, not a silently unused key."""
    with pytest.raises(ConfigError, match="integrity key was given without an integrity transform") as err:
        gcm_sa("inbound", integrity_key=bytes(32))
    assert err.value.field == "integrity_key" and err.value.value == 32


@pytest.mark.parametrize("none", ["NONE", 0, "none"])
def test_integrity_none_by_name_means_no_integrity_transform(none: object) -> None:
    """RFC 7296 3.3.2: integrity transform NONE (0) is what an AEAD proposal may carry.  Given by name or
    number it means no integrity transform: the SA works with the AEAD tag alone (16 octets for GCM_16)."""
    out, inn = gcm_sa("outbound", integrity=none, mode="transport"), gcm_sa("inbound", integrity=none,
                                                                            mode="transport")
    assert out.integrity is None and out.icv_len == 16
    packet = udp_packet(3)
    assert inn.unprotect_packet(out.protect_packet(packet)) == packet


def test_a_short_random_source_is_refused_before_the_sa_moves() -> None:
    """RFC 3602 3: a CBC IV is 16 unpredictable octets, taken from ``rng``.  A random source that gives fewer is
    a ConfigError naming ``rng``; no packet is sent, so the sequence number and counters stay as they were."""

    class Short:
        def random_bytes(self, n: int) -> bytes:
            return bytes(n - 1)

    sa = EspSa(SPI, direction="outbound", mode="transport", rng=Short(), **CBC_ARGS)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="random source gave 15 IV bytes, 16 needed") as err:
        sa.encapsulate(b"abc", 6)
    assert err.value.field == "rng" and sa.seq == 0 and sa.counters.packets == 0


def test_decapsulate_on_an_outbound_sa_names_the_direction() -> None:
    """RFC 4301 4.4.2: an SA is unidirectional; an outbound SA cannot open packets, and saying so beats a
    replay or integrity error about a window it never uses."""
    out = gcm_sa("outbound", mode="transport")
    packet = out.encapsulate(b"abc", 6)
    with pytest.raises(ConfigError, match="is outbound; this operation needs an inbound SA") as err:
        out.decapsulate(packet)
    assert err.value.field == "direction" and out.counters.packets == 1 and out.window.top == 0


def test_weak_integrity_transforms_say_so() -> None:
    """RFC 8221 5: HMAC-MD5-96 MUST NOT be used; ikelab marks it weak (usable only with allow_weak), while the
    recommended HMAC-SHA2-256-128 is not."""
    import warnings

    from ikelab.errors import WeakAlgorithmWarning

    assert SHA256.is_weak is False and SHA256.weak_reason is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md5 = transforms.integrity("AUTH_HMAC_MD5_96", allow_weak=True)
    assert md5.is_weak is True and "MD5" in md5.weak_reason
    assert any(issubclass(w.category, WeakAlgorithmWarning) for w in caught)


def test_replay_window_repr_shows_size_esn_and_right_edge() -> None:
    """RFC 4303 3.4.3: the window is its size W and its right edge T; a lesson printing it sees both."""
    from ikelab.replay import ReplayWindow

    window = ReplayWindow(32, esn=True, top=5)
    window.update(9)
    assert repr(window) == "ReplayWindow(size=32, esn=True, top=9)"


# ------------------------------------------------------------------------------------------ AH (RFC 4302)

AH_KEY = bytes(range(32))


def ah_sa(direction: str, **kw: object) -> object:
    from ikelab.ah import AhSa

    return AhSa(SPI, direction=direction, integrity=kw.pop("integrity", "AUTH_HMAC_SHA2_256_128"),
                integrity_key=AH_KEY, mode=kw.pop("mode", "transport"), **kw)  # type: ignore[arg-type]


def v6_with_hop_by_hop(options: bytes, payload_len: int = 5, upper: int = ip.PROTO_UDP) -> bytes:
    """An IPv6 UDP packet with a Hop-by-Hop header holding ``options`` (2 + len(options) a multiple of 8)."""
    src, dst = A("2001:db8::1"), A("2001:db8::2")
    plain = ip.ip_packet(src, dst, ip.PROTO_UDP, ip.udp(src, dst, 49200, 50001, bytes(payload_len)))
    hbh = bytes([upper, (2 + len(options)) // 8 - 1]) + options
    length = len(plain) - 40 + len(hbh)
    return plain[:4] + length.to_bytes(2, "big") + b"\x00" + plain[7:40] + hbh + plain[40:]


def test_ah_pad1_options_before_ah_are_covered_as_scapy_covers_them() -> None:
    """RFC 4302 3.3.3.1.2.2: in a Hop-by-Hop header before AH, Pad1 (a single octet, no length) is covered and
    an option with the "chg" bit has its data counted as zeros.  ikelab and Scapy build the same AH packet;
    after a router rewrites the mutable option's data both still verify it, and ikelab returns the packet."""
    from scapy.layers import ipsec
    from scapy.layers.inet6 import IPv6

    packet = v6_with_hop_by_hop(b"\x00\x00" + b"\x3e\x02\xaa\xbb")  # Pad1, Pad1, option 0x3E (chg) with 2 octets
    assert bytes(IPv6(packet)) == packet
    ours = ah_sa("outbound").protect_packet(packet)  # type: ignore[attr-defined]
    reference = ipsec.SecurityAssociation(ipsec.AH, spi=SPI, seq_num=1, auth_algo="SHA2-256-128", auth_key=AH_KEY)
    assert ours == bytes(reference.encrypt(IPv6(packet)))
    routed = bytearray(ours)
    routed[46:48] = b"\x11\x22"  # the chg option's data, as a router may change it
    reference.decrypt(IPv6(bytes(routed)))  # Scapy raises IPSecIntegrityError if the ICV did not cover it so
    inbound = ah_sa("inbound")
    back = inbound.unprotect_packet(bytes(routed))  # type: ignore[attr-defined]
    assert ip.parse_ip(back).payload == ip.parse_ip(packet).payload and inbound.window.top == 1  # type: ignore
    tampered = bytearray(ours)
    tampered[43] = 1  # the second Pad1 becomes PadN: an immutable octet changed
    from ikelab.errors import IntegrityError, ReplayError

    fresh = ah_sa("inbound")
    with pytest.raises((IntegrityError, ParseError)):
        fresh.unprotect_packet(bytes(tampered))  # type: ignore[attr-defined]
    assert fresh.window.top == 0 and fresh.counters.packets == 0  # type: ignore[attr-defined]
    with pytest.raises(ReplayError):
        inbound.unprotect_packet(bytes(routed))  # type: ignore[attr-defined]


def test_parse_ah_short_or_overlong_input_names_the_field_and_offset() -> None:
    """RFC 4302 2: the AH header is 12 octets and Payload Len says its length in 32-bit words minus 2.  Too few
    octets after ``offset`` is a ParseError at that offset; a Payload Len running past the data one at the
    Payload Len octet (offset + 1)."""
    from ikelab.ah import parse_ah

    header = b"\x06\x04\x00\x00" + SPI.to_bytes(4, "big") + (1).to_bytes(4, "big")  # Payload Len 4: 24 octets
    with pytest.raises(ParseError, match="AH header needs 12 bytes, only 8 present") as err:
        parse_ah(bytes(4) + header[:8], 4)
    assert (err.value.field, err.value.offset) == ("ah_header", 4)
    with pytest.raises(ParseError, match="AH of 24 bytes runs past the packet") as err:
        parse_ah(bytes(20) + header + bytes(8), 20)
    assert (err.value.field, err.value.offset) == ("payload_len", 21)
    parsed = parse_ah(bytes(20) + header + bytes(12), 20)
    assert (parsed.spi, parsed.seq, parsed.length, parsed.icv_field) == (SPI, 1, 24, bytes(12))


@pytest.mark.parametrize("header, message", [
    (b"", "empty IP header"),
    (b"\x55" + bytes(19), "not an IPv4 or IPv6 header \\(version 5, 20 bytes\\)"),
    (b"\x45" + bytes(10), "not an IPv4 or IPv6 header \\(version 4, 11 bytes\\)"),
])
def test_zero_mutable_fields_refuses_what_is_no_ip_header(header: bytes, message: str) -> None:
    """RFC 4302 3.3.3.1: only IPv4 and IPv6 headers have mutable fields to zero; anything else is a ParseError
    at the version field (offset 0)."""
    from ikelab.ah import zero_mutable_fields

    with pytest.raises(ParseError, match=message) as err:
        zero_mutable_fields(header)
    assert (err.value.field, err.value.offset) == ("version", 0)


def test_ah_sa_takes_a_ready_transform_object_and_shows_it() -> None:
    """An AhSa built from an :mod:`ikelab.transforms` object works as one built from the IANA name
    (RFC 4302 2.6: the same ICV), and its repr names SPI, direction, mode, transform and ESN."""
    by_object = ah_sa("outbound", integrity=SHA256, esn=True)
    by_name = ah_sa("outbound", esn=True)
    packet = udp_packet(7)
    assert by_object.protect_packet(packet) == by_name.protect_packet(packet)  # type: ignore[attr-defined]
    assert repr(by_object) == "AhSa(spi=0x0a0b0c0d, outbound, transport, AUTH_HMAC_SHA2_256_128, ESN, seq=1)"


def test_ah_transport_mode_refuses_an_ipv6_fragment_behind_options() -> None:
    """RFC 4302 3.1.1 / RFC 4303 3.1.1: transport mode protects whole datagrams.  An IPv6 fragment (a
    Hop-by-Hop header, then a Fragment header with M=1) is a ConfigError naming the packet, and the SA's
    sequence number is not used up."""
    frag = bytes([ip.PROTO_UDP, 0, 0x00, 0x01]) + (0x1234).to_bytes(4, "big")  # offset 0, M=1
    packet = v6_with_hop_by_hop(b"\x01\x04" + bytes(4), upper=44)  # PadN of 6 octets, then the Fragment header
    packet = packet[:4] + (int.from_bytes(packet[4:6], "big") + 8).to_bytes(2, "big") + packet[6:48] + frag + \
        packet[48:]
    assert ip.parse_ip(packet).is_fragment
    sa = ah_sa("outbound")
    with pytest.raises(ConfigError, match="transport mode protects whole datagrams, not fragments") as err:
        sa.protect_packet(packet)  # type: ignore[attr-defined]
    assert err.value.field == "ip_packet" and sa.seq == 0 and sa.counters.packets == 0  # type: ignore


def test_ah_after_ipv6_options_that_would_outgrow_the_payload_length_is_refused() -> None:
    """RFC 8200 3: the IPv6 Payload Length has 16 bits.  Inserting AH (RFC 4302 3.1.1) after a Hop-by-Hop
    header into a packet with 65535 octets of payload (+ 32: 12 + a 16-octet ICV padded to 8n, 2.6) is a
    ConfigError naming the payload, and the
    sequence number is not used up (as for ESP)."""
    packet = v6_with_hop_by_hop(b"\x01\x04" + bytes(4), payload_len=65535 - 8 - 8)
    assert int.from_bytes(packet[4:6], "big") == 65535
    sa = ah_sa("outbound")
    with pytest.raises(ConfigError, match="IPv6 payload length 65567 exceeds 65535") as err:
        sa.protect_packet(packet)  # type: ignore[attr-defined]
    assert err.value.field == "payload" and sa.seq == 0 and sa.counters.packets == 0  # type: ignore


# ------------------------------------------------------------------------------ what ESP and AH SAs share

@pytest.mark.parametrize("kw, field, message", [
    (dict(spi=b"\x00\x00\x01"), "spi", "an ESP/AH SPI has 4 bytes, got 3"),
    (dict(lifetime=3600), "lifetime", "lifetime must be a Lifetime"),
    (dict(tunnel=("198.51.100.1",)), "tunnel", "tunnel must be a \\(src, dst\\) pair of addresses"),
    (dict(tunnel=4500), "tunnel", "tunnel must be a \\(src, dst\\) pair of addresses"),
    (dict(tunnel=("198.51.100.1", "gateway")), "tunnel dst", "tunnel dst is not an IP address: 'gateway'"),
    (dict(tunnel=(["198.51.100.1"], "198.51.100.2")), "tunnel src", "tunnel src is not an IP address"),
])
@pytest.mark.parametrize("protocol", ["ESP", "AH"])
def test_sa_arguments_are_typed_errors_naming_the_argument(kw: dict, field: str, message: str,
                                                           protocol: str) -> None:
    """RFC 4303 2.1 / RFC 4302 2.4: the SPI is 4 octets; RFC 4301 4.4.2.1: lifetimes are a Lifetime; RFC 4301
    5.1.2: a tunnel has an outer source and destination address.  Each wrong argument is a ConfigError whose
    ``field`` names it, for ESP and AH alike."""
    from ikelab.ah import AhSa

    kw = dict(kw)
    spi = kw.pop("spi", SPI)
    with pytest.raises(ConfigError, match=message) as err:
        if protocol == "ESP":
            EspSa(spi, direction="outbound", encryption="ENCR_AES_GCM_16", key_bits=128, encryption_key=GCM_KEY,
                  **kw)
        else:
            AhSa(spi, direction="outbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=AH_KEY, **kw)
    assert err.value.field == field


def test_esp_transport_mode_refuses_ipv6_extension_headers_before_the_sa_moves() -> None:
    """RFC 4303 3.1.1 puts ESP after IPv6 extension headers, which ikelab does not do in transport mode: it says
    so with a ConfigError naming the packet (and the header length), using up no sequence number."""
    sa = gcm_sa("outbound", mode="transport")
    with pytest.raises(ConfigError, match="transport mode over IPv6 extension headers is not supported") as err:
        sa.protect_packet(v6_with_hop_by_hop(b"\x01\x04" + bytes(4)))
    assert (err.value.field, err.value.value) == ("ip_packet", 48) and sa.seq == 0


def test_esp_transport_mode_over_ipv6_refuses_a_payload_over_65535_octets() -> None:
    """RFC 8200 3: the IPv6 Payload Length has 16 bits.  ESP around an upper layer already 65535 octets long
    cannot be sent: a ConfigError naming the payload, and no sequence number used up (RFC 4303 3.3.3)."""
    sa = gcm_sa("outbound", mode="transport")
    packet = udp_packet(65535 - 8, version=6)
    with pytest.raises(ConfigError, match="IPv6 payload length 655\\d\\d exceeds 65535") as err:
        sa.protect_packet(packet)
    assert err.value.field == "payload" and sa_state(sa)[0] == 0 and sa.counters.bytes == 0


def test_rewrite_ip_header_with_v6_extension_headers_is_a_parse_error_at_offset_40() -> None:
    """RFC 4303 3.1.1 / RFC 4302 3.1.1: in transport mode the IPsec header goes after the IPv6 extension
    headers; ``rewrite_ip_header`` only rewrites a bare 40-octet header and says where the extensions start."""
    from ikelab.ipsec_sa import rewrite_ip_header

    pkt = ip.parse_ip(v6_with_hop_by_hop(b"\x01\x04" + bytes(4)))
    with pytest.raises(ParseError, match="IPv6 extension headers around transport-mode IPsec") as err:
        rewrite_ip_header(pkt, ip.PROTO_ESP, b"esp")
    assert (err.value.field, err.value.offset) == ("ipv6_header", 40)


def test_rewrite_ip_header_takes_any_bytes_like_payload_and_int_like_protocol() -> None:
    """RFC 4303 3.1.1: the original IP header, protocol 50, new total length and checksum.  A bytearray or
    memoryview payload and an IntEnum protocol give the same packet as bytes and int; the checksum is the one
    RFC 791 asks for (the header sums to 0xFFFF)."""
    import enum

    from ikelab.ipsec_sa import rewrite_ip_header

    class Proto(enum.IntEnum):
        ESP = 50

    pkt = ip.parse_ip(udp_packet(3))
    expected = rewrite_ip_header(pkt, 50, b"esp!")
    assert rewrite_ip_header(pkt, Proto.ESP, bytearray(b"esp!")) == expected
    assert rewrite_ip_header(pkt, 50, memoryview(b"esp!")) == expected
    assert expected[9] == 50 and int.from_bytes(expected[2:4], "big") == 24 and ip.internet_checksum(expected[:20]) == 0


# ------------------------------------------------------------------------------- captures (pcap, pcapng)

def pcapng_block(block_type: int, body: bytes) -> bytes:
    """One little-endian pcapng block: type, total length, body, total length again."""
    import struct

    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def pcapng_file(*blocks: bytes) -> bytes:
    import struct

    return pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) + b"".join(blocks)


_IDB = pcapng_block(1, bytes([1, 0, 0, 0, 0, 0, 0, 0]))  # Ethernet, snaplen 0 (no limit)
_FRAME = bytes(12) + b"\x08\x00" + bytes(20)


@pytest.mark.parametrize("blocks, offset, message", [
    ((pcapng_block(3, len(_FRAME).to_bytes(4, "little") + _FRAME + bytes(2)),), 36,
     "simple packet block before any interface description block"),
    ((_IDB, pcapng_block(3, b"")), 56, "simple packet block body shorter than 4 bytes"),
    ((_IDB, pcapng_block(6, bytes(16))), 56, "pcapng packet block body of 16 bytes is shorter than 20"),
    ((pcapng_block(1, bytes(4)),), 36, "pcapng IDB body of 4 bytes is shorter than 8"),
    ((b"\x06\x00\x00\x00\xf0\xff\xff\x7f" + bytes(100),), 32, "pcapng block length 2147483632 is implausible"),
], ids=["spb-before-idb", "short-spb", "short-epb", "short-idb", "huge-block"])
def test_malformed_pcapng_blocks_are_capture_errors_where_tshark_also_refuses(tmp_path, blocks: tuple,
                                                                            offset: int, message: str) -> None:
    """pcapng (draft-ietf-opsawg-pcapng 4.2-4.4): an SPB takes its link type from the first IDB, so one before
    any IDB cannot be read; an SPB, EPB and IDB have fixed fields of 4, 20 and 8 octets.  ikelab raises a
    CaptureError with the file offset of the bad block (body or length field); tshark calls each file damaged."""
    import subprocess

    from ikelab.errors import CaptureError
    from ikelab.pcap import read_capture
    from tshark_util import require_tshark

    path = tmp_path / "bad.pcapng"
    path.write_bytes(pcapng_file(*blocks))
    with pytest.raises(CaptureError, match=message) as err:
        read_capture(path)
    assert err.value.offset == offset and str(err.value).startswith(f"{path}: ")
    run = subprocess.run([require_tshark(), "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "damaged or corrupt" in run.stderr


def test_a_simple_packet_block_reads_as_tshark_reads_it(tmp_path) -> None:
    """pcapng 4.4: a Simple Packet Block has the original length, then the data, and no timestamp: ikelab gives
    time 0.0 and the first interface's link type, and tshark sees the same frame length."""
    import subprocess

    from ikelab.pcap import read_capture
    from tshark_util import require_tshark

    path = tmp_path / "spb.pcapng"
    path.write_bytes(pcapng_file(_IDB, pcapng_block(3, len(_FRAME).to_bytes(4, "little") + _FRAME + bytes(2))))
    [packet] = read_capture(path)
    assert (packet.time, packet.data, packet.linktype, packet.orig_len) == (0.0, _FRAME, 1, len(_FRAME))
    run = subprocess.run([require_tshark(), "-r", str(path), "-T", "fields", "-e", "frame.len"],
                         capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == [str(len(_FRAME))]


def test_a_stream_that_reads_bytearrays_is_read_like_a_file() -> None:
    """A capture object only needs ``read``; one returning bytearray (a raw socket wrapper, say) reads like a
    file returning bytes."""
    import io

    from ikelab.pcap import read_capture, write_pcap

    buffer = io.BytesIO()
    write_pcap(buffer, [(1.5, _FRAME)])

    class ByteArrays:
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def read(self, n: int = -1) -> bytearray:
            return bytearray(self.inner.read(n))

    [packet] = read_capture(ByteArrays(buffer.getvalue()))  # type: ignore[arg-type]
    assert (packet.time, packet.data) == (1.5, _FRAME)


def test_classic_pcap_refuses_snaplen_zero_and_leaves_no_file(tmp_path) -> None:
    """libpcap's file header has a positive snaplen (pcapng's IDB may say 0: no limit).  write_pcap with
    snaplen=0 is a ConfigError naming ``snaplen``, raised before any file is created."""
    from ikelab.pcap import write_pcap

    path = tmp_path / "zero.pcap"
    with pytest.raises(ConfigError, match="snaplen must be positive") as err:
        write_pcap(path, [(0, _FRAME)], snaplen=0)
    assert err.value.field == "snaplen" and not path.exists()


def test_pcapng_refuses_a_time_past_64_bits_of_microseconds_and_removes_the_file(tmp_path) -> None:
    """pcapng 4.3: an EPB's timestamp is 64 bits of (here) microseconds.  A later time is a ConfigError naming
    the record and ``time``, and the half-written file is removed."""
    from ikelab.pcap import write_pcapng

    path = tmp_path / "late.pcapng"
    with pytest.raises(ConfigError, match="record 1: time does not fit 64 bits of microseconds") as err:
        write_pcapng(path, [(0, _FRAME), (2**64 // 10**6 + 1, _FRAME)])
    assert err.value.field == "time" and not path.exists()


# ------------------------------------------------------------------------------ IP packets and fragments

@pytest.mark.parametrize("src", [3232235777, b"\xc0\x00\x02\x01", "192.0.2.300"])
def test_ip_packet_addresses_are_text_or_ipaddress_objects(src: object) -> None:
    """An int or 4 raw octets could be IPv4 or IPv6 (ipaddress reads 3232235777 as 192.0.2.1, b'\\xc0...' as
    packed): ip_packet refuses both, as it refuses bad text, with a ConfigError naming ``src``."""
    with pytest.raises(ConfigError, match="src is not an IPv4 or IPv6 address") as err:
        ip.ip_packet(src, "192.0.2.2", ip.PROTO_UDP, b"")  # type: ignore[arg-type]
    assert err.value.field == "src" and err.value.value == src


@pytest.mark.parametrize("mac", ["zz:00:00:00:00:00", 12345, b"\x00" * 5])
def test_ethernet_mac_addresses_must_be_six_octets(mac: object) -> None:
    """IEEE 802.3: a MAC address is 6 octets, written xx:xx:xx:xx:xx:xx.  Non-hex digits, a number or 5 octets
    are a ConfigError naming ``src_mac``; 'a-b-c-d-e-f' style is read as colon notation."""
    inner = ip.ip_udp("192.0.2.1", "192.0.2.2", 1, 2, b"x")
    with pytest.raises(ConfigError, match="src_mac is not a MAC address") as err:
        ip.ethernet(inner, src_mac=mac)  # type: ignore[arg-type]
    assert err.value.field == "src_mac"
    assert ip.ethernet(inner, src_mac="2-4-6-8-a-b")[6:12] == bytes([2, 4, 6, 8, 10, 11])


def test_udp_refuses_a_datagram_over_65535_octets() -> None:
    """RFC 768: the UDP Length field (header included) has 16 bits: 65527 payload octets at most."""
    assert len(ip.udp("192.0.2.1", "192.0.2.2", 1, 2, bytes(65527))) == 65535
    with pytest.raises(ConfigError, match="UDP length 65536 exceeds 65535") as err:
        ip.udp("192.0.2.1", "192.0.2.2", 1, 2, bytes(65528))
    assert (err.value.field, err.value.value) == ("payload", 65528)


@pytest.mark.parametrize("parse, field", [(ip.parse_ip, "ip"), (ip.parse_ethernet, "ethernet")])
def test_parsers_refuse_text_at_offset_0(parse, field: str) -> None:
    """Packets are octets: a str (a hex dump pasted as is, say) is a ParseError at offset 0 naming the layer."""
    with pytest.raises(ParseError, match="expected bytes, got str") as err:
        parse("4500001c")
    assert (err.value.field, err.value.offset) == (field, 0)


def test_short_upper_layer_headers_are_parse_errors_where_they_end() -> None:
    """RFC 792: an ICMP header is 8 octets; RFC 4301 4.4.1.1: the SPD reads ports (4 octets of a UDP header)
    and ICMP type and code (2 octets).  A payload too short for them is a ParseError at the octet where the
    data ends: counted in the ICMP message for parse_icmp, from the start of the IP packet for selectors."""
    with pytest.raises(ParseError, match="ICMP header needs 8 bytes, only 4 present") as err:
        ip.parse_icmp(ip.ip_packet("192.0.2.1", "192.0.2.2", ip.PROTO_ICMP, b"\x08\x00\x00\x00"))
    assert (err.value.field, err.value.offset) == ("icmp_header", 4)
    with pytest.raises(ParseError, match="the port pair needs 4 bytes, only 2 present") as err:
        ip.selectors(ip.ip_packet("192.0.2.1", "192.0.2.2", ip.PROTO_UDP, b"\x00\x01"))
    assert (err.value.field, err.value.offset) == ("ports", 22)
    with pytest.raises(ParseError, match="ICMP type and code needs 2 bytes, only 1 present") as err:
        ip.selectors(ip.ip_packet("2001:db8::1", "2001:db8::2", ip.PROTO_ICMPV6, b"\x80"))
    assert (err.value.field, err.value.offset) == ("icmp_type", 41)
    opaque = ip.selectors(ip.ip_packet("192.0.2.1", "192.0.2.2", 47, b""))  # GRE: no ports, OPAQUE
    assert (opaque.protocol, opaque.sport, opaque.dport) == (47, None, None)


@pytest.mark.parametrize("version, src, dst, limit", [
    (4, "192.0.2.1", "192.0.2.2", 65535 - 20), (6, "2001:db8::1", "2001:db8::2", 65535)])
def test_an_atomic_fragment_is_reassembled_alone_unless_it_outgrows_the_length_field(version: int, src: str,
                                                                                   dst: str, limit: int) -> None:
    """RFC 6946 4: an atomic fragment (offset 0, no more fragments) is processed on its own.  Its payload still
    fits the 16-bit length (RFC 791 3.1: 65515 octets after a 20-octet IPv4 header; RFC 8200 4.5: 65535):
    one octet more is a ParseError, and nothing is held pending."""
    from ikelab.ip_fragments import Reassembler, fragment_key

    reassembler = Reassembler()
    key = fragment_key(version, src, dst, ip.PROTO_UDP, 7)
    whole = reassembler.add(key, 0, False, bytes(limit), 1)
    assert whole is not None and len(whole.payload) == limit and whole.frames == (1,)
    with pytest.raises(ParseError, match=f"an atomic fragment of {limit + 1} octets outgrows") as err:
        reassembler.add(key, 0, False, bytes(limit + 1), 2)
    assert (err.value.field, err.value.offset) == ("fragment_offset", 0) and reassembler.pending == 0


# ------------------------------------------------------------------------------------- SPD, SAD, hosts

def ah_child_event(integ: str | None) -> object:
    from ikelab import events as ev

    key = bytes(range(32))
    return ev.ChildSaCreated(
        time=0.0, side="initiator", spi_in=b"\x00\x00\x10\x01", spi_out=b"\x00\x00\x20\x02", protocol="AH",
        encr="", encr_key_bits=None, integ=integ, esn=False, encr_key_in=b"", integ_key_in=key, encr_key_out=b"",
        integ_key_out=key, keymat={}, ts_local=("10.1.0.0/16",), ts_remote=("10.2.0.0/16",), mode="tunnel",
        udp_encap=False, local_addr="203.0.113.1", remote_addr="203.0.113.2", local_port=500, remote_port=500,
        exchange="IKE_AUTH")


def test_an_ah_child_sa_without_an_integrity_transform_is_refused_by_name() -> None:
    """RFC 4302 1 / RFC 7296 3.3.3: AH is integrity only, so an AH proposal has an integrity transform.  An AH
    ChildSaCreated without one is a ConfigError naming ``integ``; with one, sa_pair gives inbound and outbound
    AH SAs with the event's SPIs and the tunnel ends in the right order."""
    from ikelab.ah import AhSa
    from ikelab.host import sa_pair

    with pytest.raises(ConfigError, match="an AH CHILD SA needs an integrity transform") as err:
        sa_pair(ah_child_event(None))  # type: ignore[arg-type]
    assert err.value.field == "integ"
    inbound, outbound = sa_pair(ah_child_event("AUTH_HMAC_SHA2_256_128"))  # type: ignore[arg-type]
    assert isinstance(inbound, AhSa) and isinstance(outbound, AhSa)
    assert (inbound.spi, outbound.spi) == (0x1001, 0x2002)
    assert outbound.tunnel == (A("203.0.113.1"), A("203.0.113.2"))


def test_a_dummy_packet_is_authenticated_counted_and_discarded() -> None:
    """RFC 4303 2.6: a dummy packet (Next Header 59) "MUST be discarded" by the receiver, but only after it has
    been authenticated (3.4): the processor's Decision is DISCARD with the reason, via the SA's SPI, and the
    SA's replay window has moved to it, so a replay of it is refused."""
    from ikelab.errors import ReplayError
    from ikelab.policy import Action, IpsecProcessor, Policy, Selector

    a_out = gcm_sa("outbound", tunnel=("203.0.113.1", "203.0.113.2"))
    b_out = EspSa(0x0B0B0B0B, direction="outbound", encryption="ENCR_AES_GCM_16", key_bits=128,
                  encryption_key=GCM_KEY[::-1], tunnel=("203.0.113.2", "203.0.113.1"))
    b_in = gcm_sa("inbound")
    gateway = IpsecProcessor()
    gateway.spd.add(Policy("default-discard", (Selector(),), Action.DISCARD))
    gateway.install_child_sa([("10.2.0.0", "10.2.255.255", 0, 0, 65535)], [("10.1.0.0", "10.1.255.255", 0, 0, 65535)],
                             inbound_sa=b_in, outbound_sa=b_out, name="net-b-a")
    dummy = ip.ip_packet("203.0.113.1", "203.0.113.2", ip.PROTO_ESP, a_out.encapsulate(b"tfc", 59))
    decision = gateway.inbound(dummy)
    assert decision.action is Action.DISCARD and decision.spi == SPI and decision.packet is None
    assert "dummy packet (next header 59, RFC 4303 2.6)" in decision.reason and decision.policy is not None
    assert b_in.window.top == 1 and b_in.counters.packets == 1
    with pytest.raises(ReplayError):
        gateway.inbound(dummy)


def test_the_spd_holds_only_policy_objects() -> None:
    """RFC 4301 4.4.1: SPD entries are policies (selectors and an action); adding anything else is a ConfigError
    naming ``policy``, and the SPD is unchanged."""
    from ikelab.policy import Spd

    spd = Spd()
    with pytest.raises(ConfigError, match="the SPD holds Policy objects") as err:
        spd.add(("bypass-ike", "BYPASS"))  # type: ignore[arg-type]
    assert (err.value.field, err.value.value) == ("policy", "tuple") and len(spd) == 0


def test_esp_peer_out_must_be_callable_and_says_which_packet_found_no_sa() -> None:
    """RFC 4301 5.1: a packet no CHILD SA covers is not sent.  EspPeer says so in ``errors`` with the
    packet's selectors; a packet without ports or ICMP type (GRE, protocol 47) is shown by protocol alone.
    ``out`` must be a function: anything else is a ConfigError naming it."""
    from types import SimpleNamespace

    from ikelab.esp_peer import EspPeer

    driver = SimpleNamespace(now=lambda: 0.0, esp_handler=None, send_esp=lambda *a: None)
    with pytest.raises(ConfigError, match="out must be a function such as print, not str") as err:
        EspPeer(driver, out="stdout")  # type: ignore[arg-type]
    assert err.value.field == "out"
    said: list[str] = []
    peer = EspPeer(driver, out=said.append)  # type: ignore[arg-type]
    assert peer.send_inner(ip.ip_packet("10.1.0.1", "10.2.0.1", 47, b"\x00" * 4)) is False
    assert peer.errors[-1] == "no CHILD SA covers 10.1.0.1 -> 10.2.0.1 protocol 47: not sent"


# ------------------------------------------------------------------------------ dissection (against tshark)

def tshark_fields(path, *args: str, fields: tuple[str, ...]) -> list[list[str]]:
    import subprocess

    from tshark_util import require_tshark

    command = [require_tshark(), "-r", str(path), *args, "-T", "fields"]
    for name in fields:
        command += ["-e", name]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return [line.split("\t") for line in run.stdout.splitlines()]


def test_esp_inner_packets_the_dissector_cannot_describe_fully_are_named_as_tshark_names_them(tmp_path) -> None:
    """RFC 4303 2.6: Next Header says what ESP carries.  Decrypted with the esp_sa key table, a tunnel-mode GRE
    packet and a transport-mode GRE payload are GRE, as tshark says (frame.protocols ``esp:ip:gre`` and
    ``esp:gre``); an inner IPv4 packet whose total length runs past the decrypted data gets a note saying so,
    as tshark's expert info does, and the row still shows the ESP header."""
    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, write_pcap
    from ikelab.wireshark import read_tables

    tunnel = gcm_sa("outbound", tunnel=("192.0.2.1", "192.0.2.2"))
    transport = gcm_sa("outbound", mode="transport")
    bad_inner = b"\x45\x00\x00\x50" + bytes(16)  # a 20-octet IPv4 header whose total length says 80
    packets = [
        tunnel.protect_packet(ip.ip_packet("10.1.0.1", "10.2.0.1", 47, b"\x00\x00\x08\x00")),
        ip.ip_packet("192.0.2.1", "192.0.2.2", ip.PROTO_ESP, tunnel.encapsulate(bad_inner, 4)),
        transport.protect_packet(ip.ip_packet("192.0.2.1", "192.0.2.2", 47, b"\x00\x00\x86\xdd")),
    ]
    path = tmp_path / "esp.pcap"
    write_pcap(path, [(n, p) for n, p in enumerate(packets)], linktype=LINKTYPE_RAW)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "esp_sa").write_text(f'"IPv4","192.0.2.1","192.0.2.2","0x{SPI:08x}","AES-GCM with 16 octet ICV '
                                 f'[RFC4106]","0x{GCM_KEY.hex()}","NULL",""\n')
    theirs = tshark_fields(path, "-o", "esp.enable_encryption_decode:TRUE", "-o",
                           "uat:esp_sa:" + (keys / "esp_sa").read_text().strip(),
                           fields=("frame.protocols", "_ws.expert.message"))
    assert [t[0] for t in theirs] == ["raw:ip:esp:ip:gre", "raw:ip:esp:ip", "raw:ip:esp:gre"]
    assert "IPv4 total length exceeds packet length (20 bytes)" in theirs[1][1]
    rows = dissect(path, read_tables(keys))
    assert [r.inner_protocol for r in rows] == ["GRE", "IPv4", "GRE"]
    assert rows[0].inner_info == "GRE 10.1.0.1 \u2192 10.2.0.1"
    assert rows[1].note == ("inner packet: IPv4 total length 80 but only 20 bytes captured "
                            "(field ipv4.total_length, offset 2)")
    assert rows[2].inner_info == "transport mode, 4 bytes of GRE"
    text = rows.format().splitlines()
    assert text[2].endswith(f"ESP (SPI=0x{SPI:08x})  [{rows[1].note}]")


def test_dissecting_a_capture_that_cannot_be_opened_is_a_capture_error(tmp_path) -> None:
    """A missing file is a CaptureError (an IkelabError a lesson catches) naming the path and the OS's reason,
    not a bare FileNotFoundError from inside the reader."""
    from ikelab.dissect import dissect
    from ikelab.errors import CaptureError

    path = tmp_path / "missing.pcap"
    with pytest.raises(CaptureError, match="cannot read capture .*missing.pcap.*No such file or directory"):
        dissect(path)


# ------------------------------------------------------------------------------------ Wireshark key tables

_ZERO16 = bytes(16).hex()
_BAD_ESP_ROW = (f'"IPv4","192.0.2.1","192.0.2.2","0x{SPI:08x}","AES-CBC [RFC3602]","0x{_ZERO16}","HMAC-SHA-257",'
                f'"0x{_ZERO16}"')


def test_an_esp_sa_row_with_an_unknown_authentication_name_is_refused_as_tshark_refuses_it() -> None:
    """Wireshark's esp_sa table names algorithms from a fixed list; tshark refuses a row with another name
    ("esp_sa:1: invalid value: HMAC-SHA-257"), and so does ikelab, with a CaptureError naming the line."""
    import subprocess

    from ikelab.errors import CaptureError
    from ikelab.wireshark import parse_esp_sa_table
    from tshark_util import require_tshark

    run = subprocess.run([require_tshark(), "-r", "/dev/null", "-o", f"uat:esp_sa:{_BAD_ESP_ROW}"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "esp_sa:1: invalid value: HMAC-SHA-257" in run.stderr
    with pytest.raises(CaptureError, match="esp_sa line 1: unknown authentication algorithm 'HMAC-SHA-257'"):
        parse_esp_sa_table(_BAD_ESP_ROW + "\n")


def test_an_ikev2_row_with_an_unknown_integrity_name_is_refused_with_its_line() -> None:
    """Wireshark's ikev2_decryption_table has a fixed list of integrity names (RFC 7296 3.3.2 transforms as
    Wireshark spells them); another one is a CaptureError naming the table, the line and the name."""
    from ikelab.errors import CaptureError
    from ikelab.wireshark import parse_ikev2_table

    good = f'0102030405060708,1112131415161718,{_ZERO16},{_ZERO16},"AES-CBC-128 [RFC3602]",{bytes(32).hex()},' \
           f'{bytes(32).hex()},"HMAC_SHA2_256_128 [RFC4868]"'
    assert parse_ikev2_table(good + "\n")[0].integ == "HMAC_SHA2_256_128 [RFC4868]"
    with pytest.raises(CaptureError, match="ikev2_decryption_table line 2: unknown integrity algorithm 'HMAC_X'"):
        parse_ikev2_table(good + "\n" + good.replace("HMAC_SHA2_256_128 [RFC4868]", "HMAC_X") + "\n")


@pytest.mark.parametrize("record, field", [
    (lambda W: W.EspSaRecord("IPv4", "*", "*", 1, "AES-XYZ", bytes(16), "NULL", b""), "encr"),
    (lambda W: W.EspSaRecord("IPv4", "*", "*", 1, "AES-CBC [RFC3602]", bytes(16), "HMAC-XYZ", b""), "auth"),
    (lambda W: W.IkeSaRecord(bytes(8), bytes(8), bytes(16), bytes(16), "AES-XYZ", b"", b"", "NONE [RFC4306]"),
     "encr"),
    (lambda W: W.IkeSaRecord(bytes(8), bytes(8), bytes(16), bytes(16), "AES-CBC-128 [RFC3602]", bytes(32),
                             bytes(32), "HMAC-XYZ"), "integ"),
], ids=["esp-encr", "esp-auth", "ike-encr", "ike-integ"])
def test_records_built_by_hand_with_unknown_names_say_which_field(record, field: str) -> None:
    """A record built in code (not read from a file) with a name Wireshark does not have cannot give
    transforms: a ConfigError naming the field and the name, not a KeyError."""
    from ikelab import wireshark as W

    with pytest.raises(ConfigError, match="unknown (ESP|IKEv2) [a-z]+ name '(AES|HMAC)-XYZ'") as err:
        record(W).transforms()
    assert err.value.field == field


def test_key_tables_add_check_rows_and_explain_a_miss() -> None:
    """KeyTables holds records only (a ConfigError names the bad row); ``+`` joins two tables in order, so
    the first esp_sa row that fits still wins (as tshark's get_esp_sa); a lookup address must be an IP
    address; and a miss lists each other place a key for the SPI exists once."""
    from ikelab.wireshark import EspSaRecord, KeyTables

    with pytest.raises(ConfigError, match="KeyTables: esp\\[0\\] must be an EspSaRecord, not int") as err:
        KeyTables(esp=[1])  # type: ignore[list-item]
    assert err.value.field == "esp[0]"
    v4 = EspSaRecord("IPv4", "192.0.2.1", "192.0.2.2", SPI, "AES-CBC [RFC3602]", bytes(16),
                     "HMAC-SHA-256-128 [RFC4868]", bytes(32))
    v4_other_key = EspSaRecord("IPv4", "192.0.2.1", "192.0.2.2", SPI, "AES-CBC [RFC3602]", bytes([1]) * 16,
                               "HMAC-SHA-256-128 [RFC4868]", bytes(32))
    v6 = EspSaRecord("IPv6", "2001:db8::1", "2001:db8::2", SPI, "AES-CBC [RFC3602]", bytes(16),
                     "HMAC-SHA-256-128 [RFC4868]", bytes(32))
    joined = KeyTables(esp=[v4]) + KeyTables(esp=[v4_other_key, v6])
    assert joined.esp == (v4, v4_other_key, v6) and joined.esp_sa(SPI, "192.0.2.1", "192.0.2.2") is v4
    with pytest.raises(ConfigError, match="esp_sa lookup: src 'gateway.example' is not an IP address") as err:
        joined.esp_sa(SPI, "gateway.example", "192.0.2.2")
    assert err.value.field == "src"
    assert joined.esp_miss(SPI, "198.51.100.1", "192.0.2.2") == (
        f"keys for SPI 0x{SPI:08x} exist, but for 192.0.2.1 -> 192.0.2.2; IPv6 packets (2001:db8::1 -> 2001:db8::2)")


# ---------------------------------------------------------------------------------- lessons' exercise checks

def exercise_reason(exercise_id: str, answer: object, **given: object) -> str:
    from ikelab import exercises
    from ikelab.exercises import ExerciseFailed

    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise_id, answer, **given)
    return info.value.reason


def test_negotiation_a_suite_neither_side_has_is_named_so() -> None:
    """RFC 7296 2.7: the responder picks a suite that is in the offer and in its own configuration.  A suite
    that is in neither (nor acceptable, nor offered) gets the plain hint, not one about preference order."""
    given = dict(offered="aes256gcm16-prfsha384-ecp384, aes128-sha256-ecp256, aes128-sha256-modp2048",
                 configured="aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384")
    assert exercise_reason("negotiation.chosen", "aes256-sha512-modp4096", **given) == \
        "that is not one of the suites both sides accept."


def test_pfs_keymat_must_be_bytes() -> None:
    """RFC 7296 2.17: KEYMAT is an octet string (prf+ output); an int answer is told so by type name."""
    reason = exercise_reason("pfs.keymat", 5, prf_alg="PRF_HMAC_SHA2_256", sk_d=bytes(32), ni=bytes(8),
                             nr=bytes(8), length=32)
    assert reason == "KEYMAT should be bytes, not int."


def test_tour_initial_exchange_needs_rows_with_an_initial_exchange() -> None:
    """RFC 7296 1.2: the initial exchanges are IKE_SA_INIT and IKE_AUTH.  Rows that hold neither (ESP only)
    cannot be checked: a ConfigError naming ``rows`` (a mistake in the lesson's inputs, not the learner's)."""
    from ikelab.dissect_rows import Row

    rows = [Row(no=1, time=0.1, src="192.0.2.1", dst="192.0.2.2", kind="esp", spi=SPI, seq=1)]  # type: ignore
    with pytest.raises(ConfigError, match="the rows hold no IKE_SA_INIT or IKE_AUTH message") as err:
        exercise_reason("tour.initial-exchange", 4, rows=rows)
    assert (err.value.field, err.value.value) == ("rows", 1)


def test_tour_sk_keys_needs_a_suite_with_an_integrity_key() -> None:
    """RFC 7296 2.14: SK_ai/SK_ar exist only with an integrity transform; with an AEAD suite (RFC 5282) the
    question "which SK_a computes the ICV" has no answer, so the check refuses the scenario by name."""
    from ikelab import scenario

    aead = scenario.classic(seed=1, suite="aes128gcm16-prfsha256-ecp256", duration=2.0, child_rekey_after=None,
                            liveness_interval=None, reconnect_at=None, lose_first=False)
    with pytest.raises(ConfigError, match="tour.sk-keys needs a suite with an integrity transform") as err:
        exercise_reason("tour.sk-keys", ("SK_ei", "SK_ai"), scenario=aead, no=3)
    assert (err.value.field, err.value.value) == ("scenario", "ENCR_AES_GCM_16")


def test_trace_child_sas_names_a_swapped_pair() -> None:
    """RFC 7296 1.3: IKE_AUTH creates the first CHILD SA, each CREATE_CHILD_SA with TSi/TSr another (here one
    new and one rekey, 1.3.1 and 1.3.3).  The pair given the wrong way round is told so."""
    from ikelab import exercises
    from ikelab.dissect_rows import Row

    a, b = "198.51.100.7", "203.0.113.9"

    def ike(no: int, exchange: str, mid: int, response: bool, inner: tuple[str, ...] = ()) -> Row:
        src, dst = (b, a) if response else (a, b)
        return Row(no=no, time=no / 10, src=src, dst=dst, kind="ike", exchange=exchange,  # type: ignore[arg-type]
                   message_id=mid, spi_i="1111111111111111", spi_r="2222222222222222", is_initiator=not response,
                   is_response=response, decrypted=bool(inner), inner_payloads=inner)

    rows = [ike(1, "IKE_SA_INIT", 0, False), ike(2, "IKE_SA_INIT", 0, True),
            ike(3, "IKE_AUTH", 1, False, ("IDi", "AUTH", "SA", "TSi", "TSr")),
            ike(4, "IKE_AUTH", 1, True, ("IDr", "AUTH", "SA", "TSi", "TSr")),
            ike(5, "CREATE_CHILD_SA", 2, False, ("SA", "Ni", "TSi", "TSr")),
            ike(6, "CREATE_CHILD_SA", 2, True, ("SA", "Nr", "TSi", "TSr")),
            ike(7, "CREATE_CHILD_SA", 3, False, ("N(REKEY_SA)", "SA", "Ni", "TSi", "TSr")),
            ike(8, "CREATE_CHILD_SA", 3, True, ("SA", "Nr", "TSi", "TSr"))]
    assert exercises.exercise("trace.child-sas").check((1, 2), rows=rows).startswith(
        "Correct! [trace.child-sas] 1 from IKE_AUTH and 2 from CREATE_CHILD_SA")
    assert exercise_reason("trace.child-sas", (2, 1), rows=rows) == \
        "the two are swapped: the pair is (from IKE_AUTH, from CREATE_CHILD_SA)."


# ------------------------------------------------------------------------------------ command line, figures

def test_cli_dissect_json_of_an_empty_capture_prints_no_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ikelab dissect --json`` writes JSON Lines, one object per packet: a capture without packets gives no
    line at all (not an empty line a JSON Lines reader would choke on), and exit status 0."""
    from ikelab.cli import main
    from ikelab.pcap import write_pcap

    path = tmp_path / "empty.pcap"
    write_pcap(path, [])
    assert main(["dissect", str(path), "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_cli_output_cut_short_by_a_closed_pipe_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ikelab derive | head``: when the reader goes away, writing raises BrokenPipeError; the command ends
    quietly with status 0 instead of a traceback."""
    import sys

    from ikelab.cli import main

    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["derive"]) == 0


def test_cli_leaves_other_warnings_to_python(capsys: pytest.CaptureFixture[str]) -> None:
    """The command line prints ikelab's weak-algorithm and capture warnings as one line each, once; any other
    warning (a library's DeprecationWarning, say) goes to Python's own printer with its file and line."""
    import warnings

    from ikelab.cli import _warning_printer

    passed: list[tuple[object, ...]] = []
    with warnings.catch_warnings():
        warnings.showwarning = lambda *args: passed.append(args)  # Python's printer, as the CLI finds it
        show = _warning_printer("dissect")
        show(DeprecationWarning("old API"), DeprecationWarning, "lib.py", 7)
        show(DeprecationWarning("old API"), DeprecationWarning, "lib.py", 7)
    assert [(str(a[0]), a[1], a[2], a[3]) for a in passed] == [("old API", DeprecationWarning, "lib.py", 7)] * 2
    assert "ikelab dissect: warning" not in capsys.readouterr().err


def test_a_figure_made_elsewhere_is_described_by_its_first_text() -> None:
    """``describe`` gives a figure's alt text; a matplotlib figure not made by ikelab has none, so its first
    non-empty figure text (a suptitle) stands in, and a figure with no text is just "Figure"."""
    from matplotlib.figure import Figure

    from ikelab.figures import describe

    fig = Figure()
    assert describe(fig) == "Figure"
    fig.suptitle("ESP packet layout")
    assert describe(fig) == "Figure: ESP packet layout"


def test_nat_rewrite_source_refuses_ipv6() -> None:
    """RFC 791 / RFC 3022: the lesson's NAT rewrites an IPv4 source and header checksum; IPv6 (no header
    checksum, RFC 8200) is a ConfigError naming the packet, not a silently corrupted packet."""
    from ikelab.figures_esp import nat_rewrite_source

    rewritten = nat_rewrite_source(udp_packet(4), "203.0.113.5")
    assert ip.parse_ip(rewritten).src == A("203.0.113.5")  # parse_ip verifies the new header checksum
    with pytest.raises(ConfigError, match="nat_rewrite_source handles IPv4 packets only") as err:
        nat_rewrite_source(udp_packet(4, version=6), "203.0.113.5")
    assert (err.value.field, err.value.value) == ("packet", 6)


def test_payload_names_give_cp_types_and_unknown_payload_numbers() -> None:
    """RFC 7296 notation in the dissector's summary: a Configuration payload carries its CFG type (3.15.1:
    CFG_REQUEST = 1; an unassigned type by number), a payload of a type ikelab does not decode its number
    (kept because its Critical bit was clear, 2.5), and the nonce Ni or Nr by direction (1.2)."""
    from ikelab.cp_payload import CP
    from ikelab.dissect_ike import payload_names
    from ikelab.payloads import Nonce, UnknownPayload

    payloads = [CP(1, ((1, b""),)), CP(9), UnknownPayload(200, b"x"), Nonce(bytes(16))]
    assert payload_names(payloads, True) == ("CP(CFG_REQUEST)", "CP(9)", "UNKNOWN(200)", "Nr")
    assert payload_names(payloads[3:], False) == ("Ni",)


def test_frame_addresses_from_slices_of_a_bytearray_or_memoryview() -> None:
    """A frame read into a bytearray or memoryview gives address slices of that type: they read as the same
    IPv4/IPv6 text (RFC 5952 for IPv6) as bytes; anything not 4 or 16 octets is a ConfigError naming ``raw``."""
    from ikelab.frame_info import address

    frame = bytearray(b"\x00" * 12 + b"\xc0\x00\x02\x01" + bytes(16))
    assert address(memoryview(frame)[12:16]) == "192.0.2.1" and address(frame[16:32]) == "::"
    with pytest.raises(ConfigError, match="raw must be the 4 or 16 bytes of an IP address, not .*of length 3"):
        address(bytearray(3))


def test_a_frame_in_a_writable_memoryview_is_dissected_like_bytes() -> None:
    """A capture record's data may be any bytes-like object; a memoryview of a bytearray (a frame read with
    readinto) cannot be hashed (ValueError, not TypeError).  The dissector reads its addresses as it does for
    bytes and bytearray, instead of failing with a ValueError from its address cache."""
    from ikelab.dissect_frames import dissect_frames
    from ikelab.pcap import LINKTYPE_RAW, CapturedPacket

    packet = ip.ip_udp("192.0.2.1", "192.0.2.2", 1000, 2000, b"hi")
    rows = [next(dissect_frames([CapturedPacket(time=0.0, data=data, linktype=LINKTYPE_RAW)]))
            for data in (packet, bytearray(packet), memoryview(bytearray(packet)))]
    assert {(r.src, r.dst, r.info) for r in rows} == {("192.0.2.1", "192.0.2.2", "1000 \u2192 2000 Len=2")}


def test_fragments_refused_for_conflicting_overlap_all_say_so(tmp_path) -> None:
    """ikelab refuses IPv4 fragments that overlap with different data (the RFC 5722 rule, applied to IPv4 too;
    tshark flags the same pair ip.fragment.overlap.conflict).  The fragment that conflicts says why, and the
    earlier piece of the refused datagram says it was refused there, not that "the rest of its datagram is
    not in the capture" (it is: two frames on)."""
    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    def fragment(offset: int, more: bool, data: bytes) -> bytes:
        packet = bytearray(ip.ip_packet("192.0.2.1", "192.0.2.2", ip.PROTO_UDP, data, ident=0x1A2B))
        packet[6:8] = ((0x2000 if more else 0) | offset // 8).to_bytes(2, "big")  # MF and the offset (RFC 791)
        packet[10:12] = b"\x00\x00"
        packet[10:12] = ip.internet_checksum(bytes(packet[:20])).to_bytes(2, "big")
        return bytes(packet)

    datagram = ip.udp("192.0.2.1", "192.0.2.2", 1000, 2000, bytes(24))
    path = tmp_path / "overlap.pcap"
    write_pcap(path, [(0, fragment(0, True, datagram[:16])), (1, fragment(8, False, b"\xff" * 24))],
               linktype=LINKTYPE_RAW)
    theirs = tshark_fields(path, fields=("frame.number", "ip.fragment.overlap.conflict"))
    assert [t[1] for t in theirs] == ["", "1"]
    first, second = dissect(path)
    assert second.note == ("IP fragment not reassembled: fragments overlap at bytes 8..16 with different data "
                           "(RFC 5722) (field fragment_offset, offset 8)")
    assert first.note == "IP fragment not reassembled: its datagram was refused at #2"
    assert first.info == "Fragmented IP protocol (proto=UDP 17, off=0, ID=1a2b)"


# ---------------------------------------------------------------------------------------- flow diagrams

def hand_rows() -> list:
    """Undecrypted rows, built by hand: an IKE SA's first exchange, then ESP both ways on two SPI pairs."""
    from ikelab.dissect_rows import Row

    a, b = "198.51.100.7", "203.0.113.9"

    def ike(no: int, response: bool) -> Row:
        src, dst = (b, a) if response else (a, b)
        return Row(no=no, time=no / 10, src=src, dst=dst, kind="ike", exchange="IKE_SA_INIT",  # type: ignore
                   message_id=0, spi_i="1111111111111111", spi_r="2222222222222222" if response else "0" * 16,
                   is_initiator=not response, is_response=response)

    def esp(no: int, src: str, dst: str, spi: int) -> Row:
        return Row(no=no, time=no / 10, src=src, dst=dst, kind="esp", spi=spi, seq=1)  # type: ignore[arg-type]

    return [ike(1, False), ike(2, True), esp(3, a, b, 0xA0000001), esp(4, b, a, 0xB0000001),
            esp(6, b, a, 0xB0000001)]


def test_sa_spans_of_undecrypted_rows_come_from_the_packets_alone() -> None:
    """RFC 7296 1.2 / RFC 4303: without keys the IKE messages are opaque (no SA or Delete payload to read), so
    the IKE SA (its SPIi, whose SPIr the response names) runs from its first to its last message and each ESP
    SA from its first to its last packet, with its direction; none is marked deleted.  The timeline draws one
    bar per SA on a figure of its own when no axes are given."""
    from matplotlib.figure import Figure

    from ikelab.flow import draw_timeline, sa_spans

    spans = sa_spans(hand_rows())
    assert [(s.kind, s.start, s.end, s.src, s.deleted) for s in spans] == [
        ("IKE", 0.1, 0.2, "", False), ("ESP", 0.3, 0.3, "198.51.100.7", False),
        ("ESP", 0.4, 0.6, "203.0.113.9", False)]
    assert spans[0].name.startswith("IKE 11111111") and spans[2].name == "ESP 0xb0000001"
    fig = draw_timeline(spans)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert "ESP 0xb0000001  203.0.113.9 \u2192 198.51.100.7" in [t.get_text() for t in fig.axes[0].texts]


def test_flow_inputs_name_the_argument_that_is_wrong(tmp_path) -> None:
    """``endpoints`` takes dissected rows (a str is refused, not iterated character by character); rows_of
    keeps the name of a bad ``keys`` argument rather than blaming the capture it was given with."""
    from ikelab.flow import endpoints, rows_of
    from ikelab.pcap import write_pcap

    assert endpoints(hand_rows()) == ["198.51.100.7", "203.0.113.9"]
    with pytest.raises(ConfigError, match="endpoints: rows must be a list of dissected rows") as err:
        endpoints("198.51.100.7")  # type: ignore[arg-type]
    assert err.value.field == "rows"
    path = tmp_path / "empty.pcap"
    write_pcap(path, [])
    with pytest.raises(ConfigError, match="key tables: expected a KeyTables or a directory path, not int") as err:
        rows_of(str(path), keys=5)
    assert err.value.field == "keys"


def test_psk_auth_explorer_checks_its_event_and_shows_itself() -> None:
    """RFC 7296 2.15: AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>).  The lesson 06
    widget takes the AuthComputed event of one signer: with the right secret it says the peer accepts the
    AUTH (computed here with Python's hmac), its repr names the signer and the key typed, and anything but an
    AuthComputed event is a ConfigError naming ``event``."""
    import hashlib
    import hmac

    from ikelab import events as ev
    from ikelab import widgets_ike

    octets = b"message" + b"Nr" + b"maced_id"  # RealMessage1 | NonceRData | MACedID
    pad = hmac.new(b"secret", b"Key Pad for IKEv2", hashlib.sha256).digest()
    event = ev.AuthComputed(time=0.0, side="responder", signer="initiator", method="psk", message=b"message",
                            nonce=b"Nr", maced_id=b"maced_id", octets=octets,
                            auth=hmac.new(pad, octets, hashlib.sha256).digest())
    widget = widgets_ike.psk_auth_explorer(event, "PRF_HMAC_SHA2_256", psk="secret")
    assert widget.accepted is True and "the peer accepts it" in widget.output.value
    assert repr(widget) == "PskAuthExplorer(initiator's AUTH, psk='secret') -- run the notebook to use it"
    with pytest.raises(ConfigError, match="psk_auth_explorer\\(\\) takes an AuthComputed event, not str") as err:
        widgets_ike.psk_auth_explorer("AUTH", "PRF_HMAC_SHA2_256")  # type: ignore[arg-type]
    assert err.value.field == "event"


def test_a_wrong_sk_e_with_the_right_sk_a_is_a_decryption_failure_not_an_icv_failure(tmp_path) -> None:
    """RFC 7296 3.14: the ICV covers the message through the Pad Length and is checked before decrypting.  An
    ikev2_decryption_table row with the right SK_a but wrong SK_e keys (a learner's slip) passes the ICV and
    decrypts to garbage whose Pad Length runs past the data.  tshark says "Pad length is too big" and does not
    flag the integrity checksum; the dissector says the ICV verified (icv_ok) and decryption failed, instead of
    "ICV check failed".  A wrong SK_a is still an ICV failure."""
    from ikelab import scenario
    from ikelab.dissect import dissect
    from ikelab.wireshark import read_tables

    paths = scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None,
                             reconnect_at=None, lose_first=False).write(tmp_path)
    table = paths["ikev2_decryption_table"]
    header, row = [line for line in table.read_text().splitlines() if line][:2]
    fields = row.split(",")
    wrong_e = ",".join(fields[:2] + ["00" * 16, "00" * 16] + fields[4:])  # SK_ei, SK_er zeroed; SK_a kept
    table.write_text(f"{header}\n{wrong_e}\n")
    theirs = tshark_fields(paths["pcap"], "-o", f"uat:ikev2_decryption_table:{wrong_e}", "-Y", "isakmp",
                           fields=("isakmp.exchangetype", "isakmp.ikev2.integrity_checksum", "_ws.expert.message"))
    auth = [t for t in theirs if t[0] == "35"]  # IKE_AUTH (RFC 7296 3.1)
    assert len(auth) == 2 and all(t[1] == "" and "Pad length is too big" in t[2] for t in auth)
    rows = [r for r in dissect(paths["pcap"], read_tables(tmp_path)).ike() if r.exchange == "IKE_AUTH"]
    assert [(r.icv_ok, r.decrypted) for r in rows] == [(True, False)] * 2
    assert all(r.note.startswith("decryption failed: SK: Pad Length ") for r in rows)
    other_e = ",".join(fields[:2] + ["04" * 16, "04" * 16] + fields[4:])  # here the padding fits: garbage payloads
    table.write_text(f"{header}\n{other_e}\n")
    rows = [r for r in dissect(paths["pcap"], read_tables(tmp_path)).ike() if r.exchange == "IKE_AUTH"]
    assert [(r.icv_ok, r.decrypted) for r in rows] == [(True, False)] * 2
    assert all(r.note.startswith("decryption failed: payload length ") for r in rows)
    wrong_a = ",".join(fields[:5] + ["00" * 32, "00" * 32] + fields[7:])
    table.write_text(f"{header}\n{wrong_a}\n")
    rows = [r for r in dissect(paths["pcap"], read_tables(tmp_path)).ike() if r.exchange == "IKE_AUTH"]
    assert [r.icv_ok for r in rows] == [False, False]
    assert all(r.note == "ICV check failed: AUTH_HMAC_SHA2_256_128: ICV does not verify" for r in rows)


def test_a_key_directory_with_only_the_ikev2_table_reads_with_no_esp_rows(tmp_path) -> None:
    """A key directory may hold one table only (Wireshark keeps each UAT in its own file; a missing one is
    empty): the IKE rows are read, ESP has none, and an ESP lookup finds no key instead of failing."""
    from ikelab.wireshark import read_tables

    row = f'0102030405060708,1112131415161718,{_ZERO16},{_ZERO16},"AES-CBC-128 [RFC3602]",{bytes(32).hex()},' \
          f'{bytes(32).hex()},"HMAC_SHA2_256_128 [RFC4868]"'
    (tmp_path / "ikev2_decryption_table").write_text(row + "\n")
    tables = read_tables(tmp_path)
    assert [r.spi_i.hex() for r in tables.ike] == ["0102030405060708"] and tables.esp == ()
    assert tables.esp_sa(SPI, "192.0.2.1", "192.0.2.2") is None
