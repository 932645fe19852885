"""The packet widget of lesson 10: pick a packet of the classic trace and read it, decrypted.

:func:`packet_explorer` takes the dissected rows of a capture
(:func:`ikelab.dissect.dissect` with the key tables) and shows, for the
packet chosen with the slider, what Wireshark's detail pane would
summarise (:func:`ikelab.figures_trace.packet_detail`): addresses, SPIs,
Message ID, the payloads in RFC 7296 notation (decrypted SK payloads
included) and, for ESP, the decrypted inner packet.
"""

from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as w

from . import figures_trace as ft
from .errors import ConfigError
from .flow import rows_of
from .widgets import pre, start_choice

__all__ = ["PacketExplorer", "packet_explorer"]


class PacketExplorer(w.VBox):
    """A packet-number slider; ``.output.value`` holds the packet's detail (HTML)."""

    def __init__(self, rows: Sequence[Any], *, no: int = 1) -> None:
        self.rows = rows_of(rows)
        if not self.rows:
            raise ConfigError("the packet explorer needs at least one packet", field="rows", value=0)
        numbers = [r.no for r in self.rows]
        start_choice("no", no, numbers)
        self.no = w.IntSlider(value=no, min=min(numbers), max=max(numbers), description="packet No.",
                              style={"description_width": "100px"}, layout=w.Layout(width="95%"))
        self.output = w.HTML()
        super().__init__([self.no, self.output])
        self.no.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def __repr__(self) -> str:
        return f"PacketExplorer({len(self.rows)} packets, No. {self.no.value}) -- run the notebook to use the slider"

    def update(self) -> None:
        """Show the chosen packet (rows picked out of a capture may skip numbers the slider passes over)."""
        try:
            self.output.value = pre(ft.packet_detail(self.rows, self.no.value))
        except ConfigError as exc:  # the widget shows what is wrong rather than raising out of the callback
            missing = exc.field == "no"
            self.output.value = pre(f"No. {self.no.value} is not among these {len(self.rows)} packets" if missing
                                    else f"cannot show No. {self.no.value}: {exc}")


def packet_explorer(rows: Sequence[Any], *, no: int = 1) -> PacketExplorer:
    """The packet widget over dissected ``rows``, starting at packet ``no``."""
    return PacketExplorer(rows, no=no)
