"""Distinguished names for ID_DER_ASN1_DN identities (RFC 7296 3.5, RFC 4514).

RFC 7296 3.5: ID_DER_ASN1_DN is "the binary Distinguished Encoding Rules
(DER) encoding of an ASN.1 X.500 Distinguished Name".  The DER structure is
(X.501)::

    Name ::= SEQUENCE OF RelativeDistinguishedName          -- 0x30
    RelativeDistinguishedName ::= SET OF AttributeTypeAndValue   -- 0x31
    AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }

:func:`der_to_rfc4514` is a small strict DER reader that renders the RFC 4514
string (last RDN first, ``CN=vpn,O=Example,C=CH``), and :func:`der_to_name` one that
gives the :class:`x509.Name` a peer's identity is matched with; :func:`rfc4514_to_der`
goes the other way with pyca/cryptography (keywords in any case, and a ``#`` hex
value read as the value's own BER, RFC 4514 3).  (Configured identities use
strongSwan's order instead, first RDN first: :mod:`ikelab.dn_strongswan`.)  Malformed DER raises
:class:`~ikelab.errors.ParseError`, never anything else.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .errors import ConfigError, ParseError
from .wire import check_bytes

__all__ = ["check_dn", "der_to_name", "der_to_rfc4514", "rfc4514_to_der"]

# RFC 4514 3: the short names a string representation uses.
_SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}

# Directory string tags and how to read them.
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (T.61, approximated)
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


def read_tlv(der: bytes, pos: int, end: int, base: int, field: str = "id_data") -> tuple[int, int, int]:
    """Read a DER tag and definite length at ``pos``; return (tag, value start, value end).

    ``base`` and ``field`` place an error (also used by :mod:`ikelab.pss`)."""
    if end - pos < 2:
        raise ParseError("truncated DER element", field=field, offset=base + pos)
    tag, first = der[pos], der[pos + 1]
    if tag & 0x1F == 0x1F:  # X.690 8.1.2.4: the tag number goes on in the next octets, which would be misread
        raise ParseError(f"unsupported DER tag 0x{tag:02x} (high tag number form)", field=field, offset=base + pos)
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 3 or end - pos < n:
            raise ParseError(f"unsupported or truncated DER length (0x{first:02x})", field=field, offset=base + pos - 1)
        length = int.from_bytes(der[pos : pos + n], "big")
        if length < 0x80 or der[pos] == 0:  # X.690 10.1: DER writes a length in the fewest octets
            raise ParseError(f"DER length {length} not in its shortest form", field=field, offset=base + pos - 1)
        pos += n
    if length > end - pos:
        raise ParseError(f"DER length {length} exceeds the {end - pos} bytes left", field=field, offset=base + pos - 1)
    return tag, pos, pos + length


def read_oid(der: bytes, start: int, end: int, base: int, field: str = "id_data") -> str:
    """The dotted form of the OBJECT IDENTIFIER contents ``der[start:end]`` (X.690 8.19)."""
    if start == end:
        raise ParseError("empty OBJECT IDENTIFIER", field=field, offset=base + start)
    arcs: list[int] = []
    value = 0
    for i in range(start, end):
        if der[i] == 0x80 and (i == start or not der[i - 1] & 0x80):  # X.690 8.19.2: no leading 0x80 octet
            raise ParseError("OBJECT IDENTIFIER arc not in its shortest form", field=field, offset=base + i)
        value = (value << 7) | (der[i] & 0x7F)
        if not der[i] & 0x80:
            arcs.append(value)
            value = 0
    if der[end - 1] & 0x80:
        raise ParseError("truncated OBJECT IDENTIFIER", field=field, offset=base + end - 1)
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


class _Attribute(NamedTuple):
    """One AttributeTypeAndValue as read from the DER, with where its parts start (for errors)."""

    oid: str  # dotted
    tag: int  # the value's tag
    value: bytes  # the value's contents
    tlv: bytes  # the value's whole TLV
    oid_at: int  # offset of the OID's contents
    value_at: int  # offset of the value's TLV


def _parse(der: bytes, base: int, field: str = "id_data") -> list[list[_Attribute]]:
    """The RDNs as lists of their attributes."""
    tag, start, end = read_tlv(der, 0, len(der), base, field)
    if tag != 0x30 or end != len(der):
        raise ParseError("a DN is one DER SEQUENCE filling the identification data", field=field, offset=base)
    rdns = []
    pos = start
    while pos < end:
        tag, s_start, s_end = read_tlv(der, pos, end, base, field)
        if tag != 0x31 or s_start == s_end:
            raise ParseError("a relative distinguished name is a non-empty DER SET", field=field, offset=base + pos)
        rdn = []
        a = s_start
        while a < s_end:
            tag, q_start, q_end = read_tlv(der, a, s_end, base, field)
            if tag != 0x30:
                raise ParseError("an attribute is a DER SEQUENCE", field=field, offset=base + a)
            otag, o_start, o_end = read_tlv(der, q_start, q_end, base, field)
            if otag != 0x06:
                raise ParseError("an attribute type is an OBJECT IDENTIFIER", field=field, offset=base + q_start)
            vtag, v_start, v_end = read_tlv(der, o_end, q_end, base, field)
            if v_end != q_end:
                raise ParseError("bytes after the attribute value", field=field, offset=base + v_end)
            rdn.append(_Attribute(read_oid(der, o_start, o_end, base, field), vtag, der[v_start:v_end],
                                  der[o_end:q_end], base + o_start, base + o_end))
            a = q_end
        rdns.append(rdn)
        pos = s_end
    return rdns


def check_dn(der: bytes, base: int = 0) -> None:
    """Raise ParseError (offsets counted from ``base``) unless ``der`` is a well-formed DER Name."""
    _parse(check_bytes(der, "id_data"), base)


def der_to_name(der: bytes, *, field: str = "ID_DER_ASN1_DN") -> Any:
    """The :class:`x509.Name` of a DER-encoded Name (ID_DER_ASN1_DN data, RFC 7296 3.5), every value a
    directory string (UTF8String, PrintableString...); anything else raises ParseError naming ``field``."""
    from cryptography import x509
    from cryptography.x509.name import _ASN1Type

    rdns = []
    for rdn in _parse(check_bytes(der, field), 0, field):
        attrs = []
        for attr in rdn:
            if attr.tag not in _STRING_CODECS:
                raise ParseError(f"unsupported DN value tag 0x{attr.tag:02x}: not a directory string", field=field,
                                 offset=attr.value_at)
            try:
                oid = x509.ObjectIdentifier(attr.oid)
            except ValueError:  # an arc beyond what cryptography holds
                raise ParseError("OBJECT IDENTIFIER out of range", field=field, offset=attr.oid_at) from None
            try:
                text = attr.value.decode(_STRING_CODECS[attr.tag])
                attrs.append(x509.NameAttribute(oid, text, _type=_ASN1Type(attr.tag)))
            except (UnicodeDecodeError, ValueError) as exc:  # e.g. a country name not of two letters
                raise ParseError(f"bad DN value: {exc}", field=field, offset=attr.value_at) from None
        try:
            rdns.append(x509.RelativeDistinguishedName(attrs))
        except ValueError as exc:  # X.690 11.6: a SET OF in DER holds no two equal elements
            raise ParseError(f"bad RDN: {exc}", field=field, offset=rdn[0].oid_at) from None
    return x509.Name(rdns)


def _escape(text: str) -> str:
    """RFC 4514 2.4 escaping of an attribute value."""
    out = []
    for i, ch in enumerate(text):
        if ch in '"+,;<>\\' or (ch == "#" and i == 0) or (ch == " " and (i == 0 or i == len(text) - 1)):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def der_to_rfc4514(der: bytes) -> str:
    """The RFC 4514 string of a DER-encoded Name, e.g. ``CN=vpn.example,O=Example,C=CH``.

    Attribute types without a short name print as dotted OIDs with the value
    in ``#hex`` form, as RFC 4514 2.4 prescribes.
    """
    parts = []
    for rdn in reversed(_parse(check_bytes(der, "id_data"), 0)):
        items = []
        for oid, vtag, value, tlv, *_ in rdn:
            name = _SHORT_NAMES.get(oid)
            codec = _STRING_CODECS.get(vtag)
            text = None
            if name is not None and codec is not None:
                try:
                    text = value.decode(codec)
                except UnicodeDecodeError:
                    text = None
            if text is None:
                items.append(f"{name or oid}=#{tlv.hex()}")
            else:
                items.append(f"{name}={_escape(text)}")
        parts.append("+".join(items))
    return ",".join(parts)


#: RFC 4514 3's keywords, casefolded (RFC 4512 1.4: keywords are case-insensitive) -> dotted OID
_KEYWORD_OIDS = {name.casefold(): oid for oid, name in _SHORT_NAMES.items()}


def _split_attributes(text: str) -> list[list[str]]:
    """The ``type=value`` strings of each RDN of ``text`` as written (escaped ',' and '+' do not split)."""
    rdns: list[list[str]] = [[]]
    start = i = 0
    while i <= len(text):
        if i == len(text) or text[i] in ",+":
            rdns[-1].append(text[start:i])
            if i < len(text) and text[i] == ",":
                rdns.append([])
            start = i + 1
        i += 2 if text[i : i + 1] == "\\" and i + 1 < len(text) else 1
    return rdns


_DOTTED = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))+")
_HEX = re.compile(r"#([0-9a-fA-F]{2})+")


def _attribute(written: str) -> Any:
    """One ``type=value`` of RFC 4514 3 as an ``x509.NameAttribute``."""
    from cryptography import x509
    from cryptography.x509.name import _ASN1Type

    key, equals, value = written.partition("=")
    if not equals:
        raise ValueError("")  # the caller's message says what a type=value looks like
    dotted = _KEYWORD_OIDS.get(key.casefold()) or (key if _DOTTED.fullmatch(key) else None)
    if not value.startswith("#"):
        # a keyword in any case, as its OID: cryptography knows keywords in upper case only
        name = x509.Name.from_rfc4514_string(written if dotted is None else f"{dotted}={value}")
        if len(name.rdns) != 1:
            raise ValueError("")
        return next(iter(name.rdns[0]))
    # cryptography would read the hex digits as UTF-8 text; RFC 4514 2.4 / 3 means the value's own BER
    oid = None if dotted is None else x509.ObjectIdentifier(dotted)
    if oid is None or not _HEX.fullmatch(value):
        raise ValueError("" if oid is None else f"{value} is not '#' and pairs of hex digits")
    ber = bytes.fromhex(value[1:])
    tag, start, end = read_tlv(ber, 0, len(ber), 0, "dn")
    if end != len(ber) or tag not in _STRING_CODECS:
        raise ValueError(f"{value} is not one DER directory string (UTF8String, PrintableString...)")
    return x509.NameAttribute(oid, ber[start:end].decode(_STRING_CODECS[tag]), _type=_ASN1Type(tag))


def rfc4514_to_der(text: str) -> bytes:
    """The DER encoding of an RFC 4514 string such as ``"CN=vpn.example,O=Example"`` (RFC 4514 3)."""
    from cryptography import x509

    if not isinstance(text, str):
        raise ConfigError(f"a distinguished name must be a str, not {type(text).__name__}", field="dn", value=text)
    try:
        rdns = [x509.RelativeDistinguishedName([_attribute(written) for written in rdn])
                for rdn in reversed(_split_attributes(text) if text else [])]
        return x509.Name(rdns).public_bytes()
    except (ValueError, ParseError) as exc:
        why = str(exc) or "expected KEY=value pairs separated by ',' or '+', KEY one of " + \
            " ".join(_SHORT_NAMES.values()) + " or a dotted OID, and special characters escaped (RFC 4514 3)"
        raise ConfigError(f"{text!r} is not an RFC 4514 distinguished name: {why}", field="dn", value=text) from None
