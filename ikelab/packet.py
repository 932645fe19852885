"""IPv4, IPv6, UDP, ICMP and Ethernet framing: just enough IP for the lessons and the SPD.

Built and parsed here, byte-exact:

* IPv4 (RFC 791 3.1): ``Version|IHL|TOS|Total Length|Identification|Flags|
  Fragment Offset|TTL|Protocol|Header Checksum|Source|Destination``.  The
  header checksum is "the 16 bit one's complement of the one's complement sum
  of all 16 bit words in the header" (RFC 791 3.1, computed as in RFC 1071).
* IPv6 (RFC 8200 3): ``Version|Traffic Class|Flow Label|Payload Length|
  Next Header|Hop Limit|Source|Destination``; when parsing, the Hop-by-Hop,
  Routing, Fragment and Destination Options extension headers (RFC 8200 4)
  are skipped so that ``protocol`` is the upper-layer protocol (in a
  fragment, the walk stops at the Fragment header: the rest is fragment data).
* UDP (RFC 768): ``Source Port|Destination Port|Length|Checksum``, the checksum
  covering a pseudo-header (RFC 768 for IPv4, RFC 8200 8.1 for IPv6, where it
  is mandatory).  A computed checksum of 0 is sent as 0xFFFF.
* ICMP echo (RFC 792) and ICMPv6 echo (RFC 4443 4.1/4.2, checksum over the
  IPv6 pseudo-header as in RFC 8200 8.1).
* Ethernet II framing (IEEE 802.3 / RFC 894), default MAC addresses taken from
  the documentation range 00-00-5E-00-53-00..FF (RFC 7042 2.1.2).

Addresses are strings or :mod:`ipaddress` objects; their family picks IPv4
or IPv6 and mixing families is a :class:`~ikelab.errors.ConfigError`.
Parsed packets hold :mod:`ipaddress` objects.  Bad values at build time raise
``ConfigError``; bytes that do not decode raise
:class:`~ikelab.errors.ParseError` naming the field and the byte offset.

The code is in three modules, and this module gathers their public names:
:mod:`ikelab.packet_format` holds the numbers and the checksum both sides
share, :mod:`ikelab.packet_build` builds packets and :mod:`ikelab.packet_parse`
parses them.
"""

from __future__ import annotations

from .packet_build import ethernet, icmp_echo, ip_packet, ip_udp, udp, with_checksum_for
from .packet_format import (DEFAULT_DST_MAC, DEFAULT_SRC_MAC, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN,
                            ICMP_PROTOCOLS, PORT_PROTOCOLS, PROTO_AH, PROTO_ESP, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP,
                            PROTO_TCP, PROTO_UDP, IpAddress, internet_checksum)
from .packet_parse import (EthernetFrame, IcmpMessage, IpPacket, Selectors, UdpDatagram, mac_text, parse_ethernet,
                           parse_icmp, parse_ip, parse_udp, selectors, walk_ipv6_extensions)

__all__ = [
    "DEFAULT_DST_MAC", "DEFAULT_SRC_MAC", "ETHERTYPE_IPV4", "ETHERTYPE_IPV6", "ETHERTYPE_VLAN",
    "EthernetFrame", "ICMP_PROTOCOLS", "IcmpMessage", "IpAddress", "IpPacket", "PORT_PROTOCOLS", "PROTO_AH",
    "PROTO_ESP", "PROTO_ICMP", "PROTO_ICMPV6", "PROTO_SCTP", "PROTO_TCP", "PROTO_UDP", "Selectors", "UdpDatagram",
    "ethernet", "icmp_echo", "internet_checksum", "ip_packet", "ip_udp", "mac_text", "parse_ethernet", "parse_icmp", "parse_ip",
    "parse_udp", "selectors", "udp", "walk_ipv6_extensions",
]
