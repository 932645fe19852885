"""The IKEv2 pseudorandom functions and prf+ (RFC 7296 section 2.13).

A PRF takes a key and data and returns a fixed-size output.  IKEv2 needs more
keying material than one PRF output, so RFC 7296 2.13 iterates it::

    prf+ (K,S) = T1 | T2 | T3 | T4 | ...

    where:
    T1 = prf (K, S | 0x01)
    T2 = prf (K, T1 | S | 0x02)
    T3 = prf (K, T2 | S | 0x03)
    T4 = prf (K, T3 | S | 0x04)
    ...

"The prf+ function is not defined beyond 255 times the size of the prf
function output" (the counter is one octet), so asking for more raises
:class:`~ikelab.errors.ConfigError`.

Implemented PRFs (Transform Type 2):

============================  =========  ==========  ==================
name                          output     key_len     reference
============================  =========  ==========  ==================
PRF_HMAC_SHA1                 20         20          RFC 2104, 2202
PRF_HMAC_SHA2_256             32         32          RFC 4868
PRF_HMAC_SHA2_384             48         48          RFC 4868
PRF_HMAC_SHA2_512             64         64          RFC 4868
PRF_AES128_XCBC               16         16          RFC 4434, 3566
PRF_AES128_CMAC               16         16          RFC 4615, 4493
PRF_HMAC_MD5 (weak)           16         16          RFC 2104; RFC 8247: MUST NOT
============================  =========  ==========  ==================

``key_len`` is the *preferred* key size: the length of SK_d, SK_pi and SK_pr
(RFC 7296 2.14) -- the output length for HMAC (RFC 4868 2.1.2), 128 bits for
the AES-based PRFs.  HMAC accepts keys of any length, including the empty key.

The AES-based PRFs bring any key to 128 bits first:

* AES-XCBC-PRF-128 (RFC 4434 2): a shorter key is padded with zero bytes, a
  longer one becomes ``AES-XCBC-MAC(0^128, key)``;
* AES-CMAC-PRF-128 (RFC 4615 3): any key that is not 128 bits (shorter *or*
  longer) becomes ``AES-CMAC(0^128, key)``.

With an HMAC PRF, prf+ is exactly HKDF-Expand (RFC 5869 2.3: ``T(n) =
HMAC(PRK, T(n-1) | info | n)``, with K as PRK and S as info), so those PRFs
let cryptography's HKDFExpand run the loop; the AES-based ones run the loop
written out in :meth:`Prf.prf_plus_blocks`.  Both give the same bytes (the
RFC vectors in ``tests/test_prf.py`` check each PRF).

A single HMAC output (RFC 2104) is one call of the standard library's
:func:`hmac.digest`, which hands the whole computation to OpenSSL.  Public
functions check their arguments once; :mod:`ikelab.keys` and
:mod:`ikelab.auth` then call the unchecked ``Prf._once`` and
``Prf._prf_plus_stream`` with bytes they checked.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
from dataclasses import dataclass, field
from typing import Callable

from cryptography.hazmat.primitives import cmac, hashes, hmac
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from .constants import PrfId, lookup
from .errors import ConfigError, UnknownAlgorithmError, refuse_weak
from .xcbc import aes_xcbc_mac, aes_xcbc_prf_128

__all__ = [
    "PRF_PLUS_MAX_BLOCKS",
    "Prf",
    "aes_xcbc_mac",
    "get_prf",
    "prf",
    "prf_plus",
    "prf_plus_blocks",
    "supported_prfs",
]

#: prf+ uses a one-octet counter, so at most 255 blocks (RFC 7296 2.13).
PRF_PLUS_MAX_BLOCKS = 255

KeyedPrf = Callable[[bytes], bytes]


def _bytes(value: object, field_name: str) -> bytes:
    """``value`` as bytes, or a ConfigError naming ``field_name``."""
    if type(value) is bytes:  # the usual case: no copy, no isinstance walk
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise ConfigError(
        f"{field_name} must be bytes, not {type(value).__name__}", field=field_name, value=value
    )


def _length(value: object, field_name: str = "length") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{field_name} must be an int, not {type(value).__name__}", field=field_name, value=value
        )
    if value < 0:
        raise ConfigError(f"{field_name} must be >= 0, got {value}", field=field_name, value=value)
    return value


# --- keyed primitives: key -> (data -> output) --------------------------------------------


def _hmac_keyed(hash_cls: type[hashes.HashAlgorithm]) -> Callable[[bytes], KeyedPrf]:
    def keyed(key: bytes) -> KeyedPrf:
        base = hmac.HMAC(key, hash_cls())

        def run(data: bytes) -> bytes:
            h = base.copy()
            h.update(data)
            return h.finalize()

        return run

    return keyed


def _hmac_once(hash_name: str) -> Callable[[bytes, bytes], bytes]:
    """One HMAC output, RFC 2104: the standard library's one-shot ``hmac.digest`` (OpenSSL underneath)."""

    def once(key: bytes, data: bytes) -> bytes:
        return _stdlib_hmac.digest(key, data, hash_name)

    return once


def _hkdf_expand(hash_cls: type[hashes.HashAlgorithm]) -> Callable[[bytes, bytes, int], bytes]:
    def expand(key: bytes, seed: bytes, length: int) -> bytes:  # prf+ (K, S) = HKDF-Expand(K, S, length)
        return HKDFExpand(hash_cls(), length, seed).derive(key)

    return expand


def _xcbc_keyed(key: bytes) -> KeyedPrf:
    return lambda data: aes_xcbc_prf_128(key, data)


def _aes_cmac(key: bytes, data: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def _cmac_keyed(key: bytes) -> KeyedPrf:
    # RFC 4615 3, step 1: K = Key if it is 128 bits, else AES-CMAC(0^128, Key).
    k = key if len(key) == 16 else _aes_cmac(bytes(16), key)
    return lambda data: _aes_cmac(k, data)


@dataclass(frozen=True)
class Prf:
    """One IKEv2 PRF transform: ``prf(key, data)`` and ``prf_plus(key, seed, length)``.

    Get one with :func:`get_prf`.  ``fixed_key`` is True for the AES-based PRFs,
    whose key is always brought to 128 bits (RFC 7296 2.14 treats them
    specially when computing SKEYSEED).
    """

    transform_id: PrfId
    name: str
    output_len: int
    key_len: int
    fixed_key: bool
    weak_reason: str | None = None
    _keyed: Callable[[bytes], KeyedPrf] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _once: Callable[[bytes, bytes], bytes] | None = field(default=None, repr=False, compare=False)
    _expand: Callable[[bytes, bytes, int], bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def is_weak(self) -> bool:
        return self.weak_reason is not None

    @property
    def max_prf_plus_len(self) -> int:
        """The most bytes prf+ can give with this PRF: 255 * output_len."""
        return PRF_PLUS_MAX_BLOCKS * self.output_len

    def __post_init__(self) -> None:
        # _once is prf(K, S) for bytes the caller has already checked (the engine's path): a plain
        # function in a field, so calling it costs no method frame
        if self._once is None and self._keyed is not None:
            keyed = self._keyed
            object.__setattr__(self, "_once", lambda key, data: keyed(key)(data))

    def prf(self, key: bytes, data: bytes) -> bytes:
        """``prf(K, S)``: one output of :attr:`output_len` bytes."""
        return self._once(_bytes(key, "key"), _bytes(data, "data"))  # type: ignore[misc]

    __call__ = prf

    def _checked_length(self, length: object) -> int:
        """``length`` as an int that prf+ can give, or ConfigError (RFC 7296 2.13: at most 255 blocks)."""
        if type(length) is not int or length < 0:
            length = _length(length)
        if length > PRF_PLUS_MAX_BLOCKS * self.output_len:
            raise ConfigError(
                f"prf+ with {self.name} can give at most {self.max_prf_plus_len} bytes "
                f"({PRF_PLUS_MAX_BLOCKS} blocks of {self.output_len}); {length} bytes were asked "
                "(RFC 7296 2.13)",
                field="length",
                value=length,
            )
        return length

    def prf_plus_blocks(self, key: bytes, seed: bytes, length: int) -> list[bytes]:
        """The blocks T1, T2, ... of prf+(key, seed), as many as ``length`` bytes need."""
        key = _bytes(key, "key")
        seed = _bytes(seed, "seed")
        stream = self._prf_plus_stream(key, seed, self._checked_length(length))
        out = self.output_len
        return [stream[i : i + out] for i in range(0, len(stream), out)]

    def _prf_plus_stream(self, key: bytes, seed: bytes, length: int) -> bytes:
        """``T1 | T2 | ...``: whole blocks covering ``length`` bytes, for checked arguments."""
        n_blocks = -(-length // self.output_len)
        if self._expand is not None and n_blocks:
            return self._expand(key, seed, n_blocks * self.output_len)
        run = self._keyed(key)
        blocks: list[bytes] = []
        previous = b""
        for counter in range(1, n_blocks + 1):
            previous = run(previous + seed + bytes([counter]))
            blocks.append(previous)
        return b"".join(blocks)

    def prf_plus(self, key: bytes, seed: bytes, length: int) -> bytes:
        """``prf+(K, S)`` cut to ``length`` bytes."""
        key = _bytes(key, "key")
        seed = _bytes(seed, "seed")
        length = self._checked_length(length)
        return self._prf_plus_stream(key, seed, length)[:length]


_MD5_WHY = (
    "PRF_HMAC_MD5 is weak: MD5 is broken (practical collisions, RFC 6151) and RFC 8247 2.2 "
    "says PRF_HMAC_MD5 MUST NOT be used in IKEv2; use PRF_HMAC_SHA2_256 or stronger"
)

_PRFS: dict[PrfId, Prf] = {
    PrfId.PRF_HMAC_MD5: Prf(
        PrfId.PRF_HMAC_MD5, "PRF_HMAC_MD5", 16, 16, False, _MD5_WHY, _hmac_keyed(hashes.MD5),
        _hmac_once("md5"), _hkdf_expand(hashes.MD5),
    ),
    PrfId.PRF_HMAC_SHA1: Prf(
        PrfId.PRF_HMAC_SHA1, "PRF_HMAC_SHA1", 20, 20, False, None, _hmac_keyed(hashes.SHA1),
        _hmac_once("sha1"), _hkdf_expand(hashes.SHA1),
    ),
    PrfId.PRF_AES128_XCBC: Prf(PrfId.PRF_AES128_XCBC, "PRF_AES128_XCBC", 16, 16, True, None, _xcbc_keyed),
    PrfId.PRF_HMAC_SHA2_256: Prf(
        PrfId.PRF_HMAC_SHA2_256, "PRF_HMAC_SHA2_256", 32, 32, False, None, _hmac_keyed(hashes.SHA256),
        _hmac_once("sha256"), _hkdf_expand(hashes.SHA256),
    ),
    PrfId.PRF_HMAC_SHA2_384: Prf(
        PrfId.PRF_HMAC_SHA2_384, "PRF_HMAC_SHA2_384", 48, 48, False, None, _hmac_keyed(hashes.SHA384),
        _hmac_once("sha384"), _hkdf_expand(hashes.SHA384),
    ),
    PrfId.PRF_HMAC_SHA2_512: Prf(
        PrfId.PRF_HMAC_SHA2_512, "PRF_HMAC_SHA2_512", 64, 64, False, None, _hmac_keyed(hashes.SHA512),
        _hmac_once("sha512"), _hkdf_expand(hashes.SHA512),
    ),
    PrfId.PRF_AES128_CMAC: Prf(PrfId.PRF_AES128_CMAC, "PRF_AES128_CMAC", 16, 16, True, None, _cmac_keyed),
}


#: PrfId member -> its Prf, for every PRF that get_prf hands out without a check or a warning (all but
#: the weak PRF_HMAC_MD5).  The key schedule and AUTH look a member up here first, where a get_prf call
#: would cost more than the lookup; anything else (a weak PRF, a name, a number) still goes through get_prf.
STRONG_PRFS: dict[PrfId, Prf] = {pid: p for pid, p in _PRFS.items() if p.weak_reason is None}


def supported_prfs(*, include_weak: bool = False) -> list[PrfId]:
    """The PRF transform IDs ikelab implements (weak ones only if asked)."""
    return [pid for pid, p in _PRFS.items() if include_weak or not p.is_weak]


def get_prf(alg: "PrfId | int | str | Prf", *, allow_weak: bool = False, field: str = "alg") -> Prf:
    """The :class:`Prf` for ``alg`` (IANA name, number or :class:`PrfId`).

    Unknown or unimplemented PRFs raise UnknownAlgorithmError; PRF_HMAC_MD5
    raises WeakAlgorithmError unless ``allow_weak=True``, and then warns with
    WeakAlgorithmWarning.  The errors name ``field``: a caller passes the name
    of its own argument (``prf_alg``).
    """
    if type(alg) is PrfId:  # the engine's usual call: skip the name/number lookup
        pid = alg
    elif isinstance(alg, Prf):
        pid = alg.transform_id
    else:
        pid = lookup(PrfId, alg, field=field)
    p = _PRFS.get(pid)
    if p is None:
        known = ", ".join(x.name for x in _PRFS)
        raise UnknownAlgorithmError(
            f"{field}: PRF {pid.name} ({int(pid)}) is not implemented by ikelab; implemented: {known}",
            field=field,
            value=alg,
        )
    if p.weak_reason is not None:
        refuse_weak(p.weak_reason, allow_weak=allow_weak, field=field, value=alg, algorithm=p.name)
    return p


def prf(alg: "PrfId | int | str", key: bytes, data: bytes, *, allow_weak: bool = False) -> bytes:
    """``prf(K, S)`` with the PRF ``alg`` (RFC 7296 2.13)."""
    return get_prf(alg, allow_weak=allow_weak).prf(key, data)


def prf_plus_blocks(
    alg: "PrfId | int | str", key: bytes, seed: bytes, length: int, *, allow_weak: bool = False
) -> list[bytes]:
    """The T1, T2, ... blocks of prf+(key, seed) needed for ``length`` bytes (RFC 7296 2.13)."""
    return get_prf(alg, allow_weak=allow_weak).prf_plus_blocks(key, seed, length)


def prf_plus(alg: "PrfId | int | str", key: bytes, seed: bytes, length: int, *, allow_weak: bool = False) -> bytes:
    """``prf+(K, S)``: T1 | T2 | ... cut to ``length`` bytes (RFC 7296 2.13)."""
    return get_prf(alg, allow_weak=allow_weak).prf_plus(key, seed, length)
