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
