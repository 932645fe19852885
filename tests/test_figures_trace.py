"""Tests for ikelab.figures_trace (lesson 10): the trace notes agree with Wireshark's reading of the capture.

The independent reference is tshark: the classic capture and its key tables are written to disk, tshark decrypts
them, and the facts the lesson states (four messages for the initial exchange plus one retransmission, the first
CHILD SA in IKE_AUTH, empty INFORMATIONAL requests every 5 s, the ESP SPIs in order) are recounted from tshark's
fields (isakmp.exchangetype 34/35/37, flags bit 0x20 = response, payload type 46 = SK alone).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tshark_util import require_tshark

from ikelab import dissect, figures, scenario, wireshark
from ikelab import figures_trace as ft
from ikelab.errors import ConfigError


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    d = tmp_path_factory.mktemp("classic")
    run = scenario.classic()
    paths = run.write(d)
    return d, dissect.dissect(paths["pcap"], d)


def tshark_fields(d: Path) -> list[list[str]]:
    command = wireshark.tshark_command("ikev2-lab.pcap", ".") + (
        " -T fields -E separator=/t -e frame.number -e frame.time_relative -e isakmp.exchangetype"
        " -e isakmp.messageid -e isakmp.flags -e isakmp.ispi -e isakmp.typepayload -e esp.spi")
    out = subprocess.run(command, shell=True, cwd=d, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, HOME=str(d)))
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines()]


def test_notes_agree_with_tshark(written: tuple[Path, Any]) -> None:
    require_tshark()
    d, rows = written
    notes = ft.trace_notes(rows)
    fields = tshark_fields(d)
    ike = [f for f in fields if f[2]]
    first_spi = ike[0][5]
    seen, initial, resent, liveness = set(), [], [], []
    for no, t, exch, mid, flags, ispi, types, _ in ike:
        key = (ispi, exch, mid, flags)
        if key in seen:
            resent.append(int(no))
            continue
        seen.add(key)
        if ispi == first_spi and exch in ("34", "35"):
            initial.append(int(no))
        if exch == "37" and not int(flags, 16) & 0x20 and types == "46":
            liveness.append(round(float(t), 6))
    assert notes.initial_exchange == tuple(initial) and len(initial) == 4
    assert notes.retransmissions == tuple(resent) == (2,)
    assert notes.liveness == tuple(liveness)
    assert {round(b - a, 6) for a, b in zip(liveness, liveness[1:])} == {5.0}
    spis: list[str] = []
    for f in fields:
        if f[7] and f[7] not in spis:
            spis.append(f[7])
    assert notes.esp_spis == tuple(spis) and len(spis) == 8
    auth = [f for f in ike if f[2] == "35" and f[5] == first_spi]
    assert all("33" in f[6].split(",") for f in auth)          # the SA payload of the first CHILD SA, decrypted
    assert notes.first_child == tuple(int(f[0]) for f in auth)
    assert notes.ike_sas == len({f[5] for f in ike}) == 2


def test_packet_detail_and_errors(written: tuple[Path, Any]) -> None:
    _, rows = written
    text = ft.packet_detail(rows, 4)
    assert "IKE_AUTH MID=01 Initiator Request" in text and "HDR, SK {IDi, AUTH, SAi2, TSi, TSr}" in text
    assert "ICV verified (True)" in text
    esp = ft.packet_detail(rows, 6)
    assert "sequence number 1" in esp and "10.1.0.1 -> 10.2.0.1 [ICMP] Echo (ping) request" in esp
    with pytest.raises(ConfigError):
        ft.packet_detail(rows, 999)
    with pytest.raises(ConfigError):
        ft.trace_notes([])
    with pytest.raises(ConfigError, match="end must be a finite time in seconds, not .7."):
        ft.flow_figure(rows, end="7")
    assert "initial exchange: 4 messages (packets [1, 3, 4, 5])" in ft.format_notes(ft.trace_notes(rows))


def test_figures(written: tuple[Path, Any]) -> None:
    _, rows = written
    fig = ft.flow_figure(rows, end=7.0, title="t")
    assert fig.ikelab_alt.startswith("Figure: t: ") and "IKE_SA_INIT" in fig.ikelab_alt
    png = figures.png_bytes(fig, dpi=ft.FLOW_DPI)
    assert png.startswith(b"\x89PNG") and len(png) < 48_000      # stays under the notebook's 64 KB per output
    tl = ft.timeline_figure(rows)
    assert tl.ikelab_alt.endswith("2 IKE SAs and 8 ESP SAs")
