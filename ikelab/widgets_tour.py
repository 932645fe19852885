"""The tour's widget (lesson 00): browse the packets of the classic trace one by one.

A slider picks a packet number; the output shows its line in the packet
list, its payloads in RFC 7296 notation (``HDR, SK {IDi, AUTH, SAi2, TSi,
TSr}``), the decrypted inner packet of ESP, and the lessons that explain it
(:func:`ikelab.figures_tour.packet_detail`, a pure function tested on its own).
A drop-down restricts the slider to one kind of packet.
"""

from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as w

from . import figures_tour
from .errors import ConfigError
from .flow import rows_of
from .widgets import pre, start_choice

__all__ = ["PacketBrowser", "packet_browser"]

#: The filter menu: label -> predicate on a dissected row.
KINDS = ("all packets", "IKE_SA_INIT", "IKE_AUTH", "CREATE_CHILD_SA", "INFORMATIONAL", "ESP")


def _matches(row: Any, kind: str) -> bool:
    if kind == "all packets":
        return True
    if kind == "ESP":
        return bool(row.kind == "esp")
    return bool(row.kind == "ike" and row.exchange == kind)


class PacketBrowser(w.VBox):
    """A packet-by-packet view of a dissected trace; ``.output.value`` holds the chosen packet (HTML)."""

    def __init__(self, rows: Sequence[Any], *, no: int = 1, kind: str = "all packets") -> None:
        self.rows = rows_of(rows)
        if not self.rows:
            raise ConfigError("the packet browser needs at least one packet", field="rows", value=0)
        start_choice("no", no, [r.no for r in self.rows])
        if kind not in KINDS:
            raise ConfigError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}", field="kind", value=kind)
        style = {"description_width": "110px"}
        self.kind = w.Dropdown(options=list(KINDS), value=kind, description="show", style=style)
        self.no = w.SelectionSlider(options=[r.no for r in self.rows], value=no, description="packet No.",
                                    style=style, continuous_update=False)
        self.output = w.HTML()
        super().__init__([self.kind, self.no, self.output])
        self.kind.observe(self._on_kind, names="value")
        self.no.observe(self._on_change, names="value")
        self._apply_kind(kind, keep=no)
        self.update()

    def _apply_kind(self, kind: str, keep: int | None = None) -> None:
        nos = [r.no for r in self.rows if _matches(r, kind)] or [self.rows[0].no]
        value = keep if keep in nos else nos[0]
        with self.hold_trait_notifications():
            self.no.options = nos
            self.no.value = value

    def _on_kind(self, change: dict[str, Any]) -> None:
        self._apply_kind(change["new"], keep=self.no.value)
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def __repr__(self) -> str:
        return f"PacketBrowser(packet {self.no.value} of {len(self.rows)}) -- run the notebook to use the slider"

    def update(self) -> None:
        """Show the chosen packet."""
        self.output.value = pre(figures_tour.packet_detail(self.rows, self.no.value))


def packet_browser(rows: Sequence[Any], **options: Any) -> PacketBrowser:
    """The packet browser over dissected rows (options: ``no``, ``kind``)."""
    return PacketBrowser(rows, **options)
