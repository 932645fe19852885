"""Integrity transforms (RFC 7296 3.3.2, Transform Type 3): truncated MACs, verified in constant time.

An :class:`Integrity` computes the truncated ICV and verifies it in constant
time (``hmac.compare_digest``)::

    AUTH_HMAC_SHA1_96       (RFC 2404)  key 20, ICV = first 12 bytes of HMAC-SHA1
    AUTH_HMAC_SHA2_256_128  (RFC 4868)  key 32, ICV 16
    AUTH_HMAC_SHA2_384_192  (RFC 4868)  key 48, ICV 24
    AUTH_HMAC_SHA2_512_256  (RFC 4868)  key 64, ICV 32
    AUTH_AES_XCBC_96        (RFC 3566)  key 16, ICV 12
    AUTH_AES_CMAC_96        (RFC 4494)  key 16, ICV 12
    AUTH_HMAC_MD5_96        (RFC 2403)  weak, only with allow_weak=True

:func:`integrity` builds one from its name or number; AEAD ciphers take none
(RFC 7296 3.3.3).  ``ikelab.transforms`` re-exports everything here.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from cryptography.hazmat.primitives import cmac as _cmac, hashes, hmac as _crypto_hmac
from cryptography.hazmat.primitives.ciphers import algorithms

from .constants import IntegId, lookup
from .errors import ConfigError, IntegrityError, UnknownAlgorithmError
from .prf import aes_xcbc_mac
from .transforms_common import BytesLike, _as_bytes, _keyed, _warn_or_refuse


@dataclass(frozen=True)
class Integrity:
    """An integrity transform: ``ICV = first icv_len bytes of MAC(key, data)``."""

    transform_id: IntegId
    name: str
    key_len: int
    icv_len: int
    wireshark_ikev2_name: str | None
    wireshark_esp_name: str | None
    weak_reason: str | None = None

    @property
    def is_weak(self) -> bool:
        """True for transforms that need ``allow_weak=True``."""
        return self.weak_reason is not None

    def mac(self, key: BytesLike, data: BytesLike) -> bytes:
        """The full, untruncated MAC (to show what truncation keeps)."""
        if key.__class__ is not bytes:  # bytes, the usual case, pass without a call
            key = _as_bytes(key, "key", self.name)
        if len(key) != self.key_len:
            message = f"{self.name}: key must be {self.key_len} bytes, got {len(key)}"
            raise ConfigError(message, field="key", value=len(key))
        if data.__class__ is not bytes:
            data = _as_bytes(data, "data", self.name)
        return _MACS[self.transform_id](key, data)

    def compute(self, key: BytesLike, data: BytesLike) -> bytes:
        """The truncated ICV of ``data``."""
        return self.mac(key, data)[: self.icv_len]

    def verify(self, key: BytesLike, data: BytesLike, icv: BytesLike) -> None:
        """Raise IntegrityError unless ``icv`` is the ICV of ``data`` (constant-time compare)."""
        if icv.__class__ is not bytes:  # bytes, the usual case, pass without a call
            icv = _as_bytes(icv, "icv", self.name)
        expected = self.compute(key, data)
        if len(icv) != self.icv_len:
            raise IntegrityError(f"{self.name}: ICV must be {self.icv_len} bytes, got {len(icv)}")
        if not hmac.compare_digest(expected, icv):
            raise IntegrityError(f"{self.name}: ICV does not verify")


def _hmac(digest: str) -> Callable[[bytes, bytes], bytes]:
    algorithm = getattr(hashes, digest.upper())()  # "sha256" -> hashes.SHA256(), shared by every MAC

    def mac(key: bytes, data: bytes) -> bytes:
        # cryptography's HMAC (OpenSSL underneath): the bytes of hmac.new(key, data, digest).digest(),
        # without the standard library HMAC object's five Python-level calls
        h = _crypto_hmac.HMAC(key, algorithm)
        h.update(data)
        return h.finalize()

    return mac


def _aes_cmac(key: bytes, data: bytes) -> bytes:
    mac = _cmac.CMAC(_keyed(algorithms.AES, key))
    mac.update(data)
    return mac.finalize()


_MACS: dict[IntegId, Callable[[bytes, bytes], bytes]] = {
    IntegId.AUTH_HMAC_MD5_96: _hmac("md5"),
    IntegId.AUTH_HMAC_SHA1_96: _hmac("sha1"),
    IntegId.AUTH_HMAC_SHA2_256_128: _hmac("sha256"),
    IntegId.AUTH_HMAC_SHA2_384_192: _hmac("sha384"),
    IntegId.AUTH_HMAC_SHA2_512_256: _hmac("sha512"),
    IntegId.AUTH_AES_XCBC_96: aes_xcbc_mac,  # RFC 3566, from ikelab.prf
    IntegId.AUTH_AES_CMAC_96: _aes_cmac,  # RFC 4493 / 4494
}

_MD5_WEAK = "AUTH_HMAC_MD5_96 is weak: MD5 is broken for collisions (RFC 6151) and RFC 8221 says MUST NOT use it"

# (key_len, icv_len, IKEv2 name, ESP name, weak reason).  Wireshark names: IKEv2 from
# packet-isakmp.c ``vs_ikev2_auth_algs``, ESP from packet-esp.c
# ``esp_authentication_type_vals``; Wireshark has no entry for AES-XCBC-96 (commented
# out in packet-esp.c) nor AES-CMAC-96.
_INTEG_SPECS: dict[IntegId, tuple[int, int, str | None, str | None, str | None]] = {
    IntegId.AUTH_HMAC_SHA1_96: (20, 12, "HMAC_SHA1_96 [RFC2404]", "HMAC-SHA-1-96 [RFC2404]", None),
    IntegId.AUTH_HMAC_SHA2_256_128: (32, 16, "HMAC_SHA2_256_128 [RFC4868]", "HMAC-SHA-256-128 [RFC4868]", None),
    IntegId.AUTH_HMAC_SHA2_384_192: (48, 24, "HMAC_SHA2_384_192 [RFC4868]", "HMAC-SHA-384-192 [RFC4868]", None),
    IntegId.AUTH_HMAC_SHA2_512_256: (64, 32, "HMAC_SHA2_512_256 [RFC4868]", "HMAC-SHA-512-256 [RFC4868]", None),
    IntegId.AUTH_AES_XCBC_96: (16, 12, None, None, None),
    IntegId.AUTH_AES_CMAC_96: (16, 12, None, None, None),
    IntegId.AUTH_HMAC_MD5_96: (16, 12, "HMAC_MD5_96 [RFC2403]", "HMAC-MD5-96 [RFC2403]", _MD5_WEAK),
}

#: The integrity transforms ikelab implements.
INTEGRITY_IDS: tuple[IntegId, ...] = tuple(_INTEG_SPECS)


def integrity(alg: IntegId | int | str, *, allow_weak: bool = False) -> Integrity:
    """The integrity transform ``alg``.

    ``NONE`` is not a transform to build (AEAD ciphers have no integrity
    transform, RFC 7296 3.3.3): it raises ConfigError, and callers skip
    integrity instead.  AUTH_HMAC_MD5_96 needs ``allow_weak=True``.
    """
    return _checked_integrity(alg, allow_weak)


def _checked_integrity(alg: IntegId | int | str, allow_weak: bool, field: str = "alg") -> Integrity:
    transform_id = lookup(IntegId, alg, field=field)
    if transform_id is IntegId.NONE:
        message = "integrity NONE builds no transform: with an AEAD cipher skip integrity (RFC 7296 3.3.3)"
        raise ConfigError(message, field="IntegId", value=transform_id)
    spec = _INTEG_SPECS.get(transform_id)
    if spec is None:
        known = ", ".join(t.name for t in INTEGRITY_IDS)
        raise UnknownAlgorithmError(
            f"{transform_id.name} ({transform_id.value}) is not implemented by ikelab; implemented: {known}",
            field="IntegId",
            value=transform_id,
        )
    _warn_or_refuse(transform_id.name, spec[4], allow_weak)
    return _integrity(transform_id)


@lru_cache(maxsize=None)
def _integrity(transform_id: IntegId) -> Integrity:
    key_len, icv_len, ike_name, esp_name, weak_reason = _INTEG_SPECS[transform_id]
    return Integrity(transform_id, transform_id.name, key_len, icv_len, ike_name, esp_name, weak_reason)

