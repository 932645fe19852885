"""Review of frame_info (tshark's Info for the frames around IKE and ESP), uat (Wireshark's key-table text)
and widgets: ikelab's text is compared with tshark 4.0's, the independent reference."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest

from ikelab.dissect import dissect
from ikelab.packet import ethernet, internet_checksum, ip_packet
from ikelab.pcap import LINKTYPE_ETHERNET, write_pcap

from tshark_util import require_tool

MAC = bytes.fromhex("02000000000a")
SLL, TLL = bytes([1, 1]) + MAC, bytes([2, 1]) + bytes.fromhex("02000000000b")
TARGET = ipaddress.ip_address("fe80::a").packed


def _icmp6(body: bytes) -> bytes:
    """An Ethernet/IPv6 frame from fe80::b to ff02::1 around the ICMPv6 ``body`` (its checksum filled in)."""
    src, dst = ipaddress.ip_address("fe80::b").packed, ipaddress.ip_address("ff02::1").packed
    zeroed = body[:2] + b"\0\0" + body[4:]
    checksum = internet_checksum(src + dst + len(body).to_bytes(4, "big") + bytes([0, 0, 0, 58]) + zeroed)
    return ethernet(ip_packet("fe80::b", "ff02::1", 58, body[:2] + checksum.to_bytes(2, "big") + body[4:], ttl=255),
                    src_mac=MAC, dst_mac="33:33:00:00:00:01")


def _compare(tmp_path, frames: list[bytes], expected: list[str]) -> None:
    """ikelab's Info for ``frames`` is ``expected``, and so is tshark's when tshark is there."""
    path = tmp_path / "frames.pcap"
    write_pcap(path, [(n, f) for n, f in enumerate(frames)], linktype=LINKTYPE_ETHERNET)
    assert [row.info for row in dissect(path)] == expected
    tshark = require_tool("tshark")
    out = subprocess.run([tshark, "-n", "-r", str(path), "-T", "fields", "-e", "_ws.col.Info"], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    assert out.splitlines() == expected


RS, NS = bytes([133, 0, 0, 0, 0, 0, 0, 0]), bytes([135, 0, 0, 0, 0, 0, 0, 0]) + TARGET


def _na(flags: int) -> bytes:
    return bytes([136, 0, 0, 0, flags, 0, 0, 0]) + TARGET


# -- frame_info: Neighbor Discovery and MLD, RFC 4861 4 and 4.6.1, RFC 2710 3 --------------------------------------

ND_CASES = [
    # an NA without flags: tshark says so, "(none)"; reserved bits alone are no flag either
    (_na(0) + TLL, "Neighbor Advertisement fe80::a (none) is at 02:00:00:00:00:0b"),
    (_na(0x1F), "Neighbor Advertisement fe80::a (none)"),
    # each link-layer option is shown where it is, whatever the message carrying it
    (_na(0x40) + SLL, "Neighbor Advertisement fe80::a (sol) from 02:00:00:00:00:0a"),
    (NS + TLL, "Neighbor Solicitation for fe80::a is at 02:00:00:00:00:0b"),
    (RS + SLL + TLL, "Router Solicitation from 02:00:00:00:00:0a is at 02:00:00:00:00:0b"),
    (RS + TLL + SLL, "Router Solicitation is at 02:00:00:00:00:0b from 02:00:00:00:00:0a"),
    (bytes([134, 0, 0, 0, 64, 0, 7, 8]) + bytes(8) + TLL, "Router Advertisement is at 02:00:00:00:00:0b"),
    (bytes([137, 0, 0, 0, 0, 0, 0, 0]) + bytes(32) + TLL, "Redirect is at 02:00:00:00:00:0b"),
    # a 16-octet option ending in six zero octets is an EUI-64 (tshark writes "from" for a target's too)
    (RS + bytes([1, 2]) + MAC + b"\1\2" + bytes(6), "Router Solicitation from 02:00:00:00:00:0a:01:02"),
    (NS + bytes([2, 2]) + MAC + bytes(8), "Neighbor Solicitation for fe80::a from 02:00:00:00:00:0a:00:00"),
    (RS + bytes([1, 2]) + MAC + bytes(7) + b"\1", "Router Solicitation"),  # no EUI-64: no address shown
    (RS + bytes([1, 3]) + MAC + bytes(16), "Router Solicitation"),
    # cut messages and options: named, then marked as tshark marks them
    (NS[:20], "Neighbor Solicitation[Malformed Packet]"),
    (_na(0xE0)[:12], "Neighbor Advertisement[Malformed Packet]"),
    (bytes([134, 0, 0, 0, 64, 0, 7, 8]) + bytes(2), "Router Advertisement[Malformed Packet]"),
    (bytes([137, 0, 0, 0, 0, 0, 0, 0]) + bytes(2), "Redirect[Malformed Packet]"),
    (RS + SLL[:5], "Router Solicitation[Malformed Packet]"),
    (NS + SLL + b"\x01", "Neighbor Solicitation for fe80::a from 02:00:00:00:00:0a[Malformed Packet]"),
    # MLDv1 (RFC 2710): named, and cut before the multicast address it is malformed
    (bytes([130, 0, 0, 0, 0, 10, 0, 0]) + bytes(16), "Multicast Listener Query"),
    (bytes([131, 0, 0, 0, 0, 0, 0, 0]) + bytes(16), "Multicast Listener Report"),
    (bytes([132, 0, 0, 0, 0, 0, 0, 0]) + bytes(16), "Multicast Listener Done"),
    (bytes([131, 0, 0, 0, 0, 0, 0, 0]), "Multicast Listener Report[Malformed Packet]"),
]


def test_neighbor_discovery_and_mld_read_as_tshark_reads_them(tmp_path) -> None:
    """Every ND message's link-layer options, the NA's flags, MLDv1 and cut messages: tshark 4.0's Info."""
    frames, expected = zip(*ND_CASES)
    _compare(tmp_path, [_icmp6(body) for body in frames], list(expected))


# -- frame_info: ARP, RFC 826 and RFC 5227 2.1.1, 2.3 ----------------------------------------------------------------

SHA, ZERO, BCAST = bytes.fromhex("020000000001"), bytes(6), b"\xff" * 6


def _arp(op: int, spa: str, tha: bytes, tpa: str, *, hardware: int = 1, protocol: int = 0x0800) -> bytes:
    spa_raw, tpa_raw = ipaddress.ip_address(spa).packed, ipaddress.ip_address(tpa).packed
    return bytes([0, hardware]) + protocol.to_bytes(2, "big") + bytes([6, len(spa_raw)]) + op.to_bytes(2, "big") + \
        SHA + spa_raw + tha + tpa_raw


ARP_CASES = [
    (_arp(1, "192.0.2.1", ZERO, "192.0.2.2"), "Who has 192.0.2.2? Tell 192.0.2.1"),
    (_arp(1, "192.0.2.1", ZERO, "192.0.2.1"), "ARP Announcement for 192.0.2.1"),
    (_arp(1, "0.0.0.0", ZERO, "192.0.2.7"), "Who has 192.0.2.7? (ARP Probe)"),
    (_arp(1, "0.0.0.0", ZERO, "0.0.0.0"), "ARP Announcement for 0.0.0.0"),
    # RFC 5227's probes and announcements have a zero target hardware address; arping -U's has not
    (_arp(1, "192.0.2.1", BCAST, "192.0.2.1"), "Gratuitous ARP for 192.0.2.1 (Request)"),
    (_arp(1, "192.0.2.1", SHA, "192.0.2.1"), "Gratuitous ARP for 192.0.2.1 (Request)"),
    (_arp(1, "0.0.0.0", BCAST, "192.0.2.7"), "Who has 192.0.2.7? Tell 0.0.0.0"),
    (_arp(2, "192.0.2.1", BCAST, "192.0.2.1"), "Gratuitous ARP for 192.0.2.1 (Reply)"),
    (_arp(2, "192.0.2.1", SHA, "192.0.2.2"), "192.0.2.1 is at 02:00:00:00:00:01"),
    # IEEE 802 hardware reads as Ethernet; other hardware and protocols are hex
    (_arp(2, "192.0.2.1", ZERO, "192.0.2.2", hardware=6), "192.0.2.1 is at 02:00:00:00:00:01"),
    (_arp(2, "192.0.2.1", ZERO, "192.0.2.2", hardware=15), "192.0.2.1 is at 020000000001"),
    (_arp(1, "192.0.2.1", ZERO, "192.0.2.2", protocol=0x86DD), "Who has c0000202? Tell c0000201"),
    (_arp(2, "2001:db8::1", ZERO, "2001:db8::2", protocol=0x86DD),
     "20010db8000000000000000000000001 is at 02:00:00:00:00:01"),
    # a 2-octet hardware address: tshark tests six octets from the target's for zeros, which reach into its IP
    (bytes.fromhex("000108000204 0001 0102 c0000201 0000 c0000201"), "Gratuitous ARP for 192.0.2.1 (Request)"),
    # no protocol addresses: the same empty address twice is no announcement or gratuitous reply, but a zero
    # target MAC with an empty (so all-zero) sender address is a probe
    (bytes.fromhex("000108000600 0001") + SHA + ZERO, "Who has <No address>? (ARP Probe)"),
    (bytes.fromhex("000108000600 0001") + SHA + BCAST, "Who has <No address>? Tell <No address>"),
    (bytes.fromhex("000108000600 0002") + SHA + ZERO, "<No address> is at 02:00:00:00:00:01"),
    # the other opcodes (RARP, InARP, ...) as tshark names them
    (_arp(3, "192.0.2.1", BCAST, "192.0.2.2"), "Who is ff:ff:ff:ff:ff:ff? Tell 02:00:00:00:00:01"),
    (_arp(4, "192.0.2.1", BCAST, "192.0.2.2"), "ff:ff:ff:ff:ff:ff is at 192.0.2.2"),
    (_arp(9, "192.0.2.1", BCAST, "192.0.2.2"), "02:00:00:00:00:01 is at 192.0.2.1"),
    (_arp(0, "192.0.2.1", BCAST, "192.0.2.2"), "Reserved opcode 0"),
    (_arp(10, "192.0.2.1", BCAST, "192.0.2.2"), "ARP NAK"),
    (_arp(25, "192.0.2.1", BCAST, "192.0.2.2"), "Experimental 2 ( opcode 25 )"),
    (_arp(300, "192.0.2.1", BCAST, "192.0.2.2"), "Unknown ARP opcode 0x012c"),
    # cut: shorter than its address lengths say
    (_arp(1, "192.0.2.1", ZERO, "192.0.2.2")[:27], "[Malformed Packet]"),
    (_arp(1, "192.0.2.1", ZERO, "192.0.2.2")[:7], "[Malformed Packet]"),
]


def test_arp_reads_as_tshark_reads_it(tmp_path) -> None:
    """Requests, replies, probes, announcements and gratuitous ARP, other hardware, protocols and opcodes, cut
    packets: tshark 4.0's Info (frames with no address seen before, so no "duplicate use" note)."""
    bodies, expected = zip(*ARP_CASES)
    frames = [ethernet(body, ethertype=0x0806, src_mac=SHA, dst_mac=BCAST) for body in bodies]
    _compare(tmp_path, frames, list(expected))


def test_arp_info_takes_bytes_only() -> None:
    """Not bytes: a ConfigError naming ``body``, even when it is long enough to index."""
    from ikelab.errors import ConfigError
    from ikelab.frame_info import arp_info

    for bad in (None, "x" * 30, list(range(28))):
        with pytest.raises(ConfigError) as info:
            arp_info(bad)  # type: ignore[arg-type]
        assert info.value.field == "body"
    assert arp_info(memoryview(ARP_CASES[0][0])) == ARP_CASES[0][1]


# -- uat: Wireshark's key-table text ----------------------------------------------------------------------------------

def test_quoted_fields_round_trip_every_character_class() -> None:
    """quote -> split_line gives back the text: quotes, backslashes, commas, controls, DEL, non-ASCII."""
    from ikelab import uat

    texts = ["", 'a"b\\c', "a,b", " lead and trail ", "\x00\x07\x1b\x7f\n\t", "é€😀", "".join(map(chr, range(128)))]
    line = ", ".join(uat.quote(t) for t in texts) + ", 00ff"
    assert all(31 < ord(ch) < 127 for ch in line)  # printable ASCII only, as uat_esc writes it
    assert uat.split_line(line, 1, "t") == [(t, True) for t in texts] + [("00ff", False)]
    # tshark's other escapes read as it reads them
    assert uat.split_line(r'"\a\b\e\f\n\r\t\v\0\101\1012\x41"', 1, "t") == [("\a\b\x1b\f\n\r\t\v\0AA2A", True)]


@pytest.mark.parametrize("line, words", [
    ('"abc', "unterminated"), ('"a\\', "dangling backslash"), ('"\\x4"', "\\x takes two hex digits"),
    ('"\\q"', "escape \\q"), ('"\\xff"', "not UTF-8"), ('"a" x', "expected ','"),
])
def test_a_malformed_line_is_a_capture_error_naming_table_and_line(line: str, words: str) -> None:
    from ikelab import uat
    from ikelab.errors import CaptureError

    with pytest.raises(CaptureError) as info:
        uat.split_line(line, 7, "esp_sa")
    assert "esp_sa line 7" in str(info.value) and words in str(info.value)


KEY16, KEY32 = bytes(range(16)), bytes(range(32))
ESP_ROW = '"IPv4","192.0.2.1","192.0.2.2","0x00001234","AES-CBC [RFC3602]","{}","HMAC-SHA-256-128 [RFC4868]","{}"'
IKE_ROW = "0102030405060708,1112131415161718,{},{},\"AES-CBC-128 [RFC3602]\",{},{},\"HMAC_SHA2_256_128 [RFC4868]\""


def _tshark_takes(table: str, row: str) -> bool:
    """Whether tshark 4.0 accepts ``row`` as a record of ``table`` (``-o uat:``, which refuses a bad one)."""
    import tempfile

    tshark = require_tool("tshark")
    with tempfile.TemporaryDirectory(prefix="ikelab-uat-") as home:
        write_pcap(f"{home}/empty.pcap", [], linktype=LINKTYPE_ETHERNET)
        result = subprocess.run([tshark, "-r", f"{home}/empty.pcap", "-o", f"uat:{table}:{row}"],
                                capture_output=True, text=True, timeout=120,
                                env={"HOME": home, "XDG_CONFIG_HOME": home, "PATH": "/usr/bin"})
    return result.returncode == 0 and "Invalid -o flag" not in result.stderr


@pytest.mark.parametrize("ekey, akey", [
    ("0x0001 02030405060708090a0b0c0d0e0f", "0x" + KEY32.hex()),  # white space inside
    (" 0x" + KEY16.hex(), "0x" + KEY32.hex()),  # tshark reads a key not starting with 0x as text
    ("0x" + KEY16.hex(), "0x" + KEY32.hex() + "\t"),
])
def test_esp_sa_keys_with_white_space_are_refused_as_tshark_refuses_or_misreads_them(ekey: str, akey: str) -> None:
    from ikelab.errors import CaptureError
    from ikelab.wireshark import parse_esp_sa_table

    row = ESP_ROW.format(ekey, akey)
    with pytest.raises(CaptureError) as info:
        parse_esp_sa_table("# keys\n\n" + row + "\n")
    assert "esp_sa line 3" in str(info.value) and "white space" in str(info.value)
    assert parse_esp_sa_table(ESP_ROW.format("0x" + KEY16.hex(), "0x" + KEY32.hex()))[0].encr_key == KEY16
    if ekey.startswith(" "):  # tshark takes it, as a 34-character text key, not these 16 octets
        return
    assert not _tshark_takes("esp_sa", row)


def test_ikev2_keys_with_white_space_inside_are_refused_as_tshark_refuses_them() -> None:
    from ikelab.errors import CaptureError
    from ikelab.wireshark import parse_ikev2_table

    good = [KEY16.hex(), KEY16.hex(), KEY32.hex(), KEY32.hex()]
    bad = IKE_ROW.format(KEY16.hex()[:8] + " " + KEY16.hex()[8:], *good[1:])
    with pytest.raises(CaptureError) as info:
        parse_ikev2_table(bad)
    assert "line 1" in str(info.value) and "SK_ei" in str(info.value)
    assert not _tshark_takes("ikev2_decryption_table", bad)
    spaced = IKE_ROW.format(*good).replace(",", " , ")  # around a field: both take it
    assert parse_ikev2_table(spaced)[0].sk_ai == KEY32
    assert _tshark_takes("ikev2_decryption_table", spaced)


def test_tables_ikelab_writes_are_taken_by_tshark() -> None:
    """format_esp_sa_table and format_ikev2_table rows load in tshark 4.0 as they read back in ikelab."""
    from ikelab.wireshark import (EspSaRecord, IkeSaRecord, format_esp_sa_table, format_ikev2_table,
                                  parse_esp_sa_table, parse_ikev2_table)

    esp = [EspSaRecord("IPv4", "192.0.2.1", "192.0.2.2", 0x1234, "AES-CBC [RFC3602]", KEY16,
                       "HMAC-SHA-256-128 [RFC4868]", KEY32),
           EspSaRecord("IPv6", "2001:db8::1", "*", 0xFFFFFFFF, "NULL", b"", "HMAC-SHA-256-128 [RFC4868]", KEY32)]
    ike = [IkeSaRecord(bytes(range(1, 9)), bytes(range(9, 17)), KEY16, KEY16[::-1], "AES-CBC-128 [RFC3602]", KEY32,
                       KEY32[::-1], "HMAC_SHA2_256_128 [RFC4868]")]
    for table, text, parse, records in (("esp_sa", format_esp_sa_table(esp), parse_esp_sa_table, esp),
                                        ("ikev2_decryption_table", format_ikev2_table(ike), parse_ikev2_table, ike)):
        assert parse(text) == records
        rows = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert len(rows) == len(records)
        for row in rows:
            assert _tshark_takes(table, row), row


# -- widgets: a control moved to an edge shows a message, never a traceback --------------------------------------------

def test_prf_plus_explorer_past_255_blocks_says_so_and_recovers() -> None:
    """A length slider that reaches past prf+'s 255 blocks of a 16-octet PRF (RFC 7296 2.13): the output says
    why, the chain and image are cleared, and a PRF with longer blocks or a shorter length shows the chain again."""
    from ikelab import widgets

    explorer = widgets.prf_plus_explorer(b"k" * 16, b"s" * 8, max_length=1 << 16, length=64,
                                         prf_alg="PRF_HMAC_SHA2_256")
    assert explorer.chain is not None and explorer.image.value
    explorer.length.value = 8160  # 255 blocks of SHA2-256: the most it gives
    assert explorer.chain is not None and len(explorer.chain.blocks) == 255
    explorer.prf.value = "PRF_AES128_XCBC"  # 16-octet blocks: at most 4080 octets
    assert explorer.chain is None and explorer.image.value == b""
    assert "at most 4080 bytes" in explorer.output.value and "Traceback" not in explorer.output.value
    explorer.length.value = 1 << 16
    assert "at most 4080 bytes" in explorer.output.value and "65536" in explorer.output.value
    explorer.prf.value = "PRF_HMAC_SHA2_512"  # 64 * 255 = 16320: still too many
    assert explorer.chain is None and "at most 16320 bytes" in explorer.output.value
    explorer.length.value = 4080
    assert explorer.chain is not None and "at most" not in explorer.output.value and explorer.image.value


def test_dh_explorer_at_every_prime_and_slider_end_shows_an_exchange() -> None:
    """The smallest and largest prime, each slider at its ends: always a worked exchange with k agreed."""
    from ikelab import figures, widgets

    explorer = widgets.dh_explorer()
    for p in (figures.SMALL_PRIMES[-1], figures.SMALL_PRIMES[0], figures.SMALL_PRIMES[1]):
        explorer.p.value = p
        for control in (explorer.g, explorer.x_a, explorer.x_b):
            for value in (control.min, control.max):
                control.value = value
                result = explorer.result
                assert result is not None and (result.p, result.g) == (p, explorer.g.value)
                assert result.k_a == result.k_b == pow(result.g, explorer.x_a.value * explorer.x_b.value, p)
                assert f"p = {p}, g = {explorer.g.value}" in explorer.output.value
