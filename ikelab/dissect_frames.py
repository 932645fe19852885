"""A capture's frames, one at a time: the link layer, the IP header, and which port says IKE or ESP.

The packet is sorted as RFC 7296 2.23 and RFC 3948 2.2 say: UDP port 500 is
IKE; on UDP port 4500 a payload starting with the four-zero-octet Non-ESP
Marker is IKE, the single octet 0xFF is a NAT-keepalive, anything else is
ESP; IP protocol 50 is ESP (RFC 4303).  As in Wireshark, the lower port
decides between 500 and 4500, and an empty UDP payload, or a UDP Length below
8 (RFC 768), is plain UDP.  :func:`dissect` reads a capture file (or a list of
frames) and :func:`dissect_frames` gives the rows one by one; nothing stops
the dissection, a broken frame gives a row with a ``note``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

from .dissect_esp import _dissect_esp
from .dissect_ike import _dissect_ike
from .dissect_ip import _HH, _IP_PROTOCOLS, _clip_ip, _Fragments, _frame_ip, _parse_ip, _v6_upper_layer
from .dissect_keys import Keys
from .dissect_rows import Dissection, Row, link_echoes
from .errors import CaptureError, ConfigError, IkelabError, ParseError
from .frame_info import arp_info as _arp_info, echo_key as _echo_key, icmp_info as _icmp_info
from .pcap_format import LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2

_IKE_PORT = 500
_NAT_T_PORT = 4500
_MARKER = b"\x00\x00\x00\x00"


def dissect_frames(frames: Iterable[Any], keys: Any = None, *, ike_ports: Iterable[int] = ()) -> Iterator[Row]:
    """Rows for :class:`ikelab.pcap.CapturedPacket` objects (any link type), in order.

    ``keys`` is an :class:`ikelab.wireshark.KeyTables` (or None: nothing is decrypted);
    ``ike_ports``: UDP ports besides 500 whose datagrams are IKE (Wireshark's *Decode As*).
    The rows come before the capture's end, so echoes are not linked yet
    (:func:`ikelab.dissect_rows.link_echoes`, which :func:`dissect` calls).
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
    if ip is None and frame.linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2) \
            and _sll_arp(row, data, frame.linktype):
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
        row.echo = _echo_key(version, payload)
        return
    if proto != 17:
        row.info = f"IP protocol {proto}"
        return
    if len(payload) < 8 and cut and (frame.orig_len or 0) > len(frame.data):  # the snaplen cut the UDP header
        _udp_header_cut(row, version, payload)
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


def _udp_header_cut(row: Row, version: int, payload: bytes) -> None:
    """tshark's row for a UDP header (RFC 768) the capture's snaplen cut: what of the ports and Length is there."""
    limited = "[Packet size limited during capture]"
    if len(payload) < 4:  # not even the ports: tshark's UDP adds nothing to the IP row
        row.protocol, row.info = f"IPv{version}", limited
        return
    row.sport, row.dport = _HH.unpack_from(payload, 0)
    length = f" Len={int.from_bytes(payload[4:6], 'big') - 8}" if len(payload) >= 6 else ""
    row.info = f"{row.sport} \u2192 {row.dport}{length}{limited}"


def _sll_arp(row: Row, data: bytes, linktype: int) -> bool:
    """An ARP packet in a Linux cooked capture (``tcpdump -i any``), as tshark lists it; False for any other.

    tcpdump.org LINKTYPE_LINUX_SLL (113): packet type, ARPHRD type, address length, 8-byte address, protocol;
    LINKTYPE_LINUX_SLL2 (276): protocol, reserved, interface index, ARPHRD type, packet type, address length,
    address.  The source is the sender's link-layer address; there is no destination address.
    """
    if linktype == LINKTYPE_LINUX_SLL:
        proto, halen = int.from_bytes(data[14:16], "big"), int.from_bytes(data[4:6], "big")
        addr, body = data[6:14], data[16:]
    else:
        proto, halen, addr, body = int.from_bytes(data[0:2], "big"), data[11], data[12:20], data[20:]
    if proto != 0x0806:
        return False
    from .packet import mac_text

    row.src = mac_text(addr[:halen]) if 0 < halen <= 8 else ""
    row.protocol, row.info = "ARP", _arp_info(body)
    return True


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
        rows = Dissection(dissect_frames(frames, keys, ike_ports=ike_ports))
    except OSError as exc:
        raise CaptureError(f"cannot read capture {capture!r}: {exc}") from None
    link_echoes(rows)  # needs the whole capture: a request learns of its reply later
    return rows
