"""Fixed-base exponentiation (ikelab.fixed_base) gives exactly pow(g, x, p)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ikelab import dh
from ikelab.errors import ConfigError
from ikelab.fixed_base import TABLE_BUDGET, FixedBase, window_for

MODP_2048 = dh.group("MODP_2048")
TABLE = FixedBase(MODP_2048.g, MODP_2048.p, MODP_2048.exponent_bits)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=(1 << MODP_2048.exponent_bits) - 1))
def test_same_as_pow_for_every_exponent_the_group_draws(x: int) -> None:
    assert TABLE.pow(x) == pow(MODP_2048.g, x, MODP_2048.p)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1 << MODP_2048.exponent_bits, max_value=MODP_2048.p - 2))
def test_larger_exponents_fall_back_to_the_general_pow(x: int) -> None:
    assert TABLE.pow(x) == pow(MODP_2048.g, x, MODP_2048.p)


@pytest.mark.parametrize("window", [1, 3, 5, 8])
def test_every_window_width_on_a_toy_group(window: int) -> None:
    table = FixedBase(5, 1019, 20, window=window)
    assert [table.pow(x) for x in range(0, 1 << 12)] == [pow(5, x, 1019) for x in range(0, 1 << 12)]


def test_the_engine_keys_use_it_and_stay_the_same() -> None:
    # the public value a MODP group computes for a seeded private key is g^x mod p, whichever method runs
    key = MODP_2048.from_private_value((1 << 319) + 12345)
    assert key.public_value == pow(2, (1 << 319) + 12345, MODP_2048.p)


@pytest.mark.parametrize("args", [(0, 23, 8), (23, 23, 8), (5, 23, 0)])
def test_bad_parameters_are_refused(args: tuple[int, int, int]) -> None:
    with pytest.raises(ConfigError):
        FixedBase(*args)


@pytest.mark.parametrize("name", ["MODP_2048", "MODP_3072", "MODP_4096", "MODP_6144", "MODP_8192"])
def test_the_window_grows_while_the_table_fits_its_budget(name: str) -> None:
    group = dh.group(name)
    size = (group.p.bit_length() + 7) // 8
    w = window_for(group.p, group.exponent_bits)

    def table_bytes(window: int) -> int:
        return -(-group.exponent_bits // window) * ((1 << window) - 1) * size

    assert 6 <= w <= 8
    assert w == 6 or table_bytes(w) <= TABLE_BUDGET  # within budget, unless at the narrowest default
    assert w == 8 or table_bytes(w + 1) > TABLE_BUDGET  # and no wider window would fit


def test_modp_2048_uses_a_byte_wide_window() -> None:
    # 320-bit exponents in 8-bit digits: at most 40 multiplications per key pair
    assert TABLE.window == 8 and len(TABLE._rows) == 40


@pytest.mark.parametrize("x", [-1, -2, -(1 << 100), 1 << 320, MODP_2048.p - 1, MODP_2048.p, MODP_2048.p + 5, 3 * MODP_2048.p])
def test_exponents_outside_the_table_are_pow_of_the_same_exponent(x: int) -> None:
    # negative: the inverse power, as pow has it; p or more: reduced mod p-1 (Fermat), never mod p
    assert TABLE.pow(x) == pow(MODP_2048.g, x, MODP_2048.p)


def test_public_value_of_large_exponents_by_hand() -> None:
    # public_value takes any x >= 0: g^p = g and g^(p-1) = 1 mod p (Fermat)
    assert MODP_2048.public_value(MODP_2048.p) == 2 == pow(2, MODP_2048.p, MODP_2048.p)
    assert MODP_2048.public_value(MODP_2048.p - 1) == 1


@pytest.mark.parametrize("window", [0, -1, 13])
def test_window_widths_outside_one_to_twelve_are_refused(window: int) -> None:
    with pytest.raises(ConfigError, match="window"):
        FixedBase(5, 1019, 20, window=window)
