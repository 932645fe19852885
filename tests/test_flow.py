"""Flow diagrams and SA timelines (ikelab.flow): the data behind the figures, not pixels.

Expectations come from the classic trace's definition (RFC 7296 exchanges in
order, one arrow per packet as in Wireshark's Flow Graph) and from the
decrypted Delete payloads (RFC 7296 3.11) that end an SA.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ikelab.dissect import dissect
from ikelab.errors import ConfigError
from ikelab.flow import GROUP_COLOURS, endpoints, flow_arrows, sa_spans, save_flow
from ikelab.pcap import LINKTYPE_RAW, CapturedPacket
from ikelab.scenario import classic


def rows_for(**kwargs):
    sc = classic(**kwargs)
    return sc, dissect([CapturedPacket(t, p, LINKTYPE_RAW) for t, p in sc.records()], sc.tables)


@pytest.fixture(scope="module")
def short():
    return rows_for(duration=12.0, reconnect_at=None)


def test_one_arrow_per_packet_in_a_short_trace(short) -> None:
    sc, rows = short
    assert 30 <= len(rows) <= 45
    arrows = flow_arrows(rows)
    assert len(arrows) == len(rows) and all(a.count == 1 for a in arrows)
    assert [a.first_no for a in arrows] == [r.no for r in rows]
    assert [(a.src, a.dst) for a in arrows] == [(r.src, r.dst) for r in rows]
    assert [a.time for a in arrows] == sorted(a.time for a in arrows)
    first = arrows[0]
    assert first.label.splitlines() == ["IKE_SA_INIT MID=00 Initiator Request",
                                        "HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)"]
    auth = arrows[3]
    assert auth.group == "IKE_AUTH" and auth.label.endswith("HDR, SK {IDi, AUTH, SAi2, TSi, TSr}")
    assert auth.colour == GROUP_COLOURS["IKE_AUTH"]
    groups = [a.group for a in arrows]
    assert groups[:5] == ["IKE_SA_INIT"] * 3 + ["IKE_AUTH"] * 2
    assert "CREATE_CHILD_SA" in groups and "INFORMATIONAL" in groups
    esp_groups = {g for g in groups if g.startswith("ESP 0x")}
    assert len(esp_groups) == 4  # two SPIs before the rekey, two after
    colours = {a.group: a.colour for a in arrows}
    assert len({colours[g] for g in esp_groups}) == 4  # one colour per SPI
    assert endpoints(rows) == ["192.0.2.1", "192.0.2.2"]


def test_long_trace_folds_esp_runs() -> None:
    sc, rows = rows_for(duration=200.0, reconnect_at=100.0, liveness_interval=20.0)
    assert len(rows) >= 400
    arrows = flow_arrows(rows)
    assert len(arrows) < 120  # readable
    assert sum(a.count for a in arrows) == len(rows)  # nothing lost
    folded = [a for a in arrows if a.count > 1]
    assert folded and all(a.group.startswith("ESP 0x") for a in folded)
    for a in folded:
        spi = a.group.split()[1]
        assert a.label == f"ESP (SPI={spi}) \u00d7{a.count}" and a.end_time > a.time
    # folding never reorders the IKE exchanges
    ike = [a.first_no for a in arrows if not a.group.startswith("ESP")]
    assert ike == [r.no for r in rows if r.kind == "ike"]
    assert len(flow_arrows(rows, fold=False)) == len(rows)


def test_sa_spans_show_the_rekey_overlap(short) -> None:
    sc, rows = short
    spans = sa_spans(rows)
    ike = [s for s in spans if s.kind == "IKE"]
    esp = [s for s in spans if s.kind == "ESP"]
    assert len(ike) == 1 and len(esp) == 4
    old = [s for s in esp if s.deleted]
    new = [s for s in esp if not s.deleted]
    assert len(old) == 2 and len(new) == 2
    assert {(s.src, s.dst) for s in old} == {(s.src, s.dst) for s in new}  # one per direction each
    ccs = next(r for r in rows if r.exchange == "CREATE_CHILD_SA")
    for o in old:
        assert o.end > min(n.start for n in new)  # the old SA outlives the new one's creation: the overlap
        assert o.end >= ccs.time
    for n in new:
        assert n.start >= ccs.time
    assert {int(s.name.split("0x")[1], 16) for s in esp} == {rec.spi for rec in sc.tables.esp}


def test_spans_without_keys_use_first_and_last_packets(short) -> None:
    sc, _ = short
    rows = dissect([CapturedPacket(t, p, LINKTYPE_RAW) for t, p in sc.records()])
    esp = [s for s in sa_spans(rows) if s.kind == "ESP"]
    assert len(esp) == 4 and not any(s.deleted for s in esp)
    first = [r for r in rows if r.kind == "esp"][0]
    assert esp[0].start == first.time


def test_drawing_writes_images(tmp_path: Path, short) -> None:
    sc, rows = short
    arrows = save_flow(rows, tmp_path / "flow.png", timeline=True)
    assert (tmp_path / "flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(arrows) == len(rows)
    save_flow(sc.trace, tmp_path / "flow.svg", sc.tables)
    assert b"<svg" in (tmp_path / "flow.svg").read_bytes()[:500]


def test_bad_figure_paths_and_inputs_are_config_errors(tmp_path: Path, short) -> None:
    """An unknown image format is named with the ones that work, before anything is drawn; no matplotlib error."""
    import io

    sc, rows = short
    with pytest.raises(ConfigError, match=r"cannot write a figure as \.docx .*\.png.*\.svg") as err:
        save_flow(rows, tmp_path / "flow.docx")
    assert err.value.field == "path" and not (tmp_path / "flow.docx").exists()
    with pytest.raises(ConfigError, match="file name or a binary file, not int"):
        save_flow(rows, 5)
    buf = io.BytesIO()
    save_flow(rows, buf)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    save_flow(rows, tmp_path / "FLOW.SVG")  # the suffix in any case
    assert b"<svg" in (tmp_path / "FLOW.SVG").read_bytes()[:500]
    with pytest.raises(ConfigError, match=r"capture\[1\] must be an ikelab.pcap.CapturedPacket, not str"):
        dissect([CapturedPacket(0.0, b"", LINKTYPE_RAW), "packet"])
    with pytest.raises(ConfigError, match="expected a KeyTables or a directory path, not int"):
        dissect([], 5)


def test_import_ikelab_does_not_import_matplotlib() -> None:
    code = "import sys, ikelab, ikelab.flow, ikelab.dissect, ikelab.scenario, ikelab.wireshark; " \
           "print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


STRONGSWAN = Path(__file__).parent / "vectors" / "strongswan"


def test_a_lan_capture_draws_only_ike_and_esp_unless_asked() -> None:
    """charon's own capture (tests/vectors/strongswan) starts with four ARP frames between MAC addresses:
    they are left out by default, so the lanes are the two IKE peers, and drawn with ``every_frame``."""
    rows = dissect(STRONGSWAN / "classic.pcapng")
    arp = [r for r in rows if r.protocol == "ARP"]
    assert len(arp) == 4
    arrows = flow_arrows(rows, fold=False)
    assert len(arrows) == len(rows) - 4 and {a.src for a in arrows} | {a.dst for a in arrows} == {"192.0.2.1", "192.0.2.2"}
    everything = flow_arrows(rows, fold=False, every_frame=True)
    assert [a.first_no for a in everything] == [r.no for r in rows]
    assert [a.label for a in everything[:4]] == [r.info for r in arp]


def test_flow_command_takes_all(tmp_path: Path) -> None:
    for extra, arrows in (([], 20), (["--all"], 24)):
        out = subprocess.run([sys.executable, "-m", "ikelab", "flow", str(STRONGSWAN / "classic.pcapng"), "--keys",
                              str(STRONGSWAN), "-o", str(tmp_path / "flow.svg"), *extra],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert f"({arrows} arrows)" in out.stdout


def test_long_summaries_wrap_after_commas_and_get_room() -> None:
    from ikelab.flow import SUMMARY_CHARS_PER_LANE, draw_flow, wrap_summary

    assert wrap_summary("HDR, SK {IDi, AUTH, SAi2, TSi, TSr}", 90) == ["HDR, SK {IDi, AUTH, SAi2, TSi, TSr}"]
    arrows = flow_arrows(dissect(STRONGSWAN / "classic.pcapng", STRONGSWAN), fold=False)
    text = arrows[0].label.split("\n", 1)[1]  # charon's IKE_SA_INIT: six notifies, 170 characters
    lines = wrap_summary(text, SUMMARY_CHARS_PER_LANE)
    assert len(text) > SUMMARY_CHARS_PER_LANE and len(lines) == 2
    assert all(len(line) <= SUMMARY_CHARS_PER_LANE for line in lines) and " ".join(lines) == text
    short = wrap_summary(", ".join(f"N(NOTIFY_{i})" for i in range(40)), 30, lines=3)
    assert len(short) == 3 and short[-1].endswith(", \u2026")
    # room for the extra lines: the figure grows past one row per arrow
    height = draw_flow(arrows).get_size_inches()[1]
    assert height > 1.2 + 0.42 * len(arrows) + 0.3
    # ikelab's own summaries fit on one line: the lessons' figures keep one row per arrow
    sc, rows = rows_for(duration=12.0, reconnect_at=None)
    mine = flow_arrows(rows)
    assert draw_flow(mine).get_size_inches()[1] == pytest.approx(1.2 + 0.42 * len(mine))


def test_child_sas_follow_their_ike_sa_through_a_rekey_and_end_with_its_delete() -> None:
    """RFC 7296 2.18: an IKE SA rekey hands the CHILD SAs to the new IKE SA, so the old one's Delete does not end
    them; 1.4.1: the Delete of the IKE SA that holds them does, and their bars stop there, marked deleted.  An
    IKE SA that is not deleted lives as long as its CHILD SAs carry packets."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_ike import configs

    from ikelab.esp import EspSa
    from ikelab.lab import Lab
    from ikelab.packet import icmp_echo
    from ikelab.wireshark import KeyTables

    lab = Lab(*configs(esp="aes128-sha256"), seed=3)
    lab.initiate()
    lab.run_until_idle()
    (child,) = lab.initiator.children.values()
    out = EspSa(child.spi_out, direction="outbound", encryption=child.encr, key_bits=child.encr_key_bits,
                encryption_key=child.encr_key_out, integrity=child.integ, integrity_key=child.integ_key_out,
                tunnel=("192.0.2.1", "192.0.2.2"))

    def ping(seq: int) -> None:
        lab.send_esp("initiator", out.encapsulate(icmp_echo("10.1.0.1", "10.2.0.1", 1, seq, b"x"), 4))
        lab.run(lab.now + 1.0)

    ping(1)
    lab.rekey_ike("initiator")
    lab.run_until_idle()  # the old IKE SA is deleted by the rekey's initiator
    ping(2)
    ping(3)
    last_esp = lab.now - 1.0
    lab.run(lab.now + 5.0)
    keys = KeyTables.from_lab(lab, "initiator")
    rows = dissect([CapturedPacket(t, p, LINKTYPE_RAW) for t, p in lab.trace.ip_packets(include_lost=True)], keys)
    old_ike, new_ike = [s for s in sa_spans(rows) if s.kind == "IKE"]
    esp = {s.name: s for s in sa_spans(rows) if s.kind == "ESP"}
    mine = esp[f"ESP 0x{int.from_bytes(child.spi_out, 'big'):08x}"]
    assert old_ike.deleted and not new_ike.deleted and old_ike.end < last_esp
    assert not mine.deleted and mine.end >= last_esp  # moved to the new IKE SA, not ended by the old one's Delete
    assert new_ike.end >= mine.end  # alive while its CHILD SA carries packets
    lab.delete_ike("initiator")
    lab.run_until_idle()
    rows = dissect([CapturedPacket(t, p, LINKTYPE_RAW) for t, p in lab.trace.ip_packets(include_lost=True)], keys)
    delete = [r for r in rows if r.kind == "ike" and r.exchange == "INFORMATIONAL" and not r.is_response][-1]
    spans = sa_spans(rows)
    ended = next(s for s in spans if s.name == mine.name)
    assert ended.deleted and ended.end == delete.time  # with the IKE SA that held it, no Delete of its own
    assert [s.deleted for s in spans if s.kind == "IKE"] == [True, True]


def test_the_reconnect_of_the_classic_trace_ends_the_first_child_sas() -> None:
    """The classic trace deletes its first IKE SA at the reconnect (18 s): the CHILD SAs it held end there too,
    though no Delete names their SPIs; the second IKE SA, never deleted, lasts as long as its CHILD SAs' packets."""
    sc, rows = rows_for()
    spans = sa_spans(rows)
    first, second = [s for s in spans if s.kind == "IKE"]
    assert first.deleted and not second.deleted
    held_by_first = [s for s in spans if s.kind == "ESP" and first.start <= s.start < second.start]
    assert len(held_by_first) == 4 and all(s.deleted for s in held_by_first)
    delete = [r for r in rows if r.exchange == "INFORMATIONAL" and not r.is_response and r.time < second.start][-1]
    assert delete.summary == "HDR, SK {D}" and delete.time > max(r.time for r in rows if r.kind == "esp" and r.time < 18)
    assert sorted(s.end for s in held_by_first)[-2:] == [delete.time] * 2  # the rekeyed pair: the IKE SA's Delete
    last_esp = max(r.time for r in rows if r.kind == "esp")
    assert second.end == last_esp


def test_endpoints_are_the_lanes_even_when_the_capture_starts_with_arp() -> None:
    """charon's capture opens with ARP between MAC addresses: the lanes are still the two IKE peers,
    as flow_arrows draws them; a capture without IKE or ESP falls back to its first frame's addresses."""
    rows = dissect(STRONGSWAN / "classic.pcapng")
    assert rows[0].protocol == "ARP"
    lanes = endpoints(rows)
    assert lanes == ["192.0.2.1", "192.0.2.2"]
    assert {h for a in flow_arrows(rows) for h in (a.src, a.dst)} == set(lanes)
    assert endpoints(rows[:4]) == [rows[0].src, rows[0].dst] and endpoints([]) == []
