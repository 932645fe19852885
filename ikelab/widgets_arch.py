"""The IPsec architecture widget (lesson 01): send a packet from moon's network and follow it.

Menus pick the source, the destination and the protocol; the output shows
moon's SPD decision (RFC 4301 5.1: PROTECT through an SA from the SAD,
BYPASS or DISCARD), what goes on the wire, and sun's inbound processing
(5.2: SAD lookup by SPI, decryption, the selector check).  Each update
rebuilds both gateways from the same CHILD SA events
(:func:`ikelab.figures_arch.gateways_from_events`), so the output depends
only on the menus.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import figures_arch
from .widgets import pre, start_choice

__all__ = ["PacketPathExplorer", "packet_path_explorer"]

SOURCES = ("10.1.0.1", "10.1.200.7", "192.0.2.1", "10.9.0.1")
DESTINATIONS = ("10.2.0.1", "10.2.0.53", "192.0.2.2", "10.3.0.1")


class PacketPathExplorer(w.VBox):
    """Source, destination and protocol menus; ``.output.value`` holds the packet's path (HTML)."""

    def __init__(self, events: dict[str, Any], *, src: str = "10.1.0.1", dst: str = "10.2.0.1",
                 protocol: str = "icmp echo") -> None:
        for name, value, options in (("src", src, SOURCES), ("dst", dst, DESTINATIONS),
                                     ("protocol", protocol, figures_arch.PROTOCOLS)):
            start_choice(name, value, list(options))
        self.events = events
        style = {"description_width": "100px"}
        self.src = w.Dropdown(options=list(SOURCES), value=src, description="source", style=style)
        self.dst = w.Dropdown(options=list(DESTINATIONS), value=dst, description="destination", style=style)
        self.protocol = w.Dropdown(options=list(figures_arch.PROTOCOLS), value=protocol, description="protocol",
                                   style=style)
        self.output = w.HTML()
        self.path: figures_arch.PacketPath | None = None
        super().__init__([self.src, self.dst, self.protocol, self.output])
        for control in (self.src, self.dst, self.protocol):
            control.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def __repr__(self) -> str:
        return (f"PacketPathExplorer({self.src.value} -> {self.dst.value}, {self.protocol.value})"
                " -- run the notebook to use the menus")

    def update(self) -> None:
        """Rebuild the gateways and send the chosen packet through them."""
        gws = figures_arch.gateways_from_events(self.events)
        packet = figures_arch.make_packet(self.src.value, self.dst.value, self.protocol.value)
        self.path = figures_arch.packet_path(gws, packet)
        self.output.value = pre(figures_arch.format_packet_path(self.path))


def packet_path_explorer(events: dict[str, Any], **options: Any) -> PacketPathExplorer:
    """The packet-path widget over a lab run's events (options: ``src``, ``dst``, ``protocol``)."""
    return PacketPathExplorer(events, **options)
