"""An ESP SA's transforms: names resolved once per SA, and AEAD ciphers keyed once per SA (RFC 4303 3.2).

``encryption``/``integrity`` are IANA names, numbers, enum members or ready
:mod:`ikelab.transforms` objects; an AES cipher without ``key_bits`` takes its
Key Length (RFC 7296 3.3.5) from the KEYMAT slice (RFC 7296 2.17).  GCM, CCM
and ChaCha20-Poly1305 are keyed once, with the salt cut from the KEYMAT, and
build the nonce ``salt | IV`` per packet (RFC 4106 4, RFC 4309 4, RFC 7634 2).
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from .constants import EncrId, IntegId, lookup
from .errors import IntegrityError


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
        self.name, self.iv_len, self.block_size, self.icv_len, self.is_aead = (enc.name, enc.iv_len, enc.block_size,
                                                                               enc.icv_len, True)

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

