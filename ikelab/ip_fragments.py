"""IP fragments: cutting a packet to fit a link's MTU, and putting the pieces back together.

An IKE_AUTH message with certificates easily outgrows a 1500-byte Ethernet
MTU.  Unless both peers negotiated IKE fragmentation (RFC 7383), the IP layer
cuts the UDP datagram into fragments, and a capture holds the pieces, not the
message.  Wireshark puts them back together before it dissects (its
``ip.defragment`` preference, on by default); :mod:`ikelab.dissect` does the
same with :class:`Reassembler`.

* **IPv4** (RFC 791 3.2): every fragment repeats the IP header; Fragment
  Offset counts 8-octet units; the More Fragments (MF) flag is set on all
  but the last.  A datagram is known by (source, destination, protocol,
  Identification).
* **IPv6** (RFC 8200 4.5): only the source fragments, adding a Fragment
  header (Next Header 44) with the offset, an M flag and a 32-bit
  Identification; a datagram is known by (source, destination,
  Identification).  Overlapping fragments make the whole datagram invalid
  (RFC 5722); for IPv4 this module refuses overlaps that disagree.  Wireshark
  reassembles IPv6 overlaps that agree, and so does :mod:`ikelab.dissect`
  (``Reassembler(strict_ipv6=False)``).

:func:`fragment` cuts a packet as a sender would (IPv4 headers without
options, IPv6 without other extension headers).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .errors import ConfigError, ParseError, check_seconds
from .packet import internet_checksum

__all__ = ["Reassembler", "Reassembled", "fragment", "fragment_key"]

_V6_FRAGMENT = 44
#: The largest upper-layer payload a datagram can have: IPv4's Total Length counts a 20-octet header too (RFC 791
#: 3.1); IPv6's Payload Length is 16 bits (RFC 8200 4.5: a fragment that would exceed it "must be discarded").
_MAX_PAYLOAD: dict[object, int] = {4: 65535 - 20, 6: 65535}


def fragment(packet: bytes, mtu: int, *, ident: int | None = None) -> list[bytes]:
    """Cut an IPv4 or IPv6 packet into fragments of at most ``mtu`` bytes (RFC 791 3.2, RFC 8200 4.5).

    A packet that fits is returned whole.  IPv4 options and IPv6 extension
    headers are refused (they would need RFC 791's "copied" rule and RFC
    8200's unfragmentable part).  IPv4 keeps the packet's own
    Identification (``ident`` replaces it) and refuses a packet with Don't
    Fragment set; IPv6 needs ``ident`` for its Fragment header (default 0).
    """
    if not isinstance(packet, (bytes, bytearray, memoryview)):  # bytes(5) would be five zero octets
        raise ConfigError(f"packet must be bytes, not {type(packet).__name__}", field="packet", value=packet)
    data = bytes(packet)
    if isinstance(mtu, bool) or not isinstance(mtu, int) or mtu < 68:
        raise ConfigError(f"mtu must be an int >= 68 (RFC 791's minimum), got {mtu!r}", field="mtu", value=mtu)
    if len(data) <= mtu:
        return [data]
    version = data[0] >> 4 if data else 0
    if version == 4:
        return _fragment_v4(data, mtu, ident)
    if version == 6:
        return _fragment_v6(data, mtu, 0 if ident is None else ident)
    raise ConfigError(f"not an IP packet: version nibble {version}", field="packet", value=version)


def _fragment_v4(data: bytes, mtu: int, ident: int | None) -> list[bytes]:
    ihl = (data[0] & 0x0F) * 4
    if ihl != 20:  # RFC 791 3.1: only options with the "copied" flag go into every fragment
        raise ConfigError(f"an IPv4 header with options ({ihl} bytes) is not supported here", field="packet", value=ihl)
    total = int.from_bytes(data[2:4], "big")
    if total != len(data):  # RFC 791 3.1: Total Length is what the fragments share out, not the bytes given
        raise ConfigError(f"the IPv4 Total Length {total} does not match the packet's {len(data)} bytes",
                          field="packet", value=total)
    flags_offset = (data[6] << 8) | data[7]
    if flags_offset & 0x4000:
        raise ConfigError("the packet has Don't Fragment set (RFC 791 3.2: it must not be fragmented)",
                          field="dont_fragment", value=True)
    if flags_offset & 0x3FFF:
        raise ConfigError("the packet is a fragment already", field="packet", value=flags_offset)
    header, payload = bytearray(data[:ihl]), data[ihl:]
    if ident is not None:
        if isinstance(ident, bool) or not isinstance(ident, int) or not 0 <= ident <= 0xFFFF:
            raise ConfigError(f"IPv4 Identification must be in 0..65535, got {ident!r}", field="ident", value=ident)
        header[4:6] = ident.to_bytes(2, "big")
    step = (mtu - ihl) // 8 * 8  # every fragment but the last carries a multiple of 8 octets
    out = []
    for start in range(0, len(payload), step):
        piece = payload[start : start + step]
        more = start + step < len(payload)
        h = bytearray(header)
        h[2:4] = (ihl + len(piece)).to_bytes(2, "big")
        h[6:8] = ((0x2000 if more else 0) | start // 8).to_bytes(2, "big")
        h[10:12] = b"\x00\x00"
        h[10:12] = internet_checksum(bytes(h)).to_bytes(2, "big")
        out.append(bytes(h) + piece)
    return out


def _fragment_v6(data: bytes, mtu: int, ident: int) -> list[bytes]:
    if isinstance(ident, bool) or not isinstance(ident, int) or not 0 <= ident <= 0xFFFFFFFF:
        raise ConfigError(f"IPv6 fragment ident must be in 0..2**32-1, got {ident}", field="ident", value=ident)
    next_header, payload = data[6], data[40:]
    if len(data) < 40 or int.from_bytes(data[4:6], "big") != len(payload):  # RFC 8200 3: Payload Length
        raise ConfigError(f"the IPv6 Payload Length does not match the packet's {len(data)} bytes", field="packet",
                          value=len(data))
    if next_header in (0, 43, 44, 60):  # RFC 8200 4.5: they belong to the unfragmentable part, or already fragment
        raise ConfigError(f"an IPv6 packet with extension header {next_header} is not supported here", field="packet",
                          value=next_header)
    step = (mtu - 48) // 8 * 8  # 40-byte header + 8-byte Fragment header
    out = []
    for start in range(0, len(payload), step):
        piece = payload[start : start + step]
        more = start + step < len(payload)
        frag = struct.pack("!BBHI", next_header, 0, start | int(more), ident)
        fixed = data[:4] + (8 + len(piece)).to_bytes(2, "big") + bytes([_V6_FRAGMENT]) + data[7:40]
        out.append(fixed + frag + piece)
    return out


# --------------------------------------------------------------------------- reassembly


def fragment_key(version: int, src: str, dst: str, protocol: int, ident: int) -> tuple[object, ...]:
    """What names one fragmented datagram: RFC 791 adds the protocol, RFC 8200 does not."""
    return (4, src, dst, protocol, ident) if version == 4 else (6, src, dst, ident)


@dataclass
class Reassembled:
    """A datagram put back together: its upper-layer ``payload`` and its pieces.

    ``pieces`` holds (frame number, bytes) in the order of the offsets, what
    Wireshark lists as ``[2 IPv4 Fragments (232 bytes): #6(176), #7(56)]``.
    """

    payload: bytes
    pieces: tuple[tuple[int, int], ...]

    @property
    def frames(self) -> tuple[int, ...]:
        return tuple(frame for frame, _ in self.pieces)


@dataclass
class _Pending:
    pieces: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # offset -> (data, frame number)
    end: int | None = None  # known once the last fragment (MF = 0) arrived
    held: int = 0  # octets held in pieces
    since: float | None = None  # the ``now`` of its first fragment, when the caller gives times


def _positive_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{field} must be a positive int, got {value!r}", field=field, value=value)
    return value


class Reassembler:
    """Collects fragments by :func:`fragment_key` and hands back each datagram once it is whole.

    :meth:`add` returns a :class:`Reassembled` for the fragment that
    completes a datagram, and None before that.  A fragment that disagrees
    with one already held raises :class:`~ikelab.errors.ParseError` and
    drops the datagram; for IPv6 (a :func:`fragment_key` that starts with 6)
    so does any overlap but an exact duplicate (RFC 8200 4.5), and for any
    datagram a piece beyond its 16-bit length (:data:`_MAX_PAYLOAD`).  At most
    ``max_pending`` datagrams wait at once (the oldest is dropped), so a
    capture full of lone fragments cannot exhaust memory.
    ``strict_ipv6=False`` treats IPv6 overlaps as IPv4's, as Wireshark 4.0 does.

    State is bounded three ways: ``max_pending`` datagrams, ``max_bytes`` octets held over all of them (the
    oldest datagrams go first; one that alone outgrows it is refused), and, when :meth:`add` is given the
    time ``now``, ``timeout`` seconds from a datagram's first fragment (RFC 8200 4.5: 60 seconds; RFC 791
    3.2 starts its timer at 15).  An atomic fragment (offset 0, no more to follow) is a datagram of its
    own and never touches one being reassembled under the same key (RFC 6946 4).
    """

    def __init__(self, max_pending: int = 1024, *, strict_ipv6: bool = True, max_bytes: int = 4 * 1024 * 1024,
                 timeout: float = 60.0) -> None:
        self.max_pending = _positive_int(max_pending, "max_pending")
        self.max_bytes = _positive_int(max_bytes, "max_bytes")
        self.timeout = check_seconds(timeout, "timeout")
        self.strict_ipv6 = strict_ipv6
        self._pending: dict[tuple[object, ...], _Pending] = {}
        self._held = 0  # octets held over all pending datagrams

    def add(self, key: tuple[object, ...], offset: int, more: bool, data: bytes, frame: int, *,
            now: float | None = None) -> Reassembled | None:
        """One fragment: ``data`` at byte ``offset`` (octets, not 8-octet units) of the datagram, ``more``
        unless it is the last; ``now`` (seconds) lets datagrams older than ``timeout`` expire first."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ConfigError(f"a fragment offset is a non-negative int of octets, got {offset!r}",
                              field="offset", value=offset)
        if now is not None:
            self._expire(check_seconds(now, "now"))
        if not isinstance(data, (bytes, bytearray, memoryview)):  # bytes(5) would be five zero octets
            raise ConfigError(f"fragment data must be bytes, not {type(data).__name__}", field="data", value=data)
        data = bytes(data)
        if offset == 0 and not more:  # RFC 6946 4: processed in isolation from any other fragment
            if len(data) > _MAX_PAYLOAD.get(key[0] if key else 6, 65535):
                raise ParseError(f"an atomic fragment of {len(data)} octets outgrows the 16-bit length",
                                 field="fragment_offset", offset=0)
            return Reassembled(data, ((frame, len(data)),))
        if more and len(data) % 8:
            self._drop(key)
            raise ParseError(f"a fragment with more to follow carries {len(data)} bytes, not a multiple of 8",
                             field="fragment_offset", offset=offset)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_pending:
                self._drop(next(iter(self._pending)))
            pending = self._pending[key] = _Pending(since=now)
        try:
            self._check(key, pending, offset, more, data)
        except ParseError:
            self._drop(key)
            raise
        held = pending.pieces.get(offset)
        if held is None or len(held[0]) <= len(data):  # a shorter copy (cut again on its way) adds nothing
            grow = len(data) - (len(held[0]) if held is not None else 0)
            if pending.held + grow > self.max_bytes:
                self._drop(key)
                raise ParseError(f"a datagram's fragments would hold more than max_bytes={self.max_bytes} octets",
                                 field="fragment_offset", offset=offset)
            while self._held + grow > self.max_bytes:  # the oldest others make room
                self._drop(next(k for k in self._pending if k != key))
            pending.pieces[offset] = (data, frame)
            pending.held += grow
            self._held += grow
        return self._complete(key, pending)

    def _drop(self, key: tuple[object, ...]) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._held -= pending.held

    def _expire(self, now: float) -> None:
        """Forget datagrams whose first fragment came ``timeout`` seconds or more before ``now``."""
        for key in [k for k, p in self._pending.items() if p.since is not None and now - p.since >= self.timeout]:
            self._drop(key)

    def _check(self, key: tuple[object, ...], pending: _Pending, offset: int, more: bool, data: bytes) -> None:
        """ParseError if the fragment contradicts what is held: another end, overlaps, bytes past the end."""
        end = offset + len(data)
        limit = _MAX_PAYLOAD.get(key[0], 65535) if key else 65535
        if end > limit:
            raise ParseError(f"a fragment reaches byte {end}: the datagram would outgrow its 16-bit length "
                             f"({limit} octets of payload at most, RFC 791 3.1, RFC 8200 4.5)",
                             field="fragment_offset", offset=offset)
        if not more:
            if pending.end is not None and pending.end != end:
                raise ParseError(f"two last fragments end at {pending.end} and {end}", field="fragment_offset",
                                 offset=offset)
            pending.end = end
        for start, (held, _) in pending.pieces.items():
            lo, hi = max(start, offset), min(start + len(held), end)
            if lo < hi and held[lo - start : hi - start] != data[lo - offset : hi - offset]:
                raise ParseError(f"fragments overlap at bytes {lo}..{hi} with different data (RFC 5722)",
                                 field="fragment_offset", offset=offset)
            if lo < hi and self.strict_ipv6 and key[:1] == (6,) and (start, held) != (offset, data):  # spares copies
                raise ParseError(f"IPv6 fragments overlap at bytes {lo}..{hi} (RFC 8200 4.5, RFC 5722: the datagram"
                                 " is discarded)", field="fragment_offset", offset=offset)
        reach = max([start + len(held) for start, (held, _) in pending.pieces.items()] + [end])
        if pending.end is not None and reach > pending.end:  # whichever came first, the piece or the last fragment
            raise ParseError(f"a fragment reaches byte {reach}, past the datagram's end {pending.end}",
                             field="fragment_offset", offset=offset)

    def _complete(self, key: tuple[object, ...], pending: _Pending) -> Reassembled | None:
        if pending.end is None:
            return None
        covered, parts, pieces = 0, [], []
        for start in sorted(pending.pieces):
            data, frame = pending.pieces[start]
            if start > covered:
                return None  # a hole
            parts.append(data[covered - start :])
            covered = max(covered, start + len(data))
            pieces.append((frame, len(data)))
        if covered < pending.end:
            return None
        self._drop(key)
        return Reassembled(b"".join(parts), tuple(pieces))

    @property
    def pending(self) -> int:
        """Datagrams still missing a fragment."""
        return len(self._pending)

