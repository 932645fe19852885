"""Session 38: mutation testing of the wire codecs, the captures and the dissector, and the gaps it found.

About 80 small deliberate bugs were put, one at a time, into the payload codecs (RFC 7296 3.2-3.16), the
IKE header, IKE fragment reassembly (RFC 7383), the pcap/pcapng reader and writer and the Wireshark key
tables; the existing wire, capture and tshark tests caught all but a few.  Each test here catches one that
they missed (named in its docstring).  Every expected octet is built here with :mod:`struct` from the RFC
layouts, never by ikelab.  Equivalent mutants are listed in the session report, not tested.
"""

from __future__ import annotations

import struct

import pytest

from ikelab.constants import PayloadType
from ikelab.errors import ParseError
from ikelab.payloads import decode_chain
from ikelab.wire import DecodeContext


def _chain(ptype: int, body: bytes, trailer: bytes = b"") -> bytes:
    """One payload (generic header of RFC 7296 3.2, Next Payload 0) and ``body``, then ``trailer``."""
    return struct.pack("!BBH", 0, 0, 4 + len(body)) + body + trailer


# ------------------------------------------------------------------ TS payload (RFC 7296 3.13)

@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x00\x00"])
@pytest.mark.parametrize("ptype", [PayloadType.TSi, PayloadType.TSr])
def test_a_ts_payload_shorter_than_its_fixed_header_is_a_parse_error(ptype: int, body: bytes) -> None:
    """RFC 7296 3.13: a TS payload body starts with Number of TSs (1 octet) and 3 RESERVED octets; a body
    of fewer than 4 octets is malformed, whatever Number of TSs says (a body b"\\x00" is not "no
    selectors": RFC 7296 3.13 never allows an empty TS payload to be that short).  The octets that follow
    in the buffer belong to no payload and must not be read as its header.
    (Mutant killed: the ``end - start < 4`` check dropped, which read b"\\x00" as zero selectors.)"""
    wire = _chain(ptype, body)
    with pytest.raises(ParseError) as err:
        decode_chain(ptype, wire + b"\x01\x00\x00\x00", 0, len(wire), DecodeContext(0, None))
    assert err.value.field.endswith("number_of_ts")
    assert err.value.offset == 4


# ------------------------------------------------------------------ UDP/4500 demultiplexing (RFC 3948 2.2)

@pytest.mark.parametrize("spi", [1, 0xFF])
def test_an_esp_packet_whose_spi_has_three_zero_octets_is_not_an_ike_message(spi: int) -> None:
    """RFC 3948 2.2: on UDP port 4500 only all four octets of the Non-ESP Marker being zero make the
    datagram IKE; anything else is ESP, whose SPI field takes those octets.  An ESP packet with SPI 1 or
    255 (00 00 00 01, 00 00 00 ff) is not an IKE message.
    (Mutant killed: the marker compared on its first three octets only.)"""
    from ikelab.message import strip_non_esp_marker

    esp = struct.pack("!II", spi, 1) + bytes(32)
    assert strip_non_esp_marker(esp) is None
    assert strip_non_esp_marker(bytes(4) + esp) == esp


# ------------------------------------------------------------------ pcap file header (libpcap format)

def test_a_pcap_file_cut_to_a_snaplen_says_that_snaplen_in_its_header() -> None:
    """The libpcap file header (magic, version 2.4, thiszone, sigfigs, snaplen, network) carries the
    snapshot length the packets were cut to; Wireshark shows it as "Packet size limit: file hdr".  A file
    written with ``snaplen=100`` must say 100, with each cut record's incl_len 100 and orig_len the whole
    packet's length.  (Mutant killed: the header's snaplen always written as 65535.)"""
    import io

    from ikelab.pcap_write import write_pcap

    out = io.BytesIO()
    write_pcap(out, [(1.5, bytes(range(200)))], snaplen=100)
    data = out.getvalue()
    assert struct.unpack_from("<IHHiIII", data, 0) == (0xA1B2C3D4, 2, 4, 0, 0, 100, 1)
    assert struct.unpack_from("<IIII", data, 24) == (1, 500000, 100, 200)
    assert data[40:] == bytes(range(100))
