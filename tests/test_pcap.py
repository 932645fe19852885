"""Tests for ikelab.pcap: libpcap and pcapng writing and reading.

Independent references: Wireshark's tools.  tshark reads the files ikelab
writes (times, addresses, ports, lengths, comments); editcap, mergecap and
text2pcap write files that ikelab reads (format conversions, nanosecond
pcap, several interfaces, an independent writer from a hex dump, Linux cooked
and loopback link layers).  Big-endian files are built by hand in this file
following the format descriptions (draft-ietf-opsawg-pcap, -pcapng) and are
themselves checked with tshark.
"""

from __future__ import annotations

import io
import struct
import subprocess
import warnings
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tshark_util import require_tool

from ikelab.errors import CaptureError, CaptureWarning, ConfigError, ParseError
from ikelab.packet import ethernet, icmp_echo, ip_udp, parse_ip
from ikelab.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    CapturedPacket,
    ip_payload,
    iter_capture,
    read_capture,
    write_pcap,
    write_pcapng,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True, timeout=120).stdout


def tshark_fields(path, fields: list[str]) -> list[dict[str, str]]:
    tshark = require_tool("tshark")
    args = [tshark, "-n", "-r", str(path), "-T", "fields"]
    for field in fields:
        args += ["-e", field]
    return [dict(zip(fields, line.split("\t"))) for line in run(*args).splitlines()]


def comment_field() -> str:
    """tshark 3.6+ calls the packet comment frame.comment; older versions pkt_comment."""
    listing = run(require_tool("tshark"), "-G", "fields")
    names = {line.split("\t")[2] for line in listing.splitlines() if line.startswith("F\t")}
    return "frame.comment" if "frame.comment" in names else "pkt_comment"


# Times as written, and the microsecond timestamp (typed by hand) that must be stored.
TIMES = [
    (1700000000.123456, "1700000000.123456"),
    (1.0000005, "1.000001"),  # the float is 1.000000500000000069...: rounds up
    (1.0000015, "1.000001"),  # the float is 1.000001499999999987...: rounds down (round(t*1e6) would say .000002)
    (0.9999996, "1.000000"),  # rounding carries into the seconds
    (2**-7, "0.007812"),  # 7812.5 us exactly: a tie, to even
    (0, "0.000000"),
    (Fraction(1, 3), "0.333333"),
    (Decimal("12.0000025"), "12.000002"),  # exact decimal tie: to even
    (4294967295.999999, "4294967295.999999"),  # the last second classic pcap can hold
]
ADDRS = [("192.0.2.1", "198.51.100.7"), ("2001:db8::1", "2001:db8::2")]


def sample_records() -> list[tuple]:
    records = []
    for i, (t, _) in enumerate(TIMES):
        src, dst = ADDRS[i % 2]
        frame = ethernet(ip_udp(src, dst, 500 + i, 4500 - i, bytes([i]) * (i * 7)))
        comment = None if i % 3 == 0 else f"packet {i}: IKE_SA_INIT ✓"
        records.append((t, frame, comment))
    return records


def expected_time(text: str) -> float:
    micros = int(Decimal(text) * 10**6)
    return micros / 10**6


# ---------------------------------------------------------------- tshark reads ikelab


@pytest.mark.tshark
@pytest.mark.parametrize("writer", [write_pcap, write_pcapng])
def test_tshark_reads_what_ikelab_writes(tmp_path, writer) -> None:
    records = sample_records()
    path = tmp_path / ("out." + writer.__name__.split("_")[1])
    writer(path, records)
    comment = comment_field()
    fields = ["frame.time_epoch", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport", "udp.dstport",
              "frame.len", "frame.cap_len", comment]
    rows = tshark_fields(path, fields)
    assert len(rows) == len(records)
    for i, (row, (t, frame, text), (_, stamp)) in enumerate(zip(rows, records, TIMES)):
        assert Decimal(row["frame.time_epoch"]) == Decimal(stamp), (t, row["frame.time_epoch"])
        src, dst = ADDRS[i % 2]
        assert (row["ip.src"] or row["ipv6.src"], row["ip.dst"] or row["ipv6.dst"]) == (src, dst)
        assert (row["udp.srcport"], row["udp.dstport"]) == (str(500 + i), str(4500 - i))
        assert row["frame.len"] == row["frame.cap_len"] == str(len(frame))
        if writer is write_pcapng:
            assert row[comment] == (text or "")


@pytest.mark.tshark
def test_snaplen_cuts_like_a_capture(tmp_path) -> None:
    frame = ethernet(ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(100)))
    for writer, name in ((write_pcap, "s.pcap"), (write_pcapng, "s.pcapng")):
        writer(tmp_path / name, [(5.0, frame)], snaplen=64)
        row = tshark_fields(tmp_path / name, ["frame.len", "frame.cap_len"])[0]
        assert (row["frame.len"], row["frame.cap_len"]) == (str(len(frame)), "64")
        (packet,) = read_capture(tmp_path / name)
        assert packet.data == frame[:64] and packet.orig_len == len(frame)


# ---------------------------------------------------------------- ikelab reads Wireshark's files


@pytest.mark.tshark
@pytest.mark.parametrize("source, target", [("pcap", "pcapng"), ("pcap", "nsecpcap"), ("pcap", "pcap"), ("pcapng", "pcap")])
def test_reads_editcap_conversions(tmp_path, source, target) -> None:
    editcap = require_tool("editcap")
    records = sample_records()
    original = tmp_path / f"orig.{source}"
    (write_pcap if source == "pcap" else write_pcapng)(original, records)
    converted = tmp_path / f"conv.{target}"
    run(editcap, "-F", target, str(original), str(converted))
    assert converted.read_bytes()[:4] != b""  # editcap wrote something
    packets = read_capture(converted)
    assert [p.data for p in packets] == [r[1] for r in records]
    assert [p.time for p in packets] == [expected_time(s) for _, s in TIMES]
    assert all(p.linktype == LINKTYPE_ETHERNET for p in packets)
    if target == "nsecpcap":
        assert converted.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1"  # really the nanosecond magic


@pytest.mark.tshark
def test_reads_comments_added_by_editcap(tmp_path) -> None:
    editcap = require_tool("editcap")
    original = tmp_path / "orig.pcap"
    write_pcap(original, [(1.5, r[1]) for r in sample_records()[:3]])
    commented = tmp_path / "commented.pcapng"
    run(editcap, "-F", "pcapng", "-a", "2:ESP SPI 0xc0ffee01", str(original), str(commented))
    packets = read_capture(commented)
    assert [p.comment for p in packets] == [None, "ESP SPI 0xc0ffee01", None]


HEXDUMP = """\
2023-11-14T22:13:20.123456Z
000000 00 00 5e 00 53 02 00 00 5e 00 53 01 08 00 45 00
000010 00 1c 00 00 00 00 40 11 00 00 c0 00 02 01 c6 33
000020 64 02 01 f4 01 f4 00 08 00 00

2023-11-14T22:13:21.000001Z
000000 00 00 5e 00 53 02 00 00 5e 00 53 01 86 dd
"""
HEX_FRAMES = [
    bytes.fromhex("00005e00530200005e00530108004500" "001c000000004011" "0000c0000201c633" "640201f401f400080000"),
    bytes.fromhex("00005e00530200005e00530186dd"),
]
HEX_TIMES = [1700000000123456 / 10**6, 1700000001000001 / 10**6]  # 2023-11-14T22:13:20Z is 1700000000


@pytest.mark.tshark
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_reads_text2pcap_output(tmp_path, fmt) -> None:
    text2pcap = require_tool("text2pcap")
    (tmp_path / "dump.txt").write_text(HEXDUMP)
    out = tmp_path / f"t2p.{fmt}"
    run(text2pcap, "-q", "-F", fmt, "-t", "ISO", str(tmp_path / "dump.txt"), str(out))
    packets = read_capture(out)
    assert [p.data for p in packets] == HEX_FRAMES
    assert [p.time for p in packets] == HEX_TIMES
    assert [p.linktype for p in packets] == [LINKTYPE_ETHERNET] * 2


@pytest.mark.tshark
def test_reads_mergecap_file_with_two_link_types(tmp_path) -> None:
    mergecap = require_tool("mergecap")
    ip4 = ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"on ethernet")
    ip6 = ip_udp("2001:db8::1", "2001:db8::2", 4500, 4500, b"raw ip")
    write_pcap(tmp_path / "eth.pcap", [(10.0, ethernet(ip4)), (12.0, ethernet(ip4))])
    write_pcap(tmp_path / "raw.pcap", [(11.0, ip6)], linktype=LINKTYPE_RAW)
    merged = tmp_path / "merged.pcapng"
    run(mergecap, "-F", "pcapng", "-w", str(merged), str(tmp_path / "eth.pcap"), str(tmp_path / "raw.pcap"))
    packets = read_capture(merged)
    assert [p.time for p in packets] == [10.0, 11.0, 12.0]
    assert [p.linktype for p in packets] == [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_ETHERNET]
    assert [ip_payload(p) for p in packets] == [ip4, ip6, ip4]
    assert packets[1].interface != packets[0].interface


def _hexdump(frame: bytes) -> str:
    return "".join(f"{i:06x} " + frame[i : i + 16].hex(" ") + "\n" for i in range(0, len(frame), 16))


@pytest.mark.tshark
@pytest.mark.parametrize(
    "linktype, header",
    [
        # Linux cooked v1: packet type 0 (to us), ARPHRD_ETHER, address length 6, address (8), protocol 0x0800.
        (LINKTYPE_LINUX_SLL, bytes.fromhex("0000" "0001" "0006" "00005e0053010000" "0800")),
        # Linux cooked v2: protocol 0x0800, reserved, ifindex 2, ARPHRD_ETHER, type 0, address length 6, address.
        (LINKTYPE_LINUX_SLL2, bytes.fromhex("0800" "0000" "00000002" "0001" "00" "06" "00005e0053010000")),
        # BSD loopback: AF_INET (2) in the writer's (here little-endian) byte order.
        (LINKTYPE_NULL, bytes.fromhex("02000000")),
    ],
)
def test_ip_payload_of_cooked_and_loopback_captures(tmp_path, linktype, header) -> None:
    text2pcap = require_tool("text2pcap")
    ip4 = ip_udp("192.0.2.9", "203.0.113.5", 500, 4500, b"cooked")
    (tmp_path / "dump.txt").write_text(_hexdump(header + ip4))
    out = tmp_path / "cooked.pcap"
    run(text2pcap, "-q", "-F", "pcap", "-l", str(linktype), str(tmp_path / "dump.txt"), str(out))
    row = tshark_fields(out, ["ip.src", "ip.dst", "udp.dstport"])[0]
    assert (row["ip.src"], row["ip.dst"], row["udp.dstport"]) == ("192.0.2.9", "203.0.113.5", "4500")
    (packet,) = read_capture(out)
    assert packet.linktype == linktype
    assert ip_payload(packet) == ip4
    assert str(parse_ip(ip_payload(packet)).src) == row["ip.src"]


def test_ip_payload_other_cases() -> None:
    ip6 = ip_udp("2001:db8::1", "2001:db8::2", 1, 2, b"")
    arp = ethernet(bytes(28), ethertype=0x0806)
    assert ip_payload(CapturedPacket(0.0, arp, LINKTYPE_ETHERNET)) is None
    assert ip_payload(CapturedPacket(0.0, ip6, LINKTYPE_RAW)) == ip6
    assert ip_payload(CapturedPacket(0.0, b"\x00\x00\x00\x1e" + ip6, 108)) == ip6  # OpenBSD LOOP, AF_INET6 (macOS 30)
    assert ip_payload(CapturedPacket(0.0, b"\x0a\x00\x00\x00" + ip6, LINKTYPE_NULL)) == ip6  # Linux AF_INET6 = 10
    assert ip_payload(CapturedPacket(0.0, ip6, 147)) is None  # a user-defined link type


@pytest.mark.tshark
@pytest.mark.parametrize("linktype", [12, 14])
def test_old_dlt_raw_link_types_are_raw_ip_as_in_wireshark(tmp_path, linktype: int) -> None:
    """12 and 14 are DLT_RAW on some systems (BSD/OS, OpenBSD); Wireshark's wiretap maps both to raw IP, of either
    version (``frame.protocols`` raw:ip / raw:ipv6).  ikelab said "not IP (link type 12)" and skipped them."""
    from ikelab.dissect import dissect

    ip4 = icmp_echo("192.0.2.1", "192.0.2.2", 7, 1)
    ip6 = icmp_echo("2001:db8::1", "2001:db8::2", 7, 2)
    path = tmp_path / f"dlt{linktype}.pcap"
    write_pcap(path, [(0.0, ip4), (1.0, ip6)], linktype=linktype)
    rows = tshark_fields(path, ["frame.protocols", "ip.src", "ipv6.src"])
    assert [r["frame.protocols"].split(":")[:2] for r in rows] == [["raw", "ip"], ["raw", "ipv6"]]
    packets = read_capture(path)
    assert [ip_payload(p) for p in packets] == [ip4, ip6]
    got = [(r.src, r.protocol) for r in dissect(path)]
    assert got == [(rows[0]["ip.src"], "ICMP"), (rows[1]["ipv6.src"], "ICMPv6")]


# ---------------------------------------------------------------- hand-built big-endian files


def _be_pcap(nanoseconds: bool) -> bytes:
    frame = ethernet(icmp_echo("192.0.2.1", "192.0.2.2", 1, 1, b"big endian"))
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = struct.pack(">IHHiIII", magic, 2, 4, 0, 0, 262144, 1)
    fraction = 123456789 if nanoseconds else 123456
    out += struct.pack(">IIII", 1700000000, fraction, len(frame), len(frame)) + frame
    return out


def _ng_option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)


def _ng_block(order: str, kind: int, body: bytes) -> bytes:
    return struct.pack(order + "II", kind, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def _ng_epb(order: str, if_id: int, units: int, data: bytes, options: bytes = b"") -> bytes:
    body = struct.pack(order + "IIIII", if_id, units >> 32, units & 0xFFFFFFFF, len(data), len(data))
    return _ng_block(order, 6, body + data + bytes(-len(data) % 4) + options)


FRAME_A = ethernet(ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"A"))
IP_B = ip_udp("2001:db8::1", "2001:db8::2", 500, 500, b"BB")
FRAME_C = ethernet(ip_udp("192.0.2.3", "192.0.2.4", 500, 500, b"CCC"))


def _handmade_pcapng() -> bytes:
    """Big-endian section with three IDBs of different link types and resolutions, an SPB,
    an unknown block; then a little-endian section.  Written by hand from the pcapng description."""
    be, le = ">", "<"
    out = _ng_block(be, 0x0A0D0D0A, struct.pack(be + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += _ng_block(be, 1, struct.pack(be + "HHI", 1, 0, 0))  # Ethernet, default resolution (us)
    out += _ng_block(be, 1, struct.pack(be + "HHI", 101, 0, 0) + _ng_option(be, 9, b"\x09") + _ng_option(be, 0, b""))  # ns
    out += _ng_block(be, 1, struct.pack(be + "HHI", 1, 0, 0) + _ng_option(be, 9, b"\x94")  # 2^-20 s
                     + _ng_option(be, 14, struct.pack(be + "q", 1000)) + _ng_option(be, 0, b""))  # +1000 s offset
    out += _ng_epb(be, 0, 1700000000_250000, FRAME_A, _ng_option(be, 1, "first ✓".encode()) + _ng_option(be, 0, b""))
    out += _ng_block(be, 0x0BAD0001, b"skip me!")  # unknown block: skipped
    out += _ng_epb(be, 1, 1700000001_000000123, IP_B)
    out += _ng_epb(be, 2, 3 << 19, FRAME_C)  # 1.5 s at 2^-20 s, plus 1000 s
    out += _ng_block(be, 3, struct.pack(be + "I", len(FRAME_A)) + FRAME_A + bytes(-len(FRAME_A) % 4))  # SPB
    out += _ng_block(le, 0x0A0D0D0A, struct.pack(le + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += _ng_block(le, 1, struct.pack(le + "HHI", 101, 0, 65535))
    out += _ng_epb(le, 0, 42_000001, IP_B, _ng_option(le, 1, b"second section") + _ng_option(le, 0, b""))
    return out


def test_reads_big_endian_pcap_micro_and_nano() -> None:
    micro = read_capture(io.BytesIO(_be_pcap(False)))
    nano = read_capture(io.BytesIO(_be_pcap(True)))
    assert micro[0].time == 1700000000123456 / 10**6
    assert nano[0].time == 1700000000123456789 / 10**9
    assert micro[0].data == nano[0].data and micro[0].linktype == 1


def test_reads_handmade_pcapng() -> None:
    packets = read_capture(io.BytesIO(_handmade_pcapng()))
    assert [p.data for p in packets] == [FRAME_A, IP_B, FRAME_C, FRAME_A, IP_B]
    assert [p.linktype for p in packets] == [1, 101, 1, 1, 101]
    assert packets[0].time == 1700000000.25 and packets[0].comment == "first ✓"
    assert packets[1].time == 1700000001000000123 / 10**9
    assert packets[2].time == 1001.5
    assert packets[3].time == 0.0 and packets[3].orig_len == len(FRAME_A)  # SPB: no timestamp
    assert packets[4].time == 42.000001 and packets[4].comment == "second section"
    assert [p.interface for p in packets] == [0, 1, 2, 0, 0]


@pytest.mark.tshark
def test_tshark_agrees_with_the_handmade_files(tmp_path) -> None:
    # Checks that the hand-built files above really are what the format says.
    (tmp_path / "be.pcapng").write_bytes(_handmade_pcapng())
    rows = tshark_fields(tmp_path / "be.pcapng", ["frame.time_epoch", "frame.len"])
    assert [r["frame.len"] for r in rows] == [str(len(f)) for f in (FRAME_A, IP_B, FRAME_C, FRAME_A, IP_B)]
    epochs = [Decimal(r["frame.time_epoch"] or "NaN") for r in rows]
    assert rows[3]["frame.time_epoch"] == ""  # the SPB: tshark shows no time either
    assert epochs[0] == Decimal("1700000000.25") and epochs[1] == Decimal("1700000001.000000123")
    assert epochs[2] == Decimal("1001.5") and epochs[4] == Decimal("42.000001")
    for nano in (False, True):
        (tmp_path / "be.pcap").write_bytes(_be_pcap(nano))
        (row,) = tshark_fields(tmp_path / "be.pcap", ["frame.time_epoch", "icmp.type"])
        assert row["icmp.type"] == "8"
        assert Decimal(row["frame.time_epoch"]) == Decimal("1700000000.123456789" if nano else "1700000000.123456")


# ---------------------------------------------------------------- damage


def _small_files() -> dict[str, bytes]:
    records = [(1.0, FRAME_A, "a"), (2.0, FRAME_C), (3.0, FRAME_A, "c")]
    files = {}
    for name, writer in (("pcap", write_pcap), ("pcapng", write_pcapng)):
        buffer = io.BytesIO()
        writer(buffer, records)
        files[name] = buffer.getvalue()
    files["handmade"] = _handmade_pcapng()
    return files


def _read_quietly(data: bytes, strict: bool) -> list[CapturedPacket]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        return read_capture(io.BytesIO(data), strict=strict)


@pytest.mark.parametrize("name", ["pcap", "pcapng", "handmade"])
def test_every_truncation_gives_a_prefix_or_a_capture_error(name) -> None:
    data = _small_files()[name]
    full = read_capture(io.BytesIO(data))
    errors = 0
    for cut in range(len(data)):
        try:
            packets = read_capture(io.BytesIO(data[:cut]))
        except CaptureError:
            errors += 1
            try:
                packets = _read_quietly(data[:cut], strict=False)
            except CaptureError:  # cut inside the file header: no capture at all, strict or not
                packets = []
                assert cut < (24 if name == "pcap" else int.from_bytes(data[4:8], "little")), cut
        assert packets == full[: len(packets)] and len(packets) < len(full) + (cut == len(data))
    assert errors > len(data) // 2


@pytest.mark.parametrize("name", ["pcap", "pcapng"])
def test_a_file_cut_inside_its_own_header_is_an_error_even_when_not_strict(name) -> None:
    """``strict=False`` forgives a truncated last record; a file that ends inside its file header (or pcapng
    section header) is no capture, and used to read as an empty one with a warning, so ``dissect`` said nothing."""
    data = _small_files()[name]
    for cut in (4, 10, 20):
        with pytest.raises(CaptureError, match="truncated capture: file ends inside"):
            read_capture(io.BytesIO(data[:cut]), strict=False)


def test_a_text_mode_or_closed_file_object_is_a_clear_error(tmp_path) -> None:
    """``read_capture(open("x.pcap"))`` raised UnicodeDecodeError from deep inside; a StringIO, TypeError."""
    path = tmp_path / "x.pcap"
    path.write_bytes(_small_files()["pcap"])
    for source in (open(path), open(path, errors="replace"), io.StringIO("abc")):
        with source, pytest.raises(ConfigError, match="open in text mode: a capture is binary, open it with 'rb'"):
            read_capture(source)
    closed = open(path, "rb")
    closed.close()
    with pytest.raises(CaptureError, match="cannot read the capture: read of closed file"):
        read_capture(closed)


def test_truncated_last_record_is_reported() -> None:
    for name, data in _small_files().items():
        cut = data[:-5]
        with pytest.raises(CaptureError, match="truncated") as info:
            read_capture(io.BytesIO(cut))
        assert 0 < info.value.offset < len(cut)
        with pytest.warns(CaptureWarning, match="truncated"):
            partial = read_capture(io.BytesIO(cut), strict=False)
        assert partial == read_capture(io.BytesIO(data))[:-1], name


@SETTINGS
@given(st.sampled_from(["pcap", "pcapng", "handmade"]), st.data())
def test_any_byte_change_gives_packets_or_a_capture_error(name, data) -> None:
    original = _small_files()[name]
    index = data.draw(st.integers(0, len(original) - 1))
    value = data.draw(st.integers(0, 255))
    damaged = original[:index] + bytes([value]) + original[index + 1 :]
    for strict in (True, False):
        try:
            packets = _read_quietly(damaged, strict)
        except CaptureError as error:
            assert error.offset >= 0
        else:
            assert all(isinstance(p, CapturedPacket) for p in packets)
            for p in packets:
                try:
                    ip_payload(p)
                except ParseError:
                    pass


@SETTINGS
@given(st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a"]), st.binary(max_size=200))
def test_garbage_after_a_valid_magic(magic, tail) -> None:
    for strict in (True, False):
        try:
            _read_quietly(magic + tail, strict)
        except CaptureError:
            pass


def test_foreign_and_empty_files(tmp_path) -> None:
    with pytest.raises(CaptureError, match="not a pcap") as info:
        read_capture(io.BytesIO(b"GIF89a" + bytes(100)))
    assert info.value.offset == 0 and "47494638" in str(info.value)
    (tmp_path / "empty.pcap").write_bytes(b"")
    with pytest.raises(CaptureError, match="empty"):
        read_capture(tmp_path / "empty.pcap")
    (tmp_path / "notes.txt").write_bytes(b"# not a capture\n")
    with pytest.raises(CaptureError) as named:  # a file given by its path is named: which of several was it?
        read_capture(tmp_path / "notes.txt")
    assert str(named.value) == f"{tmp_path / 'notes.txt'}: not a pcap or pcapng file: magic 23206e6f (offset 0)"
    assert named.value.offset == 0
    bad_version = bytearray(_small_files()["pcap"])
    bad_version[4] = 3
    with pytest.raises(CaptureError, match="version"):
        read_capture(io.BytesIO(bytes(bad_version)))
    bad_micros = bytearray(_small_files()["pcap"])
    bad_micros[24 + 4 : 24 + 8] = (10**6).to_bytes(4, "little")  # ts_usec must stay below 1,000,000
    with pytest.raises(CaptureError, match="microseconds") as info:
        read_capture(io.BytesIO(bytes(bad_micros)))
    assert info.value.offset == 28
    bad_trailer = bytearray(_small_files()["pcapng"])
    bad_trailer[-1] ^= 0x40
    with pytest.raises(CaptureError, match="trailer"):
        read_capture(io.BytesIO(bytes(bad_trailer)))


# ---------------------------------------------------------------- round trips, streaming, arguments

record_strategy = st.tuples(
    st.one_of(st.floats(0, 4e9, allow_nan=False), st.integers(0, 2**32 - 1)),
    st.binary(max_size=200),
    st.one_of(st.none(), st.text(max_size=40)),
)


@SETTINGS
@given(st.lists(record_strategy, max_size=8))
def test_round_trip(records) -> None:
    for writer in (write_pcap, write_pcapng):
        buffer = io.BytesIO()
        writer(buffer, records)
        buffer.seek(0)
        packets = read_capture(buffer)
        assert [p.data for p in packets] == [r[1] for r in records]
        for packet, (t, _, comment) in zip(packets, records):
            micros = round(Fraction(packet.time) * 10**6)
            assert abs(micros - Fraction(t) * 10**6) <= Fraction(1, 2)
            assert packet.comment == (comment if writer is write_pcapng else None)
            assert packet.linktype == LINKTYPE_ETHERNET and packet.orig_len == len(packet.data)


def test_captured_packets_of_several_link_types_round_trip() -> None:
    packets = [
        CapturedPacket(1.0, FRAME_A, LINKTYPE_ETHERNET, "eth"),
        CapturedPacket(2.0, IP_B, LINKTYPE_RAW, orig_len=1400),  # captured short: the wire length is kept
    ]
    buffer = io.BytesIO()
    write_pcapng(buffer, packets)
    back = read_capture(io.BytesIO(buffer.getvalue()))
    assert [(p.time, p.data, p.linktype, p.comment) for p in back] == [(1.0, FRAME_A, 1, "eth"), (2.0, IP_B, 101, None)]
    assert [p.orig_len for p in back] == [len(FRAME_A), 1400]
    with pytest.raises(ConfigError, match="link type"):
        write_pcap(io.BytesIO(), packets)


def test_iter_capture_streams() -> None:
    buffer = io.BytesIO()
    write_pcap(buffer, ((i / 1000, FRAME_A) for i in range(3000)))
    buffer.seek(0)
    iterator = iter_capture(buffer)
    first = next(iterator)
    assert first.time == 0.0 and buffer.tell() < 1000  # only the first record has been read
    assert sum(1 for _ in iterator) == 2999


@pytest.mark.parametrize(
    "records",
    [
        [(-1.0, b"x")],
        [(float("nan"), b"x")],
        [(float("inf"), b"x")],
        [(2.0**32, b"x")],
        [("1.0", b"x")],
        [(1.0, "text")],
        [(1.0, b"x", 5)],
        [(1.0,)],
        [b"not a record"],
    ],
)
def test_bad_records_are_config_errors(records) -> None:
    with pytest.raises(ConfigError):
        write_pcap(io.BytesIO(), records)
    if records != [(2.0**32, b"x")]:  # pcapng has 64-bit timestamps
        with pytest.raises(ConfigError):
            write_pcapng(io.BytesIO(), records)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        write_pcap(12345, [])  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        write_pcap(io.BytesIO(), [], linktype=-1)
    with pytest.raises(ConfigError):
        write_pcapng(io.BytesIO(), [], linktype=70000)
    with pytest.raises(ConfigError):
        read_capture(12345)  # type: ignore[arg-type]


def _spb_with_odd_snaplen() -> tuple[bytes, bytes]:
    """A pcapng section whose interface has snaplen 62, and one SPB of a longer frame: the 62 kept octets, then
    2 octets of padding to the 32-bit boundary (pcapng, Simple Packet Block).  Returns (file, frame)."""
    le = "<"
    frame = ethernet(ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(range(100))))
    out = _ng_block(le, 0x0A0D0D0A, struct.pack(le + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += _ng_block(le, 1, struct.pack(le + "HHI", 1, 0, 62))
    out += _ng_block(le, 3, struct.pack(le + "I", len(frame)) + frame[:62] + bytes(2))
    return out, frame


def test_a_simple_packet_block_holds_at_most_snaplen_octets() -> None:
    """pcapng: an SPB has no captured-length field; it is min(original length, the interface's snaplen), so the
    padding after the kept octets is not packet data."""
    data, frame = _spb_with_odd_snaplen()
    (packet,) = read_capture(io.BytesIO(data))
    assert packet.data == frame[:62] and packet.orig_len == len(frame)


@pytest.mark.tshark
def test_tshark_agrees_on_the_simple_packet_block_snaplen(tmp_path) -> None:
    data, frame = _spb_with_odd_snaplen()
    (tmp_path / "spb.pcapng").write_bytes(data)
    (row,) = tshark_fields(tmp_path / "spb.pcapng", ["frame.len", "frame.cap_len"])
    assert (row["frame.len"], row["frame.cap_len"]) == (str(len(frame)), "62")
    (packet,) = read_capture(tmp_path / "spb.pcapng")
    assert (packet.orig_len, len(packet.data)) == (len(frame), 62)
