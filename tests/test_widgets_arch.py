"""Tests for ikelab.widgets_arch: the menus send a packet through the two gateways' SPD and SAD.

Expected decisions follow from RFC 4301 4.4.1 (ordered SPD, first match) and the gateways' policies: moon protects
10.1.0.0/16 <-> 10.2.0.0/16, passes IKE (UDP 500/4500), and discards the rest.
"""

from __future__ import annotations

import html

import pytest

from ikelab import scenario
from ikelab import widgets_arch as ikw


def text(widget_html: str) -> str:
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


@pytest.fixture(scope="module")
def events() -> dict:
    return scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None, reconnect_at=None,
                            lose_first=False).events


def test_menus(events: dict) -> None:
    x = ikw.packet_path_explorer(events)
    assert x.path.outbound.action.value == "PROTECT" and "delivered" in text(x.output.value)
    assert repr(x) == "PacketPathExplorer(10.1.0.1 -> 10.2.0.1, icmp echo) -- run the notebook to use the menus"
    first = x.output.value
    x.dst.value = "10.3.0.1"
    assert x.path.outbound.action.value == "DISCARD" and "dropped at moon" in text(x.output.value)
    x.dst.value = "10.2.0.1"
    assert x.output.value == first  # rebuilt from the same events: the same SPI and sequence number again
    x.src.value, x.dst.value, x.protocol.value = "192.0.2.1", "192.0.2.2", "udp/500 (IKE)"
    assert x.path.outbound.policy.name == "bypass-ike"
    x.src.value = "10.9.0.1"
    x.protocol.value = "icmp echo"
    assert x.path.outbound.policy.name == "default-discard"
