"""Review of the finite-field Diffie-Hellman modules: ikelab.dh (MODP, toy), ikelab.dh_toy, ikelab.fixed_base.

Every expected value comes from Python's pow, sympy, the RFC 3526 section 8 table typed in below, or
cryptography's (OpenSSL's) finite-field DH, never from ikelab itself.  The gmpy2 and pure-Python paths
are both run: the ``backend`` fixture switches ikelab to plain ``pow`` for a test.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator

import pytest
import sympy
from hypothesis import given, settings, strategies as st

from ikelab import dh, fixed_base
from ikelab.dh_toy import is_probable_prime
from ikelab.errors import ConfigError, InvalidPublicValueError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.fixed_base import FixedBase
from ikelab.rand import DeterministicRandom

MODP_IDS = [1, 2, 5, 14, 15, 16, 17, 18]
WEAK = {1, 2, 5}
# RFC 3526 section 8: Strength Estimate 2 (the higher) per group; RFC 2409 groups 1 and 2: 80 bits.
HIGHER_STRENGTH = {1: 80, 2: 80, 5: 120, 14: 160, 15: 210, 16: 240, 17: 270, 18: 310}


def modp(gid: int) -> dh.ModpGroup:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakAlgorithmWarning)
        return dh.group(gid, allow_weak=gid in WEAK)  # type: ignore[return-value]


@pytest.fixture(params=["gmpy2", "python"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test on ikelab's gmpy2 path and on its pure-Python path (tables rebuilt for each)."""
    if request.param == "python":
        monkeypatch.setattr(dh, "_gmpy2", None)
        monkeypatch.setattr(fixed_base, "_gmpy2", None)
    elif dh._gmpy2 is None:  # pragma: no cover - gmpy2 is in the "fast" extra
        pytest.skip("gmpy2 is not installed")
    dh._fixed_base.cache_clear()
    yield request.param
    dh._fixed_base.cache_clear()


# --- KE data: RFC 7296 section 3.4 encoding, RFC 6989 section 2.1 bounds ------------------------------


@pytest.mark.parametrize("gid", MODP_IDS)
def test_ke_data_is_exactly_the_length_of_p_and_bounded_by_one_and_p_minus_one(gid: int) -> None:
    g = modp(gid)
    n = (g.p.bit_length() + 7) // 8
    assert g.public_len == n
    for y in (2, 3, 1 << 64, g.p - 2):  # small values arrive with leading zero octets and are accepted
        assert g.decode_public(y.to_bytes(n, "big")) == y
    for y in (0, 1, g.p - 1, g.p, (1 << 8 * n) - 1):
        with pytest.raises(InvalidPublicValueError, match=g.name):
            g.validate_public(y.to_bytes(n, "big"))
    too_long = b"\x00" + (g.p - 2).to_bytes(n, "big")  # the right number with one extra zero octet
    for data in (b"\x02", (2).to_bytes(n - 1, "big"), (2).to_bytes(n + 1, "big"), too_long):
        with pytest.raises(InvalidPublicValueError, match=f"expected {n}"):
            g.validate_public(data)


@pytest.mark.parametrize("gid", [2, 14, 18])
def test_subgroup_check_is_y_to_the_q(gid: int) -> None:
    g = modp(gid)
    # q = (p-1)/2 is prime (test_dh checks it with sympy), so the squares are the subgroup of order q;
    # p = 7 mod 8 makes -1 a non-square and 2 a square, so p - 2 = -2 is outside it (Euler's criterion)
    assert g.p % 8 == 7
    square = 9
    g.validate_public(square.to_bytes(g.public_len, "big"), check_subgroup=True)
    with pytest.raises(InvalidPublicValueError, match=r"subgroup of order q=\(p-1\)/2"):
        g.validate_public((g.p - 2).to_bytes(g.public_len, "big"), check_subgroup=True)
    g.validate_public((g.p - 2).to_bytes(g.public_len, "big"))  # the range check alone lets it through


@pytest.mark.parametrize("p, g", [(23, 5), (23, 2), (13, 3), (101, 3), (101, 16), (1019, 2)])
def test_toy_subgroup_check_accepts_exactly_the_powers_of_g(p: int, g: int) -> None:
    """y passes check_subgroup iff it is a power of g: (p-1)/2 is not the order of g in general."""
    toy = dh.ToyGroup(p, g)
    powers = {pow(g, k, p) for k in range(p - 1)}
    assert len(powers) == sympy.n_order(g, p)
    for y in range(2, p - 1):
        data = toy.encode(y)
        if y in powers:
            toy.validate_public(data, check_subgroup=True)
        else:
            with pytest.raises(InvalidPublicValueError, match=f"order {sympy.n_order(g, p)}"):
                toy.validate_public(data, check_subgroup=True)
    a = toy.generate(DeterministicRandom(p))
    toy.validate_public(a.public_bytes(), check_subgroup=True)  # its own public values always pass


# --- g^ir: RFC 7296 sections 2.14 and 3.4, against OpenSSL ------------------------------------------------


def _openssl_dh() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the finite-field API is deprecated in cryptography
        try:
            from cryptography.hazmat.primitives.asymmetric import dh as ossl
        except ImportError:  # pragma: no cover - a future cryptography without FFDH
            pytest.skip("cryptography no longer has finite-field DH")
    return ossl


@pytest.mark.parametrize("gid", [2, 14, 15])
def test_g_ir_is_openssls_shared_key_padded_to_the_length_of_p(gid: int, backend: str) -> None:
    ossl = _openssl_dh()
    g = modp(gid)
    x_i = 0xC0FFEE << 100
    # a responder exponent whose g^ir has a leading zero octet: padding must keep it (RFC 7296 2.14)
    g_i, value, x_r = pow(2, x_i, g.p), pow(2, x_i, g.p), 1
    while value >= 1 << (g.p.bit_length() - 9):  # value = (g^i)^x_r, one multiplication per candidate
        value, x_r = value * g_i % g.p, x_r + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numbers = ossl.DHParameterNumbers(g.p, 2)

        def ossl_key(x: int) -> Any:
            return ossl.DHPrivateNumbers(x, ossl.DHPublicNumbers(pow(2, x, g.p), numbers)).private_key()

        expected = ossl_key(x_i).exchange(ossl_key(x_r).public_key())
    i, r = g.from_private_value(x_i), g.from_private_value(x_r)
    assert expected[0] == 0 and len(expected) == g.public_len
    assert i.exchange(r.public_bytes()) == expected == r.exchange(i.public_bytes())
    assert i.public_bytes() == pow(2, x_i, g.p).to_bytes(g.public_len, "big")


# --- Private exponents: RFC 3526 section 8 -----------------------------------------------------------------


@pytest.mark.parametrize("gid", MODP_IDS)
def test_private_exponents_are_twice_the_higher_strength_estimate_and_below_q(gid: int) -> None:
    g = modp(gid)
    assert g.exponent_bits == 2 * HIGHER_STRENGTH[gid] < ((g.p - 1) // 2).bit_length()
    xs = [g.generate(DeterministicRandom(f"{gid}-{k}")).x for k in range(20)]
    assert all(2 <= x < 1 << g.exponent_bits for x in xs)
    assert max(xs).bit_length() >= g.exponent_bits - 5  # drawn from the whole range, not a corner


# --- Weak groups ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gid", sorted(WEAK))
def test_a_weak_group_passed_as_an_object_still_needs_allow_weak(gid: int) -> None:
    obj = dh.implemented_group(gid)
    assert obj is not None and obj.weak
    with pytest.raises(WeakAlgorithmError, match="allow_weak"):
        dh.group(obj)
    with pytest.warns(WeakAlgorithmWarning, match="weak"):
        assert dh.group(obj, allow_weak=True) is obj
    assert dh.group(dh.group(14)) is dh.group(14)  # strong groups and toys pass unchanged, silently
    toy = dh.ToyGroup(23, 5)
    assert dh.group(toy) is toy


@pytest.mark.parametrize("gid", [[1], {}, None, "MODP_2048", 3.5])
def test_implemented_group_never_raises(gid: Any) -> None:
    assert dh.implemented_group(gid) is None


# --- Fixed base: HAC 14.6.3, the same numbers as pow() --------------------------------------------------------


def _edge_exponents(bits: int, window: int) -> list[int]:
    top = 1 << bits
    last = bits // window
    windows = sorted({1, 2, last // 2, last - 1, last} - {0})  # a few digit boundaries: pow(2, x, p) is slow
    digits = [(1 << (window * k)) + d for k in windows for d in (-1, 0, 1)]
    return [0, 1, 2, (1 << window) - 1, top // 2, top - 2, top - 1, top, top + 1, *digits]


def _check_edges(g: dh.ModpGroup, table: FixedBase) -> None:
    for x in _edge_exponents(g.exponent_bits, table.window):
        expected = pow(2, x, g.p)
        assert table.pow(x) == expected, x
        if 1 <= x <= g.p - 2:
            assert g.from_private_value(x).y == expected, x
    # exponents the size of q, from Euler's criterion instead of a slow pow: p = 7 mod 8 makes 2 a square,
    # so 2^q = 1, and 2^(q-1) = 2^(-1) = (p+1)/2
    q, half = (g.p - 1) // 2, (g.p + 1) // 2
    assert 2 * half % g.p == 1
    for x, expected in ((q - 1, half), (q, 1), (q + 1, 2), (g.p - 2, half), (g.p - 1, 1)):
        assert table.pow(x) == expected, x
        if x <= g.p - 2:
            assert g.from_private_value(x).y == expected, x


@pytest.mark.parametrize("gid", MODP_IDS)
def test_fixed_base_edge_exponents_match_pow(gid: int) -> None:
    """0, 1, each digit boundary, 2^e - 1 (the largest drawn), 2^e, q - 1, q: the group's own table."""
    g = modp(gid)
    _check_edges(g, dh._fixed_base(g.g, g.p, g.exponent_bits))


@pytest.mark.parametrize("gid", [1, 5, 14])
def test_fixed_base_edge_exponents_on_both_backends(gid: int, backend: str) -> None:
    g = modp(gid)
    table = FixedBase(g.g, g.p, g.exponent_bits)
    assert isinstance(table._rows[0][1], int) == (backend == "python")  # the switch took effect
    _check_edges(g, table)


@settings(max_examples=60, deadline=None)
@given(window=st.integers(1, 12), bits=st.integers(1, 70), x=st.integers(-(1 << 80), 1 << 80),
       pure=st.booleans())
def test_fixed_base_any_window_any_exponent_matches_pow(window: int, bits: int, x: int, pure: bool) -> None:
    p, g = 1000003, 2  # prime; any exponent, inside the table or not, negative ones as pow's inverse
    saved = fixed_base._gmpy2
    try:
        if pure:
            fixed_base._gmpy2 = None
        table = FixedBase(g, p, bits, window=window)
        assert table.pow(x) == pow(g, x, p)
        assert type(table.pow(x)) is int
    finally:
        fixed_base._gmpy2 = saved


@pytest.mark.parametrize("args, field", [
    (("5", 23, 8), "g"), ((5, 23.0, 8), "p"), ((5, 23, None), "max_bits"), ((5, 23, 8.5), "max_bits"),
    ((True, 23, 8), "g"), ((0, 23, 8), "window"), ((23, 23, 8), "window"), ((5, 23, 0), "window"),
])
def test_fixed_base_bad_parameters_are_config_errors(args: tuple, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        FixedBase(*args)
    assert err.value.field == field


@pytest.mark.parametrize("x", ["3", 3.0, None, b"\x03"])
def test_fixed_base_exponent_of_the_wrong_type_is_a_config_error(x: Any) -> None:
    with pytest.raises(ConfigError, match="exponent must be an int"):
        FixedBase(5, 23, 8).pow(x)


def test_fixed_base_inverse_that_does_not_exist_is_a_config_error(backend: str) -> None:
    assert FixedBase(5, 24, 8).pow(-1) == pow(5, -1, 24) == 5
    with pytest.raises(ConfigError, match="no inverse"):
        FixedBase(2, 24, 8).pow(-1)


# --- Both backends: key pairs, exchange, powmod ---------------------------------------------------------------


@pytest.mark.parametrize("gid", [1, 14, 16])
def test_both_backends_give_pows_numbers(gid: int, backend: str) -> None:
    g = modp(gid)
    rng = DeterministicRandom(f"backend-{gid}")
    a, b = g.generate(rng), g.generate(rng)
    assert a.y == pow(2, a.x, g.p) and b.y == pow(2, b.x, g.p)
    assert a.exchange(b.public_bytes()) == pow(b.y, a.x, g.p).to_bytes(g.public_len, "big")
    assert g.public_value(g.p) == 2 and g.shared_secret(3, b.y) == pow(b.y, 3, g.p)
    for args in [(5, -1, 23), (-5, 3, 23), (5, 6, -23), (0, 0, 1), (7, 10**30, 2**521 - 1)]:
        assert dh.powmod(*args) == pow(*args)
    for args in [(0, -1, 23), (5, 6, 0), ("5", 6, 23)]:
        with pytest.raises(ConfigError, match="powmod"):
            dh.powmod(*args)


# --- Toy groups and the hand-calculation helpers, against sympy ------------------------------------------


def test_toy_docstring_claims_hold() -> None:
    assert sympy.isprime(23) and sympy.is_primitive_root(5, 23) and not sympy.is_primitive_root(2, 23)
    assert dh.is_primitive_root(5, 23) and not dh.is_primitive_root(2, 23)
    assert dh.order_of(2, 23) == sympy.n_order(2, 23) == 11
    x, steps = dh.brute_force_dlog(5, 8, 23)
    assert (x, steps) == (6, 7) and pow(5, 6, 23) == 8 and sympy.discrete_log(23, 8, 5) == 6
    toy = dh.ToyGroup(23, 5)
    assert toy.bits == 5 and toy.public_len == 1 and toy.weak and toy.id is None


@pytest.mark.parametrize("p", [5, 7, 23, 101, 65537, 2**31 - 1])
def test_toy_every_base_has_sympys_order(p: int) -> None:
    for g in (2, 3, p - 2):
        if 1 < g < p - 1:
            assert dh.order_of(g, p) == sympy.n_order(g, p)
            assert dh.is_primitive_root(g, p) == sympy.is_primitive_root(g, p)


def test_miller_rabin_bound_in_the_docstring_is_the_first_failure() -> None:
    """'exact below 3.3 * 10^24': psi_13, the least strong pseudoprime to the primes up to 41, is 3.317e24."""
    psi13 = 3317044064679887385961981
    assert not sympy.isprime(psi13) and is_probable_prime(psi13)  # where the bases run out


@pytest.mark.parametrize("call, field, needle", [
    (lambda: dh.brute_force_dlog(5, 8, 23, max_steps=0), "max_steps", "at least 1"),  # not "p is too large"
    (lambda: dh.brute_force_dlog(5, 8, 23, max_steps=-3), "max_steps", "at least 1"),
    (lambda: dh.brute_force_dlog(5, 8, 23, max_steps=2.5), "max_steps", "int"),
    (lambda: is_probable_prime("7"), "n", "int"),
    (lambda: dh.ToyGroup(23, 5).shared_secret(4, "10"), "y_peer", "int"),
    (lambda: dh.ToyGroup(23, 5).public_value(1.0), "x", "int"),
    (lambda: dh.group(14).encode(-1), "value", "does not fit"),
])
def test_bad_arguments_are_named(call: Any, field: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as err:
        call()
    assert err.value.field == field
    assert dh.brute_force_dlog(5, 1, 23, max_steps=1) == (0, 1)
