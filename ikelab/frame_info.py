"""The Info column tshark shows for the frames around IKE and ESP in a real capture.

A capture taken on a LAN next to an IPsec peer holds more than IKE and ESP:
ARP before the first IPv4 packet (RFC 826, with RFC 5227's probes and
announcements), IPv6 Neighbor Discovery and MLD (RFC 4861, RFC 2710, RFC 3810),
pings, and the ICMP errors a broken path sends back (RFC 792, RFC 1191's
Fragmentation needed, RFC 4443's Packet Too Big).  :mod:`ikelab.dissect`
lists them with the words tshark 4.0 uses, so that its packet list and
Wireshark's read alike.  A message cut short reads as tshark's
does: the words it had written before its dissector stopped, then ``[Malformed Packet]``.
Left to tshark: the codes, subtypes and bodies of ICMPv6 types 138-140, 143 (past 8 octets), 145, 150, 154, 155, 159.
"""

from __future__ import annotations

import ipaddress
import struct

from .errors import ConfigError
from .packet import mac_text

__all__ = ["address", "arp_info", "echo_key", "icmp_info"]

_HH = struct.Struct("!HH")
_BYTES = (bytes, bytearray, memoryview)


def _what(value: object) -> str:
    """``bytes of length 3``, or the type's name, for an error message."""
    if isinstance(value, _BYTES):
        return f"{type(value).__name__} of length {len(value)}"
    return type(value).__name__


_ADDRESSES: dict[bytes, str] = {}


def address(raw: bytes) -> str:
    """The text of a 4- or 16-byte IP address, remembered (a capture repeats a few addresses)."""
    try:
        text = _ADDRESSES.get(raw)
    except (TypeError, ValueError):  # not hashable (a writable memoryview raises ValueError): looked at below
        text = None
    if text is None:  # a few times per capture: the check costs the packets nothing
        if raw.__class__ is not bytes and isinstance(raw, _BYTES):
            raw = bytes(raw)  # a slice of a bytearray or memoryview frame
        if raw.__class__ is not bytes or len(raw) not in (4, 16):
            raise ConfigError(f"raw must be the 4 or 16 bytes of an IP address, not {_what(raw)}", field="raw",
                              value=raw)
        text = str(ipaddress.ip_address(raw))
        if len(_ADDRESSES) < 65536:
            _ADDRESSES[raw] = text
    return text


#: tshark's Info for ICMP messages other than queries (RFC 792, 1191, 1256, 1393, 1812, 2521, 8335; RFC 4443 below):
#: type -> (name, the names of its codes, the words tshark puts in the parentheses for a code it has no name for)
_ICMP_MESSAGES = {
    3: ("Destination unreachable", ("Network unreachable", "Host unreachable", "Protocol unreachable",
                                    "Port unreachable", "Fragmentation needed", "Source route failed",
                                    "Destination network unknown", "Destination host unknown", "Source host isolated",
                                    "Network administratively prohibited", "Host administratively prohibited",
                                    "Network unreachable for TOS", "Host unreachable for TOS",
                                    "Communication administratively filtered", "Host precedence violation",
                                    "Precedence cutoff in effect"), "Unknown code: {}"),
    4: ("Source quench (flow control)", (), ""),
    5: ("Redirect", ("Redirect for network", "Redirect for host", "Redirect for TOS and network",
                     "Redirect for TOS and host"), "Unknown code: {}"),
    6: ("Alternate host address", ("Alternate address for host",), "Unknown code: {}"),
    10: ("Router solicitation", (), ""),
    11: ("Time-to-live exceeded", ("Time to live exceeded in transit", "Fragment reassembly time exceeded"),
         "Unknown code: {}"),
    12: ("Parameter problem", ("Pointer indicates the error", "Required option missing", "Bad length"),
         "Unknown code: {}"),
    1: ("Reserved", (), ""), 2: ("Reserved", (), ""), 19: ("Reserved (for security)", (), ""),
    30: ("Traceroute", (), ""), 31: ("Datagram Conversion Error", (), ""), 32: ("Mobile Host Redirect", (), ""),
    33: ("IPv6 Where-Are-You", (), ""), 34: ("IPv6 I-Am-Here", (), ""), 35: ("Mobile Registration Request", (), ""),
    36: ("Mobile Registration Reply", (), ""), 37: ("Domain Name Request", (), ""),
    38: ("Domain Name Reply", (), ""), 39: ("SKIP", (), ""), 41: ("Experimental mobility protocols", (), ""),
    # RFC 2521, ICMP Security Failures Messages: what an IPsec receiver may send back about an SA
    40: ("Photuris", ("Bad SPI", "Authentication Failed", "Decompression Failed", "Decryption Failed",
                      "Need Authentication", "Need Authorization"), "Unknown code: {}"),
    # RFC 8335, PROBE
    42: ("Extended Echo request", ("No error",), "Unknown code: {}"),
    43: ("Extended Echo reply", ("No error", "Malformed Query", "No Such Interface", "No Such Table Entry",
                                 "Multiple Interfaces Satisfy Query"), "Unknown code: {}"),
}
#: The codes of an ICMP router advertisement (type 9) that tshark names, as Mobile IP agent advertisements.
_MOBILE_IP_ADVERTISEMENTS = {0: "Normal router advertisement", 16: "Does not route common traffic"}
#: The ICMP queries tshark shows with their identifier and sequence number, as it shows an echo.
_ICMP_QUERIES = {8: "Echo (ping) request", 0: "Echo (ping) reply", 13: "Timestamp request", 14: "Timestamp reply",
                 15: "Information request", 16: "Information reply", 17: "Address mask request",
                 18: "Address mask reply"}
#: The octets an ICMP message needs for tshark 4.0 to write no ``[Malformed Packet]`` (6 for a type not here):
#: RFC 792's 8-octet header, with three timestamps 20, RFC 950's mask 12, a redirect's first quoted octet 9.
_ICMP_LENGTHS = {0: 8, 3: 8, 4: 8, 5: 9, 8: 8, 9: 8, 11: 8, 12: 8, 13: 20, 14: 20, 15: 8, 16: 8, 17: 12, 18: 12,
                 42: 8, 43: 8}
_ICMP_UNKNOWN = "Unknown ICMP (obsolete or malformed?)"
#: ICMPv6 types (RFC 4443 2.1, the IANA registry) as tshark 4.0 names them: type -> (name, the octets it reads
#: before it writes no ``[Malformed Packet]``, whether Neighbor Discovery options (RFC 4861 4.6) follow them).
#: Echo, Neighbor Discovery and MLD have their own rules below; a type missing here is ``Unknown (N)``, 5 octets.
_ICMPV6_TYPES = {
    1: ("Destination Unreachable", 9, False), 2: ("Packet Too Big", 9, False), 3: ("Time Exceeded", 9, False),
    4: ("Parameter Problem", 9, False),  # errors (RFC 4443 3): tshark reads the quoted packet's first octet
    100: ("Private experimentation", 5, False), 101: ("Private experimentation", 5, False),
    127: ("Reserved for expansion of ICMPv6 error messages", 5, False),
    128: ("Echo (ping) request", 8, False), 129: ("Echo (ping) reply", 8, False),
    138: ("Router Renumbering", 16, False), 139: ("Node Information Query", 16, False),
    140: ("Node Information Reply", 16, False),
    141: ("Inverse Neighbor Discovery Solicitation", 8, True),
    142: ("Inverse Neighbor Discovery Advertisement", 8, True),
    144: ("Home Agent Address Discovery Request", 8, False), 145: ("Home Agent Address Discovery Reply", 8, False),
    146: ("Mobile Prefix Solicitation", 8, False), 147: ("Mobile Prefix Advertisement", 8, True),
    148: ("Certification Path Solicitation", 8, True), 149: ("Certification Path Advertisement", 12, True),
    150: ("Experimental Mobility", 8, True), 151: ("Multicast Router Advertisement", 8, False),
    152: ("Multicast Router Solicitation", 4, False), 153: ("Multicast Router Termination", 4, False),
    154: ("FMIPv6", 8, True), 155: ("RPL Control", 6, False), 156: ("Locator Update", 8, False),
    157: ("Duplicate Address Request", 32, False), 158: ("Duplicate Address Confirmation", 32, False),
    159: ("MPL Control Message", 4, False),
    160: ("Extended Echo request", 8, False), 161: ("Extended Echo reply", 8, False),  # RFC 8335
    200: ("Private experimentation", 5, False), 201: ("Private experimentation", 5, False),
    255: ("Reserved for expansion of ICMPv6 informational messages", 5, False),
}
#: The ICMPv6 types whose code tshark names after theirs (RFC 4443 3, RFC 8335 2-3): type -> (the codes' words,
#: the words for a code past them); the type's own name is _ICMPV6_TYPES'.
_ICMPV6_CODE_WORDS = {
    1: (("no route to destination", "Administratively prohibited", "Beyond scope of source address",
         "Address unreachable", "Port unreachable", "Source address failed ingress/egress policy",
         "Reject route to destination", "Error in Source Routing Header"), "Unknown"),
    2: ((), ""),
    3: (("hop limit exceeded in transit", "fragment reassembly time exceeded"), "Unknown ({})"),
    4: (("erroneous header field encountered", "unrecognized Next Header type encountered",
         "unrecognized IPv6 option encountered", "IPv6 First Fragment has incomplete IPv6 Header Chain"),
        "Unknown ({})"),
    160: (("No error",), "Unknown ({})"),
    161: (("No error", "Malformed Query", "No Such Interface", "No Such Table Entry",
           "Multiple Interfaces Satisfy Query"), "Unknown ({})"),
}
_ICMPV6_CODES = {kind: (_ICMPV6_TYPES[kind][0], *words) for kind, words in _ICMPV6_CODE_WORDS.items()}
_ECHO6 = {kind: _ICMPV6_TYPES[kind][0] for kind in (128, 129)}


#: ARP opcodes other than request and reply (RFC 903 RARP, RFC 1931 DRARP, RFC 2390 InARP, RFC 1577's NAK,
#: RFC 2022 MARS, RFC 2176 MAPOS, RFC 5494's experimental ones) as tshark 4.0 lists them: opcode -> Info, where
#: {sha}, {spa}, {tha}, {tpa} are the packet's addresses and {op} the opcode
_ARP_OPCODES = {
    0: "Reserved opcode {op}", 3: "Who is {tha}? Tell {sha}", 4: "{tha} is at {tpa}", 5: "Who is {tha}? Tell {sha}",
    6: "{tha} is at {tpa}", 7: "DRARP Error", 8: "Who is {tha}? Tell {sha}", 9: "{sha} is at {spa}", 10: "ARP NAK",
    11: "MARS request from {sha} at {spa}", 12: "MARS MULTI request from {sha} at {spa}",
    13: "MARS MSERV request from {sha} at {spa}", 14: "MARS JOIN request from {sha} at {spa}",
    15: "MARS LEAVE from {sha} at {spa}", 16: "MARS NAK from {sha} at {spa}",
    17: "MARS UNSERV request from {sha} at {spa}", 18: "MARS SJOIN request from {sha} at {spa}",
    19: "MARS SLEAVE from {sha} at {spa}", 20: "MARS grouplist request from {sha} at {spa}",
    21: "MARS grouplist reply from {sha} at {spa}", 22: "MARS redirect map from {sha} at {spa}",
    23: "MAPOS UNARP request from {sha} at {spa}", 24: "Experimental 1 ( opcode {op} )",
    25: "Experimental 2 ( opcode {op} )", 65535: "Reserved opcode {op}",
}


def _arp_hardware(raw: bytes, hardware: int) -> str:
    """An ARP hardware address as tshark writes it: a MAC for Ethernet and IEEE 802 (types 1 and 6), else hex."""
    if not raw:
        return "<No address>"
    return mac_text(raw) if len(raw) == 6 and hardware in (1, 6) else raw.hex()


def _arp_protocol(raw: bytes, protocol: int) -> str:
    """An ARP protocol address as tshark writes it: dotted IPv4 for four octets of IPv4 (EtherType 0x0800, or
    0xCC, AX.25's protocol ID for IP), else hex."""
    if not raw:
        return "<No address>"
    return address(raw) if len(raw) == 4 and protocol in (0x0800, 0xCC) else raw.hex()


def arp_info(body: bytes) -> str:
    """tshark's Info for an ARP packet (RFC 826; RFC 5227's probes and announcements, section 2.1.1 and 2.3).

    A request whose target hardware address is not six zero octets is not a probe or an announcement but an
    ordinary request, or a gratuitous one when it asks for its own address; a packet shorter than its address
    lengths say is ``[Malformed Packet]``.  tshark's "duplicate use of ... detected!", which needs the frames
    before, is not added here."""
    if not isinstance(body, _BYTES):
        raise ConfigError(f"body must be bytes, not {_what(body)}", field="body", value=body)
    if len(body) < 8 or len(body) < 8 + 2 * (body[4] + body[5]):
        return MALFORMED
    hardware, protocol, hl, pl, op = struct.unpack_from("!HHBBH", body)
    sha, spa = bytes(body[8 : 8 + hl]), bytes(body[8 + hl : 8 + hl + pl])
    tha, tpa = bytes(body[8 + hl + pl : 8 + 2 * hl + pl]), bytes(body[8 + 2 * hl + pl : 8 + 2 * (hl + pl)])
    text = {"sha": _arp_hardware(sha, hardware), "spa": _arp_protocol(spa, protocol),
            "tha": _arp_hardware(tha, hardware), "tpa": _arp_protocol(tpa, protocol), "op": op}
    own = pl > 0 and spa == tpa  # asks for, or tells, its own address
    if op == 1:
        at = 8 + hl + pl  # tshark tests the six octets there, whatever the hardware address length
        zeros = len(body) >= at + 6 and not any(body[at : at + 6])
        if own:
            return ("ARP Announcement for {spa}" if zeros else "Gratuitous ARP for {spa} (Request)").format(**text)
        if zeros and not any(spa):
            return "Who has {tpa}? (ARP Probe)".format(**text)
        return "Who has {tpa}? Tell {spa}".format(**text)
    if op == 2:
        return ("Gratuitous ARP for {spa} (Reply)" if own else "{spa} is at {sha}").format(**text)
    return _ARP_OPCODES.get(op, "Unknown ARP opcode 0x{op:04x}").format(**text)


#: What tshark appends to the Info of a message cut inside one of its fields (an exception in its dissector).
MALFORMED = "[Malformed Packet]"
#: Neighbor Discovery messages (RFC 4861 4.1-4.5): type -> (name, octets before the options)
_ND_MESSAGES = {133: ("Router Solicitation", 8), 134: ("Router Advertisement", 16),
                135: ("Neighbor Solicitation", 24), 136: ("Neighbor Advertisement", 24), 137: ("Redirect", 40)}
#: MLD (RFC 2710 3, RFC 3810 5): type -> (the name tshark gives it, octets up to the multicast address)
_MLD_MESSAGES = {130: ("Multicast Listener Query", 24), 131: ("Multicast Listener Report", 24),
                 132: ("Multicast Listener Done", 24), 143: ("Multicast Listener Report Message v2", 8)}


def _link_layer_options(message: bytes, start: int) -> str:
    """`` from MAC`` for each Source and `` is at MAC`` for each Target Link-Layer Address option (RFC 4861 4.6.1),
    in their order, whatever the message, as tshark appends them; ``[Malformed Packet]`` when an option runs past
    the message.  tshark shows the address of an 8-octet option (a MAC) and of a 16-octet one whose last six
    octets are zero (an EUI-64), no other; an option of length 0 (invalid, 4.6) ends the walk.  tshark 4.0
    writes `` from `` before a target's EUI-64 too: so does this, to list alike."""
    parts = []
    while start < len(message):
        if start + 2 > len(message):
            return "".join(parts) + MALFORMED
        units = message[start + 1]
        if not units:
            break
        end = start + units * 8
        if end > len(message):
            return "".join(parts) + MALFORMED
        kind = message[start]
        if kind in (1, 2) and (units == 1 or (units == 2 and not any(message[start + 10 : end]))):
            words = " is at " if kind == 2 and units == 1 else " from "
            parts.append(words + mac_text(message[start + 2 : start + (8 if units == 1 else 10)]))
        start = end
    return "".join(parts)


def _neighbor_discovery(kind: int, message: bytes) -> str | None:
    """tshark's Info for Neighbor Discovery (RFC 4861 4) and MLD (RFC 2710, RFC 3810); None for other types."""
    entry = _ND_MESSAGES.get(kind) or _MLD_MESSAGES.get(kind)
    if entry is None:
        return None
    name, fixed = entry
    if len(message) < fixed:  # tshark names the message, then stops where its fixed part is cut
        return name + MALFORMED
    if kind in _MLD_MESSAGES:
        return name
    if kind == 135:
        name += f" for {address(message[8:24])}"
    elif kind == 136:
        flags = [word for bit, word in ((0x80, "rtr"), (0x40, "sol"), (0x20, "ovr")) if message[4] & bit]
        name += f" {address(message[8:24])} ({', '.join(flags) or 'none'})"
    return name + _link_layer_options(message, fixed)


def _icmp_message(kind: int, code: int, table: dict[int, tuple[str, tuple[str, ...], str]],
                  width: int = 0) -> str | None:
    """``Destination unreachable (Port unreachable)``: an ICMP message as tshark names it, the name padded to
    ``width``; None for a type not in ``table``."""
    entry = table.get(kind)
    if entry is None:
        return None
    name, codes, unknown = entry
    if not codes:
        return name.ljust(width)
    return f"{name.ljust(width)} ({codes[code] if code < len(codes) else unknown.format(code)})"


def _icmp_name(kind: int, code: int) -> str:
    """An ICMP message's name and code as tshark 4.0 writes them, before any identifier (RFC 792, RFC 1256)."""
    query = _ICMP_QUERIES.get(kind)
    if query is not None:  # tshark pads an ICMP type's name to 20 characters
        return query.ljust(20)
    if kind == 9:  # RFC 1256's router advertisement; tshark 4.0 reads codes 0 and 16 as Mobile IP's (RFC 5944 2.1)
        mobile = _MOBILE_IP_ADVERTISEMENTS.get(code)
        return f"Mobile IP Advertisement ({mobile})" if mobile else f"Router advertisement (Unknown code: {code})"
    return _icmp_message(kind, code, _ICMP_MESSAGES, 20) or _ICMP_UNKNOWN


def _short_icmp(message: bytes) -> str:
    """tshark's Info for an ICMP message of fewer than 8 octets (RFC 792): nothing for none, ``[Malformed
    Packet]`` alone before the sixth octet (tshark reads octets 4-5 before it names the type), else the name."""
    if len(message) < 6:
        return MALFORMED if message else ""
    kind = message[0]
    return _icmp_name(kind, message[1]) + ("" if len(message) >= _ICMP_LENGTHS.get(kind, 6) else MALFORMED)


def _icmpv6_words(message: bytes) -> str:
    """tshark's Info for an ICMPv6 message other than a whole echo (RFC 4443 2.1): its type's name, the code's
    once the code octet is there, then ``[Malformed Packet]`` if the message stops before tshark's dissector."""
    if not message:
        return MALFORMED
    kind = message[0]
    found = _neighbor_discovery(kind, message)
    if found is not None:
        return found
    name, length, options = _ICMPV6_TYPES.get(kind) or (f"Unknown ({kind})", 5, False)
    if len(message) >= 2 and kind in _ICMPV6_CODES:
        name = _icmp_message(kind, message[1], _ICMPV6_CODES) or name
    if len(message) < length:
        return name + MALFORMED
    return name + _link_layer_options(message, length) if options else name


def icmp_info(version: int, packet: bytes | None, payload: bytes) -> str:
    """tshark's Info for the ICMP or ICMPv6 ``payload`` of the IP ``packet`` (its TTL or hop limit included).

    ``packet`` None: an upper layer decrypted from transport-mode ESP (RFC 4303 3.1.1), where tshark 4.0
    shows no TTL or hop limit (its ICMP dissectors get no IP header from ESP).  A message shorter than its
    type's fixed part (RFC 792, RFC 4443 2.1) ends in ``[Malformed Packet]``, as tshark's does.
    """
    if version == 4:
        ttl_at = 8
    elif version == 6:
        ttl_at = 7
    else:
        raise ConfigError(f"version must be 4 or 6, not {version!r:.40}", field="version", value=version)
    try:
        ttl = None if packet is None else packet[ttl_at]
        if len(payload) < 8:  # rare, so the check of the argument costs the usual packets nothing
            if not isinstance(payload, _BYTES):
                raise TypeError(payload)
            return _short_icmp(payload) if version == 4 else _icmpv6_words(payload)
        kind, code = payload[0], payload[1]
        ident, seq = _HH.unpack_from(payload, 4)
    except (TypeError, IndexError, KeyError):  # checked only when it fails: every ICMP packet comes here
        if packet is not None and (not isinstance(packet, _BYTES) or len(packet) <= ttl_at):
            raise ConfigError(f"packet must be the bytes of an IPv{version} packet, not {_what(packet)}",
                              field="packet", value=packet) from None
        raise ConfigError(f"payload must be bytes, not {_what(payload)}", field="payload", value=payload) from None
    if version == 6:  # tshark's ICMPv6 wording: one space, the sequence number once
        label6 = _ECHO6.get(kind)
        if label6 is None:
            return _icmpv6_words(payload)
        return f"{label6} id=0x{ident:04x}, seq={seq}" + ("" if ttl is None else f", hop limit={ttl}")
    label = _ICMP_QUERIES.get(kind)
    if label is None:
        return _icmp_name(kind, code) + ("" if len(payload) >= _ICMP_LENGTHS.get(kind, 6) else MALFORMED)
    swapped = ((seq & 0xFF) << 8) | (seq >> 8)  # tshark shows it in both byte orders (Windows pings were LE)
    info = f"{label:<20} id=0x{ident:04x}, seq={seq}/{swapped}" + ("" if ttl is None else f", ttl={ttl}")
    return info if len(payload) >= 20 or len(payload) >= _ICMP_LENGTHS[kind] else info + MALFORMED


#: The echo types tshark pairs (RFC 792, RFC 4443 4.1): IP version -> {type: whether it is the reply}.
_ECHOES = {4: {8: False, 0: True}, 6: {128: False, 129: True}}


def echo_key(version: int, payload: bytes) -> tuple[bool, int, int, int] | None:
    """``(is_reply, identifier, sequence number, sum)`` of an ICMP (``version`` 4) or ICMPv6 (6) echo request or
    reply, whatever its code; None for any other message.

    ``sum`` is the message's checksum field with the type octet's share added back, modulo 0xFFFF (ones'
    complement, so 0x0000 and 0xFFFF are one value): the same for a request and the reply that echoes its data
    (RFC 792, RFC 4443 4.2; the ICMPv6 pseudo-header holds the same two addresses, swapped).
    :func:`ikelab.dissect_rows.link_echoes` pairs requests and replies with it, as tshark does."""
    echoes = _ECHOES.get(version)
    if echoes is None or len(payload) < 8 or (reply := echoes.get(payload[0])) is None:
        return None
    checksum, ident, seq = struct.unpack_from("!HHH", payload, 2)
    return reply, ident, seq, (checksum + (payload[0] << 8)) % 0xFFFF
