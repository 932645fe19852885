"""Review of ikelab.dissect against tshark 4.0: IP fragments far apart in time, IPv6 extension headers inside a
reassembled datagram, and ESP of an SA with Extended Sequence Numbers.

The packets are built by hand here with ``struct``, ``hmac`` and ``cryptography`` (RFC 8200 4 and 4.5 for the
IPv6 headers, RFC 768 for UDP, RFC 4303 2.2.1 and 3.3.2.1 and RFC 4106 5 for ESP with ESN); the expected columns
come from tshark on the same files.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ikelab.dissect import dissect
from ikelab.pcap import LINKTYPE_RAW, CapturedPacket, write_pcap
from ikelab.wireshark import read_tables

from tshark_util import require_tshark

V6_SRC, V6_DST = ipaddress.ip_address("2001:db8::1").packed, ipaddress.ip_address("2001:db8::2").packed


def _checksum(data: bytes) -> int:
    """RFC 1071, written out here so the expected bytes do not come from ikelab."""
    data += b"\x00" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF or 0xFFFF


def _ipv4(proto: int, payload: bytes, *, ident: int = 0, flags_offset: int = 0) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags_offset, 64, proto, 0,
                         bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + payload


def _udp6(sport: int, dport: int, body: bytes) -> bytes:
    """A UDP datagram with its IPv6 checksum (RFC 8200 8.1: zero is not allowed)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body
    pseudo = V6_SRC + V6_DST + struct.pack("!IxxxB", len(udp), 17)
    return udp[:6] + struct.pack("!H", _checksum(pseudo + udp)) + udp[8:]


def _v6_fragment(next_header: int, fragmentable: bytes, start: int, end: int, more: bool, ident: int) -> bytes:
    """One IPv6 fragment: header, Fragment header (offset in octets, M flag, RFC 8200 4.5) and its piece."""
    data = fragmentable[start:end]
    return struct.pack("!IHBB", 0x60000000, 8 + len(data), 44, 64) + V6_SRC + V6_DST + \
        struct.pack("!BBHI", next_header, 0, start | more, ident) + data


def _tshark(path: Path, *args: str, fields: tuple[str, ...] = (), config: Path | None = None) -> list[str]:
    """Protocol and Info (then ``fields``) of every frame, as ``tshark -2`` (two passes, as the GUI) shows them."""
    env = dict(os.environ)
    if config is not None:
        env.update(WIRESHARK_CONFIG_DIR=str(config), HOME=str(config))
    cmd = [require_tshark(), "-n", "-2", "-r", str(path), *args, "-T", "fields", "-E", "separator=\t",
           "-e", "_ws.col.Protocol", "-e", "_ws.col.Info"] + [arg for f in fields for arg in ("-e", f)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _write(path: Path, packets: list[bytes], gap: float = 1.0) -> Path:
    write_pcap(path, [CapturedPacket(i * gap, p, LINKTYPE_RAW) for i, p in enumerate(packets)], linktype=LINKTYPE_RAW)
    return path


# ---------------------------------------------------------------- fragments far apart in time


@pytest.mark.parametrize("gap", [1.0, 100.0, 100_000.0])
def test_fragments_far_apart_in_time_are_joined_as_tshark_joins_them(tmp_path: Path, gap: float) -> None:
    """RFC 8200 4.5 gives a host 60 seconds to collect a datagram's fragments (ikelab.ip_fragments can), but
    tshark 4.0's reassembly has no timeout: pieces 100 s or a day apart still make one datagram, so the
    dissector does not pass the capture time on and shows what tshark shows."""
    udp4 = struct.pack("!HHHH", 1234, 1235, 8 + 296, 0) + bytes(296)
    v4 = [_ipv4(17, udp4[:160], ident=0x1111, flags_offset=0x2000),
          _ipv4(17, udp4[160:], ident=0x1111, flags_offset=160 // 8)]
    udp6 = _udp6(1234, 1235, bytes(296))
    v6 = [_v6_fragment(17, udp6, 0, 160, True, 0x2222), _v6_fragment(17, udp6, 160, len(udp6), False, 0x2222)]
    path = _write(tmp_path / "slow.pcap", v4 + v6, gap)
    theirs = _tshark(path)
    assert theirs[1] == theirs[3] == "UDP\t1234 \u2192 1235 Len=296"
    assert [f"{r.protocol}\t{r.info}" for r in dissect(path)] == theirs


# ---------------------------------------------------------------- IPv6 extension headers after reassembly


def _options(next_header: int, size: int = 8) -> bytes:
    """A Hop-by-Hop or Destination Options header padded with one PadN option (RFC 8200 4.2)."""
    return struct.pack("!BBBB", next_header, size // 8 - 1, 1, size - 4) + bytes(size - 4)


def _routing(next_header: int) -> bytes:
    """A Routing header of type 0 with Segments Left 0 and no addresses (RFC 8200 4.4)."""
    return struct.pack("!BBBB", next_header, 0, 0, 0) + bytes(4)


EXTENSION_CHAINS = {
    "Destination Options": (60, _options(17)),
    "Routing": (43, _routing(17)),
    "Hop-by-Hop (out of place, read on as tshark does)": (0, _options(17)),
    "Destination Options, then Routing": (60, _options(43) + _routing(17)),
    "Destination Options of 16 octets": (60, _options(17, 16)),
    "an atomic Fragment header inside": (60, _options(44) + struct.pack("!BBHI", 17, 0, 0, 5)),
}


def test_reassembled_ipv6_walks_its_extension_headers_as_tshark_does(tmp_path: Path) -> None:
    """RFC 8200 4.5: the fragmentable part holds the extension headers for the final destination, then the
    upper layer.  After reassembly the dissector showed "IP protocol 60" where tshark shows the UDP inside."""
    udp = _udp6(1234, 1235, bytes(range(200)))
    packets = []
    for n, (first, chain) in enumerate(EXTENSION_CHAINS.values()):
        fragmentable = chain + udp
        packets += [_v6_fragment(first, fragmentable, 0, 120, True, 0x70 + n),
                    _v6_fragment(first, fragmentable, 120, len(fragmentable), False, 0x70 + n)]
    path = _write(tmp_path / "ext6.pcap", packets)
    theirs = _tshark(path)
    rows = dissect(path)
    for n, name in enumerate(EXTENSION_CHAINS):
        assert theirs[2 * n + 1] == "UDP\t1234 \u2192 1235 Len=200", name
        assert [f"{r.protocol}\t{r.info}" for r in rows[2 * n:2 * n + 2]] == theirs[2 * n:2 * n + 2], name
        assert (rows[2 * n + 1].sport, rows[2 * n + 1].dport) == (1234, 1235), name


def test_reassembled_ipv6_with_a_truncated_extension_header_gets_a_note(tmp_path: Path) -> None:
    """A Destination Options header whose Hdr Ext Len runs past the datagram: tshark lists the frame as IPv6
    "[Malformed Packet]"; the row's note names the header after the pieces it was joined from."""
    cut = struct.pack("!BBBB", 17, 5, 1, 2) + bytes(12)  # Hdr Ext Len 5: 48 octets claimed, 16 present
    packets = [_v6_fragment(60, cut, 0, 8, True, 9), _v6_fragment(60, cut, 8, 16, False, 9)]
    rows = dissect(_write(tmp_path / "cut6.pcap", packets))
    assert rows[1].note == "2 IPv6 fragments (16 bytes): #1(8), #2(8); IPv6 extension header 60 of 48 bytes runs " \
        "past the 16 bytes left (field hdr_ext_len, offset 1)"
    assert rows[1].protocol == _tshark(tmp_path / "cut6.pcap")[1].split("\t")[0] == "IPv6"


# ---------------------------------------------------------------- ESP with Extended Sequence Numbers

EKEY, AKEY, GCM_KEY = bytes(range(16)), bytes(range(32, 64)), bytes(range(100, 120))
INNER = _ipv4(17, struct.pack("!HHHH", 7, 9, 8 + 9, 0) + b"hello esn")


def _esp_cbc(spi: int, seq: int, seq_hi: int | None) -> bytes:
    """AES-CBC + HMAC-SHA-256-128; with ``seq_hi`` the ESN high bits go into the ICV only (RFC 4303 3.3.2.1)."""
    pad = (-(len(INNER) + 2)) % 16
    plaintext = INNER + bytes(range(1, pad + 1)) + bytes([pad, 4])
    iv = bytes(range(16))
    body = struct.pack("!II", spi, seq) + iv + Cipher(algorithms.AES(EKEY), modes.CBC(iv)).encryptor().update(plaintext)
    extra = b"" if seq_hi is None else struct.pack("!I", seq_hi)
    return body + hmac.new(AKEY, body + extra, hashlib.sha256).digest()[:16]


def _esp_gcm(spi: int, seq: int, seq_hi: int | None) -> bytes:
    """AES-GCM-16; with ``seq_hi`` the AAD is SPI | Seq_hi | Seq_lo (RFC 4106 5)."""
    pad = (-(len(INNER) + 2)) % 4
    plaintext = INNER + bytes(range(1, pad + 1)) + bytes([pad, 4])
    iv = bytes(8)
    aad = struct.pack("!II", spi, seq) if seq_hi is None else struct.pack("!III", spi, seq_hi, seq)
    return struct.pack("!II", spi, seq) + iv + AESGCM(GCM_KEY[:16]).encrypt(GCM_KEY[16:] + iv, plaintext, aad)


def test_esp_with_esn_fails_the_icv_check_as_in_tshark_and_the_note_says_why(tmp_path: Path) -> None:
    """Wireshark 4.0's esp_sa table has no ESN field: tshark checks the ICV as for 32-bit sequence numbers
    and marks an ESN SA's packets bad (esp.icv_bad).  The dissector gives the same verdict, and its note
    names ESN when the ICV verifies with high bits 0, instead of only "ICV does not verify"."""
    packets = [_esp_cbc(0x1001, 1, None), _esp_cbc(0x1001, 2, 0), _esp_cbc(0x1001, 3, 7),
               _esp_gcm(0x2002, 1, None), _esp_gcm(0x2002, 2, 0)]
    path = _write(tmp_path / "esn.pcap", [_ipv4(50, p) for p in packets])
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "esp_sa").write_text(
        f'"IPv4","192.0.2.1","192.0.2.2","0x00001001","AES-CBC [RFC3602]","0x{EKEY.hex()}",'
        f'"HMAC-SHA-256-128 [RFC4868]","0x{AKEY.hex()}"\n'
        f'"IPv4","192.0.2.1","192.0.2.2","0x00002002","AES-GCM with 16 octet ICV [RFC4106]","0x{GCM_KEY.hex()}",'
        '"NULL",""\n')
    theirs = _tshark(path, "-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE",
                     fields=("esp.icv_good", "esp.icv_bad"), config=keys)
    verdicts = [line.split("\t")[2:] for line in theirs]
    assert verdicts == [["1", "0"], ["0", "1"], ["0", "1"], ["1", "0"], ["0", "1"]]
    rows = dissect(path, read_tables(keys))
    assert [r.icv_ok for r in rows] == [v == ["1", "0"] for v in verdicts]
    assert [r.decrypted for r in rows] == [True, False, False, True, False]
    esn = "verifies with ESN high bits 0 appended: the SA uses Extended Sequence Numbers (RFC 4303 2.2.1)"
    assert [esn in r.note for r in rows] == [False, True, False, False, True]
    assert rows[2].note == "ICV check failed: AUTH_HMAC_SHA2_256_128: ICV does not verify"  # high bits 7: no hint
