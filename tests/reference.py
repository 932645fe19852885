"""Independent reference computations for the tests, written from the RFC text and never from ikelab.

A test that compares ikelab with ikelab proves nothing; these helpers give it a second source.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable

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
