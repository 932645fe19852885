"""Identification payloads IDi and IDr (RFC 7296 3.5).

::

    ID Type (1) | RESERVED (3) | Identification Data

RFC 7296 3.5 defines ID_IPV4_ADDR (4 octets), ID_FQDN ("vpn.example", ASCII,
"MUST NOT contain any terminators"), ID_RFC822_ADDR ("alice@example.org"),
ID_IPV6_ADDR (16 octets), ID_DER_ASN1_DN (a DER Name), ID_DER_ASN1_GN and
ID_KEY_ID (opaque octets).  Decoding and encoding both check the address
sizes, that names are non-empty printable ASCII and that a DN is well-formed
DER (a ParseError, resp. ConfigError, naming ``IDi.id_data``); ``value`` shows
the identity as a person reads it.  ID_NULL (RFC 7619) has no Identification
Data: an IDi or IDr built with ID_NULL must be empty (a ConfigError otherwise),
and a peer's ID_NULL is decoded with whatever octets it carries, and encodes
again as sent (the AUTH payload covers them), while
:func:`ikelab.identity.matches` ignores them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Union

from .constants import IdType, PayloadType
from .dn import check_dn, der_to_rfc4514, rfc4514_to_der
from .errors import ConfigError, ParseError
from .wire import DecodeContext, Payload, SimpleHeader, RAW_TYPES, check_bytes, from_wire, norm_enum

__all__ = ["IDi", "IDr"]


IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_ID_ADDRESS_SIZES = {IdType.ID_IPV4_ADDR: 4, IdType.ID_IPV6_ADDR: 16}
_TEXT_TYPES = frozenset((IdType.ID_FQDN, IdType.ID_RFC822_ADDR))  # printable ASCII names


_PRINTABLE = re.compile(rb"[\x20-\x7e]+")
#: DER Names that :func:`check_dn` accepted on encoding (the same identity is sent in every IKE_AUTH).
_GOOD_DNS: set[bytes] = set()


def _id_text(value: bytes) -> str | None:
    """The identity as text if it is non-empty printable ASCII, else None."""
    return value.decode("ascii") if _PRINTABLE.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class _Identification(SimpleHeader, Payload):
    id_type: IdType | int
    data: bytes
    critical: bool = False
    _enum = IdType
    _field = "id_type"

    def __post_init__(self) -> None:
        if type(self.id_type) in RAW_TYPES:
            object.__setattr__(self, "id_type", norm_enum(IdType, self.id_type))
        if self.id_type == IdType.ID_NULL and self.data:  # what ikelab builds; a peer's is kept as sent
            raise ConfigError(f"{type(self).__name__}: ID_NULL carries no Identification Data (RFC 7619), not "
                              f"{len(self.data)} octets", field=f"{type(self).__name__}.id_data", value=self.data)

    @classmethod
    def from_fqdn(cls, name: str) -> Any:
        """``IDi.from_fqdn("vpn.example")``: an ID_FQDN identity."""
        return cls(IdType.ID_FQDN, _ascii(name))

    @classmethod
    def from_email(cls, address: str) -> Any:
        """An ID_RFC822_ADDR identity such as ``"alice@example.org"``."""
        return cls(IdType.ID_RFC822_ADDR, _ascii(address))

    @classmethod
    def from_address(cls, address: str | IPAddress) -> Any:
        """An ID_IPV4_ADDR or ID_IPV6_ADDR identity."""
        try:
            if not isinstance(address, (str, ipaddress.IPv4Address, ipaddress.IPv6Address)):
                raise ValueError  # ip_address(12) would be 0.0.0.12, ip_address(b"abcd") 97.98.99.100
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(f"{address!r:.60} is not an IP address (a str such as '192.0.2.1', or an "
                              "ipaddress object)", field="id_data", value=address) from None
        return cls(IdType.ID_IPV4_ADDR if ip.version == 4 else IdType.ID_IPV6_ADDR, ip.packed)

    @classmethod
    def from_key_id(cls, key_id: bytes) -> Any:
        """An ID_KEY_ID identity (opaque octets)."""
        return cls(IdType.ID_KEY_ID, check_bytes(key_id, "id_data"))

    @classmethod
    def from_dn(cls, dn: str) -> Any:
        """An ID_DER_ASN1_DN identity from an RFC 4514 string (``"CN=vpn,O=Example"``)."""
        return cls(IdType.ID_DER_ASN1_DN, rfc4514_to_der(dn))

    @property
    def value(self) -> IPAddress | str | bytes:
        """The identity as a person reads it: an address, a name, a DN string, or raw bytes."""
        size = _ID_ADDRESS_SIZES.get(self.id_type)  # type: ignore[call-overload]
        if size is not None and len(self.data) == size:
            return ipaddress.ip_address(self.data)
        if self.id_type in _TEXT_TYPES:
            text = _id_text(self.data)
            if text is not None:
                return text
        if self.id_type == IdType.ID_DER_ASN1_DN:
            try:
                return der_to_rfc4514(self.data)
            except Exception:  # malformed DER built by hand: show the bytes
                return self.data
        return self.data

    def __str__(self) -> str:
        value = self.value
        return value.hex() if isinstance(value, bytes) else str(value)

    def _check(self, data: bytes, path: str) -> None:
        size = _ID_ADDRESS_SIZES.get(self.id_type)  # type: ignore[call-overload]
        if size is not None and len(data) != size:
            raise ConfigError(f"{path}: {self.id_type.name} data is {size} bytes, not {len(data)}", field=f"{path}.id_data", value=data)
        if self.id_type in _TEXT_TYPES and not _PRINTABLE.fullmatch(data):
            raise ConfigError(f"{path}: {self.id_type.name} must be non-empty printable ASCII (RFC 7296 3.5)",
                              field=f"{path}.id_data", value=data)
        if self.id_type == IdType.ID_DER_ASN1_DN and data not in _GOOD_DNS:
            try:
                check_dn(data)
            except ParseError as err:
                raise ConfigError(f"{path}: ID_DER_ASN1_DN data is not a DER Name: {err.reason} (octet {err.offset})",
                                  field=f"{path}.id_data", value=data) from None
            if len(_GOOD_DNS) >= 256:
                _GOOD_DNS.clear()
            _GOOD_DNS.add(data)

    @classmethod
    def _validate(cls, kind: Any, value: bytes, at: int, ctx: DecodeContext, path: str) -> None:
        size = _ID_ADDRESS_SIZES.get(kind)
        if size is not None and len(value) != size:
            ctx.fail(f"{kind.name} data is {size} bytes, not {len(value)}", f"{path}.id_data", at)
        if kind in _TEXT_TYPES and not _PRINTABLE.fullmatch(value):
            ctx.fail(f"{kind.name} must be non-empty printable ASCII (RFC 7296 3.5)", f"{path}.id_data", at)
        if kind == IdType.ID_DER_ASN1_DN:
            try:
                check_dn(value, ctx.base + at)
            except ParseError as err:  # name the payload: IDi.id_data, SK.IDr.id_data
                raise ParseError(err.reason, field=f"{path}.id_data", offset=err.offset) from None

    @classmethod
    def _trace_data(cls, kind: Any, value: bytes, at: int, ctx: DecodeContext, path: str) -> None:
        shown = cls._from_wire(kind, value, False).value  # type: ignore[attr-defined]
        ctx.row(at, len(value), f"{path}.id_data", shown.hex() if isinstance(shown, bytes) else shown)


def _ascii(text: Any) -> bytes:
    """``text`` as ASCII octets (RFC 7296 3.5 names), else ConfigError naming ``id_data``."""
    if not isinstance(text, str) or not text.isascii():
        raise ConfigError(f"identity {text!r} must be an ASCII str (RFC 7296 3.5)", field="id_data", value=text)
    return text.encode("ascii")


@from_wire
@dataclass(frozen=True, slots=True)
class IDi(_Identification):
    """Identification - Initiator (RFC 7296 3.5): ID Type | RESERVED (3) | Identification Data."""

    payload_type = PayloadType.IDi


@from_wire
@dataclass(frozen=True, slots=True)
class IDr(_Identification):
    """Identification - Responder (RFC 7296 3.5)."""

    payload_type = PayloadType.IDr
