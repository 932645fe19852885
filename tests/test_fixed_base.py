"""Fixed-base exponentiation (ikelab.fixed_base) gives exactly pow(g, x, p)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ikelab import dh
from ikelab.errors import ConfigError
from ikelab.fixed_base import FixedBase

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
