"""Wireshark's decryption tables (ikelab.wireshark): the file format, import, and tshark using them.

Independent references:

* the UAT field lists of tshark 4.0 -- ``ikev2_uat_flds`` in packet-isakmp.c
  (SPIi, SPIr, SK_ei, SK_er, encryption, SK_ai, SK_ar, integrity: byte
  buffers as bare hex, enumerations as quoted strings) and ``esp_uat_flds``
  in packet-esp.c (protocol, source, destination, SPI, encryption, key,
  authentication, key: every field a quoted string).  The expected lines
  below are typed by hand in that format;
* tshark 4.0.17 itself, which must accept the files, decrypt every SK
  payload with a ``[correct]`` Integrity Checksum Data verdict and every ESP
  packet (``esp.icv_good``) down to the inner ICMP echo.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab.errors import CaptureError, CaptureWarning
from ikelab.wireshark import (
    ESP_SA_FILE,
    IKEV2_TABLE_FILE,
    EspSaRecord,
    IkeSaRecord,
    KeyTables,
    format_esp_sa_table,
    format_ikev2_table,
    parse_esp_sa_table,
    parse_ikev2_table,
    read_tables,
    tshark_command,
    write_tables,
)

from tshark_util import require_tshark

# ---------------------------------------------------------------------------- the file format

IKE_REC = IkeSaRecord(
    spi_i=bytes.fromhex("0102030405060708"),
    spi_r=bytes.fromhex("1112131415161718"),
    sk_ei=bytes(range(16)),
    sk_er=bytes(range(16, 32)),
    encr="AES-CBC-128 [RFC3602]",
    sk_ai=bytes(range(32)),
    sk_ar=bytes(range(32, 64)),
    integ="HMAC_SHA2_256_128 [RFC4868]",
)
# Typed by hand: packet-isakmp.c writes UAT buffers as bare lower-case hex and enums as quoted strings.
IKE_LINE = (
    "0102030405060708,1112131415161718,000102030405060708090a0b0c0d0e0f,101112131415161718191a1b1c1d1e1f,"
    '"AES-CBC-128 [RFC3602]",000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f,'
    '202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f,"HMAC_SHA2_256_128 [RFC4868]"'
)
ESP_REC = EspSaRecord("IPv4", "192.0.2.1", "192.0.2.2", 0x0D713155, "AES-GCM with 16 octet ICV [RFC4106]",
                      bytes(range(20)), "NULL", b"")
# Typed by hand: packet-esp.c's UAT is all CSTRING/enum fields, each quoted; keys as 0x-prefixed hex.
ESP_LINE = ('"IPv4","192.0.2.1","192.0.2.2","0x0d713155","AES-GCM with 16 octet ICV [RFC4106]",'
            '"0x000102030405060708090a0b0c0d0e0f10111213","NULL",""')


def test_ikev2_line_format() -> None:
    assert IKE_REC.line() == IKE_LINE
    text = format_ikev2_table([IKE_REC])
    assert text.splitlines()[-1] == IKE_LINE
    assert all(line.startswith("#") for line in text.splitlines()[:-1])


def test_esp_sa_line_format() -> None:
    assert ESP_REC.line() == ESP_LINE
    assert format_esp_sa_table([ESP_REC]).splitlines()[-1] == ESP_LINE


def test_parse_lines_typed_by_hand() -> None:
    assert parse_ikev2_table(IKE_LINE + "\n") == [IKE_REC]
    assert parse_esp_sa_table("# comment\n\n" + ESP_LINE + "\n") == [ESP_REC]
    # Wireshark also accepts wildcards for the addresses; an AES-CBC-256 key of 32 bytes
    line = ('"IPv6","*","*","0x00000102","AES-CBC [RFC3602]","0x' + "ab" * 32 + '",'
            '"HMAC-SHA-1-96 [RFC2404]","0x' + "cd" * 20 + '"')
    (rec,) = parse_esp_sa_table(line)
    assert (rec.protocol, rec.src, rec.spi, rec.encr_key, rec.auth_key) == ("IPv6", "*", 0x102, b"\xab" * 32, b"\xcd" * 20)
    enc, integ = rec.transforms()
    assert (enc.name, enc.key_bits, integ.name) == ("ENCR_AES_CBC", 256, "AUTH_HMAC_SHA1_96")
    assert KeyTables(esp=(rec,)).esp_sa(0x102, "2001:db8::1", "2001:db8::2") == rec


def test_ike_record_transforms_and_aead() -> None:
    enc, integ = IKE_REC.transforms()
    assert (enc.name, enc.key_bits, integ.name) == ("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    gcm = parse_ikev2_table("0102030405060708,1112131415161718," + "aa" * 36 + "," + "bb" * 36
                            + ',"AES-GCM-256 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"')[0]
    enc, integ = gcm.transforms()
    assert (enc.name, enc.key_bits, integ) == ("ENCR_AES_GCM_16", 256, None)
    assert gcm.sk_ai == b"" and gcm.sk_ar == b""


BAD_IKE = [
    ("0102030405060708,1112131415161718", "2 fields"),
    (IKE_LINE.replace("0102030405060708", "01020304050607"), "SPIi has 7 bytes"),
    (IKE_LINE.replace("000102030405060708090a0b0c0d0e0f,1011", "00010203040506070809zz0b0c0d0e0f,1011"), "not hex"),
    (IKE_LINE.replace("AES-CBC-128 [RFC3602]", "aes-cbc-128 [RFC3602]"), "unknown encryption"),  # case-sensitive
    (IKE_LINE.replace('"HMAC_SHA2_256_128 [RFC4868]"', '"HMAC_SHA2_256_128 [RFC4868]'), "unterminated"),
    (IKE_LINE.replace("000102030405060708090a0b0c0d0e0f,1011", "0001020304,1011"), "sk_e"),  # wrong key length
    (IKE_LINE + ",00", "field 9 is not quoted"),  # tshark 4.0 refuses the table too ("unexpected char ,")
    (IKE_LINE + ',"x",00', "field 10 is not quoted"),
]


@pytest.mark.parametrize("line, why", BAD_IKE, ids=[b for _, b in BAD_IKE])
def test_bad_ikev2_lines_name_their_line(line: str, why: str) -> None:
    text = "# header\n" + IKE_LINE + "\n" + line + "\n"
    with pytest.raises(CaptureError, match="line 3") as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)  # a quoted 9th field before the unquoted 10th
        parse_ikev2_table(text)
    assert why.lower() in str(info.value).lower() if why.startswith("field") else \
        why.split()[0].lower() in str(info.value).lower()


BAD_ESP = [
    ('"IPv4","192.0.2.1","192.0.2.2","0x0d713155"', "4 fields"),
    (ESP_LINE.replace('"IPv4"', '"IPX"'), "protocol"),
    (ESP_LINE.replace("0x0d713155", "0xzz"), "SPI"),
    (ESP_LINE.replace("0x0d713155", "0x1ffffffff"), "32 bits"),
    (ESP_LINE.replace("AES-GCM with 16 octet ICV [RFC4106]", "AES-GCM"), "unknown encryption"),
    (ESP_LINE.replace('"0x0001', '"0001'), "0x"),
    (ESP_LINE.replace("10111213", "101112"), "key"),  # 19 bytes fit no AES-GCM key size
    ('"IPv4","*","*","0x1","AES-CBC [RFC3602]","0x' + "00" * 16 + '","HMAC-SHA-256-128 [RFC4868]","0x00"', "32-byte"),
    # addresses Wireshark could never match: it loads them silently and decrypts nothing
    (ESP_LINE.replace("192.0.2.1", "192.0.2.300"), "source address '192.0.2.300' is not an IPv4 address: octet 300"),
    (ESP_LINE.replace("192.0.2.2", "192.0.2"), "destination address '192.0.2' is not an IPv4 address"),
    (ESP_LINE.replace('"192.0.2.1"', '""'), "source address '' is not an IPv4 or IPv6 address (write * for any"),
    (ESP_LINE.replace("192.0.2.1", "192.0.2.1*"), "source address '192.0.2.1*' is not an IPv4 address"),
    (ESP_LINE.replace("192.0.2.1", "2001:db8::1"), "source address '2001:db8::1' is an IPv6 address, but the row's "
                                                   "protocol is IPv4"),
    (ESP_LINE.replace('"IPv4","192.0.2.1"', '"Any","2001:db8::1"'), "of different IP versions"),
    (ESP_LINE.replace('"IPv4","192.0.2.1","192.0.2.2"', '"IPv6","2001:db8::1","2001:db8::g"'),
     "destination address '2001:db8::g' is not an IPv6 address"),
    (ESP_LINE.replace('"IPv4","192.0.2.1"', '"IPv6","2001:db8:*"'), "source address '2001:db8:*' is not an IPv6"),
    (ESP_LINE.replace("192.0.2.1", "192.0.2.0/33"), "source address '192.0.2.0/33' has prefix length /33, not one of"),
    (ESP_LINE + ' junk', "expected ','"),
]


@pytest.mark.parametrize("line, why", BAD_ESP, ids=[b for _, b in BAD_ESP])
def test_bad_esp_lines_name_their_line(line: str, why: str) -> None:
    with pytest.raises(CaptureError, match="line 2") as info:
        parse_esp_sa_table(ESP_LINE + "\n" + line + "\n")
    assert why.lower() in str(info.value).lower()


hexbytes = st.binary(min_size=1, max_size=40)


@pytest.mark.parametrize("parse, line", [(parse_ikev2_table, IKE_LINE), (parse_esp_sa_table, ESP_LINE)],
                         ids=["ikev2", "esp_sa"])
def test_quoted_fields_beyond_the_eighth_are_dropped_with_a_warning(parse, line: str) -> None:
    """tshark 4.0 says "More fields than required. Discarding" and keeps the record (checked against tshark below)."""
    (plain,) = parse(line + "\n")
    with pytest.warns(CaptureWarning, match="line 2: 2 field.s. more than the 8 of a record, ignored"):
        (longer,) = parse("# header\n" + line + ', "SN" ,""\n')
    assert longer == plain


def test_an_unquoted_field_beyond_the_eighth_refuses_an_esp_sa_table() -> None:
    """tshark 4.0 refuses the table: "unexpected char , while looking for end of line"."""
    with pytest.raises(CaptureError, match="esp_sa line 1: field 9 is not quoted.*tshark refuses the whole table"):
        parse_esp_sa_table(ESP_LINE + ",0\n")



@settings(max_examples=40, deadline=None)
@given(spi_i=st.binary(min_size=8, max_size=8), spi_r=st.binary(min_size=8, max_size=8),
       spi=st.integers(1, 2**32 - 1), bits=st.sampled_from([128, 192, 256]), src=st.ip_addresses(v=4))
def test_tables_round_trip(spi_i: bytes, spi_r: bytes, spi: int, bits: int, src: object) -> None:
    n = bits // 8
    ike = IkeSaRecord(spi_i, spi_r, b"\x01" * n, b"\x02" * n, f"AES-CBC-{bits} [RFC3602]", b"\x03" * 48,
                      b"\x04" * 48, "HMAC_SHA2_384_192 [RFC4868]")
    esp = EspSaRecord("IPv4", str(src), "198.51.100.7", spi, "AES-CTR [RFC3686]", b"\x05" * (n + 4),
                      "HMAC-SHA-512-256 [RFC4868]", b"\x06" * 64)
    assert parse_ikev2_table(format_ikev2_table([ike, ike])) == [ike, ike]
    assert parse_esp_sa_table(format_esp_sa_table([esp])) == [esp]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_garbage_tables_raise_capture_error_only(text: str) -> None:
    """Text that is not a key table, or not text at all (bytes read in binary mode), is a CaptureError."""
    for parse in (parse_ikev2_table, parse_esp_sa_table):
        try:
            parse(text)
        except CaptureError:
            pass
        with pytest.raises(CaptureError, match="a key table is text"):
            parse(text.encode())


def test_write_and_read_tables(tmp_path: Path) -> None:
    write_tables(tmp_path, [IKE_REC], [ESP_REC])
    tables = read_tables(tmp_path)
    assert tables.ike == (IKE_REC,) and tables.esp == (ESP_REC,)
    assert tables.ike_sa(IKE_REC.spi_i, IKE_REC.spi_r) == IKE_REC
    assert tables.esp_sa(0x0D713155, "192.0.2.1", "192.0.2.2") == ESP_REC
    assert tables.esp_sa(0x0D713155, "192.0.2.2", "192.0.2.1") is None  # the other direction is another SA
    with pytest.raises(CaptureError, match="does not exist"):
        read_tables(tmp_path / "missing")


def test_read_tables_names_a_wrong_keys_argument(tmp_path: Path) -> None:
    """A table file, or a directory without tables, is refused: it would decrypt nothing, silently."""
    write_tables(tmp_path / "keys", [IKE_REC], [])
    with pytest.raises(CaptureError, match=r"ikev2_decryption_table' is a file, not a directory.*here '.*keys'"):
        read_tables(tmp_path / "keys" / "ikev2_decryption_table")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaptureError, match="holds neither ikev2_decryption_table nor esp_sa"):
        read_tables(tmp_path / "empty")
    (tmp_path / "keys" / "ikev2_decryption_table").unlink()  # one table is enough
    assert read_tables(tmp_path / "keys").ike == ()


def test_a_key_directory_we_may_not_search_is_a_capture_error(tmp_path: Path, monkeypatch) -> None:
    """``chmod 000 keys``: looking into it raises PermissionError from ``Path.is_dir`` / ``exists`` (for a user
    without root's overrides), which came out of ``dissect --keys`` as a traceback."""
    write_tables(tmp_path / "keys", [IKE_REC], [ESP_REC])
    real = Path.exists

    def exists(self: Path) -> bool:
        if self.parent.name == "keys":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "exists", exists)
    with pytest.raises(CaptureError, match=r"cannot read key tables in '.*keys': Permission denied"):
        read_tables(tmp_path / "keys")


def test_algorithms_wireshark_4_0_lacks_become_comments() -> None:
    """tshark 4.0 rejects a whole table over one unknown name, so such records are kept as comments."""
    chacha = EspSaRecord("IPv4", "*", "*", 7, "ChaCha20 with Poly1305 [RFC7634]", b"\x00" * 36, "NULL", b"")
    ccm = EspSaRecord("IPv4", "*", "*", 8, "ENCR_AES_CCM_16", b"\x00" * 19, "NULL", b"")
    text = format_esp_sa_table([ESP_REC, chacha, ccm])
    data_lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert data_lines == [ESP_LINE]
    assert [r.spi for r in parse_esp_sa_table(text)] == [0x0D713155, 7, 8]  # ikelab reads them back


# ---------------------------------------------------------------------------- tshark with the exported tables

SUITES = [
    "aes128-sha256-modp2048",
    "aes256gcm16-prfsha256-ecp256",
    "aes256-sha1-modp2048",
    "aes128ctr-sha384-modp2048",
]


def _tshark(config: Path, pcap: Path, *args: str) -> str:
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(config), HOME=str(config))
    cmd = [require_tshark(), "-n", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
           "-o", "esp.enable_authentication_check:TRUE", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    assert "Error loading table" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.parametrize("suite, ipv6", [(s, False) for s in SUITES] + [(SUITES[0], True), (SUITES[1], True)])
def test_tshark_decrypts_everything_with_the_tables(tmp_path: Path, suite: str, ipv6: bool) -> None:
    import xml.etree.ElementTree as ET

    from ikelab.scenario import classic

    require_tshark()
    scenario = classic(seed=7, suite=suite, duration=9.0, reconnect_at=None, ipv6=ipv6)
    paths = scenario.write(tmp_path)
    root = ET.fromstring(_tshark(tmp_path, paths["pcap"], "-T", "pdml"))
    n_ike = n_esp = 0
    for packet in root.findall("packet"):
        protos = {p.get("name") for p in packet.findall("proto")}
        isakmp = packet.find("proto[@name='isakmp']")
        if isakmp is not None and isakmp.find(".//field[@name='isakmp.enc.icd']") is not None:
            n_ike += 1
            icd = isakmp.find(".//field[@name='isakmp.enc.icd']")
            assert icd.get("showname", "").endswith("[correct]"), icd.get("showname")
            assert isakmp.find(".//field[@name='isakmp.enc.decrypted']") is not None
        esp = packet.find("proto[@name='esp']")
        if esp is not None:
            n_esp += 1
            good = esp.find(".//field[@name='esp.icv_good']")
            assert good is not None and good.get("show") in ("1", "True"), ET.tostring(esp)[:300]
            assert ("icmpv6" if ipv6 else "icmp") in protos  # decrypted to the inner echo
    assert n_ike >= 8 and n_esp >= 12


def test_tshark_flags_a_wrong_key(tmp_path: Path) -> None:
    """The reference can disagree: with a wrong SK_ai tshark reports an incorrect checksum."""
    from ikelab.scenario import classic

    require_tshark()
    scenario = classic(seed=7, duration=3.0, reconnect_at=None, liveness_interval=None, child_rekey_after=None)
    paths = scenario.write(tmp_path)
    rec = scenario.tables.ike[0]
    wrong = IkeSaRecord(rec.spi_i, rec.spi_r, rec.sk_ei, rec.sk_er, rec.encr, bytes(len(rec.sk_ai)), rec.sk_ar, rec.integ)
    write_tables(tmp_path, [wrong], [])
    out = _tshark(tmp_path, paths["pcap"], "-Y", "isakmp.exchangetype == 35", "-T", "pdml")
    assert "[incorrect" in out


def test_a_later_ikev2_row_for_the_same_spis_replaces_an_earlier_one_as_in_tshark(tmp_path: Path) -> None:
    """packet-isakmp.c loads the rows into a hash table in file order, so of two rows with one SPI pair the last
    counts (a corrected row appended to a table wins).  The IKE_AUTH request's ICV, under the right SK_ai and
    under a zeroed one, must be judged alike by tshark and ikelab.dissect in both orders."""
    import xml.etree.ElementTree as ET

    from ikelab.dissect import dissect
    from ikelab.scenario import classic

    require_tshark()
    scenario = classic(seed=7, duration=3.0, reconnect_at=None, liveness_interval=None, child_rekey_after=None)
    right = scenario.tables.ike[0]
    wrong = IkeSaRecord(right.spi_i, right.spi_r, right.sk_ei, right.sk_er, right.encr, bytes(len(right.sk_ai)),
                        right.sk_ar, right.integ)
    for rows, good in (([wrong, right], True), ([right, wrong], False)):
        assert KeyTables(tuple(rows)).ike_sa(right.spi_i, right.spi_r) is rows[-1]
        d = tmp_path / ("good" if good else "bad")
        paths = scenario.write(d)
        write_tables(d, rows, [])
        assert [r.sk_ai for r in read_tables(d).ike] == [r.sk_ai for r in rows]
        root = ET.fromstring(_tshark(d, paths["pcap"], "-Y", "isakmp.exchangetype == 35 && isakmp.flag_r == 0",
                                     "-T", "pdml"))
        shown = [f.get("showname", "") for f in root.iter("field") if f.get("name") == "isakmp.enc.icd"]
        assert len(shown) == 1 and shown[0].endswith("[correct]") == good, shown
        ours = [r.icv_ok for r in dissect(paths["pcap"], d) if r.kind == "ike" and r.exchange == "IKE_AUTH"
                and not r.is_response]
        assert ours == [good]


def test_tshark_accepts_the_written_files_for_every_exported_name(tmp_path: Path) -> None:
    """Every table line ikelab writes for Wireshark is loaded without a UAT error; the SAs whose algorithm tshark
    4.0 cannot name (here AES-XCBC-96 integrity, IKE and ESP) are written as comments that ikelab reads back."""
    from ikelab.scenario import classic

    require_tshark()
    recs_ike, recs_esp = [], []
    for suite in SUITES + ["aes192-sha512-modp3072", "aes128gcm8-prfsha256-ecp256", "aes128gcm12-prfsha256-ecp256",
                           "aes128-aesxcbc-modp2048"]:
        t = classic(seed=3, suite=suite, duration=2.0, reconnect_at=None, liveness_interval=None,
                    child_rekey_after=None).tables
        recs_ike += t.ike
        recs_esp += t.esp
    write_tables(tmp_path, recs_ike, recs_esp)
    empty = tmp_path / "x.pcap"
    from ikelab.pcap import write_pcap

    write_pcap(empty, [])
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path), HOME=str(tmp_path))
    result = subprocess.run([require_tshark(), "-r", str(empty)], capture_output=True, text=True, env=env, timeout=60)
    assert "Error" not in result.stderr and "invalid" not in result.stderr, result.stderr
    xcbc = [r for r in recs_ike if r.integ == "AUTH_AES_XCBC_96"]
    xcbc += [r for r in recs_esp if r.auth == "AUTH_AES_XCBC_96"]
    assert len(xcbc) == 3 and not any(r.wireshark_ok for r in xcbc)
    tables = read_tables(tmp_path)
    assert (list(tables.ike), list(tables.esp)) == (recs_ike, recs_esp)


def test_tshark_command_runs(tmp_path: Path) -> None:
    from ikelab.scenario import classic

    require_tshark()
    scenario = classic(seed=5, duration=4.0, reconnect_at=None)
    paths = scenario.write(tmp_path)
    cmd = tshark_command(paths["pcap"], tmp_path, "-T", "fields", "-e", "icmp.seq", "-e", "isakmp.enc.decrypted",
                         "-e", "esp.icv_good")
    result = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, HOME=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    seqs = [row[0] for row in rows]
    assert "1" in seqs and "2" in seqs  # ESP decrypted to the pings
    # the command also switches on ESP ICV checking (off by default in Wireshark): every ping's ICV is checked, good
    assert all(row[2] in ("1", "True") for row in rows if row[0]), rows


def _same_spi_to_two_peers() -> tuple[list[bytes], list[EspSaRecord]]:
    """One gateway, two peers that each chose SPI 0x1000 for their inbound SA (RFC 4301 4.1: the receiver picks
    the SPI, so two receivers can pick the same one); each SA has its own AES-GCM key."""
    from ikelab import packet as ip
    from ikelab.esp import EspSa

    packets, records = [], []
    for n, peer in enumerate(("198.51.100.1", "198.51.100.2"), 1):
        key = bytes([n]) * 20
        sa = EspSa(0x1000, direction="outbound", encryption="ENCR_AES_GCM_16", key_bits=128, encryption_key=key,
                   tunnel=("192.0.2.1", peer))
        packets.append(sa.protect_packet(ip.icmp_echo("10.1.0.1", f"10.2.0.{n}", 9, n)))
        records.append(EspSaRecord("IPv4", "192.0.2.1", peer, 0x1000, "AES-GCM with 16 octet ICV [RFC4106]", key,
                                   "NULL", b""))
    return packets, records


def test_an_esp_sa_is_found_by_its_destination_too() -> None:
    """packet-esp.c matches an ``esp_sa`` row on source, destination and SPI: the same SPI from the same source
    to another peer is another SA."""
    _, (to_first, to_second) = _same_spi_to_two_peers()
    tables = KeyTables(esp=(to_first, to_second))
    assert tables.esp_sa(0x1000, "192.0.2.1", "198.51.100.1") == to_first
    assert tables.esp_sa(0x1000, "192.0.2.1", "198.51.100.2") == to_second
    assert KeyTables(esp=(to_first,)).esp_sa(0x1000, "192.0.2.1", "198.51.100.9") is None


def test_same_spi_to_two_peers_decrypts_as_tshark_does(tmp_path: Path) -> None:
    """tshark decrypts both packets with their own rows; so must ikelab.dissect, ICV checked."""
    import xml.etree.ElementTree as ET

    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    require_tshark()
    packets, records = _same_spi_to_two_peers()
    pcap = tmp_path / "two-peers.pcap"
    write_pcap(pcap, [(float(i), p) for i, p in enumerate(packets)], linktype=LINKTYPE_RAW)
    write_tables(tmp_path, [], records)
    root = ET.fromstring(_tshark(tmp_path, pcap, "-T", "pdml"))
    good = [p.find(".//field[@name='esp.icv_good']") for p in root.findall("packet")]
    assert [g is not None and g.get("show") in ("1", "True") for g in good] == [True, True]
    # tshark 4.0 marks an AES-GCM ICV good under any key: that each packet met its own row shows in the echo
    # decrypted inside it (sequence number n to 10.2.0.n)
    seqs = [p.find(".//field[@name='icmp.seq']") for p in root.findall("packet")]
    assert [s is not None and s.get("show") for s in seqs] == ["1", "2"]
    rows = dissect(pcap, tmp_path)
    assert [(r.decrypted, r.icv_ok, r.inner_dst) for r in rows] == [(True, True, "10.2.0.1"), (True, True, "10.2.0.2")]


@pytest.mark.parametrize("name", ["esp_sa", "ikev2_decryption_table"])
def test_a_table_that_is_a_directory_is_named_not_its_folder(tmp_path: Path, name: str) -> None:
    """``mkdir -p keys/esp_sa``: the error named the folder ('keys': Is a directory), which is a directory, as it
    should be; the file that is not a file is ``keys/esp_sa``, for reading and for writing alike."""
    keys = tmp_path / "keys"
    (keys / name).mkdir(parents=True)
    with pytest.raises(CaptureError, match=rf"cannot read key table '.*keys/{name}': Is a directory"):
        read_tables(keys)
    with pytest.raises(CaptureError, match=rf"cannot write key table '.*keys/{name}': Is a directory"):
        write_tables(keys, [IKE_REC], [ESP_REC])


# ---------------------------------------------------------------------------- esp_sa addresses and protocol, as tshark

V4 = ("192.0.2.1", "192.0.2.2")
V6 = ("2001:db8::1", "2001:db8::2")
# (protocol, source, destination, the packet's outer addresses, tshark 4.0's verdict: decrypted?)
ADDRESS_CASES = [
    ("IPv6", "2001:db8::1", "2001:db8::2", V6, True),
    ("IPv6", "2001:DB8::1", "2001:DB8::2", V6, True),  # upper case: the same addresses
    ("IPv6", "2001:0db8:0:0:0:0:0:1", "2001:0db8:0000:0000:0000:0000:0000:0002", V6, True),  # written out in full
    ("IPv6", "*", "*", V6, True),
    ("IPv6", "2001:db8::*", "2001:db8::*", V6, True),  # '*' is one hex digit
    ("IPv6", "2001:*::1", "*", V6, False),  # ... of its group, 0x000*: not 0x0db8
    ("IPv4", "192.0.2.1", "192.0.2.2", V4, True),
    ("IPv4", "192.0.2.*", "192.*.*.2", V4, True),
    ("IPv4", "192.000.002.001", "*", V4, True),  # decimal octets with leading zeros
    ("IPv4", "192.0.2.1", "192.0.2.9", V4, False),  # another destination
    ("IPv6", "*", "*", V4, False),  # an IPv6 row never decrypts IPv4
    ("IPv4", "*", "*", V6, False),  # nor an IPv4 row IPv6
]
# Wireshark compares whole hex digits: a digit the prefix cuts must be zero past the prefix in the packet too
PREFIX_CASES = [
    ("IPv6", "2001:db8::/64", "*", V6, True),
    ("IPv6", "2001:db8::/126", "*", V6, False),  # ::1 ends in a cut digit that is not zero
    ("IPv4", "192.0.2.0/24", "*", V4, True),
    ("IPv4", "192.0.2.0/30", "*", V4, False),  # the same for .1
]


def _esp_packet(spi: int, outer: tuple[str, str], key: bytes, seq: int = 1) -> bytes:
    from ikelab import packet as ip
    from ikelab.esp import EspSa

    sa = EspSa(spi, direction="outbound", encryption="ENCR_AES_GCM_16", key_bits=128, encryption_key=key, tunnel=outer)
    inner = ("10.1.0.1", "10.2.0.1") if ":" not in outer[0] else ("2001:db8:1::1", "2001:db8:2::1")
    return sa.protect_packet(ip.icmp_echo(*inner, 9, seq))


def _verdicts(tmp_path: Path, cases: list, repeat: int = 1) -> tuple[list[bool], list[bool]]:
    """tshark's and ikelab's verdicts (decrypted, ICV good) for one row and ``repeat`` packets per case, each case
    with its own SPI."""
    import xml.etree.ElementTree as ET

    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    key = bytes(range(20))
    packets, records = [], []
    for n, (protocol, src, dst, outer, _) in enumerate(cases):
        packets += [_esp_packet(0x1000 + n, outer, key, seq) for seq in range(1, repeat + 1)]
        records.append(EspSaRecord(protocol, src, dst, 0x1000 + n, "AES-GCM with 16 octet ICV [RFC4106]", key,
                                   "NULL", b""))
    pcap = tmp_path / "addresses.pcap"
    write_pcap(pcap, [(float(i), p) for i, p in enumerate(packets)], linktype=LINKTYPE_RAW)
    write_tables(tmp_path, [], records)
    root = ET.fromstring(_tshark(tmp_path, pcap, "-T", "pdml"))
    tshark = [p.find(".//field[@name='esp.icv_good']") is not None for p in root.findall("packet")]
    return tshark, [bool(r.decrypted and r.icv_ok) for r in dissect(pcap, tmp_path)]


def test_esp_sa_addresses_and_protocol_match_as_tshark_matches_them(tmp_path: Path) -> None:
    """packet-esp.c expands both the row's address and the packet's to hex digits before comparing, and wants the
    row's protocol to be the packet's IP version.  ikelab compared the text (``2001:DB8::1`` never matched
    ``2001:db8::1``) and ignored the protocol (an IPv6 row decrypted IPv4)."""
    require_tshark()
    tshark, ours = _verdicts(tmp_path, ADDRESS_CASES)
    assert tshark == [case[-1] for case in ADDRESS_CASES]
    assert dict(zip(map(str, ADDRESS_CASES), ours)) == dict(zip(map(str, ADDRESS_CASES), tshark))


@pytest.mark.parametrize("case", PREFIX_CASES, ids=[c[1] for c in PREFIX_CASES])
def test_esp_sa_prefixes_match_as_tshark_matches_them_the_first_time(tmp_path: Path, case: tuple) -> None:
    """A ``/n`` prefix, as packet-esp.c applies it.  tshark 4.0 applies it once only: get_full_ipv4_addr /
    get_full_ipv6_addr end the row's own text at the '/', so the next packet meets the bare address (here the
    second packet of a prefix that matched is not decrypted).  ikelab keeps the prefix: both are."""
    require_tshark()
    tshark, ours = _verdicts(tmp_path, [case], repeat=2)
    assert tshark[0] == case[-1] and tshark[1] is False
    assert ours == [case[-1]] * 2


def test_an_spi_written_in_decimal_is_read_as_tshark_reads_it(tmp_path: Path) -> None:
    """packet-esp.c reads the SPI field as a number: ``0x...`` in hex, digits alone in decimal."""
    import xml.etree.ElementTree as ET

    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    require_tshark()
    spi, key = 0x00D71315, bytes(range(20))
    pcap = tmp_path / "decimal.pcap"
    write_pcap(pcap, [(0.0, _esp_packet(spi, ("192.0.2.1", "192.0.2.2"), key))], linktype=LINKTYPE_RAW)
    (tmp_path / ESP_SA_FILE).write_text(f'"IPv4","192.0.2.1","192.0.2.2","{spi}","AES-GCM with 16 octet ICV '
                                        f'[RFC4106]","0x{key.hex()}","NULL",""\n')
    root = ET.fromstring(_tshark(tmp_path, pcap, "-T", "pdml"))
    assert root.find(".//field[@name='esp.icv_good']") is not None  # tshark: decrypted, ICV good
    assert [r.spi for r in read_tables(tmp_path).esp] == [spi]
    (row,) = dissect(pcap, tmp_path)
    assert row.decrypted and row.icv_ok


# (the SPI column as written, the SPIs it is for and some it is not for): packet-esp.c's filter_spi_match
SPI_FILTERS = [
    ("*", [0, 0x1000, 0xFFFFFFFF], []),
    ("0x0000100*", [0x1000, 0x1001, 0x100F], [0x1010, 0x0FFF, 0x11000]),
    ("0x*000100*", [0x1000, 0xF000100A], [0xF000110A]),
    ("0x0d713155", [0x0D713155], [0x0D713154]),
    ("0X0D713155", [0x0D713155], []),  # a number: strtoul takes either case
    ("225522005", [0x0D713155], []),  # decimal
    ("0100", [64], [100]),  # strtoul's octal
    ("0", [0], [1]),
]


@pytest.mark.parametrize("text, spis, others", SPI_FILTERS, ids=[f[0] for f in SPI_FILTERS])
def test_esp_sa_spi_column_reads_as_packet_esp_reads_it(text: str, spis: list[int], others: list[int]) -> None:
    from ikelab.esp_sa_addresses import spi_filter

    f = spi_filter(text)
    assert all(f.matches(spi) for spi in spis) and not any(f.matches(spi) for spi in others)
    assert f.exact == ("*" not in text)


@pytest.mark.parametrize("text, words", [
    ("0x0000100F*", "0x and 8 hex digits"),  # 11 characters: Wireshark wants the length of 0x%08x
    ("0x100*", "0x and 8 hex digits"),
    ("0x*", "0x and 8 hex digits"),
    ("**", "0x and 8 hex digits"),
    ("0x0000ABC*", "upper-case hex digits"),  # compared with lower-case text: never matches in tshark
    ("0xg0001000", "not a number"),
    ("12ab", "not a number"),
    ("1_000", "not a number"),
    ("0x100000000", "32 bits"),
])
def test_esp_sa_spi_that_never_matches_is_refused(text: str, words: str) -> None:
    line = f'"IPv4","*","*","{text}","AES-GCM with 16 octet ICV [RFC4106]","0x{bytes(20).hex()}","NULL",""\n'
    with pytest.raises(CaptureError, match=f"line 1: .*{words}"):
        parse_esp_sa_table(line)


def test_esp_sa_spi_wildcards_pick_rows_as_tshark_picks_them(tmp_path: Path) -> None:
    """``*`` and per-digit ``*`` in the SPI column, and the first row in table order that fits: a wildcard row
    above an exact one wins for the SPIs it covers.  Each packet's verdict (decrypted with the right key) is
    tshark's: the echo request inside shows (tshark 4.0 marks an AES-GCM ICV good even under a wrong key, so
    its esp.icv_good says only that a row was found)."""
    import xml.etree.ElementTree as ET

    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    require_tshark()
    keys = {name: bytes([n]) * 20 for n, name in enumerate("ABCD", 1)}
    rows = [("0100", "D"), ("0x0000100*", "A"), ("0x0000100a", "B"), ("*", "C")]
    packets = [(64, "D", True), (0x1001, "A", True), (0x1002, "A", True), (0x100A, "B", False), (0x2000, "C", True),
               (0x0D713155, "A", False)]
    outer = ("192.0.2.1", "192.0.2.2")
    pcap = tmp_path / "wildcards.pcap"
    write_pcap(pcap, [(float(i), _esp_packet(spi, outer, keys[k])) for i, (spi, k, _) in enumerate(packets)],
               linktype=LINKTYPE_RAW)
    (tmp_path / ESP_SA_FILE).write_text("".join(
        f'"IPv4","*","*","{spi}","AES-GCM with 16 octet ICV [RFC4106]","0x{keys[k].hex()}","NULL",""\n'
        for spi, k in rows))
    root = ET.fromstring(_tshark(tmp_path, pcap, "-T", "pdml"))
    tshark = [p.find(".//field[@name='icmp.type']") is not None for p in root.findall("packet")]
    assert tshark == [ok for _, _, ok in packets]
    assert [bool(r.decrypted and r.icv_ok) for r in dissect(pcap, tmp_path)] == tshark
    tables = read_tables(tmp_path)
    assert [r.spi_text for r in tables.esp] == ["0x00000040", "0x0000100*", "0x0000100a", "*"]
    assert tables.esp_sa(0x100A) == tables.esp[1]  # the pattern above the exact row
    tables.write(tmp_path / "again")  # written back as read: patterns stay patterns
    assert [r.spi_text for r in read_tables(tmp_path / "again").esp] == [r.spi_text for r in tables.esp]


def test_any_protocol_row_decrypts_either_version() -> None:
    """``Any`` (ikelab's; tshark 4.0 rejects the table) is a row for IPv4 and IPv6 packets alike, but an address
    of one version still matches only packets of that version."""
    key = bytes(range(20))
    rec = EspSaRecord("Any", "*", "*", 0x77, "AES-GCM with 16 octet ICV [RFC4106]", key, "NULL", b"")
    v4_only = EspSaRecord("Any", "192.0.2.*", "*", 0x78, "AES-GCM with 16 octet ICV [RFC4106]", key, "NULL", b"")
    tables = KeyTables(esp=(rec, v4_only))
    assert tables.esp_sa(0x77, *V4) == rec and tables.esp_sa(0x77, *V6) == rec
    assert tables.esp_sa(0x78, *V4) == v4_only and tables.esp_sa(0x78, *V6) is None


def test_a_bad_address_names_the_file_line_and_field(tmp_path: Path, capsys) -> None:
    """``192.0.2.300`` was loaded silently (Wireshark too loads it, and never matches it)."""
    from ikelab.cli import main
    from ikelab.errors import ConfigError

    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "esp_sa").write_text(ESP_LINE + "\n" + ESP_LINE.replace("192.0.2.1", "192.0.2.300") + "\n")
    said = (f"{keys / 'esp_sa'} line 2: source address '192.0.2.300' is not an IPv4 address: octet 300 is over 255")
    with pytest.raises(CaptureError) as info:
        read_tables(keys)
    assert str(info.value) == said
    pcap = tmp_path / "empty.pcap"
    from ikelab.pcap import write_pcap

    write_pcap(pcap, [])
    assert main(["dissect", str(pcap), "--keys", str(keys)]) == 2
    assert capsys.readouterr().err == f"ikelab dissect: error: {said}\n"
    bad = EspSaRecord("IPv4", "192.0.2.1", "192.0.2.300", 5, "NULL", b"", "NULL", b"")  # built in code, not read
    with pytest.raises(ConfigError, match=r"esp\[0\] \(SPI 0x00000005\): destination address '192.0.2.300' is not"):
        KeyTables(esp=(bad,))


def test_no_key_note_says_a_key_for_the_spi_exists_elsewhere() -> None:
    """The note said "no key for this SPI" when a row for the SPI existed, only for other addresses or for the
    other IP version: the row is there, its addresses (or protocol) are what is wrong."""
    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, CapturedPacket

    key = bytes(range(20))
    aead = ("AES-GCM with 16 octet ICV [RFC4106]", key, "NULL", b"")
    frames = [CapturedPacket(float(n), _esp_packet(spi, V4, key), LINKTYPE_RAW) for n, spi in enumerate((1, 2, 3))]
    tables = KeyTables(esp=(EspSaRecord("IPv4", "192.0.2.1", "192.0.2.9", 1, *aead),
                            EspSaRecord("IPv6", "*", "*", 2, *aead)))
    assert [r.note for r in dissect(frames, tables)] == [
        "a key for SPI 0x00000001 exists, but for 192.0.2.1 -> 192.0.2.9",
        "a key for SPI 0x00000002 exists, but for IPv6 packets (* -> *)",
        "no key for this SPI",
    ]
    two = KeyTables(esp=(EspSaRecord("IPv4", "192.0.2.1", "192.0.2.8", 1, *aead),
                         EspSaRecord("IPv4", "192.0.2.1", "192.0.2.9", 1, *aead)))
    assert two.esp_miss(1, *V4) == "keys for SPI 0x00000001 exist, but for 192.0.2.1 -> 192.0.2.8; 192.0.2.1 -> 192.0.2.9"


def test_extra_fields_in_the_tables_are_judged_as_tshark_judges_them(tmp_path: Path) -> None:
    """Quoted fields beyond the eighth: tshark warns, drops them and decrypts; so does ikelab, with the same keys.
    An unquoted one in esp_sa: tshark refuses the table, and so does ikelab."""
    from ikelab.scenario import classic

    require_tshark()
    scenario = classic(seed=5, duration=4.0, reconnect_at=None)
    paths = scenario.write(tmp_path)
    written = read_tables(tmp_path)
    for name in (IKEV2_TABLE_FILE, ESP_SA_FILE):
        path = tmp_path / name
        lines = path.read_text().splitlines()
        path.write_text("".join(line + ("" if line.startswith("#") else ',"extra"') + "\n" for line in lines))
    result = subprocess.run(tshark_command(paths["pcap"], tmp_path, "-T", "fields", "-e", "icmp.seq", "-e",
                                           "isakmp.enc.decrypted"),
                            shell=True, capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=str(tmp_path)))
    assert result.returncode == 0 and "More fields than required" in result.stderr, result.stderr
    assert "Error loading table" not in result.stderr, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert {"1", "2"} <= {row[0] for row in rows} and any(row[1] for row in rows)  # pings and IKE decrypted
    with pytest.warns(CaptureWarning, match="more than the 8 of a record"):
        assert read_tables(tmp_path) == written
    esp = tmp_path / ESP_SA_FILE
    esp.write_text(esp.read_text().replace(',"extra"', ",0"))
    result = subprocess.run(tshark_command(paths["pcap"], tmp_path), shell=True, capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, HOME=str(tmp_path)))
    assert "Error loading table 'ESP SAs'" in result.stderr and "unexpected char ," in result.stderr, result.stderr
    with pytest.raises(CaptureError, match="field 9 is not quoted"), warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)  # the ikev2 table's quoted extras
        read_tables(tmp_path)
