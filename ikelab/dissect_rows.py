"""The packet list of a dissected capture: one :class:`Row` per frame, and :class:`Dissection`, their list.

A row is what Wireshark's packet list shows -- No., Time (relative to the
first packet), Source, Destination, Protocol, Length (the frame), Info --
plus the payloads in RFC 7296 notation (RFC 7296 1.2, 3) and the ESP SPI,
sequence number and inner packet (RFC 4303 2.1, 2.2).  :meth:`Dissection.format`
prints the list as text, :meth:`Dissection.to_json` as JSON Lines, the output
of ``ikelab dissect``.  :func:`link_echoes`, a second pass over the finished
list, adds tshark's links between ICMP echo requests and replies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable


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
    #: an echo request or reply, outer or decrypted: ikelab.frame_info.echo_key's tuple, for link_echoes
    echo: tuple[bool, int, int, int] | None = field(default=None, repr=False, compare=False)

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


def link_echoes(rows: Iterable[Row]) -> None:
    """Link each ICMP and ICMPv6 echo reply to its request, as Wireshark's packet list does (tshark 4.0 ``-2``).

    Observed with tshark 4.0.17 on captures written by ikelab: a request's Info ends in `` (reply in N)``, its
    reply's in `` (request in N)``, and a request never answered in `` (no response found!)``; a reply with no
    request before it gets nothing (nor does a duplicate reply: no "(duplicate)").  A reply answers the latest
    unanswered request before it with the same identifier and sequence number, between the same two addresses
    in either direction (a reply from a third address is no answer), whose checksum agrees with its own once the
    type octet is allowed for (:func:`ikelab.frame_info.echo_key`): echoed data that differs is no answer, ICMP
    and ICMPv6 alike.  So the first of two retransmitted requests is "no response found!", a request sent after
    the reply is unanswered, and timestamps (RFC 792 types 13, 14) get no link.  An echo decrypted from ESP is
    paired by its inner addresses and linked in ``inner_info``; without the keys it has no echo to link.
    tshark's single pass (``tshark -r`` without ``-2``) shows only the replies' links.  One pass, linear in rows;
    each row's echo key is used up, so a second call on the same rows changes nothing.
    """
    waiting: dict[tuple[str, str, int, int, int], Row] = {}  # the latest unanswered request of each key
    for row in rows:
        echo = row.echo
        if echo is None:
            continue
        row.echo = None  # used up: a second pass over the same rows links nothing twice
        reply, ident, seq, total = echo
        a, b = (row.inner_src or "", row.inner_dst or "") if row.kind == "esp" else (row.src, row.dst)
        key = (min(a, b), max(a, b), ident, seq, total)
        if not reply:
            earlier = waiting.get(key)
            if earlier is not None:  # retransmitted: only the latest can be answered
                _append(earlier, " (no response found!)")
            waiting[key] = row
            continue
        request = waiting.pop(key, None)
        if request is not None:
            _append(request, f" (reply in {row.no})")
            _append(row, f" (request in {request.no})")
    for row in waiting.values():
        _append(row, " (no response found!)")


def _append(row: Row, text: str) -> None:
    """``text`` after the Info of the echo in ``row``: the decrypted inner packet's for ESP, else the row's."""
    if row.kind == "esp":
        row.inner_info = (row.inner_info or "") + text
    else:
        row.info += text
