"""Exercise checks of lesson 09, ESP (RFC 4303).

``esp.pad-length``: given the length of the data ESP protects and the
cipher's block size, the Pad Length that RFC 4303 2.4 asks for: ``Payload |
Padding | Pad Length | Next Header`` must fill whole cipher blocks and end
on a 4-byte boundary.  The expected value comes from
:func:`ikelab.esp.esp_padding`, which the engine's ESP uses.

``esp.packet-length``: the length of the IPv4 datagram that carries one ESP
packet (RFC 4303 2, 3.1): the IPv4 header (a new outer one in tunnel mode, the
kept original in transport mode), SPI (2.1) and Sequence Number (2.2), the IV
(2.3), ``Payload | Padding | Pad Length | Next Header`` (2.4) and the ICV (2.8).
The check sizes each part with ikelab's transforms and :func:`esp_padding`,
and names each classic slip (a part left out, the wrong mode, the wrong
alignment) in its own message.
"""

from __future__ import annotations

import math
from typing import Any

from . import transforms
from .errors import ConfigError
from .esp import ESP_HEADER_LEN, esp_padding
from .exercises import Wrong, _name_slips, _want_int, register

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
    align = block_size * 4 // math.gcd(block_size, 4)
    got = payload_len + n + 2  # Payload | Padding | Pad Length | Next Header, with this answer
    _name_slips([message for fits, message in (
        ((got - 2) % align == 0, "you padded the payload alone: the two trailer bytes (Pad Length, Next Header) "
                                 "are encrypted too."),
        ((got - 1) % align == 0, "you counted one trailer byte: Pad Length and Next Header are one byte each, and "
                                 "both are encrypted with the payload and the padding."),
        (got % align == 0, "that fills the blocks, and RFC 4303 2.4 allows it (up to 255 bytes), but ikelab sends "
                           "the fewest padding bytes that do it."),
        (got % align != 0 and got % block_size == 0,  # a 1- or 2-byte block: whole blocks without the 4
         f"you filled whole {block_size}-byte blocks, but the ciphertext must also end on a 4-byte boundary "
         "(RFC 4303 2.4)."),
    ) if fits])
    raise Wrong(f"payload + padding + 2 must be a multiple of {align}.")


_IPV4_HEADER_LEN = 20  # an IPv4 header without options (RFC 791)


def _encrypted_len(protected: int, align: int) -> int:
    """``Payload | Padding | Pad Length | Next Header`` with the fewest padding bytes (RFC 4303 2.4)."""
    return protected + 2 + -(protected + 2) % align


@register("esp.packet-length", "09-esp", "The length of an ESP packet on the wire",
          "an int: the number of bytes of the IPv4 datagram",
          "Add up, in order: the IPv4 header (20 bytes; in tunnel mode a new outer one, in transport mode the "
          "original, kept), SPI (4) and Sequence Number (4) (RFC 4303 2.1, 2.2), the IV (2.3: the cipher's iv_len), "
          "what is encrypted (the inner packet in tunnel mode, what follows its IP header in transport mode) with "
          "the padding and the 2 trailer bytes, rounded up to the block size and to 4 (2.4), and the ICV "
          "(2.8: the integrity transform's icv_len, or the AEAD tag).")
def _esp_packet_length(answer: Any, *, inner_len: int, mode: str, encr: Any, key_bits: int | None = None,
                       integ: Any = None) -> str:
    if mode not in ("tunnel", "transport"):
        raise ConfigError(f"exercise esp.packet-length: mode must be 'tunnel' or 'transport', not {mode!r}",
                          field="mode", value=mode)
    if isinstance(inner_len, bool) or not isinstance(inner_len, int) or inner_len < _IPV4_HEADER_LEN:
        raise ConfigError("exercise esp.packet-length: inner_len must be an int, at least an IPv4 header (20)",
                          field="inner_len", value=inner_len)
    # a weak transform (3DES, HMAC-MD5-96) is refused here too, with the reason: lessons teach the ones to use
    cipher = transforms.encryption(encr, key_bits)
    if cipher.is_aead != (integ is None):
        raise ConfigError("exercise esp.packet-length: give integ for a classic cipher, and none for an AEAD one "
                          "(its tag is the ICV)", field="integ", value=integ)
    icv = cipher.icv_len if cipher.is_aead else transforms.integrity(integ).icv_len
    iv, header, ip_len = cipher.iv_len, ESP_HEADER_LEN, _IPV4_HEADER_LEN
    protected = inner_len if mode == "tunnel" else inner_len - ip_len
    other = inner_len - ip_len if mode == "tunnel" else inner_len  # what the other mode would encrypt
    pad = len(esp_padding(protected, cipher.block_size))
    encrypted = protected + pad + 2
    expected = ip_len + header + iv + encrypted + icv
    n = _want_int(answer, "the length")
    if n == expected:
        kept = "new outer" if mode == "tunnel" else "original, kept"
        return (f"{ip_len} (IPv4 header, {kept}) + {header} (SPI, Sequence Number) + {iv} (IV) + {encrypted} "
                f"({protected} + {pad} padding + 2) + {icv} (ICV) = {expected} bytes on the wire.")
    align = 4 * cipher.block_size // math.gcd(cipher.block_size, 4)
    around = ip_len + header + iv + icv  # everything but the encrypted part
    slips: list[tuple[int, str]] = [
        (expected - header, "the SPI (4 bytes, RFC 4303 2.1) and the Sequence Number (4 bytes, 2.2) are missing: "
                            "every ESP packet starts with them, in clear."),
        # one trailer byte counted gives the same number as none (or the right one): one message for both
        (around + protected + -protected % align,
         "the trailer is short: Pad Length and Next Header (RFC 4303 2.5, 2.6) are one byte each, both encrypted "
         "with the payload, and the padding rounds up Payload | Padding | Pad Length | Next Header, trailer "
         "included."),
        (around + protected + 2, "the padding is missing: Payload | Padding | Pad Length | Next Header must be a "
                                 "multiple of the block size and of 4 bytes (RFC 4303 2.4)."),
    ]
    if iv:
        slips.append((expected - iv, f"the IV is missing: {cipher.name} sends it in clear at the start of the "
                                     "Payload Data, before the ciphertext (RFC 4303 2.3)."))
    if icv:
        tag = f" ({cipher.name}'s AEAD tag is the ICV)" if cipher.is_aead else ""
        slips.append((expected - icv, f"the ICV is missing: it follows the encrypted part (RFC 4303 2.8){tag}."))
    if mode == "tunnel":
        slips.append((expected - ip_len, "the outer IPv4 header is missing: in tunnel mode the whole inner packet "
                                         "is the payload and a new IP header goes in front (RFC 4303 3.1.2)."))
        slips.append((ip_len + header + iv + _encrypted_len(other, align) + icv,
                      "that is transport mode's length: in tunnel mode the inner packet's own IP header is "
                      "encrypted too, and a new outer header goes in front (RFC 4303 3.1.2)."))
    else:
        slips.append((expected - ip_len, "the IP header is missing: in transport mode the original header stays "
                                         "in front of the ESP header, with protocol 50 (RFC 4303 3.1.1)."))
        slips.append((ip_len + header + iv + _encrypted_len(other, align) + icv,
                      "that is tunnel mode's length: in transport mode only what follows the IP header is "
                      "encrypted, and the original header stays in front; there is no second one (RFC 4303 3.1.1)."))
    if cipher.block_size < 4:  # a counter mode, or no cipher: ESP's block size is 1, only the 4-byte boundary counts
        kind = "does not encrypt (RFC 2410)" if cipher.name == "ENCR_NULL" else "is a counter mode"
        slips.append((around + _encrypted_len(protected, 16),
                      f"{cipher.name} {kind}: its block size in ESP is {cipher.block_size}, so the padding "
                      "only makes the ciphertext end on a 4-byte boundary (RFC 4303 2.4), not on a 16-byte one."))
    elif cipher.block_size > 4:
        slips.append((around + _encrypted_len(protected, 4),
                      f"{cipher.name} encrypts whole {cipher.block_size}-byte blocks: the padded part must be a "
                      f"multiple of {cipher.block_size}, not only of 4 (RFC 4303 2.4)."))
    _name_slips([message for value, message in slips if value == n])  # n is not the right answer here
    direction = "short" if n < expected else "long"
    raise Wrong(f"too {direction}. List the parts of the IPv4 datagram in order (header, SPI, Sequence Number, IV, "
                "encrypted part with padding and trailer, ICV) and size each for this transform; the overhead is not "
                "a constant, since the padding depends on the inner length.")
