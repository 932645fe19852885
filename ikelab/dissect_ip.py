"""The IP layer of a dissection: the header read fast, a frame cut by the snaplen, IP fragments reassembled.

IPv4 (RFC 791 3.1) is read by a fast path and IPv6 (RFC 8200 3, 4) by
:mod:`ikelab.packet`; a length field that claims more than was captured is cut
to what is there, as Wireshark does.  Fragments are reassembled as Wireshark's
``ip.defragment`` does (:class:`_Fragments`, :mod:`ikelab.ip_fragments`, RFC 791
3.2, RFC 8200 4.5): the frame that completes a datagram is dissected as the
whole of it, and the earlier pieces are listed as fragments.
"""

from __future__ import annotations

import struct
from typing import Any

from .dissect_ike import _IkeFragments
from .dissect_rows import Row
from .errors import ParseError
from .frame_info import address as _addr

_IP_PROTOCOLS = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 41: "IPv6", 4: "IPv4", 47: "GRE", 50: "ESP", 51: "AH",
                 58: "ICMPv6", 132: "SCTP"}
#: Wireshark's names in "Fragmented IP protocol (proto=...)" where they differ from the Protocol column's.
_FRAGMENT_PROTOCOLS = {4: "IPIP", 47: "Generic Routing Encapsulation", 50: "Encap Security Payload",
                       51: "Authentication Header"}
_HH = struct.Struct("!HH")


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
        self.waiting_keys: dict[int, tuple[object, ...]] = {}  # frame number -> its datagram's fragment_key
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
        except ParseError as exc:  # the reassembler dropped the datagram: its earlier pieces are refused with it
            row.note = f"IP fragment not reassembled: {exc}"
            for no in [no for no, held in self.waiting_keys.items() if held == key]:
                self.waiting.pop(no).note = f"IP fragment not reassembled: its datagram was refused at #{row.no}"
                del self.waiting_keys[no]
        if whole is None:
            name = _FRAGMENT_PROTOCOLS.get(proto, row.protocol)
            row.protocol = f"IPv{version}"
            if version == 4:
                row.info = f"Fragmented IP protocol (proto={name} {proto}, off={offset}, ID={ident:04x})"
            else:
                row.info = f"IPv6 fragment (off={offset} more={'y' if more else 'n'} ident=0x{ident:08x} nxt={proto})"
            if not row.note:
                self.waiting[row.no] = row
                self.waiting_keys[row.no] = key
            return None
        for no in whole.frames:
            earlier = self.waiting.pop(no, None)
            self.waiting_keys.pop(no, None)
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
        self.waiting_keys.clear()

