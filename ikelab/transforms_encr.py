"""Encryption and AEAD transforms (RFC 7296 3.3.2, Transform Type 1), behind one small interface.

An :class:`Encryption` is keyed per call with its *KEYMAT slice*, which for the
counter-based modes ends with a salt ("nonce") that never goes on the wire::

    ENCR_AES_CBC      (RFC 3602)  KEYMAT = key                 IV 16 on the wire
    ENCR_AES_CTR      (RFC 3686, RFC 5930 for IKE)
                                  KEYMAT = key | nonce(4)      IV 8
                                  counter block = nonce(4) | IV(8) | counter(4), counter starts at 1
    ENCR_AES_GCM_8/12/16 (RFC 4106, RFC 5282 for IKE)
                                  KEYMAT = key | salt(4)       nonce = salt | IV(8)
    ENCR_AES_CCM_8/12/16 (RFC 4309, RFC 5282 for IKE)
                                  KEYMAT = key | salt(3)       nonce = salt | IV(8), 11 bytes
    ENCR_CHACHA20_POLY1305 (RFC 7634)
                                  KEYMAT = key(32) | salt(4)   nonce = salt | IV(8)
    ENCR_NULL         (RFC 2410)  no key, no IV: ESP integrity only
    ENCR_3DES         (RFC 2451)  weak (64-bit block, Sweet32), only with allow_weak=True

An AEAD returns ``ciphertext || ICV`` and takes the associated data as ``aad``;
a bad tag raises :class:`~ikelab.errors.IntegrityError` and no plaintext.

Padding is the caller's business (the SK payload and ESP pad); CBC refuses a
length that is not a multiple of its block.  :func:`encryption` builds one from
its name or number and Key Length (RFC 7296 3.3.5); ``ikelab.transforms``
re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from .constants import EncrId, lookup
from .errors import ConfigError, IntegrityError, UnknownAlgorithmError
from .transforms_common import BytesLike, _as_bytes, _keyed, _warn_or_refuse

_AES_KEY_BITS = (128, 192, 256)
_CTR_MAX_BLOCKS = 2**32 - 1  # RFC 3686 2: the 32-bit block counter starts at 1 and must not wrap


@dataclass(frozen=True)
class Encryption:
    """An encryption or AEAD transform, keyed per call.

    ``key_len`` counts every byte of KEYMAT the transform consumes, salt
    included; ``salt_len`` of them (the tail) form the implicit nonce part.
    ``block_size`` is the padding alignment (1 for stream and AEAD modes: the
    caller then aligns to 4 bytes, RFC 4303 2.4).
    """

    transform_id: EncrId
    name: str
    key_len: int
    key_bits: int | None
    iv_len: int
    block_size: int
    icv_len: int
    is_aead: bool
    salt_len: int
    wireshark_ikev2_name: str | None
    wireshark_esp_name: str | None
    weak_reason: str | None = None

    @property
    def cipher_key_len(self) -> int:
        """Bytes of the block-cipher key proper (``key_len`` minus the salt)."""
        return self.key_len - self.salt_len

    @property
    def is_weak(self) -> bool:
        """True for transforms that need ``allow_weak=True``."""
        return self.weak_reason is not None

    @property
    def ike_allowed(self) -> bool:
        """ENCR_NULL is for ESP only: IKE must always encrypt (RFC 7296 3.3.2, RFC 2410)."""
        return self.transform_id is not EncrId.ENCR_NULL

    def split_keymat(self, key: BytesLike) -> tuple[bytes, bytes]:
        """``(cipher key, salt)`` of a KEYMAT slice, checking its length."""
        key = self._check_key(key)
        return key[: self.cipher_key_len], key[self.cipher_key_len :]

    def nonce(self, key: BytesLike, iv: BytesLike) -> bytes:
        """The nonce the cipher really uses: ``salt | IV`` (just the IV when there is no salt)."""
        _, salt = self.split_keymat(key)
        return salt + self._check_iv(iv)

    def encrypt(self, key: BytesLike, iv: BytesLike, plaintext: BytesLike, aad: BytesLike = b"") -> bytes:
        """Encrypt ``plaintext``; an AEAD returns ``ciphertext || ICV``."""
        return self._encrypt(*self._prepare(key, iv, plaintext, aad, "plaintext"))

    def decrypt(self, key: BytesLike, iv: BytesLike, ciphertext: BytesLike, aad: BytesLike = b"") -> bytes:
        """Decrypt; an AEAD takes ``ciphertext || ICV`` and raises IntegrityError on a bad tag."""
        return self._decrypt(*self._prepare(key, iv, ciphertext, aad, "ciphertext"))

    # -- checks shared by every cipher --------------------------------------

    def _prepare(self, key: object, iv: object, data: object, aad: object, field: str) -> tuple[bytes, ...]:
        """Check every argument; return ``(cipher key, salt, iv, data, aad)``."""
        # the usual arguments (bytes of the right sizes) pass these tests inline; anything
        # else goes through the checks that name the problem
        if not (key.__class__ is bytes and iv.__class__ is bytes and data.__class__ is bytes and aad.__class__ is bytes
                and len(key) == self.key_len and len(iv) == self.iv_len and (not aad or self.is_aead)):
            key, iv, aad = self._check_key(key), self._check_iv(iv), self._check_aad(aad)
            data = _as_bytes(data, field, self.name)
        body = len(data)  # type: ignore[arg-type]
        if field == "ciphertext" and self.is_aead:
            if body < self.icv_len:
                raise IntegrityError(f"{self.name}: {body} bytes cannot hold the {self.icv_len}-byte ICV")
            body -= self.icv_len
        if body % self.block_size:
            raise ConfigError(
                f"{self.name}: {field} length {body} is not a multiple of the {self.block_size}-byte block"
                " (the caller pads)",
                field=field,
                value=body,
            )
        cut = self.key_len - self.salt_len  # cipher_key_len, without its property's call (two per message)
        return key[:cut], key[cut:], iv, data, aad

    def _check_key(self, key: object) -> bytes:
        key = _as_bytes(key, "key", self.name)
        if len(key) != self.key_len:
            salted = f" ({self.cipher_key_len}-byte key + {self.salt_len}-byte salt)" if self.salt_len else ""
            message = f"{self.name}: key must be {self.key_len} bytes{salted}, got {len(key)}"
            raise ConfigError(message, field="key", value=len(key))
        return key

    def _check_iv(self, iv: object) -> bytes:
        iv = _as_bytes(iv, "iv", self.name)
        if len(iv) != self.iv_len:
            message = f"{self.name}: IV must be {self.iv_len} bytes, got {len(iv)}"
            raise ConfigError(message, field="iv", value=len(iv))
        return iv

    def _check_aad(self, aad: object) -> bytes:
        aad = _as_bytes(aad, "aad", self.name)
        if aad and not self.is_aead:
            raise ConfigError(
                f"{self.name} is not an AEAD cipher: associated data would not be authenticated",
                field="aad",
                value=len(aad),
            )
        return aad

    # -- the cipher itself ---------------------------------------------------

    def _encrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:  # pragma: no cover
        raise NotImplementedError

    def _decrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:  # pragma: no cover
        raise NotImplementedError


def _public_encryptor(algorithm: Any, mode: Any) -> Any:
    return Cipher(algorithm, mode).encryptor()


def _public_decryptor(algorithm: Any, mode: Any) -> Any:
    return Cipher(algorithm, mode).decryptor()


def _context_makers() -> tuple[Any, Any]:
    """cryptography's own constructors of cipher contexts, if they pass RFC 3602's case 1; else the public path.

    ``Cipher(algorithm, mode).encryptor()`` checks the algorithm, the mode and the IV and key lengths in
    Python (some 15,000 instructions per message), then calls that constructor.  _prepare has checked the
    key and IV lengths already, so the CBC ciphers call it directly.  It is not public API: a cryptography
    without it, or where it behaves otherwise, gets the public path.
    """
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust

        encryptor, decryptor = rust.ciphers.create_encryption_ctx, rust.ciphers.create_decryption_ctx
        key, iv = bytes.fromhex("06a9214036b8a15b512e03d534120006"), bytes.fromhex("3dafba429d9eb430b422da802c9fac41")
        enc, dec = encryptor(algorithms.AES(key), modes.CBC(iv)), decryptor(algorithms.AES(key), modes.CBC(iv))
        ct = enc.update(b"Single block msg") + enc.finalize()
        if (ct == bytes.fromhex("e353779c1079aeb82708942dbe77181a")
                and dec.update(ct) + dec.finalize() == b"Single block msg"):
            return encryptor, decryptor
    except Exception:  # noqa: BLE001 - any surprise in a private API means: do not use it
        pass
    return _public_encryptor, _public_decryptor  # pragma: no cover - another cryptography


_encryptor, _decryptor = _context_makers()


class _Cbc(Encryption):
    """CBC mode over the block cipher that ``_block_cipher`` returns."""

    def _block_cipher(self, key: bytes) -> BlockCipherAlgorithm:  # pragma: no cover
        raise NotImplementedError

    def _encrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        enc = _encryptor(self._block_cipher(key), modes.CBC(iv))  # Cipher(...).encryptor(), see above
        return enc.update(data) + enc.finalize()

    def _decrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        dec = _decryptor(self._block_cipher(key), modes.CBC(iv))  # Cipher(...).decryptor(), see above
        return dec.update(data) + dec.finalize()


class AesCbc(_Cbc):
    """AES-CBC (RFC 3602): ``C[i] = AES-K(P[i] XOR C[i-1])``, ``C[0] = IV`` (16 random bytes)."""

    def _block_cipher(self, key: bytes) -> BlockCipherAlgorithm:
        return _keyed(algorithms.AES, key)  # type: ignore[no-any-return]


class AesCtr(Encryption):
    """AES-CTR (RFC 3686 4, RFC 5930): keystream ``AES-K(nonce | IV | counter)``, counter from 1."""

    def counter_block(self, key: BytesLike, iv: BytesLike, counter: int = 1) -> bytes:
        """The 16-byte counter block ``nonce(4) | IV(8) | counter(4)`` (RFC 3686 4)."""
        if isinstance(counter, bool) or not isinstance(counter, int) or not 1 <= counter <= _CTR_MAX_BLOCKS:
            raise ConfigError(f"{self.name}: block counter must be 1..2^32-1, got {counter!r}", field="counter")
        return self.nonce(key, iv) + counter.to_bytes(4, "big")

    def _crypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes) -> bytes:
        if len(data) > _CTR_MAX_BLOCKS * 16:
            raise ConfigError(f"{self.name}: {len(data)} bytes would wrap the 32-bit block counter", field="data")
        ctx = Cipher(_keyed(algorithms.AES, key), modes.CTR(salt + iv + b"\x00\x00\x00\x01")).encryptor()
        return ctx.update(data) + ctx.finalize()

    def _encrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        return self._crypt(key, salt, iv, data)

    _decrypt = _encrypt  # CTR decryption is the same XOR with the keystream


class AesGcm(Encryption):
    """AES-GCM (RFC 4106 4 and 8, RFC 5282): nonce = salt(4) | IV(8); ICV = first 8/12/16 bytes of the tag."""

    def _encrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        # The one-shot AESGCM class (much faster than the mode API) makes the full
        # 16-byte tag; GCM_8 and GCM_12 keep its first octets (SP 800-38D 5.2.1.2).
        sealed = _keyed(AESGCM, key).encrypt(salt + iv, data, aad or None)
        return sealed[: len(data) + self.icv_len]

    def _decrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        try:
            if self.icv_len == 16:
                return _keyed(AESGCM, key).decrypt(salt + iv, data, aad or None)
            # AESGCM only checks full tags: a truncated one goes through the mode API
            body, tag = data[: -self.icv_len], data[-self.icv_len :]
            mode = modes.GCM(salt + iv, tag, min_tag_length=self.icv_len)
            dec = Cipher(_keyed(algorithms.AES, key), mode).decryptor()
            if aad:
                dec.authenticate_additional_data(aad)
            plaintext = dec.update(body)
            dec.finalize()
            return plaintext
        except InvalidTag:
            raise IntegrityError(f"{self.name}: ICV does not verify") from None


class _AeadPrimitive(Encryption):
    """An AEAD whose ``cryptography`` class takes ``(nonce, data, aad)`` and returns data || tag."""

    def _aead(self, key: bytes) -> AESCCM | ChaCha20Poly1305:  # pragma: no cover
        raise NotImplementedError

    def _encrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        return self._aead(key).encrypt(salt + iv, data, aad or None)

    def _decrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        try:
            return self._aead(key).decrypt(salt + iv, data, aad or None)
        except InvalidTag:
            raise IntegrityError(f"{self.name}: ICV does not verify") from None


class AesCcm(_AeadPrimitive):
    """AES-CCM (RFC 4309 4, RFC 5282): nonce = salt(3) | IV(8) = 11 bytes; ICV 8, 12 or 16."""

    def _aead(self, key: bytes) -> AESCCM | ChaCha20Poly1305:
        return AESCCM(key, tag_length=self.icv_len)


class ChaCha20Poly1305Cipher(_AeadPrimitive):
    """ChaCha20-Poly1305 (RFC 7634 2, RFC 8439): nonce = salt(4) | IV(8); 16-byte tag."""

    def _aead(self, key: bytes) -> AESCCM | ChaCha20Poly1305:
        return _keyed(ChaCha20Poly1305, key)


class NullEncryption(Encryption):
    """ENCR_NULL (RFC 2410): the identity.  ESP then gives integrity but no confidentiality."""

    def _encrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        return data

    def _decrypt(self, key: bytes, salt: bytes, iv: bytes, data: bytes, aad: bytes) -> bytes:
        return data


class TripleDesCbc(_Cbc):
    """3DES-EDE in CBC mode (RFC 2451): three DES keys, 8-byte IV and block.  Weak: Sweet32."""

    def _block_cipher(self, key: bytes) -> BlockCipherAlgorithm:
        try:  # TripleDES lives in cryptography's "decrepit" namespace since version 43
            from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
        except ImportError:  # pragma: no cover - cryptography 42
            TripleDES = algorithms.TripleDES  # type: ignore[attr-defined]  # noqa: N806
        return TripleDES(key)


# Per transform: (class, cipher key bytes -- None for AES, whose Key Length attribute
# (RFC 7296 3.3.5) is required --, salt, IV, block, ICV, Wireshark IKEv2 name, ESP name).
# Wireshark names: IKEv2 table from packet-isakmp.c ``vs_ikev2_encr_algs`` (the
# ikev2_decryption_table UAT), ESP table from packet-esp.c ``esp_encryption_type_vals``
# (the esp_sa UAT); both checked against the strings in Wireshark 4.0.17's
# libwireshark.  Wireshark has no IKEv2 entry for ChaCha20-Poly1305 and no ESP entry
# for AES-CCM; "ChaCha20 with Poly1305 [RFC7634]" is in current packet-esp.c but not
# in the 4.0 series.
_EncrSpec = tuple[type[Encryption], Union[int, None], int, int, int, int, Union[str, None], Union[str, None]]
_ENCR_SPECS: dict[EncrId, _EncrSpec] = {
    EncrId.ENCR_AES_CBC: (AesCbc, None, 0, 16, 16, 0, "AES-CBC-{bits} [RFC3602]", "AES-CBC [RFC3602]"),
    EncrId.ENCR_AES_CTR: (AesCtr, None, 4, 8, 1, 0, "AES-CTR-{bits} [RFC5930]", "AES-CTR [RFC3686]"),
    EncrId.ENCR_AES_GCM_8: (AesGcm, None, 4, 8, 1, 8, "AES-GCM-{bits} with 8 octet ICV [RFC5282]",
                            "AES-GCM with 8 octet ICV [RFC4106]"),
    EncrId.ENCR_AES_GCM_12: (AesGcm, None, 4, 8, 1, 12, "AES-GCM-{bits} with 12 octet ICV [RFC5282]",
                             "AES-GCM with 12 octet ICV [RFC4106]"),
    EncrId.ENCR_AES_GCM_16: (AesGcm, None, 4, 8, 1, 16, "AES-GCM-{bits} with 16 octet ICV [RFC5282]",
                             "AES-GCM with 16 octet ICV [RFC4106]"),
    EncrId.ENCR_AES_CCM_8: (AesCcm, None, 3, 8, 1, 8, "AES-CCM-{bits} with 8 octet ICV [RFC5282]", None),
    EncrId.ENCR_AES_CCM_12: (AesCcm, None, 3, 8, 1, 12, "AES-CCM-{bits} with 12 octet ICV [RFC5282]", None),
    EncrId.ENCR_AES_CCM_16: (AesCcm, None, 3, 8, 1, 16, "AES-CCM-{bits} with 16 octet ICV [RFC5282]", None),
    EncrId.ENCR_CHACHA20_POLY1305: (ChaCha20Poly1305Cipher, 32, 4, 8, 1, 16, None, "ChaCha20 with Poly1305 [RFC7634]"),
    EncrId.ENCR_NULL: (NullEncryption, 0, 0, 0, 1, 0, "NULL [RFC2410]", "NULL"),
    EncrId.ENCR_3DES: (TripleDesCbc, 24, 0, 8, 8, 0, "3DES [RFC2451]", "TripleDES-CBC [RFC2451]"),
}
_WEAK_ENCR = {
    EncrId.ENCR_3DES: "ENCR_3DES is weak: its 64-bit block repeats after about 2^32 blocks (32 GiB) under one key,"
    " which leaks plaintext (Sweet32, CVE-2016-2183); RFC 8221 says SHOULD NOT for ESP,"
    " RFC 8247 still MAY for IKEv2",
}

#: The encryption transforms ikelab implements.
ENCRYPTION_IDS: tuple[EncrId, ...] = tuple(_ENCR_SPECS)


def _encr_spec(alg: EncrId | int | str, field: str = "alg") -> tuple[EncrId, _EncrSpec]:
    transform_id = lookup(EncrId, alg, field=field)
    spec = _ENCR_SPECS.get(transform_id)
    if spec is None:
        known = ", ".join(t.name for t in ENCRYPTION_IDS)
        raise UnknownAlgorithmError(
            f"{transform_id.name} ({transform_id.value}) is not implemented by ikelab; implemented: {known}",
            field="EncrId",
            value=transform_id,
        )
    return transform_id, spec


def key_lengths(alg: EncrId | int | str) -> tuple[int, ...]:
    """Key Length attribute values (bits) the cipher accepts; ``()`` for fixed-size ciphers."""
    _, spec = _encr_spec(alg)
    return _AES_KEY_BITS if spec[1] is None else ()


def encryption(alg: EncrId | int | str, key_bits: int | None = None, *, allow_weak: bool = False) -> Encryption:
    """The encryption or AEAD transform ``alg`` with a Key Length of ``key_bits``.

    AES modes need ``key_bits`` (128, 192 or 256: the Key Length attribute of
    RFC 7296 3.3.5); fixed-size ciphers (ChaCha20-Poly1305, 3DES, NULL) take
    none.  ENCR_3DES raises :class:`WeakAlgorithmError` unless ``allow_weak``.
    """
    return _checked_encryption(alg, key_bits, allow_weak)


def _checked_encryption(alg: EncrId | int | str, key_bits: int | None, allow_weak: bool,
                         field: str = "alg") -> Encryption:
    transform_id, (cls, fixed_len, salt_len, iv_len, block, icv_len, ike_name, esp_name) = _encr_spec(alg, field)
    name = transform_id.name
    problem = None
    if key_bits is not None and (not isinstance(key_bits, int) or isinstance(key_bits, bool)):
        problem = f"{name}: key_bits must be an int, not {type(key_bits).__name__}"
    elif fixed_len is None and key_bits is None:
        problem = f"{name} needs a key length: key_bits=128, 192 or 256 (the Key Length attribute, RFC 7296 3.3.5)"
    elif fixed_len is None and key_bits not in _AES_KEY_BITS:
        problem = f"{name}: key_bits must be 128, 192 or 256, got {key_bits}"
    elif fixed_len is not None and key_bits is not None:
        problem = f"{name} has a fixed key size and takes no Key Length attribute (RFC 7296 3.3.5), got {key_bits}"
    if problem:
        raise ConfigError(problem, field="key_bits", value=key_bits)
    _warn_or_refuse(name, _WEAK_ENCR.get(transform_id), allow_weak)
    return _encryption(transform_id, key_bits)


@lru_cache(maxsize=None)
def _encryption(transform_id: EncrId, key_bits: int | None) -> Encryption:
    # made once per (cipher, key length): the objects are frozen, so every SA can share them
    cls, fixed_len, salt_len, iv_len, block, icv_len, ike_name, esp_name = _ENCR_SPECS[transform_id]
    name = transform_id.name
    weak_reason = _WEAK_ENCR.get(transform_id)
    return cls(
        transform_id=transform_id,
        name=name,
        key_len=(key_bits // 8 if fixed_len is None else fixed_len) + salt_len,  # type: ignore[operator]
        key_bits=key_bits,
        iv_len=iv_len,
        block_size=block,
        icv_len=icv_len,
        is_aead=icv_len > 0,
        salt_len=salt_len,
        wireshark_ikev2_name=None if ike_name is None else ike_name.format(bits=key_bits),
        wireshark_esp_name=esp_name,
        weak_reason=weak_reason,
    )

