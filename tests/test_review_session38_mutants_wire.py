"""Session 38: mutation testing of the wire codecs, the captures and the dissector, and the gaps it found.

98 small deliberate bugs were put, one at a time, into the payload codecs (RFC 7296 3.2-3.16), the
IKE header, IKE fragment reassembly (RFC 7383), the pcap/pcapng reader and writer and the Wireshark key
tables and the dissector; the existing wire, capture and tshark tests caught 78.  Each test here catches one that
they missed (named in its docstring).  Every expected octet is built here with :mod:`struct` from the RFC
layouts, never by ikelab.  Equivalent mutants are listed in the session report, not tested.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ikelab import packet as ip
from ikelab import transforms
from ikelab.constants import PayloadType
from ikelab.dissect_esp import _describe_inner
from ikelab.dissect_ike import payload_names
from ikelab.dissect_keys import EspOpener
from ikelab.dissect_rows import Row
from ikelab.errors import CaptureError, ParseError
from ikelab.message import strip_non_esp_marker
from ikelab.payloads import Nonce, UnknownPayload, decode_chain
from ikelab.pcap_read import read_capture
from ikelab.pcap_write import write_pcap
from ikelab.uat import quote, split_line
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
    esp = struct.pack("!II", spi, 1) + bytes(32)
    assert strip_non_esp_marker(esp) is None
    assert strip_non_esp_marker(bytes(4) + esp) == esp


# ------------------------------------------------------------------ pcap file header (libpcap format)

def test_a_pcap_file_cut_to_a_snaplen_says_that_snaplen_in_its_header() -> None:
    """The libpcap file header (magic, version 2.4, thiszone, sigfigs, snaplen, network) carries the
    snapshot length the packets were cut to; Wireshark shows it as "Packet size limit: file hdr".  A file
    written with ``snaplen=100`` must say 100, with each cut record's incl_len 100 and orig_len the whole
    packet's length.  (Mutant killed: the header's snaplen always written as 65535.)"""
    out = io.BytesIO()
    write_pcap(out, [(1.5, bytes(range(200)))], snaplen=100)
    data = out.getvalue()
    assert struct.unpack_from("<IHHiIII", data, 0) == (0xA1B2C3D4, 2, 4, 0, 0, 100, 1)
    assert struct.unpack_from("<IIII", data, 24) == (1, 500000, 100, 200)
    assert data[40:] == bytes(range(100))


def _pcapng_block(block_type: int, body: bytes) -> bytes:
    """A pcapng block (type, total length, body, total length again), little-endian."""
    return struct.pack("<II", block_type, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


#: a Section Header Block (little-endian, version 1.0, section length unknown) and one Ethernet interface
_SECTION = (_pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
            + _pcapng_block(1, struct.pack("<HHI", 1, 0, 0)))


def test_the_fcs_bits_of_a_pcap_link_type_field_are_not_part_of_the_link_type() -> None:
    """The pcap header's LinkType field carries the link type in its low 16 bits; the top bits may say an
    FCS of some length ends each packet (the P bit, 0x04000000, and FCS len in bits 28-31).  A file from an
    Ethernet capture with FCS information is still link type 1 (LINKTYPE_ETHERNET).
    (Mutant killed: the whole 32-bit field taken as the link type.)"""
    frame = bytes(60)
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 0x14000001)
    data += struct.pack("<IIII", 7, 0, len(frame), len(frame)) + frame
    (packet,) = read_capture(io.BytesIO(data))
    assert packet.linktype == 1
    assert packet.data == frame


def test_an_enhanced_packet_block_whose_captured_length_runs_past_its_body_is_refused() -> None:
    """pcapng EPB: Captured Packet Length says how many octets of Packet Data follow the 20-octet fixed
    part inside the block.  A Captured Length of 8 where only 4 octets follow is a corrupt block (tshark:
    "packet data length ... is too large"), not a 4-octet packet.
    The error names the field at fault, so a user can find it with a hex editor.
    (Mutant killed: the bound loosened by the 4 octets of the trailing Block Total Length, which left the
    error to the options check with a message about options, not about the captured length.)"""
    good = _pcapng_block(6, struct.pack("<IIIII", 0, 0, 0, 4, 4) + b"abcd")
    bad = _pcapng_block(6, struct.pack("<IIIII", 0, 0, 0, 8, 8) + b"abcd")
    assert read_capture(io.BytesIO(_SECTION + good))[0].data == b"abcd"
    with pytest.raises(CaptureError, match="captured length 8"):
        read_capture(io.BytesIO(_SECTION + bad))


def test_a_packet_naming_an_interface_that_was_never_described_is_a_capture_error() -> None:
    """pcapng EPB: Interface ID indexes the section's Interface Description Blocks, counted from 0.  With
    one IDB, interface 1 does not exist: a CaptureError, not an IndexError from inside the reader.
    (Mutant killed: ``if_id > len(interfaces)``, off by one.)"""
    epb = _pcapng_block(6, struct.pack("<IIIII", 1, 0, 0, 4, 4) + b"abcd")
    with pytest.raises(CaptureError, match="interface 1"):
        read_capture(io.BytesIO(_SECTION + epb))


def test_a_pcapng_block_length_that_is_not_a_multiple_of_four_is_refused() -> None:
    """pcapng (draft-ietf-opsawg-pcapng 3.1): Block Total Length "MUST be a multiple of 4"; Wireshark
    refuses a file whose block says 13, even when the trailer repeats 13 and the block is one ikelab
    would skip unread.  (Mutant killed: the ``total % 4`` check dropped.)"""
    odd = _pcapng_block(0x00000BAD, b"\x00")  # 13 octets
    assert len(odd) == 13
    assert read_capture(io.BytesIO(_SECTION)) == []
    with pytest.raises(CaptureError, match="block length 13"):
        read_capture(io.BytesIO(_SECTION + odd))


# ------------------------------------------------------------------ Wireshark UAT text (uat_esc)

def test_a_uat_field_escapes_del_as_wireshark_writes_it() -> None:
    """Wireshark's ``uat_esc`` writes an octet of a quoted field verbatim only when it is printable ASCII
    (g_ascii_isprint: 0x20..0x7E) and not ``"`` or ``\\``; DEL (0x7F) is written ``\\x7f``, as a control
    character is.  (Mutant killed: the printable range taken up to 0x7F inclusive.)"""
    assert quote("a\x7fb") == '"a\\x7fb"'
    assert quote("~ ") == '"~ "'
    assert quote("\x1f") == '"\\x1f"'


@pytest.mark.parametrize("line", ['"ab\\x4"', '"ab\\x4g"', '"ab\\x"'])
def test_a_hex_escape_without_two_hex_digits_is_a_capture_error(line: str) -> None:
    """Wireshark's UAT ``\\xNN`` escape takes two hex digits; a key table with ``\\x4"`` or ``\\x4g`` in
    a quoted field is malformed, and reading it gives a typed CaptureError naming the line, never a
    ValueError or IndexError from inside the parser.
    (Mutant killed: only the first digit checked.)"""
    with pytest.raises(CaptureError, match="line 3: bad escape"):
        split_line(line, 3, "esp_sa")


def test_letter_escapes_are_the_c_control_characters() -> None:
    """Wireshark's ``uat_unesc`` reads the C letter escapes: ``\\b`` backspace 0x08, ``\\t`` tab 0x09,
    ``\\n`` line feed 0x0A, ``\\r`` 0x0D, ``\\a`` bell 0x07.
    (Mutant killed: ``\\b`` read as 0x09.)"""
    assert split_line('"\\b\\t\\n\\r\\a",x', 1, "esp_sa") == [("\x08\x09\x0a\x0d\x07", True), ("x", False)]


# ------------------------------------------------------------------ dissector payload list (RFC 7296 3.2)

def test_an_unknown_payload_is_listed_with_its_type_number() -> None:
    """A payload type ikelab does not know (kept because its Critical bit is clear, RFC 7296 3.2) is listed
    with its number, so two different unknown payloads can be told apart in the packet list.
    (Mutant killed: every unknown payload listed as plain ``UNKNOWN``.)"""
    names = payload_names([Nonce(bytes(16)), UnknownPayload(200, b"x"), UnknownPayload(201, b"")], False)
    assert names == ("Ni", "UNKNOWN(200)", "UNKNOWN(201)")


# ------------------------------------------------------------------ the decrypted inner packet (RFC 4303 2.6)

def test_a_decrypted_inner_packet_shorter_than_its_total_length_gets_a_note() -> None:
    """An inner IPv4 packet whose Total Length claims more octets than the ESP payload holds is malformed;
    the row keeps the inner protocol and says why instead of describing a cut packet as whole.
    (Mutants killed: the ``total > len(data)`` and ``total < ihl`` checks of the IP reader dropped.)"""
    inner = ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, b"x" * 16)
    row = Row(1, 0.0, "192.0.2.1", "192.0.2.2")
    _describe_inner(row, 4, inner[:-4])
    assert row.inner_protocol == "IPv4" and "total length" in row.note
    header_only = Row(1, 0.0, "192.0.2.1", "192.0.2.2")  # Total Length 12, less than the 20-octet header
    _describe_inner(header_only, 4, inner[:2] + bytes([0, 12]) + inner[4:])
    assert header_only.inner_protocol == "IPv4" and "header length" in header_only.note
    whole = Row(1, 0.0, "192.0.2.1", "192.0.2.2")
    _describe_inner(whole, 4, inner)
    assert (whole.inner_src, whole.inner_dst, whole.inner_protocol, whole.note) == ("10.1.0.5", "10.2.0.9", "ICMP", "")


def test_a_udp_inner_packet_reads_as_tshark_lists_udp() -> None:
    """tshark's Info for UDP: "sport → dport Len=N", N the UDP payload length (the UDP Length field minus
    the 8-octet header).  In transport mode (RFC 4303 3.1.1) the inner packet is the upper layer itself,
    between the outer addresses, source and destination unchanged.
    (Mutants killed: Len counting the UDP header; transport mode swapping the inner addresses.)"""
    udp = struct.pack("!HHHH", 5000, 53, 8 + 11, 0) + b"hello world"
    tunnel = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         bytes([10, 1, 0, 5]), bytes([10, 2, 0, 9])) + udp
    row = Row(1, 0.0, "192.0.2.1", "192.0.2.2")
    _describe_inner(row, 4, tunnel)
    assert row.inner_info == "5000 \u2192 53 Len=11"
    transport = Row(1, 0.0, "192.0.2.1", "192.0.2.2")
    _describe_inner(transport, 17, udp)
    assert (transport.inner_src, transport.inner_dst, transport.inner_protocol) == ("192.0.2.1", "192.0.2.2", "UDP")


def test_an_esp_packet_whose_cbc_ciphertext_is_not_whole_blocks_is_a_parse_error() -> None:
    """RFC 3602 / RFC 4303 2.4: AES-CBC ciphertext is a whole number of 16-octet blocks.  A packet whose
    ICV verifies (the sender held the key) but whose ciphertext is 20 octets is malformed: a ParseError,
    never a "decrypted" payload from misaligned blocks.  The ICV is HMAC-SHA-256 truncated to 16 octets
    over SPI | Sequence Number | IV | ciphertext (RFC 4868 2.1), computed here with :mod:`hmac`; the whole-block
    packet is encrypted with ``cryptography``'s AES-CBC.
    (Mutant killed: only the minimum length checked, not the block multiple.)"""
    ekey, akey, iv = bytes(range(16)), bytes(range(32)), bytes(16)
    opener = EspOpener(transforms.encryption("ENCR_AES_CBC", 128), ekey,
                       transforms.integrity("AUTH_HMAC_SHA2_256_128"), akey)

    def sealed(ciphertext: bytes) -> bytes:
        body = struct.pack("!II", 0x1234, 1) + iv + ciphertext
        return body + hmac.new(akey, body, hashlib.sha256).digest()[:16]

    # whole blocks: 28 payload octets, Padding 01 02, Pad Length 2, Next Header 59 (RFC 4303 2.4-2.6)
    plaintext = b"x" * 28 + bytes([1, 2, 2, 59])
    encryptor = Cipher(algorithms.AES(ekey), modes.CBC(iv)).encryptor()
    assert opener.open(sealed(encryptor.update(plaintext) + encryptor.finalize()), 1) == (59, b"x" * 28)
    for size in (20, 36):
        with pytest.raises(ParseError, match="not whole AES blocks"):
            opener.open(sealed(bytes(size)), 1)
