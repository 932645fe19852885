"""What the encryption and integrity transforms share (RFC 7296 3.3.2, Transform Types 1 and 3).

The argument check that names a non-bytes field, the gate for weak algorithms (RFC 8221, RFC 8247: refused
unless ``allow_weak=True``, then a warning), and the per-key cache of cryptography's cipher objects, which
both the ciphers (AES for CBC, CTR and truncated-tag GCM; the AEADs) and AES-CMAC (RFC 4494) key from.
"""

from __future__ import annotations

from typing import Any, Union

from .errors import ConfigError, refuse_weak

BytesLike = Union[bytes, bytearray, memoryview]


def _as_bytes(value: object, field: str, owner: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise ConfigError(f"{owner}: {field} must be bytes, not {type(value).__name__}", field=field, value=value)


def _warn_or_refuse(name: str, reason: str | None, allow_weak: bool, algorithm: str | None = None) -> None:
    """Refuse or warn (the warning names the user's line, see errors.warn_outside)."""
    if reason is None:
        return
    refuse_weak(reason, allow_weak=allow_weak, field="alg", value=name, algorithm=algorithm or name)


#: Keyed cipher objects (the AEADs; AES for CBC, CTR, truncated-tag GCM and CMAC) by (class, key); emptied
#: when it grows past _KEYED_MAX.
_KEYED: dict[tuple[type, bytes], Any] = {}
_KEYED_MAX = 64


def _keyed(cls: type, key: bytes) -> Any:
    """``cls(key)``, made once per key: making it checks the key (and an AEAD expands it) each time."""
    obj = _KEYED.get((cls, key))
    if obj is None:
        if len(_KEYED) >= _KEYED_MAX:
            _KEYED.clear()
        obj = _KEYED[(cls, key)] = cls(key)
    return obj
