"""Review: ICMP (RFC 792, RFC 950, RFC 1256, RFC 8335) and ICMPv6 (RFC 4443, RFC 4861) Info for truncated, short
and unknown messages, compared frame by frame with tshark 4.0 -2.

The corpus is built here with :mod:`struct`, documentation addresses only, each ICMPv6 checksum computed by
:func:`test_review_ip.ref_checksum` (RFC 1071 4.1, independent of ikelab's).  tshark reads it once, ikelab once; every
frame must read alike except the ones listed in :data:`LEFT`, each with the reason it is left to tshark.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

from ikelab.dissect import dissect
from ikelab.packet import ethernet, ip_packet
from ikelab.pcap import write_pcap

from test_review_ip import ref_checksum  # RFC 1071 4.1, written independently of ikelab's
from tshark_util import require_tshark, run_tshark

pytestmark = pytest.mark.tshark

A4, B4, A6, B6 = "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"
#: ICMPv6 types whose code, subtype or body tshark decodes in detail (ikelab.frame_info's docstring says so):
#: type -> why it is left.  A frame of these types may differ; any other difference fails.
LEFT = {
    139: "Node Information Query (RFC 4620): tshark names its codes (Query subject = ...)",
    140: "Node Information Reply (RFC 4620): tshark names its codes (Successful, Refused, ...)",
    143: "MLDv2 Report (RFC 3810 5.2): tshark walks its address records past the first 8 octets",
    145: "Home Agent Address Discovery Reply (RFC 6275 6.6): tshark walks its 16-octet addresses",
    150: "Experimental Mobility (RFC 5514): tshark names the subtype in octet 4",
    154: "FMIPv6 (RFC 5568): tshark names the subtype in octet 4",
    155: "RPL Control (RFC 6550): tshark names its codes (DODAG Information Solicitation, ...)",
}


def message(version: int, kind: int, code: int, rest: bytes = b"", length: int | None = None) -> bytes:
    """An ICMP or ICMPv6 message, cut (or zero-padded) to ``length``, its checksum right when it has one."""
    body = bytes([kind, code, 0, 0]) + rest
    if length is not None:
        body = (body + bytes(length))[:length]
    if len(body) >= 4:
        covered = body
        if version == 6:  # RFC 4443 2.3: the pseudo-header counts
            covered = (ipaddress.ip_address(A6).packed + ipaddress.ip_address(B6).packed
                       + struct.pack("!I3xB", len(body), 58) + body)
        body = body[:2] + struct.pack("!H", ref_checksum(covered)) + body[4:]
    return body


def corpus() -> list[tuple[int, str, bytes]]:
    """(IP version, a name for the failure message, the ICMP message)."""
    items: list[tuple[int, str, bytes]] = []
    quoted = {4: ip_packet(B4, A4, 17, struct.pack("!HHHH", 500, 500, 8, 0)),
              6: ip_packet(B6, A6, 17, struct.pack("!HHHH", 500, 500, 8, 0))}
    defined = {4: [1, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 30, 31, 39, 40, 41, 42, 43],
               6: [1, 2, 3, 4, 100, 127, 130, 133, 134, 135, 136, 137, 139, 140, 141, 143, 144, 145, 146, 147,
                   148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 160, 161, 200, 255]}
    unknown = {4: [7, 99, 200, 250], 6: [5, 99, 150, 200, 255]}
    for version, echoes, errors in ((4, (8, 0), (3, 5, 11, 12)), (6, (128, 129), (1, 2, 3, 4))):
        for kind in echoes:
            for n in range(10):
                items.append((version, f"echo {kind}, {n} octets", message(version, kind, 0, b"\0\7\0\1abcd", n)))
        for kind in defined[version] + unknown[version]:
            for n in (1, 2, 4, 5, 6, 7, 8, 9, 12):
                items.append((version, f"type {kind}, {n} octets", message(version, kind, 0, b"", n)))
            items.append((version, f"type {kind} code 1, 7 octets", message(version, kind, 1, b"", 7)))
        for kind in errors:
            for n in (0, 4, 8, 28, len(quoted[version])):
                cut = b"\0" * 4 + quoted[version][:n]
                items.append((version, f"error {kind}, {n} quoted", message(version, kind, 1, cut)))
    for kind, full in ((13, 20), (14, 20), (15, 8), (16, 8), (17, 12), (18, 12)):  # queries around their length
        for n in sorted({6, 7, 8, 9, full - 1, full, full + 1}):
            items.append((4, f"query {kind}, {n} octets", message(4, kind, 0, b"\0\7\0\1" + bytes(range(1, 17)), n)))
    items.append((4, "empty", b""))
    items.append((6, "empty", b""))
    return items


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, str, bytes, str, str]]:
    """Each corpus item with ikelab's Info and tshark's."""
    require_tshark()
    items = corpus()
    path = tmp_path_factory.mktemp("icmp") / "icmp.pcap"
    ends = {4: (A4, B4, 1), 6: (A6, B6, 58)}
    write_pcap(str(path), [(1_700_000_000.0 + i, ethernet(ip_packet(*ends[v], body)))
                           for i, (v, _, body) in enumerate(items)])
    out = run_tshark(path, ["-2", "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"], timeout=120)
    theirs = dict(line.split("\t", 1) for line in out.splitlines())
    rows = dissect(Path(path))
    assert len(rows) == len(items) == len(theirs)
    return [(v, name, body, row.info, theirs[str(i)]) for i, ((v, name, body), row) in enumerate(zip(items, rows), 1)]


def test_every_frame_reads_as_in_tshark(both: list[tuple[int, str, bytes, str, str]]) -> None:
    """Frame by frame, the Info tshark writes, but for the types in LEFT."""
    differ = [(v, name, ours, theirs) for v, name, body, ours, theirs in both
              if ours != theirs and not (v == 6 and body and body[0] in LEFT)]
    assert differ == []


def test_the_left_types_still_differ(both: list[tuple[int, str, bytes, str, str]]) -> None:
    """Each type in LEFT still differs somewhere (when one no longer does, take it out of LEFT)."""
    differing = {body[0] for v, _, body, ours, theirs in both if v == 6 and body and ours != theirs}
    assert differing == set(LEFT)


def test_the_corpus_holds_the_cases_it_is_for(both: list[tuple[int, str, bytes, str, str]]) -> None:
    """tshark's wording for the edge cases is in the corpus (so the comparison above covers them)."""
    theirs = {(v, name): info for v, name, _, _, info in both}
    assert theirs[4, "echo 8, 0 octets"] == "" and theirs[6, "echo 128, 0 octets"] == "[Malformed Packet]"
    assert theirs[4, "echo 8, 5 octets"] == "[Malformed Packet]"
    assert theirs[4, "echo 8, 6 octets"] == "Echo (ping) request [Malformed Packet]"
    assert theirs[4, "type 99, 8 octets"] == "Unknown ICMP (obsolete or malformed?)"
    assert theirs[6, "type 99, 4 octets"] == "Unknown (99)[Malformed Packet]"
    assert theirs[4, "query 13, 19 octets"].endswith("ttl=64[Malformed Packet]")
    assert not theirs[4, "query 13, 20 octets"].endswith("]")
