"""AES-XCBC-MAC (RFC 3566), built on a single AES block encryption.

RFC 3566 section 4 derives three keys from the 128-bit key K::

    K1 = AES-K(0x01010101010101010101010101010101)
    K2 = AES-K(0x02020202020202020202020202020202)
    K3 = AES-K(0x03030303030303030303030303030303)

and chains the message blocks M[1] .. M[n] under K1, starting from E[0] = 0::

    E[i] = AES-K1(M[i] XOR E[i-1])                  for i = 1 .. n-1
    E[n] = AES-K1(M[n] XOR E[n-1] XOR K2)           if M[n] is a full block
    E[n] = AES-K1(pad(M[n]) XOR E[n-1] XOR K3)      otherwise (pad: 0x80 00 .. 00)

The 128-bit E[n] is the MAC.  AUTH_AES_XCBC_96 (RFC 3566 for ESP/AH and IKE
integrity) sends its first 96 bits; PRF_AES128_XCBC (RFC 4434) uses all 128
bits after bringing the key to 16 bytes (:func:`aes_xcbc_prf_128`).

Only AES in ECB mode (one block at a time) is taken from ``cryptography``; the
chaining above is written out so that a student can follow it block by block.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from .errors import ConfigError
from .wire import check_bytes

BLOCK = 16
KEY_LEN = 16
_ZERO_KEY = bytes(KEY_LEN)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(BLOCK, "big")


def _aes_ecb(key: bytes) -> CipherContext:
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()


def xcbc_subkeys(key: bytes) -> tuple[bytes, bytes, bytes]:
    """``(K1, K2, K3)`` of RFC 3566 section 4 for the 16-byte ``key``."""
    key = check_bytes(key, "key")
    if len(key) != KEY_LEN:
        raise ConfigError(
            f"AES-XCBC-MAC needs a 16-byte key, got {len(key)} bytes (RFC 3566 4)", field="key", value=len(key)
        )
    aes_k = _aes_ecb(key)
    return tuple(aes_k.update(bytes([c]) * BLOCK) for c in (1, 2, 3))  # type: ignore[return-value]


def aes_xcbc_mac(key: bytes, data: bytes) -> bytes:
    """The full 128-bit AES-XCBC-MAC of ``data`` under the 16-byte ``key`` (RFC 3566 4).

    Truncate to 12 bytes for AUTH_AES_XCBC_96.
    """
    k1, k2, k3 = xcbc_subkeys(key)
    data = check_bytes(data, "data")
    aes_k1 = _aes_ecb(k1)
    # Split into blocks; the last block (possibly empty) is treated specially.
    n_full_before_last = (len(data) - 1) // BLOCK if data else 0
    e = bytes(BLOCK)
    for i in range(n_full_before_last):
        e = aes_k1.update(_xor(data[i * BLOCK : (i + 1) * BLOCK], e))
    last = data[n_full_before_last * BLOCK :]
    if len(last) == BLOCK:
        final = _xor(_xor(last, e), k2)
    else:
        padded = last + b"\x80" + bytes(BLOCK - len(last) - 1)
        final = _xor(_xor(padded, e), k3)
    return aes_k1.update(final)


def aes_xcbc_prf_128(key: bytes, data: bytes) -> bytes:
    """AES-XCBC-PRF-128 (RFC 4434 section 2): any key length, 16-byte output.

    * a 16-byte key is used as is;
    * a shorter key is padded on the right with zero bytes to 16 bytes;
    * a longer key is first reduced: ``K = AES-XCBC-MAC(0^128, key)``.
    """
    key = check_bytes(key, "key")
    if len(key) < KEY_LEN:
        key = key + bytes(KEY_LEN - len(key))
    elif len(key) > KEY_LEN:
        key = aes_xcbc_mac(_ZERO_KEY, key)
    return aes_xcbc_mac(key, data)
