"""A lab trace: the time-stamped packets two peers exchanged, as plain data.

Each :class:`TracePacket` is one packet as it left its sender::

    TracePacket(time, src, dst, sport, dport, payload, kind, note)

* ``time``: virtual seconds when it was sent;
* ``src``/``dst``: IP addresses as text (documentation ranges by default,
  RFC 5737 192.0.2.0/24 and RFC 3849 2001:db8::/32);
* ``sport``/``dport``: UDP ports (500, or 4500 after NAT traversal, RFC 7296
  2.23); both 0 for ESP sent directly in IP (protocol 50, RFC 4303);
* ``payload``: the UDP payload exactly as on the wire, so on port 4500 an IKE
  message starts with the four-zero-octet Non-ESP Marker (RFC 3948 2.2);
* ``kind``: "ike", "esp", or "keepalive" (the one octet 0xFF that a host
  behind a NAT sends on port 4500 to keep the mapping, RFC 3948 2.3 and 4);
* ``note``: what the network model did ("lost", "duplicate", "delayed"), or "".

:class:`Trace` is a list of them with helpers: filters, the Wireshark-style
packet list (:meth:`Trace.packet_list`) and the raw IP packets
(:meth:`Trace.ip_packets`) that :mod:`ikelab.pcap` writes into a capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from .constants import NAT_T_PORT, NON_ESP_MARKER


@dataclass(frozen=True)
class TracePacket:
    """One packet on the lab's wire (see the module docstring)."""

    time: float
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes
    kind: str = "ike"
    note: str = ""

    @property
    def udp(self) -> bool:
        """True when carried in UDP (all IKE, and ESP with UDP encapsulation)."""
        return self.sport != 0 or self.dport != 0

    @property
    def ike_message(self) -> bytes | None:
        """The IKE message (Non-ESP Marker removed), or None for ESP."""
        if self.kind != "ike":
            return None
        if NAT_T_PORT in (self.sport, self.dport) and self.payload[:4] == NON_ESP_MARKER:
            return self.payload[4:]
        return self.payload

    def ip_packet(self, *, ident: int = 0) -> bytes:
        """The whole IPv4/IPv6 packet (UDP, or protocol 50 for plain ESP), via :mod:`ikelab.packet`."""
        from . import packet

        if self.udp:
            return packet.ip_udp(self.src, self.dst, self.sport, self.dport, self.payload, ident=ident)
        return packet.ip_packet(self.src, self.dst, 50, self.payload, ident=ident)

    def info(self) -> str:
        """The Info column as Wireshark writes it for IKEv2 (``IKE_SA_INIT MID=00 Initiator Request``)."""
        if self.kind == "keepalive":
            return "NAT-keepalive"  # tshark's words (its UDPENCAP dissector)
        data = self.ike_message
        if data is None:
            spi = self.payload[:4].hex() if len(self.payload) >= 4 else "?"
            seq = int.from_bytes(self.payload[4:8], "big") if len(self.payload) >= 8 else 0
            return f"ESP (SPI=0x{spi}) seq={seq}"
        try:
            from .message import decode

            return decode(data).info
        except Exception:  # noqa: BLE001 - a display helper never fails
            return f"IKE ({len(data)} bytes, undecodable)"


class Trace(list):
    """A list of :class:`TracePacket` in sending order, with helpers."""

    def ike(self) -> "Trace":
        return Trace(p for p in self if p.kind == "ike")

    def esp(self) -> "Trace":
        return Trace(p for p in self if p.kind == "esp")

    def delivered(self) -> "Trace":
        """Packets the network did not lose."""
        return Trace(p for p in self if p.note != "lost")

    def between(self, start: float, end: float) -> "Trace":
        return Trace(p for p in self if start <= p.time <= end)

    def sent_by(self, address: str) -> "Trace":
        return Trace(p for p in self if p.src == address)

    def ip_packets(self, *, include_lost: bool = False) -> list[tuple[float, bytes]]:
        """``[(time, IP packet bytes), ...]`` ready for ``pcap.write_pcap(..., linktype=LINKTYPE_RAW)``."""
        out = []
        for n, p in enumerate(self):
            if p.note == "lost" and not include_lost:
                continue
            out.append((p.time, p.ip_packet(ident=n & 0xFFFF)))
        return out

    def packet_list(self) -> list[tuple[int, float, str, str, str, int, str]]:
        """Rows like Wireshark's packet list: (No., Time, Source, Destination, Protocol, Length, Info)."""
        rows = []
        for n, p in enumerate(self, 1):
            proto = {"ike": "ISAKMP", "keepalive": "UDPENCAP"}.get(p.kind, "ESP")
            length = len(p.payload) + (8 if p.udp else 0) + (20 if ":" not in p.src else 40)
            rows.append((n, p.time, p.src, p.dst, proto, length, p.info() + (f" [{p.note}]" if p.note else "")))
        return rows

    def format(self) -> str:
        """The packet list as text."""
        lines = [f"{'No.':>4} {'Time':>9}  {'Source':<15} {'Destination':<15} {'Protocol':<8} {'Length':>6}  Info"]
        for n, t, s, d, proto, length, info in self.packet_list():
            lines.append(f"{n:>4} {t:>9.3f}  {s:<15} {d:<15} {proto:<8} {length:>6}  {info}")
        return "\n".join(lines)

    def __iter__(self) -> Iterator[TracePacket]:
        return super().__iter__()

    @classmethod
    def of(cls, packets: Iterable[TracePacket]) -> "Trace":
        return cls(packets)


__all__ = ["Trace", "TracePacket"]
