"""Review of the trace and its flow diagram (ikelab.trace, ikelab.flow) and of UAT quoting (ikelab.uat).

The references are tshark 4.0's Flow Graph (``-z flow,any,network``: one line per packet with its time, the
arrow's direction and ``PROTOCOL: Info``), Wireshark's ``uat_esc`` (epan/uat.c: ``"``, ``\\`` and bytes
outside printable ASCII become ``\\xNN``) and the trace's own docstring.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from ikelab.errors import ConfigError
from ikelab.flow import flow_arrows
from ikelab.pcap import LINKTYPE_RAW, write_pcap
from ikelab.scenario import classic
from ikelab.trace import Trace, TracePacket
from ikelab.uat import quote, split_line
from tshark_util import require_tshark, run_fields, run_tshark

A, B = "192.0.2.1", "192.0.2.2"
ESP = bytes.fromhex("0d713155 00000001") + bytes(24)  # SPI 0x0d713155, sequence number 1 (RFC 4303 2.1, 2.2)


@pytest.fixture(scope="module", params=[False, True], ids=["ipv4", "ipv6"])
def lab_trace(request: pytest.FixtureRequest) -> Trace:
    """The classic trace, long enough for message IDs past 9 (liveness every 2 s), ESP both ways and a rekey."""
    return classic(duration=24.0, reconnect_at=None, liveness_interval=2.0, ping_interval=0.5,
                   ipv6=request.param).trace


def _tshark_flow(trace: Trace, tmp_path: Path) -> list[tuple[float, str, str, str]]:
    """(time, src, dst, Info) of each arrow of tshark's Flow Graph of ``trace`` written as a raw-IP pcap."""
    require_tshark()
    path = tmp_path / "trace.pcap"
    write_pcap(path, trace.ip_packets(include_lost=True), linktype=LINKTYPE_RAW)
    lines = run_tshark(path, ["-q", "-z", "flow,any,network"]).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|Time"))
    hosts = re.findall(r"[0-9a-f:.]*[:.][0-9a-f:.]+", lines[start] + lines[start + 1])
    assert len(hosts) == 2, lines[:3]
    out = []
    for head, arrow in zip(lines[start + 2 :: 2], lines[start + 3 :: 2]):
        m = re.match(r"\|(\d+\.\d+)\s*\|.*\|\w+: (.*)$", head)
        assert m, head
        src, dst = hosts if "->" in arrow else hosts[::-1]
        assert ("->" in arrow) != ("<-" in arrow), arrow
        out.append((float(m.group(1)), src, dst, m.group(2)))
    return out


def test_flow_arrows_of_a_trace_are_tsharks_flow_graph(lab_trace: Trace, tmp_path: Path) -> None:
    """Each packet, lost ones included, is one arrow in time order, from sender to receiver, labelled with
    tshark's Info: exchange, decimal MID (past 9 too), Initiator/Responder, Request/Response; ESP by SPI."""
    theirs = _tshark_flow(lab_trace, tmp_path)
    ours = flow_arrows(lab_trace, fold=False)
    assert len(ours) == len(theirs) == len(lab_trace)
    assert [(round(a.time, 6), a.src, a.dst, a.label.split("\n")[0]) for a in ours] == theirs
    infos = [t[3] for t in theirs]
    assert "INFORMATIONAL MID=10 Initiator Request" in infos and "CREATE_CHILD_SA MID=02 Responder Response" in infos
    esp = {(a.src, a.dst) for a in ours if a.group.startswith("ESP")}
    assert esp == {(lab_trace[0].src, lab_trace[0].dst), (lab_trace[0].dst, lab_trace[0].src)}


def test_folded_esp_runs_count_the_packets_tshark_shows(lab_trace: Trace, tmp_path: Path) -> None:
    """fold=True: each run of ESP between two IKE messages becomes one arrow per SPI and direction, whose count,
    first and last times are those of tshark's ESP arrows in that run."""
    theirs = _tshark_flow(lab_trace, tmp_path)
    expected, run = [], {}  # type: ignore[var-annotated]
    for t, src, dst, info in theirs + [(math.inf, "", "", "end")]:
        if info.startswith("ESP (SPI="):
            run.setdefault((info, src, dst), []).append(t)
            continue
        expected += sorted((times[0], times[-1], len(times), src_, dst_, spi_info)
                           for (spi_info, src_, dst_), times in run.items())
        run = {}
        if info != "end":
            expected.append((t, t, 1, src, dst, info))
    ours = [(round(a.time, 6), round(a.time if a.end_time is None else a.end_time, 6), a.count, a.src, a.dst,
             a.label.split("\n")[0].replace(f" \u00d7{a.count}", "")) for a in flow_arrows(lab_trace, fold=True)]
    assert ours == expected
    assert any(a[2] > 1 for a in ours)


def test_packet_list_lengths_and_infos_are_tsharks(lab_trace: Trace, tmp_path: Path) -> None:
    """packet_list's Length is the IP packet's (40-octet IPv6 header, 20 for IPv4); Info is tshark's plus the
    ESP sequence number and the network model's note."""
    require_tshark()
    path = tmp_path / "trace.pcap"
    write_pcap(path, lab_trace.ip_packets(include_lost=True), linktype=LINKTYPE_RAW)
    theirs = run_fields(path, ["frame.len", "_ws.col.Info", "esp.sequence"])
    rows = lab_trace.packet_list()
    assert [r[5] for r in rows] == [int(n) for n, _, _ in theirs]
    for row, p, (_, info, seq) in zip(rows, lab_trace, theirs):
        note = f" [{p.note}]" if p.note else ""
        assert row[6] == info + (f" seq={int(seq)}" if seq else "") + note


# --------------------------------------------------------------------------- the documented plain data


@pytest.mark.parametrize(("args", "field", "words"), [
    ((0.0, A, B, 500, 500, b"x", "ISAKMP"), "kind", "kind is one of ike, esp, keepalive, not 'ISAKMP'"),
    ((0.0, A, B, 0, 0, b"x", "ike"), "sport", "an IKE packet travels in UDP"),
    ((0.0, A, B, 0, 0, b"\xff", "keepalive"), "sport", "a keepalive packet travels in UDP"),
    ((0.0, A, B, 500, 65536, b"x"), "dport", "dport must be a UDP port in 0..65535"),
    ((0.0, A, B, -1, 500, b"x"), "sport", "sport must be a UDP port"),
    ((0.0, A, B, True, 500, b"x"), "sport", "sport must be a UDP port"),
    ((0.0, A, "2001:db8::2", 500, 500, b"x"), "dst", "src 192.0.2.1 is IPv4 but dst 2001:db8::2 is IPv6"),
    ((0.0, "moon", B, 500, 500, b"x"), "src", "src is not an IPv4 or IPv6 address: 'moon'"),
    ((0.0, A, "192.0.2.256", 500, 500, b"x"), "dst", "dst is not an IPv4 or IPv6 address"),
    ((math.nan, A, B, 500, 500, b"x"), "time", "time must be a finite time in seconds, not nan"),
    ((math.inf, A, B, 500, 500, b"x"), "time", "time must be a finite"),
    (("1.0", A, B, 500, 500, b"x"), "time", "time must be a finite"),
    ((0.0, A, B, 500, 500, "IKE"), "payload", "payload must be bytes, not str"),
    ((0.0, A, B, 500, 500, b"x", "ike", None), "note", "note must be text"),
])
def test_a_packet_outside_the_documented_shape_is_refused_naming_the_field(args: tuple, field: str,
                                                                          words: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)) as caught:
        TracePacket(*args)
    assert caught.value.field == field


def test_the_documented_shapes_are_accepted() -> None:
    """ESP in IP has both ports 0 (RFC 4303), or 4500 in UDP (RFC 3948); a keepalive is one 0xFF on 4500."""
    trace = Trace([TracePacket(0, "2001:db8::1", "2001:db8::2", 0, 0, ESP, "esp"),
                   TracePacket(1.5, A, B, 4500, 4500, ESP, "esp", "delayed"),
                   TracePacket(2, A, B, 4500, 4500, b"\xff", "keepalive")])
    assert [p.udp for p in trace] == [False, True, True]
    assert [r[4:] for r in trace.packet_list()] == [("ESP", 40 + len(ESP), "ESP (SPI=0x0d713155) seq=1"),
                                                    ("ESP", 20 + 8 + len(ESP), "ESP (SPI=0x0d713155) seq=1 [delayed]"),
                                                    ("UDPENCAP", 20 + 8 + 1, "NAT-keepalive")]


def test_a_trace_whose_time_goes_backwards_is_named_not_captured() -> None:
    """The trace is in sending order; packets at one instant (a duplicate) are fine, an earlier one is not."""
    ok = Trace([TracePacket(1.0, A, B, 0, 0, ESP, "esp"), TracePacket(1.0, A, B, 0, 0, ESP, "esp", "duplicate")])
    assert [t for t, _ in ok.ip_packets()] == [1.0, 1.0]
    bad = Trace([*ok, TracePacket(0.5, B, A, 0, 0, ESP, "esp")])
    for call in (bad.ip_packets, bad.packet_list, lambda: flow_arrows(bad)):
        with pytest.raises(ConfigError, match=r"trace packet 3 at 0\.5 s comes before packet 2 at 1\.0 s"):
            call()
    with pytest.raises(ConfigError, match="trace item 2 is a tuple, not a TracePacket"):
        Trace([ok[0], (1.0, b"")]).ip_packets()


def test_between_takes_finite_times_in_order() -> None:
    trace = Trace([TracePacket(float(t), A, B, 0, 0, ESP, "esp") for t in range(4)])
    assert [p.time for p in trace.between(1, 2)] == [1.0, 2.0]
    with pytest.raises(ConfigError, match="start 3.0 is after end 1.0"):
        trace.between(3, 1)
    with pytest.raises(ConfigError, match="end must be a finite time"):
        trace.between(0, math.nan)


def test_a_slice_of_a_trace_is_a_trace_and_draws_as_its_packets() -> None:
    """``trace[:n]`` keeps the helpers, and a flow diagram of a slice (or of a plain list of its packets) is the
    diagram of those packets: their senders, receivers and tshark-style Info."""
    trace = Trace([TracePacket(0.0, A, B, 0, 0, ESP, "esp"),
                   TracePacket(0.25, B, A, 4500, 4500, b"\xff", "keepalive"),
                   TracePacket(0.5, B, A, 0, 0, bytes.fromhex("0000abcd00000007") + bytes(24), "esp")])
    part = trace[1:]
    assert isinstance(part, Trace) and part.esp() == [trace[2]]
    expected = [(B, A, "NAT-keepalive"), (B, A, "ESP (SPI=0x0000abcd)")]
    for source in (part, list(part), tuple(part)):
        assert [(a.src, a.dst, a.label) for a in flow_arrows(source)] == expected


# --------------------------------------------------------------------------- UAT quoting


def test_quote_escapes_as_uat_esc_writes_and_tsharks_reader_reads_back() -> None:
    """uat_esc: ``"`` -> \\x22, ``\\`` -> \\x5c, bytes outside 0x20..0x7e (DEL, tab, UTF-8) as lower-case \\xNN;
    space and the rest of printable ASCII stay as they are."""
    text = 'a "b"\\c\x7f~\t\u00e9'
    expected = '"a \\x22b\\x22\\x5cc\\x7f~\\x09\\xc3\\xa9"'
    assert quote(text) == expected
    assert split_line(expected + ", 0a0b", 1, "t") == [(text, True), ("0a0b", False)]
    printable = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\')
    assert quote(printable) == f'"{printable}"'
