"""Review: captures written the way other tools write them, dissected by ikelab and by tshark 4.0, frame by frame.

The files are built here byte by byte with :mod:`struct` (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng:
SHB, IDB with ``if_tsresol`` and ``if_tsoffset``, EPB, SPB, the obsolete PB, options, unknown blocks, a second
section in the other byte order) around packets built by scapy (IKE on UDP 500 and 4500, ESP, ICMP, ARP).
Link-layer headers follow tcpdump.org's LINK-LAYER HEADER TYPES.  The expected columns are tshark's
(``-n -2``: no name resolution, two passes); ikelab's own writer and dissector never compute them.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.all import ARP, ICMP, IP, UDP, Dot1Q, Ether, IPv6, Raw, raw
from scapy.layers.ipsec import ESP
from tshark_util import run_tshark

from ikelab.dissect import Row, dissect
from ikelab.pcap import read_capture

A, B = "192.0.2.1", "192.0.2.2"
MAC = "02:00:00:00:00:01"
SLL_ADDR = bytes.fromhex("020000000001") + b"\x00\x00"
T0 = 1_700_000_000  # seconds: an epoch where a float keeps only about 0.24 us


def _ike(exchange: int = 34, flags: int = 0x08, mid: int = 0) -> bytes:
    """A bare RFC 7296 3.1 IKE header (no payloads): SPIs, next payload, version 2.0, exchange, flags, MID, length."""
    return struct.pack("!8s8sBBBBII", b"\x11" * 8, bytes(8), 0, 0x20, exchange, flags, mid, 28)


IKE500 = raw(IP(src=A, dst=B) / UDP(sport=500, dport=500) / Raw(_ike()))
IKE4500 = raw(IP(src=A, dst=B) / UDP(sport=4500, dport=4500) / Raw(bytes(4) + _ike(35, 0x08, 2)))  # non-ESP marker
ESP50 = raw(IP(src=A, dst=B) / ESP(spi=0x0D713155, seq=1, data=b"x" * 20))
ESP_UDP = raw(IP(src=A, dst=B) / UDP(sport=4500, dport=4500) / ESP(spi=0x12345678, seq=7, data=b"y" * 20))
IKE6 = raw(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=500, dport=500) / Raw(_ike()))
PING = raw(IP(src=A, dst=B) / ICMP(id=1, seq=1) / Raw(b"p" * 8))
ARP_BODY = raw(ARP(hwsrc=MAC, psrc=A, pdst=B))
ETH_IP = raw(Ether(src=MAC, dst="02:00:00:00:00:02", type=0x0800))
ETH_ARP = raw(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff", type=0x0806)) + ARP_BODY
VLAN_IKE = raw(Ether(src=MAC, dst="02:00:00:00:00:02") / Dot1Q(vlan=5) / IP(src=A, dst=B)
               / UDP(sport=500, dport=500) / Raw(_ike()))
VLAN_ARP = raw(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=5) / ARP(hwsrc=MAC, psrc=A, pdst=B))


def _sll(proto: int, payload: bytes) -> bytes:
    """LINKTYPE_LINUX_SLL: packet type, ARPHRD_ETHER, address length 6, 8-byte address, protocol."""
    return struct.pack("!HHH8sH", 0, 1, 6, SLL_ADDR, proto) + payload


def _sll2(proto: int, payload: bytes) -> bytes:
    """LINKTYPE_LINUX_SLL2: protocol, reserved, interface index, ARPHRD_ETHER, packet type, length 6, address."""
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, 0, 6, SLL_ADDR) + payload


# draft-ietf-opsawg-pcapng: every block is type, total length, body padded to 32 bits, total length again.
def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _opt(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + _pad(value)


def _options(order: str, opts: bytes) -> bytes:
    return opts + _opt(order, 0, b"") if opts else b""  # opt_endofopt closes a non-empty list


def _block(order: str, kind: int, body: bytes) -> bytes:
    total = len(_pad(body)) + 12
    return struct.pack(order + "II", kind, total) + _pad(body) + struct.pack(order + "I", total)


def _shb(order: str, opts: bytes = b"") -> bytes:
    """Section Header Block: byte-order magic, version 1.0, section length -1 (not given)."""
    return _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(order, opts))


def _idb(order: str, linktype: int, opts: bytes = b"", snaplen: int = 0) -> bytes:
    return _block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + _options(order, opts))


def _epb(order: str, if_id: int, units: int, data: bytes, orig: int | None = None, opts: bytes = b"") -> bytes:
    head = struct.pack(order + "IIIII", if_id, units >> 32, units & 0xFFFFFFFF, len(data), orig or len(data))
    return _block(order, 6, head + _pad(data) + _options(order, opts))


def _pb(order: str, if_id: int, units: int, data: bytes) -> bytes:
    """The obsolete Packet Block (type 2): 16-bit interface id and drops count (3 here) before the timestamp."""
    head = struct.pack(order + "HHIIII", if_id, 3, units >> 32, units & 0xFFFFFFFF, len(data), len(data))
    return _block(order, 2, head + _pad(data))


def _spb(order: str, data: bytes) -> bytes:
    return _block(order, 3, struct.pack(order + "I", len(data)) + _pad(data))


def _tsresol(order: str, value: int) -> bytes:
    return _opt(order, 9, bytes([value]))


def _pcap(order: str, nanoseconds: bool, linktype: int, records: list[tuple[int, int, bytes, int]]) -> bytes:
    """Classic pcap (draft-ietf-opsawg-pcap 4, 5): magic a1b2c3d4 or a1b23c4d in the writer's byte order."""
    out = struct.pack(order + "IHHiIII", 0xA1B23C4D if nanoseconds else 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for seconds, fraction, data, orig in records:
        out += struct.pack(order + "IIII", seconds, fraction, len(data), orig or len(data)) + data
    return out


def _tshark(path: Path) -> list[list[str]]:
    """tshark's packet list: No., time relative, Source, Destination, Protocol, frame.len, frame.cap_len, Info
    (tshark_util.run_tshark: a private configuration, ``-n``; here with ``-2``)."""
    fields = ("frame.number", "frame.time_relative", "_ws.col.Source", "_ws.col.Destination", "_ws.col.Protocol",
              "frame.len", "frame.cap_len", "_ws.col.Info")
    out = run_tshark(path, ["-2", "-T", "fields", "-E", "separator=/t", *(x for f in fields for x in ("-e", f))],
                     timeout=120)
    return [line.split("\t") for line in out.splitlines()]


def _columns(row: Row) -> list[str]:
    return [str(row.no), f"{row.time:.6f}", row.src, row.dst, row.protocol, str(row.length)]


def _theirs(line: list[str]) -> list[str]:
    return [line[0], f"{float(line[1]):.6f}" if line[1] else "", line[2], line[3], line[4], line[5]]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _mixed_pcapng() -> bytes:
    """Two sections: a little-endian one with eight interfaces of eight link types, then a big-endian one."""
    o = "<"
    out = _shb(o, _opt(o, 4, b"someone else's capturer 1.0"))  # shb_userappl
    out += _idb(o, 1, _tsresol(o, 9)) + _idb(o, 101, _tsresol(o, 0x80 | 20)) + _idb(o, 228) + _idb(o, 229)
    out += _idb(o, 113) + _idb(o, 276) + _idb(o, 0) + _idb(o, 108)
    out += _epb(o, 0, T0 * 10**9, ETH_ARP, opts=_opt(o, 1, b"a comment"))  # ns; opt_comment
    out += _epb(o, 1, (T0 << 20) + (1 << 19), IKE500)  # 2^-20 s units: half a second
    out += _block(o, 0x0BAD0001, b"an unknown block type")  # skipped (pcapng 3.1: unknown blocks are ignored)
    out += _block(o, 5, bytes(20))  # Interface Statistics Block, skipped
    out += _epb(o, 2, (T0 + 1) * 10**6, IKE4500)
    out += _epb(o, 3, (T0 + 1) * 10**6 + 500_000, IKE6)
    out += _epb(o, 4, (T0 + 2) * 10**6, _sll(0x0800, PING))
    out += _epb(o, 5, (T0 + 2) * 10**6 + 250_000, _sll2(0x0800, ESP50))
    out += _epb(o, 4, (T0 + 2) * 10**6 + 500_000, _sll(0x0806, ARP_BODY))
    out += _epb(o, 5, (T0 + 2) * 10**6 + 750_000, _sll2(0x0806, ARP_BODY))
    out += _epb(o, 6, (T0 + 3) * 10**6, struct.pack("<I", 2) + PING)  # DLT_NULL, little-endian writer
    out += _epb(o, 6, (T0 + 3) * 10**6 + 125_000, struct.pack(">I", 2) + PING)  # DLT_NULL, big-endian writer
    out += _epb(o, 6, (T0 + 3) * 10**6 + 250_000, struct.pack("<I", 28) + IKE6)  # FreeBSD AF_INET6
    out += _epb(o, 7, (T0 + 3) * 10**6 + 375_000, struct.pack(">I", 2) + ESP50)  # LOOP: network order
    out += _epb(o, 7, (T0 + 3) * 10**6 + 500_000, struct.pack(">I", 30) + IKE6)  # Darwin AF_INET6
    out += _epb(o, 0, (T0 + 4) * 10**9, VLAN_IKE)
    out += _epb(o, 0, (T0 + 4) * 10**9 + 100_000_000, VLAN_ARP)
    out += _epb(o, 0, (T0 + 4) * 10**9 + 200_000_000, ETH_IP + ESP_UDP)
    out += _pb(o, 1, (T0 + 5) << 20, ESP50)  # obsolete Packet Block on interface 1
    b = ">"  # a second section, big-endian: its interfaces are numbered from 0 again
    out += _shb(b) + _idb(b, 1, _tsresol(b, 3)) + _idb(b, 101)
    out += _epb(b, 1, (T0 + 6) * 1000, PING) + _epb(b, 0, (T0 + 7) * 1000, ETH_IP + IKE500)
    return out


def test_mixed_link_types_and_sections_match_tshark(tmp_path: Path) -> None:
    """Every frame of a two-section, eight-link-type pcapng: No., Time, Source, Destination, Protocol, Length."""
    path = _write(tmp_path, "mixed.pcapng", _mixed_pcapng())
    theirs = _tshark(path)
    ours = list(dissect(path))
    assert len(ours) == len(theirs) == 19
    assert [_columns(r) for r in ours] == [_theirs(t) for t in theirs]


def test_mixed_capture_info_matches_tshark(tmp_path: Path) -> None:
    """The Info column too, for these well-formed frames (ICMP: tshark -2 adds the missing-reply remark)."""
    path = _write(tmp_path, "mixed.pcapng", _mixed_pcapng())
    theirs = _tshark(path)
    assert [r.info for r in dissect(path)] == [t[7] for t in theirs]


def test_linux_cooked_arp_is_listed_as_arp(tmp_path: Path) -> None:
    """ARP in SLL and SLL2 frames (``tcpdump -i any``): Protocol ARP, Source the sender's address, no Destination."""
    o = "<"
    path = _write(tmp_path, "cooked.pcapng", _shb(o) + _idb(o, 113) + _idb(o, 276)
                  + _epb(o, 0, T0 * 10**6, _sll(0x0806, ARP_BODY)) + _epb(o, 1, T0 * 10**6, _sll2(0x0806, ARP_BODY))
                  + _epb(o, 0, T0 * 10**6, _sll(0x88CC, bytes(30))))  # LLDP: still not listed
    theirs = _tshark(path)
    rows = list(dissect(path))
    assert len(rows) == len(theirs) == 3
    for row, line in zip(rows[:2], theirs):
        assert (row.src, row.dst, row.protocol, row.info) == (line[2], line[3], line[4], line[7])
        assert (row.src, row.protocol, row.note) == (MAC, "ARP", "")
    assert (rows[2].protocol, rows[2].note) == ("?", "not an IPv4/IPv6 packet: skipped")


@pytest.mark.parametrize("order", ["<", ">"])
def test_null_loopback_families_as_tcpdump_and_wireshark_read_them(tmp_path: Path, order: str) -> None:
    """LINKTYPE_NULL (tcpdump.org): 2 is IPv4, 24/28/30 IPv6, 23 IPX (not Windows' AF_INET6), in either byte order.

    A documented difference: Linux's AF_INET6, 10, which tshark lists as "Null/Loopback", ikelab reads as IPv6."""
    o = "<"
    frames = [(2, PING), (24, IKE6), (28, IKE6), (30, IKE6), (23, b"\xff\xff" + bytes(28)), (10, IKE6)]
    body = b"".join(_epb(o, 0, T0 * 10**6 + i, struct.pack(order + "I", fam) + pkt)
                    for i, (fam, pkt) in enumerate(frames))
    path = _write(tmp_path, "null.pcapng", _shb(o) + _idb(o, 0) + body)
    theirs = _tshark(path)
    rows = list(dissect(path))
    assert [r.protocol for r in rows[:4]] == [t[4] for t in theirs[:4]] == ["ICMP", "ISAKMP", "ISAKMP", "ISAKMP"]
    assert [t[4] for t in theirs[4:]] == ["IPX", "N/A"]  # tshark: neither is IP
    assert (rows[4].protocol, rows[4].info) == ("?", "not IP (link type 0)")
    assert rows[4].note == "not an IPv4/IPv6 packet: skipped"
    assert (rows[5].src, rows[5].protocol) == ("2001:db8::1", "ISAKMP")


def test_classic_pcap_big_endian_nanoseconds_match_tshark(tmp_path: Path) -> None:
    """Magic a1b23c4d written big-endian: fractions are nanoseconds; columns and lengths as tshark lists them."""
    cut = (ETH_IP + ESP_UDP)[:50]  # snaplen 50: the ESP header is there, its payload is not
    path = _write(tmp_path, "ns.pcap", _pcap(">", True, 1, [
        (T0, 999_999_999, ETH_IP + IKE500, 0), (T0 + 1, 500_000_123, cut, len(ETH_IP + ESP_UDP)),
        (T0 + 2, 250_000_000, ETH_IP + ESP50, 0)]))
    theirs = _tshark(path)
    rows = list(dissect(path))
    assert [_columns(r) for r in rows] == [_theirs(t) for t in theirs]
    assert [r.info for r in rows] == [t[7] for t in theirs]
    assert (rows[1].length, int(theirs[1][6])) == (70, 50)  # Length is frame.len, the length on the wire


def test_classic_pcap_big_endian_microseconds_match_tshark(tmp_path: Path) -> None:
    """Magic a1b2c3d4 big-endian, LINKTYPE_RAW."""
    path = _write(tmp_path, "us.pcap", _pcap(">", False, 101, [(T0, 999_999, IKE4500, 0), (T0 + 1, 1, PING, 0),
                                                               (T0 + 1, 250_001, ESP_UDP, 0)]))
    theirs = _tshark(path)
    rows = list(dissect(path))
    assert [_columns(r) + [r.info] for r in rows] == [_theirs(t) + [t[7]] for t in theirs]


def test_time_below_a_microsecond_is_lost_at_todays_epochs(tmp_path: Path) -> None:
    """A documented difference: ikelab's times are floats of epoch seconds, so a nanosecond capture's relative times
    are right to the microsecond (what the packet list shows) but not to the nanosecond tshark gives."""
    path = _write(tmp_path, "ns.pcap", _pcap("<", True, 101, [(T0, 0, PING, 0), (T0, 123, PING, 0),
                                                              (T0 + 1, 6, PING, 0)]))
    theirs = [float(t[1]) for t in _tshark(path)]
    ours = [r.time for r in dissect(path)]
    assert theirs == [0.0, 123e-9, 1.000000006]
    assert all(abs(a - b) < 0.5e-6 for a, b in zip(ours, theirs))
    assert [f"{t:.6f}" for t in ours] == [f"{t:.6f}" for t in theirs]


def test_if_tsoffset_and_comments_read_as_tshark_reads_them(tmp_path: Path) -> None:
    """IDB if_tsoffset (seconds added to every time stamp) with if_tsresol 10^-6; EPB comments; unknown blocks."""
    o = "<"
    idb = _idb(o, 101, _opt(o, 14, struct.pack("<q", 100)) + _tsresol(o, 6))
    data = _shb(o) + idb + _epb(o, 0, T0 * 10**6, IKE500, opts=_opt(o, 1, b"first") + _opt(o, 1, b"second"))
    data += _block(o, 4, bytes(4)) + _block(o, 0x80000001, b"custom..")  # empty name resolution, custom block
    data += _epb(o, 0, T0 * 10**6 + 250_000, ESP50)
    path = _write(tmp_path, "offset.pcapng", data)
    out = run_tshark(path, ["-T", "fields", "-E", "separator=/t", "-e", "frame.time_epoch", "-e", "frame.comment"],
                     timeout=120)
    theirs = [line.split("\t") for line in out.splitlines()]
    packets = read_capture(path)
    assert [p.time for p in packets] == [float(t[0]) for t in theirs] == [T0 + 100.0, T0 + 100.25]
    assert [p.comment for p in packets] == ["first\nsecond", None]
    assert theirs[0][1] == "first,second"


def test_simple_packet_blocks_columns_match_tshark(tmp_path: Path) -> None:
    """SPBs (no interface id, no time stamp: interface 0) in a big-endian section: addresses, protocol, length.

    A documented difference: an SPB has no time stamp; tshark leaves its time empty, ikelab gives it 0.0 s since
    the epoch, so its row's relative time is minus the first frame's epoch time."""
    b = ">"
    path = _write(tmp_path, "spb.pcapng", _shb(b) + _idb(b, 101) + _idb(b, 1) + _spb(b, ESP50)
                  + _epb(b, 0, (T0 + 1) * 10**6, IKE500) + _spb(b, ESP50[:-1]))  # 47 bytes: 1 of padding
    theirs = _tshark(path)
    rows = list(dissect(path))
    assert [_columns(r)[2:] for r in rows] == [_theirs(t)[2:] for t in theirs]
    assert [len(p.data) for p in read_capture(path)] == [int(t[6]) for t in theirs] == [48, 56, 47]  # no padding
    assert [t[1] for t in theirs] == ["", f"{T0 + 1}.000000000", ""]
    assert [p.time for p in read_capture(path)] == [0.0, T0 + 1.0, 0.0]
    assert [r.time for r in rows] == [0.0, T0 + 1.0, 0.0]


def test_snaplen_cut_ike_keeps_the_columns_tshark_shows(tmp_path: Path) -> None:
    """A frame cut inside the IKE header (cap_len 60 < frame.len): addresses, ISAKMP, the wire length and
    tshark's "[Packet size limited during capture]"; ikelab's Info also names the truncated header."""
    o = "<"
    frame = ETH_IP + IKE500 + bytes(40)
    path = _write(tmp_path, "cut.pcapng", _shb(o) + _idb(o, 1, snaplen=60) + _epb(o, 0, T0 * 10**6, frame[:60],
                                                                                    orig=len(frame)))
    (line,) = _tshark(path)
    (row,) = dissect(path)
    assert _columns(row) == _theirs(line)
    assert (line[5], line[6]) == ("110", "60")
    assert line[7] == "[Packet size limited during capture]"
    assert row.info.endswith(line[7]) and row.note


@pytest.mark.parametrize("linktype, frame", [(105, b"\x08\x02" + bytes(30)), (147, bytes(40)), (1, b"\x02"),
                                             (113, b"\x02" * 5), (276, bytes(19)), (0, b"\x02\x00")])
def test_unsupported_or_short_link_layers_give_a_row(tmp_path: Path, linktype: int, frame: bytes) -> None:
    """802.11, USER0, and frames shorter than their link-layer header: a row with a note, never a traceback."""
    o = "<"
    path = _write(tmp_path, "odd.pcapng", _shb(o) + _idb(o, linktype) + _epb(o, 0, T0 * 10**6, frame)
                  + _idb(o, 101) + _epb(o, 1, T0 * 10**6, IKE500))
    theirs = _tshark(path)
    first, second = dissect(path)
    assert (first.no, first.length, first.src, first.dst) == (1, len(frame), "", "")
    assert first.protocol in ("?", "") and first.note
    assert first.info in (f"not IP (link type {linktype})", "malformed packet")
    assert _columns(second) == _theirs(theirs[1])  # the dissection goes on


def test_raw_ipv6_link_type_with_an_ipv4_packet_is_read_leniently(tmp_path: Path) -> None:
    """A documented difference: LINKTYPE_IPV6 (229) holding an IPv4 packet is "Bogus IPv6 version" for tshark;
    ikelab, like its LINKTYPE_RAW reading, goes by the version nibble."""
    o = "<"
    path = _write(tmp_path, "v6.pcapng", _shb(o) + _idb(o, 229) + _epb(o, 0, T0 * 10**6, IKE500))
    (line,) = _tshark(path)
    (row,) = dissect(path)
    assert line[4] == "IPv6" and line[7].startswith("Bogus IPv6 version")
    assert (row.src, row.protocol) == (A, "ISAKMP")


def test_snaplen_cut_inside_the_udp_header_as_tshark_lists_it(tmp_path: Path) -> None:
    """``tcpdump -s`` cutting the 8-byte UDP header (RFC 768): tshark shows the ports and Length that are there
    and "[Packet size limited during capture]" (no UDP at all under 4 bytes); ikelab said "malformed packet"."""
    o = "<"
    full = ETH_IP + ESP_UDP
    v6 = raw(Ether(src=MAC, dst="02:00:00:00:00:02", type=0x86DD) / IPv6(src="2001:db8::1", dst="2001:db8::2")
             / UDP(sport=500, dport=500) / Raw(_ike()))
    frames = [(full[:n], len(full)) for n in (36, 38, 40, 41)] + [(v6[:60], len(v6))]
    path = _write(tmp_path, "udpcut.pcapng", _shb(o) + _idb(o, 1, snaplen=60) + b"".join(
        _epb(o, 0, T0 * 10**6 + i, data, orig=orig) for i, (data, orig) in enumerate(frames)))
    theirs = _tshark(path)
    rows = list(dissect(path))
    assert [_columns(r) + [r.info] for r in rows] == [_theirs(t) + [t[7]] for t in theirs]
    assert [r.protocol for r in rows] == ["IPv4", "UDP", "UDP", "UDP", "UDP"]
    assert rows[2].info == "4500 \u2192 4500 Len=28[Packet size limited during capture]"
    assert all(r.note.startswith("IPv") for r in rows)  # the IP note says what was cut


def test_udp_header_short_without_a_snaplen_cut_stays_malformed(tmp_path: Path) -> None:
    """An IPv4 Total Length beyond the frame when nothing was cut (cap_len == frame.len): tshark says
    "[Malformed Packet]"; ikelab's row keeps "malformed packet" and the reason, not the snaplen words."""
    o = "<"
    path = _write(tmp_path, "short.pcapng", _shb(o) + _idb(o, 1) + _epb(o, 0, T0 * 10**6, (ETH_IP + ESP_UDP)[:38]))
    (line,) = _tshark(path)
    (row,) = dissect(path)
    assert "Packet size limited" not in line[7] and line[7].endswith("[Malformed Packet]")
    assert (row.protocol, row.info, row.note) == ("UDP", "malformed packet",
                                                  "IPv4 length field says 56 bytes, only 24 captured")
