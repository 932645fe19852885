"""Writing captures: classic libpcap and pcapng (see :mod:`ikelab.pcap` for the formats and for time).

A writer checks every record before it writes it, and a file given by its path is
removed when writing fails: a half-written capture would be a wrong file.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from fractions import Fraction
from typing import Any, Iterable, Iterator

from .errors import ConfigError
from .pcap_format import (_BLOCK_EPB, _BLOCK_IDB, _BYTE_ORDER_MAGIC, _IF_TSRESOL, _MAX_WRITTEN, _OPT_COMMENT,
                          _OPT_ENDOFOPT, _PCAPNG_SHB, _SHB_USERAPPL, LINKTYPE_ETHERNET, CapturedPacket, PathOrFile,
                          _open)

__all__ = ["write_pcap", "write_pcapng"]


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
