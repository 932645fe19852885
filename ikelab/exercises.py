"""Automatic checks for the lessons' exercise cells.

Each exercise has an id (``"dh.shared-secret"``) and a check.  A lesson cell
gives the inputs, the student writes the answer in the cell tagged
``solution``, and the next cell (tagged ``check``) calls::

    exercises.check("dh.shared-secret", k, p=p, g=g, x_a=x_a, y_b=y_b)

The check computes the expected value *with ikelab itself* from the given
inputs (never from a stored constant), prints one friendly line when the
answer is right, and otherwise raises :class:`ExerciseFailed` saying what is
wrong without giving the answer away.  The stub left in the student edition
(``k = ...``) always fails with a "no answer yet" message.

Formulas checked here:

* Diffie-Hellman with toy numbers: ``k = Y_B^X_A mod p``, ``Y = g^X mod p``;
* prf+ (RFC 7296 2.13): ``T2 = prf (K, T1 | S | 0x02)``;
* the IKE SA key material (RFC 7296 2.14): ``{SK_d | SK_ai | SK_ar | SK_ei |
  SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)``, and the
  number of prf+ blocks it takes.

This module stays light: it imports only the ikelab core.
"""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass
from typing import Any, Callable, Collection, Sequence

from . import dh
from . import keys as _keys
from . import prf as _prf
from . import transforms as _transforms
from .errors import ConfigError, IkelabError
from .fmt import short_hex

__all__ = ["EXERCISES", "Exercise", "ExerciseFailed", "Wrong", "check", "exercise", "exercises", "hint", "register"]


class ExerciseFailed(IkelabError):
    """The answer in an exercise cell is missing or wrong; the message says what to look at."""

    def __init__(self, exercise_id: str, message: str) -> None:
        super().__init__(f"[{exercise_id}] {message}")
        self.exercise_id = exercise_id
        self.reason = message

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows (IPython's hook): the message, not a traceback into this module."""
        return [f"ExerciseFailed: {self}", f"(a hint: ikelab.exercises.hint({self.exercise_id!r}))"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id, the lesson it belongs to, what the answer is, and its check."""

    id: str
    lesson: str
    title: str
    answer: str  # what kind of value the answer is, e.g. "an int k"
    hint: str
    run: Callable[..., str]  # run(answer, **given) -> success detail, or raises Wrong

    def check(self, answer: Any, **given: Any) -> str:
        """The success line for ``answer``, or ExerciseFailed; bad ``given`` inputs raise ConfigError."""
        try:
            inspect.signature(self.run).bind(answer, **given)
        except TypeError as exc:
            raise ConfigError(f"exercise {self.id}: wrong inputs given to the check ({exc})",
                              field="given", value=sorted(given)) from None
        if answer is ... or answer is None:
            raise ExerciseFailed(self.id, f"no answer yet: replace the `...` in the exercise cell with {self.answer}.")
        try:
            detail = self.run(answer, **given)
        except Wrong as wrong:
            raise ExerciseFailed(self.id, str(wrong)) from None
        return f"Correct! [{self.id}] {detail}"


class Wrong(IkelabError):
    """Raised inside a check function; turned into ExerciseFailed by :meth:`Exercise.check`."""


EXERCISES: dict[str, Exercise] = {}


def register(
    id: str, lesson: str, title: str, answer: str, hint: str
) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Decorator adding a check ``fn(answer, **given) -> success detail`` to :data:`EXERCISES`.

    The function computes the expected value with ikelab from ``given``, and
    raises :class:`Wrong` with a hint (never the answer) when ``answer`` is wrong.
    Stubs (``...``/None) are refused before it is called.
    """
    if id in EXERCISES:
        raise ConfigError(f"exercise {id!r} is already registered", field="id", value=id)

    def deco(fn: Callable[..., str]) -> Callable[..., str]:
        EXERCISES[id] = Exercise(id, lesson, title, answer, hint, fn)
        return fn

    return deco


def exercise(exercise_id: str) -> Exercise:
    """The exercise with this id (ConfigError naming the known ids otherwise)."""
    try:
        return EXERCISES[exercise_id]
    except (KeyError, TypeError):
        known = ", ".join(sorted(EXERCISES))
        raise ConfigError(f"unknown exercise {exercise_id!r}; known: {known}", field="exercise_id",
                          value=exercise_id) from None


def exercises(lesson: str | None = None) -> list[Exercise]:
    """All exercises, or those of one lesson (``"02-diffie-hellman"``)."""
    return [e for e in EXERCISES.values() if lesson is None or e.lesson == lesson]


def check(exercise_id: str, answer: Any, **given: Any) -> None:
    """Check ``answer`` for the exercise ``exercise_id`` with its ``given`` inputs.

    Prints one line on success; raises :class:`ExerciseFailed` otherwise.
    """
    print(exercise(exercise_id).check(answer, **given))


def hint(exercise_id: str) -> None:
    """Print the exercise's hint."""
    ex = exercise(exercise_id)
    print(f"Hint [{ex.id}]: {ex.hint}")


# --- Answer type helpers ----------------------------------------------------------------------


def _show(value: Any, limit: int = 40) -> str:
    """A short repr of an answer for a message: never a traceback, never a page of digits."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - e.g. an int past sys.get_int_max_str_digits(), or a broken __repr__
        if isinstance(value, int):
            return f"<an int of {value.bit_length()} bits>"
        return f"<a {type(value).__name__}>"
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return text[:half] + "..." + text[-half:]


def _name_slips(found: Sequence[str]) -> None:
    """Raise Wrong naming the slip that gives the student's number, or every one when several give it here
    (with small inputs two different mistakes often land on the same number).  No slip: nothing is raised."""
    found = list(dict.fromkeys(found))
    if len(found) == 1:
        raise Wrong(found[0])
    if found:
        raise Wrong("these slips all give that number here; check each: "
                    + " ".join(f"({i}) {m}" for i, m in enumerate(found, 1)))


def _want_int(answer: Any, what: str) -> int:
    # Any integer type is a fine answer: int, sympy's Integer, numpy's int64 ... (they have __index__);
    # bool is not a number here, numpy's neither (numpy 2.2, the last for Python 3.10, still gives it an
    # index, with a DeprecationWarning), and neither is a float, even 3.0.
    kind = type(answer)
    numpy_bool = kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    if not isinstance(answer, bool) and not numpy_bool and hasattr(kind, "__index__"):
        try:
            return operator.index(answer)
        except TypeError:  # numpy's bool_ has __index__ but refuses (numpy 2.3 and later)
            pass
    raise Wrong(f"{what} should be an int, not {type(answer).__name__} ({_show(answer)}).")


def _spi_name(spi: int) -> str:
    return f"0x{spi:08x}"


def _want_spi(answer: Any, ike_spis: Collection[int] = ()) -> int:
    """An ESP SPI (RFC 4303 2.1, 32 bits) as an int, a hex str with or without 0x (any case), or 4 bytes."""
    if isinstance(answer, (bytes, bytearray, memoryview)):
        raw = bytes(answer)
        if len(raw) != 4:
            raise Wrong(f"an ESP SPI is 4 bytes (RFC 4303 2.1), not {len(raw)}.")
        return int.from_bytes(raw, "big")
    if isinstance(answer, str):
        try:
            value = int(answer, 16)  # takes 0x or 0X, any case, surrounding spaces; a sign makes it no SPI below
        except ValueError:
            value = -1
        if value < 0:
            raise Wrong(f"the SPI {_show(answer)} is not a hex number; write it as Wireshark shows it "
                        "('0x1234abcd') or as an int.")
    elif isinstance(answer, bool) or not hasattr(type(answer), "__index__"):
        raise Wrong(f"the SPI should be an int or a hex str ('0x1234abcd'), not {type(answer).__name__} "
                    f"({_show(answer)}).")
    else:
        value = _want_int(answer, "the SPI")
    if value in ike_spis:
        raise Wrong("that is an IKE SA's SPI (8 bytes, in the IKE header, RFC 7296 3.1); the question asks for the "
                    "ESP SPI of an ESP packet (4 bytes, RFC 4303 2.1).")
    if not 0 <= value < 1 << 32:
        raise Wrong(f"an ESP SPI is a 32-bit number (at most 8 hex digits, RFC 4303 2.1); {_show(answer)} is not "
                    "(if you typed its decimal value as a str, give it as an int).")
    return value


def _want_bytes(answer: Any, what: str, length: int) -> bytes:
    if isinstance(answer, str):
        raise Wrong(f"{what} should be bytes, not a str: if you have hex text, convert it with bytes.fromhex(...).")
    if not isinstance(answer, (bytes, bytearray, memoryview)):
        raise Wrong(f"{what} should be bytes, not {type(answer).__name__}.")
    answer = bytes(answer)
    if len(answer) != length:
        raise Wrong(f"{what} should be {length} bytes (one PRF output), got {len(answer)}.")
    return answer


# --- Lesson 02: Diffie-Hellman ----------------------------------------------------------------


@register("dh.shared-secret", "02-diffie-hellman", "Alice's shared secret k with toy numbers",
           "an int k", "k = Y_B^X_A mod p: Alice raises Bob's public value to her own private value, mod p.")
def _dh_shared_secret(answer: Any, *, p: int, g: int, x_a: int, y_b: int) -> str:
    grp = dh.ToyGroup(p, g)
    expected = grp.shared_secret(x_a, y_b)
    k = _want_int(answer, "k")
    if k == expected:
        return f"k = {k}: Bob gets the same number from Y_A = {g}^{x_a} mod {p} = {grp.public_value(x_a)}."
    if k == grp.public_value(x_a):
        raise Wrong("that is Y_A = g^X_A mod p, Alice's public value; the shared secret starts from Bob's Y_B.")
    if k == y_b ** x_a:
        raise Wrong("the power is right but it was not reduced: take the result modulo p.")
    if k == dh.powmod(x_a, y_b, p):
        raise Wrong("base and exponent are swapped: k = Y_B^X_A mod p (Bob's public value is the base).")
    if not 0 < k < p:
        raise Wrong(f"a value modulo p = {p} lies between 1 and {p - 1}; {_show(k)} does not.")
    raise Wrong("not the shared secret. Check the formula k = Y_B^X_A mod p and the numbers you used.")


@register("dh.discrete-log", "02-diffie-hellman", "A discrete logarithm in a toy group",
           "an int x with g^x mod p = y", "Try x = 0, 1, 2, ... until g^x mod p equals y (ikelab.dh.brute_force_dlog).")
def _dh_discrete_log(answer: Any, *, p: int, g: int, y: int) -> str:
    grp = dh.ToyGroup(p, g)
    dh.brute_force_dlog(g, y, p)  # the exercise must have a solution (ConfigError otherwise)
    x = _want_int(answer, "x")
    if x < 0:
        raise Wrong(f"x = {_show(x)} is negative; look for an exponent in 0..{p - 2}.")
    value = grp.public_value(x)
    if value != y:
        raise Wrong(f"{g}^{_show(x)} mod {p} = {value}, not {y}. Keep searching.")
    order = dh.order_of(g, p)
    return (f"{g}^{_show(x)} mod {p} = {y}. Any x + n*{order} works too ({order} is the order of {g}); "
            f"in a 2048-bit group this search is hopeless.")


# --- Lesson 04: prf+ ----------------------------------------------------------------------------


@register("prf.t2", "04-prf-plus", "The second prf+ block T2 from T1",
           "the bytes of T2", "RFC 7296 2.13: T2 = prf (K, T1 | S | 0x02), with ikelab.prf.prf(alg, key, data).")
def _prf_t2(answer: Any, *, prf_alg: Any, key: bytes, seed: bytes, t1: bytes) -> str:
    p = _prf.get_prf(prf_alg, field="prf_alg")
    for name, value in (("key", key), ("seed", seed), ("t1", t1)):
        if not isinstance(value, (bytes, bytearray)):
            raise ConfigError(f"exercise prf.t2: {name} must be bytes, not {type(value).__name__}",
                              field=name, value=value)
    key, seed, t1 = bytes(key), bytes(seed), bytes(t1)
    blocks = p.prf_plus_blocks(key, seed, 2 * p.output_len)
    if blocks[0] != t1:
        raise ConfigError("exercise prf.t2: the given t1 is not T1 of prf+(key, seed)", field="t1", value=t1)
    expected = p.prf(key, t1 + seed + b"\x02")
    t2 = _want_bytes(answer, "T2", p.output_len)
    if t2 == expected:
        return f"T2 = {short_hex(t2)}, the second block of ikelab.prf.prf_plus_blocks({p.name}, K, S, ...)."
    wrong = {
        p.prf(key, seed + b"\x02"): "T1 is missing: the input of T2 starts with T1 (T1 | S | 0x02).",
        p.prf(key, seed + t1 + b"\x02"): "the order is T1 | S | 0x02: T1 comes first, then S.",
        p.prf(key, t1 + seed + b"\x01"): "the counter octet of the second block is 0x02.",
        p.prf(key, t1 + seed): "the input ends with a one-octet counter (0x02 for T2).",
        t1: "that is T1 itself; compute the next block.",
    }
    # bytes(2) == b"\x00\x00" is a classic slip, as are the digit and a wider int
    for counter in (bytes(2), b"2", (2).to_bytes(4, "big"), (2).to_bytes(2, "big")):
        wrong.setdefault(p.prf(key, t1 + seed + counter),
                         "the counter is ONE octet of value 2 (b'\\x02' or bytes([2])); bytes(2) is two zero octets "
                         "and b'2' is the digit.")
    if t2 in wrong:
        raise Wrong(wrong[t2])
    if p.prf(t1, seed + b"\x02") == t2 or p.prf(t1 + seed, b"\x02") == t2:
        raise Wrong("every block is keyed with K, not with T1: prf(K, T1 | S | 0x02).")
    raise Wrong("not T2. Check the formula T2 = prf (K, T1 | S | 0x02) and which PRF you used.")


@register("prf.blocks-needed", "04-prf-plus", "prf+ blocks for an IKE SA's seven SK_* keys",
           "an int: the number of blocks",
           "Add up SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr (RFC 7296 2.14; AEAD keys include the salt, "
           "and have no SK_a), then divide by the PRF output length, rounding up.")
def _prf_blocks_needed(answer: Any, *, prf_alg: Any, encr: Any, key_bits: int | None = None,
                       integ: Any = None) -> str:
    p = _prf.get_prf(prf_alg, field="prf_alg")
    zero = bytes(32)
    ike = _keys.ike_sa_keys(p.transform_id, bytes(p.output_len), zero, zero, bytes(8), bytes(8),
                            encr=encr, encr_key_bits=key_bits, integ=integ)
    expected, total = len(ike.blocks), ike.total_len
    n = _want_int(answer, "the number of blocks")
    if n == expected:
        return (f"the seven keys take {total} bytes = {expected} blocks of {p.output_len} bytes"
                f" ({expected * p.output_len - total} bytes of the last block are unused).")
    if n == total:
        raise Wrong("that is a number of bytes; the answer is a number of prf+ blocks.")
    hints = []
    if n == total // p.output_len and total % p.output_len:
        hints.append("Round up: a block that is only partly used still costs one prf call.")
    cipher = _transforms.encryption(encr, key_bits)
    salt = cipher.key_len - cipher.cipher_key_len
    if salt and n == -(-(total - 2 * salt) // p.output_len):
        hints.append(f"{cipher.name} keys include a {salt}-byte salt: SK_ei and SK_er are longer than the cipher key.")
    if hints:
        raise Wrong("too few. " + " ".join(hints))
    if n <= 0:
        raise Wrong("prf+ always computes at least one block.")
    direction = "few" if n < expected else "many"
    raise Wrong(f"too {direction}. List the seven keys with their lengths for this suite, add them up, "
                 f"then divide by {p.name}'s output length.")


# --- The other lessons' checks, one module per topic; importing them registers them ----------------
# (at the end: they import register() and the answer helpers from this module)
from . import exercises_tour  # noqa: E402,F401  lesson 00
from . import exercises_arch  # noqa: E402,F401  lesson 01
from . import exercises_pfs  # noqa: E402,F401  lesson 03
from . import exercises_ike  # noqa: E402,F401  lessons 05-07
from . import exercises_ts  # noqa: E402,F401  lesson 06 (traffic selectors)
from . import exercises_negotiation  # noqa: E402,F401  lesson 08
from . import exercises_esp  # noqa: E402,F401  lesson 09
from . import exercises_trace  # noqa: E402,F401  lesson 10
from . import exercises_comments  # noqa: E402,F401  lesson 11
