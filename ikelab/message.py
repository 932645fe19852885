"""IKEv2 messages: the IKE header and the payload chain (RFC 7296 3.1, 3.2; RFC 3948 2.2).

RFC 7296 3.1, the IKE header (28 octets)::

    IKE SA Initiator's SPI (8) | IKE SA Responder's SPI (8)
    Next Payload | MjVer | MnVer | Exchange Type | Flags
    Message ID (4) | Length (4)

Flags: R (0x20) "this message is a response", V (0x10) "the transmitter is
capable of speaking a higher major version number", I (0x08) "set in
messages sent by the original initiator of the IKE SA".  Implementations
"MUST reject or ignore messages containing a version number greater than 2"
and answer INVALID_MAJOR_VERSION: :func:`decode` raises ParseError with
field ``version`` for any major version other than 2.  Length is "the length
of the total message (header + payloads) in octets" and must equal the
datagram.

On UDP port 4500 IKE messages follow a four-zero-octet Non-ESP Marker
(RFC 3948 2.2), which :func:`strip_non_esp_marker` removes.

``decode(data)`` returns a :class:`Message`; ``Message.encode()`` gives the
bytes back.  With ``crypto=`` (an :class:`ikelab.sk.SkCrypto` or
:class:`~ikelab.sk.SkCryptoPair`) the SK or SKF payload is protected or
checked and decrypted (see :mod:`ikelab.sk`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Any, Iterator

from .constants import IKE_MAJOR_VERSION, NON_ESP_MARKER, ExchangeType, PayloadType
from .errors import ConfigError, ParseError
from .payloads import SK, SKF, Notify, Payload, decode_chain, encode_chain
from .sk import Crypto, not_a_crypto, open_encrypted, seal, sealed_length
from .wire import DecodeContext, DumpRow, check_bytes, check_uint, from_wire, members, name_of, RAW_TYPES, norm_enum, payload_header

__all__ = ["HEADER_LEN", "Header", "Message", "decode", "decode_header", "not_a_message", "strip_non_esp_marker"]

HEADER_LEN = 28
#: The IKE header (RFC 7296 3.1): SPIi (8) | SPIr (8) | Next Payload | MjVer + MnVer | Exchange Type | Flags | Message ID (4) | Length (4).
_HEADER = struct.Struct("!8s8sBBBBII")
FLAG_R = 0x20
FLAG_V = 0x10
FLAG_I = 0x08
_EXCHANGES = members(ExchangeType)


@from_wire
@dataclass(frozen=True, slots=True)
class Header:
    """The fixed IKE header as found on the wire (RFC 7296 3.1)."""

    spi_i: bytes
    spi_r: bytes
    next_payload: int
    major_version: int
    minor_version: int
    exchange: ExchangeType | int
    flags: int
    message_id: int
    length: int

    @property
    def is_initiator(self) -> bool:
        return bool(self.flags & FLAG_I)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_R)

    @property
    def version_flag(self) -> bool:
        return bool(self.flags & FLAG_V)


#: The bytes object whose header :func:`decode_header` last read with both checks, and that (frozen) header.
#: The engine reads a message's header to route it and then decodes the message (RFC 7296 3.1); given the very
#: same bytes object again, :func:`decode_header` and :func:`decode` take the header from here instead of reading
#: it a second and third time.  Identity, not equality: bytes are immutable, and the entry keeps them alive, so
#: the header is the one read from these octets.  Nothing a caller passes in is trusted.
_LAST_HEADER: tuple[Any, Any] = (None, None)


def decode_header(data: bytes, *, check_version: bool = True, check_length: bool = True) -> Header:
    """Decode the 28-octet IKE header; check the major version and the Length field.

    With ``check_version=False`` a message of another major version still
    yields its header, so that the engine can answer INVALID_MAJOR_VERSION
    to the right SPIs.
    """
    global _LAST_HEADER
    last = _LAST_HEADER
    checked = check_version is True and check_length is True
    if last[0] is data and checked:
        return last[1]  # type: ignore[no-any-return]
    spi_i, spi_r, next_payload, version, exchange, flags, message_id, length = _unpack_header(
        data if data.__class__ is bytes else _as_bytes(data), check_version, check_length)
    header = Header._from_wire(  # type: ignore[attr-defined]
        spi_i, spi_r, next_payload, version >> 4, version & 0x0F, exchange, flags, message_id, length)
    if checked and data.__class__ is bytes:
        _LAST_HEADER = (data, header)
    return header


def _as_bytes(data: Any, caller: str = "decode") -> bytes:
    """``data`` that is not exactly bytes (its callers pass bytes by) as bytes, else ConfigError naming ``caller``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ConfigError(f"{caller} needs bytes, not {type(data).__name__}", field="data", value=data)
    return bytes(data)


def _unpack_header(data: bytes, check_version: bool = True, check_length: bool = True) -> tuple[Any, ...]:
    """The header fields as unpacked (with the exchange as an ExchangeType member when assigned), checked."""
    if len(data) < HEADER_LEN:
        raise ParseError(f"{len(data)} bytes; the IKE header needs {HEADER_LEN}", field="HDR", offset=len(data))
    spi_i, spi_r, next_payload, version, exchange, flags, message_id, length = _HEADER.unpack_from(data)
    if check_version and version >> 4 != IKE_MAJOR_VERSION:
        raise ParseError(f"major version {version >> 4} is not 2 (answer INVALID_MAJOR_VERSION)", field="version", offset=17)
    if check_length and length != len(data):
        raise ParseError(f"Length field says {length} bytes but the message is {len(data)}", field="length", offset=24)
    return spi_i, spi_r, next_payload, version, _EXCHANGES.get(exchange, exchange), flags, message_id, length


def strip_non_esp_marker(datagram: bytes) -> bytes | None:
    """The IKE message inside a UDP/4500 payload, or None if it is not one (RFC 3948 2.2).

    IKE on port 4500 starts with the four-octet Non-ESP Marker (zeros);
    ESP starts with its non-zero SPI.  NAT-keepalives (the single octet
    0xFF, RFC 3948 2.3) and anything shorter than the marker also give None.
    """
    if datagram.__class__ is not bytes:
        datagram = _as_bytes(datagram, "strip_non_esp_marker")
    if len(datagram) >= 4 and datagram[:4] == NON_ESP_MARKER:
        return bytes(datagram[4:])
    return None


@from_wire
@dataclass(frozen=True, slots=True)
class Message:
    """An IKEv2 message: the header fields and the payloads (RFC 7296 3.1).

    ``is_initiator`` is the I flag (sent by the *original* initiator of the
    IKE SA), ``is_response`` the R flag, ``version_flag`` the V flag.  The
    Next Payload and Length fields are computed when encoding.
    """

    spi_i: bytes
    spi_r: bytes = bytes(8)
    exchange: ExchangeType | int = ExchangeType.IKE_SA_INIT
    is_initiator: bool = True
    is_response: bool = False
    message_id: int = 0
    payloads: tuple[Payload, ...] = ()
    version_flag: bool = False
    minor_version: int = 0

    def __post_init__(self) -> None:
        if type(self.exchange) in RAW_TYPES:
            object.__setattr__(self, "exchange", norm_enum(ExchangeType, self.exchange))
        if isinstance(self.payloads, Payload):
            object.__setattr__(self, "payloads", (self.payloads,))
        elif not isinstance(self.payloads, tuple):
            try:
                object.__setattr__(self, "payloads", tuple(self.payloads))
            except TypeError:
                raise ConfigError(f"payloads must be a sequence of payloads, not {type(self.payloads).__name__}", field="payloads", value=self.payloads) from None

    # -- reading -------------------------------------------------------------------

    @property
    def flags(self) -> int:
        """The Flags octet: R 0x20, V 0x10, I 0x08."""
        return (FLAG_I if self.is_initiator else 0) | (FLAG_V if self.version_flag else 0) | (FLAG_R if self.is_response else 0)

    @property
    def is_request(self) -> bool:
        return not self.is_response

    @property
    def all_payloads(self) -> tuple[Payload, ...]:
        """The payloads with a decrypted SK payload replaced by its inner payloads."""
        out: list[Payload] = []
        for p in self.payloads:
            if isinstance(p, SK) and p.inner is not None:
                out.extend(p.inner)
            else:
                out.append(p)
        return tuple(out)

    def find(self, kind: type[Payload] | int) -> Payload | None:
        """The first payload of a class (``Nonce``) or type number (40), inner payloads included."""
        return next(self.iter(kind), None)

    def find_all(self, kind: type[Payload] | int) -> tuple[Payload, ...]:
        """Every payload of a class or type number, inner payloads included."""
        return tuple(self.iter(kind))

    def iter(self, kind: type[Payload] | int) -> Iterator[Payload]:
        for p in self.all_payloads:
            if (isinstance(kind, type) and isinstance(p, kind)) or (isinstance(kind, int) and p.payload_type == kind):
                yield p

    @property
    def notifies(self) -> tuple[Notify, ...]:
        """Every Notify payload, inner payloads included."""
        return tuple(p for p in self.all_payloads if isinstance(p, Notify))

    def notify(self, notify_type: Any) -> Notify | None:
        """The first Notify of a type (member, int or name), or None."""
        from .constants import NotifyType

        t = norm_enum(NotifyType, notify_type)
        return next((n for n in self.notifies if n.notify_type == t), None)

    def summary(self) -> str:
        """RFC 7296 notation, e.g. ``HDR, SAi1, KEi, Ni`` (see :mod:`ikelab.views`)."""
        return _views().summary(self)

    @property
    def info(self) -> str:
        """The Info column string Wireshark shows for this message."""
        return _views().info_column(self)

    def with_payloads(self, *payloads: Payload) -> "Message":
        """A copy with other payloads."""
        return replace(self, payloads=payloads)

    # -- writing -------------------------------------------------------------------

    def _header(self, next_payload: int, length: int) -> bytes:
        spi_i, spi_r, exchange, minor, mid = self.spi_i, self.spi_r, self.exchange, self.minor_version, self.message_id
        # the usual values (8-byte SPIs, a registry member, minor version 0, a 32-bit Message ID)
        # pass these tests inline; anything else goes through the checks that name the problem
        if not (spi_i.__class__ is bytes and len(spi_i) == 8 and spi_r.__class__ is bytes and len(spi_r) == 8
                and exchange.__class__ is ExchangeType and minor.__class__ is int and minor == 0
                and mid.__class__ is int and 0 <= mid <= 0xFFFFFFFF):
            spi_i = check_bytes(spi_i, "HDR.spi_i", min_len=8, max_len=8)
            spi_r = check_bytes(spi_r, "HDR.spi_r", min_len=8, max_len=8)
            exchange = exchange if exchange.__class__ is ExchangeType else check_uint(exchange, 8, "HDR.exchange_type")
            minor = check_uint(minor, 4, "HDR.minor_version")
            mid = check_uint(mid, 32, "HDR.message_id")
        if length > 0xFFFFFFFF:
            raise ConfigError(f"message of {length} bytes is too long", field="HDR.length", value=length)
        flags = (FLAG_I if self.is_initiator else 0) | (FLAG_V if self.version_flag else 0) | (FLAG_R if self.is_response else 0)
        return _HEADER.pack(spi_i, spi_r, next_payload, (IKE_MAJOR_VERSION << 4) | minor, exchange, flags, mid, length)

    def encode(self, crypto: Crypto | None = None) -> bytes:
        """The message as bytes.

        A last payload ``SK(inner=...)`` (or an SKF with ``content``) is
        encrypted and integrity-protected with ``crypto`` (required then);
        one in opaque form (``encrypted=``) is copied as it is.
        """
        payloads = self.payloads
        last = payloads[-1] if payloads else None
        protected = isinstance(last, (SK, SKF))
        plain = payloads[:-1] if protected else payloads
        first, body = encode_chain(plain, last_next=int(last.payload_type) if protected else 0)  # type: ignore[union-attr]
        if not protected:
            return self._header(first, HEADER_LEN + len(body)) + body
        assert last is not None
        if isinstance(last, SKF):
            number, total = last.check_numbers()
            extra = number.to_bytes(2, "big") + total.to_bytes(2, "big")
            next_inner = check_uint(last.next_payload, 8, "SKF.next_payload")
            content = last.content
            opaque = last.encrypted
            label = "SKF"
        else:
            extra = b""
            if last.inner is not None:
                next_inner, content = encode_chain(last.inner, prefix="SK.")
            else:
                next_inner, content = check_uint(last.next_payload, 8, "SK.next_payload"), None
            opaque = last.encrypted
            label = "SK"
        if content is None:
            sealed = check_bytes(opaque, f"{label}.encrypted")
            c = None
        else:
            if crypto is None:
                raise ConfigError(f"the {label} payload holds plaintext: pass crypto= (an SkCrypto) to encrypt it", field="crypto", value=None)
            try:
                c = crypto.for_message(self.is_initiator)
            except AttributeError:
                raise not_a_crypto(crypto) from None
            sealed = b""
            if content.__class__ is not bytes:  # what encode_chain made is bytes; an SKF's content is checked
                content = check_bytes(content, f"{label}.content")
        sk_len = 4 + len(extra) + (len(sealed) if c is None else sealed_length(c, len(content)))  # type: ignore[arg-type]
        aad = self._header(first, HEADER_LEN + len(body) + sk_len) + body + payload_header(next_inner, bool(last.critical), sk_len, label) + extra
        if c is None:
            return aad + sealed
        return aad + seal(c, content, aad)  # type: ignore[arg-type]


def not_a_message(function: str, value: Any) -> ConfigError:
    """The error of a function that reads a decoded :class:`Message` and was given ``value`` instead."""
    hint = ": decode it first, ikelab.message.decode(data)" if isinstance(value, (bytes, bytearray, memoryview)) else ""
    return ConfigError(f"{function}() takes a decoded IKE message, not {type(value).__name__}{hint}",
                       field="message", value=value)


def decode(data: bytes, crypto: Crypto | None = None, *, trace: list[DumpRow] | None = None) -> Message:
    """Decode one IKE message (a UDP/500 payload, or UDP/4500 after :func:`strip_non_esp_marker`).

    Without ``crypto`` an SK or SKF payload stays opaque.  With it the ICV is
    checked (IntegrityError when wrong) and the inner payloads are decoded.
    Any malformation is a ParseError naming the field and offset; an unknown
    critical payload is UnsupportedCriticalPayloadError.  ``trace`` (a list)
    receives one :class:`~ikelab.wire.DumpRow` per field.  A header that
    :func:`decode_header` has just read from this very bytes object is not read
    again (``_LAST_HEADER``).
    """
    if data.__class__ is not bytes:  # bytes, the usual case, pass without a call
        data = _as_bytes(data)
    last = _LAST_HEADER
    if last[0] is data:  # read from these very octets, with the checks _unpack_header makes
        header = last[1]
        spi_i, spi_r, next_payload, exchange, flags, message_id = (
            header.spi_i, header.spi_r, header.next_payload, header.exchange, header.flags, header.message_id)
        version = header.minor_version
    else:
        spi_i, spi_r, next_payload, version, exchange, flags, message_id, _length = _unpack_header(data)
    ctx = DecodeContext(0, trace)
    if trace is not None:
        if not isinstance(trace, list):
            raise ConfigError(f"trace must be a list (it receives the DumpRows) or None, not {type(trace).__name__}",
                              field="trace", value=trace)
        _trace_header(ctx, data, decode_header(data))
    payloads = decode_chain(next_payload, data, HEADER_LEN, len(data), ctx)
    is_initiator = (flags & FLAG_I) != 0
    if crypto is not None and payloads and isinstance(payloads[-1], (SK, SKF)):
        try:
            c = crypto.for_message(is_initiator)
        except AttributeError:
            raise not_a_crypto(crypto) from None
        payloads = payloads[:-1] + (open_encrypted(payloads[-1], data, c, ctx),)
    return Message._from_wire(  # type: ignore[attr-defined]
        spi_i, spi_r, exchange, is_initiator, (flags & FLAG_R) != 0, message_id, payloads, (flags & FLAG_V) != 0, version & 0x0F
    )


def _trace_header(ctx: DecodeContext, data: bytes, hdr: Header) -> None:
    flags = []
    flags.append("Initiator" if hdr.is_initiator else "Responder")
    flags.append("higher version" if hdr.version_flag else "no higher version")
    flags.append("Response" if hdr.is_response else "Request")
    ctx.row(0, 8, "HDR.spi_i", hdr.spi_i.hex())
    ctx.row(8, 8, "HDR.spi_r", hdr.spi_r.hex())
    ctx.row(16, 1, "HDR.next_payload", name_of(hdr.next_payload, PayloadType))
    ctx.row(17, 1, "HDR.version", f"{hdr.major_version}.{hdr.minor_version}")
    ctx.row(18, 1, "HDR.exchange_type", name_of(hdr.exchange, ExchangeType))
    ctx.row(19, 1, "HDR.flags", f"0x{hdr.flags:02x} ({', '.join(flags)})")
    ctx.row(20, 4, "HDR.message_id", hdr.message_id)
    ctx.row(24, 4, "HDR.length", hdr.length)


_VIEWS: Any = None


def _views() -> Any:
    """:mod:`ikelab.views`, imported on first use (it imports this module, so not at the top)."""
    global _VIEWS
    if _VIEWS is None:
        from . import views

        _VIEWS = views
    return _VIEWS
