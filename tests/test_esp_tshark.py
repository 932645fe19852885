"""An independent reference: Wireshark's tshark dissects and decrypts the ESP that ikelab writes.

The test writes ikelab's packets into a pcap (``ikelab.pcap.write_pcap``,
Ethernet framing from ``ikelab.packet``) and gives tshark the keys through
its ``esp_sa`` UAT table.  The field order of that table (packet-ipsec.c,
``esp_uat_flds``) is: Protocol, Src IP, Dest IP, SPI, Encryption, Encryption
Key, Authentication, Authentication Key; the algorithm names are those of
``esp_encryption_type_vals`` / ``esp_authentication_type_vals``, which
``ikelab.transforms`` carries as ``wireshark_esp_name``.

tshark then reports the decrypted inner fields and its own ICV verdict
(``esp.icv_good`` / ``esp.icv_bad``).  Without tshark these tests skip,
except under CI=true where they fail.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tshark_util import require_tshark as tshark

from ikelab import packet as ip
from ikelab import transforms
from ikelab.esp import EspSa, add_non_esp_marker
from ikelab.pcap import write_pcap
from ikelab.rand import DeterministicRandom

pytestmark = pytest.mark.tshark


def uat_row(sa: EspSa, version: int) -> str:
    """One esp_sa UAT record for ``sa`` (any addresses, its SPI, algorithms and keys)."""
    enc, integ = sa.encryption, sa.integrity
    auth = integ.wireshark_esp_name if integ is not None else transforms.WIRESHARK_ESP_AUTH_NULL
    auth_key = "0x" + sa.integrity_key.hex() if integ is not None else ""
    fields = [f"IPv{version}", "*", "*", f"0x{sa.spi:08x}", enc.wireshark_esp_name, "0x" + sa.encryption_key.hex(), auth, auth_key]
    return ",".join(f'"{f}"' for f in fields)


def run_tshark(tmp_path: Path, frames: list[bytes], uat_rows: list[str], fields: list[str]) -> list[dict[str, str]]:
    pcap = tmp_path / "esp.pcap"
    write_pcap(pcap, [(float(i), ip.ethernet(f)) for i, f in enumerate(frames)])
    config = tmp_path / "wireshark-config"
    config.mkdir(exist_ok=True)
    args = [tshark(), "-n", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE"]
    for row in uat_rows:
        args += ["-o", f"uat:esp_sa:{row}"]
    args += ["-T", "fields", "-E", "separator=|", "-E", "occurrence=l"]
    for f in fields:
        args += ["-e", f]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(config), HOME=str(tmp_path))
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=True).stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines()]


def make_sa(encr: str, bits: int | None, integ: str | None, spi: int, tunnel: tuple[str, str] | None,
            mode: str = "tunnel", **extra) -> EspSa:
    rng = DeterministicRandom(spi)
    enc = transforms.encryption(encr, bits)
    ik = transforms.integrity(integ).key_len if integ else 0
    return EspSa(spi, direction="outbound", encryption=encr, key_bits=bits, encryption_key=rng.random_bytes(enc.key_len),
                 integrity=integ, integrity_key=rng.random_bytes(ik), tunnel=tunnel, mode=mode, rng=rng.fork("iv"), **extra)


SCENARIOS = [
    # (id, encryption, key bits, integrity, mode, IP version)
    ("aes-cbc-hmac-sha256-tunnel-v4", "ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", "tunnel", 4),
    ("aes-cbc-256-hmac-sha256-transport-v4", "ENCR_AES_CBC", 256, "AUTH_HMAC_SHA2_256_128", "transport", 4),
    ("aes-gcm16-128-tunnel-v4", "ENCR_AES_GCM_16", 128, None, "tunnel", 4),
    ("aes-gcm16-256-tunnel-v6", "ENCR_AES_GCM_16", 256, None, "tunnel", 6),
    ("aes-cbc-hmac-sha1-tunnel-v6", "ENCR_AES_CBC", 128, "AUTH_HMAC_SHA1_96", "tunnel", 6),
]


@pytest.mark.parametrize("encr, bits, integ, mode, version", [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_tshark_decrypts_ikelab_esp(tmp_path: Path, encr: str, bits: int, integ: str | None, mode: str, version: int) -> None:
    inner_src, inner_dst, outer_src, outer_dst = (
        ("10.1.0.5", "10.2.0.9", "203.0.113.1", "203.0.113.2") if version == 4
        else ("2001:db8:1::5", "2001:db8:2::9", "2001:db8:ffff::1", "2001:db8:ffff::2")
    )
    if mode == "transport":
        inner_src, inner_dst = outer_src, outer_dst
    sa = make_sa(encr, bits, integ, 0x1234ABCD, (outer_src, outer_dst) if mode == "tunnel" else None, mode)
    frames = []
    for n in range(1, 4):
        frames.append(sa.protect_packet(ip.icmp_echo(inner_src, inner_dst, 0x77, n, bytes(range(n * 10)))))
        frames.append(sa.protect_packet(ip.ip_udp(inner_src, inner_dst, 40000 + n, 50001, b"q" * (n + 30))))
    icmp_seq = "icmp.seq" if version == 4 else "icmpv6.echo.sequence_number"
    rows = run_tshark(tmp_path, frames, [uat_row(sa, version)],
                      ["esp.spi", "esp.sequence", "esp.icv_good", "esp.icv_bad", "esp.pad_len", icmp_seq, "udp.srcport"])
    assert len(rows) == 6
    for i, row in enumerate(rows):
        assert int(row["esp.spi"], 16) == 0x1234ABCD
        assert row["esp.sequence"] == str(i + 1)
        assert (row["esp.icv_good"], row["esp.icv_bad"]) == ("1", "0"), row  # tshark's own ICV/tag check
        n = i // 2 + 1
        if i % 2 == 0:
            assert row[icmp_seq] == str(n)  # decrypted inner ICMP echo
        else:
            assert row["udp.srcport"] == str(40000 + n)  # decrypted inner UDP


def test_tshark_sees_a_bad_icv(tmp_path: Path) -> None:
    """The reference must be able to disagree: with a wrong integrity key tshark flags the ICV."""
    sa = make_sa("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", 0x2222, ("203.0.113.1", "203.0.113.2"))
    frame = sa.protect_packet(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, b"x"))
    wrong = make_sa("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", 0x2222, ("203.0.113.1", "203.0.113.2"))
    wrong.integrity_key = bytes(32)
    rows = run_tshark(tmp_path, [frame], [uat_row(wrong, 4)], ["esp.icv_good", "esp.icv_bad"])
    assert (rows[0]["esp.icv_good"], rows[0]["esp.icv_bad"]) == ("0", "1")


def test_tshark_splits_udp4500_like_classify(tmp_path: Path) -> None:
    """RFC 3948 in an independent dissector: ESP-in-UDP is ESP, a Non-ESP-Marker payload is IKE."""
    sa = make_sa("ENCR_AES_GCM_16", 128, None, 0x3333, ("198.51.100.1", "198.51.100.2"), udp_encap=(4500, 4500))
    esp_frame = sa.protect_packet(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 9, b"nat-t"))
    ike_header = bytes(range(1, 9)) + bytes(8) + bytes([46, 0x20, 37, 0x08]) + bytes(4) + (28).to_bytes(4, "big")
    ike_frame = ip.ip_udp("198.51.100.1", "198.51.100.2", 4500, 4500, add_non_esp_marker(ike_header))
    rows = run_tshark(tmp_path, [esp_frame, ike_frame], [uat_row(sa, 4)],
                      ["frame.protocols", "esp.spi", "icmp.seq", "isakmp.ispi"])
    assert "esp" in rows[0]["frame.protocols"] and int(rows[0]["esp.spi"], 16) == 0x3333
    assert rows[0]["icmp.seq"] == "9"
    assert "isakmp" in rows[1]["frame.protocols"] and "esp" not in rows[1]["frame.protocols"]
    assert rows[1]["isakmp.ispi"].replace(":", "") == bytes(range(1, 9)).hex()
