"""Independent reference computations for the tests, written from the RFC text and never from ikelab.

A test that compares ikelab with ikelab proves nothing; these helpers give it a second source.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from typing import Callable

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Prf = Callable[[bytes, bytes], bytes]


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """PRF_HMAC_SHA2_256 (RFC 4868), from the standard library."""
    return hmac.new(key, data, hashlib.sha256).digest()


def prf_plus(key: bytes, seed: bytes, length: int, prf: Prf = hmac_sha256) -> bytes:
    """prf+ of RFC 7296 2.13, the first ``length`` octets of T1 | T2 | ...

    T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), with n one octet.
    """
    out, t, n = b"", b"", 1
    while len(out) < length:
        t = prf(key, t + seed + bytes([n]))
        out, n = out + t, n + 1
    return out[:length]


def _aes_ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def aes_xcbc_mac(key: bytes, msg: bytes) -> bytes:
    """AES-XCBC-MAC (RFC 3566 4), all 128 bits, written out over AES-ECB.

    K1, K2, K3 = E(K, 0x01..01), E(K, 0x02..02), E(K, 0x03..03); CBC under K1; the last block is XORed
    with K2 if it is complete, else padded with 0x80 0x00.. and XORed with K3; an empty message is one padded block.
    """
    k1, k2, k3 = (_aes_ecb(key, bytes([c]) * 16) for c in (1, 2, 3))
    blocks = [msg[i:i + 16] for i in range(0, len(msg), 16)] or [b""]
    e = bytes(16)
    for block in blocks[:-1]:
        e = _aes_ecb(k1, bytes(a ^ b for a, b in zip(block, e)))
    last = blocks[-1]
    last, k = (last, k2) if len(last) == 16 else (last + b"\x80" + bytes(15 - len(last)), k3)
    return _aes_ecb(k1, bytes(a ^ b ^ c for a, b, c in zip(last, e, k)))


def aes_xcbc_prf_128(key: bytes, msg: bytes) -> bytes:
    """PRF_AES128_XCBC, AES-XCBC-PRF-128 (RFC 4434 2): a short key is padded with zeros to 128 bits, a long one
    becomes AES-XCBC-MAC(0^128, key)."""
    if len(key) < 16:
        key = key + bytes(16 - len(key))
    elif len(key) > 16:
        key = aes_xcbc_mac(bytes(16), key)
    return aes_xcbc_mac(key, msg)


def _aes_cmac(key: bytes, msg: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


def aes_cmac_prf_128(key: bytes, msg: bytes) -> bytes:
    """PRF_AES128_CMAC, AES-CMAC-PRF-128 (RFC 4615 3): a key that is not 128 bits becomes AES-CMAC(0^128, key);
    AES-CMAC (RFC 4493) is cryptography's."""
    return _aes_cmac(key if len(key) == 16 else _aes_cmac(bytes(16), key), msg)


#: the HMAC PRFs of RFC 7296 3.3.2 and their hash: HMAC is RFC 2104, PRF_HMAC_SHA2_* are RFC 4868 2.1.2
_HMAC_HASHES = {"PRF_HMAC_MD5": hashlib.md5, "PRF_HMAC_SHA1": hashlib.sha1, "PRF_HMAC_SHA2_256": hashlib.sha256,
                "PRF_HMAC_SHA2_384": hashlib.sha384, "PRF_HMAC_SHA2_512": hashlib.sha512}
_AES_PRFS: dict[str, Prf] = {"PRF_AES128_XCBC": aes_xcbc_prf_128, "PRF_AES128_CMAC": aes_cmac_prf_128}


def named_prf(name: str | enum.Enum) -> Prf:
    """The PRF of an IANA Transform Type 2 name (RFC 7296 3.3.2), e.g. ``"PRF_HMAC_SHA2_256"``, or an enum member
    carrying that name: HMAC (RFC 2104) over hashlib for PRF_HMAC_MD5/SHA1/SHA2_256/384/512 (RFC 4868),
    RFC 4434 for PRF_AES128_XCBC and RFC 4615 for PRF_AES128_CMAC.  Any other name is a ValueError."""
    key = name.name if isinstance(name, enum.Enum) else name
    if key in _AES_PRFS:
        return _AES_PRFS[key]
    if key not in _HMAC_HASHES:
        raise ValueError(f"no reference PRF named {key!r}")
    digest = _HMAC_HASHES[key]

    def hmac_prf(k: bytes, data: bytes) -> bytes:
        return hmac.new(k, data, digest).digest()

    hmac_prf.__name__ = hmac_prf.__qualname__ = f"hmac_{digest().name}"
    return hmac_prf
