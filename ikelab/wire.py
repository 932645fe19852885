"""Low-level helpers shared by the IKEv2 wire codecs (RFC 7296 section 3).

RFC 7296 3: "All multi-octet fields representing integers are laid out in big
endian order (also known as 'most significant byte first', or 'network byte
order')", and RESERVED fields "MUST be sent as zero; MUST be ignored on
receipt".

Decoding reports every problem as :class:`~ikelab.errors.ParseError` naming
the field (a dotted path such as ``SA.proposal[1].transform[2].length``) and
the byte offset counted from the first octet of the IKE header.  Encoding
refuses values that do not fit their field with
:class:`~ikelab.errors.ConfigError`.

A :class:`DecodeContext` optionally records one :class:`DumpRow` per field:
the decoder itself is the dissector, so the field-by-field dump of
:mod:`ikelab.views` can never disagree with what :func:`ikelab.message.decode`
understood.

Speed: every payload class is a frozen dataclass whose public constructor
normalises and checks its arguments.  A decoder has already checked each
value it read and made the enum members itself, so it builds objects with
``cls._from_wire(...)`` (added by :func:`ikelab.records.from_wire`), which only stores the
values.  Enum members are found through the ``value -> member`` dicts of the
enums (:func:`members`) rather than by calling the enum class.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NoReturn, TypeVar

from .constants import PayloadType, lookup, not_an_enum
from .errors import ConfigError, ParseError
from .records import from_wire  # noqa: F401 - payload modules take it from here

U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
U16U16 = struct.Struct("!HH")
#: The generic payload header (RFC 7296 3.2): Next Payload | C + RESERVED | Payload Length.
GENERIC_HEADER = struct.Struct("!BBH")

E = TypeVar("E", bound=IntEnum)


def members(enum: type[E]) -> dict[int, E]:
    """The ``value -> member`` dict of an IntEnum (the one ``enum(value)`` consults).

    Looking a value up in it is several times faster than calling the enum
    class; decoders keep it in a module constant.
    """
    return enum._value2member_map_  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class DumpRow:
    """One dissected field: where it is, what it is called, what it means.

    ``offset`` counts from the first octet of the IKE header.  For fields of
    decrypted payloads (``decrypted=True``) the offset is that of the
    ciphertext octet which carried them (CBC, CTR and the AEAD modes keep
    plaintext and ciphertext aligned octet by octet).
    """

    offset: int
    length: int
    path: str
    value: str
    decrypted: bool = False


class DecodeContext:
    """Where the bytes being decoded sit in the datagram, and the optional trace."""

    __slots__ = ("base", "trace", "decrypted")

    def __init__(self, base: int = 0, trace: list[DumpRow] | None = None, decrypted: bool = False) -> None:
        self.base = base
        self.trace = trace
        self.decrypted = decrypted

    def fail(self, message: str, field: str, index: int) -> NoReturn:
        """Raise ParseError for ``field`` at ``index`` of the buffer being decoded."""
        raise ParseError(message, field=field, offset=self.base + index)

    def row(self, index: int, length: int, path: str, value: Any) -> None:
        """Record a dump row (only called when ``trace`` is not None)."""
        assert self.trace is not None
        self.trace.append(DumpRow(self.base + index, length, path, str(value), self.decrypted))

    def child(self, base: int, decrypted: bool) -> "DecodeContext":
        """A context for a decrypted buffer whose octet 0 maps to datagram offset ``base``."""
        return DecodeContext(base, self.trace, decrypted)


def to_enum(enum: type[E], value: int) -> E | int:
    """The member of ``enum`` with this value, or the plain int when unassigned."""
    try:
        return enum._value2member_map_.get(value, value)  # type: ignore[return-value]
    except (AttributeError, TypeError):  # checked only when it fails: every decoded field comes here
        raise _bad_enum_args(enum, value) from None


def name_of(value: int, enum: type[IntEnum] | None = None) -> str:
    """``"NAME (n)"`` for an enum member, ``"n"`` or ``"unknown (n)"`` otherwise."""
    if isinstance(value, IntEnum):
        return f"{value.name} ({int(value)})"
    if enum is not None:
        try:
            member = enum._value2member_map_.get(value)
        except (AttributeError, TypeError):  # checked only when it fails
            raise _bad_enum_args(enum, value) from None
        if member is not None:
            return f"{member.name} ({value})"
        return f"unknown ({value})"
    return str(value)


def _bad_enum_args(enum: Any, value: Any) -> ConfigError:
    """The error for to_enum/name_of given an ``enum`` that is no enum class or a ``value`` that is no int."""
    if not (isinstance(enum, type) and hasattr(enum, "_value2member_map_")):
        return not_an_enum(enum)
    return ConfigError(f"value must be an int (a {enum.__name__} number), not {type(value).__name__}", field="value",
                       value=value)


def check_uint(value: Any, bits: int, field: str, sub: str | None = None) -> int:
    """``value`` as an int that fits in ``bits`` bits, else ConfigError naming ``field`` (``field.sub``)."""
    if type(value) is not int:  # an IntEnum member, a bool, or not a number at all
        if value.__class__ is bool or not isinstance(value, int):
            name = f"{field}.{sub}" if sub else field
            raise ConfigError(f"{name} must be an integer, not {type(value).__name__} {value!r}", field=name, value=value)
        value = int(value)
    if value < 0 or value >> bits:
        name = f"{field}.{sub}" if sub else field
        raise ConfigError(f"{name} = {value} does not fit in {bits} bits (0..{(1 << bits) - 1})", field=name, value=value)
    return value


def check_bytes(value: Any, field: str, sub: str | None = None, *, max_len: int | None = None, min_len: int = 0) -> bytes:
    """``value`` as bytes whose length is within bounds, else ConfigError naming ``field`` (``field.sub``)."""
    if type(value) is not bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            name = f"{field}.{sub}" if sub else field
            raise ConfigError(f"{name} must be bytes, not {type(value).__name__}", field=name, value=value)
        value = bytes(value)
    try:
        out_of_bounds = len(value) < min_len or (max_len is not None and len(value) > max_len)
    except TypeError:  # checked only when it fails: every encoded field comes here
        bad, got = "max_len", max_len
        try:
            len(value) < min_len  # noqa: B015 - which bound is it?
        except TypeError:
            bad, got = "min_len", min_len
        raise ConfigError(f"{bad} must be an int (octets), not {type(got).__name__}", field=bad, value=got) from None
    if out_of_bounds:
        name = f"{field}.{sub}" if sub else field
        bound = f"{min_len}..{max_len}" if max_len is not None else f">= {min_len}"
        raise ConfigError(f"{name} is {len(value)} bytes; it must be {bound} bytes", field=name, value=len(value))
    return value


def payload_header(next_payload: int, critical: bool, length: int, field: str) -> bytes:
    """The 4-octet generic payload header (RFC 7296 3.2)."""
    if length > 0xFFFF:
        raise ConfigError(f"{field} is {length} bytes long; a payload holds at most 65535", field=f"{field}.payload_length", value=length)
    if critical.__class__ is not bool:
        critical = check_critical(critical, field)
    return GENERIC_HEADER.pack(next_payload, 0x80 if critical else 0, length)


def check_critical(value: Any, path: str) -> bool:
    """The Critical flag as a bool (RFC 7296 3.2: one bit); 0 and 1 pass, anything else is a ConfigError."""
    if value.__class__ is bool:
        return value
    if value.__class__ is int and value in (0, 1):
        return bool(value)
    raise ConfigError(f"{path}.critical must be True or False, not {value!r:.40}", field=f"{path}.critical",
                      value=value)


class Payload:
    """Base class of every IKEv2 payload dataclass (RFC 7296 3.2).

    Each subclass has a ``payload_type`` (the value that the *previous*
    payload's Next Payload field carries for it) and a ``critical`` field:
    the Critical bit, which "MUST be ignored by the recipient if the
    recipient understands the payload type code".  Subclasses implement
    ``_body`` (encode the payload body, after the generic header) and
    ``_decode`` (decode it from ``data[start:end]``).
    """

    __slots__ = ()
    payload_type: int = 0
    critical: bool
    #: The IANA short name of ``payload_type``, set once per class.
    _type_name: str = "payload(0)"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ptype = cls.payload_type
        if isinstance(ptype, int):  # not for UnknownPayload, whose payload_type is a field
            member = PayloadType._value2member_map_.get(ptype)
            cls._type_name = member.name if member is not None else f"payload({ptype})"

    @property
    def name(self) -> str:
        """The IANA short name of the payload type (``SA``, ``KE``, ``NONCE``, ``N``...)."""
        return self._type_name

    def _body(self, path: str) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> "Payload":  # pragma: no cover
        raise NotImplementedError

    def encode(self, next_payload: int | None = 0) -> bytes:
        """This payload alone: generic header (with ``next_payload``) and body."""
        body = self._body(self.name)
        return payload_header(next_payload or 0, self.critical, 4 + len(body), self.name) + body


#: Types that enum-valued constructor arguments are normalised from (ints and IANA names).
RAW_TYPES = (int, str)


def norm_enum(enum: type[IntEnum] | None, value: Any) -> Any:
    """Accept a member, an int or an IANA name string; unassigned ints stay ints."""
    if enum is None:
        return value
    if type(value) is int:
        return enum._value2member_map_.get(value, value)
    if isinstance(value, str):
        return lookup(enum, value)
    return value


class SimpleHeader:
    """Mixin for payloads shaped ``type (1) | RESERVED (r) | data``.

    The dataclass fields are ``(<_field>, data, critical)``.
    """

    __slots__ = ()
    _enum: type[IntEnum]
    _field: str
    _reserved: int = 3
    _kinds: dict[int, Any] = {}
    _head: struct.Struct = struct.Struct("!B3x")  # the type octet and the RESERVED octets
    #: The most data octets that fit: Payload Length 65535 less the generic header and ``_head``.
    _max_data: int = 0xFFFF - 8

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_enum" in cls.__dict__:
            cls._kinds = members(cls._enum)
        cls._head = struct.Struct(f"!B{cls._reserved}x")
        cls._max_data = 0xFFFF - 4 - cls._head.size

    def _body(self, path: str) -> bytes:
        kind = getattr(self, self._field)
        if kind.__class__ is not self._enum:  # a member of the registry fits; anything else is checked
            kind = check_uint(kind, 8, path, self._field)
        data = self.data  # type: ignore[attr-defined]
        if not (data.__class__ is bytes and len(data) <= self._max_data):  # the usual data passes without a call
            data = check_bytes(data, path, "data", max_len=self._max_data)
        self._check(data, path)
        return self._head.pack(kind) + data

    def _check(self, data: bytes, path: str) -> None:
        """Extra encode-side validation of the data (overridden)."""

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> Any:
        head = 1 + cls._reserved
        if end - start < head:
            ctx.fail(f"{end - start} bytes; the {path} body needs at least {head}", f"{path}.{cls._field}", start)
        raw = data[start]
        kind = cls._kinds.get(raw, raw)
        value = data[start + head : end]
        cls._validate(kind, value, start + head, ctx, path)
        if ctx.trace is not None:
            ctx.row(start, 1, f"{path}.{cls._field}", name_of(kind, cls._enum))
            if cls._reserved:
                ctx.row(start + 1, cls._reserved, f"{path}.reserved", data[start + 1 : start + head].hex())
            cls._trace_data(kind, value, start + head, ctx, path)
        return cls._from_wire(kind, value, critical)  # type: ignore[attr-defined]

    @classmethod
    def _validate(cls, kind: Any, value: bytes, at: int, ctx: DecodeContext, path: str) -> None:
        """Extra decode-side validation (overridden)."""

    @classmethod
    def _trace_data(cls, kind: Any, value: bytes, at: int, ctx: DecodeContext, path: str) -> None:
        ctx.row(at, len(value), f"{path}.data", value.hex() if value else "(empty)")
