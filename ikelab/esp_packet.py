"""One ESP packet as pure functions: padding, sealing and opening it (RFC 4303 2, 3.3, 3.4.4).

The packet (RFC 4303 2, figure 1)::

    SPI (4) | Sequence Number (4) | IV | encrypted( Payload | Padding | Pad Length | Next Header ) | ICV

:func:`esp_padding` gives the default padding 1, 2, 3, ... (2.4);
:func:`esp_seal` builds a packet from explicit values (3.3), the ICV computed
over ``SPI | Seq | IV | ciphertext [| Seq_hi]`` (2.8, 3.3.4) or the AEAD tag
over ``SPI | Seq`` or ``SPI | Seq_hi | Seq_lo`` (RFC 4106 5, RFC 4309 5,
RFC 7634 2.1); :func:`esp_open` checks the ICV first, in constant time, then
decrypts and checks the padding (3.4.4).  :func:`tunnel_inner` reads the
inner packet of tunnel mode by its Next Header (2.6).  The SA that chooses
IVs and sequence numbers around these is :mod:`ikelab.esp_sa`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from . import packet as ip
from .errors import ConfigError, ParseError
from .ipsec_sa import check_seq, key_bytes
from .transforms import require_transform

NEXT_HEADER_IPV4 = 4  # IP-in-IP: tunnel mode around an IPv4 packet
NEXT_HEADER_IPV6 = 41  # tunnel mode around an IPv6 packet
NEXT_HEADER_NONE = 59  # "no next header": a dummy packet (RFC 4303 2.6)
ESP_HEADER_LEN = 8
_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class EspTrailer:
    """A decrypted ESP payload split into its parts (RFC 4303 2.3-2.6)."""

    payload: bytes
    padding: bytes
    pad_length: int
    next_header: int


# --------------------------------------------------------------------------------------------
# Pure functions: the packet format
# --------------------------------------------------------------------------------------------


_PADDING = tuple(bytes(range(1, n + 1)) for n in range(256))  # the default padding of each length
_II = struct.Struct("!II")
_IQ = struct.Struct("!IQ")
_I = struct.Struct("!I")


def _align(block_size: int) -> int:
    return block_size * 4 // math.gcd(block_size, 4)


def esp_padding(payload_len: int, block_size: int = 1) -> bytes:
    """The default padding 1, 2, 3, ... (RFC 4303 2.4) for ``payload_len`` bytes of payload.

    ``payload | padding | pad length | next header`` becomes a multiple of
    both ``block_size`` and 4 (the ciphertext must end on a 4-byte boundary).
    """
    if isinstance(payload_len, bool) or not isinstance(payload_len, int) or payload_len < 0:
        raise ConfigError(f"payload length must be a non-negative int, got {payload_len!r}", field="payload_len",
                          value=payload_len)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 1 <= block_size <= 255:
        raise ConfigError(f"block size must be an int in 1..255, got {block_size!r}", field="block_size",
                          value=block_size)
    align = _align(block_size)
    if align > 256:  # the padding could need more than the 255 bytes a one-byte Pad Length counts
        raise ConfigError(f"block size {block_size} aligns to {align} bytes (a multiple of it and of 4): padding "
                          "could need more than 255 bytes, which the one-byte Pad Length cannot say (RFC 4303 2.4)",
                          field="block_size", value=block_size)
    return _PADDING[-(payload_len + 2) % align]


def parse_esp_header(data: bytes) -> tuple[int, int]:
    """``(spi, seq_lo)`` from the first 8 bytes of an ESP packet (RFC 4303 2.1, 2.2)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected bytes, got {type(data).__name__}", field="esp", offset=0)
    if len(data) < ESP_HEADER_LEN:
        raise ParseError(f"ESP header needs 8 bytes, only {len(data)} present", field="esp_header", offset=len(data))
    spi, seq = _II.unpack_from(data, 0)
    if spi == 0:
        raise ParseError("SPI 0 is never valid for ESP (RFC 4303 2.1, RFC 3948 2.2)", field="spi", offset=0)
    return spi, seq


def _seal(spi: int, seq: int, iv: bytes, payload: bytes, next_header: int, cipher: Any, key: bytes, align: int,
          integrity: Any, integrity_key: bytes, esn: bool) -> bytes:
    """RFC 4303 3.3 on values already checked: pad, encrypt, then the ICV (or the AEAD tag)."""
    pad = _PADDING[-(len(payload) + 2) % align]
    plaintext = payload + pad + bytes((len(pad), next_header))
    header = _II.pack(spi, seq & _MASK32)
    if cipher.is_aead:  # AAD = SPI | Seq, or SPI | Seq_hi | Seq_lo with ESN (RFC 4106 5)
        return header + iv + cipher.encrypt(key, iv, plaintext, _IQ.pack(spi, seq) if esn else header)
    body = header + iv + cipher.encrypt(key, iv, plaintext)
    if integrity is None:
        return body
    return body + integrity.compute(integrity_key, body + _I.pack(seq >> 32) if esn else body)


def _open(data: bytes, spi: int, seq: int, cipher: Any, key: bytes, icv_len: int, integrity: Any,
          integrity_key: bytes, esn: bool) -> EspTrailer:
    """RFC 4303 3.4.4 on a packet whose SPI and full sequence number are known: ICV first, then decrypt."""
    start = ESP_HEADER_LEN + cipher.iv_len
    end = len(data) - icv_len
    if end - start < 2:
        raise ParseError(
            f"ESP packet of {len(data)} bytes is too short for IV ({cipher.iv_len}), trailer and ICV ({icv_len})",
            field="esp_payload",
            offset=min(start, len(data)),
        )
    iv = data[ESP_HEADER_LEN:start]
    if cipher.is_aead:
        aad = _IQ.pack(spi, seq) if esn else data[:ESP_HEADER_LEN]
        plaintext = cipher.decrypt(key, iv, data[start:], aad)
    else:
        if integrity is not None:
            integrity.verify(integrity_key, data[:end] + _I.pack(seq >> 32) if esn else data[:end], data[end:])
        if (end - start) % cipher.block_size:
            raise ParseError(
                f"ciphertext of {end - start} bytes is not a multiple of the {cipher.block_size}-byte block",
                field="ciphertext",
                offset=start,
            )
        plaintext = cipher.decrypt(key, iv, data[start:end])
    return _split_trailer(plaintext, start)


def esp_seal(
    *,
    spi: int,
    seq: int,
    iv: bytes,
    payload: bytes,
    next_header: int,
    encryption: Any,
    encryption_key: bytes,
    integrity: Any = None,
    integrity_key: bytes = b"",
    esn: bool = False,
) -> bytes:
    """Build one ESP packet from explicit values: the whole of RFC 4303 3.3 as a pure function.

    ``encryption`` and ``integrity`` are :mod:`ikelab.transforms` objects;
    ``seq`` is the full sequence number (64 bits with ESN, of which the low 32
    are sent).  :class:`EspSa` chooses the IV and the sequence number and
    uses the same code; tests call this with the IVs of published vectors.
    """
    check_seq(seq, esn)
    if isinstance(spi, bool) or not isinstance(spi, int) or not 0 < spi <= _MASK32:
        raise ConfigError(f"ESP SPI must be in 1..2**32-1, got {spi!r}", field="spi", value=spi)
    if isinstance(next_header, bool) or not isinstance(next_header, int) or not 0 <= next_header <= 255:
        raise ConfigError(f"next header must be a byte, got {next_header!r}", field="next_header", value=next_header)
    iv, payload = key_bytes(iv, "iv"), key_bytes(payload, "payload")
    try:
        if len(iv) != encryption.iv_len:
            raise ConfigError(f"{encryption.name} needs a {encryption.iv_len}-byte IV, got {len(iv)}", field="iv",
                              value=len(iv))
        _check_aead_alone(encryption, integrity)
        return _seal(spi, seq, iv, payload, next_header, encryption, encryption_key, _align(encryption.block_size),
                     integrity, integrity_key, esn)
    except AttributeError:  # checked only when it fails, e.g. a name where a transform object belongs
        _check_transforms(encryption, integrity)
        raise


def esp_open(
    data: bytes,
    *,
    seq: int,
    encryption: Any,
    encryption_key: bytes,
    integrity: Any = None,
    integrity_key: bytes = b"",
    esn: bool = False,
) -> EspTrailer:
    """Verify and decrypt one ESP packet whose full sequence number is ``seq`` (RFC 4303 3.4.4-3.4.4.2).

    The ICV (or AEAD tag) is checked first, in constant time, and an
    :class:`~ikelab.errors.IntegrityError` is raised before any decrypted
    byte is looked at.  Malformed lengths or padding raise ParseError.
    """
    spi, _ = parse_esp_header(data)
    check_seq(seq, esn)
    try:
        icv_len = encryption.icv_len if encryption.is_aead else (integrity.icv_len if integrity is not None else 0)
        return _open(bytes(data), spi, seq, encryption, encryption_key, icv_len, integrity, integrity_key, esn)
    except AttributeError:  # checked only when it fails, e.g. a name where a transform object belongs
        _check_transforms(encryption, integrity)
        raise


def _check_aead_alone(encryption: Any, integrity: Any) -> None:
    """ConfigError if an AEAD cipher comes with an integrity transform: no ICV of it would be sent (RFC 4303 3.2)."""
    if integrity is not None and encryption.is_aead:
        raise ConfigError(f"{encryption.name} is an AEAD cipher: its tag is the ICV, so integrity "
                          f"{getattr(integrity, 'name', integrity)!r:.60} must be None (RFC 4303 3.2, RFC 7296 3.3)",
                          field="integrity", value=getattr(integrity, "name", integrity))


def _check_transforms(encryption: Any, integrity: Any) -> None:
    """ConfigError naming ``encryption`` or ``integrity`` when it is not an :mod:`ikelab.transforms` object."""
    require_transform(encryption, "encryption", "encryption")
    require_transform(integrity, "integrity", "integrity", optional=True)


def _split_trailer(plaintext: bytes, offset: int) -> EspTrailer:
    pad_length, next_header = plaintext[-2], plaintext[-1]
    cut = len(plaintext) - 2 - pad_length
    padding = plaintext[cut:-2] if cut >= 0 else b""
    if cut >= 0 and padding == _PADDING[pad_length]:
        return EspTrailer(plaintext[:cut], padding, pad_length, next_header)
    if next_header == NEXT_HEADER_NONE:
        # a dummy packet (RFC 4303 2.6): "other than this Next Header field, need not be well-formed", and it
        # is discarded "without indicating an error": an ill-formed one is read as empty
        return EspTrailer(b"", b"", 0, next_header)
    if cut < 0:
        raise ParseError(
            f"pad length {pad_length} exceeds the {len(plaintext) - 2} bytes before it",
            field="pad_length",
            offset=offset + len(plaintext) - 2,
        )
    # RFC 4303 2.4: the receiver checks the default padding
    bad = next(i for i, b in enumerate(padding) if b != i + 1)
    raise ParseError(
        f"padding byte {bad + 1} is 0x{padding[bad]:02x}, not the default {bad + 1} (RFC 4303 2.4)",
        field="padding",
        offset=offset + cut + bad,
    )


def tunnel_inner(next_header: int, data: bytes) -> ip.IpPacket:
    """The inner packet of tunnel-mode ESP: next header 4 announces IPv4, 41 IPv6 (RFC 4303 2.6); else ParseError."""
    expected = {NEXT_HEADER_IPV4: 4, NEXT_HEADER_IPV6: 6}.get(next_header)
    if expected is None:
        raise ParseError(f"tunnel-mode ESP carried next header {next_header}, not 4 or 41", field="next_header",
                         offset=0)
    pkt = ip.parse_ip(data)
    if pkt.version != expected:
        raise ParseError(f"next header {next_header} announced IPv{expected}, got IPv{pkt.version}",
                         field="next_header", offset=0)
    return pkt

