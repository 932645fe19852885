"""One way to print bytes, so lessons, the CLI and tests all show the same text.

Hex is grouped in 4-byte words and wrapped at 32 bytes a line, lower case, as
in Wireshark's hex pane; long values can be elided in the middle for
overviews.  Keeping this in one place makes notebook outputs stable.
"""

from __future__ import annotations

from .errors import ConfigError


def hexstr(data: bytes, *, group: int = 4, width: int = 32, indent: str = "") -> str:
    """``data`` as grouped hex, ``width`` bytes a line (``group=0``: no groups; ``width=0``: one line)."""
    data = _octets(data, "hexstr")
    group, width = _count(group, "group"), _count(width, "width")
    if indent.__class__ is not str:
        raise ConfigError(f"indent must be a str of spaces, not {type(indent).__name__}", field="indent", value=indent)
    if not data:
        return "(empty)"
    h = data.hex()
    words = [h[i : i + 2 * group] for i in range(0, len(h), 2 * group)] if group else [h]
    if not width:
        return " ".join(words)
    per_line = max(1, width // group) if group else 1
    lines = [" ".join(words[i : i + per_line]) for i in range(0, len(words), per_line)]
    return ("\n" + indent).join(lines)


def short_hex(data: bytes, *, keep: int = 8) -> str:
    """``data`` as hex with the middle elided when longer than ``2 * keep`` bytes."""
    data, keep = _octets(data, "short_hex"), _count(keep, "keep")
    if len(data) <= 2 * keep:
        return data.hex()
    return f"{data[:keep].hex()}...{data[len(data) - keep:].hex()} ({len(data)} bytes)"  # [-0:] would be all


def _octets(data: object, caller: str) -> bytes:
    """``data`` as bytes; anything else is a ConfigError that says how to get bytes from it."""
    if data.__class__ is bytes:
        return data  # type: ignore[return-value]
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    hint = ""
    if isinstance(data, str):
        hint = ": bytes.fromhex(text) reads hex text"
    elif isinstance(data, int) and not isinstance(data, bool):
        hint = ": value.to_bytes(length, 'big') gives an integer's octets"
    raise ConfigError(f"{caller} prints bytes, not {type(data).__name__}{hint}", field="data", value=data)


def _count(value: object, name: str) -> int:
    if value.__class__ is not int or value < 0:  # type: ignore[operator]
        raise ConfigError(f"{name} must be a whole number of bytes >= 0, not {value!r}", field=name, value=value)
    return value  # type: ignore[return-value]
