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
from ikelab.errors import CaptureError, ConfigError
from ikelab.lab import Lab, Network
from ikelab.message import decode
from ikelab.pcap import LINKTYPE_RAW, write_pcap
from ikelab.rand import DeterministicRandom
from ikelab.trace import Trace, TracePacket
from ikelab.uat import split_line
from test_lab import configs


def esp_bytes(spi: int, seq: int, body: bytes = bytes(24)) -> bytes:
    return spi.to_bytes(4, "big") + seq.to_bytes(4, "big") + body


# --------------------------------------------------------------------------- the network model


class Scripted:
    """A random source whose ``randbelow`` answers from a list, recording the bounds it was asked for."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)
        self.asked: list[int] = []

    def randbelow(self, n: int) -> int:
        self.asked.append(n)
        return self.values.pop(0)


def test_a_fate_draws_once_per_nonzero_probability_in_the_order_loss_duplicate_reorder() -> None:
    """A probability p hits a draw below p (of a million); a zero probability draws nothing, so adding
    ``loss=0`` does not shift which packets a duplication rate hits."""
    net = Network(loss=0.5)
    assert net.fate(0, Scripted(499_999)) == "drop"
    assert net.fate(0, Scripted(500_000)) == "ok"  # p * 10**6 itself misses: the chance is exactly p
    rng = Scripted(100)
    assert Network(loss=0.0, duplicate=0.5).fate(0, rng) == "dup" and len(rng.asked) == 1
    rng = Scripted(100)
    assert Network(reorder=0.5).fate(0, rng) == "late" and len(rng.asked) == 1
    # loss first: a draw that would hit both loss and duplication loses the packet
    rng = Scripted(100, 100, 100)
    assert Network(loss=0.5, duplicate=0.5, reorder=0.5).fate(0, rng) == "drop" and len(rng.asked) == 1
    rng = Scripted(900_000, 100)
    assert Network(loss=0.5, duplicate=0.5, reorder=0.5).fate(0, rng) == "dup" and len(rng.asked) == 2
    rng = Scripted(900_000, 900_000, 100)
    assert Network(loss=0.5, duplicate=0.5, reorder=0.5).fate(0, rng) == "late" and len(rng.asked) == 3
    # the schedule comes first, and draws nothing
    rng = Scripted()
    assert Network(loss=1.0, schedule=("ok", "late")).fate(1, rng) == "late" and rng.asked == []


def test_seeded_fates_come_at_the_rates_asked() -> None:
    """Over 4000 packets of one seed (the counts are fixed by the seed, not by chance): 10 % lost, then 20 % of
    the rest duplicated, then 30 % of the rest late, each within a few points."""
    net, rng = Network(loss=0.1, duplicate=0.2, reorder=0.3), DeterministicRandom(3)
    fates = [net.fate(n, rng) for n in range(4000)]
    lost, dup, late = (fates.count(f) / 4000 for f in ("drop", "dup", "late"))
    assert abs(lost - 0.1) < 0.02
    assert abs(dup - 0.9 * 0.2) < 0.02
    assert abs(late - 0.9 * 0.8 * 0.3) < 0.02


def test_the_extreme_probabilities_and_a_zero_delay_are_allowed() -> None:
    """``loss=1`` is a probability (every packet lost), and a zero delay is a network without latency."""
    Network(loss=1.0, duplicate=1.0, reorder=1.0, delay=0.0, reorder_delay=0.0)
    lab = Lab(*configs(), seed=1, network=Network(loss=1.0))
    lab.initiate()
    lab.run_until_idle(math.inf)
    assert lab.trace and {p.note for p in lab.trace} == {"lost"}
    assert not lab.events("initiator", ev.IkeSaEstablished) and not lab.events("responder", ev.MessageReceived)
    lab = Lab(*configs(), seed=1, network=Network(delay=0.0))
    lab.initiate()
    lab.run_until_idle(0.0)  # a limit of 0 s: what is due now, which here is the whole handshake
    assert lab.initiator.established and lab.now == 0.0 and {p.time for p in lab.trace} == {0.0}


def test_the_network_draws_from_its_own_stream() -> None:
    """Drawing from ``lab.rng`` (as ESP glue may, for IVs) leaves the network's fates alone: it has its own
    forked stream, so a seed gives the same losses whatever else the lab's randomness feeds."""
    notes = []
    for draw in (False, True):
        lab = Lab(*configs(), seed=11, network=Network(loss=0.3, duplicate=0.2, reorder=0.2))
        if draw:
            lab.rng.random_bytes(64)
        lab.initiate()
        lab.run(until=60.0)
        notes.append([p.note for p in lab.trace])
    assert notes[0] == notes[1] and {"lost", "delayed"} <= set(notes[0])


def test_a_duplicated_packet_is_traced_twice_and_delivered_twice() -> None:
    lab = Lab(*configs(), seed=4)
    lab.initiate()
    lab.run_until_idle()
    lab.network = Network(schedule=("dup",))
    lab._packets = 0
    before = len(lab.trace)
    lab.send_esp("initiator", esp_bytes(0x1234, 1))
    lab.run_until_idle()
    first, second = lab.trace[before:]
    assert (first.note, second.note) == ("", "duplicate") and first.payload == second.payload
    assert [p.payload for p in lab.esp_received["responder"]] == [first.payload] * 2


def test_a_late_packet_is_noted_and_held_back_by_the_reorder_delay() -> None:
    lab = Lab(*configs(), seed=4, network=Network(delay=0.25, reorder_delay=0.5, schedule=("late",)))
    lab.initiate()
    lab.run_until_idle()
    assert lab.trace[0].note == "delayed" and lab.trace[0].time == 0.0
    assert lab.trace[1].time == 0.75  # the response left when the late request arrived: 0.25 + 0.5
    assert lab.trace.packet_list()[0][6].endswith(" [delayed]")


def test_packets_due_at_one_instant_arrive_in_sending_order() -> None:
    lab = Lab(*configs(), seed=4)
    lab.initiate()
    lab.run_until_idle()
    sent = [esp_bytes(0x1234, n) for n in range(1, 6)]
    for packet in sent:
        lab.send_esp("initiator", packet)
    lab.run_until_idle()
    assert [p.payload for p in lab.esp_received["responder"]] == sent


def test_a_nat_drops_what_comes_to_a_public_port_it_never_mapped() -> None:
    """A NAPT only forwards inbound traffic to a mapping the host behind it opened (RFC 3948 1)."""
    lab = Lab(*configs(), seed=4, nat="203.0.113.5")
    lab.send_esp("responder", esp_bytes(0x1234, 1), udp_encap=True)  # nothing has gone out through the NAT yet
    lab.run_until_idle()
    assert lab.esp_received["initiator"] == [] and len(lab.trace) == 0


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


# --------------------------------------------------------------------------- the virtual clock


def test_the_clock_starts_at_start() -> None:
    lab = Lab(*configs(), seed=1, start=100.0, network=Network(delay=0.25))
    assert lab.now == 100.0
    lab.initiate()
    lab.run_until_idle()
    assert [p.time for p in lab.trace] == [100.0, 100.25, 100.5, 100.75]


def test_run_until_includes_what_is_due_at_that_very_time() -> None:
    lab = Lab(*configs(), seed=1, network=Network(delay=0.25))
    lab.initiate()
    lab.run(until=0.25)  # the IKE_SA_INIT request arrives at 0.25 and is answered then
    assert lab.now == 0.25 and [p.time for p in lab.trace] == [0.0, 0.25]


def test_run_until_idle_includes_what_is_due_at_the_limit() -> None:
    lab = Lab(*configs(), seed=1, network=Network(delay=0.25))
    lab.initiate()
    lab.run_until_idle(limit=1.0)  # the IKE_AUTH response arrives at exactly 1.0
    assert lab.initiator.established and not lab.busy() and lab.now == 1.0


def test_the_current_sa_is_the_established_one_while_a_newer_one_is_half_open() -> None:
    lab = Lab(*configs(), seed=1)
    lab.initiate()
    lab.run_until_idle()
    first = lab.initiator
    lab.network = Network(schedule=("drop",))  # the second IKE_SA_INIT is lost: it stays half-open
    lab._packets = 0
    second = lab.initiate()
    assert lab.sas("initiator") == [first, second] and not second.established
    assert lab.initiator is first and lab.sa("initiator") is first
    lab.run_until_idle()
    assert second.established and lab.initiator is second  # then the newest established one


# --------------------------------------------------------------------------- the trace


def test_between_includes_both_ends() -> None:
    lab = Lab(*configs(), seed=1, network=Network(delay=0.25))
    lab.initiate()
    lab.run_until_idle()
    assert [p.time for p in lab.trace.between(0.25, 0.5)] == [0.25, 0.5]


def test_sent_by_is_the_packets_from_an_address_not_to_it() -> None:
    lab = Lab(*configs(), seed=1)
    lab.initiate()
    lab.run_until_idle()
    mine = lab.trace.sent_by("192.0.2.1")
    assert len(mine) == 2 and {p.src for p in mine} == {"192.0.2.1"} and {p.dst for p in mine} == {"192.0.2.2"}


def test_a_lost_packet_is_marked_in_the_packet_list() -> None:
    lab = Lab(*configs(), seed=5, network=Network(schedule=("drop",)))
    lab.initiate()
    lab.run_until_idle()
    rows = lab.trace.packet_list()
    assert rows[0][6] == "IKE_SA_INIT MID=00 Initiator Request [lost]"
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))  # numbered from 1, as Wireshark does


def test_ike_behind_a_nat_is_read_past_the_non_esp_marker_whatever_the_source_port() -> None:
    """Behind a NAPT the initiator's packets leave from the NAT's port (49152 up) to port 4500: the Non-ESP
    Marker (RFC 3948 2.2) must still be taken off, so every IKE packet of the trace decodes."""
    lab = Lab(*configs(), seed=7, nat="203.0.113.5")
    lab.initiate()
    lab.run_until_idle()
    lab.liveness("initiator")
    lab.run_until_idle()
    nat_t = [p for p in lab.trace if p.kind == "ike" and p.dport == 4500 and p.sport != 4500]
    assert nat_t and all(p.sport >= 49152 for p in nat_t)
    for p in lab.trace.ike():
        assert decode(p.ike_message).info == p.info() and "undecodable" not in p.info()


def test_esp_and_keepalive_rows_agree_with_tshark(tmp_path: Path) -> None:
    """tshark's Protocol column, and its Info column for ESP (ours adds the sequence number, which must be the
    one tshark reads) and for a NAT-keepalive (RFC 3948 2.3)."""
    require_tshark()
    payload = esp_bytes(0x0D713155, 0x01000002)
    trace = Trace([TracePacket(0.0, "192.0.2.1", "192.0.2.2", 0, 0, payload, "esp"),
                   TracePacket(1.0, "192.0.2.1", "192.0.2.2", 4500, 4500, payload, "esp"),
                   TracePacket(2.0, "192.0.2.1", "192.0.2.2", 4500, 4500, b"\xff", "keepalive"),
                   TracePacket(3.0, "2001:db8::1", "2001:db8::2", 0, 0, payload, "esp")])
    path = tmp_path / "trace.pcap"
    write_pcap(path, trace.ip_packets(), linktype=LINKTYPE_RAW)
    theirs = run_fields(path, ["_ws.col.Protocol", "_ws.col.Info", "esp.spi", "esp.sequence"])
    rows = trace.packet_list()
    assert [row[4] for row in rows] == [t[0] for t in theirs]
    for row, (proto, info, spi, seq) in zip(rows, theirs):
        if proto == "ESP":
            assert row[6] == f"{info} seq={int(seq)}" and info == f"ESP (SPI={spi})"
        else:
            assert row[6] == info == "NAT-keepalive"
    assert TracePacket(0.0, "192.0.2.1", "192.0.2.2", 0, 0, b"\x01\x02", "esp").info() == "ESP (SPI=0x?) seq=0"


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


# --------------------------------------------------------------------------- table records


def test_an_aead_record_names_no_integrity_even_if_one_is_given() -> None:
    """With AES-GCM (RFC 4106, RFC 5282) there is no separate integrity algorithm or key: the rows say
    "NONE [RFC4306]" / "NULL" with empty integrity keys, whatever integrity transform the caller passes."""
    from dataclasses import replace
    from types import SimpleNamespace

    from ikelab.constants import EncrId, IntegId
    from ikelab.wireshark import esp_records_from_child, ike_record_from_sa

    lab = Lab(*configs(ike_proposals=("aes256gcm16-prfsha256-ecp256",)), seed=1)
    lab.initiate()
    lab.run_until_idle()
    sa = lab.initiator
    keys = SimpleNamespace(sk_ei=sa.keys.sk_ei, sk_er=sa.keys.sk_er, sk_ai=b"a" * 32, sk_ar=b"b" * 32)
    rec = ike_record_from_sa(sa.spi_i, sa.spi_r, keys, EncrId.ENCR_AES_GCM_16, 256, IntegId.AUTH_HMAC_SHA2_256_128)
    assert (rec.encr, rec.integ, rec.sk_ai, rec.sk_ar) == ("AES-GCM-256 with 16 octet ICV [RFC5282]",
                                                           "NONE [RFC4306]", b"", b"")
    child = replace(lab.events("initiator", ev.ChildSaCreated)[0], integ=IntegId.AUTH_HMAC_SHA2_256_128,
                    integ_key_out=b"k" * 32, integ_key_in=b"k" * 32)
    for r in esp_records_from_child(child):
        assert (r.encr, r.auth, r.auth_key) == ("AES-GCM with 16 octet ICV [RFC4106]", "NULL", b"")


def test_the_no_key_note_does_not_call_an_any_row_another_protocol() -> None:
    from ikelab.wireshark import EspSaRecord, KeyTables

    key = bytes(20)
    rows = (EspSaRecord("Any", "192.0.2.9", "192.0.2.8", 0x1000, "AES-GCM with 16 octet ICV [RFC4106]", key, "NULL",
                        b""),
            EspSaRecord("IPv6", "2001:db8::9", "2001:db8::8", 0x1000, "AES-GCM with 16 octet ICV [RFC4106]", key,
                        "NULL", b""))
    assert KeyTables(esp=rows).esp_miss(0x1000, "192.0.2.1", "192.0.2.2") == (
        "keys for SPI 0x00001000 exist, but for 192.0.2.9 -> 192.0.2.8; IPv6 packets (2001:db8::9 -> 2001:db8::8)")


def test_an_spi_pattern_is_kept_without_the_blanks_around_it() -> None:
    from ikelab.wireshark import parse_esp_sa_table

    (rec,) = parse_esp_sa_table('"IPv4","*","*"," 0x0000100* ","AES-GCM with 16 octet ICV [RFC4106]","0x'
                                + "00" * 20 + '","NULL",""')
    assert rec.spi_text == "0x0000100*" and rec.line().split(",")[3] == '"0x0000100*"'
