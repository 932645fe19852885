"""Tests for ikelab.widgets_tour: moving the packet browser shows the chosen packet of the classic trace.

Expected values: the packet list of the classic trace as ikelab's dissector and engine report it (the exchange
names and the ESP SPI the responder chose, from the initiator's ChildSaCreated event).
"""

from __future__ import annotations

import html

import pytest

from ikelab import events as ev
from ikelab import figures_tour, scenario
from ikelab import widgets_tour as ikw
from ikelab.errors import CaptureError, ConfigError


def text(widget_html: str) -> str:
    assert widget_html.startswith("<pre") and widget_html.endswith("</pre>")
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


@pytest.fixture(scope="module")
def classic() -> scenario.Scenario:
    return scenario.classic(seed=1)


def test_slider_and_filter(classic: scenario.Scenario) -> None:
    rows = figures_tour.tour_rows(classic)
    browser = ikw.packet_browser(rows, no=4)
    assert "IKE_AUTH MID=01 Initiator Request" in text(browser.output.value)
    assert repr(browser) == "PacketBrowser(packet 4 of 91) -- run the notebook to use the slider"
    browser.kind.value = "ESP"  # packet 4 is not ESP: the slider moves to the first ESP packet
    child = next(e for e in classic.events["initiator"] if isinstance(e, ev.ChildSaCreated))
    assert browser.no.value == 6 and f"SPI 0x{child.spi_out.hex()}" in text(browser.output.value)
    assert all(r.kind == "esp" for r in rows if r.no in browser.no.options)
    browser.kind.value = "CREATE_CHILD_SA"
    assert list(browser.no.options) == [r.no for r in rows if r.exchange == "CREATE_CHILD_SA"]
    browser.no.value = browser.no.options[1]
    assert "CREATE_CHILD_SA MID=02 Responder Response" in text(browser.output.value)
    browser.kind.value = "all packets"  # keeps the packet shown
    assert browser.no.value == browser.no.options[11]


def test_bad_options(classic: scenario.Scenario) -> None:
    rows = figures_tour.tour_rows(classic)
    with pytest.raises(ConfigError):
        ikw.packet_browser(rows, kind="AH")
    with pytest.raises(ConfigError):
        ikw.packet_browser([])
    # a packet number the trace lacks: named, where ipywidgets would say only "value not found"
    with pytest.raises(ConfigError, match=rf"no=999 is not in the menu; choose one of 1, 2, 3, 4, 5, \.\.\., {rows[-2].no}, {rows[-1].no} \({len(rows)} values\)$"):
        ikw.packet_browser(rows, no=999)
    with pytest.raises(ConfigError, match="tour_rows\\(\\) takes a scenario"):
        figures_tour.tour_rows(classic.events)
    with pytest.raises(ConfigError, match="upto must be a finite time in seconds"):
        figures_tour.tour_flow_figure(rows, upto="3.2")
    with pytest.raises(CaptureError, match="cannot read capture 'rows'"):  # text is taken for a capture's path
        figures_tour.packet_detail("rows", 1)
