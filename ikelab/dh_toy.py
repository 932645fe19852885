"""Hand-calculation helpers for Diffie-Hellman in small groups.

With a prime ``p`` and a base ``g``, Diffie-Hellman is ``y = g^x mod p``; its
security rests on the discrete logarithm: given ``y``, finding ``x``.  These
helpers let a lesson check a choice of ``g`` and show why small groups break:

* :func:`is_primitive_root` -- do the powers of ``g`` reach every unit mod p?
* :func:`order_of` -- the least ``k > 0`` with ``g^k = 1 (mod p)``; the
  public values live in a subgroup of that size.
* :func:`brute_force_dlog` -- try ``x = 0, 1, 2, ...`` until ``g^x = y``, and
  count the steps: about p/2 on average, hopeless for a 2048-bit ``p``.

sympy is imported inside the functions that need it, never at module import.
The toy group itself is :class:`ikelab.dh.ToyGroup`; everything here is also
re-exported from :mod:`ikelab.dh`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .errors import ConfigError


def check_int(value: Any, name: str) -> int:
    """``value`` if it is an int (not a bool), else ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int, not {type(value).__name__}", field=name, value=value)
    return value


def is_probable_prime(n: int) -> bool:
    """Miller-Rabin with the primes up to 41 as bases: exact below 3.3 * 10^24."""
    bases = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    if check_int(n, "n") < 2:
        return False
    for b in bases:
        if n % b == 0:
            return n == b
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for b in bases:
        v = pow(b, d, n)
        if v in (1, n - 1):
            continue
        for _ in range(s - 1):
            v = v * v % n
            if v == n - 1:
                break
        else:
            return False
    return True


def _check_modulus(g: Any, p: Any) -> tuple[int, int]:
    check_int(g, "g")
    check_int(p, "p")
    if p < 2:
        raise ConfigError(f"modulus p={p} must be at least 2", field="p", value=p)
    return g, p


def is_primitive_root(g: int, p: int) -> bool:
    """Whether the powers of ``g`` reach every unit modulo ``p`` (via sympy).

    >>> is_primitive_root(5, 23), is_primitive_root(2, 23)
    (True, False)
    """
    import sympy

    g, p = _check_modulus(g, p)
    if math.gcd(g, p) != 1:
        return False
    return bool(sympy.is_primitive_root(g, p))


def order_of(g: int, p: int) -> int:
    """The multiplicative order of ``g`` modulo ``p`` (via sympy).

    >>> order_of(2, 23)
    11
    """
    import sympy

    g, p = _check_modulus(g, p)
    if math.gcd(g, p) != 1:
        raise ConfigError(f"{g} has no multiplicative order modulo {p}: they share a factor", field="g", value=g)
    return int(sympy.n_order(g, p))


class DlogResult(NamedTuple):
    """The exponent found by :func:`brute_force_dlog` and the candidates it tried."""

    x: int
    steps: int


def brute_force_dlog(g: int, y: int, p: int, *, max_steps: int = 10_000_000) -> DlogResult:
    """Find ``x`` with ``g^x = y (mod p)`` by trying ``x = 0, 1, 2, ...`` in turn.

    Returns ``DlogResult(x, steps)`` where ``steps = x + 1`` is the number of
    candidates tried (one modular multiplication each).  Raises ConfigError
    when ``y`` is not a power of ``g``, or after ``max_steps`` candidates.

    >>> brute_force_dlog(5, 8, 23)
    DlogResult(x=6, steps=7)
    """
    g, p = _check_modulus(g, p)
    check_int(y, "y")
    if check_int(max_steps, "max_steps") < 1:
        raise ConfigError(f"max_steps={max_steps} must be at least 1", field="max_steps", value=max_steps)
    if not 0 < y < p:
        raise ConfigError(f"y={y} is not in [1, p-1]", field="y", value=y)
    value = 1
    limit = min(p - 1, max_steps)  # the order of g is at most p-1
    for x in range(limit):
        if value == y:
            return DlogResult(x, x + 1)
        value = value * g % p
    if limit < p - 1:
        raise ConfigError(
            f"no logarithm found in {limit} steps: p={p} is too large for brute force",
            field="max_steps", value=max_steps,
        )
    raise ConfigError(f"{y} is not a power of {g} modulo {p}", field="y", value=y)
