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

A packet that breaks these rules (an unknown kind, IKE or a keepalive outside
UDP, a port outside 0..65535, addresses that are not one IP family, a time
that is not a finite number) is refused with a ConfigError naming the field.

:class:`Trace` is a list of them with helpers: filters, the Wireshark-style
packet list (:meth:`Trace.packet_list`) and the raw IP packets
(:meth:`Trace.ip_packets`) that :mod:`ikelab.pcap` writes into a capture;
those refuse a trace whose times go backwards, naming the first packet that does.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from .constants import NAT_T_PORT, NON_ESP_MARKER
from .errors import ConfigError, check_seconds

#: The kinds of packet a trace holds (see the module docstring).
KINDS = ("ike", "esp", "keepalive")


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

    def __post_init__(self) -> None:
        check_seconds(self.time, "time")
        if self.kind not in KINDS:
            raise ConfigError(f"a trace packet's kind is one of {', '.join(KINDS)}, not {self.kind!r}",
                              field="kind", value=self.kind)
        for name in ("sport", "dport"):
            port = getattr(self, name)
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 0xFFFF:
                raise ConfigError(f"{name} must be a UDP port in 0..65535 (0 for ESP in IP), not {port!r}",
                                  field=name, value=port)
        if self.kind != "esp" and not self.udp:
            raise ConfigError(f"{'an IKE' if self.kind == 'ike' else 'a keepalive'} packet travels in UDP: "
                              "sport and dport cannot both be 0",
                              field="sport", value=0)
        families = []
        for name in ("src", "dst"):
            text = getattr(self, name)
            try:
                families.append(ipaddress.ip_address(text).version)
            except ValueError:
                raise ConfigError(f"{name} is not an IPv4 or IPv6 address: {text!r}", field=name,
                                  value=text) from None
        if families[0] != families[1]:
            raise ConfigError(f"src {self.src} is IPv{families[0]} but dst {self.dst} is IPv{families[1]}; "
                              "both must be of one family", field="dst", value=self.dst)
        if not isinstance(self.payload, (bytes, bytearray)):
            raise ConfigError(f"payload must be bytes, not {type(self.payload).__name__}", field="payload",
                              value=type(self.payload).__name__)
        if not isinstance(self.note, str):
            raise ConfigError(f"note must be text, not {type(self.note).__name__}", field="note", value=self.note)

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
        """Packets sent from ``start`` to ``end`` seconds, both included."""
        start, end = check_seconds(start, "start"), check_seconds(end, "end")
        if start > end:
            raise ConfigError(f"start {start} is after end {end}", field="start", value=start)
        return Trace(p for p in self if start <= p.time <= end)

    def sent_by(self, address: str) -> "Trace":
        return Trace(p for p in self if p.src == address)

    def ip_packets(self, *, include_lost: bool = False) -> list[tuple[float, bytes]]:
        """``[(time, IP packet bytes), ...]`` ready for ``pcap.write_pcap(..., linktype=LINKTYPE_RAW)``."""
        self.check_order()
        out = []
        for n, p in enumerate(self):
            if p.note == "lost" and not include_lost:
                continue
            out.append((p.time, p.ip_packet(ident=n & 0xFFFF)))
        return out

    def check_order(self) -> None:
        """ConfigError unless every item is a TracePacket and the times never go backwards (sending order)."""
        previous = None
        for n, p in enumerate(self, 1):
            if not isinstance(p, TracePacket):
                raise ConfigError(f"trace item {n} is a {type(p).__name__}, not a TracePacket", field="trace",
                                  value=type(p).__name__)
            if previous is not None and p.time < previous:
                raise ConfigError(f"trace packet {n} at {p.time!r} s comes before packet {n - 1} at {previous!r} s; "
                                  "a trace is in sending order", field="time", value=p.time)
            previous = p.time

    def packet_list(self) -> list[tuple[int, float, str, str, str, int, str]]:
        """Rows like Wireshark's packet list: (No., Time, Source, Destination, Protocol, Length, Info)."""
        self.check_order()
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

    def __getitem__(self, index: Any) -> Any:
        """A packet, or for a slice a Trace (so ``trace[:10]`` keeps the helpers)."""
        item = super().__getitem__(index)
        return Trace(item) if isinstance(index, slice) else item

    @classmethod
    def of(cls, packets: Iterable[TracePacket]) -> "Trace":
        try:
            return cls(packets)
        except TypeError:
            raise ConfigError(f"packets must be an iterable of TracePacket, not {type(packets).__name__}",
                              field="packets", value=packets) from None


__all__ = ["KINDS", "Trace", "TracePacket"]
