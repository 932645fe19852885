"""Encryption, AEAD and integrity transforms (RFC 7296 3.3.2, Transform Types 1 and 3), and their pairing.

One small interface serves the IKE SK payload and ESP alike.  The transforms
live in three modules, one idea each, and this module re-exports every name
they define, so ``ikelab.transforms.encryption(...)`` and ``from
ikelab.transforms import Integrity`` keep working:

    transforms_encr.py    Encryption: AES-CBC, AES-CTR, AES-GCM, AES-CCM,
                          ChaCha20-Poly1305, NULL, 3DES; encryption(), key_lengths()
    transforms_integ.py   Integrity: HMAC-SHA1/SHA2, AES-XCBC, AES-CMAC, HMAC-MD5; integrity()
    transforms_common.py  what both share: argument checks, the weak-algorithm gate,
                          the per-key cache of cipher objects

This module itself pairs them: a :class:`CipherSuite` is an encryption
transform with its integrity transform (none for an AEAD, RFC 7296 3.3), and
:func:`cipher_suite` checks that the two go together.  Every transform also
carries the names Wireshark uses in its IKEv2 and ESP decryption tables, so
keys can be exported for a capture.
"""

from __future__ import annotations

import hmac  # noqa: F401 - ikelab.transforms.hmac, as before the split (a test patches its compare_digest)
from dataclasses import dataclass
from typing import Any

from .constants import EncrId, IntegId, lookup
from .errors import ConfigError
from .transforms_common import _KEYED, _KEYED_MAX, BytesLike, _as_bytes, _keyed, _warn_or_refuse  # noqa: F401
from .transforms_encr import (  # noqa: F401 - re-exported: callers and tests use these names
    _CTR_MAX_BLOCKS,
    ENCRYPTION_IDS,
    AesCbc,
    AesCcm,
    AesCtr,
    AesGcm,
    ChaCha20Poly1305Cipher,
    Encryption,
    NullEncryption,
    TripleDesCbc,
    _checked_encryption,
    _context_makers,
    _decryptor,
    _encryption,
    _encryptor,
    _public_decryptor,
    _public_encryptor,
    encryption,
    key_lengths,
)
from .transforms_integ import (  # noqa: F401 - re-exported: callers and tests use these names
    _MACS,
    INTEGRITY_IDS,
    Integrity,
    _aes_cmac,
    _checked_integrity,
    _hmac,
    integrity,
)

__all__ = [
    "AesCbc",
    "AesCcm",
    "AesCtr",
    "AesGcm",
    "ChaCha20Poly1305Cipher",
    "CipherSuite",
    "ENCRYPTION_IDS",
    "Encryption",
    "INTEGRITY_IDS",
    "Integrity",
    "require_transform",
    "NullEncryption",
    "TripleDesCbc",
    "WIRESHARK_ESP_AUTH_NULL",
    "WIRESHARK_IKEV2_INTEG_NONE",
    "cipher_suite",
    "encryption",
    "integrity",
    "key_lengths",
]

#: Wireshark's name for "no integrity" in the IKEv2 decryption table (AEAD ciphers).
#: packet-isakmp.c, ``vs_ikev2_auth_algs``: ``{IKEV2_AUTH_NONE, "NONE [RFC4306]"}``.
WIRESHARK_IKEV2_INTEG_NONE = "NONE [RFC4306]"
#: Wireshark's name for "no authentication" in the ESP SA table (AEAD ciphers).
#: packet-esp.c, ``esp_authentication_type_vals``: ``{IPSEC_AUTH_NULL, "NULL"}``.
WIRESHARK_ESP_AUTH_NULL = "NULL"


# ---------------------------------------------------------------------------
# Pairs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CipherSuite:
    """An encryption transform with its integrity transform (None for an AEAD)."""

    encryption: Encryption
    integrity: Integrity | None

    @property
    def icv_len(self) -> int:
        """Bytes of ICV after the ciphertext: the AEAD tag or the integrity ICV."""
        return self.integrity.icv_len if self.integrity is not None else self.encryption.icv_len

    @property
    def keymat_len(self) -> int:
        """Bytes of KEYMAT one direction needs: encryption key first, then integrity key (RFC 7296 2.17)."""
        return self.encryption.key_len + (self.integrity.key_len if self.integrity is not None else 0)

    @property
    def wireshark_ikev2_integrity_name(self) -> str | None:
        return WIRESHARK_IKEV2_INTEG_NONE if self.integrity is None else self.integrity.wireshark_ikev2_name

    @property
    def wireshark_esp_integrity_name(self) -> str | None:
        return WIRESHARK_ESP_AUTH_NULL if self.integrity is None else self.integrity.wireshark_esp_name


#: What each kind of transform object must offer (an Encryption or an Integrity, or a look-alike).
_TRANSFORM_ATTRS = {"encryption": ("name", "is_aead", "key_len", "iv_len", "block_size", "encrypt"),
                    "integrity": ("name", "key_len", "icv_len", "compute", "verify")}


def require_transform(value: Any, field: str, kind: str, *, optional: bool = False) -> None:
    """ConfigError naming ``field`` unless ``value`` is a ``kind`` ("encryption" or "integrity") transform object
    (None too when ``optional``); a name or number gets the call that makes one from it."""
    if (value is None and optional) or all(hasattr(value, attr) for attr in _TRANSFORM_ATTRS[kind]):
        return
    hint = ""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        hint = f"; ikelab.transforms.{kind}({value!r:.40}, ...) makes one from a name or number"
    raise ConfigError(f"{field} must be an ikelab.transforms object, not {type(value).__name__}{hint}",
                      field=field, value=value)


def cipher_suite(
    encr: EncrId | int | str,
    integ: IntegId | int | str | None = None,
    *,
    key_bits: int | None = None,
    allow_weak: bool = False,
) -> CipherSuite:
    """Check that ``encr`` and ``integ`` go together and build both.

    * an AEAD cipher takes no integrity transform (RFC 7296 3.3, RFC 5282 8);
    * ENCR_NULL needs one: ESP must not be both NULL (RFC 4303 3.2);
    * any other cipher without integrity is confidentiality-only, which
      RFC 8221 forbids: WeakAlgorithmError unless ``allow_weak=True``.
    """
    enc = _checked_encryption(encr, key_bits, allow_weak, "encr")
    integ_id = None if integ is None else lookup(IntegId, integ, field="integ")
    if integ_id is IntegId.NONE:
        integ_id = None
    if enc.is_aead and integ_id is not None:
        message = f"{enc.name} is an AEAD cipher and takes no integrity transform, got {integ_id.name} (RFC 7296 3.3)"
        raise ConfigError(message, field="integ", value=integ_id)
    if integ_id is not None:
        return CipherSuite(enc, _checked_integrity(integ_id, allow_weak))
    if enc.transform_id is EncrId.ENCR_NULL:
        message = "ENCR_NULL without integrity would protect nothing: ESP must not be NULL and NULL (RFC 4303 3.2)"
        raise ConfigError(message, field="integ", value=None)
    if not enc.is_aead:
        reason = f"{enc.name} without integrity is confidentiality-only: an attacker can flip ciphertext bits"
        _warn_or_refuse(enc.name, reason + " undetected, and RFC 8221 says MUST NOT", allow_weak,
                        f"{enc.name} without integrity")
    return CipherSuite(enc, None)
