"""AH, the IP Authentication Header (RFC 4302): integrity for the payload *and* the IP header.

The header (RFC 4302 2)::

    Next Header (1) | Payload Len (1) | RESERVED (2) | SPI (4) | Sequence Number (4) | ICV (variable)

"Payload Len" is the AH length "in 32-bit words (4-byte units), minus 2"
(2.2), and the ICV field is padded so that the AH length is a multiple of 32
bits over IPv4 and 64 bits over IPv6 (2.6).

Unlike ESP, the ICV also covers the IP header (3.3.3.1).  Fields that routers
change in flight are *mutable* and taken as zero for the computation:

* IPv4 (3.3.3.1.1): DSCP/TOS and ECN, Flags, Fragment Offset, TTL, Header
  Checksum, and every option other than EOL, NOP, Security, Extended
  Security, Commercial Security, Router Alert and SDMD (appendix A1) -- those
  mutable options are zeroed whole.  Loose and Strict Source Route make the
  destination address "mutable but predictable"; ikelab does not predict it
  and refuses those options rather than compute an ICV no peer would.
* IPv6 (3.3.3.1.2): Traffic Class, Flow Label and Hop Limit.  In a
  Hop-by-Hop or Destination Options header before AH (3.3.3.1.2.2), the
  Option Data of an option whose type has the "chg" bit (0x20, RFC 8200 4.2)
  set is zeroed; its type and length, and every other option, are covered.
  A Routing header before AH is "mutable but predictable" (3.3.3.1.2.3,
  appendix A2): ikelab does not predict it and refuses it, as it refuses a
  Fragment header there (appendix A2: fragments are reassembled before AH).

Everything else is immutable: version, lengths, identification, protocol and
**both addresses**.  That is the lesson AH teaches by contrast: a NAT that
rewrites the source address breaks the AH ICV, while ESP in tunnel mode,
whose ICV starts at its own SPI, survives it (see ``tests/test_ah.py``).

With ESN the high 32 sequence bits are not sent but enter the ICV: RFC 4302
3.3.3.2.2, "these bits are appended (implicitly) immediately after the end
of the payload".  Transport mode puts AH after the IPv6 extension headers
the packet already has: AH is an end-to-end payload, after the Hop-by-Hop,
Routing and Fragment headers (3.1.1).  The prediction of source-routed
destinations (IPv4 source route options, IPv6 Routing headers) is not
implemented.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from . import packet as ip
from .constants import IntegId, lookup
from .errors import ConfigError, IkelabError, ParseError, UnknownSpiError
from .ipsec_sa import (Direction, Lifetime, Mode, SaBase, fragment_error, key_bytes, rewrite_ip_header, transport_check,
                       with_congestion_mark)
from .replay import DEFAULT_WINDOW

__all__ = [
    "AH_HEADER_LEN",
    "AhHeader",
    "AhSa",
    "ah_icv_coverage",
    "icv_field_len",
    "parse_ah",
    "zero_mutable_fields",
]

AH_HEADER_LEN = 12  # Next Header .. Sequence Number
_MASK32 = 0xFFFFFFFF

# RFC 4302 appendix A1: IPv4 options that are immutable and so included as they are.
_IMMUTABLE_V4_OPTIONS = frozenset({0, 1, 130, 133, 134, 148, 149})
# RFC 4302 3.3.3.1.1.1: with these the destination address is "mutable but predictable" (the route's last hop)
_SOURCE_ROUTE_V4_OPTIONS = {131: "Loose Source Route", 137: "Strict Source Route"}
# IPv6 extension headers (RFC 8200 4) that may stand between the IPv6 header and AH
_V6_HOP_BY_HOP, _V6_ROUTING, _V6_FRAGMENT, _V6_DEST_OPTS = 0, 43, 44, 60
_V6_OPTION_CHG = 0x20  # RFC 8200 4.2: the third-highest bit of an Option Type set = its Option Data may change


class AhHeader(NamedTuple):
    """A parsed AH header (RFC 4302 2)."""

    next_header: int
    payload_len: int
    spi: int
    seq: int
    icv_field: bytes

    @property
    def length(self) -> int:
        """The AH length in bytes: ``(Payload Len + 2) * 4``."""
        return (self.payload_len + 2) * 4


def icv_field_len(icv_len: int, ip_version: int) -> int:
    """The ICV field with its padding: AH must be a multiple of 4 bytes (IPv4) or 8 bytes (IPv6), RFC 4302 2.6."""
    if isinstance(icv_len, bool) or not isinstance(icv_len, int) or icv_len < 0:
        raise ConfigError(f"icv_len must be a number of bytes >= 0, not {icv_len!r:.40}", field="icv_len",
                          value=icv_len)
    if ip_version not in (4, 6):
        raise ConfigError(f"ip_version must be 4 or 6, not {ip_version!r:.40}", field="ip_version", value=ip_version)
    align = 4 if ip_version == 4 else 8
    return icv_len + (-(AH_HEADER_LEN + icv_len) % align)


def parse_ah(data: bytes, offset: int = 0) -> AhHeader:
    """Parse the AH header at ``data[offset:]``; ParseError on short or inconsistent input."""
    if data.__class__ is not bytes:
        data = key_bytes(data, "data")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ConfigError(f"offset must be a byte offset >= 0, not {offset!r:.40}", field="offset", value=offset)
    if len(data) < offset + AH_HEADER_LEN:
        raise ParseError(f"AH header needs 12 bytes, only {max(len(data) - offset, 0)} present", field="ah_header",
                         offset=offset)
    nh, plen, reserved, spi, seq = struct.unpack_from("!BBHII", data, offset)
    length = (plen + 2) * 4
    if length < AH_HEADER_LEN:
        raise ParseError(f"AH Payload Len {plen} gives {length} bytes, less than the 12-byte header",
                         field="payload_len", offset=offset + 1)
    if len(data) < offset + length:
        raise ParseError(f"AH of {length} bytes runs past the packet", field="payload_len", offset=offset + 1)
    # a non-zero RESERVED field is ignored, as RFC 4302 2.3 says a recipient SHOULD (the ICV covers it)
    if spi == 0:
        raise ParseError("SPI 0 is never valid for AH (RFC 4302 2.4)", field="spi", offset=offset + 4)
    return AhHeader(nh, plen, spi, seq, bytes(data[offset + AH_HEADER_LEN : offset + length]))


def zero_mutable_fields(header: bytes) -> bytes:
    """An IP header with its mutable fields zeroed, as the AH ICV sees it (RFC 4302 3.3.3.1)."""
    h = bytearray(key_bytes(header, "header"))  # bytearray(20) would be 20 zero bytes, not an error
    if not h:
        raise ParseError("empty IP header", field="version", offset=0)
    version = h[0] >> 4
    if version == 6:
        if len(h) < 40:
            raise ParseError(f"IPv6 header needs 40 bytes, only {len(h)} present", field="ipv6_header", offset=len(h))
        h[0] &= 0xF0  # traffic class (high nibble) ...
        h[1:4] = b"\x00\x00\x00"  # ... traffic class (low nibble) and flow label
        h[7] = 0  # hop limit
        if len(h) != 40:
            _zero_v6_extensions(h)
        return bytes(h)
    if version != 4 or len(h) < 20:
        raise ParseError(f"not an IPv4 or IPv6 header (version {version}, {len(h)} bytes)", field="version", offset=0)
    if (h[0] & 0x0F) * 4 != len(h):  # else options would be read from the payload, or cut short
        raise ParseError(f"IPv4 IHL {h[0] & 0x0F} says {(h[0] & 0x0F) * 4} header bytes, {len(h)} given",
                         field="ihl", offset=0)
    h[1] = 0  # DSCP + ECN
    h[6:8] = b"\x00\x00"  # flags + fragment offset
    h[8] = 0  # TTL
    h[10:12] = b"\x00\x00"  # header checksum
    i = 20
    while i < len(h):
        kind = h[i]
        if kind == 0:  # End of Option List: the rest is padding, immutable
            break
        if kind == 1:  # No Operation
            i += 1
            continue
        if i + 1 >= len(h) or h[i + 1] < 2 or i + h[i + 1] > len(h):
            raise ParseError(f"IPv4 option {kind} has a bad length", field="ipv4_options", offset=i + 1)
        length = h[i + 1]
        if kind in _SOURCE_ROUTE_V4_OPTIONS:
            raise ParseError(f"IPv4 option {kind} ({_SOURCE_ROUTE_V4_OPTIONS[kind]}) makes the destination mutable but "
                             "predictable (RFC 4302 3.3.3.1.1.1): not supported by ikelab", field="ipv4_options",
                             offset=i)
        if kind not in _IMMUTABLE_V4_OPTIONS:
            h[i : i + length] = bytes(length)
        i += length
    return bytes(h)


def _v6_next_header_offset(h: bytes | bytearray) -> tuple[int, int]:
    """The offset of the last Next Header field in an IPv6 header with its extension headers (RFC 8200 4), and the
    type of the last extension header.

    ``h`` must end exactly after an extension header; only Hop-by-Hop (first) and Destination Options may stand
    before AH: a ParseError names any other header and the offset where it starts.
    """
    nh_at, offset, kind = 6, 40, -1
    while offset < len(h):
        kind = h[nh_at]
        if kind == _V6_ROUTING:
            raise ParseError("IPv6 Routing header before AH: its addresses are mutable but predictable (RFC 4302 "
                             "3.3.3.1.2.3, appendix A2) and ikelab does not predict them", field="routing_header",
                             offset=offset)
        if kind == _V6_FRAGMENT:
            raise ParseError("IPv6 Fragment header before AH: fragments are reassembled before AH processing "
                             "(RFC 4302 3.4.1, appendix A2)", field="fragment_header", offset=offset)
        if kind not in (_V6_HOP_BY_HOP, _V6_DEST_OPTS) or (kind == _V6_HOP_BY_HOP and offset != 40):
            raise ParseError(f"IPv6 next header {kind} where ikelab expects Hop-by-Hop (first) or Destination "
                             "Options before AH", field="next_header", offset=nh_at)
        if offset + 8 > len(h) or offset + (h[offset + 1] + 1) * 8 > len(h):
            raise ParseError(f"IPv6 extension header {kind} runs past the {len(h)}-byte header",
                             field="hdr_ext_len", offset=offset + 1)
        nh_at, offset = offset, offset + (h[offset + 1] + 1) * 8
    return nh_at, kind


def _zero_v6_extensions(h: bytearray) -> None:
    """Zero the Option Data of mutable options in the Hop-by-Hop and Destination Options headers of ``h``.

    RFC 4302 3.3.3.1.2.2: an option whose "chg" bit says it may change en route counts with its whole Option
    Data as zeros; its Option Type and Opt Data Len, and every immutable option (Pad1 and PadN too), are covered.
    """
    nh_at, last = _v6_next_header_offset(h)  # the chain holds only option headers, each inside h ...
    if h[nh_at] != ip.PROTO_AH:  # ... and the last of them announces AH
        raise ParseError(f"IPv6 extension header {last} at offset {nh_at}, the last before AH, announces next "
                         f"header {h[nh_at]}, not AH ({ip.PROTO_AH})", field="next_header", offset=nh_at)
    offset = 40
    while offset < len(h):
        end = offset + (h[offset + 1] + 1) * 8
        i = offset + 2
        while i < end:
            if h[i] == 0:  # Pad1: a single octet
                i += 1
                continue
            if i + 2 > end or i + 2 + h[i + 1] > end:
                raise ParseError(f"IPv6 option {h[i]} runs past its extension header", field="ipv6_options",
                                 offset=i + 1)
            if h[i] & _V6_OPTION_CHG:
                h[i + 2 : i + 2 + h[i + 1]] = bytes(h[i + 1])
            i += 2 + h[i + 1]
        offset = end


def _with_v6_extensions(pkt: ip.IpPacket, protocol: int, payload: bytes) -> bytes:
    """``pkt``'s IPv6 header and extension headers with the last Next Header set to ``protocol`` and the Payload
    Length fixed, then ``payload``: where AH goes in (transport mode out) and comes out (in)."""
    header = bytearray(pkt.header)
    nh_at, _ = _v6_next_header_offset(header)
    length = len(header) - 40 + len(payload)
    if length > 0xFFFF:
        raise ConfigError(f"IPv6 payload length {length} exceeds 65535", field="payload", value=length)
    header[4:6] = length.to_bytes(2, "big")
    header[nh_at] = protocol
    return bytes(header) + payload


def ah_icv_coverage(packet: bytes, header_len: int, *, seq_hi: int | None = None, icv_len: int | None = None) -> bytes:
    """The exact bytes the AH ICV is computed over (RFC 4302 3.3.3.1, 3.3.3.2).

    ``packet`` is the whole IP packet with AH at ``header_len``: the IP header
    with mutable fields zeroed, the AH header with its ICV (the first
    ``icv_len`` bytes of the field; all of it when None) zeroed, the padding
    after the ICV as the sender chose it (3.3.3.2.1: "included in the ICV
    calculation"), the rest as it is, then ``seq_hi`` (4 bytes) when ESN is in use.
    """
    if icv_len is not None and (isinstance(icv_len, bool) or not isinstance(icv_len, int) or icv_len < 0):
        raise ConfigError(f"icv_len must be a number of bytes >= 0 or None, not {icv_len!r:.40}", field="icv_len",
                          value=icv_len)
    if seq_hi is not None and (isinstance(seq_hi, bool) or not isinstance(seq_hi, int) or not 0 <= seq_hi <= _MASK32):
        raise ConfigError(f"seq_hi must be the 32 high ESN bits or None, not {seq_hi!r:.40}", field="seq_hi",
                          value=seq_hi)
    try:
        ah = parse_ah(packet, header_len)
    except ConfigError as exc:  # parse_ah's names for them, data and offset: say the caller's, on the failure path
        name = {"data": "packet", "offset": "header_len"}.get(exc.field or "")
        if name is None:
            raise
        value = packet if name == "packet" else header_len
        message = str(exc)
        message = name + message[len(exc.field):] if message.startswith(exc.field) else f"{name}: {message}"
        raise ConfigError(message, field=name, value=value) from None
    field = ah.icv_field
    zeroed = len(field) if icv_len is None else min(icv_len, len(field))
    covered = (
        zero_mutable_fields(packet[:header_len])
        + packet[header_len : header_len + AH_HEADER_LEN]
        + bytes(zeroed) + field[zeroed:]
        + packet[header_len + ah.length :]
    )
    return covered + struct.pack("!I", seq_hi) if seq_hi is not None else covered


class AhSa(SaBase):
    """One AH security association (RFC 4302): same shape as :class:`ikelab.esp.EspSa`, integrity only."""

    protocol = ip.PROTO_AH
    protocol_name = "AH"

    def __init__(
        self,
        spi: int | bytes,
        *,
        direction: Direction | str,
        integrity: Any,
        integrity_key: bytes,
        mode: Mode | str = Mode.TUNNEL,
        esn: bool = False,
        replay_window: int = DEFAULT_WINDOW,
        lifetime: Lifetime | None = None,
        created: float = 0.0,
        tunnel: tuple[ip.IpAddress, ip.IpAddress] | None = None,
        initial_seq: int = 0,
        allow_weak: bool = False,
    ) -> None:
        self._init_common(spi, direction, mode, esn, replay_window, lifetime, created, initial_seq, tunnel)
        if hasattr(integrity, "compute") and hasattr(integrity, "icv_len"):
            self.integrity = integrity
        else:
            if integrity is None or lookup(IntegId, integrity, field="integrity") is IntegId.NONE:
                raise ConfigError("AH needs an integrity transform: it is all AH does (RFC 4302 1)", field="integrity",
                                  value=integrity)
            from . import transforms

            self.integrity = transforms.integrity(integrity, allow_weak=allow_weak)
        self.integrity_key = key_bytes(integrity_key, "integrity_key")
        if len(self.integrity_key) != self.integrity.key_len:
            raise ConfigError(
                f"{self.integrity.name} needs a {self.integrity.key_len}-byte key, got {len(self.integrity_key)}",
                field="integrity_key",
                value=len(self.integrity_key),
            )

    def __repr__(self) -> str:
        return (
            f"AhSa(spi=0x{self.spi:08x}, {self.direction.value}, {self.mode.value}, {self.integrity.name}"
            f"{', ESN' if self.esn else ''}, seq={self.seq})"
        )

    def _seq_hi(self, seq: int) -> int | None:
        return seq >> 32 if self.esn else None

    # -- outbound -------------------------------------------------------------------------------
    def protect_packet(self, ip_packet: bytes, *, now: float | None = None, ident: int = 0, ttl: int = 64) -> bytes:
        """``ip_packet`` with AH inserted (transport) or wrapped in an outer header plus AH (tunnel)."""
        pkt = ip.parse_ip(ip_packet)
        seq = self._next_seq(now)
        version = pkt.version if self.mode is Mode.TRANSPORT else self.tunnel[0].version  # type: ignore[index]
        field_len = icv_field_len(self.integrity.icv_len, version)
        ah_len = AH_HEADER_LEN + field_len

        def ah_bytes(next_header: int) -> bytes:
            return struct.pack("!BBHII", next_header, ah_len // 4 - 2, 0, self.spi, seq & _MASK32) + bytes(field_len)

        if self.mode is Mode.TUNNEL:
            src, dst = self.tunnel  # type: ignore[misc]
            inner = pkt.to_bytes()
            nh = 4 if pkt.version == 4 else 41
            unsigned = ip.ip_packet(src, dst, ip.PROTO_AH, ah_bytes(nh) + inner, ident=ident, ttl=ttl, tos=pkt.tos)
            header_len = 20 if src.version == 4 else 40
        elif pkt.version == 6 and len(pkt.header) != 40:  # AH after the extension headers (RFC 4302 3.1.1)
            if pkt.is_fragment:
                transport_check(pkt)
            unsigned = _with_v6_extensions(pkt, ip.PROTO_AH, ah_bytes(pkt.protocol) + pkt.payload)
            header_len = len(pkt.header)
        else:
            transport_check(pkt)
            unsigned = rewrite_ip_header(pkt, ip.PROTO_AH, ah_bytes(pkt.protocol) + pkt.payload)
            header_len = len(pkt.header)
        covered = ah_icv_coverage(unsigned, header_len, seq_hi=self._seq_hi(seq), icv_len=self.integrity.icv_len)
        icv = self.integrity.compute(self.integrity_key, covered)
        start = header_len + AH_HEADER_LEN
        signed = unsigned[:start] + icv + unsigned[start + len(icv) :]
        self.seq = seq
        self.counters.packets += 1
        self.counters.bytes += len(unsigned)  # what the ICV covers (RFC 4301 4.4.2.1)
        return signed

    # -- inbound --------------------------------------------------------------------------------
    def unprotect_packet(self, packet: bytes, *, now: float | None = None) -> bytes:
        """Verify the AH ICV of ``packet`` and return the packet without AH (transport) or the inner packet (tunnel).

        Checks in the order of RFC 4302 3.4: SPI, anti-replay pre-check, ICV
        in constant time, and only then the window update.  Errors are typed
        and counted as for ESP; none of them changes the window.
        """
        self._require(Direction.INBOUND)
        self._check_alive(now)
        try:
            pkt = ip.parse_ip(packet)
            fragment = fragment_error(pkt, "AH")
            if fragment is not None:  # counted by the except below
                raise fragment
            if pkt.protocol != ip.PROTO_AH:
                raise ParseError(f"IP protocol {pkt.protocol} is not AH (51)", field="protocol",
                                 offset=9 if pkt.version == 4 else 6)
            raw = pkt.to_bytes()
            header_len = len(pkt.header)
            ah = parse_ah(raw, header_len)
            if ah.spi != self.spi:
                raise UnknownSpiError(f"AH SPI 0x{ah.spi:08x} does not belong to SA 0x{self.spi:08x}", spi=ah.spi)
            seq = self._replay_check(ah.seq)
            expected = icv_field_len(self.integrity.icv_len, pkt.version)
            if len(ah.icv_field) != expected:
                raise ParseError(
                    f"AH ICV field is {len(ah.icv_field)} bytes, {self.integrity.name} over IPv{pkt.version} "
                    f"needs {expected}",
                    field="payload_len",
                    offset=header_len + 1,
                )
            covered = ah_icv_coverage(raw, header_len, seq_hi=self._seq_hi(seq), icv_len=self.integrity.icv_len)
            self.integrity.verify(self.integrity_key, covered, ah.icv_field[: self.integrity.icv_len])
            payload = raw[header_len + ah.length :]
            if self.mode is Mode.TUNNEL:
                want = {4: 4, 41: 6}.get(ah.next_header)
                inner = ip.parse_ip(payload)
                if want != inner.version:
                    raise ParseError(f"tunnel-mode AH next header {ah.next_header} does not announce "
                                     f"IPv{inner.version}", field="next_header", offset=header_len)
                result = with_congestion_mark(pkt, inner.to_bytes())
            elif pkt.version == 6 and header_len != 40:
                result = _with_v6_extensions(pkt, ah.next_header, payload)
            else:
                result = rewrite_ip_header(pkt, ah.next_header, payload)
        except IkelabError as exc:
            self._count_error(exc)
            raise
        self._replay_update(seq)
        self.seq = max(self.seq, seq)
        self.counters.packets += 1
        self.counters.bytes += len(raw)  # what the ICV covers (RFC 4301 4.4.2.1)
        return result
