"""The Configuration payload, CP (RFC 7296 3.15).

::

    CFG Type (1) | RESERVED (3) | Configuration Attributes

A remote-access client asks for an address, DNS servers and the like with a
CFG_REQUEST and its gateway answers with a CFG_REPLY (3.15.1).  Each
attribute is ``R (1 bit) | Attribute Type (15) | Length (2) | Value``; an
empty value in a request asks for that attribute.  The engine sends
CP(CFG_REQUEST) in IKE_AUTH when ``IkeConfig.vip`` is set, and a gateway with
``IkeConfig.pool`` answers with CP(CFG_REPLY) (see :mod:`ikelab.vip`); without
them no CP is sent.

Decoding keeps every attribute whatever its length: 3.15.1 has unsupported attributes ignored, a
dissection must show a peer's odd CP as it is, and :mod:`ikelab.vip` uses an address value only at its
RFC length.  :meth:`CP.length_problems` and :meth:`CP.check_lengths` hold a CP to the lengths of 3.15.1.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .constants import CfgAttribute, CfgType, PayloadType, lookup
from .errors import ConfigError, ParseError
from .wire import U16, DecodeContext, Payload, RAW_TYPES, check_bytes, check_uint, from_wire, name_of, norm_enum, to_enum


@from_wire
@dataclass(frozen=True, slots=True)
class CP(Payload):
    """Configuration payload (RFC 7296 3.15); ``attributes`` holds ``(attribute_type, value_bytes)`` pairs."""

    cfg_type: CfgType | int
    attributes: tuple[tuple[CfgAttribute | int, bytes], ...] = ()
    critical: bool = False
    payload_type = PayloadType.CP

    def __post_init__(self) -> None:
        if type(self.cfg_type) in RAW_TYPES:
            object.__setattr__(self, "cfg_type", norm_enum(CfgType, self.cfg_type))
        try:
            attributes = tuple((norm_enum(CfgAttribute, t), v) for t, v in self.attributes)
        except (TypeError, ValueError) as err:  # not pairs (UnknownAlgorithmError, a ConfigError, passes)
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"CP.attributes must be (attribute_type, value) pairs, not {self.attributes!r}",
                              field="CP.attributes", value=self.attributes) from None
        object.__setattr__(self, "attributes", attributes)

    @classmethod
    def request(cls, *attribute_types: CfgAttribute | int | str) -> "CP":
        """A CFG_REQUEST asking for each attribute with an empty value (RFC 7296 3.15.1)."""
        return cls(CfgType.CFG_REQUEST,
                   tuple((lookup(CfgAttribute, t, field="attribute_types"), b"") for t in attribute_types))

    def values(self, attribute_type: CfgAttribute | int | str) -> list[bytes]:
        """Every value of one attribute type, in order."""
        t = norm_enum(CfgAttribute, attribute_type)
        return [v for a, v in self.attributes if a == t]

    def length_problems(self) -> tuple[tuple[int, str], ...]:
        """``(n, why)`` for each attribute (numbered from 1) whose value length RFC 7296 3.15.1 does not give."""
        out = []
        for n, (atype, value) in enumerate(self.attributes, 1):
            allowed = VALUE_LENGTHS.get(int(atype))
            if allowed is not None and not value_length_ok(atype, len(value)):
                out.append((n, f"{name_of(atype, CfgAttribute)} value of {len(value)} octets; "
                               f"RFC 7296 3.15.1 gives {allowed}"))
        return tuple(out)

    def check_lengths(self, path: str = "CP") -> "CP":
        """This CP, or ParseError naming the first attribute whose length RFC 7296 3.15.1 does not give.

        The offset is that of the attribute's Length field, counted from the payload's generic header.
        """
        problems = self.length_problems()
        if problems:
            n, why = problems[0]
            offset = 4 + 4 + sum(4 + len(v) for _, v in self.attributes[: n - 1]) + 2
            raise ParseError(why, field=f"{path}.attribute[{n}].length", offset=offset)
        return self

    def _body(self, path: str) -> bytes:
        out = bytearray((check_uint(self.cfg_type, 8, path, "cfg_type"), 0, 0, 0))
        for i, pair in enumerate(self.attributes):
            atype = check_uint(pair[0], 15, f"{path}.attribute[{i + 1}].type")
            value = check_bytes(pair[1], f"{path}.attribute[{i + 1}].value", max_len=0xFFFF)
            out += U16.pack(atype) + U16.pack(len(value)) + value
        return bytes(out)

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> "CP":
        if end - start < 4:
            ctx.fail(f"{end - start} bytes; the CP body needs at least 4", f"{path}.cfg_type", start)
        cfg_type = to_enum(CfgType, data[start])
        trace = ctx.trace is not None
        if trace:
            ctx.row(start, 1, f"{path}.cfg_type", name_of(cfg_type, CfgType))
            ctx.row(start + 1, 3, f"{path}.reserved", data[start + 1 : start + 4].hex())
        attributes = []
        pos = start + 4
        while pos < end:
            apath = f"{path}.attribute[{len(attributes) + 1}]"
            if end - pos < 4:
                ctx.fail(f"{end - pos} bytes left, an attribute needs 4", f"{apath}.type", pos)
            atype = to_enum(CfgAttribute, U16.unpack_from(data, pos)[0] & 0x7FFF)
            length = U16.unpack_from(data, pos + 2)[0]
            if length > end - pos - 4:
                ctx.fail(f"attribute length {length} exceeds the {end - pos - 4} bytes left", f"{apath}.length", pos + 2)
            value = data[pos + 4 : pos + 4 + length]
            if trace:
                ctx.row(pos, 2, f"{apath}.type", name_of(atype, CfgAttribute))
                ctx.row(pos + 2, 2, f"{apath}.length", length)
                if length:
                    ctx.row(pos + 4, length, f"{apath}.value", _cfg_value(atype, value))
            attributes.append((atype, value))
            pos += 4 + length
        return cls._from_wire(cfg_type, tuple(attributes), critical)  # type: ignore[attr-defined]


#: RFC 7296 3.15.1: the value length of each address attribute -> its layout in the dissection.
_ADDRESS_LAYOUT = {
    (1, 4): "v4", (2, 4): "v4", (3, 4): "v4", (4, 4): "v4", (6, 4): "v4",  # an IPv4 address (netmask)
    (13, 8): "v4 v4",  # INTERNAL_IP4_SUBNET: address | netmask
    (10, 16): "v6", (12, 16): "v6",  # INTERNAL_IP6_DNS, INTERNAL_IP6_DHCP
    (8, 17): "v6/n", (15, 17): "v6/n",  # INTERNAL_IP6_ADDRESS, INTERNAL_IP6_SUBNET: address | prefix length
}
#: attribute type -> the one non-zero value length RFC 7296 3.15.1 gives it (the address attributes above)
_FIXED = {atype: length for atype, length in _ADDRESS_LAYOUT}

#: RFC 7296 3.15.1, the Length column, as text: the value lengths of each attribute type it defines.  The table
#: gives INTERNAL_IP6_SUBNET "17 octets", but a CFG_ACK returns every accepted attribute with zero-length data
#: (3.15.1), so 0 is accepted for it as for the others.  Types the table leaves out (APPLICATION_VERSION: "0 or
#: more", and later registrations) are not checked.
VALUE_LENGTHS: dict[int, str] = {
    **{CfgAttribute(atype): f"0 or {length}" for atype, length in _FIXED.items()},
    CfgAttribute.SUPPORTED_ATTRIBUTES: "a multiple of 2",
}


def value_length_ok(attribute_type: int, length: int) -> bool:
    """True when RFC 7296 3.15.1 allows ``length`` octets for the value of ``attribute_type`` (or has no rule)."""
    if attribute_type == CfgAttribute.SUPPORTED_ATTRIBUTES:
        return length % 2 == 0
    fixed = _FIXED.get(int(attribute_type))
    return fixed is None or length in (0, fixed)


def _cfg_value(atype: int, value: bytes) -> str:
    """An attribute value as a person reads it; a length RFC 7296 3.15.1 does not give shows as hex."""
    layout = _ADDRESS_LAYOUT.get((atype, len(value)))
    if layout is None:
        return value.hex()
    if layout.startswith("v4"):
        return " ".join(str(ipaddress.IPv4Address(value[i : i + 4])) for i in range(0, len(value), 4))
    text = str(ipaddress.IPv6Address(value[:16]))
    return f"{text}/{value[16]}" if len(value) == 17 else text


__all__ = ["CP", "VALUE_LENGTHS", "value_length_ok"]
