"""Capture files: classic libpcap and pcapng, written and read.

This module gathers the public names: :mod:`ikelab.pcap_write` writes captures,
:mod:`ikelab.pcap_read` reads them, :mod:`ikelab.pcap_format` holds what both share,
and :func:`ip_payload` (here) takes the link layer off a captured frame.

Formats (draft-ietf-opsawg-pcap and draft-ietf-opsawg-pcapng, the
descriptions of the libpcap and pcapng formats):

* **libpcap**: a 24-byte file header ``magic|version 2.4|thiszone|sigfigs|
  snaplen|linktype`` then, per packet, ``ts_sec|ts_usec|incl_len|orig_len|
  data``.  Magic 0xA1B2C3D4 means microsecond timestamps, 0xA1B23C4D
  nanoseconds; the byte order of the magic gives the byte order of the file.
* **pcapng**: a sequence of blocks ``type|total length|body|total length``.
  A Section Header Block (SHB, type 0x0A0D0D0A, byte-order magic 0x1A2B3C4D)
  opens each section, Interface Description Blocks (IDB, type 1) give each
  interface's link type and time resolution (option ``if_tsresol``, default
  10^-6 s), Enhanced Packet Blocks (EPB, type 6) hold time-stamped packets
  (option ``opt_comment`` = 1 for a comment) and Simple Packet Blocks (SPB,
  type 3) hold packets without timestamps.  Unknown blocks are skipped.

Time is a float of seconds.  Writing converts it to an integer number of
microseconds by rounding the float's *exact* value to the nearest
microsecond (ties, which only dyadic values such as 2**-7 can produce, go to
even); so 1.0000005 (stored as 1.00000050000000007) becomes 1000001 us and
1.0000015 (stored as 1.00000149999999999) becomes 1000001 us.  Reading turns
the stored integer back into the nearest float.

Damage is reported, never ignored: a corrupt or foreign file raises
:class:`~ikelab.errors.CaptureError` naming the byte offset and what was
wrong (``err.offset`` holds the offset).  A file whose *last record is cut
short* also raises CaptureError by default; with ``strict=False`` the reader
returns every complete packet before it and issues a
:class:`~ikelab.errors.CaptureWarning` saying where the file was cut.
A file that cannot be opened (missing, no permission) is a CaptureError too, naming the path.
"""

from __future__ import annotations

from .errors import ConfigError, ParseError
from .packet import ETHERTYPE_IPV4, ETHERTYPE_IPV6, parse_ethernet
from .pcap_format import (_AF_INET, _AF_INET6, _RAW_IP, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6,
                          LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW,
                          CapturedPacket)
from .pcap_read import iter_capture, read_capture
from .pcap_write import write_pcap, write_pcapng

__all__ = [
    "CapturedPacket",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "ip_payload",
    "iter_capture",
    "read_capture",
    "write_pcap",
    "write_pcapng",
]


def _ip_by_ethertype(ethertype: int, payload: bytes) -> bytes | None:
    return payload if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6) else None


def ip_payload(captured_packet: CapturedPacket) -> bytes | None:
    """The IP packet inside a captured frame, whatever its link type; None if it is not IP.

    Handles Ethernet (1, VLAN tags skipped), raw IP (101, 228, 229, and the
    older DLT_RAW values 12 and 14, as Wireshark reads them), BSD
    null/loopback (0, 108) and Linux cooked captures SLL (113, 16-byte
    header, protocol at bytes 14-15) and SLL2 (276, 20-byte header, protocol
    at bytes 0-1).  Unknown link types give None.  A frame too short for its
    link-layer header raises :class:`~ikelab.errors.ParseError`.
    """
    try:
        data = captured_packet.data
        kind = captured_packet.linktype
    except AttributeError:
        hint = ""
        if isinstance(captured_packet, (bytes, bytearray)):
            hint = "; CapturedPacket(0.0, frame, LINKTYPE_ETHERNET) wraps a frame"
        raise ConfigError(f"ip_payload: captured_packet must be a CapturedPacket (as read_capture gives), not "
                          f"{type(captured_packet).__name__}{hint}", field="captured_packet",
                          value=captured_packet) from None
    if kind == LINKTYPE_ETHERNET:
        frame = parse_ethernet(data)
        return _ip_by_ethertype(frame.ethertype, frame.payload)
    if kind in _RAW_IP:
        return data if data and data[0] >> 4 in (4, 6) else None
    if kind in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            raise ParseError(
                f"loopback header needs 4 bytes, only {len(data)} present", field="family", offset=len(data)
            )
        family = int.from_bytes(data[:4], "big")
        if kind == LINKTYPE_NULL and family > 0xFFFF:
            family = int.from_bytes(data[:4], "little")  # written in little-endian host order
        return data[4:] if family in _AF_INET or family in _AF_INET6 else None
    if kind == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            raise ParseError(
                f"Linux cooked header needs 16 bytes, only {len(data)} present", field="sll_header", offset=len(data)
            )
        return _ip_by_ethertype(int.from_bytes(data[14:16], "big"), data[16:])
    if kind == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            raise ParseError(
                f"Linux cooked v2 header needs 20 bytes, only {len(data)} present",
                field="sll2_header", offset=len(data)
            )
        return _ip_by_ethertype(int.from_bytes(data[0:2], "big"), data[20:])
    return None
