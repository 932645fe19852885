"""Review: the links between ICMP echo requests and replies in the packet list, as Wireshark shows them.

Wireshark's packet list (tshark 4.0 with ``-2``, two passes) ends a request's Info with `` (reply in N)`` or
`` (no response found!)`` and a reply's with `` (request in N)``.  ikelab adds them in a second pass over the
finished rows (:func:`ikelab.dissect_rows.link_echoes`).  Each case below is a small capture written with
ikelab's own packet helpers, ICMP and ICMPv6, in the clear and inside ESP; the expected links are what tshark
4.0.17 showed for it, pinned here so the rule is checked without tshark too, and compared with tshark itself
when it is installed (skipped with a reason when it is not, a failure under CI=true).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ikelab import packet as ip
from ikelab.dissect import dissect
from ikelab.pcap import LINKTYPE_RAW, write_pcap
from ikelab.wireshark import EspSaRecord, write_tables

from test_dissect import tshark

ADDRESSES = {4: ("10.1.0.1", "10.2.0.1", "10.3.0.1"), 6: ("2001:db8:1::1", "2001:db8:2::1", "2001:db8:3::1")}
REQUEST_OF = {4: "Echo (ping) request  id=0x0007, seq={}/{}, ttl=64",
              6: "Echo (ping) request id=0x0007, seq={}, hop limit=64"}
NO_RESPONSE, NONE = " (no response found!)", ""


def reply_in(n: int) -> str:
    return f" (reply in {n})"


def request_in(n: int) -> str:
    return f" (request in {n})"


# name -> (echoes as (source, destination, seq, is_reply, data), with A, B, C the three addresses; the links)
CASES = {
    "pair": ([("A", "B", 1, False, b"x"), ("B", "A", 1, True, b"x")], [reply_in(2), request_in(1)]),
    "request alone": ([("A", "B", 1, False, b"x")], [NO_RESPONSE]),
    "reply alone": ([("B", "A", 1, True, b"x")], [NONE]),
    "retransmitted request": ([("A", "B", 1, False, b"x"), ("A", "B", 1, False, b"x"), ("B", "A", 1, True, b"x")],
                              [NO_RESPONSE, reply_in(3), request_in(2)]),
    "duplicate reply": ([("A", "B", 1, False, b"x"), ("B", "A", 1, True, b"x"), ("B", "A", 1, True, b"x")],
                        [reply_in(2), request_in(1), NONE]),
    "reply before its request": ([("B", "A", 1, True, b"x"), ("A", "B", 1, False, b"x")], [NONE, NO_RESPONSE]),
    "request again after the reply": ([("A", "B", 1, False, b"x"), ("B", "A", 1, True, b"x"),
                                       ("A", "B", 1, False, b"x")], [reply_in(2), request_in(1), NO_RESPONSE]),
    "reply from a third address": ([("A", "B", 1, False, b"x"), ("C", "A", 1, True, b"x")], [NO_RESPONSE, NONE]),
    "reply to a third address": ([("A", "B", 1, False, b"x"), ("B", "C", 1, True, b"x")], [NO_RESPONSE, NONE]),
    "reply in the request's direction": ([("A", "B", 1, False, b"x"), ("A", "B", 1, True, b"x")],
                                         [reply_in(2), request_in(1)]),
    "other sequence number": ([("A", "B", 1, False, b"x"), ("B", "A", 2, True, b"x")], [NO_RESPONSE, NONE]),
    "other data echoed": ([("A", "B", 1, False, b"ab"), ("B", "A", 1, True, b"ba")], [NO_RESPONSE, NONE]),
    "data differing by zero words only": ([("A", "B", 1, False, b""), ("B", "A", 1, True, b"\0\0")],
                                          [reply_in(2), request_in(1)]),
    "interleaved": ([("A", "B", 1, False, b"x"), ("A", "B", 2, False, b"x"), ("B", "A", 2, True, b"x"),
                     ("B", "A", 1, True, b"x")], [reply_in(4), reply_in(3), request_in(2), request_in(1)]),
    "two peers": ([("A", "B", 1, False, b"x"), ("A", "C", 1, False, b"x"), ("C", "A", 1, True, b"x"),
                   ("B", "A", 1, True, b"x")], [reply_in(4), reply_in(3), request_in(2), request_in(1)]),
}


def _echoes(version: int, case: str) -> list[bytes]:
    a, b, c = ADDRESSES[version]
    names = {"A": a, "B": b, "C": c}
    return [ip.icmp_echo(names[s], names[d], 7, seq, data * 8, reply=reply)
            for s, d, seq, reply, data in CASES[case][0]]


def _links(version: int, case: str) -> list[str]:
    """The case's links; two more zero octets change no ICMP checksum, but ICMPv6's pseudo-header counts them
    (its length, RFC 4443 2.3), so that reply is no answer there."""
    if case == "data differing by zero words only" and version == 6:
        return [NO_RESPONSE, NONE]
    return CASES[case][1]


def _base(info: str) -> str:
    """An Info without its link, for the check that ikelab only appends."""
    for end in (" (no response found!)", " (reply in ", " (request in "):
        if end in info:
            return info[: info.index(end)]
    return info


def _tshark_infos(pcap: Path, keys: Path | None) -> list[str]:
    return tshark(pcap, keys, "-2", "-T", "fields", "-e", "_ws.col.Info").splitlines()


# ---------------------------------------------------------------------------- in the clear


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("case", sorted(CASES))
def test_clear_echo_links_are_the_observed_ones(tmp_path: Path, case: str, version: int) -> None:
    pcap = tmp_path / "echoes.pcap"
    write_pcap(pcap, [(0.1 * i, p) for i, p in enumerate(_echoes(version, case))], linktype=LINKTYPE_RAW)
    rows = dissect(pcap)
    assert [r.info[len(_base(r.info)):] for r in rows] == _links(version, case)
    assert all(r.info.startswith("Echo (ping) ") and r.inner_info is None for r in rows)


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("case", sorted(CASES))
def test_clear_echo_links_match_tshark(tmp_path: Path, case: str, version: int) -> None:
    pcap = tmp_path / "echoes.pcap"
    write_pcap(pcap, [(0.1 * i, p) for i, p in enumerate(_echoes(version, case))], linktype=LINKTYPE_RAW)
    assert [r.info for r in dissect(pcap)] == _tshark_infos(pcap, None)


def test_icmp_and_icmpv6_echoes_with_one_identifier_are_paired_apart(tmp_path: Path) -> None:
    """The same identifier and sequence number over IPv4 and IPv6, interleaved: each family keeps its own."""
    a4, b4, _ = ADDRESSES[4]
    a6, b6, _ = ADDRESSES[6]
    pcap = tmp_path / "mixed.pcap"
    echoes = [ip.icmp_echo(a4, b4, 7, 1), ip.icmp_echo(a6, b6, 7, 1), ip.icmp_echo(b6, a6, 7, 1, reply=True),
              ip.icmp_echo(b4, a4, 7, 1, reply=True)]
    write_pcap(pcap, [(0.1 * i, p) for i, p in enumerate(echoes)], linktype=LINKTYPE_RAW)
    infos = [r.info for r in dissect(pcap)]
    assert infos[0] == REQUEST_OF[4].format(1, 256) + reply_in(4)
    assert infos[1] == REQUEST_OF[6].format(1) + reply_in(3)
    assert [i[len(_base(i)):] for i in infos[2:]] == [request_in(2), request_in(1)]
    assert infos == _tshark_infos(pcap, None)


def test_checksums_decide_as_ones_complement_sums(tmp_path: Path) -> None:
    """tshark compares the two checksum fields, not the data: 0x0000 and 0xFFFF are one value, and a request and
    reply whose checksums are both wrong but agree are paired; a bad checksum on one side is no answer."""
    a, b, _ = ADDRESSES[4]

    def with_checksum(packet: bytes, value: int) -> bytes:
        return packet[:22] + value.to_bytes(2, "big") + packet[24:]

    request, reply = ip.icmp_echo(a, b, 7, 1, b"x" * 8), ip.icmp_echo(b, a, 7, 1, b"x" * 8, reply=True)
    cases = {(0xF7FF, 0x0000): True, (0xF7FF, 0xFFFF): True, (0xFFFF, 0x0800): True, (0xFFFF, 0x07FF): False,
             (0x6161, 0x6961): True, (0x6161, 0x5961): False}
    for n, ((ours, theirs), paired) in enumerate(cases.items()):
        pcap = tmp_path / f"checksums{n}.pcap"
        write_pcap(pcap, [(0.0, with_checksum(request, ours)), (0.1, with_checksum(reply, theirs))],
                   linktype=LINKTYPE_RAW)
        infos = [r.info for r in dissect(pcap)]
        assert infos[0].endswith(reply_in(2) if paired else NO_RESPONSE), (hex(ours), hex(theirs))
        assert infos == _tshark_infos(pcap, None)


def test_echoes_in_the_classic_trace_are_all_answered(tmp_path: Path) -> None:
    """The lessons' classic trace: every decrypted ping names its reply and every reply its request."""
    from ikelab.scenario import classic

    paths = classic(seed=11, duration=8.0, reconnect_at=None).write(tmp_path)
    esp = [r for r in dissect(paths["pcap"], tmp_path) if r.kind == "esp"]
    requests = {_base(r.inner_info).split("seq=")[1].split(",")[0]: r for r in esp if " request " in r.inner_info}
    replies = {_base(r.inner_info).split("seq=")[1].split(",")[0]: r for r in esp if " reply " in r.inner_info}
    assert len(requests) >= 4 and requests.keys() == replies.keys() and len(esp) == 2 * len(requests)
    for seq, request in requests.items():
        reply = replies[seq]
        assert request.no < reply.no and request.inner_info.endswith(reply_in(reply.no)), request
        assert reply.inner_info.endswith(request_in(request.no)), reply


def test_linking_the_same_rows_again_changes_nothing(tmp_path: Path) -> None:
    """dissect() links once; link_echoes on its rows again (or on dissect_frames' rows twice) adds no second link."""
    from ikelab.dissect_frames import dissect_frames
    from ikelab.dissect_rows import link_echoes
    from ikelab.pcap import read_capture
    from ikelab.scenario import classic

    paths = classic(seed=11, duration=6.0, reconnect_at=None).write(tmp_path)
    rows = dissect(paths["pcap"], tmp_path)
    infos = [(r.info, r.inner_info) for r in rows]
    assert sum(" (reply in " in (inner or "") for _, inner in infos) >= 3
    link_echoes(rows)
    assert [(r.info, r.inner_info) for r in rows] == infos
    from ikelab.wireshark import read_tables

    fresh = list(dissect_frames(read_capture(paths["pcap"]), read_tables(tmp_path)))
    assert not any(" (re" in (r.inner_info or "") for r in fresh)  # not linked before the capture's end
    link_echoes(fresh)
    link_echoes(fresh)
    assert [(r.info, r.inner_info) for r in fresh] == infos


# ---------------------------------------------------------------------------- inside ESP

_OUTER = ("198.51.100.1", "198.51.100.2")
_KEYS = {0x1001: bytes(range(16)) + b"salt", 0x1002: bytes(range(16, 32)) + b"SALT"}


def _esp(spi: int, seq: int, inner: bytes) -> bytes:
    """A tunnel-mode AES-GCM ESP packet (RFC 4106, RFC 4303 2.4's default padding) carrying ``inner``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = _KEYS[spi]
    header, iv = struct.pack("!II", spi, seq), seq.to_bytes(8, "big")
    padding = bytes(range(1, 1 + (-(len(inner) + 2) % 4)))
    trailer = bytes((len(padding), 4 if inner[0] >> 4 == 4 else 41))
    return header + iv + AESGCM(key[:16]).encrypt(key[16:] + iv, inner + padding + trailer, header)


def _esp_capture(tmp_path: Path, version: int, case: str) -> tuple[Path, Path]:
    """The case's echoes, each in ESP from 198.51.100.1 (SPI 0x1001) or back (0x1002) as its source says."""
    a = ADDRESSES[version][0]
    frames, seqs = [], {0x1001: 0, 0x1002: 0}
    for i, inner in enumerate(_echoes(version, case)):
        source = str(ip.parse_ip(inner).src)
        spi = 0x1001 if source == a else 0x1002
        seqs[spi] += 1
        outer = _OUTER if spi == 0x1001 else _OUTER[::-1]
        frames.append((0.1 * i, ip.ip_packet(*outer, 50, _esp(spi, seqs[spi], inner))))
    pcap = tmp_path / "esp.pcap"
    write_pcap(pcap, frames, linktype=LINKTYPE_RAW)
    keydir = tmp_path / "keys"
    write_tables(keydir, [], [EspSaRecord("IPv4", *(_OUTER if spi == 0x1001 else _OUTER[::-1]), spi,
                                          "AES-GCM with 16 octet ICV [RFC4106]", key, "NULL", b"")
                              for spi, key in _KEYS.items()])
    return pcap, keydir


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("case", ["pair", "retransmitted request", "duplicate reply", "reply before its request",
                                  "reply from a third address", "other data echoed", "interleaved"])
def test_decrypted_echoes_are_linked_in_the_inner_info_as_tshark_does(tmp_path: Path, case: str,
                                                                      version: int) -> None:
    pcap, keydir = _esp_capture(tmp_path, version, case)
    rows = dissect(pcap, keydir)
    assert all(r.kind == "esp" and r.decrypted and r.icv_ok and r.info.startswith("ESP (SPI=0x") for r in rows)
    assert [r.inner_info[len(_base(r.inner_info)):] for r in rows] == _links(version, case)
    assert [r.inner_info for r in rows] == _tshark_infos(pcap, keydir)  # tshark lists the inner packet


@pytest.mark.parametrize("version", [4, 6])
def test_without_keys_esp_rows_have_nothing_to_link(tmp_path: Path, version: int) -> None:
    """The same capture without the esp_sa table: ESP rows, no inner packet, no link, in ikelab as in tshark."""
    pcap, _ = _esp_capture(tmp_path, version, "pair")
    rows = dissect(pcap)
    assert [(r.info, r.inner_info) for r in rows] == [("ESP (SPI=0x00001001)", None), ("ESP (SPI=0x00001002)", None)]
    assert [r.info for r in rows] == _tshark_infos(pcap, None)


def test_a_clear_request_and_a_decrypted_reply_are_one_conversation(tmp_path: Path) -> None:
    """A ping sent before the CHILD SA stood and answered through it: one pair, by the inner addresses."""
    from ikelab.pcap import read_capture

    a, b, _ = ADDRESSES[4]
    pcap, keydir = _esp_capture(tmp_path, 4, "pair")
    reply = read_capture(pcap)[1].data  # the reply, in ESP
    write_pcap(pcap, [(0.0, ip.icmp_echo(a, b, 7, 1, b"x" * 8)), (0.1, reply)], linktype=LINKTYPE_RAW)
    rows = dissect(pcap, keydir)
    assert rows[0].info == REQUEST_OF[4].format(1, 256) + reply_in(2)
    assert rows[1].kind == "esp" and rows[1].inner_info.endswith(request_in(1))
    assert [rows[0].info, rows[1].inner_info] == _tshark_infos(pcap, keydir)
