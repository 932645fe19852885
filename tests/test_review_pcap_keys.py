"""Review of the write side of ikelab.pcap and of the key tables of ikelab.wireshark.

References, none of them ikelab: a small reader written here with ``struct`` from the format
descriptions (draft-ietf-opsawg-pcap 4-5: file header and record; draft-ietf-opsawg-pcapng 3-4: block
layout, options and their padding, SHB, IDB, EPB), hand-typed bytes and UAT lines, and tshark 4.0 with
capinfos, which read the files and decrypt (or refuse) with the tables.
"""

from __future__ import annotations

import io
import math
import os
import struct
import subprocess
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from tshark_util import require_tool, require_tshark, run_tshark

from ikelab.errors import CaptureError, ConfigError
from ikelab.packet import ethernet, icmp_echo, ip_udp
from ikelab.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    CapturedPacket,
    read_capture,
    write_pcap,
    write_pcapng,
)
from ikelab.uat import quote, split_line
from ikelab.wireshark import (
    EspSaRecord,
    IkeSaRecord,
    format_esp_sa_table,
    format_ikev2_table,
    parse_esp_sa_table,
    parse_ikev2_table,
    read_tables,
    write_tables,
)

V4 = ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"ike" * 5)
V6 = ip_udp("2001:db8::1", "2001:db8::2", 4500, 4500, b"\x00" * 4 + b"x" * 9)
SLL = b"\x00\x00\x00\x01\x00\x06" + bytes(8) + b"\x08\x00"  # Linux cooked v1: packet type .. protocol IPv4


# ---------------------------------------------------------------- an independent reader


def read_pcap_by_hand(data: bytes) -> tuple[tuple, list[tuple[int, int, int, int, bytes]]]:
    """draft-ietf-opsawg-pcap 4 and 5: the 24-byte header fields and each record (sec, usec, caplen, len, data)."""
    header = struct.unpack_from("<IHHiIII", data, 0)
    records, pos = [], 24
    while pos < len(data):
        sec, usec, caplen, length = struct.unpack_from("<IIII", data, pos)
        records.append((sec, usec, caplen, length, data[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    assert pos == len(data)
    return header, records


def _options(body: bytes) -> list[tuple[int, bytes]]:
    """pcapng 3.5: code, length, value padded to 32 bits; the list ends with opt_endofopt, the block with it."""
    out, pos = [], 0
    while True:
        code, length = struct.unpack_from("<HH", body, pos)
        value, pad = body[pos + 4 : pos + 4 + length], body[pos + 4 + length : pos + 4 + length + (-length % 4)]
        assert pad == bytes(len(pad)), "option padding must be zeros"
        pos += 4 + length + (-length % 4)
        if code == 0:
            assert length == 0 and pos == len(body)
            return out
        out.append((code, value))


def read_pcapng_by_hand(data: bytes) -> list[tuple[int, bytes]]:
    """pcapng 3.1: every block as (type, body), checking both total lengths and the 32-bit alignment."""
    blocks, pos = [], 0
    while pos < len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        assert total % 4 == 0 and total >= 12 and pos + total <= len(data)
        assert struct.unpack_from("<I", data, pos + total - 4)[0] == total, "trailing Block Total Length"
        blocks.append((kind, data[pos + 8 : pos + total - 4]))
        pos += total
    return blocks


def _decrypted(path: Path, fields: list[str], esp_sa: list[str]) -> list[list[str]]:
    """tshark's fields with ``esp_sa`` rows and ESP decryption (and ICV checking) switched on."""
    args = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE", "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    return [line.split("\t") for line in run_tshark(path, args, esp_sa=esp_sa).splitlines()]


def _tshark(path: Path, *fields: str) -> list[list[str]]:
    args = [require_tshark(), "-n", "-r", str(path), "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


# ---------------------------------------------------------------- classic pcap


LINKS = [(LINKTYPE_ETHERNET, ethernet(V4)), (LINKTYPE_RAW, V6), (LINKTYPE_IPV4, V4), (LINKTYPE_IPV6, V6),
         (LINKTYPE_LINUX_SLL, SLL + V4)]

#: Wireshark's short names of the encapsulations (``tshark -F pcap -T`` lists, capinfos prints them)
ENCAP_NAMES = {LINKTYPE_ETHERNET: "ether", LINKTYPE_RAW: "rawip", LINKTYPE_IPV4: "rawip4", LINKTYPE_IPV6: "rawip6",
               LINKTYPE_LINUX_SLL: "linux-sll"}


@pytest.mark.parametrize("linktype, frame", LINKS, ids=[str(k) for k, _ in LINKS])
def test_pcap_header_and_records_by_hand_and_by_tshark(tmp_path: Path, linktype: int, frame: bytes) -> None:
    path = tmp_path / "x.pcap"
    times = [0.9999999, 1.0000005, Fraction(1, 3), Decimal("12.0000025"), -0.0, 4294967295.999999]
    write_pcap(path, [(t, frame) for t in times], linktype=linktype)
    header, records = read_pcap_by_hand(path.read_bytes())
    assert header == (0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    stamps = [(1, 0), (1, 1), (0, 333333), (12, 2), (0, 0), (4294967295, 999999)]  # typed by hand
    assert [(s, u, c, n, d) for s, u, c, n, d in records] == [(s, u, len(frame), len(frame), frame) for s, u in stamps]
    rows = _tshark(path, "frame.time_epoch", "frame.len", "frame.cap_len", "ip.src", "ipv6.src")
    assert [Decimal(r[0]) for r in rows] == [Decimal(s) + Decimal(u) / 10**6 for s, u in stamps]
    assert all(r[1] == r[2] == str(len(frame)) and (r[3] or r[4]) for r in rows)
    capinfos = require_tool("capinfos")
    head, values = subprocess.run([capinfos, "-T", "-M", "-t", "-E", "-l", "-c", str(path)], capture_output=True,
                                  text=True, timeout=60, check=True).stdout.splitlines()
    info = dict(zip(head.split("\t"), values.split("\t")))
    assert (info["File type"], info["File encapsulation"], info["Packet size limit"], info["Number of packets"]) == (
        "pcap", ENCAP_NAMES[linktype], "65535", str(len(times)))


def test_a_time_that_rounds_past_32_bits_of_seconds_is_refused_by_pcap_not_pcapng(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="32 bits"):
        write_pcap(io.BytesIO(), [(4294967295.9999996, V4)], linktype=LINKTYPE_RAW)
    write_pcapng(tmp_path / "x.pcapng", [(4294967295.9999996, V4)], linktype=LINKTYPE_RAW)
    assert _tshark(tmp_path / "x.pcapng", "frame.time_epoch") == [["4294967296.000000000"]]


@pytest.mark.parametrize("time", [-1e-9, math.nan, -math.inf, Decimal("NaN"), Decimal("-Infinity"), "1", None, True])
def test_times_that_cannot_be_written_are_config_errors(tmp_path: Path, time: object) -> None:
    for writer in (write_pcap, write_pcapng):
        with pytest.raises(ConfigError, match="record 1"):
            writer(tmp_path / "t", [(1.0, V4), (time, V4)])
        assert not (tmp_path / "t").exists()  # no half-written capture is left behind


def test_a_failing_record_source_leaves_no_file(tmp_path: Path) -> None:
    def records():
        yield (1.0, V4)
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError):
        write_pcapng(tmp_path / "g.pcapng", records())
    assert not (tmp_path / "g.pcapng").exists()


def test_link_types_that_cannot_be_written_are_config_errors() -> None:
    """pcap 4: bits 16-25 of LinkType are reserved (tshark: "network type reserved field not zero")."""
    for linktype in (0x10000, 0x03FF0001, -1, 1.0, "1", True):
        with pytest.raises(ConfigError, match="link type"):
            write_pcap(io.BytesIO(), [], linktype=linktype)  # type: ignore[arg-type]
    for linktype in (0x10000, "eth", 1.5, None, True):
        for writer in (write_pcap, write_pcapng):
            with pytest.raises(ConfigError, match="record 0: CapturedPacket.linktype"):
                writer(io.BytesIO(), [CapturedPacket(1.0, V4, linktype)])  # type: ignore[arg-type]


@pytest.mark.parametrize("packet, words", [
    (CapturedPacket(1.0, V4, LINKTYPE_ETHERNET, orig_len=2**32), "orig_len"),
    (CapturedPacket(1.0, V4, LINKTYPE_ETHERNET, orig_len=100.5), "orig_len"),  # type: ignore[arg-type]
    (CapturedPacket(1.0, V4, LINKTYPE_ETHERNET, orig_len=-1), "orig_len"),
    (CapturedPacket(1.0, V4, LINKTYPE_ETHERNET, comment=5), "comment"),  # type: ignore[arg-type]
    (CapturedPacket(1.0, V4, LINKTYPE_ETHERNET, comment="lone \ud800"), "UTF-8"),
    ((1.0, V4, "lone \udfff"), "UTF-8"),
])
def test_captured_packet_fields_that_cannot_be_written_are_config_errors(packet: object, words: str) -> None:
    for writer in (write_pcap, write_pcapng):
        with pytest.raises(ConfigError, match=words):
            writer(io.BytesIO(), [packet])


def test_packets_longer_than_the_default_snaplen_are_refused_not_cut(tmp_path: Path) -> None:
    """A maximum-size IPv4 packet in Ethernet is 65549 bytes: the default snaplen 65535 would lose 14."""
    big = ethernet(ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(65535 - 28)))
    for writer, name in ((write_pcap, "b.pcap"), (write_pcapng, "b.pcapng")):
        with pytest.raises(ConfigError, match="65549-byte packet is longer than the default snaplen 65535"):
            writer(tmp_path / name, [(1.0, big)])
        writer(tmp_path / name, [(1.0, big)], snaplen=262144)
        assert _tshark(tmp_path / name, "frame.len", "frame.cap_len", "udp.length") == [["65549", "65549", "65515"]]
        assert read_capture(tmp_path / name)[0].data == big


def test_more_than_262144_captured_bytes_are_refused_as_tshark_refuses_them(tmp_path: Path) -> None:
    # The reference: a file built by hand with one 262145-byte record is one tshark will not read ...
    by_hand = tmp_path / "hand.pcap"
    by_hand.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 2**32 - 1, 1)
                        + struct.pack("<IIII", 1, 0, 262145, 262145) + bytes(262145))
    result = subprocess.run([require_tshark(), "-r", str(by_hand)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "262145" in result.stderr
    # ... so ikelab does not write one, even with a snaplen that would allow it; 262144 bytes are fine
    for writer in (write_pcap, write_pcapng):
        with pytest.raises(ConfigError, match="262145 captured bytes"):
            writer(io.BytesIO(), [(1.0, bytes(262145))], snaplen=2**32 - 1)
    write_pcapng(tmp_path / "max.pcapng", [(1.0, bytes(262144))], snaplen=0)  # pcapng 4.2: SnapLen 0, no limit
    write_pcap(tmp_path / "max.pcap", [(1.0, bytes(262144))], snaplen=2**32 - 1)
    for name in ("max.pcapng", "max.pcap"):
        assert _tshark(tmp_path / name, "frame.len", "frame.cap_len") == [["262144", "262144"]]


def test_a_packet_captured_short_keeps_its_wire_length(tmp_path: Path) -> None:
    short = CapturedPacket(2.5, ethernet(V4)[:40], LINKTYPE_ETHERNET, orig_len=900)
    for writer, name in ((write_pcap, "s.pcap"), (write_pcapng, "s.pcapng")):
        writer(tmp_path / name, [short, (3.0, ethernet(V4))], snaplen=50)
        assert _tshark(tmp_path / name, "frame.len", "frame.cap_len") == [["900", "40"],
                                                                         [str(len(V4) + 14), "50"]]
    _, records = read_pcap_by_hand((tmp_path / "s.pcap").read_bytes())
    assert [(c, n) for _, _, c, n, _ in records] == [(40, 900), (50, len(V4) + 14)]


# ---------------------------------------------------------------- pcapng


def test_pcapng_blocks_by_hand(tmp_path: Path) -> None:
    """SHB, IDB with if_tsresol, EPBs with their 32-bit padding and comments, a second IDB for a second link type."""
    path = tmp_path / "x.pcapng"
    frames = [ethernet(V4)[:-1], ethernet(V4)[:-2], ethernet(V4)[:-3], ethernet(V4)]  # every padding length
    records: list = [(0.9999999 + i, f, "é," * i if i % 2 else None) for i, f in enumerate(frames)]
    records.append(CapturedPacket(7.25, V6, LINKTYPE_RAW, comment="raw"))
    write_pcapng(path, records, snaplen=1500)
    blocks = read_pcapng_by_hand(path.read_bytes())
    kinds = [k for k, _ in blocks]
    assert kinds == [0x0A0D0D0A, 1, 6, 6, 6, 6, 1, 6]
    shb = blocks[0][1]
    assert struct.unpack_from("<IHHq", shb, 0) == (0x1A2B3C4D, 1, 0, -1)  # byte-order magic, 1.0, length unknown
    assert _options(shb[16:]) == [(4, b"ikelab")]  # shb_userappl
    for idb, linktype in ((blocks[1][1], LINKTYPE_ETHERNET), (blocks[6][1], LINKTYPE_RAW)):
        assert struct.unpack_from("<HHI", idb, 0) == (linktype, 0, 1500)
        assert _options(idb[8:]) == [(9, b"\x06")]  # if_tsresol: 10^-6
    epbs = [body for kind, body in blocks if kind == 6]
    for n, (body, record) in enumerate(zip(epbs, records)):
        if_id, high, low, caplen, length = struct.unpack_from("<IIIII", body, 0)
        data = record.data if isinstance(record, CapturedPacket) else record[1]
        comment = record.comment if isinstance(record, CapturedPacket) else record[2]
        micros = 7_250_000 if n == 4 else (n + 1) * 10**6  # 0.9999999 + n rounds up to the next second
        assert (if_id, (high << 32) | low, caplen, length) == (1 if n == 4 else 0, micros, len(data), len(data))
        end = 20 + caplen + (-caplen % 4)
        assert body[20 : 20 + caplen] == data and body[20 + caplen : end] == bytes(-caplen % 4)
        if comment is None:
            assert end == len(body)  # no options at all
        else:
            assert _options(body[end:]) == [(1, comment.encode("utf-8"))]
    rows = _tshark(path, "frame.time_epoch", "frame.len", "frame.cap_len", "frame.comment", "frame.interface_id")
    assert [r[0] for r in rows] == ["1.000000000", "2.000000000", "3.000000000", "4.000000000", "7.250000000"]
    assert [r[3] for r in rows] == ["", "é,", "", "é,é,é,", "raw"]
    assert [r[4] for r in rows] == ["0", "0", "0", "0", "1"]


def test_an_overlong_comment_is_refused() -> None:
    write_pcapng(io.BytesIO(), [(1.0, V4, "x" * 65535)])
    with pytest.raises(ConfigError, match="65536 bytes"):
        write_pcapng(io.BytesIO(), [(1.0, V4, "é" * 32768)])  # 65536 UTF-8 octets


# ---------------------------------------------------------------- key tables


def test_quote_escapes_as_wireshark_writes_them() -> None:
    """uat_esc: a quote, a backslash and octets outside printable ASCII as \\xNN; a comma stays."""
    assert quote('a"b\\c,d\té') == '"a\\x22b\\x5cc,d\\x09\\xc3\\xa9"'  # typed by hand
    assert split_line(quote('a"b\\c,d\té') + ',x', 1, "t") == [('a"b\\c,d\té', True), ("x", False)]


def _esp_capture(tmp_path: Path) -> tuple[Path, EspSaRecord]:
    from ikelab.esp import EspSa
    from ikelab.rand import DeterministicRandom

    rng = DeterministicRandom(5)
    key = rng.random_bytes(20)
    sa = EspSa(0x4444, direction="outbound", encryption="ENCR_AES_GCM_16", key_bits=128, encryption_key=key,
               tunnel=("203.0.113.1", "203.0.113.2"), rng=rng.fork("iv"))
    frames = [sa.protect_packet(icmp_echo("10.1.0.5", "10.2.0.9", 1, n, b"hi")) for n in (1, 2)]
    path = tmp_path / "esp.pcap"
    write_pcap(path, [(float(n), ethernet(f)) for n, f in enumerate(frames)])
    rec = EspSaRecord("IPv4", "203.0.113.1", "203.0.113.2", 0x4444, "AES-GCM with 16 octet ICV [RFC4106]", key,
                      "NULL", b"")
    return path, rec


def test_an_aead_esp_row_carries_null_authentication(tmp_path: Path) -> None:
    """packet-esp.c: "AES-GCM encryption can only be used with NULL authentication"; with NULL it decrypts."""
    path, rec = _esp_capture(tmp_path)
    enc, integ = rec.transforms()
    assert (enc.name, enc.key_bits, integ) == ("ENCR_AES_GCM_16", 128, None)
    line = format_esp_sa_table([rec]).splitlines()[-1]
    assert line.endswith(',"NULL",""')
    assert _decrypted(path, ["icmp.seq", "esp.icv_good"], [line]) == [["1", "1"], ["2", "1"]]
    hmac = line.replace('"NULL",""', '"HMAC-SHA-256-128 [RFC4868]","0x' + "11" * 32 + '"')
    assert _decrypted(path, ["icmp.seq", "esp.icv_good"], [hmac]) == [["", ""], ["", ""]]
    with pytest.raises(CaptureError, match="line 1: .*AEAD.*must be 'NULL'"):
        parse_esp_sa_table(hmac)
    wrong = replace(rec, auth="HMAC-SHA-256-128 [RFC4868]", auth_key=b"\x11" * 32)
    with pytest.raises(ConfigError, match="AEAD"):
        wrong.transforms()
    with pytest.raises(ConfigError, match="record 0"):
        format_esp_sa_table([wrong])


GCM_ROW = ("0102030405060708,1112131415161718," + "aa" * 36 + "," + "bb" * 36
           + ',"AES-GCM-256 with 16 octet ICV [RFC5282]",{ka},{kb},"{integ}"')


@pytest.mark.parametrize("ka, kb, integ, tshark_says", [
    ("cc" * 32, "dd" * 32, "HMAC_SHA2_256_128 [RFC4868]", "requires selecting NONE integrity algorithm"),
    ("1111", "2222", "NONE [RFC4306]", "Length of SK_ai (2 octets) does not match"),
])
def test_an_aead_ikev2_row_has_no_integrity_as_tshark_demands(tmp_path: Path, ka: str, kb: str, integ: str,
                                                              tshark_says: str) -> None:
    row = GCM_ROW.format(ka=ka, kb=kb, integ=integ)
    (tmp_path / "ikev2_decryption_table").write_text(row + "\n")
    write_pcap(tmp_path / "one.pcap", [(1.0, ethernet(V4))])
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path), HOME=str(tmp_path))
    result = subprocess.run([require_tshark(), "-n", "-r", str(tmp_path / "one.pcap")], capture_output=True,
                            text=True, env=env, timeout=60)
    assert tshark_says in result.stderr  # the reference refuses the whole table
    with pytest.raises(CaptureError, match="line 1"):
        parse_ikev2_table(row)
    (good,) = parse_ikev2_table(GCM_ROW.format(ka="", kb="", integ="NONE [RFC4306]"))
    assert good.transforms()[1] is None
    bad = IkeSaRecord(good.spi_i, good.spi_r, good.sk_ei, good.sk_er, good.encr, bytes.fromhex(ka),
                      bytes.fromhex(kb), integ)
    with pytest.raises(ConfigError, match="record 0"):
        format_ikev2_table([bad])
    if integ != "NONE [RFC4306]":
        with pytest.raises(ConfigError, match="AEAD"):
            bad.transforms()


def test_an_any_row_is_written_as_a_comment_so_tshark_keeps_the_table(tmp_path: Path) -> None:
    """Wireshark 4.0's esp_sa protocol is IPv4 or IPv6: "esp_sa:1: invalid value: Any" drops every row."""
    path, rec = _esp_capture(tmp_path)
    any_row = EspSaRecord("Any", "*", "*", 0x5555, rec.encr, rec.encr_key, "NULL", b"")
    keys = tmp_path / "keys"
    write_tables(keys, [], [any_row, rec])
    text = (keys / "esp_sa").read_text()
    assert [line.startswith("#") for line in text.splitlines()] == [True, True, False]
    assert read_tables(keys).esp == (any_row, rec)  # ikelab still reads both
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    assert _decrypted(path, ["icmp.seq"], rows) == [["1"], ["2"]]


BAD_RECORDS = [
    (IkeSaRecord(b"12345", b"12345678", b"k" * 16, b"k" * 16, "AES-CBC-128 [RFC3602]", b"a" * 32, b"a" * 32,
                 "HMAC_SHA2_256_128 [RFC4868]"), "SPIi has 5 bytes"),
    (IkeSaRecord(b"12345678", b"12345678", "kk", b"k" * 16, "AES-CBC-128 [RFC3602]", b"a" * 32, b"a" * 32,
                 "HMAC_SHA2_256_128 [RFC4868]"), "hex"),  # type: ignore[arg-type]
    (EspSaRecord("IPv4", "192.0.2.1", "192.0.2.2", 2**33, "AES-CBC [RFC3602]", b"k" * 16, "NULL", b""), "32 bits"),
    (EspSaRecord("IPv4", "192.0.2.1", "192.0.2.2", 5, "AES-CBC [RFC3602]", "k" * 16, "NULL", b""), "hex"),
    (EspSaRecord("IPv4", "192.0.2.1", "192.0.2.2", 5, "AES-CBC [RFC3602]", b"k" * 17, "NULL", b""), "17-byte key"),
    (EspSaRecord("IPv4", "2001:db8::1", "*", 5, "AES-CBC [RFC3602]", b"k" * 16, "NULL", b""), "IPv6 address"),
]


@pytest.mark.parametrize("record, words", BAD_RECORDS, ids=[w for _, w in BAD_RECORDS])
def test_a_record_that_would_not_read_back_is_not_written(tmp_path: Path, record: object, words: str) -> None:
    """tshark 4.0 refuses a whole table over one bad row, so such a record is a ConfigError, not a file."""
    fmt = format_ikev2_table if isinstance(record, IkeSaRecord) else format_esp_sa_table
    with pytest.raises(ConfigError, match=f"record 0 .*{words}"):
        fmt([record])
    with pytest.raises(ConfigError, match="record 0: expected"):
        (format_esp_sa_table if fmt is format_ikev2_table else format_ikev2_table)([record])
