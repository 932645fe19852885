"""ESP, the Encapsulating Security Payload (RFC 4303), with UDP encapsulation (RFC 3948).

The packet (RFC 4303 2, figure 1)::

    SPI (4) | Sequence Number (4) | IV | encrypted( Payload | Padding | Pad Length | Next Header ) | ICV

* **Padding** (2.4): "the Padding bytes are initialized with a series of
  (unsigned, 1-byte) integer values ... 1, 2, 3, ..."; it makes
  ``Payload | Padding | Pad Length | Next Header`` a multiple of the cipher's
  block size and of 4 bytes.  The receiver checks those bytes too.
* **Integrity** (2.8, 3.3.4): for ordinary ciphers the ICV is
  ``integ(SK_a, SPI | Seq | IV | ciphertext [| Seq_hi])``, where the high 32
  bits of an extended sequence number (ESN, 2.2.1) are *not sent* but are
  appended for the ICV computation.  For AEAD ciphers the tag is the ICV and
  the associated data is ``SPI | Seq`` or, with ESN, ``SPI | Seq_hi | Seq_lo``
  (RFC 4106 5, RFC 4309 5, RFC 7634 2.1).
* **IVs**: CBC needs unpredictable IVs (RFC 3602 3), drawn from the injected
  random source.  Counter-based modes (CTR, GCM, CCM, ChaCha20-Poly1305) only
  need IVs that never repeat under one key; RFC 4106 3.1 allows "a counter",
  so ikelab uses the 64-bit sequence number (ESN high bits included) as the
  IV.  A sequence number is never reused within an SA, so neither is the IV.
* **Inbound order** (3.4): anti-replay pre-check, then the ICV (constant time)
  before anything else is trusted, then decryption and the padding check,
  and only then the replay window update.

Keys are the CHILD SA's KEYMAT slices as RFC 7296 2.17 gives them: for GCM,
CCM, CTR and ChaCha20 the encryption key includes its salt/nonce.

UDP encapsulation (RFC 3948) lives in :mod:`ikelab.natt`; its names are
re-exported here (``ikelab.esp.classify_udp4500`` is the port-4500 rule).
"""

from __future__ import annotations

import inspect
import math
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from . import packet as ip
from .constants import EncrId, IntegId, lookup
from .errors import (
    ConfigError,
    IkelabError,
    IntegrityError,
    ParseError,
    UnknownSpiError,
    refuse_weak,
)
from .ipsec_sa import (
    Direction,
    Lifetime,
    Mode,
    SaBase,
    SaCounters,
    check_seq,
    fragment_error,
    key_bytes,
    rewrite_ip_header,
    transport_check,
    with_congestion_mark,
)
from .natt import add_non_esp_marker, classify_udp4500, extract_esp, udp_encapsulate
from .rand import RandomSource, default_random
from .replay import DEFAULT_WINDOW
from .transforms import require_transform

__all__ = [
    "Direction",
    "EspSa",
    "EspTrailer",
    "Lifetime",
    "Mode",
    "NEXT_HEADER_IPV4",
    "NEXT_HEADER_IPV6",
    "NEXT_HEADER_NONE",
    "SaCounters",
    "add_non_esp_marker",
    "classify_udp4500",
    "esp_open",
    "esp_padding",
    "esp_sa_pair",
    "esp_seal",
    "parse_esp_header",
    "tunnel_inner",
    "udp_encapsulate",
]

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
        raise ConfigError(f"payload length must be a non-negative int, got {payload_len!r}", field="payload_len", value=payload_len)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 1 <= block_size <= 255:
        raise ConfigError(f"block size must be an int in 1..255, got {block_size!r}", field="block_size", value=block_size)
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


class _KeyedAead:
    """An AEAD keyed once per SA, with the ``encrypt(key, iv, ...)`` shape of :mod:`ikelab.transforms`.

    The transforms build a cipher context per call; an SA keeps one.  The
    nonce is the same ``salt | IV`` (RFC 4106 4, RFC 4309 4, RFC 7634 2),
    with the salt cut from the KEYMAT by the transform's own ``split_keymat``;
    a test checks that both paths give identical packets.
    """

    __slots__ = ("_aead", "_salt", "name", "iv_len", "block_size", "icv_len", "is_aead")

    def __init__(self, aead: Any, salt: bytes, enc: Any) -> None:
        self._aead, self._salt = aead, salt
        self.name, self.iv_len, self.block_size, self.icv_len, self.is_aead = enc.name, enc.iv_len, enc.block_size, enc.icv_len, True

    def encrypt(self, key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        return self._aead.encrypt(self._salt + iv, plaintext, aad)

    def decrypt(self, key: bytes, iv: bytes, data: bytes, aad: bytes = b"") -> bytes:
        try:
            return self._aead.decrypt(self._salt + iv, data, aad)
        except InvalidTag:
            raise IntegrityError(f"{self.name}: ICV does not verify") from None


def _keyed_cipher(enc: Any, key: bytes) -> Any:
    """A per-SA keyed AEAD for ikelab's GCM-16, CCM and ChaCha20-Poly1305 transforms; else the transform itself."""
    tr = _transforms()
    kind = type(enc)
    if kind is tr.AesGcm and enc.icv_len == 16:
        make = lambda k: AESGCM(k)  # noqa: E731
    elif kind is tr.AesCcm:
        make = lambda k: AESCCM(k, tag_length=enc.icv_len)  # noqa: E731
    elif kind is tr.ChaCha20Poly1305Cipher:
        make = ChaCha20Poly1305
    else:
        return enc
    cipher_key, salt = enc.split_keymat(key)
    return _KeyedAead(make(cipher_key), salt, enc)


# --------------------------------------------------------------------------------------------
# The SA
# --------------------------------------------------------------------------------------------


def _transforms() -> Any:
    from . import transforms  # imported late: transforms is an independent module

    return transforms


def _resolve_encryption(alg: Any, key_bits: int | None, allow_weak: bool, key: bytes | None = None) -> Any:
    """A transforms.Encryption; for AES without ``key_bits`` the Key Length is read off the KEYMAT slice."""
    if hasattr(alg, "encrypt") and hasattr(alg, "iv_len"):
        return alg
    alg = lookup(EncrId, alg, field="encryption")  # once per SA: a bad name is blamed on the argument
    tr = _transforms()
    if key_bits is None and key is not None:
        for bits in tr.key_lengths(alg):
            if tr.encryption(alg, bits, allow_weak=allow_weak).key_len == len(key):
                key_bits = bits
                break
    return tr.encryption(alg, key_bits, allow_weak=allow_weak)


def _resolve_integrity(alg: Any, allow_weak: bool) -> Any:
    if alg is None:
        return None
    if hasattr(alg, "compute") and hasattr(alg, "icv_len"):
        return alg
    if lookup(IntegId, alg, field="integrity") is IntegId.NONE:
        return None
    return _transforms().integrity(alg, allow_weak=allow_weak)


class EspSa(SaBase):
    """One ESP security association (RFC 4303), inbound or outbound, tunnel or transport mode.

    ``encryption``/``integrity`` are IANA names, numbers, enum members or
    ready :mod:`ikelab.transforms` objects; the keys are the KEYMAT slices
    (salt included for GCM, CCM, CTR and ChaCha20).  AEAD ciphers take no
    integrity transform.  ``rng`` supplies CBC IVs.  ``tunnel=(src, dst)``
    gives the outer addresses of a tunnel-mode SA; ``udp_encap=(sport,
    dport)`` sends ESP inside UDP (RFC 3948).  ``replay_window=0`` disables
    anti-replay.  ``initial_seq`` lets a lesson start near a counter wrap.
    """

    protocol = ip.PROTO_ESP
    protocol_name = "ESP"

    def __init__(
        self,
        spi: int | bytes,
        *,
        direction: Direction | str,
        encryption: Any,
        encryption_key: bytes,
        integrity: Any = None,
        integrity_key: bytes = b"",
        key_bits: int | None = None,
        mode: Mode | str = Mode.TUNNEL,
        esn: bool = False,
        replay_window: int = DEFAULT_WINDOW,
        lifetime: Lifetime | None = None,
        created: float = 0.0,
        tunnel: tuple[ip.IpAddress, ip.IpAddress] | None = None,
        udp_encap: tuple[int, int] | None = None,
        rng: RandomSource | None = None,
        initial_seq: int = 0,
        allow_weak: bool = False,
    ) -> None:
        self._init_common(spi, direction, mode, esn, replay_window, lifetime, created, initial_seq, tunnel)
        self.encryption_key = key_bytes(encryption_key, "encryption_key")
        self.integrity_key = key_bytes(integrity_key, "integrity_key")
        self.encryption = _resolve_encryption(encryption, key_bits, allow_weak, self.encryption_key)
        self.integrity = _resolve_integrity(integrity, allow_weak)
        enc, integ = self.encryption, self.integrity
        if getattr(enc, "transform_id", None) == EncrId.ENCR_NULL_AUTH_AES_GMAC:
            raise ConfigError("ENCR_NULL_AUTH_AES_GMAC (RFC 4543) is not supported by ikelab.esp", field="encryption", value=enc.name)
        if enc.is_aead and integ is not None:
            raise ConfigError(
                f"{enc.name} is an AEAD cipher: it must not be combined with integrity {integ.name} (RFC 7296 3.3)",
                field="integrity",
                value=integ.name,
            )
        is_null = getattr(enc, "transform_id", None) == EncrId.ENCR_NULL
        if not enc.is_aead and integ is None:
            if is_null:
                raise ConfigError("ESP with NULL encryption and no integrity protects nothing (RFC 4303 3.2)", field="integrity", value=None)
            refuse_weak(f"ESP SA with {enc.name} but no integrity: ciphertext can be modified undetected "
                        "(cut-and-paste and bit-flipping attacks; RFC 4303 3.2, RFC 8221 5)",
                        allow_weak=allow_weak, field="integrity", algorithm=f"{enc.name} without integrity")
        if len(self.encryption_key) != enc.key_len:
            raise ConfigError(
                f"{enc.name} needs {enc.key_len} bytes of encryption KEYMAT, got {len(self.encryption_key)}",
                field="encryption_key",
                value=len(self.encryption_key),
            )
        if integ is not None and len(self.integrity_key) != integ.key_len:
            raise ConfigError(
                f"{integ.name} needs a {integ.key_len}-byte key, got {len(self.integrity_key)}",
                field="integrity_key",
                value=len(self.integrity_key),
            )
        if integ is None and self.integrity_key:
            raise ConfigError("an integrity key was given without an integrity transform", field="integrity_key", value=len(self.integrity_key))
        self.udp_encap = None
        if udp_encap is not None:
            try:
                sport, dport = udp_encap
            except (TypeError, ValueError):
                raise ConfigError("udp_encap must be a (sport, dport) pair", field="udp_encap", value=udp_encap) from None
            for port, name in ((sport, "udp sport"), (dport, "udp dport")):
                if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 0xFFFF:
                    raise ConfigError(f"{name} must be in 1..65535, got {port!r}", field="udp_encap", value=udp_encap)
            self.udp_encap = (sport, dport)
        self.rng = rng if rng is not None else default_random()
        self.icv_len = enc.icv_len if enc.is_aead else (integ.icv_len if integ is not None else 0)
        self._align = _align(enc.block_size)
        self._cipher = _keyed_cipher(enc, self.encryption_key)

    def __repr__(self) -> str:
        integ = f" + {self.integrity.name}" if self.integrity is not None else ""
        return (
            f"EspSa(spi=0x{self.spi:08x}, {self.direction.value}, {self.mode.value}, {self.encryption.name}{integ}"
            f"{', ESN' if self.esn else ''}, seq={self.seq})"
        )

    def _iv(self, seq: int) -> bytes:
        n = self.encryption.iv_len
        if n == 0:
            return b""
        if self.encryption.block_size > 1:  # CBC: unpredictable IV (RFC 3602 3)
            iv = self.rng.random_bytes(n)
            if len(iv) != n:
                raise ConfigError(f"random source gave {len(iv)} IV bytes, {n} needed", field="rng", value=len(iv))
            return iv
        return seq.to_bytes(n, "big")  # counter modes: the sequence number (RFC 4106 3.1)

    # -- outbound -------------------------------------------------------------------------------
    def encapsulate(self, inner: bytes, next_header: int, *, now: float | None = None) -> bytes:
        """The ESP packet (SPI .. ICV) protecting ``inner`` (RFC 4303 3.3), and the counters advance."""
        seq = self._next_seq(now)
        if not isinstance(next_header, int) or isinstance(next_header, bool) or not 0 <= next_header <= 255:
            raise ConfigError(f"next header must be a byte, got {next_header!r}", field="next_header", value=next_header)
        data = inner if inner.__class__ is bytes else key_bytes(inner, "inner")
        packet = _seal(self.spi, seq, self._iv(seq), data, next_header, self._cipher, self.encryption_key,
                       self._align, self.integrity, self.integrity_key, self.esn)
        self.seq = seq
        self.counters.packets += 1
        self.counters.bytes += self._encrypted_len(packet)
        return packet

    def _encrypted_len(self, packet: bytes) -> int:
        """The bytes the cipher was applied to: payload, padding, Pad Length and Next Header (RFC 4301 4.4.2.1)."""
        return len(packet) - 8 - self._cipher.iv_len - self.icv_len

    # -- inbound --------------------------------------------------------------------------------
    def decapsulate(self, esp_packet: bytes, *, now: float | None = None) -> tuple[int, bytes]:
        """``(next_header, inner)`` from an ESP packet, after every check of RFC 4303 3.4.

        Wrong SPI -> UnknownSpiError; replay -> ReplayError; bad ICV or tag ->
        IntegrityError; bad lengths or padding -> ParseError.  Each is counted
        in :attr:`counters`, and none of them changes the replay window.
        """
        if self.direction is not Direction.INBOUND:
            self._require(Direction.INBOUND)
        self._check_alive(now)
        try:
            spi, seq_lo = parse_esp_header(esp_packet)
            if spi != self.spi:
                raise UnknownSpiError(f"ESP SPI 0x{spi:08x} does not belong to SA 0x{self.spi:08x}", spi=spi)
            seq = self._replay_check(seq_lo)  # 1. anti-replay pre-check (3.4.3)
            data = esp_packet if esp_packet.__class__ is bytes else bytes(esp_packet)
            # 2. ICV or tag in constant time, 3. decrypt, 4. padding check (3.4.4)
            result = _open(data, spi, seq, self._cipher, self.encryption_key, self.icv_len, self.integrity,
                           self.integrity_key, self.esn)
        except IkelabError as exc:
            self._count_error(exc)
            raise
        self._replay_update(seq)  # 5. only now does the window move
        if seq > self.seq:
            self.seq = seq
        self.counters.packets += 1
        self.counters.bytes += self._encrypted_len(data)
        return result.next_header, result.payload

    # -- whole IP packets -------------------------------------------------------------------------
    def protect_packet(self, ip_packet: bytes, *, now: float | None = None, ident: int = 0, ttl: int = 64) -> bytes:
        """The outer IP packet carrying ``ip_packet`` protected by this SA.

        Tunnel mode: the whole packet is the payload (next header 4 or 41) and
        the outer header goes from ``tunnel[0]`` to ``tunnel[1]`` with the
        inner DSCP/ECN byte copied (RFC 4301 5.1.2.1).  Transport mode: the IP
        header is kept, with protocol 50 (or 17 with UDP encapsulation), new
        lengths and checksum (RFC 4303 3.1.1).
        """
        pkt = ip.parse_ip(ip_packet)
        if self.mode is Mode.TUNNEL:
            if self.tunnel is None:
                raise ConfigError("a tunnel-mode SA needs tunnel=(outer_src, outer_dst) to send", field="tunnel", value=None)
            nh = NEXT_HEADER_IPV4 if pkt.version == 4 else NEXT_HEADER_IPV6
            esp = self.encapsulate(pkt.to_bytes(), nh, now=now)
            src, dst = self.tunnel
            df = pkt.dont_fragment and src.version == 4 and pkt.version == 4
            if self.udp_encap:  # the same outer header, with a UDP header inserted (RFC 3948 3.4)
                return udp_encapsulate(esp, src, dst, sport=self.udp_encap[0], dport=self.udp_encap[1], ident=ident,
                                       ttl=ttl, tos=pkt.tos, dont_fragment=df)
            return ip.ip_packet(src, dst, ip.PROTO_ESP, esp, ident=ident, ttl=ttl, tos=pkt.tos, dont_fragment=df)
        transport_check(pkt)
        esp = self.encapsulate(pkt.payload, pkt.protocol, now=now)
        if self.udp_encap:
            datagram = ip.udp(pkt.src, pkt.dst, self.udp_encap[0], self.udp_encap[1], esp, checksum=pkt.version == 6)
            return rewrite_ip_header(pkt, ip.PROTO_UDP, datagram)
        return rewrite_ip_header(pkt, ip.PROTO_ESP, esp)

    def unprotect_packet(self, packet: bytes, *, now: float | None = None) -> bytes:
        """The inner IP packet from an outer ESP (or UDP/4500-encapsulated ESP) packet.

        Tunnel mode returns the decapsulated packet (checked to be IP of the
        family its next header names); transport mode rebuilds the original
        packet around the decrypted upper layer.  A dummy packet (next header
        59, RFC 4303 2.6) gives ``b""``.
        """
        outer = ip.parse_ip(packet)
        fragment = fragment_error(outer, "ESP")
        if fragment is not None:
            self._count_error(fragment)
            raise fragment
        esp = extract_esp(outer)
        next_header, inner = self.decapsulate(esp, now=now)
        if next_header == NEXT_HEADER_NONE:
            return b""
        if self.mode is Mode.TUNNEL:
            return with_congestion_mark(outer, tunnel_inner(next_header, inner).to_bytes())
        if next_header == ip.PROTO_UDP and len(inner) >= 8 and 8 <= int.from_bytes(inner[4:6], "big") < len(inner):
            inner = inner[: int.from_bytes(inner[4:6], "big")]  # TFC padding after the datagram (RFC 4303 2.7)
        if outer.protocol == ip.PROTO_UDP:  # NAT-T: the sender summed over addresses a NAT may have changed
            inner = ip.with_checksum_for(outer.src, outer.dst, next_header, inner)  # RFC 3948 3.1.2
        return rewrite_ip_header(outer, next_header, inner)


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


#: The EspSa settings that esp_sa_pair passes on to both SAs: all but those it sets itself.
_PAIR_OPTIONS = frozenset(inspect.signature(EspSa.__init__).parameters) - {
    "self", "spi", "direction", "encryption", "encryption_key", "integrity", "integrity_key", "key_bits", "allow_weak"}


def esp_sa_pair(
    keymat: bytes,
    *,
    spi_i: int | bytes,
    spi_r: int | bytes,
    initiator: bool,
    encryption: Any,
    integrity: Any = None,
    key_bits: int | None = None,
    allow_weak: bool = False,
    **options: Any,
) -> tuple[EspSa, EspSa]:
    """``(inbound, outbound)`` ESP SAs for one side of a CHILD SA, cut from KEYMAT (RFC 7296 2.17).

    "All keys for SAs carrying data from the initiator to the responder are
    taken before SAs going from the responder to the initiator", each as
    encryption key then integrity key.  Each side receives on the SPI it
    chose: the initiator's inbound SA is ``spi_i``, its outbound SA ``spi_r``.
    ``options`` go to both :class:`EspSa` (mode, tunnel, esn, rng...); a
    ``tunnel`` is given as the outbound (local, remote) pair.
    """
    enc = _resolve_encryption(encryption, key_bits, allow_weak)
    integ = _resolve_integrity(integrity, allow_weak)
    ek, ak = enc.key_len, integ.key_len if integ is not None else 0
    keymat = key_bytes(keymat, "keymat")
    if len(keymat) < 2 * (ek + ak):
        raise ConfigError(f"KEYMAT has {len(keymat)} bytes, {2 * (ek + ak)} needed", field="keymat", value=len(keymat))
    ei, ai, er, ar = keymat[:ek], keymat[ek : ek + ak], keymat[ek + ak : 2 * ek + ak], keymat[2 * ek + ak : 2 * (ek + ak)]
    unknown = sorted(set(options) - _PAIR_OPTIONS)
    if unknown:
        raise ConfigError(f"esp_sa_pair: unknown option {unknown[0]!r}; it passes on {', '.join(sorted(_PAIR_OPTIONS))}",
                          field=unknown[0], value=options[unknown[0]])
    tunnel = options.pop("tunnel", None)
    if tunnel is not None and (not isinstance(tunnel, (tuple, list)) or len(tunnel) != 2):
        raise ConfigError("tunnel must be the outbound (local, remote) pair of addresses", field="tunnel", value=tunnel)
    reverse = (tunnel[1], tunnel[0]) if tunnel is not None else None
    common = dict(encryption=enc, integrity=integ, allow_weak=allow_weak, **options)
    in_keys, out_keys = ((er, ar), (ei, ai)) if initiator else ((ei, ai), (er, ar))
    in_spi, out_spi = (spi_i, spi_r) if initiator else (spi_r, spi_i)
    inbound = EspSa(in_spi, direction=Direction.INBOUND, encryption_key=in_keys[0], integrity_key=in_keys[1], tunnel=reverse, **common)
    outbound = EspSa(out_spi, direction=Direction.OUTBOUND, encryption_key=out_keys[0], integrity_key=out_keys[1], tunnel=tunnel, **common)
    return inbound, outbound
