"""Capture files: classic libpcap and pcapng, written and read.

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
Errors opening the file itself (``FileNotFoundError``...) are left as OSError.
"""

from __future__ import annotations

import math
import os
import struct
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import IO, Any, Iterable, Iterator, Union

from .errors import CaptureError, CaptureWarning, ConfigError, ParseError, warn_outside
from .packet import ETHERTYPE_IPV4, ETHERTYPE_IPV6, parse_ethernet

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

# tcpdump.org "LINK-LAYER HEADER TYPES".
LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in the writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IPv4 or IPv6
LINKTYPE_LOOP = 108  # OpenBSD loopback: address family in network byte order
LINKTYPE_LINUX_SLL = 113  # Linux "cooked" capture v1 (tshark -i any, older libpcap)
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276  # Linux "cooked" capture v2 (tshark -i any)
#: DLT_RAW as some systems numbered it before LINKTYPE_RAW existed: 12 on most (OpenBSD: loopback), 14 on
#: BSD/OS and OpenBSD.  Wireshark's wiretap (pcap-common.c ``pcap_to_wtap_map``) reads both as raw IP,
#: IPv4 or IPv6, as its Linux builds show; so does ikelab.
_DLT_RAW_OLD = (12, 14)
_RAW_IP = (LINKTYPE_RAW, *_DLT_RAW_OLD, LINKTYPE_IPV4, LINKTYPE_IPV6)

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]

_PCAP_MAGIC = {
    b"\xa1\xb2\xc3\xd4": (">", 10**6),
    b"\xd4\xc3\xb2\xa1": ("<", 10**6),
    b"\xa1\xb2\x3c\x4d": (">", 10**9),
    b"\x4d\x3c\xb2\xa1": ("<", 10**9),
}
_PCAPNG_SHB = 0x0A0D0D0A
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_BLOCK_IDB = 1
_BLOCK_PB = 2  # obsolete Packet Block
_BLOCK_SPB = 3
_BLOCK_EPB = 6
_OPT_ENDOFOPT = 0
_OPT_COMMENT = 1
_SHB_USERAPPL = 4
_IF_TSRESOL = 9
_IF_TSOFFSET = 14
_LINKTYPE_RESERVED = 0x03FF0000  # pcap LinkType bits 16-25 (above them: FCS length and its flag)
_MAX_PACKET = 16 * 1024 * 1024  # larger records are taken as corruption
_MAX_BLOCK = _MAX_PACKET + 64 * 1024
#: The most captured bytes a record may hold for Wireshark (WTAP_MAX_PACKET_SIZE_STANDARD) and libpcap
#: (MAXIMUM_SNAPLEN): tshark calls a file with a longer one corrupt, so the writers refuse it.
_MAX_WRITTEN = 262144

# Address family values found in LINKTYPE_NULL / LINKTYPE_LOOP headers.
_AF_INET = {2}
_AF_INET6 = {10, 23, 24, 28, 30}


@dataclass(frozen=True)
class CapturedPacket:
    """One captured packet: its time (seconds, float), its bytes and their link type.

    ``comment`` is the pcapng packet comment (None for classic pcap);
    ``orig_len`` the length on the wire when the capture kept fewer bytes;
    ``interface`` the pcapng interface index.
    """

    time: float
    data: bytes
    linktype: int
    comment: str | None = None
    orig_len: int | None = None
    interface: int = 0


def _capture_error(offset: int, message: str) -> CaptureError:
    error = CaptureError(f"{message} (offset {offset})")
    error.offset = offset  # type: ignore[attr-defined]
    return error


# ---- Writing ---------------------------------------------------------------


@contextmanager
def _open(path_or_file: Any, mode: str) -> Iterator[IO[bytes]]:
    if isinstance(path_or_file, (str, os.PathLike)):
        try:
            handle = open(path_or_file, mode)
        except OSError as exc:
            verb = "read" if mode == "rb" else "write"
            raise CaptureError(f"cannot {verb} capture {os.fspath(path_or_file)!r}: {exc.strerror or exc}") from None
        with handle:
            try:
                yield handle
            except BaseException:
                if mode == "wb":  # a half-written capture is a wrong file: leave none behind
                    handle.close()
                    with suppress(OSError):
                        os.unlink(path_or_file)
                raise
    elif hasattr(path_or_file, "read" if mode == "rb" else "write"):
        yield path_or_file
    else:
        raise ConfigError(
            f"expected a path or a binary file object, got {type(path_or_file).__name__}",
            field="path_or_file",
            value=path_or_file,
        )


def _micros(time: object, index: int) -> int:
    """Seconds (int, float, Fraction, Decimal) to integer microseconds, rounding the exact value."""
    if isinstance(time, bool) or not isinstance(time, (int, float, Fraction, Decimal)):
        raise ConfigError(f"record {index}: time must be a number of seconds, got {time!r}", field="time", value=time)
    if (isinstance(time, float) and not math.isfinite(time)) or (isinstance(time, Decimal) and not time.is_finite()):
        raise ConfigError(f"record {index}: time {time!r} is not finite", field="time", value=time)
    if time < 0:
        raise ConfigError(f"record {index}: time {time!r} is before 1970 (negative)", field="time", value=time)
    return round(Fraction(time) * 10**6)


def _record(item: Any, index: int) -> tuple[int, bytes, str | None, int | None, int]:
    """(micros, data, comment, linktype or None, orig_len) from a tuple or a CapturedPacket."""
    if isinstance(item, CapturedPacket):
        if not isinstance(item.data, (bytes, bytearray, memoryview)):
            raise ConfigError(f"record {index}: CapturedPacket.data must be bytes, not {type(item.data).__name__}",
                              field="data", value=item.data)
        data = bytes(item.data)
        _check_linktype(item.linktype, f"record {index}: CapturedPacket.linktype")
        if item.orig_len is not None:
            _check_u32(item.orig_len, f"record {index}: CapturedPacket.orig_len")
        orig_len = max(len(data), item.orig_len or 0)  # keep the wire length of a packet captured short
        return _micros(item.time, index), data, _check_comment(item.comment, index), item.linktype, orig_len
    if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
        raise ConfigError(
            f"record {index} must be (time, data) or (time, data, comment), got {type(item).__name__}",
            field="records",
            value=item,
        )
    data = item[1]
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ConfigError(f"record {index}: data must be bytes, not {type(data).__name__}", field="data", value=data)
    comment = _check_comment(item[2] if len(item) == 3 else None, index)
    return _micros(item[0], index), bytes(data), comment, None, len(data)


def _check_comment(comment: object, index: int) -> str | None:
    """A packet comment: None, or text that UTF-8 can encode (pcapng 4.2 opt_comment is UTF-8)."""
    if comment is not None and not isinstance(comment, str):
        raise ConfigError(
            f"record {index}: comment must be a str or None, got {comment!r}", field="comment", value=comment
        )
    if comment is not None:
        try:
            comment.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigError(f"record {index}: comment is not UTF-8 text: {exc.reason} at position {exc.start}",
                              field="comment", value=comment) from None
    return comment


def _numbered(records: Any) -> Iterator[tuple[int, Any]]:
    """``enumerate(records)``, or ConfigError when ``records`` is not a collection of records."""
    try:
        return enumerate(records)
    except TypeError:
        raise ConfigError(f"records must be a list of (time, data) pairs or CapturedPacket objects, "
                          f"not {type(records).__name__}", field="records", value=records) from None


def _check_u32(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise ConfigError(f"{field} must be an integer in 0..2**32-1, got {value!r}", field=field, value=value)
    return value


def _check_linktype(value: object, field: str) -> int:
    """A link type: 16 bits in both formats (pcap: bits 16-25 of LinkType are reserved, must be zero)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise ConfigError(f"{field} must be a link type in 0..65535, got {value!r}", field="linktype", value=value)
    return value


def _check_snaplen(snaplen: int | None) -> tuple[int, bool]:
    """(the snaplen to write, whether longer packets are cut); None: 65535, and a longer packet is an error."""
    if snaplen is None:
        return 65535, False
    return _check_u32(snaplen, "snaplen"), True


def _kept(data: bytes, snaplen: int, cut: bool, index: int) -> bytes:
    """The captured bytes of a record: cut to an explicit snaplen, never silently by the default one."""
    if not cut and len(data) > snaplen:
        raise ConfigError(f"record {index}: a {len(data)}-byte packet is longer than the default snaplen 65535; "
                          f"pass snaplen={_MAX_WRITTEN} to keep it whole, or a smaller one to cut it",
                          field="snaplen", value=len(data))
    kept = data[: snaplen or None]
    if len(kept) > _MAX_WRITTEN:
        raise ConfigError(f"record {index}: {len(kept)} captured bytes, more than the {_MAX_WRITTEN} that "
                          f"Wireshark and libpcap read; pass snaplen={_MAX_WRITTEN} or less to cut it",
                          field="data", value=len(kept))
    return kept


def write_pcap(
    path_or_file: PathOrFile,
    records: Iterable[Any],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    snaplen: int | None = None,
) -> None:
    """Write a classic libpcap file (microsecond magic 0xA1B2C3D4, version 2.4, little-endian).

    ``records`` yields ``(time, data)`` or ``(time, data, comment)`` tuples or
    :class:`CapturedPacket` objects (which must have this ``linktype``).
    Classic pcap has no place for comments: they are dropped (use
    :func:`write_pcapng` to keep them).  Packets longer than a ``snaplen``
    given are cut to ``snaplen`` bytes with their true length in
    ``orig_len``, as a capture would; without one the file says 65535 and a
    longer packet is a ConfigError, as is one of more than 262144 captured
    bytes (what Wireshark and libpcap read).  A file given by its path is
    removed when writing fails.
    """
    _check_linktype(linktype, "linktype")
    snaplen, cut = _check_snaplen(snaplen)
    if snaplen == 0:
        raise ConfigError("snaplen must be positive", field="snaplen", value=snaplen)
    numbered = _numbered(records)  # before the file is created
    with _open(path_or_file, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        for index, item in numbered:
            micros, data, _, item_linktype, orig_len = _record(item, index)
            if item_linktype is not None and item_linktype != linktype:
                raise ConfigError(
                    f"record {index} has link type {item_linktype} but the file is {linktype}; use write_pcapng",
                    field="linktype",
                    value=item_linktype,
                )
            seconds, micro = divmod(micros, 10**6)
            if seconds > 0xFFFFFFFF:
                raise ConfigError(
                    f"record {index}: time {seconds} s does not fit pcap's 32 bits", field="time", value=seconds
                )
            kept = _kept(data, snaplen, cut, index)
            out.write(struct.pack("<IIII", seconds, micro, len(kept), orig_len))
            out.write(kept)


def _option(code: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ConfigError(
            f"pcapng option {code} is {len(value)} bytes, more than 65535", field="comment", value=len(value)
        )
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def write_pcapng(
    path_or_file: PathOrFile,
    records: Iterable[Any],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    snaplen: int | None = None,
) -> None:
    """Write a pcapng file: one SHB, an IDB (``if_tsresol`` = 6, microseconds), one EPB per packet.

    Records are as for :func:`write_pcap`; a ``comment`` becomes the EPB's
    ``opt_comment`` (Wireshark shows it as ``frame.comment``).  A
    :class:`CapturedPacket` of another link type gets its own IDB, so
    captures mixing link types round-trip.  ``snaplen`` is as for :func:`write_pcap` (0: no limit).
    """
    snaplen, cut = _check_snaplen(snaplen)
    _check_linktype(linktype, "linktype")
    numbered = _numbered(records)  # before the file is created
    with _open(path_or_file, "wb") as out:
        shb = struct.pack(
            "<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1) + _option(_SHB_USERAPPL, b"ikelab") + _option(_OPT_ENDOFOPT, b""
        )
        out.write(_block(_PCAPNG_SHB, shb))
        interfaces: dict[int, int] = {}

        def interface(kind: int) -> int:
            if kind not in interfaces:
                body = struct.pack(
                    "<HHI", kind, 0, snaplen) + _option(_IF_TSRESOL, b"\x06") + _option(_OPT_ENDOFOPT, b""
                )
                out.write(_block(_BLOCK_IDB, body))
                interfaces[kind] = len(interfaces)
            return interfaces[kind]

        interface(linktype)
        for index, item in numbered:
            micros, data, comment, item_linktype, orig_len = _record(item, index)
            if micros >= 1 << 64:
                raise ConfigError(
                    f"record {index}: time does not fit 64 bits of microseconds", field="time", value=micros
                )
            if_id = interface(linktype if item_linktype is None else item_linktype)
            kept = _kept(data, snaplen, cut, index)
            body = struct.pack("<IIIII", if_id, micros >> 32, micros & 0xFFFFFFFF, len(kept), orig_len)
            body += kept + b"\x00" * (-len(kept) % 4)
            if comment is not None:
                body += _option(_OPT_COMMENT, comment.encode("utf-8")) + _option(_OPT_ENDOFOPT, b"")
            out.write(_block(_BLOCK_EPB, body))


# ---- Reading ---------------------------------------------------------------


class _Source:
    """Reads exact byte counts from a stream and keeps the offset for error messages."""

    def __init__(self, stream: IO[bytes], offset: int = 0) -> None:
        self.stream = stream
        self.offset = offset
        self.header_read = False  # the file header (pcap) or first section header block (pcapng) is complete

    def read(self, count: int) -> bytes:
        try:
            data = self.stream.read(count)
        except UnicodeDecodeError:  # before ValueError: it is one
            raise _text_mode() from None
        except (OSError, ValueError) as exc:  # e.g. "read of closed file"
            raise _capture_error(self.offset, f"cannot read the capture: {exc}") from None
        if isinstance(data, str):
            raise _text_mode()
        if not isinstance(data, bytes):
            data = bytes(data or b"")
        self.offset += len(data)
        return data


def _text_mode() -> ConfigError:
    return ConfigError("the capture's file object is open in text mode: a capture is binary, open it with 'rb'",
                       field="path_or_file")


class _Truncated(Exception):
    """Internal: the file ended inside a record (offset, message)."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


def _exact(src: _Source, count: int, what: str) -> bytes:
    start = src.offset
    data = src.read(count)
    if len(data) != count:
        raise _Truncated(start, f"file ends inside {what}: {count} bytes needed, {len(data)} present")
    return data


def _time(units: int, per_second: int) -> float:
    return units / per_second  # int / int is correctly rounded


def _iter_pcap(src: _Source, magic: bytes) -> Iterator[CapturedPacket]:
    order, per_second = _PCAP_MAGIC[magic]
    header = _exact(src, 20, "the pcap file header")
    src.header_read = True
    major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "HHiIII", header)
    if major != 2:
        raise _capture_error(4, f"pcap version {major}.{minor} is not 2.x")
    if network & _LINKTYPE_RESERVED:  # draft-ietf-opsawg-pcap 4: bits 16-25 are reserved, must be zero
        raise _capture_error(20, f"pcap link type field 0x{network:08x} has reserved bits set (corrupt file?)")
    linktype = network & 0xFFFF  # the upper bits may carry FCS information
    record = struct.Struct(order + "IIII")
    while True:
        start = src.offset
        head = src.read(16)
        if not head:
            return
        if len(head) != 16:
            raise _Truncated(start, f"file ends inside a record header: 16 bytes needed, {len(head)} present")
        seconds, fraction, incl_len, orig_len = record.unpack(head)
        if fraction >= per_second:
            unit = "microseconds" if per_second == 10**6 else "nanoseconds"
            raise _capture_error(start + 4, f"record timestamp has {fraction} {unit}, not below {per_second}")
        if incl_len > _MAX_PACKET:
            raise _capture_error(start + 8, f"record length {incl_len} is implausible (corrupt file?)")
        data = _exact(src, incl_len, f"the {incl_len}-byte packet of the record at offset {start}")
        yield CapturedPacket(
            time=_time(seconds * per_second + fraction, per_second),
            data=data,
            linktype=linktype,
            orig_len=orig_len,
        )


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    per_second: int = 10**6
    offset_seconds: int = 0


def _options(body: bytes, start: int, order: str, file_offset: int) -> Iterator[tuple[int, bytes]]:
    """Walk a pcapng option list: ``code|length|value|padding`` up to opt_endofopt."""
    pos = start
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        end = pos + 4 + length
        if end > len(body):  # opt_endofopt included: Wireshark refuses one whose length runs past the block
            raise _capture_error(file_offset + pos, f"pcapng option {code} of {length} bytes runs past its block")
        if code == _OPT_ENDOFOPT:
            return
        yield code, body[pos + 4 : end]
        pos = end + (-length % 4)
    if pos != len(body):
        raise _capture_error(file_offset + pos, "pcapng option list ends in the middle of an option header")


def _comment(body: bytes, start: int, order: str, file_offset: int) -> str | None:
    comments = [v.decode("utf-8", "replace") for c, v in _options(body, start, order, file_offset) if c == _OPT_COMMENT]
    return "\n".join(comments) if comments else None


def _interface(body: bytes, order: str, file_offset: int) -> _Interface:
    if len(body) < 8:
        raise _capture_error(file_offset, f"pcapng IDB body of {len(body)} bytes is shorter than 8")
    linktype, _, snaplen = struct.unpack_from(order + "HHI", body, 0)
    iface = _Interface(linktype, snaplen)
    for code, value in _options(body, 8, order, file_offset):
        if code == _IF_TSRESOL and len(value) >= 1:
            resolution = value[0]
            iface.per_second = 2 ** (resolution & 0x7F) if resolution & 0x80 else 10**resolution
        elif code == _IF_TSOFFSET and len(value) >= 8:
            iface.offset_seconds = struct.unpack_from(order + "q", value, 0)[0]
    return iface


def _packet(
    iface: _Interface, if_id: int, units: int, data: bytes, orig_len: int, comment: str | None
) -> CapturedPacket:
    time = _time(units + iface.offset_seconds * iface.per_second, iface.per_second)
    return CapturedPacket(
        time=time, data=data, linktype=iface.linktype, comment=comment, orig_len=orig_len, interface=if_id
    )


def _iter_pcapng(src: _Source, first: bytes) -> Iterator[CapturedPacket]:
    order = "<"
    interfaces: list[_Interface] = []
    pending = first
    while True:
        start = src.offset - len(pending)
        head = pending + src.read(8 - len(pending))
        pending = b""
        if not head:
            return
        if len(head) < 8:
            raise _Truncated(start, f"file ends inside a block header: 8 bytes needed, {len(head)} present")
        if head[:4] == b"\x0a\x0d\x0d\x0a":
            bom = _exact(src, 4, "the section header's byte-order magic")
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise _capture_error(start + 8, f"bad pcapng byte-order magic {bom.hex()}")
            head += bom
        block_type, total = struct.unpack_from(order + "II", head, 0)
        if total % 4 or total < 12 or (block_type == _PCAPNG_SHB and total < 28):
            raise _capture_error(start + 4, f"pcapng block length {total} is invalid (type 0x{block_type:08x})")
        if total > _MAX_BLOCK:
            raise _capture_error(start + 4, f"pcapng block length {total} is implausible (corrupt file?)")
        rest = _exact(src, total - len(head), f"the {total}-byte block (type 0x{block_type:08x}) at offset {start}")
        block = head + rest
        if struct.unpack_from(order + "I", block, total - 4)[0] != total:
            raise _capture_error(start + total - 4, f"pcapng block trailer length does not repeat {total}")
        body = block[8:-4]
        body_offset = start + 8
        if block_type == _PCAPNG_SHB:
            major, minor = struct.unpack_from(order + "HH", body, 4)
            if major != 1:
                raise _capture_error(body_offset + 4, f"pcapng version {major}.{minor} is not 1.x")
            for _ in _options(body, 16, order, body_offset):  # shb_hardware, shb_userappl...: only checked
                pass
            interfaces = []
            src.header_read = True
        elif block_type == _BLOCK_IDB:
            interfaces.append(_interface(body, order, body_offset))
        elif block_type in (_BLOCK_EPB, _BLOCK_PB):
            if len(body) < 20:
                raise _capture_error(body_offset, f"pcapng packet block body of {len(body)} bytes is shorter than 20")
            if block_type == _BLOCK_EPB:
                if_id, high, low, caplen, orig_len = struct.unpack_from(order + "IIIII", body, 0)
            else:
                if_id, _drops, high, low, caplen, orig_len = struct.unpack_from(order + "HHIIII", body, 0)
            if if_id >= len(interfaces):
                raise _capture_error(
                    body_offset, f"packet names interface {if_id} but the section has {len(interfaces)}"
                )
            if 20 + caplen > len(body):
                raise _capture_error(body_offset + 12, f"captured length {caplen} runs past its {total}-byte block")
            data = body[20 : 20 + caplen]
            comment = _comment(body, 20 + caplen + (-caplen % 4), order, body_offset)
            yield _packet(interfaces[if_id], if_id, (high << 32) | low, data, orig_len, comment)
        elif block_type == _BLOCK_SPB:
            if not interfaces:
                raise _capture_error(body_offset, "simple packet block before any interface description block")
            if len(body) < 4:
                raise _capture_error(body_offset, "simple packet block body shorter than 4 bytes")
            orig_len = struct.unpack_from(order + "I", body, 0)[0]
            caplen = min(orig_len, len(body) - 4, interfaces[0].snaplen or orig_len)
            # An SPB has no timestamp: time is 0.0.
            yield CapturedPacket(
                time=0.0, data=body[4 : 4 + caplen], linktype=interfaces[0].linktype, orig_len=orig_len
            )
        # Any other block (statistics, name resolution, decryption secrets...) is skipped.


def iter_capture(path_or_file: PathOrFile, *, strict: bool = True) -> Iterator[CapturedPacket]:
    """Stream the packets of a pcap or pcapng file (format detected from its first bytes).

    Memory use does not grow with the file; being a generator, it opens the
    file and reports errors only once iteration starts.  A truncated last record raises
    :class:`CaptureError` when ``strict`` (the default); otherwise the
    iteration stops after the last complete packet with a
    :class:`CaptureWarning` naming the offset.  Errors and warnings about a file
    given by its path begin with that path.
    """
    name = f"{os.fspath(path_or_file)}: " if isinstance(path_or_file, (str, os.PathLike)) else ""
    with _open(path_or_file, "rb") as stream:
        src = _Source(stream)
        try:
            magic = src.read(4)
            if not magic:
                raise _capture_error(0, "empty file: not a pcap or pcapng capture")
            if magic in _PCAP_MAGIC:
                yield from _iter_pcap(src, magic)
            elif magic == b"\x0a\x0d\x0d\x0a":
                yield from _iter_pcapng(src, magic)
            else:
                raise _capture_error(0, f"not a pcap or pcapng file: magic {magic.hex()}")
        except _Truncated as cut:
            if strict or not src.header_read:  # no file header, no capture: not a truncated last record
                raise _capture_error(cut.offset, f"{name}truncated capture: {cut.message}") from None
            warn_outside(CaptureWarning(
                f"{name}truncated capture: {cut.message} (offset {cut.offset}); the packets before it were returned"))
        except CaptureError as exc:
            if not name or str(exc).startswith(name):
                raise
            text = str(exc).rsplit(" (offset ", 1)[0]
            raise _capture_error(exc.offset, f"{name}{text}") from None  # type: ignore[attr-defined]


def read_capture(path_or_file: PathOrFile, *, strict: bool = True) -> list[CapturedPacket]:
    """Read every packet of a pcap or pcapng file; see :func:`iter_capture` for ``strict``."""
    return list(iter_capture(path_or_file, strict=strict))


# ---- Link layers -----------------------------------------------------------


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
