"""Injectable randomness.

RFC 7296 needs fresh random values for nonces (2.10), SPIs (2.6), IVs (3.14)
and Diffie-Hellman private keys (2.12).  Every ikelab object that needs them
takes a *random source*, so that

* by default values come from the operating system (:class:`SystemRandom`);
* a lesson or a test passes :class:`DeterministicRandom` with a seed, and the
  same seed gives byte-identical nonces, SPIs, IVs, keys and captures.

``DeterministicRandom`` is a SHAKE-256 stream keyed by the seed: stable across
machines and Python versions, but **not** for production use, since anyone who
knows the seed knows every key.  Its k-th draw of n bytes (k = 0, 1, ...) is
``SHAKE-256(key | k as 8 octets, big-endian)`` cut to n bytes, with ``key =
SHA-256("ikelab.DeterministicRandom" | 0x00 | seed)`` (an int seed as its
decimal digits); ``fork(label)`` keys a new stream with ``SHA-256(key | 0x00
"fork" 0x00 | label)``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol, runtime_checkable

from .errors import ConfigError


@runtime_checkable
class RandomSource(Protocol):
    """What ikelab needs from a source of randomness."""

    def random_bytes(self, n: int) -> bytes:
        """Return ``n`` random bytes."""
        ...

    def randbelow(self, n: int) -> int:
        """Return a uniform integer in ``[0, n)``."""
        ...


class _Base:
    def random_bytes(self, n: int) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def randbelow(self, n: int) -> int:
        """Uniform integer in ``[0, n)`` by rejection sampling (no modulo bias)."""
        if n.__class__ is not int and not _is_count(n):  # one identity test per draw: True is not bound 1
            raise _not_a_count(n, "n", "randbelow's bound")
        try:
            if n <= 0:
                raise ConfigError(f"randbelow needs a positive bound, got {n}", field="n", value=n)
            nbits = n.bit_length()
        except (TypeError, AttributeError):  # checked only when it fails: nonces and keys are drawn per exchange
            raise _not_a_count(n, "n", "randbelow's bound") from None
        nbytes = (nbits + 7) // 8
        excess = nbytes * 8 - nbits
        while True:
            value = int.from_bytes(self.random_bytes(nbytes), "big") >> excess
            if value < n:
                return value

    def randrange(self, low: int, high: int) -> int:
        """Uniform integer in ``[low, high)``."""
        for name, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise _not_a_count(value, name, "randrange's bound")
        if high <= low:
            raise ConfigError(f"empty range [{low}, {high})", field="range", value=(low, high))
        return low + self.randbelow(high - low)

    def spi(self, size: int = 8) -> bytes:
        """A non-zero SPI of ``size`` bytes (8 for IKE, 4 for ESP and AH; RFC 7296 3.1, 3.3.1).

        ESP and AH SPIs 1 to 255 are reserved by IANA (RFC 4303 2.1), so 4-byte
        SPIs are drawn from 256 upwards.
        """
        low = 256 if size == 4 else 1
        try:
            if size.__class__ is not int and not _is_count(size):  # True would make a 1-byte SPI
                raise TypeError
            return (low + self.randbelow((1 << (8 * size)) - low)).to_bytes(size, "big")  # randrange(low, 2^(8 size))
        except (TypeError, ValueError, OverflowError, MemoryError):  # checked only when it fails (per exchange)
            if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 64:
                raise ConfigError(f"spi size must be a number of bytes in 1..64 (8 for IKE, 4 for ESP and AH), "
                                  f"not {size!r:.40}", field="size", value=size) from None
            raise


class SystemRandom(_Base):
    """Randomness from the operating system (``os.urandom``): the default.

    With nothing to reproduce, ECP private keys (groups 19-21) are drawn by
    OpenSSL's own generator, which the OS seeds, not through
    :meth:`random_bytes` (see :meth:`ikelab.dh_ec.EcpGroup.generate`).  A
    test that replaces ``random_bytes`` on an instance does not reach them:
    give such a test another source, e.g. :class:`DeterministicRandom`.
    """

    def random_bytes(self, n: int) -> bytes:
        if n.__class__ is not int and not _is_count(n):  # one identity test per call: True is not 1 byte
            raise _not_a_count(n, "n", "the number of random bytes")
        try:
            if n < 0:
                raise ConfigError(f"cannot make {n} random bytes", field="n", value=n)
            return os.urandom(n)
        except (TypeError, OverflowError):  # checked only when it fails: called for every nonce and IV
            raise _not_a_count(n, "n", "the number of random bytes") from None

    def __repr__(self) -> str:
        return "SystemRandom()"


class DeterministicRandom(_Base):
    """A reproducible random stream for lessons and tests.

    ``DeterministicRandom(7)`` always yields the same bytes.  ``fork(label)``
    derives an independent stream, so that (for example) the initiator and the
    responder draw from their own streams and adding a value on one side does
    not shift every value on the other.
    """

    def __init__(self, seed: int | str | bytes = 0) -> None:
        if isinstance(seed, int):
            seed_bytes = str(seed).encode()
        elif isinstance(seed, str):
            try:
                seed_bytes = seed.encode()
            except UnicodeEncodeError:  # e.g. a command-line argument that was not UTF-8 (lone surrogates)
                raise ConfigError(f"seed {seed!r} is not valid UTF-8 text", field="seed", value=seed) from None
        elif isinstance(seed, (bytes, bytearray)):
            seed_bytes = bytes(seed)
        else:
            raise ConfigError(f"seed must be int, str or bytes, not {type(seed).__name__}", field="seed", value=seed)
        self.seed = seed
        self._key = hashlib.sha256(b"ikelab.DeterministicRandom\x00" + seed_bytes).digest()
        self._counter = 0

    def random_bytes(self, n: int) -> bytes:
        if n.__class__ is not int and not _is_count(n):  # one identity test per call: True is not 1 byte
            raise _not_a_count(n, "n", "the number of random bytes")
        try:
            if n < 0:
                raise ConfigError(f"cannot make {n} random bytes", field="n", value=n)
            block = hashlib.shake_256(self._key + self._counter.to_bytes(8, "big")).digest(n)
        except (TypeError, OverflowError, MemoryError):  # checked only when it fails: called for every nonce and IV
            raise _not_a_count(n, "n", "the number of random bytes") from None
        self._counter += 1
        return block

    def fork(self, label: str) -> "DeterministicRandom":
        """An independent stream named ``label``, derived from this one's seed."""
        if not isinstance(label, str):
            raise ConfigError(f"fork's label must be a str such as \"initiator\", not {type(label).__name__}",
                              field="label", value=label)
        child = DeterministicRandom.__new__(DeterministicRandom)
        child.seed = (self.seed, label)
        child._key = hashlib.sha256(self._key + b"\x00fork\x00" + label.encode()).digest()
        child._counter = 0
        return child

    def __repr__(self) -> str:
        return f"DeterministicRandom({self.seed!r})"


def _is_count(value: object) -> bool:
    """Whether ``value`` is an int (an IntEnum member too), but not a bool."""
    return isinstance(value, int) and value.__class__ is not bool


def _not_a_count(value: object, field: str, what: str) -> ConfigError:
    """The error for ``value`` given where ``what`` (a whole number) was expected."""
    if isinstance(value, int) and not isinstance(value, bool):
        return ConfigError(f"{what} ({field}), a {value.bit_length()}-bit int, is too large", field=field, value=value)
    return ConfigError(f"{what} ({field}) must be an int, not {type(value).__name__} ({value!r:.40})",
                       field=field, value=value)


def check_random_source(rng: object, field: str = "rng") -> None:
    """ConfigError naming ``field`` unless ``rng`` has ``random_bytes`` and ``randbelow`` (a :class:`RandomSource`).

    Callers on the handshake path call this only after using ``rng`` failed.
    """
    if isinstance(rng, RandomSource):
        return
    hint = ""
    if isinstance(rng, (int, str, bytes)) and not isinstance(rng, bool):
        hint = f"; for values seeded with {rng!r:.40} pass DeterministicRandom({rng!r:.40})"
    raise ConfigError(f"{field} must be a random source such as DeterministicRandom(seed) or SystemRandom(), "
                      f"not {type(rng).__name__}{hint}", field=field, value=rng)


def default_random() -> SystemRandom:
    """The default random source: the operating system's."""
    return SystemRandom()
