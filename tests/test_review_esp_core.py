"""Review of ikelab.esp and ikelab.esp_sa_addresses: edges of RFC 4303, RFC 4106 and RFC 7634, and bad input.

Expected bytes are built here with ``struct``, ``hmac`` and ``cryptography``'s AEAD classes, never with ikelab:
RFC 4303 2 (the packet), 2.4 (default padding 1, 2, 3, ...), 2.6 (next header 59), 2.7 (TFC padding), 3.3.3
(the counter never cycles), 3.4.3-3.4.4 (ICV before decryption; the window moves only after it), appendix A
(ESN: high bits in the ICV, not on the wire), RFC 4106 3.1/5 and RFC 7634 2 (8-byte IV, salt, AAD).
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ikelab import transforms
from ikelab.errors import ConfigError, IkelabError, IntegrityError, ParseError, SaExpiredError
from ikelab.esp import EspSa, esp_padding, esp_seal
from ikelab.esp_sa_addresses import address_filter, spi_filter

SPI = 0x0D713155
SUITES = [  # (encryption, key bits, integrity)
    ("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128"),
    ("ENCR_AES_GCM_16", 128, None),
    ("ENCR_AES_GCM_8", 256, None),
    ("ENCR_AES_CCM_12", 128, None),
    ("ENCR_CHACHA20_POLY1305", None, None),
    ("ENCR_AES_CTR", 128, "AUTH_HMAC_SHA1_96"),
    ("ENCR_NULL", None, "AUTH_HMAC_SHA2_512_256"),
]


def pair(suite: tuple[str, int | None, str | None], esn: bool = False, **kw: object) -> tuple[EspSa, EspSa]:
    encr, bits, integ = suite
    enc = transforms.encryption(encr, bits)
    ak = bytes(range(100, 100 + transforms.integrity(integ).key_len)) if integ else b""
    common = dict(encryption=enc, encryption_key=bytes(range(enc.key_len)), integrity=integ, integrity_key=ak,
                  mode="transport", esn=esn)
    return (EspSa(SPI, direction="outbound", **common, **kw),  # type: ignore[arg-type]
            EspSa(SPI, direction="inbound", **common))  # type: ignore[arg-type]


def state(sa: EspSa) -> tuple[object, ...]:
    return sa.window.top, sa.window.bitmap, sa.seq, sa.counters.packets, sa.counters.bytes


def default_pad(n: int) -> bytes:
    return bytes(range(1, n + 1))


# ------------------------------------------------------------------------------------------- padding (2.4)

@pytest.mark.parametrize("block_size", range(1, 256))
def test_esp_padding_aligns_or_refuses_for_every_block_size(block_size: int) -> None:
    """Payload | Padding | Pad Length | Next Header: a multiple of the block and of 4, the padding 1, 2, 3, ...
    in at most 255 bytes; a block size that could need more is a ConfigError, never an IndexError."""
    align = block_size * 4 // [g for g in (4, 2, 1) if block_size % g == 0][0]  # lcm(block_size, 4)
    for payload_len in range(0, 2 * align + 3, max(1, align // 7)):
        if align > 256:
            with pytest.raises(ConfigError) as err:
                esp_padding(payload_len, block_size)
            assert err.value.field == "block_size"
            continue
        pad = esp_padding(payload_len, block_size)
        assert (payload_len + len(pad) + 2) % align == 0 and len(pad) < align and pad == default_pad(len(pad))


# ------------------------------------------------------------------------- malformed input never harms

@pytest.mark.parametrize("esn", [False, True])
@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s[0])
def test_truncated_and_flipped_packets_raise_typed_errors_and_leave_the_sa_alone(suite, esn: bool) -> None:
    """Every prefix and every single-bit flip of a good packet: an IkelabError, the window, the highest
    sequence number and the packet counters unchanged, and the good packet still accepted afterwards."""
    out, inn = pair(suite, esn)
    packets = [out.encapsulate(b"\xab" * n, 17) for n in (0, 5, 33)]
    for packet in packets:
        before = state(inn)
        bad = [packet[:n] for n in range(len(packet))]
        bad += [packet[:k] + bytes([packet[k] ^ 1 << b]) + packet[k + 1:] for k in range(len(packet)) for b in (0, 7)]
        for data in bad:
            with pytest.raises(IkelabError):
                inn.decapsulate(data)
            assert state(inn) == before
        assert inn.decapsulate(packet)[0] == 17
    assert inn.counters.packets == 3


def _null_hmac_packet(seq: int, plaintext: bytes, key: bytes, *, seq_hi: int | None = None) -> bytes:
    """ENCR_NULL + HMAC-SHA2-256-128 by hand: the ICV over SPI | Seq | payload [| Seq_hi] (RFC 4303 2.8, 3.3.4)."""
    body = struct.pack("!II", SPI, seq & 0xFFFFFFFF) + plaintext
    covered = body + (struct.pack("!I", seq_hi) if seq_hi is not None else b"")
    return body + hmac.new(key, covered, hashlib.sha256).digest()[:16]


NULL_SUITE = ("ENCR_NULL", None, "AUTH_HMAC_SHA2_256_128")
AK = bytes(range(100, 132))


@pytest.mark.parametrize("plaintext, field, offset", [
    (b"data" + b"\x01\x00\x02" + b"\x02\x11", "padding", 8 + 5),  # second pad byte 0, not 2
    (b"data" + b"\x09\x11", "pad_length", 8 + 4),  # Pad Length 9 but 4 bytes before it
    (b"\xff\x11", "pad_length", 8),  # nothing but the trailer, Pad Length 255
    (b"\x00" * 6 + b"\x00\x00\x00" + b"\x03\x04", "padding", 8 + 6),
])
def test_authentic_packet_with_bad_padding_is_a_parse_error_that_moves_no_window(plaintext: bytes, field: str,
                                                                                   offset: int) -> None:
    """The ICV verifies, the trailer does not (RFC 4303 2.4): ParseError naming the field and its offset
    from the start of the ESP packet; the window does not move, so the same number is still accepted."""
    _, inn = pair(NULL_SUITE)
    with pytest.raises(ParseError) as err:
        inn.decapsulate(_null_hmac_packet(1, plaintext, AK))
    assert (err.value.field, err.value.offset) == (field, offset)
    assert inn.counters.parse_errors == 1 and inn.window.top == 0 and inn.counters.packets == 0
    good = b"data" + default_pad(2) + b"\x02\x11"
    assert inn.decapsulate(_null_hmac_packet(1, good, AK)) == (17, b"data")


def test_icv_is_checked_before_the_ciphertext_is_looked_at() -> None:
    """RFC 4303 3.4.4: a CBC packet whose ciphertext is not whole blocks and whose ICV is wrong is an
    IntegrityError (ICV first); with a right ICV the same bytes are a ParseError about the blocks."""
    out, inn = pair(SUITES[0])
    ak = out.integrity_key
    body = struct.pack("!II", SPI, 1) + bytes(16) + bytes(20)  # IV, then 20 bytes: not whole AES blocks
    with pytest.raises(IntegrityError):
        inn.decapsulate(body + bytes(16))
    with pytest.raises(ParseError) as err:
        inn.decapsulate(body + hmac.new(ak, body, hashlib.sha256).digest()[:16])
    assert err.value.field == "ciphertext" and inn.counters.integrity_errors == 1 and inn.window.top == 0


def test_a_forged_packet_does_not_take_the_sequence_number_of_the_real_one() -> None:
    """RFC 4303 3.4.3: "The receive window is updated only if the ICV verification succeeds"."""
    out, inn = pair(SUITES[1])
    packets = [out.encapsulate(bytes([i]) * 10, 17) for i in range(3)]
    forged = packets[1][:-1] + bytes([packets[1][-1] ^ 1])
    with pytest.raises(IntegrityError):
        inn.decapsulate(forged)
    assert [inn.decapsulate(p)[1] for p in (packets[1], packets[0], packets[2])] == [b"\x01" * 10, b"\0" * 10,
                                                                                      b"\x02" * 10]


# ------------------------------------------------------------------------- next header 59, TFC padding

def test_dummy_packets_are_accepted_well_formed_or_not() -> None:
    """RFC 4303 2.6: a dummy packet (next header 59) "need not be well-formed" apart from that field, and
    is discarded without an error; it is authentic, so its number is recorded."""
    out, inn = pair(NULL_SUITE)
    assert inn.decapsulate(out.encapsulate(b"", 59)) == (59, b"")
    for seq, junk in ((2, b"\x07\x07\x07" + b"\x30\x3b"), (3, b"\x00\x3b")):
        assert inn.decapsulate(_null_hmac_packet(seq, junk, AK)) == (59, b"")
    assert inn.window.top == 3 and inn.counters.packets == 3


def _ipv4(src: bytes, dst: bytes, protocol: int, payload: bytes) -> bytes:
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, protocol, 0, src, dst))
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    header[10:12] = struct.pack("!H", ~total & 0xFFFF)
    return bytes(header) + payload


def test_tfc_padding_after_the_inner_packet_is_removed_in_tunnel_mode() -> None:
    """RFC 4303 2.7: TFC padding follows the inner packet, whose own length delimits it."""
    inner = _ipv4(bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), 17, struct.pack("!HHHH", 1, 2, 12, 0) + b"abcd")
    tfc = bytes(37)
    payload = inner + tfc
    pad = default_pad(-(len(payload) + 2) % 4)
    esp = _null_hmac_packet(1, payload + pad + bytes([len(pad), 4]), AK)
    outer = _ipv4(bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]), 50, esp)
    enc = transforms.encryption("ENCR_NULL")
    inn = EspSa(SPI, direction="inbound", encryption=enc, encryption_key=b"", integrity="AUTH_HMAC_SHA2_256_128",
                integrity_key=AK)
    assert inn.unprotect_packet(outer) == inner


# ---------------------------------------------------------------------------------- AEAD (RFC 4106, 7634)

@pytest.mark.parametrize("esn", [False, True])
@pytest.mark.parametrize("name, aead", [("ENCR_AES_GCM_16", AESGCM), ("ENCR_CHACHA20_POLY1305", ChaCha20Poly1305)])
def test_aead_packets_as_rfc_4106_and_7634_build_them(name: str, aead: type, esn: bool) -> None:
    """Nonce = salt (last 4 KEYMAT bytes) | 8-byte IV; AAD = SPI | Seq, or SPI | Seq_hi | Seq_lo with ESN
    (RFC 4106 5, RFC 7634 2.1); the IV is the 64-bit counter (RFC 4106 3.1), different in every packet,
    even across the ESN subspace boundary where the low 32 bits start again."""
    enc = transforms.encryption(name, 128 if "AES" in name else None)
    key = bytes(range(7, 7 + enc.key_len))
    start = 2**32 - 2 if esn else 5
    out = EspSa(SPI, direction="outbound", encryption=enc, encryption_key=key, mode="transport", esn=esn,
                initial_seq=start)
    ivs = set()
    for seq in range(start + 1, start + 4 if esn else start + 2):
        payload = b"hello" * seq.bit_length()
        packet = out.encapsulate(payload, 6)
        iv = struct.pack("!Q", seq)
        aad = struct.pack("!IQ", SPI, seq) if esn else struct.pack("!II", SPI, seq)
        pad = default_pad(-(len(payload) + 2) % 4)
        sealed = aead(key[:-4]).encrypt(key[-4:] + iv, payload + pad + bytes([len(pad), 6]), aad)
        assert packet == struct.pack("!II", SPI, seq & 0xFFFFFFFF) + iv + sealed
        ivs.add(packet[8:16])
    assert len(ivs) == (3 if esn else 1)


def test_esn_high_bits_are_in_the_icv_but_not_on_the_wire() -> None:
    """RFC 4303 2.2.1, 3.3.2.1: HMAC over SPI | Seq_lo | IV | ciphertext | Seq_hi; AES-CBC by hand (RFC 3602),
    with the IV read off the packet (it is random)."""
    out, inn = pair(SUITES[0], esn=True, initial_seq=2**32)
    packet = out.encapsulate(b"x" * 20, 17)
    ek, ak = out.encryption_key, out.integrity_key
    assert packet[:8] == struct.pack("!II", SPI, 1)
    iv, ct, icv = packet[8:24], packet[24:-16], packet[-16:]
    assert icv == hmac.new(ak, packet[:-16] + struct.pack("!I", 1), hashlib.sha256).digest()[:16]
    dec = Cipher(algorithms.AES(ek), modes.CBC(iv)).decryptor()
    assert dec.update(ct) + dec.finalize() == b"x" * 20 + default_pad(10) + b"\x0a\x11"
    inn.window = type(inn.window)(64, esn=True, top=2**32)  # the receiver is in subspace 1 too
    assert inn.decapsulate(packet) == (17, b"x" * 20) and inn.seq == 2**32 + 1


# ------------------------------------------------------------------------------- counter overflow (3.3.3)

@pytest.mark.parametrize("esn, last", [(False, 2**32 - 1), (True, 2**64 - 1)])
def test_the_counter_stops_at_its_last_value_and_never_cycles(esn: bool, last: int) -> None:
    """The last number is sent once; the next packet is refused (SaExpiredError) and changes nothing."""
    out, _ = pair(SUITES[1], esn, initial_seq=last - 1)
    packet = out.encapsulate(b"", 59)
    assert packet[4:8] == b"\xff" * 4 and packet[8:16] == struct.pack("!Q", last)
    for _ in range(2):
        with pytest.raises(SaExpiredError):
            out.encapsulate(b"", 59)
    assert out.seq == last and out.counters.packets == 1


# ------------------------------------------------------------------------------------- the pure functions

GCM = transforms.encryption("ENCR_AES_GCM_16", 128)
HMAC256 = transforms.integrity("AUTH_HMAC_SHA2_256_128")


def test_esp_seal_refuses_an_aead_cipher_with_an_integrity_transform() -> None:
    """EspSa refuses AEAD + integrity (RFC 4303 3.2: the tag is the ICV); esp_seal built a packet without the
    ICV it was asked for, silently."""
    with pytest.raises(ConfigError) as err:
        esp_seal(spi=SPI, seq=1, iv=bytes(8), payload=b"", next_header=59, encryption=GCM, encryption_key=bytes(20),
                 integrity=HMAC256, integrity_key=bytes(32))
    assert err.value.field == "integrity"


# ----------------------------------------------------------------------------------------- esp_sa_addresses

@pytest.mark.parametrize("call, field", [
    (lambda: address_filter(None), "address"), (lambda: address_filter(b"192.0.2.1"), "address"),
    (lambda: address_filter("192.0.2"), "address"), (lambda: address_filter("2001:db8::1/129"), "address"),
    (lambda: address_filter("fe80::1%eth0"), "address"), (lambda: spi_filter(0x1000), "spi"),
    (lambda: spi_filter(None), "spi"), (lambda: spi_filter("0x1*"), "spi"), (lambda: spi_filter("0x100000000"), "spi"),
])
def test_esp_sa_fields_that_cannot_be_read_are_config_errors(call, field: str) -> None:
    """A typed ikelab error naming the column (still a ValueError, which ikelab.wireshark catches), never an
    AttributeError for a value that is not text."""
    with pytest.raises(ConfigError) as err:
        call()
    assert err.value.field == field and isinstance(err.value, ValueError)
