"""Building IP packets byte-exact: IPv4, IPv6, UDP, ICMP echo and Ethernet II, lengths and checksums filled in.

IPv4 headers follow RFC 791 3.1 (20 bytes, no options), IPv6 RFC 8200 3 (the
40-byte fixed header), UDP RFC 768 (a computed checksum of 0 is sent as
0xFFFF; over IPv6 the checksum is mandatory, RFC 8200 8.1), ICMP echo RFC 792
and ICMPv6 echo RFC 4443 4.1 (its checksum covering the IPv6 pseudo-header,
RFC 4443 2.3), Ethernet II IEEE 802.3 / RFC 894.  :func:`with_checksum_for`
recomputes a transport checksum for other addresses, as a receiver behind a
NAT does (RFC 3948 3.1.2).  Addresses are strings or :mod:`ipaddress`
objects; a bad value is a :class:`~ikelab.errors.ConfigError`.
"""

from __future__ import annotations

import ipaddress
import struct

from .errors import ConfigError
from .packet_format import (_ICMP_ECHO_REPLY, _ICMP_ECHO_REQUEST, _ICMPV6_ECHO_REPLY, _ICMPV6_ECHO_REQUEST,
                            DEFAULT_DST_MAC, DEFAULT_SRC_MAC, ETHERTYPE_IPV4, ETHERTYPE_IPV6, PROTO_ICMP,
                            PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, IpAddress, _Addr, _pseudo_header, internet_checksum)
from .wire import check_bytes

# ---- Helpers for arguments -------------------------------------------------


def _address(value: object, field: str) -> _Addr:
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    if isinstance(value, str):
        try:
            return ipaddress.ip_address(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{field} is not an IPv4 or IPv6 address: {value!r}", field=field, value=value)


def _pair(src: object, dst: object) -> tuple[_Addr, _Addr]:
    s = _address(src, "src")
    d = _address(dst, "dst")
    if s.version != d.version:
        raise ConfigError(
            f"src {s} is IPv{s.version} but dst {d} is IPv{d.version}; both must be of one family",
            field="dst",
            value=dst,
        )
    return s, d


def _uint(value: object, bits: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ConfigError(
            f"{field} must be an integer in 0..{(1 << bits) - 1}, got {value!r}", field=field, value=value
        )
    return value


# ---- Building --------------------------------------------------------------


#: Upper-layer protocol -> offset of its checksum field, for those whose checksum covers the addresses
_CHECKSUM_AT = {PROTO_TCP: 16, PROTO_UDP: 6, PROTO_ICMPV6: 2}


def with_checksum_for(src: IpAddress, dst: IpAddress, protocol: int, segment: bytes) -> bytes:
    """``segment`` (TCP, UDP or ICMPv6) with its checksum recomputed for the addresses ``src`` and ``dst``.

    A transport-mode packet that crossed a NAT arrives with other addresses than its sender summed over
    (RFC 3948 3.1.2: the receiver recomputes the checksum).  Other protocols, a segment too short to hold
    the field, and an IPv4 UDP datagram without a checksum (0, RFC 768) come back unchanged.
    """
    at = _CHECKSUM_AT.get(protocol)
    s, d = _pair(src, dst)
    if at is None or len(segment) < at + 2 or (protocol == PROTO_UDP and s.version == 4 and segment[6:8] == b"\0\0"):
        return segment
    zeroed = segment[:at] + b"\0\0" + segment[at + 2:]
    value = internet_checksum(_pseudo_header(s, d, protocol, len(segment)) + zeroed)
    if protocol == PROTO_UDP and value == 0:
        value = 0xFFFF  # RFC 768: a computed 0 is sent as all ones
    return segment[:at] + value.to_bytes(2, "big") + segment[at + 2:]


def ip_packet(
    src: IpAddress,
    dst: IpAddress,
    protocol: int,
    payload: bytes,
    *,
    ident: int = 0,
    ttl: int = 64,
    dont_fragment: bool = False,
    tos: int = 0,
    flow_label: int = 0,
) -> bytes:
    """A whole IPv4 or IPv6 packet (chosen by the address family) around ``payload``.

    IPv4: 20-byte header without options, Total Length and Header Checksum
    filled in (RFC 791 3.1).  IPv6: 40-byte fixed header, Payload Length
    filled in, ``ttl`` is the Hop Limit, ``tos`` the Traffic Class, ``ident``
    is unused (IPv6 carries it only in a Fragment header).
    """
    s, d = _pair(src, dst)
    _uint(protocol, 8, "protocol")
    _uint(ttl, 8, "ttl")
    _uint(tos, 8, "tos")
    data = check_bytes(payload, "payload")
    if s.version == 4:
        _uint(ident, 16, "ident")
        total = 20 + len(data)
        if total > 0xFFFF:
            raise ConfigError(f"IPv4 total length {total} exceeds 65535", field="payload", value=len(data))
        flags = 0x4000 if dont_fragment else 0
        header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, total, ident, flags, ttl, protocol, 0, s.packed, d.packed)
        checksum = internet_checksum(header)
        return header[:10] + checksum.to_bytes(2, "big") + header[12:] + data
    _uint(flow_label, 20, "flow_label")
    if len(data) > 0xFFFF:
        raise ConfigError(
            f"IPv6 payload length {len(data)} exceeds 65535 (jumbograms not supported)",
            field="payload", value=len(data)
        )
    first = (6 << 28) | (tos << 20) | flow_label
    return struct.pack("!IHBB", first, len(data), protocol, ttl) + s.packed + d.packed + data


def udp(src: IpAddress, dst: IpAddress, sport: int, dport: int, payload: bytes, *, checksum: bool = True) -> bytes:
    """A UDP header plus ``payload`` (RFC 768); the addresses feed the checksum pseudo-header.

    ``checksum=False`` sends a zero checksum, which IPv4 allows (RFC 768, and
    RFC 3948 3.1 recommends it for UDP-encapsulated ESP) but IPv6 forbids
    (RFC 8200 8.1): that combination is a ConfigError.
    """
    s, d = _pair(src, dst)
    _uint(sport, 16, "sport")
    _uint(dport, 16, "dport")
    data = check_bytes(payload, "payload")
    length = 8 + len(data)
    if length > 0xFFFF:
        raise ConfigError(f"UDP length {length} exceeds 65535", field="payload", value=len(data))
    header = struct.pack("!HHHH", sport, dport, length, 0)
    if not checksum:
        if s.version == 6:
            raise ConfigError("the UDP checksum is mandatory over IPv6 (RFC 8200 8.1)", field="checksum", value=False)
        return header + data
    value = internet_checksum(_pseudo_header(s, d, PROTO_UDP, length) + header + data)
    if value == 0:
        value = 0xFFFF  # RFC 768: "an all zero transmitted checksum value means ... no checksum"
    return header[:6] + value.to_bytes(2, "big") + data


def ip_udp(
    src: IpAddress,
    dst: IpAddress,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    ident: int = 0,
    ttl: int = 64,
    dont_fragment: bool = False,
    checksum: bool = True,
    tos: int = 0,
) -> bytes:
    """A whole IPv4 or IPv6 packet carrying a UDP datagram, all lengths and checksums correct."""
    datagram = udp(src, dst, sport, dport, payload, checksum=checksum)
    return ip_packet(src, dst, PROTO_UDP, datagram, ident=ident, ttl=ttl, dont_fragment=dont_fragment, tos=tos)


def icmp_echo(
    src: IpAddress,
    dst: IpAddress,
    ident: int,
    seq: int,
    payload: bytes = b"",
    reply: bool = False,
    *,
    ttl: int = 64,
    ip_ident: int = 0,
) -> bytes:
    """A whole IP packet carrying an ICMP (RFC 792) or ICMPv6 (RFC 4443 4.1) Echo Request or Reply.

    ``ident`` and ``seq`` are the echo Identifier and Sequence Number.  The
    ICMPv4 checksum covers the ICMP message only; the ICMPv6 checksum also
    covers the IPv6 pseudo-header (RFC 4443 2.3).
    """
    s, d = _pair(src, dst)
    _uint(ident, 16, "ident")
    _uint(seq, 16, "seq")
    data = check_bytes(payload, "payload")
    if s.version == 4:
        kind, protocol = (_ICMP_ECHO_REPLY if reply else _ICMP_ECHO_REQUEST), PROTO_ICMP
    else:
        kind, protocol = (_ICMPV6_ECHO_REPLY if reply else _ICMPV6_ECHO_REQUEST), PROTO_ICMPV6
    message = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + data
    covered = message if s.version == 4 else _pseudo_header(s, d, protocol, len(message)) + message
    value = internet_checksum(covered)
    message = message[:2] + value.to_bytes(2, "big") + message[4:]
    return ip_packet(s, d, protocol, message, ident=ip_ident, ttl=ttl)


def _mac(value: object, field: str) -> bytes:
    if isinstance(value, (bytes, bytearray)) and len(value) == 6:
        return bytes(value)
    if isinstance(value, str):
        text = value.strip().replace("-", ":")
        parts = text.split(":")
        if len(parts) == 6 and all(len(p) in (1, 2) for p in parts):
            try:
                return bytes(int(p, 16) for p in parts)
            except ValueError:
                pass
    raise ConfigError(
        f"{field} is not a MAC address (6 bytes or 'xx:xx:xx:xx:xx:xx'): {value!r}", field=field, value=value
    )


def ethernet(
    ip: bytes,
    *,
    src_mac: str | bytes = DEFAULT_SRC_MAC,
    dst_mac: str | bytes = DEFAULT_DST_MAC,
    ethertype: int | None = None,
) -> bytes:
    """An Ethernet II frame around an IP packet; the EtherType comes from the IP version nibble.

    No padding to the 60-byte minimum and no FCS are added: captures store
    frames that way.  Pass ``ethertype`` to frame something that is not IP.
    """
    data = check_bytes(ip, "ip")
    if ethertype is None:
        version = data[0] >> 4 if data else None
        if version == 4:
            ethertype = ETHERTYPE_IPV4
        elif version == 6:
            ethertype = ETHERTYPE_IPV6
        else:
            raise ConfigError(
                f"cannot choose an EtherType: IP version nibble is {version!r}, not 4 or 6", field="ip", value=version
            )
    _uint(ethertype, 16, "ethertype")
    return _mac(dst_mac, "dst_mac") + _mac(src_mac, "src_mac") + ethertype.to_bytes(2, "big") + data
