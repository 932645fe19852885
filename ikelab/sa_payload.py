"""The Security Association payload: proposals, transforms, attributes (RFC 7296 3.3).

An SA payload holds one or more Proposal substructures, each holding
Transform substructures, each holding optional Transform Attributes::

    Proposal:   Last Substruc (0 last / 2 more) | RESERVED | Proposal Length (2)
                Proposal Num | Protocol ID | SPI Size | Num Transforms
                SPI (SPI Size octets) | Transforms...
    Transform:  Last Substruc (0 last / 3 more) | RESERVED | Transform Length (2)
                Transform Type | RESERVED | Transform ID (2) | Attributes...
    Attribute:  A (1 bit: 1 = TV, 0 = TLV) | Attribute Type (15 bits)
                Attribute Value (2, TV)  or  Attribute Length (2) | Value (TLV)

RFC 7296 3.3.1: "The first Proposal MUST have a Proposal Num of one, and
each subsequent Proposal MUST be one more than the previous proposal"; an
accepted proposal carries the number of the one chosen.  The SPI Size is 0 in
the initial IKE_SA_INIT, 8 for IKE rekeying and 4 for ESP and AH.  The only
attribute RFC 7296 defines is Key Length (14, always TV, 3.3.5).

Decoding checks every length against the bytes present, the Last Substruc
values, the transform count against the transforms found, the proposal
numbering and the SPI size of the protocol; anything else is a ParseError.

Two shortcuts keep negotiation fast.  Decoded transforms, and proposals
without an SPI (those of IKE_SA_INIT), are remembered by their octets: the
same few come back in every exchange, and they are immutable, so one object
serves them all.  And :meth:`Proposal.of_type` indexes a proposal's
transforms by type the first time it is asked.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, Iterable

from .constants import DhId, EncrId, EsnId, IntegId, PayloadType, PrfId, ProtocolId, TransformAttribute, TransformType, lookup
from .errors import ConfigError
from .memo import ByIdentity
from .wire import DecodeContext, Payload, check_bytes, check_uint, from_wire, members, name_of, RAW_TYPES, norm_enum

__all__ = ["SA", "Proposal", "Transform", "TRANSFORM_ID_ENUMS"]

#: The IANA registry of Transform IDs for each Transform Type.
TRANSFORM_ID_ENUMS: dict[int, type[IntEnum]] = {
    TransformType.ENCR: EncrId,
    TransformType.PRF: PrfId,
    TransformType.INTEG: IntegId,
    TransformType.DH: DhId,
    TransformType.ESN: EsnId,
}

#: Transform header: Last Substruc | RESERVED | Transform Length (2) | Transform Type | RESERVED | Transform ID (2).
_TRANSFORM = struct.Struct("!BBHBBH")
#: Proposal header: Last Substruc | RESERVED | Proposal Length (2) | Proposal Num | Protocol ID | SPI Size | Num Transforms.
_PROPOSAL = struct.Struct("!BBHBBBB")
#: A TV attribute: AF + Attribute Type (2) | Attribute Value (2), or a TLV header: Type (2) | Length (2).
_ATTRIBUTE = struct.Struct("!HH")
#: A transform with one attribute, the Key Length in TV form (RFC 7296 3.3.5): 12 octets.
_TRANSFORM_KEY_LENGTH = struct.Struct("!BBHBBHHH")

_KEY_LENGTH = TransformAttribute.KEY_LENGTH

_SPI_SIZES = {ProtocolId.IKE: (0, 8), ProtocolId.AH: (4,), ProtocolId.ESP: (4,)}

_TRANSFORM_TYPES = members(TransformType)
_ID_ENUM_CLASSES = frozenset(TRANSFORM_ID_ENUMS.values())
_PROTOCOLS = members(ProtocolId)
#: Transform Type -> the ``value -> member`` dict of its Transform IDs.
_TRANSFORM_IDS = {ttype: members(enum) for ttype, enum in TRANSFORM_ID_ENUMS.items()}

#: Decoded transforms and SPI-less proposals by their octets: octets -> (object, Last Substruc, length).
_KNOWN_TRANSFORMS: dict[bytes, tuple[Any, int, int]] = {}
_KNOWN_PROPOSALS: dict[bytes, tuple[Any, int, int]] = {}
_KNOWN_MAX = 1024  # a table is emptied when it grows past this


def _recall(known: dict[bytes, tuple[Any, int, int]], data: bytes, pos: int, end: int) -> tuple[Any, int, int] | None:
    """What the substructure at ``pos`` decoded to before, if its octets were seen (not checked again).

    Transforms and proposals both start ``Last Substruc | RESERVED | Length (2)``
    and are at least 8 octets long.  Only well-formed octets are remembered.
    """
    if end - pos >= 8 and type(data) is bytes:
        length = (data[pos + 2] << 8) | data[pos + 3]
        if 8 <= length <= end - pos:
            return known.get(data[pos : pos + length])
    return None


def _attribute_pairs(attributes: Any) -> tuple[tuple[int, int | bytes], ...]:
    """``attributes`` as immutable ``(attribute_type, value)`` pairs (RFC 7296 3.3.5), else ConfigError.

    A bytearray value becomes bytes: a Transform is frozen and hashable, and its octets are
    remembered (``_TRANSFORMS_OCTETS``), so nothing inside it may change afterwards.
    """
    try:
        pairs = tuple(tuple(pair) for pair in attributes)
    except TypeError:
        raise ConfigError(f"attributes must be (attribute_type, value) pairs, not {attributes!r}",
                          field="attributes", value=attributes) from None
    out = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ConfigError(f"attributes[{i}] must be an (attribute_type, value) pair, not {pair!r}",
                              field="attributes", value=pair)
        atype, value = pair
        out.append((atype, bytes(value) if isinstance(value, (bytearray, memoryview)) else value))
    return tuple(out)


def _check_items(items: Any, kind: type, field: str) -> tuple[Any, ...]:
    """``items`` as a tuple whose every element is a ``kind``, else ConfigError naming ``field`` and the index."""
    if items.__class__ is not tuple:
        if isinstance(items, (str, bytes)):
            items = (items,)  # refused below, by its type, rather than taken apart
        try:
            items = tuple(items)
        except TypeError:
            raise ConfigError(f"{field} must be a sequence of {kind.__name__}, not {type(items).__name__}",
                              field=field, value=items) from None
    for i, item in enumerate(items):
        if item.__class__ is not kind and not isinstance(item, kind):
            raise ConfigError(f"{field}[{i}] must be a {kind.__name__}, not {type(item).__name__} {item!r}",
                              field=f"{field}[{i}]", value=item)
    return items


def _remember(known: dict[bytes, tuple[Any, int, int]], octets: bytes, value: Any) -> None:
    if type(octets) is bytes:
        if len(known) >= _KNOWN_MAX:
            known.clear()
        known[octets] = (value, octets[0], len(octets))


#: A transforms tuple -> its octets.  The engine offers the same configured transforms in every
#: exchange (SPIs and numbers change, the tuple does not), so their octets are packed once.
_TRANSFORMS_OCTETS: ByIdentity[bytes] = ByIdentity()


def _transforms_octets(transforms: tuple[Any, ...], path: str) -> bytes:
    """The Transform substructures of a proposal (RFC 7296 3.3.2), remembered by the tuple's identity."""
    octets = _TRANSFORMS_OCTETS.get(transforms)
    if octets is not None:
        return octets
    n = len(transforms)
    parts = []
    for i, t in enumerate(transforms):
        ttype, tid, key_length = t.type, t.id, t.key_length
        # the usual transform (registry members, at most a Key Length) is packed here, without
        # a call or the path string that only error messages need; any other goes through _encode
        if ttype.__class__ is TransformType and tid.__class__ in _ID_ENUM_CLASSES and not t.attributes:
            if key_length is None:
                parts.append(_TRANSFORM.pack(0 if i == n - 1 else 3, 0, 8, ttype, 0, tid))
                continue
            if key_length.__class__ is int and 0 <= key_length <= 0xFFFF:
                parts.append(_TRANSFORM_KEY_LENGTH.pack(0 if i == n - 1 else 3, 0, 12, ttype, 0, tid, 0x8000 | _KEY_LENGTH, key_length))
                continue
        parts.append(t._encode(i == n - 1, f"{path}.transform[{i + 1}]"))
    return _TRANSFORMS_OCTETS.put(transforms, b"".join(parts))


@from_wire
@dataclass(frozen=True, slots=True)
class Transform:
    """One transform (RFC 7296 3.3.2): ``type``, ``id`` and an optional Key Length.

    ``attributes`` keeps any other attributes as ``(attribute_type, value)``
    pairs: an int value is sent in TV form, a bytes value in TLV form.
    """

    type: TransformType | int
    id: int
    key_length: int | None = None
    attributes: tuple[tuple[int, int | bytes], ...] = ()

    def __post_init__(self) -> None:
        t = self.type
        if type(t) in RAW_TYPES:
            t = norm_enum(TransformType, t)
            object.__setattr__(self, "type", t)
        if type(self.id) in RAW_TYPES:
            object.__setattr__(self, "id", norm_enum(TRANSFORM_ID_ENUMS.get(t), self.id))
        attributes = self.attributes
        if attributes.__class__ is not tuple or attributes:  # () passes without a call
            object.__setattr__(self, "attributes", _attribute_pairs(attributes))

    @classmethod
    def encr(cls, alg: EncrId | int | str, key_length: int | None = None) -> "Transform":
        """An encryption transform, e.g. ``Transform.encr("ENCR_AES_GCM_16", 256)``."""
        return cls(TransformType.ENCR, lookup(EncrId, alg, field="alg"), key_length)

    @classmethod
    def prf(cls, alg: PrfId | int | str) -> "Transform":
        """A pseudorandom function transform."""
        return cls(TransformType.PRF, lookup(PrfId, alg, field="alg"))

    @classmethod
    def integ(cls, alg: IntegId | int | str) -> "Transform":
        """An integrity transform."""
        return cls(TransformType.INTEG, lookup(IntegId, alg, field="alg"))

    @classmethod
    def dh(cls, group: DhId | int | str) -> "Transform":
        """A Diffie-Hellman group transform."""
        return cls(TransformType.DH, lookup(DhId, group, field="group"))

    @classmethod
    def esn(cls, esn: bool = False) -> "Transform":
        """The Extended Sequence Numbers transform (ESP and AH only)."""
        return cls(TransformType.ESN, EsnId.ESN if esn else EsnId.NO_ESN)

    def __str__(self) -> str:
        name = self.id.name if isinstance(self.id, IntEnum) else str(self.id)
        return f"{name}_{self.key_length}" if self.key_length is not None else name

    def _encode(self, last: bool, path: str) -> bytes:
        ttype, tid = self.type, self.id
        # members of the IANA registries fit their fields; anything else is checked
        if ttype.__class__ is not TransformType:
            ttype = check_uint(ttype, 8, path, "transform_type")
        if tid.__class__ not in _ID_ENUM_CLASSES:
            tid = check_uint(tid, 16, path, "transform_id")
        if not self.attributes:  # the usual case: at most a Key Length
            if self.key_length is None:
                return _TRANSFORM.pack(0 if last else 3, 0, 8, ttype, 0, tid)
            key_length = check_uint(self.key_length, 16, path, "key_length")
            return _TRANSFORM_KEY_LENGTH.pack(0 if last else 3, 0, 12, ttype, 0, tid, 0x8000 | _KEY_LENGTH, key_length)
        attrs = b""
        if self.key_length is not None:
            attrs = _ATTRIBUTE.pack(0x8000 | TransformAttribute.KEY_LENGTH, check_uint(self.key_length, 16, path, "key_length"))
        for i, pair in enumerate(self.attributes):
            if len(pair) != 2:
                raise ConfigError(f"{path}.attributes[{i}] must be an (attribute_type, value) pair", field=f"{path}.attributes", value=pair)
            atype = check_uint(pair[0], 15, f"{path}.attributes[{i}].type")
            if atype == TransformAttribute.KEY_LENGTH:
                raise ConfigError(f"{path}: give the Key Length as key_length=, not as an attribute", field=f"{path}.attributes", value=pair)
            value = pair[1]
            if isinstance(value, int) and not isinstance(value, bool):
                attrs += _ATTRIBUTE.pack(0x8000 | atype, check_uint(value, 16, f"{path}.attributes[{i}].value"))
            else:
                data = check_bytes(value, f"{path}.attributes[{i}].value", max_len=0xFFFF)
                attrs += _ATTRIBUTE.pack(atype, len(data)) + data
        length = 8 + len(attrs)
        if length > 0xFFFF:
            raise ConfigError(f"{path} is {length} bytes; at most 65535", field=f"{path}.transform_length", value=length)
        return _TRANSFORM.pack(0 if last else 3, 0, length, ttype, 0, tid) + attrs

    @classmethod
    def _decode(cls, data: bytes, pos: int, end: int, ctx: DecodeContext, parent: str, index: int) -> tuple["Transform", int, int]:
        """Decode the ``index``-th transform of the proposal ``parent`` at ``pos``; return it, its Last Substruc and the next position."""
        trace = ctx.trace is not None
        if not trace:
            known = _recall(_KNOWN_TRANSFORMS, data, pos, end)
            if known is not None:
                return known[0], known[1], pos + known[2]
        path = f"{parent}.transform[{index}]"  # for errors and the trace
        if end - pos < 8:
            ctx.fail(f"{end - pos} bytes left, a transform needs at least 8", f"{path}.transform_length", pos)
        last, reserved, length, ttype_raw, reserved2, tid_raw = _TRANSFORM.unpack_from(data, pos)
        if last not in (0, 3):
            ctx.fail(f"Last Substruc is {last}; a transform has 0 (last) or 3 (more)", f"{path}.last_substruc", pos)
        if length < 8 or length > end - pos:
            ctx.fail(f"transform length {length} does not fit (8..{end - pos})", f"{path}.transform_length", pos + 2)
        tend = pos + length
        ttype = _TRANSFORM_TYPES.get(ttype_raw, ttype_raw)
        ids = _TRANSFORM_IDS.get(ttype)
        tid = ids.get(tid_raw, tid_raw) if ids is not None else tid_raw
        if trace:
            ctx.row(pos, 1, f"{path}.last_substruc", "0 (last)" if last == 0 else "3 (more)")
            ctx.row(pos + 1, 1, f"{path}.reserved", reserved)
            ctx.row(pos + 2, 2, f"{path}.transform_length", length)
            ctx.row(pos + 4, 1, f"{path}.transform_type", name_of(ttype, TransformType))
            ctx.row(pos + 5, 1, f"{path}.reserved2", reserved2)
            ctx.row(pos + 6, 2, f"{path}.transform_id", name_of(tid, TRANSFORM_ID_ENUMS.get(ttype)))
        key_length = None
        attributes = []
        a = pos + 8
        while a < tend:
            n = len(attributes) + (key_length is not None) + 1  # this attribute's number, for messages
            if tend - a < 4:
                ctx.fail(f"{tend - a} bytes left, an attribute needs at least 4", f"{path}.attribute[{n}].type", a)
            word, second = _ATTRIBUTE.unpack_from(data, a)
            atype = word & 0x7FFF
            if word & 0x8000:  # TV: the value is the second 16-bit word
                if trace:
                    ctx.row(a, 2, f"{path}.attribute[{n}].type", f"{name_of(atype, TransformAttribute)}, TV format")
                    ctx.row(a + 2, 2, f"{path}.attribute[{n}].value", second)
                if atype == _KEY_LENGTH:
                    if key_length is not None:
                        ctx.fail("Key Length attribute given twice", f"{path}.attribute[{n}].type", a)
                    key_length = second
                else:
                    attributes.append((atype, second))
                a += 4
            else:  # TLV
                if atype == _KEY_LENGTH:
                    ctx.fail("the Key Length attribute must use the TV format (RFC 7296 3.3.5)", f"{path}.attribute[{n}].format", a)
                if second > tend - a - 4:
                    ctx.fail(f"attribute length {second} exceeds the {tend - a - 4} bytes left in the transform", f"{path}.attribute[{n}].length", a + 2)
                value = data[a + 4 : a + 4 + second]
                if trace:
                    ctx.row(a, 2, f"{path}.attribute[{n}].type", f"{atype}, TLV format")
                    ctx.row(a + 2, 2, f"{path}.attribute[{n}].length", second)
                    ctx.row(a + 4, second, f"{path}.attribute[{n}].value", value.hex())
                attributes.append((atype, value))
                a += 4 + second
        transform = cls._from_wire(ttype, tid, key_length, tuple(attributes))  # type: ignore[attr-defined]
        _remember(_KNOWN_TRANSFORMS, data[pos:tend], transform)
        return transform, last, tend


class _TypeIndex:
    """Base of :class:`Proposal`: one slot, outside the dataclass fields, for :meth:`Proposal.of_type`.

    It is not a field, so equality, hashing, ``repr``, ``replace`` and
    pickling ignore it; a copy simply builds its own index when asked.
    """

    __slots__ = ("_by_type",)


@from_wire
@dataclass(frozen=True, slots=True)
class Proposal(_TypeIndex):
    """One proposal (RFC 7296 3.3.1): a number, a protocol, an SPI and transforms."""

    number: int = 1
    protocol: ProtocolId | int = ProtocolId.IKE
    spi: bytes = b""
    transforms: tuple[Transform, ...] = ()

    def __post_init__(self) -> None:
        if type(self.protocol) in RAW_TYPES:
            object.__setattr__(self, "protocol", norm_enum(ProtocolId, self.protocol))
        if self.spi.__class__ is not bytes and isinstance(self.spi, (bytearray, memoryview)):
            object.__setattr__(self, "spi", bytes(self.spi))  # frozen and hashable: no buffer that can change
        transforms = _check_items(self.transforms, Transform, "transforms")
        if transforms is not self.transforms:
            object.__setattr__(self, "transforms", transforms)

    def with_spi(self, spi: bytes) -> "Proposal":
        """``dataclasses.replace(self, spi=spi)`` for ``spi`` bytes: the other fields are already checked."""
        if spi.__class__ is not bytes or self.__class__ is not Proposal:  # a subclass: its own constructor
            return replace(self, spi=spi)
        return Proposal._from_wire(self.number, self.protocol, spi, self.transforms)  # type: ignore[attr-defined]

    @classmethod
    def ike(cls, *transforms: Transform, number: int = 1, spi: bytes = b"") -> "Proposal":
        """An IKE proposal (SPI empty in IKE_SA_INIT, 8 bytes when rekeying the IKE SA)."""
        return cls(number, ProtocolId.IKE, spi, transforms)

    @classmethod
    def esp(cls, spi: bytes, *transforms: Transform, number: int = 1) -> "Proposal":
        """An ESP proposal with its 4-byte inbound SPI."""
        return cls(number, ProtocolId.ESP, spi, transforms)

    @classmethod
    def ah(cls, spi: bytes, *transforms: Transform, number: int = 1) -> "Proposal":
        """An AH proposal with its 4-byte inbound SPI."""
        return cls(number, ProtocolId.AH, spi, transforms)

    def of_type(self, transform_type: TransformType | int | str) -> tuple[Transform, ...]:
        """The transforms of one type, in order (e.g. every ENCR transform)."""
        try:
            by_type = self._by_type
        except AttributeError:  # the first question: index the transforms by type once
            by_type = {}
            for x in self.transforms:
                by_type[x.type] = by_type.get(x.type, ()) + (x,)
            _set_by_type(self, by_type)
        t = transform_type if type(transform_type) is TransformType else norm_enum(TransformType, transform_type)
        return by_type.get(t, ())

    def __str__(self) -> str:
        proto = self.protocol.name if isinstance(self.protocol, IntEnum) else str(self.protocol)
        return f"#{self.number} {proto}:" + "/".join(str(t) for t in self.transforms)

    def _encode(self, last: bool, path: str) -> bytes:
        number, spi = self.number, self.spi
        # the usual values pass these tests inline; anything else goes through the checks that name the problem
        if not (number.__class__ is int and 1 <= number <= 0xFF):
            number = check_uint(number, 8, path, "proposal_number")
            if number == 0:  # 3.3.1: numbering starts at one, and the decoder refuses 0
                raise ConfigError(f"{path}: proposal number 0; numbering starts at 1",
                                  field=f"{path}.proposal_number", value=0)
        protocol = self.protocol if self.protocol.__class__ is ProtocolId else check_uint(self.protocol, 8, path, "protocol_id")
        if not (spi.__class__ is bytes and len(spi) <= 255):
            spi = check_bytes(spi, path, "spi", max_len=255)
        allowed = _SPI_SIZES.get(protocol)
        if allowed is None:  # 3.3.1: IKE, AH or ESP; the decoder refuses anything else
            raise ConfigError(f"{path}: protocol ID {int(protocol)} is not IKE (1), AH (2) or ESP (3)",
                              field=f"{path}.protocol_id", value=protocol)
        if len(spi) not in allowed:
            raise ConfigError(
                f"{path}: a {ProtocolId(protocol).name} proposal has an SPI of {' or '.join(map(str, allowed))} bytes, not {len(spi)}",
                field=f"{path}.spi",
                value=spi,
            )
        if len(self.transforms) > 255:
            raise ConfigError(f"{path} has {len(self.transforms)} transforms; at most 255", field=f"{path}.num_transforms", value=len(self.transforms))
        n = len(self.transforms)
        body = _transforms_octets(self.transforms, path)
        length = 8 + len(spi) + len(body)
        if length > 0xFFFF:
            raise ConfigError(f"{path} is {length} bytes; at most 65535", field=f"{path}.proposal_length", value=length)
        return _PROPOSAL.pack(0 if last else 2, 0, length, number, protocol, len(spi), n) + spi + body

    @classmethod
    def _decode(cls, data: bytes, pos: int, end: int, ctx: DecodeContext, parent: str, index: int) -> tuple["Proposal", int, int]:
        """Decode the ``index``-th proposal of the SA payload ``parent`` at ``pos``; return it, its Last Substruc and the next position."""
        spi_less = end - pos >= 8 and data[pos + 6] == 0
        if ctx.trace is None:
            if spi_less:
                known = _recall(_KNOWN_PROPOSALS, data, pos, end)
                if known is not None:
                    return known[0], known[1], pos + known[2]
            else:
                recalled = _recall_with_spi(data, pos, end)
                if recalled is not None:
                    return recalled
        path = f"{parent}.proposal[{index}]"  # for errors and the trace
        if end - pos < 8:
            ctx.fail(f"{end - pos} bytes left, a proposal needs at least 8", f"{path}.proposal_length", pos)
        last, reserved, length, number, protocol_raw, spi_size, count = _PROPOSAL.unpack_from(data, pos)
        if last not in (0, 2):
            ctx.fail(f"Last Substruc is {last}; a proposal has 0 (last) or 2 (more)", f"{path}.last_substruc", pos)
        if length < 8 or length > end - pos:
            ctx.fail(f"proposal length {length} does not fit (8..{end - pos})", f"{path}.proposal_length", pos + 2)
        protocol = _PROTOCOLS.get(protocol_raw, protocol_raw)
        if number == 0:
            ctx.fail("proposal number 0; numbering starts at 1", f"{path}.proposal_number", pos + 4)
        allowed = _SPI_SIZES.get(protocol)
        if allowed is None:
            ctx.fail(f"protocol ID {protocol_raw} is not IKE (1), AH (2) or ESP (3)", f"{path}.protocol_id", pos + 5)
        if spi_size not in allowed:
            ctx.fail(f"SPI size {spi_size} for {protocol.name}; expected {' or '.join(map(str, allowed))}", f"{path}.spi_size", pos + 6)
        pend = pos + length
        if spi_size > length - 8:
            ctx.fail(f"SPI size {spi_size} exceeds the {length - 8} bytes left in the proposal", f"{path}.spi_size", pos + 6)
        spi = data[pos + 8 : pos + 8 + spi_size]
        if ctx.trace is not None:
            ctx.row(pos, 1, f"{path}.last_substruc", "0 (last)" if last == 0 else "2 (more)")
            ctx.row(pos + 1, 1, f"{path}.reserved", reserved)
            ctx.row(pos + 2, 2, f"{path}.proposal_length", length)
            ctx.row(pos + 4, 1, f"{path}.proposal_number", number)
            ctx.row(pos + 5, 1, f"{path}.protocol_id", name_of(protocol, ProtocolId))
            ctx.row(pos + 6, 1, f"{path}.spi_size", spi_size)
            ctx.row(pos + 7, 1, f"{path}.num_transforms", count)
            if spi_size:
                ctx.row(pos + 8, spi_size, f"{path}.spi", spi.hex())
        transforms = []
        t = pos + 8 + spi_size
        more = count > 0
        while t < pend:
            n = len(transforms) + 1  # this transform's number
            if not more:
                ctx.fail("bytes follow the last transform of the proposal", f"{path}.transform[{n}]", t)
            if n > count:
                ctx.fail(f"more transforms than Num Transforms = {count}", f"{path}.num_transforms", pos + 7)
            transform, tlast, t = Transform._decode(data, t, pend, ctx, path, n)
            transforms.append(transform)
            more = tlast == 3
        if more or len(transforms) != count:
            ctx.fail(f"Num Transforms is {count} but {len(transforms)} transforms fit in the proposal", f"{path}.num_transforms", pos + 7)
        proposal = cls._from_wire(number, protocol, spi, tuple(transforms))  # type: ignore[attr-defined]
        if spi_less:
            _remember(_KNOWN_PROPOSALS, data[pos:pend], proposal)
        elif type(data) is bytes:
            _remember(_KNOWN_PROPOSALS, _without_spi(data, pos, pend, spi_size), proposal)
        return proposal, last, pend


def _without_spi(data: bytes, pos: int, pend: int, spi_size: int) -> bytes:
    """A proposal's octets with its SPI left out: what proposals with fresh SPIs have in common."""
    return data[pos : pos + 8] + data[pos + 8 + spi_size : pend]


def _recall_with_spi(data: bytes, pos: int, end: int) -> tuple[Proposal, int, int] | None:
    """A proposal with an SPI whose other octets were seen: the remembered one with this SPI.

    The SPI Size octet is part of the key, so the SPI's position is known; the key's
    Proposal Length (and the Last Substruc) are those of the proposal here.
    """
    if end - pos < 8 or type(data) is not bytes:
        return None
    length = (data[pos + 2] << 8) | data[pos + 3]
    spi_size = data[pos + 6]
    if not 8 + spi_size <= length <= end - pos:
        return None
    known = _KNOWN_PROPOSALS.get(_without_spi(data, pos, pos + length, spi_size))
    if known is None:
        return None
    p = known[0]
    return Proposal._from_wire(p.number, p.protocol, data[pos + 8 : pos + 8 + spi_size], p.transforms), known[1], pos + length  # type: ignore[attr-defined]


#: Stores a Proposal's type index despite the frozen dataclass (it is not a field).
_set_by_type = _TypeIndex._by_type.__set__  # type: ignore[attr-defined]


@from_wire
@dataclass(frozen=True, slots=True)
class SA(Payload):
    """Security Association payload (RFC 7296 3.3): one or more proposals."""

    proposals: tuple[Proposal, ...]
    critical: bool = False
    payload_type = PayloadType.SA

    def __post_init__(self) -> None:
        proposals = _check_items(self.proposals, Proposal, "proposals")
        if proposals is not self.proposals:
            object.__setattr__(self, "proposals", proposals)

    @classmethod
    def from_proposals(cls, proposals: Iterable[Proposal]) -> "SA":
        """An SA offering ``proposals`` numbered 1, 2, 3... as RFC 7296 3.3.1 requires."""
        checked = _check_items(proposals, Proposal, "proposals")
        return cls(tuple(replace(p, number=i + 1) for i, p in enumerate(checked)))

    def _body(self, path: str) -> bytes:
        n = len(self.proposals)
        if n == 1:  # the usual answer, and the engine's usual offer: one proposal, number 1 or any number
            return self.proposals[0]._encode(True, path + ".proposal[1]")
        if n == 0:
            raise ConfigError(f"{path} needs at least one proposal", field=f"{path}.proposals", value=())
        numbers = [p.number for p in self.proposals]  # two or more: numbered 1, 2, ... (RFC 7296 3.3.1)
        if numbers != list(range(1, n + 1)):
            raise ConfigError(f"{path}: proposals must be numbered 1..{n}, got {numbers} (use SA.from_proposals)", field=f"{path}.proposal_number", value=numbers)
        return b"".join([p._encode(i == n - 1, f"{path}.proposal[{i + 1}]") for i, p in enumerate(self.proposals)])

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> "SA":
        proposals = []
        starts = []
        pos = start
        more = True
        while pos < end:
            if not more:
                ctx.fail("bytes follow the last proposal (Last Substruc 0)", f"{path}.proposal[{len(proposals) + 1}]", pos)
            starts.append(pos)
            proposal, plast, pos = Proposal._decode(data, pos, end, ctx, path, len(proposals) + 1)
            proposals.append(proposal)
            more = plast == 2
        if not proposals:
            ctx.fail("an SA payload needs at least one proposal", f"{path}.proposal[1]", start)
        if more:
            ctx.fail("the last proposal says more follow (Last Substruc 2)", f"{path}.proposal[{len(proposals)}].last_substruc", end)
        if len(proposals) > 1:
            for i, p in enumerate(proposals):
                if p.number != i + 1:
                    ctx.fail(f"proposal {i + 1} has number {p.number}; proposals are numbered 1, 2, 3...", f"{path}.proposal[{i + 1}].proposal_number", starts[i] + 4)
        return cls._from_wire(tuple(proposals), critical)  # type: ignore[attr-defined]
