"""Dissecting captures: every IKE message and ESP packet, decrypted where the keys are known.

Any pcap or pcapng file (ikelab's own, or one taken next to strongSwan,
libreswan or a router) goes through the same steps, one frame at a time:

1. the link layer is removed (:func:`ikelab.pcap.ip_payload`) and the IP
   header read (IPv4 or IPv6);
2. the packet is sorted as RFC 7296 2.23 and RFC 3948 2.2 say: UDP port 500
   is IKE; on UDP port 4500 a payload starting with the four-zero-octet
   Non-ESP Marker is IKE, the single octet 0xFF is a NAT-keepalive, anything
   else is ESP; IP protocol 50 is ESP (RFC 4303).  As in Wireshark, the lower
   port decides between 500 and 4500 (IKE, after a marker if there is one),
   and an empty UDP payload, or a UDP Length below 8 (RFC 768), is plain UDP;
3. an IKE message is decoded (:func:`ikelab.message.decode`); if its SPI
   pair is in the ``ikev2_decryption_table`` its SK payload is checked
   (ICV, RFC 7296 3.14) and decrypted;
4. an ESP packet's SPI, IP version and addresses are looked up in the
   ``esp_sa`` table (:meth:`ikelab.wireshark.KeyTables.esp_sa`); if found its
   ICV is checked and it is decrypted (:func:`ikelab.esp.esp_open`, RFC 4303
   3.4.4) down to the inner packet; if not, the note says whether a row for
   its SPI exists for other addresses.

Nothing stops the dissection: a frame that is not IP, a truncated header, an
ICV that does not verify or an unknown SPI gives a row with a ``note``.  IP
fragments are reassembled as Wireshark does (:class:`_Fragments`): the frame
that completes a datagram is dissected as the whole of it, and the earlier
pieces are listed as fragments.  So are IKE's own fragments (SKF, RFC 7383),
once decrypted: the frame of the last piece shows the joined message.  Wireshark 4.0's ``esp_sa`` table has
no ESN field, so ESP sequence numbers are taken as 32-bit (RFC 4303 2.2).
Hot path: the keyed cipher objects of each SA are built once
(:class:`ikelab.dissect_keys.EspOpener`), which is what lets a 100,000-packet capture decrypt
at about 100,000 packets a second.

Each row (:class:`Row`) is what Wireshark's packet list shows -- No., Time
(relative to the first packet, Wireshark's default), Source, Destination,
Protocol, Length (the frame), Info (``IKE_SA_INIT MID=00 Initiator Request``,
``ESP (SPI=0x0d713155)``) -- plus the payloads in RFC 7296 notation
(``HDR, SK {IDi, AUTH, SAi2, TSi, TSr}``) and the ESP SPI, sequence number
and inner packet.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from .errors import CaptureError, ConfigError, IkelabError, IntegrityError, ParseError
from .dissect_keys import Keys
from .frame_info import address as _addr, arp_info as _arp_info, icmp_info as _icmp_info

__all__ = ["Dissection", "Row", "dissect", "dissect_frames", "payload_names"]

_IKE_PORT = 500
_NAT_T_PORT = 4500
_MARKER = b"\x00\x00\x00\x00"
_IP_PROTOCOLS = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 41: "IPv6", 4: "IPv4", 47: "GRE", 50: "ESP", 51: "AH",
                 58: "ICMPv6", 132: "SCTP"}
#: Wireshark's names in "Fragmented IP protocol (proto=...)" where they differ from the Protocol column's.
_FRAGMENT_PROTOCOLS = {4: "IPIP", 47: "Generic Routing Encapsulation", 50: "Encap Security Payload",
                       51: "Authentication Header"}
_HH = struct.Struct("!HH")
_II = struct.Struct("!II")


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


# --------------------------------------------------------------------------- names


def payload_names(payloads: Iterable[Any], is_response: bool) -> tuple[str, ...]:
    """Payload names in RFC 7296 notation: ``SA``, ``KE``, ``Ni``/``Nr``, ``N(TYPE)``, ``IDi``, ``SK``...

    Notify and Configuration payloads carry their type; the nonce takes
    ``i``/``r`` from the message direction (RFC 7296 1.2).
    """
    from .payloads import CP, SK, SKF, Nonce, Notify, UnknownPayload

    out = []
    for p in payloads:
        if isinstance(p, Nonce):
            out.append("Nr" if is_response else "Ni")
        elif isinstance(p, Notify):
            t = p.notify_type
            out.append(f"N({getattr(t, 'name', t)})")
        elif isinstance(p, CP):
            t = p.cfg_type
            out.append(f"CP({getattr(t, 'name', t)})")
        elif isinstance(p, SKF):
            out.append("SKF")
        elif isinstance(p, SK):
            out.append("SK")
        elif isinstance(p, UnknownPayload):
            out.append(f"UNKNOWN({int(p.payload_type)})")
        else:
            out.append(p.name)
    return tuple(out)


# --------------------------------------------------------------------------- IP


def _parse_ip(data: bytes) -> tuple[int, str, str, int, bytes, tuple[int, bool, int] | None]:
    """``(version, src, dst, protocol, payload, fragment)``: a fast IPv4 path, ikelab.packet for IPv6.

    ``fragment`` is ``(offset, more, ident)`` for a piece of a fragmented datagram, else None.
    """
    if len(data) < 20:
        raise ParseError(f"IP packet of {len(data)} bytes is shorter than any IP header", field="ip", offset=0)
    version = data[0] >> 4
    if version == 4:
        ihl = (data[0] & 0x0F) * 4
        total = (data[2] << 8) | data[3]
        if ihl < 20 or total < ihl or len(data) < ihl:
            raise ParseError(f"bad IPv4 header length {ihl} / total length {total}", field="ipv4.ihl", offset=0)
        if total > len(data):
            raise ParseError(f"IPv4 total length {total} but only {len(data)} bytes captured",
                             field="ipv4.total_length", offset=2)
        flags = (data[6] << 8) | data[7]
        frag = ((flags & 0x1FFF) * 8, bool(flags & 0x2000), (data[4] << 8) | data[5]) if flags & 0x3FFF else None
        return 4, _addr(data[12:16]), _addr(data[16:20]), data[9], data[ihl:total], frag
    if version == 6:
        from .packet import parse_ip

        pkt = parse_ip(data, verify_checksum=False)
        frag = (pkt.fragment_offset, pkt.more_fragments, pkt.ident) if pkt.is_fragment else None
        return 6, str(pkt.src), str(pkt.dst), pkt.protocol, pkt.payload, frag
    raise ParseError(f"IP version {version} is neither 4 nor 6", field="ip.version", offset=0)


def _v6_upper_layer(next_header: int, data: bytes) -> tuple[int, bytes]:
    """``(protocol, payload)`` of a reassembled IPv6 datagram's fragmentable part, past its extension headers.

    RFC 8200 4.5: the fragmentable part is "extension headers that need be processed only by the final
    destination node(s), plus the upper-layer header and data", e.g. a Destination Options header before UDP.
    tshark 4.0 walks them after reassembly as it does in an unfragmented packet, and so does the dissector
    (:func:`ikelab.packet.walk_ipv6_extensions`); a fragment inside the datagram is left as it is.
    """
    from .packet import walk_ipv6_extensions

    protocol, offset, fragment = walk_ipv6_extensions(data, next_header, 0, len(data))
    if fragment is not None and (fragment[0] or fragment[1]):
        return 44, data[offset - 8:]  # its Fragment header, not walked past
    return protocol, data[offset:]


def _clip_ip(data: bytes) -> tuple[bytes, str]:
    """An IP packet whose length field claims more than was captured, with that field cut to what is there.

    Wireshark goes on with the captured bytes (``set_actual_length`` only shrinks a tvb, RFC 791 3.1 Total
    Length, RFC 8200 3 Payload Length): a frame cut by the snaplen (``tcpdump -s 96``) still shows its
    addresses, protocol and Info.  Returns ``(data, note)``, the note empty when nothing was cut.
    """
    version = data[0] >> 4 if data else 0
    if version == 4 and len(data) >= 20 and len(data) >= (data[0] & 0x0F) * 4:
        claimed, have, field = (data[2] << 8) | data[3], len(data), 2
    elif version == 6 and len(data) >= 40 and (data[4] or data[5]):
        claimed, have, field = ((data[4] << 8) | data[5]), len(data) - 40, 4
    else:
        return data, ""
    if claimed <= have or (version == 4 and claimed < (data[0] & 0x0F) * 4):
        return data, ""
    note = f"IPv{version} length field says {claimed} bytes, only {have} captured"
    return data[:field] + have.to_bytes(2, "big") + data[field + 2:], note


def _frame_ip(frame: Any) -> bytes | None:
    data = frame.data
    if frame.linktype == 1 and len(data) >= 14 and data[12:14] in (b"\x08\x00", b"\x86\xdd"):
        return data[14:]
    from .pcap import ip_payload

    return ip_payload(frame)


# --------------------------------------------------------------------------- IKE


def _dissect_ike(row: Row, data: bytes, keys: Keys, ike_fragments: "_IkeFragments | None" = None) -> None:
    from .message import decode, decode_header
    from .payloads import SK, SKF
    from .views import info_column, summary

    row.kind, row.protocol = "ike", "ISAKMP"
    try:
        hdr = decode_header(data, check_version=False, check_length=False)
    except IkelabError as exc:
        row.info = "IKE (truncated header)"
        row.note = f"undecodable IKE header: {exc}"
        return
    row.spi_i, row.spi_r = hdr.spi_i.hex(), hdr.spi_r.hex()
    row.message_id, row.is_initiator, row.is_response = hdr.message_id, hdr.is_initiator, hdr.is_response
    if hdr.major_version != 2:
        row.info = f"IKE version {hdr.major_version} (exchange {int(hdr.exchange)})"
        row.exchange = f"IKEv{hdr.major_version}"
        row.note = f"ISAKMP version {hdr.major_version}.{hdr.minor_version}: only IKEv2 is dissected"
        return
    name = getattr(hdr.exchange, "name", None)
    row.exchange = name if name else str(int(hdr.exchange))
    try:
        msg = decode(data)
    except IkelabError as exc:
        from .message import Message

        row.info = info_column(Message(hdr.spi_i, hdr.spi_r, hdr.exchange, hdr.is_initiator, hdr.is_response,
                                       hdr.message_id))
        row.note = f"malformed: {exc}"
        return
    row.info = info_column(msg)
    row.payloads = payload_names(msg.payloads, msg.is_response)
    last = msg.payloads[-1] if msg.payloads else None
    if isinstance(last, (SK, SKF)):
        row.decrypted = False
        crypto = keys.ike_crypto(hdr.spi_i, hdr.spi_r)
        if crypto is None:
            row.note = "no key for this IKE SA" if keys.tables else ""
        else:
            try:
                msg = decode(data, crypto)
                row.decrypted, row.icv_ok = True, True
                if isinstance(msg.payloads[-1], SKF) and ike_fragments is not None:
                    msg = ike_fragments.add(row, msg, len(data)) or msg
            except IntegrityError as exc:
                row.icv_ok = False
                row.note = f"ICV check failed: {exc}"
            except IkelabError as exc:
                row.note = f"decryption failed: {exc}"
        inner = msg.payloads[-1]
        if isinstance(inner, SK) and inner.inner is not None:
            row.inner_payloads = payload_names(inner.inner, msg.is_response)
    row.summary = summary(msg)
    row.message = msg


# --------------------------------------------------------------------------- ESP


def _describe_inner(row: Row, next_header: int, inner: bytes) -> None:
    if next_header in (4, 41):
        try:
            version, src, dst, proto, payload, _ = _parse_ip(inner)
        except IkelabError as exc:
            row.inner_protocol = "IPv4" if next_header == 4 else "IPv6"
            row.note = f"inner packet: {exc}"
            return
        row.inner_src, row.inner_dst = src, dst
        row.inner_protocol = _IP_PROTOCOLS.get(proto, str(proto))
        if proto in (1, 58):
            row.inner_info = _icmp_info(version, inner, payload)
        elif proto == 17 and len(payload) >= 8:
            sport, dport = _HH.unpack_from(payload, 0)
            row.inner_info = f"{sport} \u2192 {dport} Len={len(payload) - 8}"
        else:
            row.inner_info = f"{row.inner_protocol} {src} \u2192 {dst}"
    elif next_header == 59:
        row.inner_protocol, row.inner_info = "none", "dummy packet (next header 59, RFC 4303 2.6)"
    else:  # transport mode: the upper layer itself
        row.inner_protocol = _IP_PROTOCOLS.get(next_header, str(next_header))
        row.inner_info = f"transport mode, {len(inner)} bytes of {row.inner_protocol}"


def _dissect_esp(row: Row, data: bytes, keys: Keys) -> None:
    row.kind, row.protocol = "esp", "ESP"
    if len(data) < 8:
        row.info = "ESP (truncated)"
        row.note = f"ESP packet of {len(data)} bytes has no complete header"
        return
    spi, seq = _II.unpack_from(data, 0)
    row.spi, row.seq = spi, seq
    row.info = f"ESP (SPI=0x{spi:08x})"
    params = keys.esp_params(spi, row.src, row.dst) if keys.tables else None
    if params is None:
        if keys.tables:
            row.decrypted = False
            row.note = keys.esp_miss(spi, row.src, row.dst)
        return
    row.decrypted = False
    try:
        next_header, payload = params.open(data, seq)
    except IntegrityError as exc:
        row.icv_ok = False
        row.note = f"ICV check failed: {exc}"
        return
    except IkelabError as exc:
        row.note = f"decryption failed: {exc}"
        return
    row.decrypted, row.icv_ok = True, (True if (params.integ is not None or params.enc.is_aead) else None)
    _describe_inner(row, next_header, payload)


# --------------------------------------------------------------------------- frames


def dissect_frames(frames: Iterable[Any], keys: Any = None, *, ike_ports: Iterable[int] = ()) -> Iterator[Row]:
    """Rows for :class:`ikelab.pcap.CapturedPacket` objects (any link type), in order.

    ``keys`` is an :class:`ikelab.wireshark.KeyTables` (or None: nothing is decrypted);
    ``ike_ports``: UDP ports besides 500 whose datagrams are IKE (Wireshark's *Decode As*).
    """
    ports = _ike_ports(ike_ports)
    cache = Keys(keys)
    fragments = _Fragments()
    first: float | None = None
    for no, frame in enumerate(frames, 1):
        if first is None:
            first = frame.time
        row = Row(no, round(frame.time - first, 9), abs_time=frame.time,
                  length=len(frame.data) if frame.orig_len is None else frame.orig_len)  # frame.len, even 0
        try:
            _dissect_frame(row, frame, cache, fragments, ports)
        except IkelabError as exc:  # a broken frame never stops the dissection
            row.note = row.note or f"{type(exc).__name__}: {exc}"
            if not row.info:
                row.info = "malformed packet"
        yield row
    fragments.finish()


class _IkeFragments:
    """IKE fragments (SKF, RFC 7383) joined as Wireshark does: the frame of the last piece shows the message."""

    def __init__(self) -> None:
        self.open: dict[tuple[Any, ...], tuple[Any, list[int]]] = {}  # message -> (Reassembly, frame numbers)

    def add(self, row: Row, msg: Any, size: int) -> Any:
        """The joined message when ``msg`` (a decrypted fragment) completes it, else None."""
        from .ike_fragments import Reassembly
        from .views import info_column

        key = (msg.spi_i, msg.spi_r, int(msg.exchange), msg.message_id, msg.is_initiator, msg.is_response)
        if key not in self.open:
            self.open[key] = (Reassembly(msg.message_id, max_octets=None), [])  # a capture: no engine limits
        buf, frames = self.open[key]
        try:
            outcome, result = buf.add(msg, msg.payloads[-1], size)
        except IkelabError as exc:  # every piece decrypted, but together they do not read as payloads
            del self.open[key]
            row.note = f"IKE fragments do not join: {exc}"
            return None
        if outcome == "ignored":
            row.note = result
            return None
        frames.append(row.no)
        if outcome == "kept":
            return None
        del self.open[key]
        row.info = info_column(msg, reassembled=True)  # tshark -2 marks the frame that completes the message
        row.note = f"{buf.total} IKE fragments ({buf.size} bytes): " + ", ".join(f"#{no}" for no in frames)
        return result


class _Fragments:
    """IP reassembly for one dissection, as Wireshark's ``ip.defragment`` does (see :mod:`ikelab.ip_fragments`).

    A fragment that leaves its datagram incomplete gets Wireshark's row
    (``Fragmented IP protocol (proto=UDP 17, off=0, ID=1a2b)``); the frame
    that completes it is dissected as the whole datagram, and the rows of
    the earlier pieces learn where (``[Reassembled in #7]``).
    """

    def __init__(self) -> None:
        from .ip_fragments import Reassembler

        self.reassembler = Reassembler(strict_ipv6=False)  # Wireshark takes IPv6 overlaps that agree
        self.waiting: dict[int, Row] = {}  # frame number -> the row of a fragment not reassembled yet
        self.ike = _IkeFragments()  # and one level up, IKE's own fragments

    def add(self, row: Row, version: int, proto: int, payload: bytes, frag: tuple[int, bool, int],
            reassemble: bool = True) -> bytes | None:
        """The whole datagram's payload when ``row``'s fragment completes it; else None, with the row filled in.

        ``reassemble=False`` (a fragment cut short by the capture) only fills in the fragment's row."""
        from .ip_fragments import fragment_key

        offset, more, ident = frag
        key = fragment_key(version, row.src, row.dst, proto, ident)
        whole = None
        try:
            if reassemble:  # no ``now``: tshark 4.0 joins fragments however far apart in time, so no timeout
                whole = self.reassembler.add(key, offset, more, payload, row.no)
        except ParseError as exc:
            row.note = f"IP fragment not reassembled: {exc}"
        if whole is None:
            name = _FRAGMENT_PROTOCOLS.get(proto, row.protocol)
            row.protocol = f"IPv{version}"
            if version == 4:
                row.info = f"Fragmented IP protocol (proto={name} {proto}, off={offset}, ID={ident:04x})"
            else:
                row.info = f"IPv6 fragment (off={offset} more={'y' if more else 'n'} ident=0x{ident:08x} nxt={proto})"
            if not row.note:
                self.waiting[row.no] = row
            return None
        for no in whole.frames:
            earlier = self.waiting.pop(no, None)
            if earlier is not None and no != row.no:
                if version == 4:  # what tshark -2 shows; it adds nothing to IPv6 fragments
                    earlier.info += f" [Reassembled in #{row.no}]"
                else:
                    earlier.note = f"IP fragment, reassembled in #{row.no}"
        pieces = ", ".join(f"#{no}({size})" for no, size in whole.pieces)
        row.note = f"{len(whole.pieces)} IPv{version} fragments ({len(whole.payload)} bytes): {pieces}"
        return whole.payload

    def finish(self) -> None:
        """Fragments whose datagram never completed say so."""
        for row in self.waiting.values():
            row.note = "IP fragment: the rest of its datagram is not in the capture (not reassembled)"
        self.waiting.clear()


def _port_list(ports: Any) -> tuple[Any, ...]:
    """``ports`` as a tuple, or ConfigError naming ike_ports when it is one port or not a list at all."""
    if isinstance(ports, (str, bytes, bytearray, int)) or not hasattr(ports, "__iter__"):
        raise ConfigError(f"ike_ports must be a list of UDP ports such as [5600], not {type(ports).__name__} "
                          f"{ports!r:.40}", field="ike_ports", value=ports)
    return tuple(ports)


def _ike_ports(ports: Iterable[int]) -> frozenset[int]:
    """500 and ``ports``, checked: ConfigError for anything that is not a UDP port number."""
    out = {_IKE_PORT}
    for port in _port_list(ports):
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535 or port == _NAT_T_PORT:
            raise ConfigError(f"an IKE port must be a UDP port in 1..65535 other than {_NAT_T_PORT} (ESP in UDP and "
                              f"IKE with its non-ESP marker, RFC 3948), not {port!r}", field="ike_ports", value=port)
        out.add(port)
    return frozenset(out)


def _dissect_frame(row: Row, frame: Any, keys: Keys, fragments: _Fragments,
                   ike_ports: frozenset[int] = frozenset((_IKE_PORT,))) -> None:
    data = frame.data
    if frame.linktype == 1 and len(data) >= 14 and data[12] < 0x06:  # an IEEE 802.3 length: LLC inside (STP...)
        from .packet import mac_text

        row.src, row.dst, row.protocol = mac_text(data[6:12]), mac_text(data[0:6]), "LLC"
        row.info = f"IEEE 802.3, length {int.from_bytes(data[12:14], 'big')}"
        row.note = "not an IPv4/IPv6 packet: skipped"
        return
    ip = _frame_ip(frame)
    if ip is None and frame.linktype == 1 and len(data) >= 14:
        from .packet import parse_ethernet

        eth = parse_ethernet(data)
        row.src, row.dst = eth.src_mac, eth.dst_mac
        if eth.ethertype == 0x0806:  # next to every IPv4 exchange on a LAN
            row.protocol, row.info = "ARP", _arp_info(eth.payload)
            return
        # LLDP and the like: their addresses and EtherType, as tshark lists an EtherType it does not know
        row.protocol, row.info = f"0x{eth.ethertype:04x}", "Ethernet II"
        row.note = "not an IPv4/IPv6 packet: skipped"
        return
    if ip is None:
        row.protocol, row.info = "?", f"not IP (link type {frame.linktype})"
        row.note = "not an IPv4/IPv6 packet: skipped"
        return
    ip, cut = _clip_ip(ip)
    version, row.src, row.dst, proto, payload, frag = _parse_ip(ip)
    row.protocol = _IP_PROTOCOLS.get(proto, str(proto))
    row.note = cut
    if frag is not None and cut:  # Wireshark reassembles only fragments whose bytes are all there
        fragments.add(row, version, proto, b"", frag, reassemble=False)
        return
    if frag is not None:
        payload = fragments.add(row, version, proto, payload, frag)
        if payload is None:  # the datagram is not whole yet
            return
        if version == 6:  # the fragmentable part may start with extension headers (RFC 8200 4.5)
            try:
                proto, payload = _v6_upper_layer(proto, payload)
            except ParseError as exc:  # tshark: Protocol IPv6, "[Malformed Packet]"; the note keeps the pieces
                row.protocol, row.info, row.note = "IPv6", "malformed packet", f"{row.note}; {exc}"
                return
            row.protocol = _IP_PROTOCOLS.get(proto, str(proto))
    if proto == 50:
        _dissect_esp(row, payload, keys)
        return
    if proto in (1, 58):  # ICMP outside any SA (e.g. a ping before the CHILD SA exists), as Wireshark shows it
        row.info = _icmp_info(version, ip, payload)
        return
    if proto != 17:
        row.info = f"IP protocol {proto}"
        return
    if len(payload) < 8:
        raise ParseError(f"UDP header needs 8 bytes, only {len(payload)}", field="udp", offset=0)
    sport, dport = _HH.unpack_from(payload, 0)
    row.sport, row.dport = sport, dport
    body = payload[8:]
    ulen = _HH.unpack_from(payload, 4)[0]
    if ulen < 8:  # RFC 768: Length counts the 8-octet header; Wireshark's UDP hands such a datagram to no one
        row.info = f"{sport} \u2192 {dport} [BAD UDP LENGTH {ulen} < 8]"
        return
    if ulen <= len(payload):
        body = payload[8:ulen]
    if not body:  # Wireshark's UDP hands an empty payload to no dissector
        row.info = f"{sport} \u2192 {dport} Len=0"
        return
    if _udp_encap(sport, dport, ike_ports):
        if body == b"\xff":
            row.kind, row.protocol, row.info = "keepalive", "UDPENCAP", "NAT-keepalive"
        elif body[:4] == _MARKER and len(body) >= 4:
            _dissect_ike(row, body[4:], keys, fragments.ike)
        else:
            _dissect_esp(row, body, keys)
    elif sport in ike_ports or dport in ike_ports:
        if _NAT_T_PORT in (sport, dport) and body[:4] == _MARKER:  # ISAKMP on 500 <-> 4500 skips the marker
            body = body[4:]
        _dissect_ike(row, body, keys, fragments.ike)
    else:
        row.info = f"{sport} \u2192 {dport} Len={len(body)}"
        return
    if cut and row.kind == "ike" and row.message is None and (frame.orig_len or 0) > len(frame.data):
        row.info += "[Packet size limited during capture]"  # tshark's words when a dissector hits the snaplen


def _udp_encap(sport: int, dport: int, ike_ports: frozenset[int]) -> bool:
    """Whether a datagram is UDP-encapsulated ESP/IKE (RFC 3948) rather than plain IKE.

    Wireshark's UDP tries the lower port first: 500 <-> 4500 is ISAKMP (which then skips a non-ESP marker);
    4500 with any port above it, or an IKE port above 4500, is UDPENCAP.
    """
    if _NAT_T_PORT not in (sport, dport):
        return False
    return not any(port in ike_ports and port < _NAT_T_PORT for port in (sport, dport))


def dissect(capture: Any, keys: Any = None, *, strict: bool = False, ike_ports: Iterable[int] = ()) -> Dissection:
    """Dissect a capture: a path, a binary file, or a list of CapturedPacket.

    ``keys``: an :class:`ikelab.wireshark.KeyTables`, or a directory holding
    ``ikev2_decryption_table`` and/or ``esp_sa`` (read with
    :func:`ikelab.wireshark.read_tables`).  A file that is not a capture
    raises :class:`~ikelab.errors.CaptureError`; a truncated last record is
    dropped with a warning unless ``strict``.  ``ike_ports`` names UDP ports
    besides 500 that carry IKE (a peer run on another port, e.g. ``ikelab
    connect --port 5600``).
    """
    from .pcap import iter_capture

    ike_ports = _port_list(ike_ports)
    _ike_ports(ike_ports)  # checked before the file is read
    if keys is not None and not hasattr(keys, "ike_sa"):
        from .wireshark import read_tables

        keys = read_tables(keys)
    if isinstance(capture, (list, tuple)):
        from .pcap import CapturedPacket

        for i, frame in enumerate(capture):
            if not isinstance(frame, CapturedPacket):
                raise ConfigError(f"capture[{i}] must be an ikelab.pcap.CapturedPacket, not {type(frame).__name__}",
                                  field=f"capture[{i}]", value=type(frame).__name__)
            # a hand-made packet: bytes, and a finite time in seconds (a file's packets are so by construction)
            if not isinstance(frame.data, (bytes, bytearray, memoryview)):
                raise ConfigError(f"capture[{i}].data must be bytes, not {type(frame.data).__name__}",
                                  field=f"capture[{i}].data", value=type(frame.data).__name__)
            time = frame.time
            if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time):
                raise ConfigError(f"capture[{i}].time must be a finite number of seconds, not {frame.time!r}",
                                  field=f"capture[{i}].time", value=frame.time)
        frames: Iterable[Any] = capture
    else:
        frames = iter_capture(capture, strict=strict)
    try:
        return Dissection(dissect_frames(frames, keys, ike_ports=ike_ports))
    except OSError as exc:
        raise CaptureError(f"cannot read capture {capture!r}: {exc}") from None
