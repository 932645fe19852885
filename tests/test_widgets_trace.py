"""Tests for ikelab.widgets_trace: the slider shows the chosen packet of the classic trace."""

from __future__ import annotations

import html

import pytest

from ikelab import dissect, scenario
from ikelab import widgets_trace as wt
from ikelab.errors import ConfigError


def text(widget_html: str) -> str:
    assert widget_html.startswith("<pre") and widget_html.endswith("</pre>")
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


def test_slider_picks_the_packet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = scenario.classic(duration=8.0, reconnect_at=None)
    paths = run.write(tmp_path)
    rows = dissect.dissect(paths["pcap"], tmp_path)
    w = wt.packet_explorer(rows, no=4)
    assert "IKE_AUTH MID=01 Initiator Request" in text(w.output.value)
    assert repr(w).startswith(f"PacketExplorer({len(rows)} packets, No. 4)")
    w.no.value = 2                     # the retransmitted IKE_SA_INIT request: same Message ID 0
    assert "IKE_SA_INIT MID=00 Initiator Request" in text(w.output.value)
    w.no.value = 16                    # first ESP packet after the rekey: a new SPI, sequence number 1 again
    out = text(w.output.value)
    assert "sequence number 1" in out and "ESP SPI 0x" in out
    with pytest.raises(ConfigError):
        wt.packet_explorer([])
    with pytest.raises(ConfigError, match="no=0 is not in the menu"):  # a slider would have moved it to 1
        wt.packet_explorer(rows, no=0)
