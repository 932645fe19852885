"""Exercise checks of lesson 09, ESP (RFC 4303).

``esp.pad-length``: given the length of the data ESP protects and the
cipher's block size, the Pad Length that RFC 4303 2.4 asks for: ``Payload |
Padding | Pad Length | Next Header`` must fill whole cipher blocks and end
on a 4-byte boundary.  The expected value comes from
:func:`ikelab.esp.esp_padding`, which the engine's ESP uses.
"""

from __future__ import annotations

from typing import Any

from .esp import esp_padding
from .exercises import Wrong, _want_int, register

__all__: list[str] = []


@register("esp.pad-length", "09-esp", "The Pad Length of an ESP packet", "an int: the number of padding bytes",
          "RFC 4303 2.4: Payload | Padding | Pad Length (1 byte) | Next Header (1 byte) must be a multiple of the "
          "block size, and of 4 bytes; ikelab uses the fewest padding bytes that do it.")
def _esp_pad_length(answer: Any, *, payload_len: int, block_size: int) -> str:
    expected = len(esp_padding(payload_len, block_size))
    n = _want_int(answer, "the pad length")
    total = payload_len + expected + 2
    if n == expected:
        return (f"{payload_len} + {expected} + 2 = {total} bytes, a multiple of {block_size}"
                + (" and of 4" if block_size % 4 else "") + "; the padding bytes are 1, 2, 3, ...")
    if not 0 <= n <= 255:
        raise Wrong("the Pad Length is one byte: 0 to 255.")
    align = block_size * 4 // __import__("math").gcd(block_size, 4)
    if (payload_len + n) % align == 0:
        raise Wrong("you padded the payload alone: the two trailer bytes (Pad Length, Next Header) are encrypted too.")
    if (payload_len + n + 1) % align == 0:
        raise Wrong("you counted one trailer byte: Pad Length and Next Header are one byte each, and both are "
                    "encrypted with the payload and the padding.")
    if (payload_len + n + 2) % align == 0:
        raise Wrong("that fills the blocks, and RFC 4303 2.4 allows it (up to 255 bytes), but ikelab sends the "
                    "fewest padding bytes that do it.")
    if (payload_len + n + 2) % block_size == 0:
        raise Wrong("whole blocks, but the ciphertext must also end on a 4-byte boundary (RFC 4303 2.4).")
    raise Wrong(f"payload + padding + 2 must be a multiple of {align}.")
