"""Dissecting captures (ikelab.dissect), checked against tshark 4.0 row by row.

References:

* tshark 4.0.17 on the same files: the packet-list columns (Time, Source,
  Destination, Protocol, Length, Info), the payload types of every IKE
  message (``isakmp.typepayload``, inner payloads of SK included once the
  keys are given) and the decrypted ESP contents (``icmp.seq``);
* IKEv2 messages written by real implementations (AOSP's IKE library and
  messages quoted by rusticata/ipsec-parser, from
  ``tests/vectors/ikev2_messages.json``, whose sources are cited there), put in
  a capture with the keys those test suites published;
* RFC 7296 1.2-1.3 for what the classic exchanges must carry.

Broken input of every kind must give a row with a note, never an exception.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikelab import packet as ip
from ikelab.dissect import dissect
from ikelab.errors import CaptureError, CaptureWarning
from ikelab.pcap import LINKTYPE_ETHERNET, LINKTYPE_RAW, CapturedPacket, write_pcap
from ikelab.wireshark import IkeSaRecord, KeyTables, write_tables

from tshark_util import require_tshark

VECTORS = json.loads((Path(__file__).parent / "vectors" / "ikev2_messages.json").read_text())


def tshark(pcap: Path, keys: Path | None, *args: str) -> str:
    if keys is None:  # no key tables: an empty configuration directory, removed afterwards
        with tempfile.TemporaryDirectory(prefix="ikelab-empty-wireshark-config-") as empty:
            return tshark(pcap, Path(empty), *args)
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(keys), HOME=str(keys))
    cmd = [require_tshark(), "-n", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
           "-o", "esp.enable_authentication_check:TRUE", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def tshark_columns(pcap: Path, keys: Path | None) -> list[list[str]]:
    """Wireshark's packet list: two passes (``-2``), so a request shows its reply (ikelab.dissect_rows.link_echoes)."""
    out = tshark(pcap, keys, "-2", "-T", "fields", "-E", "separator=\t", "-e", "frame.number",
                 "-e", "frame.time_relative", "-e", "_ws.col.Source", "-e", "_ws.col.Destination",
                 "-e", "_ws.col.Protocol", "-e", "frame.len", "-e", "_ws.col.Info", "-e", "icmp.seq",
                 "-e", "icmpv6.echo.sequence_number")
    return [line.split("\t") for line in out.splitlines()]


def _payload_chain(node: ET.Element) -> list[tuple[int, ET.Element]]:
    """The isakmp.typepayload fields below ``node`` that have no typepayload between them and ``node``."""
    found = []
    for child in node:
        if child.get("name") == "isakmp.typepayload":
            found.append((int(child.get("show")), child))
        else:
            found.extend(_payload_chain(child))
    return found


def tshark_payloads(pcap: Path, keys: Path | None) -> dict[int, tuple[list[int], list[int]]]:
    """Frame number -> (outer payload types, inner payload types of the SK payload) as tshark sees them."""
    root = ET.fromstring(tshark(pcap, keys, "-T", "pdml"))
    result = {}
    for packet in root.findall("packet"):
        number = int(packet.find("proto[@name='geninfo']/field[@name='num']").get("show"))
        isakmp = packet.find("proto[@name='isakmp']")
        if isakmp is None:
            continue
        outer = _payload_chain(isakmp)
        inner: list[int] = []
        for kind, element in outer:
            if kind == 46:
                inner = [k for k, _ in _payload_chain(element)]
        result[number] = ([k for k, _ in outer], inner)
    return result


def ikelab_payloads(row) -> tuple[list[int], list[int]]:
    from ikelab.payloads import SK

    msg = row.message
    outer = [int(p.payload_type) for p in msg.payloads]
    inner = []
    if msg.payloads and isinstance(msg.payloads[-1], SK) and msg.payloads[-1].inner is not None:
        inner = [int(p.payload_type) for p in msg.payloads[-1].inner]
    return outer, inner


# ---------------------------------------------------------------------------- the classic trace


@pytest.fixture(scope="module")
def classic_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from ikelab.scenario import classic

    d = tmp_path_factory.mktemp("classic")
    paths = classic(seed=11, duration=24.0, reconnect_at=14.0).write(d)
    return paths["pcap"], d


@pytest.mark.parametrize("with_keys", [False, True], ids=["no-keys", "keys"])
def test_packet_list_matches_tshark_row_by_row(classic_capture: tuple[Path, Path], with_keys: bool) -> None:
    pcap, keydir = classic_capture
    rows = dissect(pcap, keydir if with_keys else None)
    theirs = tshark_columns(pcap, keydir if with_keys else None)
    assert len(rows) == len(theirs) > 40
    for row, (no, t, src, dst, proto, length, info, icmp_seq, _) in zip(rows, theirs):
        assert row.no == int(no)
        assert row.time == pytest.approx(float(t), abs=1e-6)
        assert row.length == int(length)
        if row.kind == "ike" or not with_keys:
            assert (row.src, row.dst, row.protocol, row.info) == (src, dst, proto, info)
        else:  # tshark shows the decrypted inner packet's columns; ikelab keeps the ESP row and adds the inner one
            assert row.decrypted and row.icv_ok
            assert (row.inner_src, row.inner_dst, row.inner_protocol) == (src, dst, proto)
            assert info == row.inner_info  # with the link to the request or the reply
            assert row.inner_info.split("seq=")[1].split("/")[0] == icmp_seq


def test_payload_lists_match_tshark(classic_capture: tuple[Path, Path]) -> None:
    pcap, keydir = classic_capture
    rows = dissect(pcap, keydir)
    theirs = tshark_payloads(pcap, keydir)
    ike_rows = [r for r in rows if r.kind == "ike"]
    assert len(ike_rows) == len(theirs) >= 20
    for row in ike_rows:
        assert ikelab_payloads(row) == theirs[row.no], row.no


def test_ip_fragments_are_reassembled_as_tshark_does(classic_capture: tuple[Path, Path], tmp_path: Path) -> None:
    """An IKE_AUTH with certificates outgrows a 1500-byte MTU: the capture holds IP fragments (RFC 791 3.2).

    Every IKE and ESP packet of the classic trace is cut at a 120-byte MTU, one
    datagram's pieces arrive last first, an IPv6 IKE message comes in
    fragments too, and one fragment's datagram never completes.  tshark -2
    (two passes, as the GUI does) must show the same rows; the frame that
    completes a datagram is dissected, and decrypted, as the whole message.
    """
    from ikelab.ip_fragments import fragment
    from ikelab.pcap import ip_payload, read_capture

    pcap, keydir = classic_capture
    frames = []
    for i, frame in enumerate(read_capture(pcap)):
        pieces = fragment(ip_payload(frame), 120, ident=0x4000 + i)
        if i == 3:
            pieces.reverse()  # the last piece first: the datagram completes with the first
        frames += [CapturedPacket(frame.time, piece, LINKTYPE_RAW) for piece in pieces]
    ike_init = ip_payload(read_capture(pcap)[0])[28:]
    v6 = ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, ike_init)
    frames += [CapturedPacket(frames[-1].time + 1, p, LINKTYPE_RAW) for p in fragment(v6, 300, ident=0xABCDEF)]
    lone = fragment(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, ike_init), 200, ident=0x7777)[0]
    frames.append(CapturedPacket(frames[-1].time + 1, lone, LINKTYPE_RAW))
    path = tmp_path / "fragments.pcap"
    write_pcap(path, frames, linktype=LINKTYPE_RAW)

    rows = dissect(path, keydir)
    theirs = tshark(path, keydir, "-2", "-T", "fields", "-E", "separator=\t", "-e", "frame.number", "-e",
                    "_ws.col.Protocol", "-e", "_ws.col.Info").splitlines()
    assert len(rows) == len(theirs) >= 2 * len(read_capture(pcap))
    payloads = tshark_payloads(path, keydir)
    for row, line in zip(rows, theirs):
        no, proto, info = line.split("\t")
        assert row.no == int(no)
        if row.kind == "esp":  # tshark shows the decrypted inner packet; ikelab the ESP row and the inner one
            assert row.decrypted and row.icv_ok and info == row.inner_info, (row, info)
        else:
            assert (row.protocol, row.info) == (proto, info), row.no
        if row.kind == "ike":
            assert ikelab_payloads(row) == payloads[row.no] and row.decrypted in (True, None), row.no
    reassembled = [r for r in rows if r.kind in ("ike", "esp") and " fragments (" in r.note]
    assert len(reassembled) == sum(len(ip_payload(f)) > 120 for f in read_capture(pcap)) + 1 > 40
    assert rows[-1].note == "IP fragment: the rest of its datagram is not in the capture (not reassembled)"


def test_ipv6_fragments_that_overlap_and_agree_are_reassembled_as_tshark_does(classic_capture: tuple[Path, Path],
                                                                             tmp_path: Path) -> None:
    """RFC 8200 4.5 tells a host to drop such a datagram (ikelab.ip_fragments does), but Wireshark 4.0 puts it
    together, and the packet list follows Wireshark: the IKE_SA_INIT request in three pieces, the second
    repeating the first one's last 16 octets."""
    import ipaddress
    import struct

    from ikelab.pcap import ip_payload, read_capture

    pcap, keydir = classic_capture
    datagram = ip.ip_udp("2001:db8::1", "2001:db8::2", 500, 500, ip_payload(read_capture(pcap)[0])[28:])[40:]

    def piece(start: int, end: int, more: bool) -> bytes:
        header = struct.pack("!BBHI", 17, 0, start | more, 0x51)  # Fragment header: offset in octets, M flag
        data = datagram[start:end]
        return struct.pack("!IHBB", 0x60000000, 8 + len(data), 44, 64) + \
            ipaddress.ip_address("2001:db8::1").packed + ipaddress.ip_address("2001:db8::2").packed + header + data

    frames = [piece(0, 64, True), piece(48, 128, True), piece(128, len(datagram), False)]
    path = tmp_path / "overlap6.pcap"
    write_pcap(path, [CapturedPacket(float(n), f, LINKTYPE_RAW) for n, f in enumerate(frames)], linktype=LINKTYPE_RAW)
    theirs = tshark(path, None, "-2", "-T", "fields", "-E", "separator=\t", "-e", "_ws.col.Protocol", "-e",
                    "_ws.col.Info").splitlines()
    assert [f"{r.protocol}\t{r.info}" for r in dissect(path)] == theirs
    assert theirs[-1].startswith("ISAKMP\tIKE_SA_INIT MID=00 Initiator Request")


def _icmp_error(v6: bool, kind: int, code: int) -> bytes:
    """An ICMP or ICMPv6 error quoting a UDP 4500 packet, checksum included (RFC 792, RFC 4443 2.3)."""
    import ipaddress

    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("192.0.2.1", "192.0.2.2")
    quoted = ip.ip_udp(dst, src, 4500, 4500, bytes(20))
    body = bytes([kind, code, 0, 0]) + (1400 if (kind, code) in ((3, 4), (2, 0)) else 0).to_bytes(4, "big") + quoted
    pseudo = b""
    if v6:
        pseudo = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + len(body).to_bytes(4, "big") + \
            bytes([0, 0, 0, 58])
    checksum = ip.internet_checksum(pseudo + body).to_bytes(2, "big")
    return ip.ip_packet(src, dst, 58 if v6 else 1, body[:2] + checksum + body[4:])


def test_icmp_errors_read_as_in_tshark(tmp_path: Path) -> None:
    """Port unreachable, Fragmentation needed, Packet Too Big... are what a broken IPsec path sends back."""
    errors = [(False, 3, code) for code in range(16)] + [(False, 11, 0), (False, 11, 1)] + \
        [(True, 1, code) for code in range(7)] + [(True, 2, 0), (True, 3, 0), (True, 3, 1)] + \
        [(True, 4, code) for code in range(3)]
    # codes past the common ones: tshark names some (RFC 8554, RFC 7112) and words the others its own way
    errors += [(False, 3, 16), (False, 3, 255), (False, 11, 2), (True, 1, 7), (True, 1, 8), (True, 3, 2),
               (True, 4, 3), (True, 4, 4)]
    path = tmp_path / "icmp.pcap"
    write_pcap(path, [(n, _icmp_error(*e)) for n, e in enumerate(errors)], linktype=LINKTYPE_RAW)
    theirs = tshark(path, None, "-T", "fields", "-e", "_ws.col.Info").splitlines()
    assert [r.info for r in dissect(path)] == theirs and len(theirs) == len(errors)
    assert theirs[4] == "Destination unreachable (Fragmentation needed)"
    assert theirs[-8:-5] == ["Destination unreachable (Unknown code: 16)", "Destination unreachable (Unknown code: 255)",
                             "Time-to-live exceeded (Unknown code: 2)"]


def test_other_icmp_messages_read_as_in_tshark(tmp_path: Path) -> None:
    """Redirects, router advertisements, parameter problems, source quench, RFC 2521's security failures (Photuris:
    Bad SPI...) and the queries shown like an echo, every code and one past the last, as tshark 4.0 lists them (they
    once all read 'type N, code M')."""
    cases = [(4, 0)] + [(5, c) for c in range(5)] + [(12, c) for c in range(4)] + [(40, c) for c in range(7)] + \
        [(10, 0), (30, 0)] + [(kind, 0) for kind in (13, 14, 15, 16, 17, 18)] + [(6, 0), (6, 1)] + \
        [(42, c) for c in range(2)] + [(43, c) for c in range(6)] + [(9, c) for c in (0, 1, 15, 16, 17, 255)]
    packets = [_icmp_error(False, kind, code) for kind, code in cases]  # each quotes a packet, as errors do
    path = tmp_path / "icmp.pcap"
    write_pcap(path, list(enumerate(packets)), linktype=LINKTYPE_RAW)
    theirs = tshark(path, None, "-T", "fields", "-e", "_ws.col.Info").split("\n")[:-1]  # trailing blanks kept
    assert [r.info for r in dissect(path)] == theirs
    assert theirs[0] == "Source quench (flow control)" and theirs[10] == "Photuris             (Bad SPI)"
    assert theirs[-6:-4] == ["Mobile IP Advertisement (Normal router advertisement)",
                             "Router advertisement (Unknown code: 1)"]


def test_arp_and_neighbor_discovery_read_as_in_tshark(tmp_path: Path) -> None:
    """The frames around every exchange on a LAN (RFC 826, RFC 5227, RFC 4861, RFC 3810), as tshark lists them."""
    import ipaddress
    import struct

    mac = lambda text: bytes.fromhex(text.replace(":", ""))  # noqa: E731
    a, b, everyone, nobody = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"

    def arp(op: int, sha: str, spa: str, tha: str, tpa: str, dst: str) -> bytes:
        body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac(sha) + ipaddress.ip_address(spa).packed + \
            mac(tha) + ipaddress.ip_address(tpa).packed
        return mac(dst) + mac(sha) + b"\x08\x06" + body

    def icmp6(src: str, dst: str, body: bytes) -> bytes:
        pseudo = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + \
            len(body).to_bytes(4, "big") + bytes([0, 0, 0, 58])
        checksum = ip.internet_checksum(pseudo + body).to_bytes(2, "big")
        return ip.ethernet(ip.ip_packet(src, dst, 58, body[:2] + checksum + body[4:], ttl=255), src_mac=a,
                           dst_mac="33:33:00:00:00:01")

    option = lambda kind, text: bytes([kind, 1]) + mac(text)  # noqa: E731 - a link-layer address option
    target = ipaddress.ip_address("fe80::a").packed
    frames = [
        arp(1, a, "192.0.2.1", nobody, "192.0.2.2", everyone), arp(2, b, "192.0.2.2", a, "192.0.2.1", a),
        arp(1, a, "192.0.2.1", nobody, "192.0.2.1", everyone), arp(1, a, "0.0.0.0", nobody, "192.0.2.9", everyone),
        arp(2, a, "192.0.2.1", everyone, "192.0.2.1", everyone),
        icmp6("fe80::b", "ff02::1:ff00:a", bytes([135, 0, 0, 0, 0, 0, 0, 0]) + target + option(1, b)),
        icmp6("::", "ff02::1:ff00:a", bytes([135, 0, 0, 0, 0, 0, 0, 0]) + target),
        icmp6("fe80::a", "fe80::b", bytes([136, 0, 0, 0, 0x60, 0, 0, 0]) + target + option(2, a)),
        icmp6("fe80::a", "ff02::1", bytes([136, 0, 0, 0, 0xA0, 0, 0, 0]) + target + option(2, a)),
        icmp6("fe80::a", "ff02::1", bytes([136, 0, 0, 0, 0x20, 0, 0, 0]) + target),
        icmp6("fe80::a", "ff02::2", bytes([133, 0, 0, 0, 0, 0, 0, 0]) + option(1, a)),
        icmp6("::", "ff02::2", bytes([133, 0, 0, 0, 0, 0, 0, 0])),
        icmp6("fe80::b", "ff02::1", bytes([134, 0, 0, 0, 64, 0, 7, 8]) + bytes(8) + option(1, b)),
        icmp6("fe80::a", "ff02::16", bytes([143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0]) +
              ipaddress.ip_address("ff02::1:ff00:a").packed),
    ]
    path = tmp_path / "lan.pcap"
    write_pcap(path, [(n, f) for n, f in enumerate(frames)], linktype=LINKTYPE_ETHERNET)
    theirs = tshark(path, None, "-T", "fields", "-E", "separator=\t", "-e", "_ws.col.Source", "-e",
                    "_ws.col.Destination", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info").splitlines()
    assert ["\t".join((r.src, r.dst, r.protocol, r.info)) for r in dissect(path)] == theirs
    assert len(theirs) == len(frames) and theirs[2].endswith("ARP Announcement for 192.0.2.1")


def test_other_ethernet_frames_show_their_addresses_as_in_tshark(tmp_path: Path) -> None:
    """An Ethernet frame of an EtherType ikelab does not read (here 0x1234) is listed with its MAC addresses and
    its EtherType, as tshark lists it; an IEEE 802.3 frame (a length where the EtherType goes) with its addresses."""
    import struct

    a, b = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000b")
    frames = [b + a + struct.pack("!H", 0x1234) + bytes(46), b"\xff" * 6 + a + struct.pack("!H", 46) +
              bytes.fromhex("aaaa03000000") + b"\x12\x34" + bytes(38)]
    path = tmp_path / "other.pcap"
    write_pcap(path, [(n, f) for n, f in enumerate(frames)], linktype=LINKTYPE_ETHERNET)
    theirs = [line.split("\t") for line in tshark(path, None, "-T", "fields", "-E", "separator=\t", "-e",
                                                   "_ws.col.Source", "-e", "_ws.col.Destination", "-e",
                                                   "_ws.col.Protocol", "-e", "_ws.col.Info").splitlines()]
    rows = dissect(path)
    assert [[r.src, r.dst, r.protocol, r.info] for r in rows[:1]] == theirs[:1]
    assert theirs[0] == ["02:00:00:00:00:0a", "02:00:00:00:00:0b", "0x1234", "Ethernet II"]
    assert [rows[1].src, rows[1].dst, rows[1].protocol] == theirs[1][:3] == ["02:00:00:00:00:0a", "ff:ff:ff:ff:ff:ff",
                                                                              "LLC"]
    assert all(r.note == "not an IPv4/IPv6 packet: skipped" for r in rows)


def test_classic_exchanges_carry_what_rfc_7296_says(classic_capture: tuple[Path, Path]) -> None:
    pcap, keydir = classic_capture
    rows = dissect(pcap, keydir)
    by_exchange: dict[tuple[str, bool], set[tuple[str, ...]]] = {}
    for r in rows.ike():
        by_exchange.setdefault((r.exchange, r.is_response), set()).add(r.payloads + r.inner_payloads)
        assert r.icv_ok in (True, None) and r.decrypted in (True, None)
    # RFC 7296 1.2: HDR, SAi1, KEi, Ni (+ NAT detection); 1.2 IKE_AUTH: HDR, SK {IDi, [CERT,] AUTH, SAi2, TSi, TSr}
    assert all(p[:3] == ("SA", "KE", "Ni") for p in by_exchange[("IKE_SA_INIT", False)])
    assert all(p[:3] == ("SA", "KE", "Nr") for p in by_exchange[("IKE_SA_INIT", True)])
    assert {p[0] for p in by_exchange[("IKE_AUTH", False)]} == {"SK"}
    assert all({"IDi", "AUTH", "SA", "TSi", "TSr"} <= set(p) for p in by_exchange[("IKE_AUTH", False)])
    # RFC 7296 1.3.3: rekeying a CHILD SA: SK {N(REKEY_SA), SA, Ni, [KEi,] TSi, TSr}
    assert any("N(REKEY_SA)" in p for p in by_exchange[("CREATE_CHILD_SA", False)])
    # RFC 7296 1.4: liveness = an empty INFORMATIONAL request, SK {}
    assert ("SK",) in by_exchange[("INFORMATIONAL", False)]


def test_pcapng_gives_the_same_rows(classic_capture: tuple[Path, Path]) -> None:
    pcap, keydir = classic_capture
    a = dissect(pcap, keydir)
    b = dissect(pcap.with_suffix(".pcapng"), keydir)
    assert [r.as_dict() for r in a] == [r.as_dict() for r in b]


def test_json_fields(classic_capture: tuple[Path, Path]) -> None:
    pcap, keydir = classic_capture
    objs = [json.loads(line) for line in dissect(pcap, keydir).to_json().splitlines()]
    need = {"no", "time", "src", "dst", "protocol", "length", "info", "exchange", "message_id", "spi_i", "spi_r",
            "payloads", "decrypted", "inner_payloads", "icv_ok", "spi", "seq", "inner_protocol"}
    assert all(need <= set(o) for o in objs)
    init = objs[0]
    assert init["protocol"] == "ISAKMP" and init["exchange"] == "IKE_SA_INIT" and init["message_id"] == 0
    assert init["payloads"][:3] == ["SA", "KE", "Ni"] and "N(NAT_DETECTION_SOURCE_IP)" in init["payloads"]
    assert init["decrypted"] is None and len(init["spi_i"]) == 16 and init["spi_r"] == "0" * 16
    esp = next(o for o in objs if o["protocol"] == "ESP")
    assert esp["spi"].startswith("0x") and esp["seq"] == 1 and esp["inner_protocol"] == "ICMP" and esp["icv_ok"]


# ---------------------------------------------------------------------------- real implementations' messages


def _real_capture(tmp_path: Path) -> tuple[Path, Path]:
    """The published messages of other implementations, one UDP/500 datagram each, and their keys."""
    v = VECTORS
    cbc = v["aosp_ike_auth_aes_cbc_hmac_sha1"]
    messages = [
        bytes.fromhex(v["aosp_ike_sa_init"]["hex"]),
        bytes.fromhex(v["rusticata_ike_sa_init"]["hex"]),
        bytes.fromhex(cbc["header"] + cbc["sk_header"] + cbc["iv"] + cbc["encrypted"] + cbc["icv"]),
        bytes.fromhex(v["aosp_ike_auth_aes_gcm16"]["hex"]),
        bytes.fromhex(v["aosp_ike_auth_3des_hmac_sha1"]["hex"]),
        bytes.fromhex(v["aosp_skf_3des_hmac_sha1"]["hex"]),
    ]
    frames = []
    for i, m in enumerate(messages):
        response = bool(m[19] & 0x20)
        src, dst = ("192.0.2.2", "192.0.2.1") if response else ("192.0.2.1", "192.0.2.2")
        frames.append((1_600_000_000.0 + i, ip.ethernet(ip.ip_udp(src, dst, 500, 500, m))))
    pcap = tmp_path / "real.pcap"
    write_pcap(pcap, frames)
    # Keys as the AOSP tests publish them: one direction each; the other direction is unused.
    gcm = v["aosp_ike_auth_aes_gcm16"]
    des = v["aosp_ike_auth_3des_hmac_sha1"]
    m_cbc, m_gcm, m_des = messages[2], messages[3], messages[4]
    records = [
        IkeSaRecord(m_cbc[:8], m_cbc[8:16], bytes.fromhex(cbc["sk_e"]), bytes(16), "AES-CBC-128 [RFC3602]",
                    bytes.fromhex(cbc["sk_a"]), bytes(20), "HMAC_SHA1_96 [RFC2404]"),
        IkeSaRecord(m_gcm[:8], m_gcm[8:16], bytes.fromhex(gcm["sk_e"]), bytes(36),
                    "AES-GCM-256 with 16 octet ICV [RFC5282]", b"", b"", "NONE [RFC4306]"),
        IkeSaRecord(m_des[:8], m_des[8:16], bytes(24), bytes.fromhex(des["sk_e"]), "3DES [RFC2451]", bytes(20),
                    bytes.fromhex(des["sk_a"]), "HMAC_SHA1_96 [RFC2404]"),
    ]
    keydir = tmp_path / "keys"
    write_tables(keydir, records, [])
    return pcap, keydir


@pytest.mark.parametrize("with_keys", [False, True], ids=["no-keys", "keys"])
def test_real_implementation_messages_match_tshark(tmp_path: Path, with_keys: bool) -> None:
    pcap, keydir = _real_capture(tmp_path)
    keys = keydir if with_keys else None
    rows = dissect(pcap, keys)
    theirs = tshark_payloads(pcap, keys)
    columns = tshark_columns(pcap, keys)
    assert len(rows) == len(theirs) == 6
    for row, cols in zip(rows, columns):
        if "EAP" in row.inner_payloads:  # tshark's EAP dissector then overwrites the Info column
            assert cols[6].startswith(("Request, ", "Response, ")) and row.info == "IKE_AUTH MID=02 Responder Response"
        else:
            assert row.info == cols[6]
        outer, inner = ikelab_payloads(row)
        assert outer == theirs[row.no][0], row.no
        if row.kind == "ike" and row.message.payloads and int(row.message.payloads[-1].payload_type) == 46:
            assert inner == theirs[row.no][1], row.no  # decrypted alike (or both not at all)
    decrypted = [r.no for r in rows if r.decrypted]
    assert decrypted == ([3, 4, 5] if with_keys else [])
    if with_keys:
        assert rows[2].inner_payloads == ("IDi", "IDr", "AUTH", "SA", "TSi", "TSr", "N(INITIAL_CONTACT)",
                                          "N(SET_WINDOW_SIZE)")
        assert all(rows[i].icv_ok for i in (2, 3, 4))


# ---------------------------------------------------------------------------- broken input


def _frames(*ip_packets: bytes) -> list[CapturedPacket]:
    return [CapturedPacket(float(i), p, LINKTYPE_RAW) for i, p in enumerate(ip_packets)]


def test_clear_icmp_echoes_read_as_tshark_reads_them(tmp_path: Path) -> None:
    """ICMP outside any SA (a ping before the CHILD SA stands, a peer without IPsec) gets tshark's Info."""
    pcap = tmp_path / "pings.pcap"
    write_pcap(pcap, [(0.0, ip.icmp_echo("192.0.2.1", "192.0.2.2", 7, 1, b"x" * 16)),
                      (0.1, ip.icmp_echo("192.0.2.2", "192.0.2.1", 7, 1, b"x" * 16, reply=True, ttl=63)),
                      (0.2, ip.icmp_echo("2001:db8::1", "2001:db8::2", 0x1234, 300)),
                      (0.3, ip.icmp_echo("2001:db8::2", "2001:db8::1", 0x1234, 300, reply=True, ttl=255))],
               linktype=LINKTYPE_RAW)
    rows = dissect(pcap)
    theirs = tshark_columns(pcap, None)
    assert len(rows) == len(theirs) == 4
    for row, (_, _, src, dst, proto, _, info, _, _) in zip(rows, theirs):
        assert (row.src, row.dst, row.protocol) == (src, dst, proto)
        assert row.info.startswith("Echo (ping) ") and info == row.info  # "(reply in 2)", "(request in 1)"


def test_ipv6_esp_rows_match_tshark(tmp_path: Path) -> None:
    """The IPv6 classic trace: ICMPv6 inside ESP, decrypted, reads as tshark reads it (its own wording)."""
    from ikelab.scenario import classic

    paths = classic(seed=12, duration=6.0, reconnect_at=None, ipv6=True).write(tmp_path)
    rows = dissect(paths["pcap"], tmp_path)
    theirs = tshark_columns(paths["pcap"], tmp_path)
    esp = [(row, cols) for row, cols in zip(rows, theirs) if row.kind == "esp"]
    assert len(rows) == len(theirs) and len(esp) >= 8
    for row, (_, _, src, dst, proto, _, info, _, seq6) in esp:
        assert row.decrypted and proto == "ICMPv6" and (row.inner_src, row.inner_dst, row.inner_protocol) == (src, dst, proto)
        assert info == row.inner_info and f"seq={seq6}," in row.inner_info


def test_broken_frames_give_notes(tmp_path: Path) -> None:
    from ikelab.scenario import classic

    sc = classic(seed=2, duration=4.0, reconnect_at=None, liveness_interval=None)
    good = [p for _, p in sc.trace.ip_packets()]
    ike_auth = next(p for p in good if len(p) > 28 and p[28 + 18] == 35)
    esp = next(p for p in good if p[9] == 50)
    flip = lambda data, i: data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]  # noqa: E731
    v1 = ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, bytes(16) + bytes([1, 0x10, 2, 0]) + bytes(4) + (28).to_bytes(4, "big"))
    frag = bytearray(ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"x" * 40))
    frag[6] |= 0x20  # More Fragments
    cases = {
        "short": b"\x45\x00",
        "ihl": b"\x41" + bytes(30),
        "version": b"\x75" + bytes(30),
        "ike-garbage": ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, b"\x01\x02\x03"),
        "ike-bad-length": ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, ike_auth[28:60]),
        "nat-t-marker-garbage": ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, bytes(4) + b"\xaa"),
        "keepalive": ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, b"\xff"),
        "esp-short": ip.ip_packet("192.0.2.1", "192.0.2.2", 50, b"\x00\x01"),
        "esp-unknown-spi": ip.ip_packet("192.0.2.1", "192.0.2.2", 50, b"\xde\xad\xbe\xef" + bytes(40)),
        "esp-tampered": flip(esp, len(esp) - 3),
        "ike-tampered": flip(ike_auth, len(ike_auth) - 5),
        "ikev1": v1,
        "fragment": bytes(frag),
        "udp-short": ip.ip_packet("192.0.2.1", "192.0.2.2", 17, b"\x01\xf4"),
    }
    rows = dissect(_frames(*cases.values()), sc.tables)
    got = dict(zip(cases, rows))
    assert len(rows) == len(cases)
    for name in ("short", "ihl", "version", "ike-garbage", "ike-bad-length", "nat-t-marker-garbage", "esp-short",
                 "esp-unknown-spi", "esp-tampered", "ike-tampered", "ikev1", "fragment", "udp-short"):
        assert got[name].note, name
    assert got["keepalive"].info == "NAT-keepalive" and not got["keepalive"].note
    assert got["esp-tampered"].icv_ok is False and got["esp-tampered"].decrypted is False
    assert got["ike-tampered"].icv_ok is False and got["ike-tampered"].decrypted is False
    assert got["ike-tampered"].info == "IKE_AUTH MID=01 Initiator Request"  # the header still reads
    assert got["esp-unknown-spi"].info == "ESP (SPI=0xdeadbeef)"
    assert got["ikev1"].exchange == "IKEv1"


def test_non_ip_link_types_and_foreign_frames() -> None:
    frames = [
        CapturedPacket(0.0, b"\x01" * 20, 147),  # a user link type: not IP
        CapturedPacket(1.0, ip.ethernet(ip.ip_udp("192.0.2.1", "192.0.2.2", 53, 53, b"dns?")), LINKTYPE_ETHERNET),
        CapturedPacket(2.0, b"\x00" * 6, LINKTYPE_ETHERNET),  # too short for Ethernet
        CapturedPacket(3.0, ip.icmp_echo("192.0.2.1", "192.0.2.2", 1, 1), LINKTYPE_RAW),
    ]
    rows = dissect(frames)
    assert [r.kind for r in rows] == ["other"] * 4
    assert rows[0].info.startswith("not IP") and rows[1].info == "53 \u2192 53 Len=4"
    assert rows[2].note and rows[3].protocol == "ICMP"


def test_capture_files_that_are_not_captures(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"this is not a capture file at all")
    with pytest.raises(CaptureError):
        dissect(bad)
    with pytest.raises(CaptureError):
        dissect(tmp_path / "missing.pcap")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError):
        dissect(empty)


def test_truncated_capture_keeps_the_complete_packets(tmp_path: Path) -> None:
    from ikelab.scenario import classic

    paths = classic(seed=2, duration=3.0, reconnect_at=None).write(tmp_path)
    data = paths["pcap"].read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-30])
    full = dissect(paths["pcap"])
    with pytest.warns(CaptureWarning):
        rows = dissect(cut)
    assert len(rows) == len(full) - 1 and [r.info for r in rows] == [r.info for r in full[:-1]]
    with pytest.raises(CaptureError, match="truncated"):
        dissect(cut, strict=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120), st.sampled_from(["raw", "udp500", "udp4500", "esp"]))
def test_random_bytes_never_crash(data: bytes, how: str) -> None:
    keys = KeyTables()
    if how == "udp500":
        data = ip.ip_udp("192.0.2.1", "192.0.2.2", 500, 500, data)
    elif how == "udp4500":
        data = ip.ip_udp("192.0.2.1", "192.0.2.2", 4500, 4500, bytes(4) + data)
    elif how == "esp":
        data = ip.ip_packet("192.0.2.1", "192.0.2.2", 50, data)
    (row,) = dissect(_frames(data), keys)
    assert row.no == 1 and isinstance(row.info, str)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_any_bit_flip_of_a_protected_packet_is_caught(position: int, mask: int) -> None:
    """Whatever byte of an IKE_AUTH or ESP packet's protected part changes, the ICV check fails or parsing notes it."""
    from ikelab.scenario import classic

    global _SMALL
    if _SMALL is None:
        _SMALL = classic(seed=4, duration=2.5, reconnect_at=None, liveness_interval=None, child_rekey_after=None)
    sc = _SMALL
    packets = [p for _, p in sc.trace.ip_packets()]
    target = [p for p in packets if p[9] == 50 or (len(p) > 47 and p[28 + 18] == 35)]
    pkt = target[position % len(target)]
    start = 28 if pkt[9] == 17 else 20  # the IKE message / the ESP packet
    i = start + 8 + position % (len(pkt) - start - 8) if pkt[9] == 50 else start + 28 + position % (len(pkt) - start - 28)
    bad = pkt[:i] + bytes([pkt[i] ^ (mask or 0x80)]) + pkt[i + 1:]
    (row,) = dissect(_frames(bad), sc.tables)
    assert row.decrypted is not True and row.note


_SMALL = None


def test_esp_in_udp_4500_is_found_and_decrypted() -> None:
    """RFC 3948: UDP/4500 without the Non-ESP Marker carries ESP."""
    from ikelab.esp import EspSa
    from ikelab.wireshark import EspSaRecord

    key = bytes(range(20))
    sa = EspSa(0x4242, direction="outbound", encryption="ENCR_AES_GCM_16", key_bits=128, encryption_key=key,
               tunnel=("198.51.100.1", "198.51.100.2"), udp_encap=(4500, 4500))
    pkt = sa.protect_packet(ip.icmp_echo("10.1.0.1", "10.2.0.1", 5, 77))
    keys = KeyTables(esp=(EspSaRecord("IPv4", "198.51.100.1", "198.51.100.2", 0x4242,
                                      "AES-GCM with 16 octet ICV [RFC4106]", key, "NULL", b""),))
    (row,) = dissect(_frames(pkt), keys)
    assert (row.kind, row.protocol, row.spi, row.seq, row.sport) == ("esp", "ESP", 0x4242, 1, 4500)
    assert row.decrypted and row.icv_ok and "seq=77/" in row.inner_info


def test_format_has_wireshark_columns(classic_capture: tuple[Path, Path]) -> None:
    pcap, keydir = classic_capture
    text = dissect(pcap, keydir).format()
    header, first = text.splitlines()[:2]
    assert header.split() == ["No.", "Time", "Source", "Destination", "Protocol", "Length", "Info"]
    assert "IKE_SA_INIT MID=00 Initiator Request" in first and "HDR, SAi1, KEi, Ni" in first
    assert any("HDR, SK {IDi, AUTH, SAi2, TSi, TSr}" in line for line in text.splitlines())


@settings(max_examples=40, deadline=None)
@given(suite=st.sampled_from([("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128"), ("ENCR_AES_CBC", 256, "AUTH_HMAC_SHA1_96"),
                              ("ENCR_AES_CBC", 192, "AUTH_HMAC_SHA2_512_256"), ("ENCR_AES_GCM_16", 128, None),
                              ("ENCR_AES_GCM_16", 256, None), ("ENCR_AES_GCM_8", 128, None),
                              ("ENCR_AES_CTR", 128, "AUTH_HMAC_SHA2_384_192")]),
       payload=st.binary(max_size=70), flip=st.integers(-1, 200), seed=st.integers(0, 2**16))
def test_fast_esp_opener_agrees_with_esp_open(suite, payload: bytes, flip: int, seed: int) -> None:
    """The dissector's keyed fast path gives what ikelab.esp.esp_open gives, errors included."""
    from ikelab import transforms as tr
    from ikelab.dissect_keys import EspOpener
    from ikelab.errors import IkelabError
    from ikelab.esp import EspSa, esp_open
    from ikelab.rand import DeterministicRandom

    encr, bits, integ = suite
    rng = DeterministicRandom(seed)
    enc = tr.encryption(encr, bits)
    i = tr.integrity(integ) if integ else None
    ekey, akey = rng.random_bytes(enc.key_len), rng.random_bytes(i.key_len if i else 0)
    sa = EspSa(0x1000 + seed, direction="outbound", encryption=encr, key_bits=bits, encryption_key=ekey,
               integrity=integ, integrity_key=akey, mode="transport", rng=rng)
    pkt = sa.encapsulate(payload, 17)
    if 0 <= flip < len(pkt):
        pkt = pkt[:flip] + bytes([pkt[flip] ^ 0x40]) + pkt[flip + 1:]
    opener = EspOpener(enc, ekey, i, akey)

    def outcome(fn):
        try:
            return fn()
        except IkelabError as exc:
            return type(exc).__name__

    ref = outcome(lambda: (lambda r: (r.next_header, r.payload))(esp_open(pkt, seq=1, encryption=enc,
                                                                          encryption_key=ekey, integrity=i,
                                                                          integrity_key=akey)))
    fast = outcome(lambda: opener.open(pkt, 1))
    if flip < 0 or flip >= len(pkt):
        assert fast == ref == (17, payload)
    elif flip >= 4:  # the SPI is not checked by the opener (the table lookup chose it), everything else is
        assert fast == ref and isinstance(ref, str)


def test_ike_on_another_port_is_dissected_when_named(tmp_path: Path) -> None:
    """``ikelab connect --port 5600`` talks IKE on a port Wireshark's heuristics do not know: ``ike_ports``
    (``--ike-port`` of dissect and flow, Wireshark's Decode As) reads it as IKE, and decrypts IKE_AUTH."""
    from ikelab.cli import main
    from ikelab.errors import ConfigError
    from ikelab.scenario import classic

    sc = classic(duration=4.0, reconnect_at=None, lose_first=False)
    messages = [p for p in sc.trace if p.kind == "ike" and p.dport == 500][:4]
    frames = [CapturedPacket(p.time, ip.ip_udp(p.src, p.dst, 5601 if p.sport == 500 else 5600,
                                               5600 if p.dport == 500 else 5601, p.ike_message), LINKTYPE_RAW)
              for p in messages]
    plain = dissect(frames, sc.tables)
    assert [r.kind for r in plain] == ["other"] * 4 and plain[0].info.startswith("5601 \u2192 5600")
    named = dissect(frames, sc.tables, ike_ports=(5600,))
    assert [(r.kind, r.exchange, r.is_response) for r in named] == [
        ("ike", "IKE_SA_INIT", False), ("ike", "IKE_SA_INIT", True), ("ike", "IKE_AUTH", False), ("ike", "IKE_AUTH", True)]
    assert named[2].summary == "HDR, SK {IDi, AUTH, SAi2, TSi, TSr}"  # decrypted with the key table
    for bad in (0, 4500, 70000, "500", True):
        with pytest.raises(ConfigError, match="an IKE port must be a UDP port"):
            dissect(frames, ike_ports=(bad,))
    path = tmp_path / "port5600.pcap"
    write_pcap(path, [(f.time, f.data) for f in frames], linktype=LINKTYPE_RAW)
    assert main(["dissect", str(path), "--ike-port", "5600"]) == 0


@pytest.mark.parametrize("frame, said", [
    (CapturedPacket(0.0, None, LINKTYPE_RAW), "capture[0].data must be bytes, not NoneType"),  # type: ignore[arg-type]
    (CapturedPacket(None, b"", LINKTYPE_RAW), "capture[0].time must be a finite number of seconds, not None"),  # type: ignore[arg-type]
    (CapturedPacket(float("nan"), b"", LINKTYPE_RAW), "capture[0].time must be a finite number of seconds, not nan"),
])
def test_hand_made_frames_with_a_wrong_field_are_config_errors(frame: CapturedPacket, said: str) -> None:
    """A list of CapturedPacket made by hand: None data or time raised TypeError deep in the dissector, and a
    NaN time was printed as 'nan'."""
    from ikelab.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        dissect([frame])
    assert str(info.value) == said


# ---------------------------------------------------------------------------- ESP details, truncated frames


def test_esp_without_integrity_claims_no_icv(tmp_path: Path) -> None:
    """AES-CBC with NULL authentication (RFC 4303 3.2: confidentiality only) has no ICV: tshark decrypts and
    shows no ICV verdict, so ikelab decrypts and leaves ``icv_ok`` unknown rather than claiming a good one."""
    from ikelab.errors import WeakAlgorithmWarning
    from ikelab.esp import EspSa
    from ikelab.rand import DeterministicRandom
    from ikelab.wireshark import EspSaRecord

    key = bytes(range(16))
    with pytest.warns(WeakAlgorithmWarning):
        sa = EspSa(0x5151, direction="outbound", encryption="ENCR_AES_CBC", key_bits=128, encryption_key=key,
                   tunnel=("198.51.100.1", "198.51.100.2"), rng=DeterministicRandom(1), allow_weak=True)
    pcap = tmp_path / "cbc-only.pcap"
    write_pcap(pcap, [(float(s), sa.protect_packet(ip.icmp_echo("10.1.0.1", "10.2.0.1", 5, s))) for s in (1, 2)],
               linktype=LINKTYPE_RAW)
    write_tables(tmp_path, [], [EspSaRecord("IPv4", "198.51.100.1", "198.51.100.2", 0x5151, "AES-CBC [RFC3602]", key,
                                            "NULL", b"")])
    root = ET.fromstring(tshark(pcap, tmp_path, "-T", "pdml"))
    for packet in root.findall("packet"):
        assert packet.find(".//field[@name='esp.decrypted_data']") is not None
        assert packet.find(".//field[@name='esp.icv_good']") is None and packet.find(".//field[@name='esp.icv_bad']") is None
    rows = dissect(pcap, tmp_path)
    assert [(r.decrypted, r.icv_ok) for r in rows] == [(True, None), (True, None)]
    assert [r.inner_info.split("seq=")[1].split("/")[0] for r in rows] == ["1", "2"]
    assert [r.as_dict()["icv_ok"] for r in rows] == [None, None]  # JSON null, as ``ikelab dissect --json`` prints


def _gcm_esp(key: bytes, spi: int, seq: int, inner: bytes, padding: bytes) -> bytes:
    """An AES-GCM ESP packet (RFC 4106) built here with ``cryptography``, padding chosen by the caller."""
    import struct

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header, iv = struct.pack("!II", spi, seq), seq.to_bytes(8, "big")
    plaintext = inner + padding + bytes((len(padding), 4))  # next header 4: an IPv4 packet (tunnel mode)
    return header + iv + AESGCM(key[:16]).encrypt(key[16:] + iv, plaintext, header)


def test_esp_padding_that_is_not_1_2_3_is_reported() -> None:
    """RFC 4303 2.4: default padding is 1, 2, 3, ...  and the receiver checks it.  Two packets with a good ICV,
    one padded correctly and one with zeros: the first decrypts, the second is reported, never shown as good
    (ikelab.esp.esp_open refuses it too)."""
    from ikelab.errors import ParseError
    from ikelab.esp import esp_open
    from ikelab.transforms import encryption
    from ikelab.wireshark import EspSaRecord

    key = bytes(range(16)) + b"salt"
    inner = ip.icmp_echo("10.1.0.1", "10.2.0.1", 5, 77)
    n = -(len(inner) + 2) % 4 + 4  # more than the minimum, as RFC 4303 2.4 allows
    good = _gcm_esp(key, 0x4242, 1, inner, bytes(range(1, n + 1)))
    bad = _gcm_esp(key, 0x4242, 2, inner, bytes(n))
    with pytest.raises(ParseError, match="padding"):
        esp_open(bad, seq=2, encryption=encryption("ENCR_AES_GCM_16", 128), encryption_key=key)
    keys = KeyTables(esp=(EspSaRecord("IPv4", "198.51.100.1", "198.51.100.2", 0x4242,
                                      "AES-GCM with 16 octet ICV [RFC4106]", key, "NULL", b""),))
    rows = dissect(_frames(*(ip.ip_packet("198.51.100.1", "198.51.100.2", 50, e) for e in (good, bad))), keys)
    assert rows[0].decrypted and rows[0].icv_ok and "seq=77/" in rows[0].inner_info and not rows[0].note
    assert rows[1].decrypted is False and rows[1].inner_info is None and "padding" in rows[1].note


def test_length_is_the_wire_length_of_a_frame_cut_by_snaplen(classic_capture: tuple[Path, Path], tmp_path: Path) -> None:
    """A capture taken with a small snaplen (tcpdump -s 96): the Length column is what was on the wire,
    Wireshark's frame.len, not the 96 bytes kept."""
    from ikelab.pcap import read_capture

    pcap, _ = classic_capture
    frames = read_capture(pcap)
    cut = tmp_path / "snaplen96.pcap"
    write_pcap(cut, [(f.time, f.data) for f in frames], linktype=frames[0].linktype, snaplen=96)
    rows = dissect(cut)
    theirs = tshark_columns(cut, None)
    assert len(rows) == len(theirs) == len(frames)
    assert [r.length for r in rows] == [int(cols[5]) for cols in theirs] == [len(f.data) for f in frames]
    assert max(len(f.data) for f in frames) > 96
