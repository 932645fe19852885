"""Diffie-Hellman groups for IKEv2 (RFC 7296 sections 2.12, 2.14, 3.4).

Each side draws a private value and sends its public value in the KE payload;
both then compute ``g^ir = (g^r)^i = (g^i)^r``.  RFC 7296 section 2.14: "g^ir
is represented as a string of octets in big endian order padded with zeros if
necessary to make it the length of the modulus."

One interface (:func:`group`, :class:`DhGroup`, :class:`DhPrivateKey`), four kinds:

* MODP groups 1, 2 (RFC 2409 section 6) and 5, 14-18 (RFC 3526):
  ``y = g^x mod p``, KE data ``y`` big-endian, left-padded to the length of p.
* ECP groups 19, 20, 21 (RFC 5903): KE data ``x | y``, each coordinate fixed
  length, no 0x04 prefix (section 7); g^ir is the x coordinate only.
* Curve25519 and Curve448, groups 31, 32 (RFC 8031, RFC 7748): KE data and
  g^ir are the 32 or 56 byte little-endian u coordinate.
* :class:`ToyGroup` ``(23, 5)``: hand-sized numbers for lessons.  Building one
  is an explicit request, so it needs no ``allow_weak``; it has no IANA ID and
  :func:`group` never returns one.  Helpers: :mod:`ikelab.dh_toy`.

This module holds the finite-field groups (MODP and toy) and the registry
(:func:`group`, :func:`groups`); the interface is in :mod:`ikelab.dh_base` and
the elliptic curves in :mod:`ikelab.dh_ec`.  All of them are importable from here.

Public values are checked (RFC 6989): MODP and toy ``1 < y < p-1`` at the
modulus length -- for safe primes ``p = 2q + 1`` this suffices (RFC 6989
section 2.1); the ``y^q = 1`` test is optional (``check_subgroup=True``; for a
toy group ``q`` is the order of ``g``, found with sympy).  The
elliptic-curve checks are in :mod:`ikelab.dh_ec`.  Failures raise
:class:`~ikelab.errors.InvalidPublicValueError` naming the group.

MODP private exponent: RFC 3526 section 8 wants "double the entropy of the
strength of the entire system", as does NIST SP 800-56A rev. 3 (5.6.1.1.4).
``x`` is uniform in ``[2, 2^e)`` with ``e`` twice RFC 3526's *higher* strength
estimate: 240, 320, 420, 480, 540, 620 bits for groups 5, 14-18, and 160 for
groups 1 and 2 (twice the 80 bits RFC 3526 section 1 grants them); always far
below q.

Groups 1, 2, 5 are weak: :class:`~ikelab.errors.WeakAlgorithmError` unless
``allow_weak=True``, which warns (:class:`~ikelab.errors.WeakAlgorithmWarning`).
Groups 22-24 (RFC 5114) are not implemented (RFC 8247 section 2.4 advises
against them).  MODP arithmetic is Python's ``pow``, or ``gmpy2.powmod`` when
installed (extra "fast"); a key pair's ``g^x`` comes from a table of powers of
the fixed generator (:mod:`ikelab.fixed_base`), the same number found with a
few dozen multiplications.  cryptography's deprecated finite-field DH API is not
used.  ECP and X25519/X448 use cryptography.  The MODP arithmetic is not constant
time: neither Python's ``pow`` nor ``gmpy2.powmod`` (GMP's ``mpz_powm``; ``powmod_sec``
is not used) nor the table lookups are.  This is a teaching toolkit.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from . import dh_params as _params
from .constants import DhId, lookup
from .dh_base import DhGroup, DhPrivateKey, GroupInfo, _ke_bytes
from .dh_ec import EcpGroup, EcpPrivateKey, MontgomeryGroup, MontgomeryPrivateKey
from .dh_toy import DlogResult, brute_force_dlog, check_int, is_primitive_root, is_probable_prime, order_of
from .fixed_base import FixedBase
from .errors import ConfigError, InvalidPublicValueError, UnknownAlgorithmError, refuse_weak
from .rand import RandomSource, check_random_source, default_random

try:  # optional accelerator, extra "fast"
    import gmpy2 as _gmpy2
except ImportError:  # pragma: no cover - depends on the environment
    _gmpy2 = None

#: Which big-integer engine the MODP arithmetic uses: "gmpy2" or "python".
MODP_BACKEND = "gmpy2" if _gmpy2 is not None else "python"


def powmod(base: int, exponent: int, modulus: int) -> int:
    """``base ** exponent % modulus`` with gmpy2 when available.

    A negative exponent means the inverse (as Python's ``pow``): ``powmod(5, -1, 23)`` is 14.
    """
    try:
        if _gmpy2 is not None:
            return int(_gmpy2.powmod(base, exponent, modulus))
        return pow(base, exponent, modulus)
    except (TypeError, ValueError) as exc:  # checked only when it fails: the MODP groups call this per exchange
        raise ConfigError(_powmod_problem(base, exponent, modulus, exc), field="powmod",
                          value=(base, exponent, modulus)) from None


def _powmod_problem(base: Any, exponent: Any, modulus: Any, exc: Exception) -> str:
    for name, value in (("base", base), ("exponent", exponent), ("modulus", modulus)):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"powmod: {name} must be an int, not {type(value).__name__} ({value!r:.40})"
    if modulus == 0:
        return "powmod: the modulus must not be 0"
    if exponent < 0:
        return f"powmod: {base} has no inverse mod {modulus}, so the negative exponent {exponent} means nothing"
    return f"powmod({base}, {exponent}, {modulus}): {exc}"



# --- Finite-field groups: MODP and toy ---


class _FiniteFieldGroup(DhGroup):
    """Arithmetic shared by the MODP groups and the toy groups: y = g^x mod p."""

    p: int
    g: int

    @property
    def bits(self) -> int:
        return self.p.bit_length()

    @property
    def public_len(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def public_value(self, x: int) -> int:
        """``g^x mod p`` as an integer, for any ``x >= 0`` (hand-calculation helper)."""
        return self._g_pow(self._check_power(x))

    def _g_pow(self, x: int) -> int:
        return powmod(self.g, x, self.p)

    def shared_secret(self, x: int, y_peer: int) -> int:
        """``y_peer^x mod p`` as an integer, with only a range check on ``y_peer``.

        This is the raw formula for hand calculation; :meth:`ModpPrivateKey.exchange`
        is the protocol operation and applies the RFC 6989 checks.
        """
        check_int(y_peer, "y_peer")
        if not 0 < y_peer < self.p:
            raise InvalidPublicValueError(f"y_peer={y_peer} is not in [1, p-1]", group=self.name)
        return powmod(y_peer, self._check_power(x), self.p)

    def encode(self, value: int) -> bytes:
        """``value`` as big-endian bytes, left-padded to the modulus length."""
        try:
            return value.to_bytes(self.public_len, "big")
        except (AttributeError, OverflowError):  # checked only when it fails: every exchange encodes g^x
            check_int(value, "value")
            raise ConfigError(f"{self.name}: value {value!r:.40} is not in [0, 2^{8 * self.public_len}), so it does "
                              f"not fit the {self.public_len}-byte encoding", field="value", value=value) from None

    def decode_public(self, data: bytes, *, check_subgroup: bool = False) -> int:
        """The validated public value carried in KE data ``data``."""
        data = _ke_bytes(data, self.name)
        if len(data) != self.public_len:
            raise InvalidPublicValueError(
                f"KE data is {len(data)} bytes, expected {self.public_len} (the length of p)", group=self.name
            )
        y = int.from_bytes(data, "big")
        if y <= 1:
            raise InvalidPublicValueError(f"public value {y} is not greater than 1 (RFC 6989)", group=self.name)
        if y >= self.p - 1:
            what = "p-1" if y == self.p - 1 else "p or more"
            raise InvalidPublicValueError(f"public value is {what}; it must be below p-1 (RFC 6989)", group=self.name)
        if check_subgroup and powmod(y, self._subgroup_order(), self.p) != 1:
            raise InvalidPublicValueError(f"public value is not in the subgroup of order {self._subgroup_name()}"
                                          " that g generates", group=self.name)
        return y

    def validate_public(self, data: bytes, *, check_subgroup: bool = False) -> None:
        self.decode_public(data, check_subgroup=check_subgroup)

    def from_private_value(self, value: int) -> ModpPrivateKey:
        x = self._check_exponent(value)
        return ModpPrivateKey(self, x, self._g_pow(x))

    def generate(self, rng: RandomSource | None = None) -> ModpPrivateKey:
        rng = default_random() if rng is None else rng
        for _ in range(1000):
            try:
                x = self._draw_exponent(rng)
            except AttributeError:  # checked only when it fails: a key is drawn per exchange
                check_random_source(rng)
                raise
            key = self.from_private_value(x)
            if 1 < key.y < self.p - 1:  # only a toy group can miss, e.g. when x is a multiple of ord(g)
                return key
        raise ConfigError(f"{self.name}: could not draw a usable private value", field="g", value=self.g)

    def _check_power(self, x: Any) -> int:
        if check_int(x, "x") < 0:
            raise ConfigError(f"{self.name}: exponent {x} is negative", field="x", value=x)
        return x

    def _check_exponent(self, x: Any) -> int:
        check_int(x, "x")
        if not 1 <= x <= self.p - 2:
            raise ConfigError(f"{self.name}: private exponent {x} is not in [1, p-2]", field="x", value=x)
        return x

    @abstractmethod
    def _draw_exponent(self, rng: RandomSource) -> int:
        """A random private exponent."""

    @abstractmethod
    def _subgroup_order(self) -> int:
        """The order q of g: y is in the subgroup g generates iff y^q = 1 (RFC 6989 section 2.2)."""

    @abstractmethod
    def _subgroup_name(self) -> str:
        """That order as an error message names it."""


@dataclass(frozen=True, repr=False)
class ModpPrivateKey(DhPrivateKey):
    """A MODP or toy private exponent ``x`` and its public value ``y = g^x mod p``."""

    group: _FiniteFieldGroup
    x: int
    y: int

    @property
    def private_value(self) -> int:
        return self.x

    @property
    def public_value(self) -> int:
        return self.y

    def public_bytes(self) -> bytes:
        return self.group.encode(self.y)

    def exchange(self, peer_public: bytes) -> bytes:
        y_peer = self.group.decode_public(peer_public)
        return self.group.encode(powmod(y_peer, self.x, self.group.p))


@dataclass(frozen=True, repr=False)
class ModpGroup(_FiniteFieldGroup):
    """An IANA MODP group: a safe prime ``p = 2q + 1`` and the generator 2."""

    kind: ClassVar[str] = "MODP"

    id: DhId
    name: str
    p: int
    g: int
    strength: int  # RFC 3526 section 8, Strength Estimate 1
    exponent_bits: int  # private exponents are drawn from [2, 2^exponent_bits)
    rfc: str
    weak_reason: str = ""

    @property
    def q(self) -> int:
        """The prime ``(p-1)/2``."""
        return (self.p - 1) // 2

    def _draw_exponent(self, rng: RandomSource) -> int:
        return 2 + rng.randbelow((1 << self.exponent_bits) - 2)

    def _subgroup_order(self) -> int:
        return self.q

    def _subgroup_name(self) -> str:
        return "q=(p-1)/2"

    def _g_pow(self, x: int) -> int:
        # the generator is fixed: g^x from a table made once per group (ikelab.fixed_base)
        return _fixed_base(self.g, self.p, self.exponent_bits).pow(x)


@lru_cache(maxsize=None)
def _fixed_base(g: int, p: int, bits: int) -> FixedBase:
    return FixedBase(g, p, bits)


@dataclass(frozen=True, repr=False)
class ToyGroup(_FiniteFieldGroup):
    """A hand-sized group ``(Z/pZ)*`` with base ``g``: ``ToyGroup(23, 5)``.

    ``p`` must be a prime of at least 5 and ``1 < g < p-1`` (``g = p-1`` only
    reaches 1 and p-1).  ``g`` need not be a primitive root: a lesson can show
    what a small subgroup does (see :func:`order_of`).  Private values are
    drawn from ``[2, p-2]``.  Toy groups have no IANA ID, need no
    ``allow_weak`` and are never returned by :func:`group`.
    """

    kind: ClassVar[str] = "toy"
    rfc: ClassVar[str] = "-"

    p: int
    g: int

    def __post_init__(self) -> None:
        check_int(self.p, "p")
        check_int(self.g, "g")
        if self.p < 5 or not is_probable_prime(self.p):
            raise ConfigError(f"toy group modulus p={self.p} must be a prime of at least 5", field="p", value=self.p)
        if not 1 < self.g < self.p - 1:
            raise ConfigError(f"toy group base g={self.g} must satisfy 1 < g < p-1={self.p - 1}",
                              field="g", value=self.g)

    @property
    def id(self) -> None:  # type: ignore[override]
        return None

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"toy(p={self.p}, g={self.g})"

    @property
    def strength(self) -> int:  # type: ignore[override]
        """At most half the bits of p: baby-step giant-step takes about sqrt(p) steps."""
        return max(1, self.p.bit_length() // 2)

    @property
    def weak_reason(self) -> str:  # type: ignore[override]
        return (f"toy group: a {self.bits}-bit modulus is for hand calculation only; anyone finds a private "
                f"value by trying at most p-1 = {self.p - 1} exponents")

    def __repr__(self) -> str:
        return f"ToyGroup(p={self.p}, g={self.g})"

    def _draw_exponent(self, rng: RandomSource) -> int:
        return 2 + rng.randbelow(self.p - 3)  # [2, p-2]; RandomSource promises randbelow, not randrange

    def _subgroup_order(self) -> int:
        # p need not be a safe prime nor g a generator of the squares: (p-1)/2 would be the wrong order
        return _toy_order(self.g, self.p)

    def _subgroup_name(self) -> str:
        return f"{self._subgroup_order()} (the order of g={self.g})"


@lru_cache(maxsize=64)
def _toy_order(g: int, p: int) -> int:
    return order_of(g, p)  # sympy, imported only when a lesson asks for the subgroup check


# --- The registry ---

_G = _params.MODP_GENERATOR
_FIXED_GROUP = "and, as Logjam (2015) showed, one precomputation per fixed group then breaks every exchange in it"
# Strength: RFC 3526 section 8, Strength Estimate 1 (section 1 for groups 1 and 2: "70-80 bits").
# Exponent bits: twice the higher estimate (module docstring).
_MODP_GROUPS = (
    ModpGroup(DhId.MODP_768, "MODP_768", _params.MODP_768_P, _G, 70, 160, "RFC 2409 section 6.1",
              f"MODP_768 (group 1) is weak: 768-bit discrete logarithms have been computed in public {_FIXED_GROUP}"),
    ModpGroup(DhId.MODP_1024, "MODP_1024", _params.MODP_1024_P, _G, 80, 160, "RFC 2409 section 6.2",
              "MODP_1024 (group 2) is weak: 1024-bit discrete logarithms are within a nation-state's reach"
              f" {_FIXED_GROUP}"),
    ModpGroup(DhId.MODP_1536, "MODP_1536", _params.MODP_1536_P, _G, 90, 240, "RFC 3526 section 2",
              "MODP_1536 (group 5) is weak: RFC 3526 section 8 estimates 90 to 120 bits of strength, below"
              f" the 112-bit minimum of NIST SP 800-57, {_FIXED_GROUP}"),
    ModpGroup(DhId.MODP_2048, "MODP_2048", _params.MODP_2048_P, _G, 110, 320, "RFC 3526 section 3"),
    ModpGroup(DhId.MODP_3072, "MODP_3072", _params.MODP_3072_P, _G, 130, 420, "RFC 3526 section 4"),
    ModpGroup(DhId.MODP_4096, "MODP_4096", _params.MODP_4096_P, _G, 150, 480, "RFC 3526 section 5"),
    ModpGroup(DhId.MODP_6144, "MODP_6144", _params.MODP_6144_P, _G, 170, 540, "RFC 3526 section 6"),
    ModpGroup(DhId.MODP_8192, "MODP_8192", _params.MODP_8192_P, _G, 190, 620, "RFC 3526 section 7"),
)

# Curve parameters: RFC 5903 section 3 (see dh_params).  Strength: NIST SP 800-57 Part 1, Table 2.
_ECP_GROUPS = (
    EcpGroup(DhId.ECP_256, "ECP_256", "secp256r1", _params.P256_P, _params.P256_B, _params.P256_N,
             _params.P256_GX, _params.P256_GY, 128, "RFC 5903 section 3.1"),
    EcpGroup(DhId.ECP_384, "ECP_384", "secp384r1", _params.P384_P, _params.P384_B, _params.P384_N,
             _params.P384_GX, _params.P384_GY, 192, "RFC 5903 section 3.2"),
    EcpGroup(DhId.ECP_521, "ECP_521", "secp521r1", _params.P521_P, _params.P521_B, _params.P521_N,
             _params.P521_GX, _params.P521_GY, 256, "RFC 5903 section 3.3"),
)

# Strength: RFC 7748 section 1 ("~128-bit" and "~224-bit security level").
_MONTGOMERY_GROUPS = (
    MontgomeryGroup(DhId.CURVE25519, "CURVE25519", 255, 32, 128, "RFC 8031, RFC 7748 section 5"),
    MontgomeryGroup(DhId.CURVE448, "CURVE448", 448, 56, 224, "RFC 8031, RFC 7748 section 5"),
)

_REGISTRY: dict[DhId, DhGroup] = {g.id: g for g in (*_MODP_GROUPS, *_ECP_GROUPS, *_MONTGOMERY_GROUPS)}
_DEPRECATED = {DhId.MODP_1024_160, DhId.MODP_2048_224, DhId.MODP_2048_256}


def group(id: DhId | int | str | DhGroup, *, allow_weak: bool = False) -> DhGroup:
    """The group with transform ID ``id`` (``14``, ``"MODP_2048"`` or ``DhId.MODP_2048``).

    A :class:`DhGroup` (for example a :class:`ToyGroup`) is returned unchanged.
    Weak groups (1, 2, 5) raise :class:`~ikelab.errors.WeakAlgorithmError`
    unless ``allow_weak=True``, which warns with
    :class:`~ikelab.errors.WeakAlgorithmWarning` instead -- passed as an ID or
    as the group itself (toy groups, which have no ID, excepted).
    """
    if isinstance(id, DhGroup):
        if id.weak and id.id is not None:  # e.g. implemented_group(1): the object must not bypass the rule
            refuse_weak(id.weak_reason, allow_weak=allow_weak, field="DhId", value=id, algorithm=id.name)
        return id
    member = id if id.__class__ is DhId else lookup(DhId, id, field="id")  # a member (the engine's case) as is
    if member in _DEPRECATED:
        raise UnknownAlgorithmError(
            f"{member.name} (group {int(member)}, RFC 5114) is not implemented: its prime-order subgroup"
            " needs extra checks and RFC 8247 recommends against it",
            field="DhId", value=id,
        )
    found = _REGISTRY.get(member)
    if found is None:
        known = ", ".join(f"{g.name} ({int(g.id)})" for g in _REGISTRY.values())  # type: ignore[arg-type]
        raise UnknownAlgorithmError(f"Diffie-Hellman group {member.name} is not implemented; known: {known}",
                                    field="DhId", value=id)
    if found.weak:
        refuse_weak(found.weak_reason, allow_weak=allow_weak, field="DhId", value=id, algorithm=found.name)
    return found


def implemented_group(id: int) -> DhGroup | None:
    """The group with IANA number ``id`` if ikelab implements it (weak or not), else None; never raises."""
    try:
        return _REGISTRY.get(id)  # type: ignore[call-overload]
    except TypeError:  # an unhashable id, e.g. a list: not a group either
        return None


def groups() -> list[GroupInfo]:
    """The implemented IANA groups, by ID, with kind, size, strength and weakness."""
    return [g.info for g in sorted(_REGISTRY.values(), key=lambda g: int(g.id))]  # type: ignore[arg-type]


__all__ = [
    "MODP_BACKEND", "DhGroup", "DhPrivateKey", "DlogResult", "EcpGroup", "EcpPrivateKey", "GroupInfo",
    "ModpGroup", "ModpPrivateKey", "MontgomeryGroup", "MontgomeryPrivateKey", "ToyGroup",
    "brute_force_dlog", "group", "groups", "implemented_group", "is_primitive_root", "order_of", "powmod",
]
