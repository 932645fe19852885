"""How Wireshark's ``esp_sa`` table names addresses and SPIs, and which packets a row matches.

packet-esp.c (``get_full_ipv4_addr`` / ``get_full_ipv6_addr``) writes both the
row's address and the packet's as 8 or 32 hex digits and compares them digit by
digit, with ``*`` as a wildcard.  :func:`address_filter` reads a row's address
into the bits to compare and the value they must have; :mod:`ikelab.wireshark`
uses it to find the row that decrypts a packet, as Wireshark would.

The SPI column works the same way (``filter_spi_match``): ``*`` alone is any
SPI; a pattern with ``*`` in it is compared, from its third character on, with
the packet's SPI written ``0x%08x``, each ``*`` standing for one hex digit
(``0x0000100*`` is 0x00001000-0x0000100f); anything else is a number, read by
``strtoul`` (``0x`` hex, a leading ``0`` octal, else decimal).
:func:`spi_filter` reads it into the same kind of bits-and-value test.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["ANY_ADDRESS", "AddressFilter", "SpiFilter", "address_filter", "spi_filter"]


@dataclass(frozen=True)
class AddressFilter:
    """An ``esp_sa`` address as a value: the bits to compare (``mask``) and what they must be (``value``)."""

    version: int | None  # None for "*": any address of either version
    value: int
    mask: int

    def matches(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return self.version is None or (address.version == self.version and int(address) & self.mask == self.value)


ANY_ADDRESS = AddressFilter(None, 0, 0)
_OCTET = re.compile(r"[0-9]{1,3}|\*")
_HEXTET = re.compile(r"[0-9A-Fa-f*]{1,4}")
_PREFIX = re.compile(r"[0-9]{1,3}")


def _address_error(text: str, message: str) -> ConfigError:
    """ConfigError (a ValueError) for the ``esp_sa`` address ``text``; ``message`` reads after its name."""
    return ConfigError(message, field="address", value=text)


def _spi_error(text: str, message: str) -> ConfigError:
    """ConfigError (a ValueError) for the ``esp_sa`` SPI ``text``."""
    return ConfigError(message, field="spi", value=text)


def address_filter(text: str) -> AddressFilter:
    """Read an ``esp_sa`` address as packet-esp.c does (``get_full_ipv4_addr`` / ``get_full_ipv6_addr``).

    Wireshark turns both the row's address and the packet's into 8 or 32 hex
    digits and compares them digit by digit, so case and IPv6 zero compression
    do not matter (``2001:DB8::1`` = ``2001:0db8:0:0:0:0:0:1``).  Wildcards:
    ``*`` alone is any address; an IPv4 octet ``*`` any octet (``192.0.2.*``);
    in IPv6 a ``*`` is one hex digit of its group, so ``2001:db8::*`` is
    2001:db8::0 to ::f.  ``/n`` keeps the first n bits, compared in whole hex
    digits: the rest of a digit the prefix cuts must be zero, so
    ``192.0.2.0/30`` matches 192.0.2.0 but not 192.0.2.1.  (tshark 4.0 does
    so only the first time it compares a row: it ends the row's own text at
    the '/', and later packets meet the bare address.  ikelab keeps the
    prefix.)  What Wireshark could never match (``192.0.2.300``, an empty
    field) is a ConfigError (a ValueError) saying why.
    """
    if not isinstance(text, str):
        raise _address_error(text, f"is a {type(text).__name__}, not the text of an address")
    address, slash, prefix = text.partition("/")
    if address == "*":  # "*/n" too: Wireshark drops the prefix of an address that is all wildcard
        return ANY_ADDRESS
    if ":" in address:
        version, bits = 6, 128
        value, mask = _ipv6_digits(address)
    elif "." in address:
        version, bits = 4, 32
        value, mask = _ipv4_octets(address)
    else:
        raise _address_error(text, "is not an IPv4 or IPv6 address (write * for any address)")
    if slash:
        if not _PREFIX.fullmatch(prefix) or int(prefix) > bits:
            raise _address_error(text, f"has prefix length /{prefix}, not one of /0 to /{bits}")
        kept = int(prefix)
        value &= _top_bits(kept, bits)
        mask &= _top_bits(-(-kept // 4) * 4, bits)  # whole hex digits, as Wireshark compares them
    return AddressFilter(version, value & mask, mask)


def _top_bits(n: int, bits: int) -> int:
    return ((1 << n) - 1) << (bits - n)


def _ipv4_octets(text: str) -> tuple[int, int]:
    octets = text.split(".")
    if len(octets) != 4 or not all(_OCTET.fullmatch(o) for o in octets):
        raise _address_error(text, "is not an IPv4 address (four decimal octets, or * for any octet)")
    value = mask = 0
    for octet in octets:
        if octet != "*" and int(octet) > 255:
            raise _address_error(text, f"is not an IPv4 address: octet {octet} is over 255")
        value = value << 8 | (0 if octet == "*" else int(octet))
        mask = mask << 8 | (0 if octet == "*" else 0xFF)
    return value, mask


def _ipv6_digits(text: str) -> tuple[int, int]:
    if "*" not in text:
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            raise _address_error(text, "is not an IPv6 address") from None
        if address.scope_id is not None:
            raise _address_error(text, "is not an IPv6 address: Wireshark matches no %zone")
        return int(address), (1 << 128) - 1
    head, compressed, tail = text.partition("::")  # wildcards: expand by hand, as get_full_ipv6_addr does
    left, right = (head.split(":") if head else []), (tail.split(":") if tail else [])
    missing = 8 - len(left) - len(right)
    well_formed = all(_HEXTET.fullmatch(g) for g in left + right) and "::" not in tail
    if not well_formed or (missing < 1 if compressed else missing != 0):
        raise _address_error(text, "is not an IPv6 address (eight groups of hex digits, or * for one digit)")
    value = mask = 0
    for digit in "".join(g.rjust(4, "0") for g in left + ["0000"] * missing + right):
        value = value << 4 | (0 if digit == "*" else int(digit, 16))
        mask = mask << 4 | (0 if digit == "*" else 0xF)
    return value, mask


@dataclass(frozen=True)
class SpiFilter:
    """An ``esp_sa`` SPI as a value: the bits to compare (``mask``) and what they must be (``value``)."""

    value: int
    mask: int

    def matches(self, spi: int) -> bool:
        return spi & self.mask == self.value

    @property
    def exact(self) -> bool:
        """True for a plain number: one SPI, no wildcard."""
        return self.mask == 0xFFFFFFFF


_SPI_PATTERN = re.compile(r"0[xX][0-9A-Fa-f*]{8}")


def spi_filter(text: str) -> SpiFilter:
    """Read an ``esp_sa`` SPI as packet-esp.c's ``filter_spi_match`` does (module docstring).

    ConfigError (a ValueError) says what is wrong, including a pattern Wireshark could never match: it
    compares the pattern with the SPI written in lower-case hex, 10 characters long.
    """
    if not isinstance(text, str):
        raise _spi_error(text, f"SPI {text!r:.40} is a {type(text).__name__}, not text (write 0x0d713155 or *)")
    text = text.strip()
    if text == "*":
        return SpiFilter(0, 0)
    if "*" in text:
        if not _SPI_PATTERN.fullmatch(text):
            raise _spi_error(text, f"SPI pattern {text!r}: write * alone, or 0x and 8 hex digits of which any may be * "
                             "(0x0000100* for 0x00001000-0x0000100f), as Wireshark compares them")
        digits = text[2:]
        if digits != digits.lower():
            raise _spi_error(text, f"SPI pattern {text!r} has upper-case hex digits; Wireshark compares a pattern with "
                             f"the SPI written in lower case (0x%08x), so it never matches: write 0x{digits.lower()}")
        value = int(digits.replace("*", "0"), 16)
        mask = int("".join("0" if c == "*" else "f" for c in digits), 16)
        return SpiFilter(value, mask)
    if re.fullmatch(r"0[xX][0-9A-Fa-f]+", text):
        spi = int(text[2:], 16)
    elif re.fullmatch(r"0[0-7]+", text):
        spi = int(text, 8)  # strtoul's octal
    elif re.fullmatch(r"0[0-9]+", text):  # strtoul stops at the 8 or 9: "08" is SPI 0 to Wireshark
        raise _spi_error(text, f"SPI {text!r} starts with 0, so Wireshark reads it as octal, where 8 and 9 are not "
                         "digits: write it without the leading 0, or as 0x and hex digits")
    elif re.fullmatch(r"[0-9]+", text):
        spi = int(text, 10)
    else:
        raise _spi_error(text, f"SPI {text!r} is not a number (write 0x0d713155) or a pattern with *")
    if not 0 <= spi <= 0xFFFFFFFF:
        raise _spi_error(text, f"SPI {text} does not fit in 32 bits")
    return SpiFilter(spi, 0xFFFFFFFF)
