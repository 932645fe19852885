"""What the capture reader and writer share: link types, block and option codes, the packet record.

:mod:`ikelab.pcap` is the module to use; :mod:`ikelab.pcap_write` writes captures and
:mod:`ikelab.pcap_read` reads them, both with the names defined here.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO, Any, Iterator, Union

from .errors import CaptureError, ConfigError

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

# Address family values found in LINKTYPE_NULL / LINKTYPE_LOOP headers.  tcpdump.org's LINKTYPE_NULL: 2 is IPv4,
# 24, 28 or 30 IPv6 (NetBSD/OpenBSD, FreeBSD, Darwin), 7 OSI and 23 IPX, as tcpdump and Wireshark read them: 23 is
# not Windows' AF_INET6 here.  Linux's AF_INET6, 10, is taken too (tshark lists it as "Null/Loopback", not IP).
_AF_INET = {2}
_AF_INET6 = {10, 24, 28, 30}


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
