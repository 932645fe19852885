"""Review of the lab (network model, virtual clock, trace) and of the Wireshark key tables.

Each test here kills a hand-made mutant the other tests let through: the boundaries of the network's
probabilities and of the virtual clock, the order in which packets due at one instant are delivered, the
trace's notes and columns (checked against tshark's own columns), and the UAT escapes tshark reads
(checked against tshark loading the same file).  tshark tests skip without tshark (fail under CI=true).
"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import pytest

from tshark_util import require_tshark, run_fields

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.errors import CaptureError, ConfigError
from ikelab.lab import Lab, Network
from ikelab.message import decode
from ikelab.pcap import LINKTYPE_RAW, write_pcap
from ikelab.rand import DeterministicRandom
from ikelab.trace import Trace, TracePacket
from ikelab.uat import split_line


def configs(**both) -> tuple[IkeConfig, IkeConfig]:
    base = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",),
                cookie_threshold=None)
    base.update(both)
    return (IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
            IkeConfig(local_id="sun.example", remote_id="moon.example", **base))


def esp_bytes(spi: int, seq: int, body: bytes = bytes(24)) -> bytes:
    return spi.to_bytes(4, "big") + seq.to_bytes(4, "big") + body


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kw, field, words", [
    (dict(start=math.nan), "start", "start must be a finite time"),  # a NaN clock: run_until_idle spun for ever
    (dict(start=math.inf), "start", "start must be a finite time"),
    (dict(start="5"), "start", "start must be a finite time"),
    (dict(addresses=("192.0.2.1",)), "addresses", "addresses is a pair"),  # was an IndexError
    (dict(addresses="192.0.2.1"), "addresses", "addresses is a pair"),
    (dict(addresses=("192.0.2.1", "192.0.2.2", "192.0.2.3")), "addresses", "addresses is a pair"),
    (dict(nat="bogus"), "nat", "nat is the NAT's public IP address"),  # was found only when writing the capture
    (dict(nat=5), "nat", "nat is the NAT's public IP address"),
    (dict(nat="203.0.113.5", ipv6=True), "nat", "is an IPv4 address, but the responder '2001:db8::2' is not"),
], ids=["nan-start", "inf-start", "text-start", "one-address", "address-text", "three-addresses", "nat-text",
        "nat-int", "nat-family"])
def test_bad_lab_arguments_are_config_errors(kw: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        Lab(*configs(), seed=1, **kw)
    assert info.value.field == field


def test_send_esp_checks_its_side_and_packet() -> None:
    lab = Lab(*configs(), seed=1)
    with pytest.raises(ConfigError, match="side must be 'initiator' or 'responder', not 'nobody'"):
        lab.send_esp("nobody", esp_bytes(1, 1))  # was a KeyError
    with pytest.raises(ConfigError, match="an ESP packet is bytes, not int") as info:
        lab.send_esp("initiator", 5)  # type: ignore[arg-type]  # was five zero octets on the wire
    assert info.value.field == "packet" and len(lab.trace) == 0
    lab.send_esp("initiator", bytearray(esp_bytes(1, 1)))
    assert lab.trace[-1].payload == esp_bytes(1, 1)


# --------------------------------------------------------------------------- UAT text


def test_an_unquoted_field_is_read_without_the_blanks_around_it() -> None:
    assert split_line("0a0b ,\t0c0d , ", 1, "t") == [("0a0b", False), ("0c0d", False), ("", False)]


def test_tshark_escapes_are_read_as_tshark_reads_them() -> None:
    """epan/uat.c ``uat_unesc``: ``\\xNN``, the C letters and octal ``\\N``..``\\NNN`` are octets."""
    line = r'"192.0.2.\061","\a\b\e\f\n\r\t\v","\1234\0","\x41\101\7"'
    assert split_line(line, 1, "t") == [("192.0.2.1", True), ("\a\b\x1b\f\n\r\t\v", True), ("S4\x00", True),
                                        ("AA\x07", True)]
    with pytest.raises(CaptureError, match=r"not UTF-8 text: b'\\xff'"):  # tshark makes \400 (256) 255
        split_line(r'"\400"', 3, "t")
    for bad, why in ((r'"a\q"', r"escape \\q is not one tshark reads as written .*: write \\x71"),
                     ('"a\\"b"', r'escape \\" .*: write \\x22'), ('"a\\\\b"', r"escape \\\\ .*: write \\x5c"),
                     (r'"\X41"', r"escape \\X .*: write \\x58"), (r'"a\x4"', r"bad escape \\x4\""),
                     ('"a\\', "dangling backslash")):
        with pytest.raises(CaptureError, match=f"t line 3: {why}"):
            split_line(bad, 3, "t")


def test_esp_sa_escapes_mean_to_ikelab_what_they_mean_to_tshark(tmp_path: Path) -> None:
    """An ``esp_sa`` whose addresses are written with octal escapes: tshark reads 192.0.2.1 and decrypts;
    ikelab read "192.0.2.061" and decrypted nothing.  And an escape tshark reads otherwise than it looks
    (``\\]``: it keeps the ``]`` but drops the field's last character, so a doubled ``]`` names AES-CBC) is
    refused by ikelab, naming the line."""
    from ikelab.dissect import dissect
    from ikelab.scenario import classic
    from ikelab.wireshark import read_tables

    require_tshark()
    scenario = classic(seed=5, duration=4.0, reconnect_at=None, liveness_interval=None, child_rekey_after=None)
    paths = scenario.write(tmp_path)
    plain = (tmp_path / "esp_sa").read_text()
    assert '"192.0.2.1"' in plain and '"AES-CBC [RFC3602]"' in plain

    def tshark_pings() -> list[str]:
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path), HOME=str(tmp_path))
        cmd = [require_tshark(), "-n", "-r", str(paths["pcap"]), "-o", "esp.enable_encryption_decode:TRUE",
               "-o", "esp.enable_authentication_check:TRUE", "-Y", "esp", "-T", "fields", "-e", "icmp.seq"]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
        assert result.returncode == 0 and "Error loading table" not in result.stderr, result.stderr
        return [s for s in result.stdout.split() if s]

    # packet-esp.c takes a key after "0x" or "0X"
    (tmp_path / "esp_sa").write_text(plain.replace('"192.0.2.1"', '"192.0.2.\\061"')
                                     .replace('"192.0.2.2"', '"192.0.2.\\62"').replace('"0x', '"0X'))
    assert len(tshark_pings()) >= 4
    tables = read_tables(tmp_path)
    assert {r.src for r in tables.esp} == {"192.0.2.1", "192.0.2.2"}
    assert [r.encr_key for r in tables.esp] == [r.encr_key for r in scenario.tables.esp]
    esp_rows = [r for r in dissect(paths["pcap"], tables) if r.kind == "esp"]
    assert len(esp_rows) >= 4 and all(r.icv_ok for r in esp_rows)

    (tmp_path / "esp_sa").write_text(plain.replace('"AES-CBC [RFC3602]"', '"AES-CBC [RFC3602]\\]"'))
    assert len(tshark_pings()) >= 4
    with pytest.raises(CaptureError, match=r"esp_sa line 2: escape \\\] is not one tshark reads as written"):
        read_tables(tmp_path)
