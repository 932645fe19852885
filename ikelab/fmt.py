"""One way to print bytes, so lessons, the CLI and tests all show the same text.

Hex is grouped in 4-byte words and wrapped at 32 bytes a line, lower case, as
in Wireshark's hex pane; long values can be elided in the middle for
overviews.  Keeping this in one place makes notebook outputs stable.
"""

from __future__ import annotations


def hexstr(data: bytes, *, group: int = 4, width: int = 32, indent: str = "") -> str:
    """``data`` as grouped hex, ``width`` bytes a line (``width=0``: one line)."""
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
    if len(data) <= 2 * keep:
        return data.hex()
    return f"{data[:keep].hex()}...{data[-keep:].hex()} ({len(data)} bytes)"
