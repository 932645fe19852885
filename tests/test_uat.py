"""The UAT text format (ikelab.uat): what tshark 4.0's epan/uat_load.l reads.

The tables built on it, and tshark reading them, are tested in test_wireshark.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikelab.errors import CaptureError, CaptureWarning
from ikelab.uat import hex_field, quote, record, record_lines, split_line


@given(st.lists(st.text(max_size=20), min_size=1, max_size=5))
def test_quoted_fields_read_back_as_written(values: list[str]) -> None:
    line = " , ".join(quote(v) for v in values)
    assert line.isascii() and line.isprintable()  # escapes keep a record on one printable line
    assert split_line(line, 1, "t") == [(v, True) for v in values]


def test_bare_and_quoted_fields_and_escapes() -> None:
    assert split_line('0a0b, "a\\x2cb" ,"\\x22",', 4, "t") == [("0a0b", False), ("a,b", True), ('"', True), ("", False)]
    assert quote('say "hi"\\') == '"say \\x22hi\\x22\\x5c"'
    assert split_line('"caf\\xc3\\xa9"', 1, "t") == [("café", True)]  # UTF-8 octets, as Wireshark escapes them
    assert quote("café") == '"caf\\xc3\\xa9"'
    for bad, why in (('"open', "unterminated"), ('"a\\xzz"', "bad escape"), ('"a\\x 1"', "bad escape"),
                     ('"a"b', "expected ','"), ('"\\xff"', "a quoted field is not UTF-8 text")):
        with pytest.raises(CaptureError, match=f"t line 7: {why}"):
            split_line(bad, 7, "t")


def test_a_record_has_its_fields_and_quoted_extras_are_dropped() -> None:
    names = ("a", "b")
    assert record([("1", False), ("2", True)], 3, "t", names) == ["1", "2"]
    with pytest.raises(CaptureError, match=r"t line 3: 1 fields, expected 2 \(a, b\)"):
        record([("1", False)], 3, "t", names)
    with pytest.warns(CaptureWarning, match="t line 3: 1 field.s. more than the 2 of a record"):
        assert record([("1", False), ("2", True), ("x", True)], 3, "t", names) == ["1", "2"]
    with pytest.raises(CaptureError, match="t line 3: field 3 is not quoted"):
        record([("1", False), ("2", True), ("x", False)], 3, "t", names)


def test_lines_comments_and_hex() -> None:
    text = "# header\n\n  rec1 \n#x: rec2\n# other\n"
    assert list(record_lines(text)) == [(3, "rec1")]
    assert list(record_lines(text, also="#x:")) == [(3, "rec1"), (4, "rec2")]
    with pytest.raises(CaptureError, match="text .the file's contents., not bytes"):
        list(record_lines(b"rec"))  # type: ignore[arg-type]
    assert hex_field(" 0a0B ", 1, "t", "key") == b"\x0a\x0b"
    assert hex_field("0x0a0B", 1, "t", "key", prefix=True) == b"\x0a\x0b" and hex_field("", 1, "t", "k", prefix=True) == b""
    with pytest.raises(CaptureError, match="t line 2: key '0a' must be hex starting with 0x"):
        hex_field("0a", 2, "t", "key", prefix=True)
    with pytest.raises(CaptureError, match="t line 2: key 'zz' is not hex"):
        hex_field("zz", 2, "t", "key")
