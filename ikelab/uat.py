"""Wireshark's UAT files ("user accessible tables"): the text format of its key tables.

One record per line, fields separated by commas; a string field is quoted,
with ``\\xNN`` for a quote, a backslash or a byte outside printable ASCII;
a byte buffer is bare hex.  Reading, a quoted field also takes the other
escapes of tshark's ``uat_unesc``: ``\\a \\b \\e \\f \\n \\r \\t \\v`` and
octal ``\\NNN`` (one to three digits, at most 255), so ``"192.0.2.\\061"`` is
192.0.2.1 for both; any other escaped character (``\\"``, ``\\\\``, ``\\q``)
is refused, because tshark keeps the character but drops the field's last
one.  Blank lines and lines starting with ``#`` are skipped.  This is what
tshark 4.0's reader (``epan/uat_load.l``, ``epan/uat.c``) takes, including
its two rules for fields beyond a record's last: a quoted one is dropped
with a warning, an unquoted one refuses the table.  The tables
themselves (which fields, which names) are in :mod:`ikelab.wireshark`.
"""

from __future__ import annotations

from string import hexdigits
from typing import Iterator

from .errors import CaptureError, CaptureWarning, ConfigError, warn_outside


def _not_text(function: str, field: str, value: object) -> ConfigError:
    """The error for ``value`` given where ``function`` takes text."""
    return ConfigError(f"uat.{function}: {field} must be str, not {type(value).__name__} {value!r:.40}", field=field,
                       value=value)


def quote(text: str) -> str:
    """``text`` as a quoted field: its UTF-8 octets, ``"``, ``\\`` and those outside printable ASCII as
    ``\\xNN`` (as Wireshark's ``uat_esc`` writes them)."""
    if not isinstance(text, str):
        raise _not_text("quote", "text", text)
    out = []
    for octet in text.encode("utf-8"):
        if octet in b'"\\' or not 0x20 <= octet < 0x7F:
            out.append(f"\\x{octet:02x}")
        else:
            out.append(chr(octet))
    return '"' + "".join(out) + '"'


#: tshark's one-letter escapes (epan/uat.c ``uat_unesc``)
_LETTER_ESCAPES = {"a": 0x07, "b": 0x08, "e": 0x1B, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_OCTAL = "01234567"


def _escape(line: str, i: int, buf: bytearray, lineno: int, table: str) -> int:
    """Read the escape at ``line[i]`` (a backslash) into ``buf`` as tshark's ``uat_unesc`` reads it; the index
    after it.  ``\\xNN``, ``\\a``..``\\v`` and octal ``\\NNN`` (up to three digits, at most 255, as tshark
    clamps it) are octets; an escape tshark reads otherwise than it looks is a CaptureError."""
    if i + 1 >= len(line):
        raise CaptureError(f"{table} line {lineno}: dangling backslash")
    nxt = line[i + 1]
    if nxt == "x":
        code = line[i + 2 : i + 4]
        if len(code) == 2 and code[0] in hexdigits and code[1] in hexdigits:
            buf.append(int(code, 16))
            return i + 4
        raise CaptureError(f"{table} line {lineno}: bad escape \\x{code}: \\x takes two hex digits")
    if nxt in _LETTER_ESCAPES:
        buf.append(_LETTER_ESCAPES[nxt])
        return i + 2
    if nxt in _OCTAL:
        j = i + 1
        while j < len(line) and j < i + 4 and line[j] in _OCTAL:
            j += 1
        buf.append(min(int(line[i + 1 : j], 8), 255))
        return j
    octets = "".join(f"\\x{o:02x}" for o in nxt.encode("utf-8"))
    raise CaptureError(f"{table} line {lineno}: escape \\{nxt} is not one tshark reads as written (it keeps "
                       f"{nxt!r} but drops the field's last character): write {octets}")


def split_line(line: str, lineno: int, table: str) -> list[tuple[str, bool]]:
    """Split one record line into ``(value, quoted)`` fields; a quoted field's escapes ``\\xNN`` are octets of
    its UTF-8 text."""
    if not isinstance(line, str):
        raise _not_text("split_line", "line", line)
    fields: list[tuple[str, bool]] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == '"':
            i += 1
            buf = bytearray()
            while True:
                if i >= n:
                    raise CaptureError(f"{table} line {lineno}: unterminated quoted field")
                ch = line[i]
                if ch == '"':
                    i += 1
                    break
                if ch == "\\":
                    i = _escape(line, i, buf, lineno, table)
                    continue
                buf += ch.encode("utf-8")
                i += 1
            try:
                fields.append((buf.decode("utf-8"), True))
            except UnicodeDecodeError:
                raise CaptureError(f"{table} line {lineno}: a quoted field is not UTF-8 text: {bytes(buf)!r}") from None
        else:
            j = line.find(",", i)
            j = n if j < 0 else j
            fields.append((line[i:j].strip(), False))
            i = j
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return fields
        if line[i] != ",":
            raise CaptureError(f"{table} line {lineno}: expected ',' at column {i + 1}, found {line[i]!r}")
        i += 1


def record(fields: list[tuple[str, bool]], lineno: int, table: str, names: tuple[str, ...]) -> list[str]:
    """The values of a record's fields (``names``, in order) from :func:`split_line`'s, as tshark reads them.

    Fewer is an error.  A quoted field beyond the last is discarded with a warning ("More fields than
    required"); an unquoted one makes tshark refuse the whole table ("unexpected char ,"), so it is an error.
    """
    for field, value in (("fields", fields), ("names", names)):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"uat.record: {field} must be a list, not {type(value).__name__} {value!r:.40}",
                              field=field, value=value)
    count, listed = len(names), ", ".join(names)
    if len(fields) < count:
        raise CaptureError(f"{table} line {lineno}: {len(fields)} fields, expected {count} ({listed})")
    extra = fields[count:]
    for number, (_, quoted) in enumerate(extra, count + 1):
        if not quoted:
            raise CaptureError(f"{table} line {lineno}: field {number} is not quoted, but a record has {count} "
                               f"fields ({listed}); tshark refuses the whole table over it")
    if extra:
        warn_outside(CaptureWarning(f"{table} line {lineno}: {len(extra)} field(s) more than the {count} of a "
                                    "record, ignored, as tshark ignores them"))
    return [value for value, _ in fields[:count]]


def record_lines(text: str, *, also: str = "") -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of each record of a table's text: blank lines and ``#`` comments are skipped,
    but a comment that starts with ``also`` is read as the record that follows it."""
    if not isinstance(text, str):
        raise CaptureError(f"a key table is text (the file's contents), not {type(text).__name__}")
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if also and line.startswith(also):
            line = line[len(also):].strip()
        if line and not line.startswith("#"):
            yield lineno, line


def hex_field(value: str, lineno: int, table: str, what: str, *, prefix: bool = False) -> bytes:
    """A byte buffer written as hex: bare (``ikev2_decryption_table``) or after ``0x`` (``esp_sa``, where
    an empty field is no bytes).

    White space inside is refused, as tshark refuses it ("unexpected char", "invalid hex char"); so is white
    space around an ``esp_sa`` key, which tshark would read as a text key, not as hex."""
    if not isinstance(value, str):
        raise _not_text("hex_field", "value", value)
    text = value if prefix else value.strip()
    if any(ch.isspace() for ch in text):
        raise CaptureError(f"{table} line {lineno}: {what} {value!r} has white space in it, which tshark refuses "
                           "or reads otherwise; write the hex digits alone")
    if prefix:
        if text == "":
            return b""
        if not text.lower().startswith("0x"):
            raise CaptureError(f"{table} line {lineno}: {what} {value!r} must be hex starting with 0x")
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise CaptureError(f"{table} line {lineno}: {what} {value!r} is not hex") from None


__all__ = ["hex_field", "quote", "record", "record_lines", "split_line"]
