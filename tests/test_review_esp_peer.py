"""Review tests for ikelab.esp_peer (the live peer's userspace ESP) and ikelab.esp_sa_addresses (esp_sa rows).

The ESP packets that reach the peer are built here by hand with ``cryptography``'s AESGCM, as RFC 4106 and
RFC 4303 lay them out (SPI, Sequence Number, IV, ciphertext of payload + padding + Pad Length + Next Header, tag),
so what the peer is given does not depend on ikelab.esp.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ikelab import events as ev
from ikelab.errors import CaptureError, ConfigError
from ikelab.packet import icmp_echo, parse_ip
from test_net import _lab_after_a_child_rekey, _transport_lab, _wired_esp_peers

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
