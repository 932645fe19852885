"""What building and parsing IP packets share: the protocol numbers, EtherTypes and the Internet checksum.

The numbers are IANA's "Assigned Internet Protocol Numbers" (the IPv4
Protocol and IPv6 Next Header field), the IPv6 extension headers the parser
skips (RFC 8200 4.1), the EtherTypes (IEEE 802.3 / RFC 894, 802.1Q and
802.1ad tags), the documentation MAC addresses (RFC 7042 2.1.2) and the ICMP
(RFC 792) and ICMPv6 (RFC 4443 4.1/4.2) echo types.  The Internet checksum is
RFC 1071's "16 bit one's complement of the one's complement sum" (RFC 791
3.1), and the pseudo-header it covers for UDP, TCP and ICMPv6 is RFC 768's
(IPv4) or RFC 8200 8.1's (IPv6).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Union

from .errors import ConfigError

# IANA "Assigned Internet Protocol Numbers".
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ESP = 50
PROTO_AH = 51
PROTO_ICMPV6 = 58
PROTO_SCTP = 132
#: the protocols whose first two header fields are source and destination ports (RFC 4301 4.4.1.1)
PORT_PROTOCOLS = frozenset({PROTO_TCP, PROTO_UDP, PROTO_SCTP})
#: the protocols whose one selector is Type << 8 | Code (RFC 4301 4.4.1.1, RFC 7296 3.13.1)
ICMP_PROTOCOLS = frozenset({PROTO_ICMP, PROTO_ICMPV6})

# IPv6 extension headers skipped by the parser (RFC 8200 4.1).
_V6_HOP_BY_HOP = 0
_V6_ROUTING = 43
_V6_FRAGMENT = 44
_V6_DEST_OPTS = 60
_V6_NO_NEXT = 59

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100  # IEEE 802.1Q tag, skipped by parse_ethernet
_ETHERTYPE_QINQ = 0x88A8

#: Documentation MAC addresses (RFC 7042 2.1.2: 00-00-5E-00-53-00 to -FF).
DEFAULT_SRC_MAC = "00:00:5e:00:53:01"
DEFAULT_DST_MAC = "00:00:5e:00:53:02"

IpAddress = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address]
_Addr = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

_ICMP_ECHO_REQUEST = 8
_ICMP_ECHO_REPLY = 0
_ICMPV6_ECHO_REQUEST = 128
_ICMPV6_ECHO_REPLY = 129


# ---- Checksum (RFC 1071) ---------------------------------------------------


def internet_checksum(data: bytes) -> int:
    """The Internet checksum of RFC 1071: one's complement of the one's complement sum.

    An odd trailing byte is padded with a zero byte.  Verifying: the checksum
    of data that already contains a correct checksum field is 0.
    """
    try:
        if len(data) % 2:
            data = bytes(data) + b"\x00"
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    except (TypeError, struct.error):
        raise ConfigError(f"data must be bytes, not {type(data).__name__}", field="data", value=data) from None
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: _Addr, dst: _Addr, protocol: int, length: int) -> bytes:
    """The checksum pseudo-header: RFC 768 (IPv4) or RFC 8200 8.1 (IPv6)."""
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, protocol, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, protocol)
