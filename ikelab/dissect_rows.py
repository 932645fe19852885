"""The packet list of a dissected capture: one :class:`Row` per frame, and :class:`Dissection`, their list.

A row is what Wireshark's packet list shows -- No., Time (relative to the
first packet), Source, Destination, Protocol, Length (the frame), Info --
plus the payloads in RFC 7296 notation (RFC 7296 1.2, 3) and the ESP SPI,
sequence number and inner packet (RFC 4303 2.1, 2.2).  :meth:`Dissection.format`
prints the list as text, :meth:`Dissection.to_json` as JSON Lines, the output
of ``ikelab dissect``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Row:
    """One frame of a capture as the packet list shows it (see the module docstring)."""

    no: int
    time: float  # seconds since the first packet
    src: str = ""
    dst: str = ""
    protocol: str = ""
    length: int = 0
    info: str = ""
    kind: str = "other"  # "ike", "esp", "keepalive", "other"
    sport: int = 0
    dport: int = 0
    exchange: str | None = None
    message_id: int | None = None
    spi_i: str | None = None
    spi_r: str | None = None
    is_initiator: bool | None = None
    is_response: bool | None = None
    payloads: tuple[str, ...] = ()
    summary: str = ""
    decrypted: bool | None = None
    inner_payloads: tuple[str, ...] = ()
    icv_ok: bool | None = None
    spi: int | None = None
    seq: int | None = None
    inner_protocol: str | None = None
    inner_src: str | None = None
    inner_dst: str | None = None
    inner_info: str | None = None
    note: str = ""
    abs_time: float = 0.0
    message: Any = field(default=None, repr=False, compare=False)  # the decoded ikelab Message

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``ikelab dissect --json`` (hex SPIs, lists for payloads)."""
        d: dict[str, Any] = {
            "no": self.no, "time": round(self.time, 6), "src": self.src, "dst": self.dst,
            "protocol": self.protocol, "length": self.length, "info": self.info, "kind": self.kind,
            "exchange": self.exchange, "message_id": self.message_id, "spi_i": self.spi_i, "spi_r": self.spi_r,
            "payloads": list(self.payloads), "summary": self.summary or None, "decrypted": self.decrypted,
            "inner_payloads": list(self.inner_payloads), "icv_ok": self.icv_ok,
            "spi": None if self.spi is None else f"0x{self.spi:08x}", "seq": self.seq,
            "inner_protocol": self.inner_protocol, "inner_src": self.inner_src, "inner_dst": self.inner_dst,
            "inner_info": self.inner_info, "note": self.note or None,
        }
        return d


class Dissection(list):
    """The rows of a dissected capture (a list of :class:`Row`) with text and JSON views."""

    def ike(self) -> "Dissection":
        return Dissection(r for r in self if r.kind == "ike")

    def esp(self) -> "Dissection":
        return Dissection(r for r in self if r.kind == "esp")

    def format(self, *, payloads: bool = True) -> str:
        """The packet list as text, Wireshark's columns; with ``payloads`` the RFC 7296 notation after Info."""
        header = f"{'No.':>5} {'Time':>11}  {'Source':<15} {'Destination':<15} {'Protocol':<8} {'Length':>6}  Info"
        lines = [header]
        for r in self:
            info = r.info
            if payloads and r.summary:
                info = f"{info:<42} {r.summary}"
            elif payloads and r.inner_info:
                info = f"{info:<42} [{r.inner_protocol}] {r.inner_info}"
            if r.note:
                info += f"  [{r.note}]"
            lines.append(f"{r.no:>5} {r.time:>11.6f}  {r.src:<15} {r.dst:<15} {r.protocol:<8} {r.length:>6}  {info}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """One JSON object per line (JSON Lines)."""
        return "\n".join(json.dumps(r.as_dict(), sort_keys=False) for r in self)
