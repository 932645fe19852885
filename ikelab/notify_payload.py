"""The Notify payload and its typed views (RFC 7296 3.10, 3.10.1).

::

    Protocol ID | SPI Size | Notify Message Type (2) | SPI | Notification Data

"Types in the range 0 - 16383 are intended for reporting errors", the rest
are status types (3.10.1).  Some types have data ikelab checks and shows:

* COOKIE: 1..64 octets (2.6);
* INVALID_KE_PAYLOAD: the two-octet DH group the responder accepts (1.3);
* NAT_DETECTION_SOURCE_IP / _DESTINATION_IP: ``SHA-1(SPIi | SPIr | IP |
  Port)``, 20 octets (2.23);
* REKEY_SA: Protocol ID AH or ESP with the 4-octet SPI being rekeyed (1.3.3);
* SIGNATURE_HASH_ALGORITHMS: a list of two-octet hash identifiers (RFC 7427 4).
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable, Union

from .constants import DhId, HashAlgorithm, NotifyType, PayloadType, ProtocolId, lookup
from .errors import ConfigError
from .wire import U16, DecodeContext, Payload, check_bytes, check_uint, from_wire, members, name_of, RAW_TYPES, norm_enum, to_enum

__all__ = ["Notify", "nat_detection_hash"]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

#: The fixed part of the body: Protocol ID | SPI Size | Notify Message Type (2).
_NOTIFY_HEAD = struct.Struct("!BBH")

#: Notify types whose data ikelab checks: type -> (min, max) data length.
_NOTIFY_DATA_SIZES = {
    NotifyType.COOKIE: (1, 64),  # RFC 7296 2.6
    NotifyType.INVALID_KE_PAYLOAD: (2, 2),  # RFC 7296 1.3: the accepted group
    NotifyType.NAT_DETECTION_SOURCE_IP: (20, 20),  # RFC 7296 2.23: SHA-1
    NotifyType.NAT_DETECTION_DESTINATION_IP: (20, 20),
}
#: Every type :func:`_notify_problem` looks at.
_CHECKED_TYPES = frozenset((*_NOTIFY_DATA_SIZES, NotifyType.SIGNATURE_HASH_ALGORITHMS, NotifyType.REKEY_SA))

_NOTIFY_TYPES = members(NotifyType)
_PROTOCOLS = members(ProtocolId)


def nat_detection_hash(spi_i: bytes, spi_r: bytes, address: str | IPAddress, port: int) -> bytes:
    """RFC 7296 2.23: ``SHA-1(SPIi | SPIr | IP | Port)`` (SPIr is zero in the IKE_SA_INIT request).

    The SPIs are the 8-octet IKE SPIs of the header (3.1); anything else is a ConfigError, never a hash.
    """
    spi_i = check_bytes(spi_i, "spi_i", min_len=8, max_len=8)
    spi_r = check_bytes(spi_r, "spi_r", min_len=8, max_len=8)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"address must be an IPv4 or IPv6 address, not {address!r}", field="address",
                          value=address) from None
    return hashlib.sha1(spi_i + spi_r + ip.packed + U16.pack(check_uint(port, 16, "port"))).digest()


@from_wire
@dataclass(frozen=True, slots=True)
class Notify(Payload):
    """Notify payload (RFC 7296 3.10): Protocol ID | SPI Size | Notify Message Type (2) | SPI | Data.

    Types below 16384 are errors, the others status (3.10.1).  Typed views
    return None when the notify is of another type.
    """

    notify_type: NotifyType | int
    protocol: ProtocolId | int = ProtocolId.NONE
    spi: bytes = b""
    data: bytes = b""
    critical: bool = False
    payload_type = PayloadType.N

    def __post_init__(self) -> None:
        if type(self.notify_type) in RAW_TYPES:
            object.__setattr__(self, "notify_type", norm_enum(NotifyType, self.notify_type))
        if type(self.protocol) in RAW_TYPES:
            object.__setattr__(self, "protocol", norm_enum(ProtocolId, self.protocol))

    @property
    def is_error(self) -> bool:
        """True for error types (below 16384, RFC 7296 3.10.1)."""
        return int(self.notify_type) < 16384

    @property
    def type_name(self) -> str:
        """``COOKIE``, ``NAT_DETECTION_SOURCE_IP``... or the number as text."""
        return self.notify_type.name if isinstance(self.notify_type, IntEnum) else str(int(self.notify_type))

    # views
    @property
    def cookie(self) -> bytes | None:
        """The cookie of a COOKIE notify (RFC 7296 2.6)."""
        return self.data if self.notify_type == NotifyType.COOKIE else None

    @property
    def invalid_ke_group(self) -> DhId | int | None:
        """The group the responder wants, from INVALID_KE_PAYLOAD (RFC 7296 1.3)."""
        if self.notify_type == NotifyType.INVALID_KE_PAYLOAD and len(self.data) == 2:
            return to_enum(DhId, U16.unpack(self.data)[0])
        return None

    @property
    def nat_detection_hash(self) -> bytes | None:
        """The SHA-1 hash of NAT_DETECTION_SOURCE_IP / _DESTINATION_IP (RFC 7296 2.23)."""
        if self.notify_type in (NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP):
            return self.data
        return None

    @property
    def rekey_spi(self) -> bytes | None:
        """The SPI of the Child SA being rekeyed, from REKEY_SA (RFC 7296 1.3.3)."""
        return self.spi if self.notify_type == NotifyType.REKEY_SA else None

    @property
    def signature_hash_algorithms(self) -> tuple[HashAlgorithm | int, ...] | None:
        """The hash algorithms of SIGNATURE_HASH_ALGORITHMS (RFC 7427 4)."""
        if self.notify_type != NotifyType.SIGNATURE_HASH_ALGORITHMS or len(self.data) % 2:
            return None
        return tuple(to_enum(HashAlgorithm, U16.unpack_from(self.data, i)[0]) for i in range(0, len(self.data), 2))

    # constructors
    @classmethod
    def make_cookie(cls, cookie: bytes) -> "Notify":
        """A COOKIE notify carrying 1..64 octets."""
        return cls(NotifyType.COOKIE, data=check_bytes(cookie, "cookie"))

    @classmethod
    def make_invalid_ke_payload(cls, group: DhId | int | str) -> "Notify":
        """INVALID_KE_PAYLOAD naming the group the responder accepts."""
        return cls(NotifyType.INVALID_KE_PAYLOAD,
                   data=U16.pack(check_uint(int(lookup(DhId, group, field="group")), 16, "group")))

    @classmethod
    def make_nat_detection_source_ip(cls, spi_i: bytes, spi_r: bytes, address: str | IPAddress, port: int) -> "Notify":
        """NAT_DETECTION_SOURCE_IP for the sender's own address and port."""
        return cls(NotifyType.NAT_DETECTION_SOURCE_IP, data=nat_detection_hash(spi_i, spi_r, address, port))

    @classmethod
    def make_nat_detection_destination_ip(cls, spi_i: bytes, spi_r: bytes, address: str | IPAddress, port: int) -> "Notify":
        """NAT_DETECTION_DESTINATION_IP for the peer's address and port."""
        return cls(NotifyType.NAT_DETECTION_DESTINATION_IP, data=nat_detection_hash(spi_i, spi_r, address, port))

    @classmethod
    def make_rekey_sa(cls, spi: bytes, protocol: ProtocolId | int | str = ProtocolId.ESP) -> "Notify":
        """REKEY_SA naming the (inbound) SPI of the Child SA being rekeyed."""
        return cls(NotifyType.REKEY_SA, lookup(ProtocolId, protocol, field="protocol"), check_bytes(spi, "spi"))

    @classmethod
    def make_signature_hash_algorithms(cls, algorithms: Iterable[HashAlgorithm | int | str]) -> "Notify":
        """SIGNATURE_HASH_ALGORITHMS listing the hashes the sender supports (RFC 7427 4)."""
        return cls(NotifyType.SIGNATURE_HASH_ALGORITHMS,
                   data=b"".join(U16.pack(int(lookup(HashAlgorithm, a, field="algorithms"))) for a in algorithms))

    def _body(self, path: str) -> bytes:
        ntype, protocol = self.notify_type, self.protocol
        # members of the IANA registries fit their fields; anything else is checked
        if ntype.__class__ is not NotifyType:
            ntype = check_uint(ntype, 16, path, "notify_type")
        if protocol.__class__ is not ProtocolId:
            protocol = check_uint(protocol, 8, path, "protocol_id")
        spi, data = self.spi, self.data
        if not (spi.__class__ is bytes and data.__class__ is bytes and len(spi) <= 255 and len(data) <= 0xFFFF - 8 - len(spi)):
            spi = check_bytes(spi, path, "spi", max_len=255)
            data = check_bytes(data, path, "notification_data", max_len=0xFFFF - 8 - len(spi))
        if ntype in _CHECKED_TYPES:
            sizes = _NOTIFY_DATA_SIZES.get(ntype)
            if sizes is None or not sizes[0] <= len(data) <= sizes[1]:  # a size that fits is all the sized types need
                problem = _notify_problem(ntype, protocol, spi, data)
                if problem:
                    raise ConfigError(f"{path}: {problem}", field=f"{path}.notification_data", value=data)
        return _NOTIFY_HEAD.pack(protocol, len(spi), ntype) + spi + data

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> "Notify":
        if end - start < 4:
            ctx.fail(f"{end - start} bytes; the Notify body needs at least 4", f"{path}.notify_type", start)
        protocol_raw, spi_size, ntype_raw = _NOTIFY_HEAD.unpack_from(data, start)
        protocol, ntype = _PROTOCOLS.get(protocol_raw, protocol_raw), _NOTIFY_TYPES.get(ntype_raw, ntype_raw)
        if spi_size > end - start - 4:
            ctx.fail(f"SPI size {spi_size} exceeds the {end - start - 4} bytes left", f"{path}.spi_size", start + 1)
        spi = data[start + 4 : start + 4 + spi_size]
        value = data[start + 4 + spi_size : end]
        if ntype in _CHECKED_TYPES:
            sizes = _NOTIFY_DATA_SIZES.get(ntype)
            if sizes is None or not sizes[0] <= len(value) <= sizes[1]:  # a size that fits is all the sized types need
                problem = _notify_problem(ntype, protocol, spi, value)
                if problem:
                    ctx.fail(problem, f"{path}.notification_data", start + 4 + spi_size)
        if ctx.trace is not None:
            ctx.row(start, 1, f"{path}.protocol_id", name_of(protocol, ProtocolId))
            ctx.row(start + 1, 1, f"{path}.spi_size", spi_size)
            ctx.row(start + 2, 2, f"{path}.notify_type", name_of(ntype, NotifyType))
            if spi:
                ctx.row(start + 4, spi_size, f"{path}.spi", spi.hex())
            if value:
                note = value.hex()
                if ntype == NotifyType.INVALID_KE_PAYLOAD:
                    note = name_of(to_enum(DhId, U16.unpack(value)[0]), DhId)
                elif ntype == NotifyType.SIGNATURE_HASH_ALGORITHMS:
                    note = ", ".join(name_of(to_enum(HashAlgorithm, U16.unpack_from(value, i)[0]), HashAlgorithm) for i in range(0, len(value), 2))
                ctx.row(start + 4 + spi_size, len(value), f"{path}.notification_data", note)
        return cls._from_wire(ntype, protocol, spi, value, critical)  # type: ignore[attr-defined]


def _notify_problem(ntype: int, protocol: int, spi: bytes, data: bytes) -> str | None:
    """Why this notify's SPI or data is malformed for its type, or None."""
    if ntype not in _CHECKED_TYPES:
        return None
    sizes = _NOTIFY_DATA_SIZES.get(ntype)  # type: ignore[call-overload]
    if sizes is not None and not sizes[0] <= len(data) <= sizes[1]:
        want = str(sizes[0]) if sizes[0] == sizes[1] else f"{sizes[0]}..{sizes[1]}"
        return f"{NotifyType(ntype).name} data must be {want} bytes, not {len(data)}"
    if ntype == NotifyType.SIGNATURE_HASH_ALGORITHMS and len(data) % 2:
        return f"SIGNATURE_HASH_ALGORITHMS data is a list of 2-byte values; {len(data)} bytes given"
    if ntype == NotifyType.REKEY_SA and (protocol not in (ProtocolId.AH, ProtocolId.ESP) or len(spi) != 4):
        return f"REKEY_SA names an AH or ESP SPI of 4 bytes (protocol {protocol}, SPI of {len(spi)} bytes given)"
    return None
