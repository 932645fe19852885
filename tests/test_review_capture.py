"""Review of capture reading and dissection: damaged captures, and what tshark 4.0 makes of them.

Property tests take captures ikelab writes (``write_pcap``, ``write_pcapng``) around real IKE and ESP
packets and damage them: truncation anywhere, any header field of the file, section, interface or record
set to any value, and garbage inside valid records (IPv4/IPv6 length and header-length fields, IPv6 next
header, UDP lengths and ports, IKE and ESP cut short).  Reading and dissecting must then give packets
and rows, or a :class:`~ikelab.errors.CaptureError` naming an offset (a
:class:`~ikelab.errors.CaptureWarning` with ``strict=False``), never another exception.

The expected columns come from tshark on the same files (references: draft-ietf-opsawg-pcap and
-pcapng for the file formats, RFC 791 and RFC 8200 for the IP lengths, RFC 768 for UDP, RFC 3948 2.2 for
port 4500).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikelab import packet as ip
from ikelab.dissect import dissect
from ikelab.errors import CaptureError, CaptureWarning
from ikelab.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    CapturedPacket,
    ip_payload,
    read_capture,
    write_pcap,
    write_pcapng,
)

from tshark_util import require_tshark, run_tshark

EXAMPLES = int(os.environ.get("IKELAB_REVIEW_EXAMPLES", "40"))  # more for a longer hunt
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def ip_packets() -> tuple[bytes, ...]:
    """IKE_SA_INIT, IKE_AUTH and ESP packets of a real exchange, plus IPv6 and NAT-T variants (IP layer)."""
    from ikelab.scenario import classic

    trace = classic(seed=2, duration=3.0, reconnect_at=None, liveness_interval=None).trace
    good = [p for _, p in trace.ip_packets()]
    init, auth = good[0], next(p for p in good if p[9] == 17 and p[28 + 18] == 35)
    esp = next(p for p in good if p[9] == 50)
    return (init, auth, esp,
            ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, init[28:]),
            ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, b"\0\0\0\0" + auth[28:]),
            ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, esp[20:]),
            ip.ip_packet("2001:db8::1", "2001:db8::2", 50, esp[20:]))


def _file(fmt: str) -> bytes:
    out = io.BytesIO()
    writer = write_pcap if fmt == "pcap" else write_pcapng
    writer(out, [(1.5 + i, ip.ethernet(p), f"#{i}") for i, p in enumerate(ip_packets())])
    return out.getvalue()


@lru_cache(maxsize=2)
def valid_file(fmt: str) -> bytes:
    return _file(fmt)


def _pcap_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every header field of a little-endian classic pcap: file header, then each record's."""
    fields = [(0, 4), (4, 2), (6, 2), (8, 4), (12, 4), (16, 4), (20, 4)]
    pos = 24
    while pos + 16 <= len(data):
        fields += [(pos, 4), (pos + 4, 4), (pos + 8, 4), (pos + 12, 4)]
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return fields


def _pcapng_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the block headers and trailers, the SHB's magic and version, the IDB's link type and
    snaplen, every EPB's interface, time, lengths, and each option's code and length."""
    fields = []
    pos = 0
    while pos + 12 <= len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        fields += [(pos, 4), (pos + 4, 4), (pos + total - 4, 4)]
        body = pos + 8
        if kind == 0x0A0D0D0A:
            fields += [(body, 4), (body + 4, 2), (body + 6, 2), (body + 8, 8)]
            options = body + 16
        elif kind == 1:
            fields += [(body, 2), (body + 4, 4)]
            options = body + 8
        else:
            fields += [(body + 4 * i, 4) for i in range(5)]
            options = body + 20 + (struct.unpack_from("<I", data, body + 12)[0] + 3) // 4 * 4
        while options + 4 <= pos + total - 4:
            fields += [(options, 2), (options + 2, 2)]
            options += 4 + (struct.unpack_from("<H", data, options + 2)[0] + 3) // 4 * 4
        pos += total
    return fields


def read_and_dissect(data: bytes, strict: bool) -> None:
    """Read and dissect ``data``: packets and rows, or a CaptureError with an offset; nothing else.

    A corruption that made the reader loop would fail the test at pytest-timeout's limit: time is measured by
    benchmarks, never asserted here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning must be a CaptureWarning, raised here as an error
            try:
                packets = read_capture(io.BytesIO(data), strict=strict)
            except CaptureWarning:
                assert not strict
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CaptureWarning)
                    packets = read_capture(io.BytesIO(data), strict=strict)
    except CaptureError as error:
        assert isinstance(error.offset, int) and 0 <= error.offset <= len(data), error  # type: ignore[attr-defined]
        assert "(offset " in str(error)
        return
    rows = dissect(packets)
    assert [r.no for r in rows] == list(range(1, len(packets) + 1))
    for row, frame in zip(rows, packets):
        assert row.length == (len(frame.data) if frame.orig_len is None else frame.orig_len)  # frame.len
        assert isinstance(row.info, str) and isinstance(row.note, str)


# ---------------------------------------------------------------- the file layer


@SETTINGS
@given(st.sampled_from(["pcap", "pcapng"]), st.integers(0, 10**6), st.booleans())
def test_truncation_anywhere(fmt: str, where: int, strict: bool) -> None:
    data = valid_file(fmt)
    read_and_dissect(data[: where % (len(data) + 1)], strict)


@SETTINGS
@given(st.sampled_from(["pcap", "pcapng"]), st.data(), st.booleans())
def test_any_header_field_set_to_any_value(fmt: str, draw: st.DataObject, strict: bool) -> None:
    """Magic, version, snaplen, link type, time zone, record lengths, timestamps, block lengths, options..."""
    data = valid_file(fmt)
    fields = _pcap_fields(data) if fmt == "pcap" else _pcapng_fields(data)
    offset, size = draw.draw(st.sampled_from(fields))
    value = draw.draw(st.one_of(st.integers(0, 2 ** (8 * size) - 1), st.sampled_from([0, 1, 2 ** (8 * size) - 1])))
    damaged = data[:offset] + value.to_bytes(size, draw.draw(st.sampled_from(["little", "big"]))) + data[offset + size:]
    read_and_dissect(damaged, strict)


@SETTINGS
@given(st.sampled_from(["pcap", "pcapng"]), st.integers(0, 10**6), st.binary(min_size=1, max_size=40))
def test_garbage_spliced_into_the_file(fmt: str, where: int, garbage: bytes) -> None:
    data = valid_file(fmt)
    where %= len(data)
    read_and_dissect(data[:where] + garbage + data[where + len(garbage) // 2:], False)


# ---------------------------------------------------------------- the packet layer

# (name, offset in the IP packet, size) of the fields whose corruption is drawn below
IPV4_FIELDS = [("version_ihl", 0, 1), ("total_length", 2, 2), ("flags_fragment", 6, 2), ("protocol", 9, 1),
               ("udp_sport", 20, 2), ("udp_dport", 22, 2), ("udp_length", 24, 2)]
IPV6_FIELDS = [("version", 0, 1), ("payload_length", 4, 2), ("next_header", 6, 1), ("udp_length", 44, 2),
               ("udp_dport", 42, 2)]


def _damaged_packet(draw: st.DataObject) -> bytes:
    packet = draw.draw(st.sampled_from(ip_packets()))
    fields = IPV4_FIELDS if packet[0] >> 4 == 4 else IPV6_FIELDS
    for _ in range(draw.draw(st.integers(1, 3))):
        _, offset, size = draw.draw(st.sampled_from(fields))
        value = draw.draw(st.integers(0, 2 ** (8 * size) - 1))
        packet = packet[:offset] + value.to_bytes(size, "big") + packet[offset + size:]
    cut = draw.draw(st.integers(0, len(packet)))
    return packet[:cut] if draw.draw(st.booleans()) else packet  # IKE and ESP cut short, or headers alone


@SETTINGS
@given(st.data(), st.sampled_from([LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_NULL, LINKTYPE_LINUX_SLL2]),
       st.sampled_from([write_pcap, write_pcapng]))
def test_garbage_packets_inside_valid_records(draw: st.DataObject, linktype: int, writer) -> None:
    frames = []
    for _ in range(draw.draw(st.integers(1, 4))):
        packet = _damaged_packet(draw)
        frames.append({LINKTYPE_ETHERNET: ip.ethernet(packet, ethertype=0x86DD if packet[:1] >= b"\x60" else 0x0800),
                       LINKTYPE_RAW: packet, LINKTYPE_NULL: b"\x02\x00\x00\x00" + packet,
                       LINKTYPE_LINUX_SLL2: b"\x08\x00" + bytes(18) + packet}[linktype])
    out = io.BytesIO()
    writer(out, [(float(i), f) for i, f in enumerate(frames)], linktype=linktype,
           snaplen=draw.draw(st.sampled_from([65535, 60, 96])))
    read_and_dissect(out.getvalue(), True)


# ---------------------------------------------------------------- what tshark shows for damaged packets


def tshark_rows(path: Path) -> list[list[str]]:
    """Source, Destination, Protocol, Length and Info of every frame, as tshark lists them."""
    out = run_tshark(path, ["-T", "fields", "-E", "separator=\t", "-e", "_ws.col.Source", "-e", "_ws.col.Destination",
                            "-e", "_ws.col.Protocol", "-e", "frame.len", "-e", "_ws.col.Info"])
    return [line.split("\t") for line in out.splitlines()]


def ikelab_rows(path: Path) -> list[list[str]]:
    return [[r.src, r.dst, r.protocol, str(r.length), r.info] for r in dissect(path)]


def _set(packet: bytes, offset: int, value: int, size: int = 2) -> bytes:
    return packet[:offset] + value.to_bytes(size, "big") + packet[offset + size:]


def damaged_packets() -> dict[str, bytes]:
    """IP packets with one field wrong, each of which tshark still lists with its addresses and Info."""
    init, auth, esp, init6 = ip_packets()[:4]
    ike, ike_auth, esp_body = init[28:], auth[28:], esp[20:]
    udp = ip.ip_udp
    options = _set(init, 2, len(init) + 4)  # IHL 6: a 4-byte option (NOP NOP NOP EOL) before UDP
    options = bytes([0x46]) + options[1:20] + b"\x01\x01\x01\x00" + options[20:]
    return {
        "ipv4 total length beyond the capture": _set(init, 2, len(init) + 10),
        "ipv6 payload length beyond the capture": _set(init6, 4, len(init6) - 40 + 10),
        "ipv4 options": options,
        "udp length beyond the datagram": _set(init, 24, len(init) - 20 + 10),
        "500 -> 4500 with the non-ESP marker": udp("192.0.2.1", "192.0.2.2", 500, 4500, bytes(4) + ike_auth),
        "4500 -> 500 without the marker": udp("192.0.2.1", "192.0.2.2", 4500, 500, ike),
        "4500 -> 4500 ESP": udp("192.0.2.1", "192.0.2.2", 4500, 4500, esp_body),
        "4500 -> 4501 IKE": udp("192.0.2.1", "192.0.2.2", 4500, 4501, bytes(4) + ike),
        "empty UDP on 4500": udp("192.0.2.1", "192.0.2.2", 4500, 4500, b""),
        "empty UDP on 500": udp("192.0.2.1", "192.0.2.2", 500, 500, b""),
        "keepalive": udp("192.0.2.1", "192.0.2.2", 4500, 4500, b"\xff"),
        # RFC 768: Length counts the 8-octet header, so less than 8 is impossible; tshark says so and stops
        "udp length 4 on 500": _set(init, 24, 4),
        "udp length 0 on 4500": _set(udp("192.0.2.1", "192.0.2.2", 4500, 4500, esp_body), 24, 0),
        "udp length 7 on 500": _set(init, 24, 7),
    }


def cut_packets() -> dict[str, bytes]:
    """IKE and ESP cut inside their headers: tshark and ikelab agree on all but Info ("" or "[Malformed Packet]"
    for tshark, "IKE (truncated header)" or "ESP (truncated)" for ikelab, which also says why in the note)."""
    init, _, esp = ip_packets()[:3]
    return {
        "IKE cut inside the header": ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, init[28:33]),
        "IKE cut after the marker": ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, bytes(4) + init[28:40]),
        "ESP cut inside the header": ip.ip_packet("192.0.2.1", "192.0.2.2", 50, esp[20:25]),
        "ESP in UDP cut inside the header": ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, esp[20:26]),
    }


def _listed_as_tshark_lists_them(cases: dict[str, bytes], path: Path) -> None:
    require_tshark()
    write_pcap(path, [(float(i), p) for i, p in enumerate(cases.values())], linktype=LINKTYPE_RAW)
    for name, mine, theirs in zip(cases, ikelab_rows(path), tshark_rows(path), strict=True):
        assert mine == theirs, name


def test_damaged_packets_are_listed_as_tshark_lists_them(tmp_path: Path) -> None:
    """A length field claiming more than was captured (RFC 791 Total Length, RFC 8200 Payload Length) gave an
    empty Source, Destination and Protocol and "malformed packet"; 500 <-> 4500 was taken for UDPENCAP where
    Wireshark (lower port first) reads ISAKMP; an empty datagram on 500 or 4500 was called IKE or ESP; a UDP
    Length below 8 was ignored and the datagram read as IKE or ESP, where tshark says [BAD UDP LENGTH n < 8]."""
    _listed_as_tshark_lists_them(damaged_packets(), tmp_path / "damaged.pcap")


def test_ike_and_esp_cut_short_have_tsharks_addresses_protocol_and_length(tmp_path: Path) -> None:
    require_tshark()
    cases = cut_packets()
    path = tmp_path / "cut.pcap"
    write_pcap(path, [(float(i), p) for i, p in enumerate(cases.values())], linktype=LINKTYPE_RAW)
    rows = dissect(path)
    for name, row, theirs in zip(cases, rows, tshark_rows(path), strict=True):
        assert [row.src, row.dst, row.protocol, str(row.length)] == theirs[:4], name
        assert row.note, name


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_frames_cut_by_the_snaplen_keep_their_columns(tmp_path: Path, fmt: str) -> None:
    """``tcpdump -s 96``: every IP header claims more than the frame holds.  tshark still shows the addresses,
    ISAKMP or ESP and the Info, adding "[Packet size limited during capture]" where IKE runs past the cut."""
    require_tshark()
    path = tmp_path / f"snap.{fmt}"
    writer = write_pcap if fmt == "pcap" else write_pcapng
    writer(path, [(float(i), ip.ethernet(p)) for i, p in enumerate(ip_packets()[:3])], snaplen=96)
    mine, theirs = ikelab_rows(path), tshark_rows(path)
    assert mine == theirs
    assert [r[2] for r in mine] == ["ISAKMP", "ISAKMP", "ESP"] and all(r[0] == "192.0.2.1" for r in mine)


def test_fragment_cut_by_the_snaplen_is_not_reassembled() -> None:
    """Wireshark reassembles only fragments whose bytes are all captured; a cut one keeps its fragment row."""
    init = ip_packets()[0]
    first = _set(_set(init, 6, 0x2000), 2, len(init))  # More Fragments, offset 0
    first = first[:10] + b"\0\0" + first[12:]
    rows = dissect([CapturedPacket(0.0, first[:60], LINKTYPE_RAW, orig_len=len(first))])
    assert rows[0].src == "192.0.2.1" and rows[0].info.startswith("Fragmented IP protocol (proto=UDP 17, off=0")
    assert "only 60 captured" in rows[0].note


def test_a_zero_wire_length_is_shown_as_tshark_shows_it(tmp_path: Path) -> None:
    """A record whose orig_len is 0 (corrupt): tshark's Length (frame.len) is 0, not the captured length."""
    require_tshark()
    data = bytearray(valid_file("pcap"))
    struct.pack_into("<I", data, 24 + 12, 0)  # the first record's orig_len
    path = tmp_path / "zero.pcap"
    path.write_bytes(bytes(data))
    assert [r[3] for r in ikelab_rows(path)] == [r[3] for r in tshark_rows(path)]
    assert ikelab_rows(path)[0][3] == "0"


# ---------------------------------------------------------------- headers tshark refuses


def _tshark_refuses(path: Path) -> str:
    import subprocess

    result = subprocess.run([require_tshark(), "-n", "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_reserved_link_type_bits_are_a_capture_error(tmp_path: Path) -> None:
    """draft-ietf-opsawg-pcap 4: LinkType bits 16-25 are reserved (zero); above them sit the FCS length and its flag.
    tshark refuses such a file ("network type reserved field not zero"); ikelab read it as if nothing were wrong."""
    data = bytearray(valid_file("pcap"))
    struct.pack_into("<I", data, 20, 0x00070001)
    path = tmp_path / "reserved.pcap"
    path.write_bytes(bytes(data))
    assert "reserved" in _tshark_refuses(path)
    said = r"link type field 0x00070001 has reserved bits set \(corrupt file\?\) \(offset 20\)"
    with pytest.raises(CaptureError, match=said):
        read_capture(path)
    struct.pack_into("<I", data, 20, 0x14000001)  # FCS flag and a 4-byte FCS length: allowed, Ethernet
    assert [p.linktype for p in read_capture(io.BytesIO(bytes(data)))] == [LINKTYPE_ETHERNET] * 7


@pytest.mark.parametrize("where", ["shb option", "shb end of options", "idb end of options", "epb end of options"])
def test_a_pcapng_option_running_past_its_block_is_a_capture_error(tmp_path: Path, where: str) -> None:
    """tshark refuses ("Not enough data to handle option"); ikelab did not look at the SHB's options at all and
    stopped at opt_endofopt without checking its length."""
    data = bytearray(valid_file("pcapng"))
    offset = {"shb option": 26, "shb end of options": 38, "idb end of options": 70}.get(where)
    if offset is None:  # the first EPB's opt_endofopt: after its comment option
        epb = 76
        caplen = struct.unpack_from("<I", data, epb + 8 + 12)[0]
        offset = epb + 8 + 20 + (caplen + 3) // 4 * 4 + 8 + 2
    assert struct.unpack_from("<H", data, offset)[0] in (0, 6)  # the length field of the option
    struct.pack_into("<H", data, offset, 65535)
    path = tmp_path / "option.pcapng"
    path.write_bytes(bytes(data))
    assert "option" in _tshark_refuses(path)
    with pytest.raises(CaptureError, match="pcapng option [0-9]+ of 65535 bytes runs past its block"):
        read_capture(path)


# ---------------------------------------------------------------- gaps the mutation review found


def test_pcap_major_version_below_2_is_refused_as_by_tshark(tmp_path: Path) -> None:
    """draft-ietf-opsawg-pcap 4: Major Version is 2; tshark refuses 1 ("major version 1 unsupported")."""
    data = bytearray(valid_file("pcap"))
    for major in (0, 1):
        struct.pack_into("<H", data, 4, major)
        path = tmp_path / f"v{major}.pcap"
        path.write_bytes(bytes(data))
        assert "unsupported" in _tshark_refuses(path)
        with pytest.raises(CaptureError, match=rf"pcap version {major}\.4 is not 2\.x \(offset 4\)"):
            read_capture(path)


def test_an_epb_captured_length_past_its_block_is_refused(tmp_path: Path) -> None:
    """A caplen 1 to 3 octets beyond the packet data (into the block's padding and trailer) is no packet."""
    data = bytearray(valid_file("pcapng"))
    epb = 76
    caplen = struct.unpack_from("<I", data, epb + 8 + 12)[0]
    total = struct.unpack_from("<I", data, epb + 4)[0]
    room = total - 12 - 20
    assert caplen % 4 == 2 and room == caplen + 2 + 12  # 2 octets of padding, then the comment option (12)
    struct.pack_into("<I", data, epb + 8 + 12, room + 1)
    path = tmp_path / "caplen.pcapng"
    path.write_bytes(bytes(data))
    _tshark_refuses(path)
    with pytest.raises(CaptureError, match=f"captured length {room + 1} runs past its {total}-byte block"):
        read_capture(path)


@pytest.mark.parametrize("linktype, header", [
    (LINKTYPE_LINUX_SLL, bytes.fromhex("0000" "0001" "0006" "00005e0053010000" "86dd")),
    (LINKTYPE_LINUX_SLL2, bytes.fromhex("86dd" "0000" "00000002" "0001" "00" "06" "00005e0053010000")),
    (LINKTYPE_NULL, b"\x18\x00\x00\x00"),  # AF_INET6 of NetBSD/OpenBSD (24), little-endian writer
    (LINKTYPE_LOOP, b"\x00\x00\x00\x1c"),  # AF_INET6 of FreeBSD (28), network order
])
def test_ipv6_in_cooked_and_loopback_frames_as_tshark_reads_it(tmp_path: Path, linktype: int, header: bytes) -> None:
    init6 = ip_packets()[3]
    path = tmp_path / "v6.pcap"
    write_pcap(path, [(0.0, header + init6)], linktype=linktype)
    (packet,) = read_capture(path)
    assert ip_payload(packet) == init6
    assert ikelab_rows(path) == tshark_rows(path)


def _ipv6_with_options(packet: bytes) -> bytes:
    """The IPv6 packet with a Destination Options header (next header 60, RFC 8200 4.6: PadN to 8 octets)."""
    options = bytes([packet[6], 0, 1, 4, 0, 0, 0, 0])
    return packet[:4] + (len(packet) - 40 + 8).to_bytes(2, "big") + b"\x3c" + packet[7:40] + options + packet[40:]


def more_damaged_packets() -> dict[str, bytes]:
    init, _, esp, init6 = ip_packets()[:4]
    keepalive = ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, b"\xff")
    return {
        "IPv6 destination options before UDP": _ipv6_with_options(init6),
        "UDP length shorter than the IP payload": _set(keepalive + b"junk", 2, len(keepalive) + 4),
        "ESP in UDP whose SPI begins with 0xff": ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, b"\xff" + esp[21:]),
    }


def test_more_damaged_packets_as_tshark_lists_them(tmp_path: Path) -> None:
    _listed_as_tshark_lists_them(more_damaged_packets(), tmp_path / "more.pcap")


def test_ethernet_padding_after_a_short_fragment_is_not_reassembled(tmp_path: Path) -> None:
    """A last fragment of 8 octets makes a 42-octet Ethernet frame, padded to the 60-octet minimum (IEEE 802.3);
    the padding lies past the IPv4 Total Length and is no part of the datagram (tshark's ip.reassembled.length)."""
    udp = ip_packets()[0][20:]
    cut = (len(udp) - 8) // 8 * 8
    header = bytearray(ip_packets()[0][:20])

    def fragment(offset: int, more: bool, data: bytes) -> bytes:
        h = _set(_set(bytes(header), 2, 20 + len(data)), 6, (0x2000 if more else 0) | offset // 8)
        h = h[:10] + b"\0\0" + h[12:]
        return _set(h, 10, ip.internet_checksum(h)) + data

    frames = [ip.ethernet(fragment(0, True, udp[:cut])), ip.ethernet(fragment(cut, False, udp[cut:]))]
    frames[1] += bytes(60 - len(frames[1]))
    path = tmp_path / "padded.pcap"
    write_pcap(path, [(0.0, frames[0]), (1.0, frames[1])])
    out = run_tshark(path, ["-T", "fields", "-e", "ip.reassembled.length", "-e", "_ws.col.Info"])
    length, info = out.splitlines()[1].split("\t")
    rows = dissect(path)
    assert rows[1].info == info and f"({length} bytes)" in rows[1].note and int(length) == len(udp)
