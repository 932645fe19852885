"""ikelab.fmt: the one way lessons, the CLI and tests print bytes."""

from __future__ import annotations

import pytest

from ikelab.errors import ConfigError
from ikelab.fmt import hexstr, short_hex


def test_hexstr_groups_words_and_wraps_lines() -> None:
    data = bytes(range(40))
    lines = hexstr(data, indent="  ").split("\n  ")
    assert lines[0] == " ".join(data[i : i + 4].hex() for i in range(0, 32, 4))  # 32 bytes, 8 words of 4
    assert lines[1] == f"{data[32:36].hex()} {data[36:40].hex()}"
    assert hexstr(data, width=0) == " ".join(data[i : i + 4].hex() for i in range(0, 40, 4))
    assert hexstr(data, group=0, width=0) == data.hex()
    assert hexstr(b"") == "(empty)"


def test_bytearray_and_memoryview_print_as_their_bytes() -> None:
    data = bytes.fromhex("00112233445566778899")
    assert hexstr(bytearray(data)) == hexstr(memoryview(data)) == hexstr(data) == "00112233 44556677 8899"
    assert short_hex(bytearray(data), keep=2) == "0011...8899 (10 bytes)"


@pytest.mark.parametrize("value, hint", [("0011", "bytes.fromhex"), (17, "to_bytes"), (None, "NoneType"),
                                         (0, "to_bytes"), ("", "bytes.fromhex"), ([1, 2], "list")])
def test_what_is_not_bytes_is_refused_with_a_hint(value: object, hint: str) -> None:
    # hexstr(0) and hexstr(None) once printed "(empty)", and hexstr(17) raised AttributeError from inside
    for fn in (hexstr, short_hex):
        with pytest.raises(ConfigError, match=hint):
            fn(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("option", [{"group": -1}, {"width": -4}, {"group": 2.0}, {"width": True}])
def test_bad_layout_options_are_refused(option: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(option))):
        hexstr(b"\x01\x02", **option)
    with pytest.raises(ConfigError, match="keep"):
        short_hex(b"\x01", keep=-1)


def test_short_hex_elides_the_middle_only_of_long_values() -> None:
    data = bytes(range(17))
    assert short_hex(data[:16]) == data[:16].hex()
    assert short_hex(data) == f"{data[:8].hex()}...{data[-8:].hex()} (17 bytes)"
    assert short_hex(data, keep=0) == "... (17 bytes)"
