"""Review tests for ikelab.esp_peer (the live peer's userspace ESP) and ikelab.esp_sa_addresses (esp_sa rows).

The ESP packets that reach the peer are built here by hand with ``cryptography``'s AESGCM, as RFC 4106 and
RFC 4303 lay them out (SPI, Sequence Number, IV, ciphertext of payload + padding + Pad Length + Next Header, tag),
so what the peer is given does not depend on ikelab.esp.
"""

from __future__ import annotations

import math
import struct
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ikelab import events as ev
from ikelab.errors import CaptureError, ConfigError, WeakAlgorithmWarning
from ikelab.packet import icmp_echo, parse_ip
from test_net import _esp_peer, _lab_after_a_child_rekey, _transport_lab, _wired_esp_peers

AES_GCM_16 = "AES-GCM with 16 octet ICV [RFC4106]"


def _esp_gcm(spi: bytes, seq: int, keymat: bytes, payload: bytes, next_header: int) -> bytes:
    """An ESP packet under AES-GCM with a 16-octet ICV: RFC 4106 3.1 (nonce = salt || IV, the IV here the
    sequence number), 5 (AAD = SPI || Sequence Number); RFC 4303 2.4 (padding 1, 2, 3, ... to a multiple of 4)."""
    key, salt = keymat[:-4], keymat[-4:]
    iv = seq.to_bytes(8, "big")
    pad = bytes(range(1, -(len(payload) + 2) % 4 + 1))
    header = spi + struct.pack("!I", seq)
    return header + iv + AESGCM(key).encrypt(salt + iv, payload + pad + bytes((len(pad), next_header)), header)


def _lab(mode: str) -> Any:
    return _lab_after_a_child_rekey(encapsulation="always") if mode == "tunnel" else _transport_lab()


def _initiator(mode: str) -> tuple[Any, list[bytes], ev.ChildSaCreated]:
    """The initiator's EspPeer (wired to the responder's), what it sent, and its newest CHILD SA."""
    lab = _lab(mode)
    peer, wire = _wired_esp_peers(lab)["initiator"]
    return peer, wire, lab.events("initiator", ev.ChildSaCreated)[-1]


def _echo_request(child: ev.ChildSaCreated, mode: str) -> bytes:
    """An echo request from the peer to us: the whole packet in tunnel mode, the ICMP message in transport mode."""
    packet = icmp_echo(child.remote_addr, child.local_addr, 7, 1, b"ping")
    return packet if mode == "tunnel" else parse_ip(packet).payload


@pytest.mark.parametrize("mode", ["tunnel", "transport"])
def test_a_dummy_packet_is_discarded_without_an_error(mode: str) -> None:
    """RFC 4303 2.6: next header 59 marks a dummy packet (traffic flow confidentiality), which "a receiver MUST be
    prepared to discard ... without indicating an error"; its payload "need not be well-formed".  In tunnel mode the
    peer read its payload as an IP packet (and answered one that held an echo request); in transport mode it noted
    an error, 'IP protocol is 59'."""
    peer, wire, child = _initiator(mode)
    remote, local = (child.remote_addr, 4500), (child.local_addr, 4500)
    peer.received(_esp_gcm(child.spi_in, 1000, child.encr_key_in, _echo_request(child, mode), 59), remote, local)
    peer.received(_esp_gcm(child.spi_in, 1001, child.encr_key_in, b"\xa5" * 13, 59), remote, local)
    assert (peer.errors, peer.requests_answered, wire) == ([], 0, [])
    real = 4 if mode == "tunnel" else 1  # the same request as real traffic is answered
    peer.received(_esp_gcm(child.spi_in, 1002, child.encr_key_in, _echo_request(child, mode), real), remote, local)
    assert (peer.errors, peer.requests_answered, len(wire)) == ([], 1, 1)


@pytest.mark.parametrize("next_header, words", [
    (1, "tunnel-mode ESP carried next header 1, not 4 or 41"),
    (6, "tunnel-mode ESP carried next header 6, not 4 or 41"),
    (17, "tunnel-mode ESP carried next header 17, not 4 or 41"),
    (41, "next header 41 announced IPv6, got IPv4"),
])
def test_tunnel_mode_drops_a_payload_that_its_next_header_does_not_name_as_ip(next_header: int, words: str) -> None:
    """RFC 4303 2.6, 3.1.2: in tunnel mode the payload is an IP packet, next header 4 (IPv4) or 41 (IPv6).  The
    peer ignored the next header and answered an IPv4 echo request sent as UDP, TCP, ICMP or IPv6."""
    peer, wire, child = _initiator("tunnel")
    esp = _esp_gcm(child.spi_in, 1000, child.encr_key_in, _echo_request(child, "tunnel"), next_header)
    peer.received(esp, (child.remote_addr, 4500), (child.local_addr, 4500))
    assert peer.errors == [f"ESP SPI 0x{child.spi_in.hex()}: {words} (field next_header, offset 0)"]
    assert (peer.requests_answered, wire) == (0, [])


def test_an_outbound_counter_at_its_limit_is_noted_not_raised() -> None:
    """RFC 4303 3.3.3: without ESN the sender's counter must not cycle past 2^32 - 1; the SA must be replaced.
    send_inner let the SaExpiredError out, so ``ping`` raised and an echo request arriving then made ``received``
    raise (out of the driver's datagram handler) instead of noting what went wrong."""
    peer, wire, child = _initiator("tunnel")
    (spi_out, out_sa, _), = [o for o in peer.outbound if o[0] == child.spi_out]
    out_sa.seq = 2**32 - 2
    assert peer.ping(child.local_addr, child.remote_addr, 1)  # the last sequence number, 2^32 - 1, is still sent
    assert wire[-1][:8] == spi_out + b"\xff\xff\xff\xff" and len(wire) == 1
    assert not peer.ping(child.local_addr, child.remote_addr, 2) and len(wire) == 1
    assert peer.errors[-1].startswith(f"{child.local_addr} -> {child.remote_addr} protocol 1 type 8 code 0: ")
    assert peer.errors[-1].endswith("must not cycle (RFC 4303 3.3.3); establish a new SA: not sent")
    esp = _esp_gcm(child.spi_in, 1000, child.encr_key_in, _echo_request(child, "tunnel"), 4)
    peer.received(esp, (child.remote_addr, 4500), (child.local_addr, 4500))  # no reply can leave: noted, not raised
    assert len(wire) == 1 and len(peer.errors) == 2 and "must not cycle" in peer.errors[-1]


@pytest.mark.parametrize("seq", [None, math.nan, "1", 1.5, True, -1, 65536])
def test_ping_names_a_sequence_number_that_is_not_16_bits(seq: Any) -> None:
    """The ICMP echo Sequence Number is 16 bits (RFC 792).  None, nan, '1' or 1.5 gave a bare TypeError."""
    peer, wire, child = _initiator("tunnel")
    with pytest.raises(ConfigError, match="seq") as caught:
        peer.ping(child.local_addr, child.remote_addr, seq)
    assert caught.value.field == "seq" and wire == []


def test_a_weak_child_sa_from_the_engine_is_installed() -> None:
    """The engine decides what is allowed (its proposals' allow_weak); EspPeer installs whatever CHILD SA it
    reports, 3DES included, with the usual warning rather than a refusal."""
    lab = _lab("tunnel")
    child = lab.events("initiator", ev.ChildSaCreated)[-1]
    weak = replace(child, spi_in=b"\x00\x00\x20\x01", spi_out=b"\x00\x00\x20\x02", rekey_of=None, encr="ENCR_3DES",
                   encr_key_bits=None, integ="AUTH_HMAC_SHA2_256_128", encr_key_in=bytes(24), encr_key_out=bytes(24),
                   integ_key_in=bytes(32), integ_key_out=bytes(32))
    peer = _esp_peer(lab, [0.0])
    with pytest.warns(WeakAlgorithmWarning):
        peer.on_event(weak)
    assert weak.spi_in in peer.inbound and peer.outbound[-1][0] == weak.spi_out


def test_a_rekeyed_inbound_sa_is_kept_five_seconds_after_its_delete() -> None:
    """REKEYED_INBOUND_GRACE is strongSwan's delete_rekeyed_delay, 5 s: the retired SA is taken until then."""
    lab = _lab_after_a_child_rekey()
    peer = _esp_peer(lab, [0.0])
    deleted = lab.events("initiator", ev.ChildSaDeleted)[-1]
    assert peer.retired[deleted.spi_in][1] == deleted.time + 5.0


def test_a_delete_for_an_sa_never_installed_leaves_nothing_retired() -> None:
    """An EspPeer that starts after a CHILD SA was made (its ChildSaCreated never seen) still hears of the rekey
    and of the old SA's DELETE: it holds no SA to keep for late packets, so nothing is retired."""
    from types import SimpleNamespace

    from ikelab.esp_peer import EspPeer

    lab = _lab_after_a_child_rekey()
    first = lab.events("initiator", ev.ChildSaCreated)[0]
    peer = EspPeer(SimpleNamespace(now=lambda: 0.0, esp_handler=None), out=lambda text: None)  # type: ignore[arg-type]
    for event in lab.events("initiator"):
        if event is not first:
            peer.on_event(event)
    assert peer.retired == {} and first.spi_in not in peer.inbound and len(peer.inbound) == 1


def test_esp_without_udp_encapsulation_is_not_sent() -> None:
    """Without NAT (and without encapsulation="always") ESP goes as IP protocol 50 (RFC 4303), which the
    userspace peer cannot send: send_inner says so and returns False."""
    lab = _lab_after_a_child_rekey()
    child = lab.events("initiator", ev.ChildSaCreated)[-1]
    assert not child.udp_encap
    peer = _esp_peer(lab, [0.0])  # its driver has no send_esp: a send would raise
    assert not peer.send_inner(icmp_echo(child.local_addr, child.remote_addr, 1, 1, b""))
    assert peer.errors == ["ESP without UDP encapsulation needs a raw socket (IP protocol 50): not sent"]


def test_ping_sends_ikelabs_identifier_and_a_payload_counting_up_from_seq() -> None:
    """The echo request ping sends, decrypted here by hand (RFC 4106): Identifier 0x1D1B (ECHO_IDENT, whose replies
    it counts), Sequence Number seq, and 32 payload bytes seq, seq + 1, ... modulo 256."""
    peer, wire, child = _initiator("tunnel")
    assert peer.ping(child.local_addr, child.remote_addr, 250)
    key, salt = child.encr_key_out[:-4], child.encr_key_out[-4:]
    esp = wire[-1]
    plain = AESGCM(key).decrypt(salt + esp[8:16], esp[16:], esp[:8])
    assert plain[-1] == 4  # IPv4 (RFC 4303 2.6)
    inner = plain[:-2 - plain[-2]]
    icmp = inner[(inner[0] & 0x0F) * 4:]
    assert struct.unpack("!BBHHH", icmp[:8])[0::3] == (8, 0x1D1B) and icmp[6:8] == b"\x00\xfa"
    assert icmp[8:] == bytes(range(250, 256)) + bytes(range(26))


def test_an_icmpv6_packet_is_named_by_its_type_and_code() -> None:
    """ICMPv6 (protocol 58) selectors carry type and code as ICMP's do (RFC 4301 4.4.1.1): an echo request is
    type 128 (RFC 4443 4.1)."""
    peer, wire, child = _initiator("tunnel")
    assert not peer.send_inner(icmp_echo("2001:db8::1", "2001:db8::2", 1, 1, b""))
    assert peer.errors == ["no CHILD SA covers 2001:db8::1 -> 2001:db8::2 protocol 58 type 128 code 0: not sent"]


# --------------------------------------------------------------------------- esp_sa_addresses

@pytest.mark.parametrize("text", ["08", "09", "019", "0777778"])
def test_an_octal_spi_with_an_8_or_9_is_refused(text: str) -> None:
    """packet-esp.c reads an SPI without '*' with strtoul(text, NULL, 0): a leading 0 means octal, and strtoul stops
    at the first 8 or 9 ('08' is 0, '019' is 1).  ikelab read such text as decimal (8, 19): a row Wireshark
    keeps for another SPI."""
    from ikelab.esp_sa_addresses import spi_filter
    from ikelab.wireshark import parse_esp_sa_table

    with pytest.raises(ValueError, match="octal"):
        spi_filter(text)
    line = f'"IPv4","*","*","{text}","{AES_GCM_16}","0x{bytes(20).hex()}","NULL",""\n'
    with pytest.raises(CaptureError, match="line 1: .*octal"):
        parse_esp_sa_table(line)


@pytest.mark.parametrize("text, spi", [("00", 0), ("07", 7), ("010", 8), ("0377", 255), ("80", 80)])
def test_octal_and_decimal_spis_read_as_strtoul_reads_them(text: str, spi: int) -> None:
    from ikelab.esp_sa_addresses import spi_filter

    assert spi_filter(text).value == spi and spi_filter(text).exact


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.1/32", (4, 0xC0000201, 0xFFFFFFFF)),  # the whole address: as if no prefix
    ("192.0.2.1/0", (4, 0, 0)),  # any IPv4 address
    ("2001:db8::1/128", (6, 0x20010DB8_00000000_00000000_00000001, (1 << 128) - 1)),
])
def test_the_longest_and_shortest_prefixes_are_accepted(text: str, expected: tuple[int, int, int]) -> None:
    """/0 to /32 (IPv4) and /0 to /128 (IPv6) are prefix lengths; only longer ones are refused."""
    from ikelab.esp_sa_addresses import AddressFilter, address_filter

    assert address_filter(text) == AddressFilter(*expected)


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.1", (4, 0xC0000201, 0xFFFFFFFF)),
    ("255.255.255.255", (4, 0xFFFFFFFF, 0xFFFFFFFF)),  # 255 is an octet
    ("192.0.2.*", (4, 0xC0000200, 0xFFFFFF00)),
    ("*.0.2.1", (4, 0x00000201, 0x00FFFFFF)),
    ("*", (None, 0, 0)),  # no bit compared
    ("2001:db8::1", (6, 0x20010DB8_00000000_00000000_00000001, (1 << 128) - 1)),
    ("2001:db8::*", (6, 0x20010DB8 << 96, (1 << 128) - 0x10)),  # '*' is one hex digit
    ("fe80::f*", (6, 0xFE80 << 112 | 0xF0, (1 << 128) - 0x10)),
    ("2001:db8:0:0:0:0:0:*", (6, 0x20010DB8 << 96, (1 << 128) - 0x10)),  # eight groups, no '::'
    ("1:2:3:4:5:6::*", (6, 0x0001_0002_0003_0004_0005_0006_0000_0000, (1 << 128) - 0x10)),  # '::' for one group
])
def test_address_filters_compare_the_bits_written(text: str, expected: tuple[int, int, int]) -> None:
    """Each address as the bits Wireshark compares (mask) and their value, worked out by hand; an exact
    address does not match another with the same last octet."""
    import ipaddress

    from ikelab.esp_sa_addresses import AddressFilter, address_filter

    f = address_filter(text)
    assert f == AddressFilter(*expected)
    if "*" not in text and f.version == 4:
        assert not f.matches(ipaddress.ip_address(0x0A000000 | expected[1] & 0xFF))  # 10.0.0.x


def test_an_octet_over_255_is_refused() -> None:
    from ikelab.esp_sa_addresses import address_filter

    with pytest.raises(ValueError, match="octet 256 is over 255"):
        address_filter("192.0.2.256")



@pytest.mark.parametrize("text", ["12345::*", "2001:db8::1::*", "1:2:3:4:5:6:7::*", "1:2:3:4:5:6:7:8:*"])
def test_a_wildcard_ipv6_address_that_is_not_eight_groups_is_refused(text: str) -> None:
    """A group has 1 to 4 hex digits, '::' appears once and stands for at least one group (RFC 4291 2.2)."""
    from ikelab.esp_sa_addresses import address_filter

    with pytest.raises(ValueError, match="eight groups of hex digits"):
        address_filter(text)


@pytest.mark.parametrize("text, value, mask", [
    ("0x1000100*", 0x10001000, 0xFFFFFFF0),  # every written digit is compared, the first one too
    ("0x*fffffff", 0x0FFFFFFF, 0x0FFFFFFF),
    ("0xffffffff", 0xFFFFFFFF, 0xFFFFFFFF),  # the largest SPI
    ("4294967295", 0xFFFFFFFF, 0xFFFFFFFF),
])
def test_spi_filters_by_hand(text: str, value: int, mask: int) -> None:
    from ikelab.esp_sa_addresses import SpiFilter, spi_filter

    assert spi_filter(text) == SpiFilter(value, mask)
