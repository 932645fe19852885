"""Reading captures: classic libpcap and pcapng, format found from the first bytes (see :mod:`ikelab.pcap`).

Damage is reported with the byte offset where it was found; a cut-short last
record is an error, or with ``strict=False`` a warning after the packets before it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import IO, Iterator

from .errors import CaptureError, CaptureWarning, ConfigError, warn_outside
from .pcap_format import (_BLOCK_EPB, _BLOCK_IDB, _BLOCK_PB, _BLOCK_SPB, _IF_TSOFFSET, _IF_TSRESOL,
                          _LINKTYPE_RESERVED, _MAX_BLOCK, _MAX_PACKET, _OPT_COMMENT, _OPT_ENDOFOPT, _PCAP_MAGIC,
                          _PCAPNG_SHB, CapturedPacket, PathOrFile, _capture_error, _open)

__all__ = ["iter_capture", "read_capture"]


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
