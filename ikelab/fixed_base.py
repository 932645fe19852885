"""Fixed-base exponentiation: ``g^x mod p`` from a table made once per group.

A MODP group's generator never changes, so the powers it will be raised to
can be prepared in advance (the fixed-base windowing method, Handbook of
Applied Cryptography 14.6.3).  Write the private exponent in base ``2^w``::

    x = d_0 + d_1 * 2^w + d_2 * 2^(2w) + ...        (each digit 0 <= d_i < 2^w)
    g^x = (g^(2^0))^d_0 * (g^(2^w))^d_1 * (g^(2^(2w)))^d_2 * ...  mod p

With the table ``T[i][d] = g^(d * 2^(w*i)) mod p`` the key generation of a
Diffie-Hellman peer costs one modular multiplication per non-zero digit
(about 40 for a 320-bit exponent and ``w = 8``) instead of a squaring per
bit plus the window multiplications of a general ``pow``.  The result is
the same number as ``pow(g, x, p)``; only the work is ordered differently.
The exchange ``y_peer^x`` has a new base each time and gains nothing.

The table costs memory (``2^w - 1`` numbers of ``len(p)`` bytes per window)
and is made the first time a group generates a key.  :func:`window_for` picks
the widest window whose table fits in :data:`TABLE_BUDGET` bytes, never narrower
than :data:`WINDOW_BITS`: ``w = 8`` and 2.6 MB for MODP-2048 with 320-bit
exponents (40 multiplications), ``w = 6`` for MODP-4096 and larger.  Like the rest of ikelab's MODP code it is not
constant time.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import ConfigError

try:  # optional accelerator, extra "fast"
    import gmpy2 as _gmpy2
except ImportError:  # pragma: no cover - depends on the environment
    _gmpy2 = None

#: The narrowest window used by default: 6 bits, 63 entries per window.
WINDOW_BITS = 6
#: Bytes a table may take before the window stops growing (see :func:`window_for`).
TABLE_BUDGET = 3 << 20
#: Bytes no table may take, whatever the window: a larger one is refused before it is made.
TABLE_LIMIT = 64 << 20
_WIDEST = 8


def window_for(p: int, max_bits: int) -> int:
    """The widest window (6 to 8 bits) whose table for modulus ``p`` and ``max_bits`` fits the budget."""
    for name, value in (("p", p), ("max_bits", max_bits)):
        if value.__class__ is bool or not isinstance(value, int):
            raise ConfigError(f"window_for: {name} must be an int, not {type(value).__name__}", field=name,
                              value=value)
    size = (p.bit_length() + 7) // 8
    for window in range(_WIDEST, WINDOW_BITS, -1):
        if -(-max_bits // window) * ((1 << window) - 1) * size <= TABLE_BUDGET:
            return window
    return WINDOW_BITS


class FixedBase:
    """``g^x mod p`` for exponents of up to ``max_bits`` bits, by table lookups (HAC 14.6.3)."""

    def __init__(self, g: int, p: int, max_bits: int, *, window: int | None = None) -> None:
        for name, value in (("g", g), ("p", p), ("max_bits", max_bits), ("window", window)):
            if value is None and name == "window":
                continue  # None: window_for picks it
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"fixed base: {name} must be an int, not {type(value).__name__}",
                                  field=name, value=value)
        if window is None and max_bits > 0:
            window = window_for(p, max_bits)
        if window is None or not (0 < g < p and max_bits > 0 and 1 <= window <= 12):
            raise ConfigError(f"fixed base needs 0 < g < p, max_bits > 0 and 1 <= window <= 12; got g={g}, "
                              f"max_bits={max_bits}, window={window}", field="window", value=window)
        table = -(-max_bits // window) * ((1 << window) - 1) * ((p.bit_length() + 7) // 8)
        if table > TABLE_LIMIT:  # 2**70 bits would fill memory for ever, not fail
            raise ConfigError(f"fixed base: a table for max_bits={max_bits} and window={window} would take "
                              f"{table} bytes, more than TABLE_LIMIT ({TABLE_LIMIT}); give a smaller max_bits",
                              field="max_bits", value=max_bits)
        self.g, self.p, self.max_bits, self.window = g, p, max_bits, window
        num: Callable[[int], Any] = _gmpy2.mpz if _gmpy2 is not None else int
        modulus = num(p)
        base = num(g)  # g^(2^(w*i)) for the current window i
        self._rows: list[list[Any]] = []
        for _ in range(-(-max_bits // window)):
            row = [num(1), base]
            for _ in range(2, 1 << window):
                row.append(row[-1] * base % modulus)
            self._rows.append(row)
            base = row[-1] * base % modulus  # g^((2^w - 1) * 2^(w*i)) * g^(2^(w*i)) = g^(2^(w*(i+1)))
        self._modulus = modulus

    def pow(self, x: int) -> int:
        """``g^x mod p``; exponents outside ``[0, 2^max_bits)`` go to the general ``pow``."""
        try:
            outside = x < 0 or x.bit_length() > self.max_bits
        except (TypeError, AttributeError):  # checked only when it fails: this runs per key pair
            raise ConfigError(f"fixed base: the exponent must be an int, not {type(x).__name__}",
                              field="x", value=x) from None
        if outside:
            return _general_pow(self.g, x, self.p)
        mask, w, p = (1 << self.window) - 1, self.window, self._modulus
        acc = None
        for row in self._rows:
            if not x:
                break
            digit = x & mask
            if digit:
                acc = row[digit] if acc is None else acc * row[digit] % p
            x >>= w
        return 1 % self.p if acc is None else int(acc)


def _general_pow(g: int, x: int, p: int) -> int:
    try:
        if _gmpy2 is not None:
            return int(_gmpy2.powmod(g, x, p))
        return pow(g, x, p)
    except ValueError:  # a negative x asks for the inverse of g, which a modulus sharing a factor with g lacks
        raise ConfigError(f"fixed base: g={g} has no inverse mod p={p}, so the exponent {x} means nothing",
                          field="x", value=x) from None


__all__ = ["FixedBase", "TABLE_BUDGET", "WINDOW_BITS", "window_for"]
