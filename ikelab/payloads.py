"""IKEv2 payloads (RFC 7296 3.2-3.16, RFC 7383 2.5): the data model and its wire codec.

Data model
==========
Every payload is a small frozen dataclass; every one has a ``critical``
field (the Critical bit of the generic payload header, RFC 7296 3.2, False by
default) and a class attribute ``payload_type``.  Enum-valued fields accept
the member, its int or its IANA name, and keep unassigned numbers as ints::

    SA(proposals)                               3.3  (ikelab.sa_payload)
        Proposal(number, protocol, spi, transforms)
        Transform(type, id, key_length=None, attributes=())
    KE(group, data)                             3.4
    IDi(id_type, data) / IDr(id_type, data)     3.5  .value, IDi.from_fqdn(...)
    CERT(encoding, data)                        3.6
    CERTREQ(encoding, data)                     3.7  .authorities
    AUTH(method, data)                          3.8
    Nonce(data)                                 3.9  16..256 octets
    Notify(notify_type, protocol, spi, data)    3.10 .is_error, .cookie, ...
    Delete(protocol, spis)                      3.11
    VendorId(data)                              3.12
    TSi(selectors) / TSr(selectors)             3.13 (ikelab.ts_payload)
        TrafficSelector(ts_type, ip_protocol, start_port, end_port, start_addr, end_addr)
    SK(inner=(...payloads...))                  3.14 plaintext form, or
    SK(encrypted=b"IV|ciphertext|ICV", next_payload=n)   as received without keys
    CP(cfg_type, attributes)                    3.15 (ikelab.cp_payload)
    EAP(data)                                   3.16 the EAP message, opaque
    SKF(fragment_number, total_fragments, ...)  RFC 7383 2.5
    UnknownPayload(payload_type, data)          any other type, kept when not critical

A message is a chain: the IKE header's Next Payload names the first payload,
each payload header names the next, and 0 ends the chain.  The Encrypted
payload "MUST be the last payload in the message" and its Next Payload field
names the first payload *inside* it (3.14).  :func:`encode_chain` and
:func:`decode_chain` handle the chain; :mod:`ikelab.message` adds the header
and :mod:`ikelab.sk` the cryptography.

Decoding is strict: every length is checked against the bytes present, and
every problem is a ParseError naming the field and its offset.  A payload of
an unknown type with the Critical bit set raises
UnsupportedCriticalPayloadError (RFC 7296 2.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from .constants import AuthMethod, CertEncoding, DhId, PayloadType, ProtocolId
from .cp_payload import CP
from .errors import ConfigError, UnsupportedCriticalPayloadError
from .id_payload import IDi, IDr
from .notify_payload import Notify, nat_detection_hash
from .sa_payload import SA, Proposal, Transform
from .ts_payload import RawTrafficSelector, TrafficSelector, TSi, TSr
from .wire import (GENERIC_HEADER, U16, U16U16, DecodeContext, Payload, SimpleHeader, check_bytes, check_critical,
                   check_uint, from_wire, members, name_of, RAW_TYPES, norm_enum, payload_header, to_enum)

__all__ = [
    "AUTH", "CERT", "CERTREQ", "CP", "Delete", "EAP", "IDi", "IDr", "KE", "Nonce", "Notify", "Payload",
    "Proposal", "RawTrafficSelector", "SA", "SK", "SKF", "SkDetails", "TSi", "TSr", "TrafficSelector",
    "Transform", "UnknownPayload", "VendorId", "decode_chain", "encode_chain", "nat_detection_hash",
]

_DH_GROUPS = members(DhId)


@from_wire
@dataclass(frozen=True, slots=True)
class KE(Payload):
    """Key Exchange payload (RFC 7296 3.4): DH Group Num (2) | RESERVED (2) | Key Exchange Data."""

    group: DhId | int
    data: bytes
    critical: bool = False
    payload_type = PayloadType.KE

    def __post_init__(self) -> None:
        if type(self.group) in RAW_TYPES:
            object.__setattr__(self, "group", norm_enum(DhId, self.group))

    def _body(self, path: str) -> bytes:
        group = self.group if self.group.__class__ is DhId else check_uint(self.group, 16, path, "dh_group")
        data = self.data
        if not (data.__class__ is bytes and len(data) <= 0xFFFF - 8):  # the usual data passes without a call
            data = check_bytes(data, path, "key_exchange_data", max_len=0xFFFF - 8)
        return U16.pack(group) + b"\0\0" + data

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> "KE":
        if end - start < 4:
            ctx.fail(f"{end - start} bytes; the KE body needs at least 4", f"{path}.dh_group", start)
        raw = U16.unpack_from(data, start)[0]
        group = _DH_GROUPS.get(raw, raw)
        value = data[start + 4 : end]
        if ctx.trace is not None:
            ctx.row(start, 2, f"{path}.dh_group", name_of(group, DhId))
            ctx.row(start + 2, 2, f"{path}.reserved", data[start + 2 : start + 4].hex())
            ctx.row(start + 4, len(value), f"{path}.key_exchange_data", value.hex() if value else "(empty)")
        return cls._from_wire(group, value, critical)  # type: ignore[attr-defined]


# -- CERT, CERTREQ, AUTH -------------------------------------------------------


@from_wire
@dataclass(frozen=True, slots=True)
class CERT(SimpleHeader, Payload):
    """Certificate payload (RFC 7296 3.6): Cert Encoding | Certificate Data."""

    encoding: CertEncoding | int
    data: bytes
    critical: bool = False
    payload_type = PayloadType.CERT
    _enum = CertEncoding
    _field = "encoding"
    _reserved = 0

    def __post_init__(self) -> None:
        if type(self.encoding) in RAW_TYPES:
            object.__setattr__(self, "encoding", norm_enum(CertEncoding, self.encoding))


@from_wire
@dataclass(frozen=True, slots=True)
class CERTREQ(SimpleHeader, Payload):
    """Certificate Request payload (RFC 7296 3.7): Cert Encoding | Certification Authority.

    For X.509 the authority field "is a concatenated list of SHA-1 hashes of
    the public keys of trusted Certification Authorities".
    """

    encoding: CertEncoding | int
    data: bytes = b""
    critical: bool = False
    payload_type = PayloadType.CERTREQ
    _enum = CertEncoding
    _field = "encoding"
    _reserved = 0

    def __post_init__(self) -> None:
        if type(self.encoding) in RAW_TYPES:
            object.__setattr__(self, "encoding", norm_enum(CertEncoding, self.encoding))

    @property
    def authorities(self) -> tuple[bytes, ...]:
        """The 20-octet SHA-1 key hashes (X.509 encodings), else ``(data,)`` or ``()``."""
        if self.encoding == CertEncoding.X509_CERTIFICATE_SIGNATURE and len(self.data) % 20 == 0:
            return tuple(self.data[i : i + 20] for i in range(0, len(self.data), 20))
        return (self.data,) if self.data else ()

    def _check(self, data: bytes, path: str) -> None:
        if self.encoding == CertEncoding.X509_CERTIFICATE_SIGNATURE and len(data) % 20:
            raise ConfigError(f"{path}: X.509 authorities are 20-byte SHA-1 hashes; {len(data)} bytes given", field=f"{path}.data", value=len(data))

    @classmethod
    def _validate(cls, kind: Any, value: bytes, at: int, ctx: DecodeContext, path: str) -> None:
        if kind == CertEncoding.X509_CERTIFICATE_SIGNATURE and len(value) % 20:
            ctx.fail(f"{len(value)} bytes is not a list of 20-byte SHA-1 hashes", f"{path}.data", at)


@from_wire
@dataclass(frozen=True, slots=True)
class AUTH(SimpleHeader, Payload):
    """Authentication payload (RFC 7296 3.8): Auth Method | RESERVED (3) | Authentication Data."""

    method: AuthMethod | int
    data: bytes
    critical: bool = False
    payload_type = PayloadType.AUTH
    _enum = AuthMethod
    _field = "method"

    def __post_init__(self) -> None:
        if type(self.method) in RAW_TYPES:
            object.__setattr__(self, "method", norm_enum(AuthMethod, self.method))


# -- Nonce, V, EAP, unknown ---------------------------------------------------


class _Opaque:
    """Mixin for payloads whose body is one opaque field ``data``."""

    __slots__ = ()
    _min = 0
    _max = 0xFFFF - 4
    _label = "data"

    def _body(self, path: str) -> bytes:
        data = self.data  # type: ignore[attr-defined]
        if data.__class__ is bytes and self._min <= len(data) <= self._max:  # the usual data passes without a call
            return data
        return check_bytes(data, path, self._label, min_len=self._min, max_len=self._max)

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> Any:
        n = end - start
        if n < cls._min or n > cls._max:
            ctx.fail(f"{n} bytes; {path} data must be {cls._min}..{cls._max} bytes", f"{path}.{cls._label}", start)
        value = data[start:end]
        if ctx.trace is not None:
            ctx.row(start, n, f"{path}.{cls._label}", value.hex() if value else "(empty)")
        return cls._from_wire(value, critical)  # type: ignore[attr-defined]


@from_wire
@dataclass(frozen=True, slots=True)
class Nonce(_Opaque, Payload):
    """Nonce payload (RFC 7296 3.9): "at least 128 bits in size ... at most 2048 bits"."""

    data: bytes
    critical: bool = False
    payload_type = PayloadType.NONCE
    _min = 16
    _max = 256
    _label = "nonce_data"


@from_wire
@dataclass(frozen=True, slots=True)
class VendorId(_Opaque, Payload):
    """Vendor ID payload (RFC 7296 3.12): opaque Vendor ID octets."""

    data: bytes
    critical: bool = False
    payload_type = PayloadType.V
    _label = "vendor_id"


@from_wire
@dataclass(frozen=True, slots=True)
class EAP(_Opaque, Payload):
    """EAP payload (RFC 7296 3.16): one EAP message (RFC 3748), kept opaque."""

    data: bytes
    critical: bool = False
    payload_type = PayloadType.EAP
    _label = "eap_message"


@from_wire
@dataclass(frozen=True, slots=True)
class UnknownPayload(Payload):
    """A payload of a type ikelab does not decode, kept because its Critical bit was clear."""

    payload_type: int  # type: ignore[misc]
    data: bytes = b""
    critical: bool = False

    @property
    def name(self) -> str:
        return f"payload({self.payload_type})"

    def _body(self, path: str) -> bytes:
        ptype = check_uint(self.payload_type, 8, path, "payload_type")
        if ptype in PAYLOAD_CLASSES or ptype == 0:
            raise ConfigError(f"{path}: payload type {ptype} is decoded by ikelab; use its class", field=f"{path}.payload_type", value=ptype)
        return check_bytes(self.data, path, "data", max_len=0xFFFF - 4)


# -- Delete ------------------------------------------------------------------


@from_wire
@dataclass(frozen=True, slots=True)
class Delete(Payload):
    """Delete payload (RFC 7296 3.11): Protocol ID | SPI Size | Num of SPIs (2) | SPIs.

    Deleting the IKE SA uses Protocol ID 1 with no SPIs (SPI Size 0); ESP and
    AH SAs are named by their 4-octet inbound SPIs.
    """

    protocol: ProtocolId | int
    spis: tuple[bytes, ...] = ()
    critical: bool = False
    payload_type = PayloadType.D

    def __post_init__(self) -> None:
        if type(self.protocol) in RAW_TYPES:
            object.__setattr__(self, "protocol", norm_enum(ProtocolId, self.protocol))
        if not isinstance(self.spis, tuple):
            if isinstance(self.spis, (bytes, bytearray, memoryview, str)) or not hasattr(self.spis, "__iter__"):
                raise ConfigError(f"D.spis must be a list of SPIs (bytes), not {type(self.spis).__name__}",
                                  field="D.spis", value=self.spis)
            object.__setattr__(self, "spis", tuple(self.spis))

    def _body(self, path: str) -> bytes:
        protocol = check_uint(self.protocol, 8, path, "protocol_id")
        size = {ProtocolId.IKE: 0, ProtocolId.AH: 4, ProtocolId.ESP: 4}.get(protocol)  # type: ignore[call-overload]
        if size is None:
            raise ConfigError(f"{path}: Delete names IKE (1), AH (2) or ESP (3), not protocol {protocol}", field=f"{path}.protocol_id", value=protocol)
        if size == 0 and self.spis:
            raise ConfigError(f"{path}: deleting the IKE SA carries no SPIs (RFC 7296 3.11)", field=f"{path}.spis", value=self.spis)
        if len(self.spis) > 0xFFFF:
            raise ConfigError(f"{path}: {len(self.spis)} SPIs; at most 65535", field=f"{path}.num_spis", value=len(self.spis))
        spis = [check_bytes(s, f"{path}.spi[{i + 1}]", min_len=size, max_len=size) for i, s in enumerate(self.spis)]
        return bytes((protocol, size)) + U16.pack(len(spis)) + b"".join(spis)

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> "Delete":
        if end - start < 4:
            ctx.fail(f"{end - start} bytes; the Delete body needs at least 4", f"{path}.protocol_id", start)
        protocol = to_enum(ProtocolId, data[start])
        size, count = data[start + 1], U16.unpack_from(data, start + 2)[0]
        expected = {ProtocolId.IKE: 0, ProtocolId.AH: 4, ProtocolId.ESP: 4}.get(protocol)
        if expected is None:
            ctx.fail(f"protocol ID {int(protocol)} is not IKE (1), AH (2) or ESP (3)", f"{path}.protocol_id", start)
        if size != expected:
            ctx.fail(f"SPI size {size} for {protocol.name}; expected {expected}", f"{path}.spi_size", start + 1)
        if expected == 0 and count:
            ctx.fail(f"deleting the IKE SA carries no SPIs, but Num of SPIs is {count}", f"{path}.num_spis", start + 2)
        if count * size != end - start - 4:
            ctx.fail(f"Num of SPIs {count} x {size} bytes does not match the {end - start - 4} bytes present", f"{path}.num_spis", start + 2)
        spis = tuple(data[start + 4 + i * size : start + 4 + (i + 1) * size] for i in range(count))
        if ctx.trace is not None:
            ctx.row(start, 1, f"{path}.protocol_id", name_of(protocol, ProtocolId))
            ctx.row(start + 1, 1, f"{path}.spi_size", size)
            ctx.row(start + 2, 2, f"{path}.num_spis", count)
            for i, spi in enumerate(spis):
                ctx.row(start + 4 + i * size, size, f"{path}.spi[{i + 1}]", spi.hex())
        return cls._from_wire(protocol, spis, critical)  # type: ignore[attr-defined]


# -- SK and SKF ----------------------------------------------------------------


@from_wire
@dataclass(frozen=True, slots=True)
class SkDetails:
    """What decrypting an SK or SKF payload showed (for dissection; not compared)."""

    iv: bytes
    ciphertext: bytes
    icv: bytes
    padding: bytes
    pad_length: int
    plaintext: bytes  # the inner payloads (or fragment content), without padding


@from_wire
@dataclass(frozen=True, slots=True)
class SK(Payload):
    """Encrypted and Authenticated payload (RFC 7296 3.14).

    Either ``inner`` holds the payloads to protect (or that were decrypted),
    or ``encrypted`` holds ``IV | ciphertext | ICV`` as received without keys,
    with ``next_payload`` the type of the first inner payload.  In the inner
    form ``next_payload`` is computed.
    """

    inner: tuple[Payload, ...] | None = None
    encrypted: bytes | None = None
    next_payload: int = 0
    critical: bool = False
    details: SkDetails | None = field(default=None, compare=False, repr=False)
    payload_type = PayloadType.SK

    def __post_init__(self) -> None:
        if (self.inner is None) == (self.encrypted is None):
            raise ConfigError("SK needs exactly one of inner= (payloads) or encrypted= (bytes)", field="SK", value=None)
        if self.inner is not None:
            if not isinstance(self.inner, tuple):
                object.__setattr__(self, "inner", tuple(self.inner))
            object.__setattr__(self, "next_payload", _type_code(self.inner[0]) if self.inner else 0)  # type: ignore[index]

    @property
    def is_decrypted(self) -> bool:
        """True when the inner payloads are known."""
        return self.inner is not None

    def _body(self, path: str) -> bytes:
        if self.encrypted is None:
            raise ConfigError(f"{path} holds plaintext payloads: encode the message with crypto=", field=f"{path}.inner", value=None)
        return check_bytes(self.encrypted, path, "encrypted", max_len=0xFFFF - 4)

    def encode(self, next_payload: int | None = None) -> bytes:
        """The opaque form alone; its Next Payload field is ``self.next_payload`` (the first inner type)."""
        body = self._body("SK")
        return payload_header(check_uint(self.next_payload, 8, "SK.next_payload"), bool(self.critical), 4 + len(body), "SK") + body

    def parts(self, iv_len: int, icv_len: int) -> tuple[bytes, bytes, bytes]:
        """Split the opaque form into (IV, ciphertext, ICV) for a transform's sizes."""
        body = self.encrypted or b""
        if len(body) < iv_len + icv_len:
            raise ConfigError(f"SK body of {len(body)} bytes is shorter than IV + ICV ({iv_len} + {icv_len})", field="SK.encrypted", value=len(body))
        return body[:iv_len], body[iv_len : len(body) - icv_len], body[len(body) - icv_len :]


@from_wire
@dataclass(frozen=True, slots=True)
class SKF(Payload):
    """Encrypted Fragment payload (RFC 7383 2.5): Fragment Number (2) | Total Fragments (2) | IV | ...

    ``content`` is this fragment's share of the inner payload octets (to
    protect, or decrypted); ``encrypted`` the opaque ``IV | ciphertext |
    ICV``.  ``next_payload`` is the first inner payload type in fragment 1
    and 0 in the others.
    """

    fragment_number: int
    total_fragments: int
    content: bytes | None = None
    encrypted: bytes | None = None
    next_payload: int = 0
    critical: bool = False
    details: SkDetails | None = field(default=None, compare=False, repr=False)
    payload_type = PayloadType.SKF

    def __post_init__(self) -> None:
        if (self.content is None) == (self.encrypted is None):
            raise ConfigError("SKF needs exactly one of content= or encrypted=", field="SKF", value=None)

    @property
    def is_decrypted(self) -> bool:
        """True when the fragment's plaintext content is known."""
        return self.content is not None

    def _body(self, path: str) -> bytes:
        number, total = self.check_numbers(path)
        if self.encrypted is None:
            raise ConfigError(f"{path} holds plaintext content: encode the message with crypto=", field=f"{path}.content", value=None)
        return U16.pack(number) + U16.pack(total) + check_bytes(self.encrypted, path, "encrypted", max_len=0xFFFF - 8)

    def encode(self, next_payload: int | None = None) -> bytes:
        """The opaque form alone; its Next Payload field is ``self.next_payload``."""
        body = self._body("SKF")
        return payload_header(check_uint(self.next_payload, 8, "SKF.next_payload"), bool(self.critical), 4 + len(body), "SKF") + body

    def check_numbers(self, path: str = "SKF") -> tuple[int, int]:
        """Fragment Number and Total Fragments, checked: 1 <= number <= total."""
        number = check_uint(self.fragment_number, 16, path, "fragment_number")
        total = check_uint(self.total_fragments, 16, path, "total_fragments")
        if not 1 <= number <= total:
            raise ConfigError(f"{path}: fragment {number} of {total} (RFC 7383 2.5 needs 1 <= number <= total)", field=f"{path}.fragment_number", value=number)
        return number, total


# -- the payload chain ---------------------------------------------------------

PAYLOAD_CLASSES: dict[int, type[Payload]] = {
    cls.payload_type: cls
    for cls in (SA, KE, IDi, IDr, CERT, CERTREQ, AUTH, Nonce, Notify, Delete, VendorId, TSi, TSr, SK, CP, EAP, SKF)
}


_LABELS = {t: PayloadType(t).name for t in PAYLOAD_CLASSES}
#: Payload type -> (class, label), for :func:`decode_chain`.
_DECODERS = {t: (cls, _LABELS[t]) for t, cls in PAYLOAD_CLASSES.items()}
#: The Next Payload code of each payload class (an int, as :func:`encode_chain` returns it).
_CODES: dict[type, int] = {cls: int(t) for t, cls in PAYLOAD_CLASSES.items()}


def _type_code(payload: Any) -> int:
    code = _CODES.get(payload.__class__)
    if code is not None:
        return code
    if not isinstance(payload, Payload):
        raise ConfigError(f"{payload!r} is not an IKEv2 payload", field="payloads", value=payload)
    return int(payload.payload_type)


def encode_chain(payloads: Sequence[Payload], *, last_next: int = 0, prefix: str = "") -> tuple[int, bytes]:
    """Encode a payload chain; return (type of the first payload, bytes).

    ``last_next`` is written into the last payload's Next Payload field (the
    caller appends an SK payload there).  SK and SKF are refused here: they
    need keys, see :mod:`ikelab.message`.
    """
    if not payloads:
        return last_next, b""
    codes = _CODES
    types: list[int] = []
    for p in payloads:  # a loop, not a comprehension: Python 3.11 runs each comprehension as a function call
        types.append(codes.get(p.__class__) or _type_code(p))
    types.append(last_next)  # what the last payload's Next Payload field carries
    paths = _PATHS.get(prefix) or _first_paths(prefix)
    pack = GENERIC_HEADER.pack
    out = []
    seen: dict[int, int] = {}
    i = 0
    for p in payloads:
        t = types[i]
        i += 1
        if t == 46 or t == 53:
            raise ConfigError(f"{prefix}{p.name} must be the last payload and cannot be nested", field=f"{prefix}payloads", value=i - 1)
        # the path names the payload in error messages: SA, then SA[2], N[3]...
        if t in seen:
            count = seen[t] = seen[t] + 1
            path = f"{prefix}{_LABELS[t] if p.__class__ is not UnknownPayload else p.name}[{count}]"
        else:
            seen[t] = 1
            path = paths[t] if p.__class__ is not UnknownPayload else prefix + p.name
        body = p._body(path)
        length = 4 + len(body)
        if length > 0xFFFF:
            raise ConfigError(f"{path} is {length} bytes long; a payload holds at most 65535", field=f"{path}.payload_length", value=length)
        # False, the usual flag, costs one test; True and anything else (a truthy "no" must not set the bit)
        # go through check_critical (RFC 7296 3.2)
        out.append(pack(types[i], 0 if p.critical is False else 0x80 * check_critical(p.critical, path), length))
        out.append(body)
    return types[0], b"".join(out)


#: prefix -> (payload type -> the path of its first occurrence), e.g. "SK." -> {35: "SK.IDi", ...}.
_PATHS: dict[str, dict[int, str]] = {}


def _first_paths(prefix: str) -> dict[int, str]:
    paths = {t: prefix + label for t, label in _LABELS.items()}
    if len(_PATHS) < 16:  # "" and "SK." in practice; bounded all the same
        _PATHS[prefix] = paths
    return paths


def decode_chain(first: int, data: bytes, start: int, end: int, ctx: DecodeContext, *, prefix: str = "", inner: bool = False) -> tuple[Payload, ...]:
    """Decode the payloads in ``data[start:end]`` starting with type ``first``.

    An SK or SKF payload ends the chain and must reach ``end``; inside an
    SK payload (``inner=True``) they are refused.  SK and SKF are returned in
    their opaque (encrypted) form.
    """
    payloads: list[Payload] = []
    ptype = first
    pos = start
    seen: dict[int, int] = {}
    trace = ctx.trace is not None
    paths = _PATHS.get(prefix) or _first_paths(prefix)
    while ptype:
        cls, label = _DECODERS.get(ptype) or (None, f"payload({ptype})")
        if ptype in seen:  # the second SA, the third N...: SA[2], N[3]
            count = seen[ptype] = seen[ptype] + 1
            path = f"{prefix}{label}[{count}]"
        else:
            seen[ptype] = 1
            path = paths.get(ptype) or prefix + label
        if end - pos < 4:
            ctx.fail(f"{end - pos} bytes left where a {label} payload header (4 bytes) should be", f"{path}.payload_length", pos)
        nxt, flags, length = GENERIC_HEADER.unpack_from(data, pos)
        critical = (flags & 0x80) != 0
        if length < 4 or length > end - pos:
            ctx.fail(f"payload length {length} does not fit (4..{end - pos})", f"{path}.payload_length", pos + 2)
        if trace:
            nxt_name = name_of(nxt, PayloadType)
            ctx.row(pos, 1, f"{path}.next_payload", f"{nxt_name} (first inner payload)" if ptype in (46, 53) else nxt_name)
            ctx.row(pos + 1, 1, f"{path}.critical", "1 (critical)" if critical else "0 (not critical)")
            ctx.row(pos + 2, 2, f"{path}.payload_length", length)
        if cls is None:
            if critical:
                raise UnsupportedCriticalPayloadError(ptype, offset=ctx.base + pos)
            payload: Payload = UnknownPayload._from_wire(ptype, data[pos + 4 : pos + length], critical)  # type: ignore[attr-defined]
            if trace:
                ctx.row(pos + 4, length - 4, f"{path}.data", data[pos + 4 : pos + length].hex() or "(empty)")
        elif ptype == 46 or ptype == 53:  # SK, SKF
            if inner:
                ctx.fail(f"an Encrypted payload MUST NOT contain another ({label}; RFC 7296 3.14)", f"{path}.next_payload", pos)
            if pos + length != end:
                ctx.fail(f"{label} must be the last payload, but {end - pos - length} bytes follow it", f"{path}.payload_length", pos + 2)
            if ptype == 46:
                payload = SK._from_wire(None, data[pos + 4 : end], nxt, critical, None)  # type: ignore[attr-defined]
                if trace:
                    ctx.row(pos + 4, length - 4, f"{path}.encrypted", f"IV | ciphertext | ICV ({length - 4} bytes)")
            else:
                if length < 8:
                    ctx.fail(f"an SKF payload is at least 8 bytes, not {length}", f"{path}.payload_length", pos + 2)
                number, total = U16U16.unpack_from(data, pos + 4)
                if total == 0:
                    ctx.fail("Total Fragments is 0", f"{path}.total_fragments", pos + 6)
                if not 1 <= number <= total:
                    ctx.fail(f"Fragment Number {number} is not in 1..{total}", f"{path}.fragment_number", pos + 4)
                payload = SKF._from_wire(number, total, None, data[pos + 8 : end], nxt, critical, None)  # type: ignore[attr-defined]
                if trace:
                    ctx.row(pos + 4, 2, f"{path}.fragment_number", number)
                    ctx.row(pos + 6, 2, f"{path}.total_fragments", total)
                    ctx.row(pos + 8, length - 8, f"{path}.encrypted", f"IV | ciphertext | ICV ({length - 8} bytes)")
            payloads.append(payload)
            return tuple(payloads)
        elif cls in _RECALLED and not trace and data.__class__ is bytes:
            # TSi, TSr, IDi, IDr: the same octets come back in every exchange (see _recall_payload)
            payload = _recall_payload(cls, data, pos, length, critical, ctx, path)
        else:
            payload = cls._decode(data, pos + 4, pos + length, critical, ctx, path)
        payloads.append(payload)
        pos += length
        ptype = nxt
    if pos != end:
        ctx.fail(f"{end - pos} bytes follow the last payload (Next Payload 0)", "payloads", pos)
    return tuple(payloads)


#: Payload classes whose decoded objects are remembered by their octets (see :func:`_recall_payload`).
_RECALLED = frozenset((TSi, TSr, IDi, IDr))
#: (class, octets from the flags octet to the end of the payload) -> the payload decoded from them.
_KNOWN_PAYLOADS: dict[tuple[type, bytes], Payload] = {}
_KNOWN_MAX = 1024  # the table is emptied when it grows past this


def _recall_payload(cls: Any, data: bytes, pos: int, length: int, critical: bool, ctx: DecodeContext, path: str) -> Payload:
    """Decode the payload at ``pos``, or give the object its octets decoded to before.

    The traffic selectors and identities of a connection are the same in every
    exchange, and payload objects are immutable, so one object serves them all.
    Only octets that decoded without error are remembered.
    """
    key = (cls, data[pos + 1 : pos + length])  # the flags octet (Critical bit), Payload Length, body
    payload = _KNOWN_PAYLOADS.get(key)
    if payload is None:
        payload = cls._decode(data, pos + 4, pos + length, critical, ctx, path)
        if len(_KNOWN_PAYLOADS) >= _KNOWN_MAX:
            _KNOWN_PAYLOADS.clear()
        _KNOWN_PAYLOADS[key] = payload
    return payload
