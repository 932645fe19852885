"""Parsing IP packets: IPv4, IPv6 (extension headers walked), UDP, ICMP and Ethernet II, with the SPD's selectors.

Each layer is checked as it is read: IPv4 version, IHL, Total Length and
header checksum (RFC 791 3.1); IPv6 Payload Length, with the Hop-by-Hop,
Routing, Fragment and Destination Options headers skipped (RFC 8200 4; in a
fragment the walk stops at the Fragment header, 4.5); the UDP Length and
checksum (RFC 768, RFC 8200 8.1); the ICMP and ICMPv6 checksum (RFC 792, RFC
4443 2.3); Ethernet II with 802.1Q/802.1ad tags skipped.  :func:`selectors`
reads a packet's RFC 4301 4.4.1.1 selectors.  Bytes that do not decode raise
:class:`~ikelab.errors.ParseError` naming the field and the byte offset.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import NamedTuple

from .errors import ParseError
from .packet_format import (_ETHERTYPE_QINQ, _ICMP_ECHO_REPLY, _ICMP_ECHO_REQUEST, _ICMPV6_ECHO_REPLY,
                            _ICMPV6_ECHO_REQUEST, _V6_DEST_OPTS, _V6_FRAGMENT, _V6_HOP_BY_HOP, _V6_ROUTING,
                            ETHERTYPE_VLAN, ICMP_PROTOCOLS, PORT_PROTOCOLS, PROTO_ICMPV6, PROTO_UDP, _Addr,
                            _pseudo_header, internet_checksum)

@dataclass(frozen=True)
class IpPacket:
    """A parsed IPv4 or IPv6 packet.

    ``protocol`` is the upper-layer protocol (for IPv6, after skipping
    extension headers; in an IPv6 fragment, the Fragment header's Next Header,
    and ``payload`` the fragment data); ``header`` holds every byte before ``payload``
    (options and extension headers included), so ``header + payload`` is the
    packet.  For IPv6, ``ttl`` is the Hop Limit, ``tos`` the Traffic Class and
    the fragment fields come from a Fragment header if there is one.
    """

    version: int
    src: _Addr
    dst: _Addr
    protocol: int
    payload: bytes
    ttl: int
    ident: int
    header: bytes
    tos: int = 0
    dont_fragment: bool = False
    more_fragments: bool = False
    fragment_offset: int = 0  # in bytes
    checksum: int = 0  # IPv4 header checksum as received; 0 for IPv6
    flow_label: int = 0

    @property
    def is_fragment(self) -> bool:
        """True when this packet is a piece of a fragmented datagram."""
        return self.more_fragments or self.fragment_offset != 0

    def to_bytes(self) -> bytes:
        """The packet as it was parsed (trailing link-layer padding excluded)."""
        return self.header + self.payload


@dataclass(frozen=True)
class UdpDatagram:
    """A parsed UDP datagram (RFC 768); ``checksum`` 0 means "not computed" (IPv4 only)."""

    sport: int
    dport: int
    payload: bytes
    length: int = 0
    checksum: int = 0


@dataclass(frozen=True)
class IcmpMessage:
    """A parsed ICMP or ICMPv6 message.

    ``ident`` and ``seq`` are bytes 4-7 of the message read as the echo
    Identifier and Sequence Number (meaningful for echo messages);
    ``payload`` is everything after byte 8.
    """

    type: int
    code: int
    checksum: int
    ident: int
    seq: int
    payload: bytes

    @property
    def is_echo_request(self) -> bool:
        return self.type in (_ICMP_ECHO_REQUEST, _ICMPV6_ECHO_REQUEST)

    @property
    def is_echo_reply(self) -> bool:
        return self.type in (_ICMP_ECHO_REPLY, _ICMPV6_ECHO_REPLY)


class EthernetFrame(NamedTuple):
    """A parsed Ethernet II frame; unpacks as ``(dst_mac, src_mac, ethertype, payload)``."""

    dst_mac: str
    src_mac: str
    ethertype: int
    payload: bytes


class Selectors(NamedTuple):
    """The RFC 4301 4.4.1.1 selectors of a packet: ``(src, dst, protocol, sport, dport)``.

    ``sport``/``dport`` are None (the RFC's OPAQUE) when the protocol has no
    ports or they are not in this packet (a non-first fragment, ESP, AH).  For
    ICMP and ICMPv6 both hold ``type << 8 | code``, the encoding RFC 4301
    4.4.1.1 and RFC 7296 3.13.1 use for ICMP selectors.
    """

    src: _Addr
    dst: _Addr
    protocol: int
    sport: int | None
    dport: int | None


# ---- Parsing ---------------------------------------------------------------


def _short(what: str, need: int, have: int, field: str, base: int = 0) -> ParseError:
    return ParseError(f"{what} needs {need} bytes, only {have} present", field=field, offset=base + have)


def _as_bytes(data: object, field: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise ParseError(f"expected bytes, got {type(data).__name__}", field=field, offset=0)


def parse_ip(data: bytes, *, verify_checksum: bool = True) -> IpPacket:
    """Parse an IPv4 or IPv6 packet, checking versions, lengths and the IPv4 header checksum.

    Bytes after the length the header declares (Ethernet padding of short
    frames) are ignored; fewer bytes than it declares is a ParseError.
    """
    data = _as_bytes(data, "ip")
    if not data:
        raise ParseError("empty packet", field="version", offset=0)
    version = data[0] >> 4
    if version == 4:
        return _parse_ipv4(data, verify_checksum)
    if version == 6:
        return _parse_ipv6(data)
    raise ParseError(f"IP version {version} is neither 4 nor 6", field="version", offset=0)


def _parse_ipv4(data: bytes, verify_checksum: bool) -> IpPacket:
    if len(data) < 20:
        raise _short("IPv4 header", 20, len(data), "ipv4_header")
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20:
        raise ParseError(f"IPv4 IHL {ihl // 4} is below the minimum 5", field="ihl", offset=0)
    tos, total, ident, frag, ttl, protocol, checksum = struct.unpack_from("!BHHHBBH", data, 1)
    if total < ihl:
        raise ParseError(
            f"IPv4 total length {total} is shorter than the header ({ihl})", field="total_length", offset=2
        )
    if len(data) < ihl:
        raise ParseError(f"IPv4 header of {ihl} bytes truncated to {len(data)}", field="ipv4_options", offset=len(data))
    if len(data) < total:
        raise ParseError(
            f"IPv4 total length {total} but only {len(data)} bytes present", field="total_length", offset=2
        )
    header = data[:ihl]
    if verify_checksum and internet_checksum(header) != 0:
        expected = internet_checksum(header[:10] + b"\x00\x00" + header[12:])
        raise ParseError(
            f"IPv4 header checksum 0x{checksum:04x} is wrong (expected 0x{expected:04x})",
            field="header_checksum", offset=10
        )
    if frag & 0x8000:
        raise ParseError("IPv4 reserved flag bit is set", field="flags", offset=6)
    return IpPacket(
        version=4,
        src=ipaddress.IPv4Address(data[12:16]),
        dst=ipaddress.IPv4Address(data[16:20]),
        protocol=protocol,
        payload=data[ihl:total],
        ttl=ttl,
        ident=ident,
        header=header,
        tos=tos,
        dont_fragment=bool(frag & 0x4000),
        more_fragments=bool(frag & 0x2000),
        fragment_offset=(frag & 0x1FFF) * 8,
        checksum=checksum,
    )


def walk_ipv6_extensions(data: bytes, next_header: int, offset: int,
                         end: int) -> tuple[int, int, tuple[int, bool, int] | None]:
    """Skip the IPv6 extension headers in ``data[offset:end]`` (RFC 8200 4): ``(upper-layer protocol, its offset,
    (fragment offset, more fragments, identification) of a Fragment header or None)``.

    Hop-by-Hop, Routing and Destination Options are ``Next Header | Hdr Ext Len (8-octet units beyond the
    first) | ...``; Hop-by-Hop only as the first (4.3).  A Fragment header (8 octets) of a real fragment ends
    the walk after it: what follows is a piece of the fragmentable part, opaque until reassembled (4.5); an
    atomic fragment (offset 0, M 0; RFC 6946) is read on like any packet.
    """
    start, fragment = offset, None
    while next_header in (_V6_HOP_BY_HOP, _V6_ROUTING, _V6_FRAGMENT, _V6_DEST_OPTS):
        if next_header == _V6_HOP_BY_HOP and offset != start:
            raise ParseError("IPv6 Hop-by-Hop Options header not directly after the IPv6 header",
                             field="next_header", offset=offset)
        if offset + 8 > end:
            raise ParseError(f"IPv6 extension header {next_header} truncated: {end - offset} of at least 8 bytes",
                             field="extension_header", offset=offset)
        if next_header == _V6_FRAGMENT:
            nh, _, frag, ident = struct.unpack_from("!BBHI", data, offset)
            fragment = (frag & 0xFFF8, bool(frag & 1), ident)
            offset += 8
            next_header = nh
            if fragment[0] or fragment[1]:
                break
            continue
        length = (data[offset + 1] + 1) * 8
        if offset + length > end:
            raise ParseError(f"IPv6 extension header {next_header} of {length} bytes runs past the {end - offset} "
                             "bytes left", field="hdr_ext_len", offset=offset + 1)
        next_header = data[offset]
        offset += length
    return next_header, offset, fragment


def _parse_ipv6(data: bytes) -> IpPacket:
    if len(data) < 40:
        raise _short("IPv6 header", 40, len(data), "ipv6_header")
    first, payload_len, next_header, hop_limit = struct.unpack_from("!IHBB", data, 0)
    end = 40 + payload_len
    if payload_len == 0 and next_header == _V6_HOP_BY_HOP:
        raise ParseError("IPv6 jumbograms (payload length 0) are not supported", field="payload_length", offset=4)
    if len(data) < end:
        raise ParseError(
            f"IPv6 payload length {payload_len} but only {len(data) - 40} bytes follow the header",
            field="payload_length", offset=4
        )
    next_header, offset, fragment = walk_ipv6_extensions(data, next_header, 40, end)
    frag_offset, more, ident = fragment or (0, False, 0)
    return IpPacket(
        version=6,
        src=ipaddress.IPv6Address(data[8:24]),
        dst=ipaddress.IPv6Address(data[24:40]),
        protocol=next_header,
        payload=data[offset:end],
        ttl=hop_limit,
        ident=ident,
        header=data[:offset],
        tos=(first >> 20) & 0xFF,
        more_fragments=more,
        fragment_offset=frag_offset,
        flow_label=first & 0xFFFFF,
    )


def _ip(packet: IpPacket | bytes) -> IpPacket:
    if isinstance(packet, IpPacket):
        return packet
    return parse_ip(packet)


def parse_udp(ip_packet: IpPacket | bytes, *, verify_checksum: bool = True) -> UdpDatagram:
    """Parse the UDP datagram of an IP packet (an :class:`IpPacket` or raw IP bytes).

    The UDP Length must match the IP payload; a non-zero checksum is verified
    with the pseudo-header; a zero checksum is accepted over IPv4 only (RFC
    8200 8.1).  Offsets in errors count from the start of the UDP header.
    """
    pkt = _ip(ip_packet)
    if pkt.protocol != PROTO_UDP:
        raise ParseError(f"IP protocol is {pkt.protocol}, not UDP (17)", field="protocol", offset=0)
    if pkt.fragment_offset:
        raise ParseError(
            f"non-first fragment (offset {pkt.fragment_offset}) holds no UDP header", field="fragment_offset", offset=0
        )
    if pkt.more_fragments:
        raise ParseError("first fragment holds only part of the UDP datagram; reassemble it first",
                         field="more_fragments", offset=0)
    data = pkt.payload
    if len(data) < 8:
        raise _short("UDP header", 8, len(data), "udp_header")
    sport, dport, length, checksum = struct.unpack_from("!HHHH", data, 0)
    if length < 8 or length != len(data):
        raise ParseError(
            f"UDP length {length} does not match the {len(data)} bytes of IP payload", field="length", offset=4
        )
    if checksum == 0:
        if pkt.version == 6:
            raise ParseError("zero UDP checksum is not allowed over IPv6 (RFC 8200 8.1)", field="checksum", offset=6)
    elif verify_checksum:
        pseudo = _pseudo_header(pkt.src, pkt.dst, PROTO_UDP, length)
        if internet_checksum(pseudo + data) != 0:
            expected = internet_checksum(pseudo + data[:6] + b"\0\0" + data[8:]) or 0xFFFF
            raise ParseError(
                f"UDP checksum 0x{checksum:04x} is wrong (expected 0x{expected:04x})", field="checksum", offset=6
            )
    return UdpDatagram(sport=sport, dport=dport, payload=data[8:], length=length, checksum=checksum)


def parse_icmp(ip_packet: IpPacket | bytes, *, verify_checksum: bool = True) -> IcmpMessage:
    """Parse the ICMP (protocol 1) or ICMPv6 (58) message of an IP packet, verifying its checksum."""
    pkt = _ip(ip_packet)
    if pkt.protocol not in ICMP_PROTOCOLS:
        raise ParseError(f"IP protocol is {pkt.protocol}, not ICMP (1) or ICMPv6 (58)", field="protocol", offset=0)
    if pkt.fragment_offset:
        raise ParseError(
            f"non-first fragment (offset {pkt.fragment_offset}) holds no ICMP header", field="fragment_offset", offset=0
        )
    data = pkt.payload
    if len(data) < 8:
        raise _short("ICMP header", 8, len(data), "icmp_header")
    kind, code, checksum, ident, seq = struct.unpack_from("!BBHHH", data, 0)
    if verify_checksum and not pkt.is_fragment:
        covered = data
        if pkt.protocol == PROTO_ICMPV6:
            covered = _pseudo_header(pkt.src, pkt.dst, PROTO_ICMPV6, len(data)) + data
        if internet_checksum(covered) != 0:
            raise ParseError(f"ICMP checksum 0x{checksum:04x} is wrong", field="checksum", offset=2)
    return IcmpMessage(type=kind, code=code, checksum=checksum, ident=ident, seq=seq, payload=data[8:])


def selectors(ip_packet: IpPacket | bytes) -> Selectors:
    """The SPD selectors ``(src, dst, protocol, sport, dport)`` of a packet (RFC 4301 4.4.1.1).

    Ports are read from TCP, UDP and SCTP headers; ICMP type/code as
    described in :class:`Selectors`; otherwise None (OPAQUE).  Checksums are
    not verified here: the SPD looks at headers only.
    """
    pkt = _ip(ip_packet)
    sport: int | None = None
    dport: int | None = None
    if pkt.fragment_offset == 0:
        if pkt.protocol in PORT_PROTOCOLS:
            if len(pkt.payload) < 4:
                raise _short("the port pair", 4, len(pkt.payload), "ports", len(pkt.header))
            sport, dport = struct.unpack_from("!HH", pkt.payload, 0)
        elif pkt.protocol in ICMP_PROTOCOLS:
            if len(pkt.payload) < 2:
                raise _short("ICMP type and code", 2, len(pkt.payload), "icmp_type", len(pkt.header))
            sport = dport = (pkt.payload[0] << 8) | pkt.payload[1]
    return Selectors(pkt.src, pkt.dst, pkt.protocol, sport, dport)


def mac_text(raw: bytes) -> str:
    """A MAC address as ``02:00:5e:00:53:01`` (lower case, as Wireshark writes it)."""
    return ":".join(f"{b:02x}" for b in raw)


def parse_ethernet(frame: bytes) -> EthernetFrame:
    """Parse an Ethernet II frame, skipping 802.1Q/802.1ad VLAN tags.

    Returns ``(dst_mac, src_mac, ethertype, payload)``, MACs as lower-case
    ``"xx:xx:..."``.  ``payload`` may carry trailing padding (see :func:`parse_ip`).
    """
    data = _as_bytes(frame, "ethernet")
    if len(data) < 14:
        raise _short("Ethernet header", 14, len(data), "ethernet_header")
    offset = 12
    ethertype = int.from_bytes(data[12:14], "big")
    while ethertype in (ETHERTYPE_VLAN, _ETHERTYPE_QINQ):
        offset += 4
        if len(data) < offset + 2:
            raise ParseError("VLAN tag truncated", field="vlan_tag", offset=len(data))
        ethertype = int.from_bytes(data[offset : offset + 2], "big")
    if ethertype < 0x0600:
        raise ParseError(
            f"0x{ethertype:04x} is an 802.3 length, not an Ethernet II EtherType", field="ethertype", offset=offset
        )
    return EthernetFrame(mac_text(data[0:6]), mac_text(data[6:12]), ethertype, data[offset + 2 :])
