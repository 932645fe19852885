"""Identities for the IDi and IDr payloads (RFC 7296 3.5), typed as strongSwan types them.

RFC 7296 3.5: the Identification payload carries an ID Type and the
Identification Data::

    ID_IPV4_ADDR     1   a single four (4) octet IPv4 address
    ID_FQDN          2   a fully-qualified domain name string ("example.com"),
                         no terminators (NUL, CR...)
    ID_RFC822_ADDR   3   a fully-qualified RFC 822 email address string
    ID_IPV6_ADDR     5   a single sixteen (16) octet IPv6 address
    ID_DER_ASN1_DN   9   the binary DER encoding of an ASN.1 X.500 Distinguished Name
    ID_KEY_ID       11   an opaque octet stream (vendor-specific information)

The text syntax is strongSwan's (``swanctl.conf`` ``id``/``remote_id``):

* an IPv4 or IPv6 address                 -> ID_IPV4_ADDR / ID_IPV6_ADDR (packed bytes)
* ``C=CH, O=strongSwan, CN=moon``         -> ID_DER_ASN1_DN (DER, RDNs in the order written;
  ``CN=moon+OU=Lab`` is one multi-valued RDN, RFC 4514 2.2, which strongSwan has no syntax for)
* ``carol@strongswan.org``                -> ID_RFC822_ADDR
* ``@moon.strongswan.org`` (leading @)    -> ID_FQDN without the @ ("@" forces FQDN)
* ``@@carol``                             -> ID_RFC822_ADDR ``carol``
* ``@#0102ab``                            -> ID_KEY_ID, hex
* ``moon.strongswan.org`` (anything else) -> ID_FQDN
* a ``type:`` prefix forces the type: ``fqdn:``, ``email:``/``rfc822:``,
  ``ipv4:``, ``ipv6:``, ``keyid:`` (hex after ``#`` or text), ``asn1dn:``/``dn:``;
  after ``fqdn:`` or ``email:``, ``#`` and hex give octets a name cannot spell
  (how :func:`format_identity` writes a peer's non-ASCII ID).

The "RestOfInitIDPayload" that AUTH covers (RFC 7296 2.15) is
``ID Type | RESERVED (3 octets) | Identification Data``: :meth:`Identity.body`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .constants import IdType, lookup
from .errors import ConfigError, IkelabError, ParseError
from .wire import check_bytes

#: strongSwan's attribute keywords (its x501rdns table: note S = surname, SN = serialNumber).
_DN_KEYS: dict[str, ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "S": NameOID.SURNAME,
    "SN": NameOID.SERIAL_NUMBER,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "N": ObjectIdentifier("2.5.4.41"),  # name
    "D": ObjectIdentifier("2.5.4.13"),  # description
    "G": NameOID.GIVEN_NAME,
    "I": NameOID.INITIALS,
    "T": NameOID.TITLE,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
    "E": NameOID.EMAIL_ADDRESS,
    "EMAIL": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "DNQUALIFIER": NameOID.DN_QUALIFIER,
    "PSEUDONYM": NameOID.PSEUDONYM,
}
#: X.680 PrintableString characters; strongSwan writes a value as PrintableString when it fits, else UTF8String.
_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
#: How a DN attribute is printed (first spelling wins).
_DN_NAMES: dict[ObjectIdentifier, str] = {}
for _k, _oid in _DN_KEYS.items():
    _DN_NAMES.setdefault(_oid, _k)
_DN_NAMES[NameOID.EMAIL_ADDRESS] = "E"
_DN_NAMES[NameOID.SERIAL_NUMBER] = "SN"

#: RFC 7296 3.5: the size of the Identification Data of the address types.
_ADDRESS_SIZES = {IdType.ID_IPV4_ADDR: 4, IdType.ID_IPV6_ADDR: 16}

_PREFIXES: dict[str, IdType] = {
    "fqdn": IdType.ID_FQDN,
    "email": IdType.ID_RFC822_ADDR,
    "rfc822": IdType.ID_RFC822_ADDR,
    "userfqdn": IdType.ID_RFC822_ADDR,
    "ipv4": IdType.ID_IPV4_ADDR,
    "ipv6": IdType.ID_IPV6_ADDR,
    "keyid": IdType.ID_KEY_ID,
    "asn1dn": IdType.ID_DER_ASN1_DN,
    "dn": IdType.ID_DER_ASN1_DN,
}


@dataclass(frozen=True)
class Identity:
    """An ID Type and its Identification Data, as carried in IDi/IDr (RFC 7296 3.5)."""

    id_type: IdType
    data: bytes

    def body(self) -> bytes:
        """RestOfInitIDPayload / RestOfRespIDPayload: ``ID Type | RESERVED(3) | data`` (RFC 7296 2.15)."""
        return id_body(self.id_type, self.data)

    def __str__(self) -> str:
        return format_identity(self.id_type, self.data)


def id_body(id_type: IdType | int | str, data: bytes) -> bytes:
    """The ID payload after its 4-octet generic header: ``ID Type | RESERVED(3) | Identification Data``."""
    t = lookup(IdType, id_type, field="id_type")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ConfigError(f"identification data must be bytes, not {type(data).__name__}", field="data", value=data)
    size = _ADDRESS_SIZES.get(t)
    if size is not None and len(data) != size:  # RFC 7296 3.5: "a single four (4) octet IPv4 address", 16 for IPv6
        raise ConfigError(f"{t.name} data is {len(data)} octets, not {size}", field="data", value=bytes(data))
    if data and t == IdType.ID_NULL:
        raise ConfigError(f"ID_NULL carries no Identification Data (RFC 7619), not {len(data)} octets", field="data",
                          value=bytes(data))
    return bytes([int(t)]) + b"\x00\x00\x00" + bytes(data)


# --------------------------------------------------------------------------- DNs


def _starts_attribute(text: str, i: int) -> bool:
    """Whether ``text[i:]`` begins ``KEY=`` (KEY a keyword of :data:`_DN_KEYS` or a dotted OID, spaces around
    it allowed): after a '+', the next attribute of a multi-valued RDN (RFC 4514 2.2); any other '+' is part
    of the value, as strongSwan reads every '+'."""
    key, eq, _ = text[i:].partition("=")
    key = key.strip()
    dotted = "." in key and all(arc.isascii() and arc.isdigit() for arc in key.split("."))
    return bool(eq) and (key.upper() in _DN_KEYS or dotted)


def _split_dn(text: str) -> list[list[str]]:
    """Split a DN string into RDNs at ',' or '/' (strongSwan accepts both), and an RDN into its attributes at
    a '+' that starts ``KEY=`` (:func:`_starts_attribute`), honouring backslash escapes."""
    rdns: list[list[str]] = [[]]
    cur: list[str] = []
    i = 0
    sep = "/" if text.startswith("/") else ","
    if sep == "/":
        text = text[1:]
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if ch == sep or (sep == "," and ch == ";"):
            rdns[-1].append("".join(cur))
            rdns.append([])
            cur = []
        elif ch == "+" and _starts_attribute(text, i + 1):
            rdns[-1].append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    rdns[-1].append("".join(cur))
    return [[p.strip() for p in rdn] for rdn in rdns if "".join(rdn).strip()]


def _dn_attribute(part: str, text: str) -> x509.NameAttribute:
    """One ``KEY=value`` of a DN string, its value typed as strongSwan's ``atodn`` types it."""
    key, eq, value = part.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ConfigError(f"DN component {part!r} of {text!r} is not KEY=value", field="id", value=text)
    try:
        oid = _DN_KEYS[key.upper()] if not key[0].isdigit() else ObjectIdentifier(key)
    except (KeyError, ValueError):
        known = ", ".join(sorted(_DN_KEYS))
        raise ConfigError(f"unknown DN attribute {key!r} in {text!r}; known: {known}", field="id", value=text) from None
    try:
        value = value.strip()
        value.encode("utf-8")  # a lone surrogate (UnicodeEncodeError, a ValueError) would fail only in DER
        if oid == NameOID.EMAIL_ADDRESS:
            if not value.isascii():  # RFC 5280 A.1: an IA5String, which holds ASCII only
                raise ValueError("an emailAddress is an IA5String (RFC 5280 A.1): ASCII characters only")
            kind = _ASN1Type.IA5String
        elif set(value) <= _PRINTABLE:
            kind = _ASN1Type.PrintableString
        else:
            kind = _ASN1Type.UTF8String
        return x509.NameAttribute(oid, value, _type=kind)
    except ValueError as exc:
        raise ConfigError(f"bad DN value {part!r} in {text!r}: {exc}", field="id", value=text) from None


def dn_from_string(text: str) -> x509.Name:
    """``"C=CH, O=strongSwan, CN=moon"`` -> :class:`x509.Name` with the RDNs in the written order.

    This is the X.500 order strongSwan prints (``C`` first), *not* the reversed
    order of RFC 4514 strings.  Values are encoded as strongSwan's ``atodn``
    does (strongSwan compares string types too): PrintableString when every
    character allows it, else UTF8String; IA5String for ``E``.  Unknown
    keywords raise :class:`ConfigError`.  A multi-valued RDN joins its attributes
    with '+' (RFC 4514 2.2: ``O=Example, CN=moon+OU=Lab``), which strongSwan has no
    syntax for; a '+' not followed by ``KEY=``, or escaped as ``\\+``, is part of the value.
    """
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"not a distinguished name: {text!r}", field="id", value=text)
    rdns: list[x509.RelativeDistinguishedName] = []
    for parts in _split_dn(text):
        attrs = [_dn_attribute(part, text) for part in parts]
        try:
            rdns.append(x509.RelativeDistinguishedName(attrs))
        except ValueError as exc:  # the same attribute twice in one RDN
            raise ConfigError(f"RDN {'+'.join(parts)!r} of {text!r}: {exc} (RFC 4514 2.2)", field="id",
                              value=text) from None
    return x509.Name(rdns)


def dn_to_string(name: x509.Name) -> str:
    """``x509.Name`` -> ``"C=CH, O=strongSwan, CN=moon"`` (DER order, strongSwan style), the attributes of a
    multi-valued RDN joined with '+' (RFC 4514 2.2), so that :func:`dn_from_string` reads back the same DN."""
    if not isinstance(name, x509.Name):
        hint = "; dn_from_string(text) reads a DN" if isinstance(name, str) else ""
        raise ConfigError(f"dn_to_string: name must be an x509.Name, not {type(name).__name__}{hint}",
                          field="name", value=name)
    out = []
    for rdn in name.rdns:
        attrs = []
        for attr in rdn:
            key = _DN_NAMES.get(attr.oid, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            attrs.append(f"{key}={_escape_dn_value(value)}")
        out.append("+".join(attrs))
    return ", ".join(out)


def _escape_dn_value(value: str) -> str:
    """A backslash before each character that :func:`_split_dn` would take as a separator or an escape: a
    '+' only where ``KEY=`` follows it, so a value such as ``C++`` prints as before (and as strongSwan reads it)."""
    return "".join("\\" + ch if ch in "\\,;" or (ch == "+" and _starts_attribute(value, i + 1)) else ch
                   for i, ch in enumerate(value))


def dn_key(name: x509.Name) -> list[frozenset[tuple[x509.ObjectIdentifier, Any]]]:
    """A comparison key for a DN (RFC 5280 7.1): the RDNs in order, each the set of its (type, value) pairs.

    String values are prepared as RFC 5280 7.1 asks (LDAP StringPrep, RFC 4518), simplified: case-folded
    (2.2), NFKC-normalized (2.3), spaces at either end dropped and inner runs of spaces one space (2.6.1);
    the string type (UTF8String, PrintableString...) is not part of the value.  So ``CN=a, O=b`` (two RDNs)
    is not ``CN=a+O=b`` (one multi-valued RDN), and ``CN=Moon`` is ``cn= moon``.
    """
    return [frozenset((a.oid, " ".join(unicodedata.normalize("NFKC", a.value.casefold()).split())
                       if isinstance(a.value, str) else a.value) for a in rdn) for rdn in name.rdns]


def same_dn(a: x509.Name, b: x509.Name) -> bool:
    """Whether two DNs match (RFC 5280 7.1): as many RDNs, in order, each with the same prepared values.
    Certificate paths chain names this way, and an ID_DER_ASN1_DN matches a configured DN or a subject so."""
    return a.public_bytes() == b.public_bytes() or dn_key(a) == dn_key(b)


class _Der:
    """A minimal DER reader, enough for a Name (SEQUENCE OF SET OF SEQUENCE {OID, string})."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def tlv(self, pos: int, end: int) -> tuple[int, int, int]:
        """``(tag, start of value, end of value)`` of the TLV at ``pos``."""
        if pos + 2 > end:
            raise ParseError("truncated DER element", field="ID_DER_ASN1_DN", offset=pos)
        tag, length = self.data[pos], self.data[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            if n == 0 or n > 4 or pos + n > end:
                raise ParseError("bad DER length", field="ID_DER_ASN1_DN", offset=pos)
            length = int.from_bytes(self.data[pos : pos + n], "big")
            pos += n
        if pos + length > end:
            raise ParseError("DER element overruns its container", field="ID_DER_ASN1_DN", offset=pos)
        return tag, pos, pos + length


def _oid(body: bytes, offset: int) -> ObjectIdentifier:
    if not body or body[-1] & 0x80:
        raise ParseError("bad OBJECT IDENTIFIER", field="ID_DER_ASN1_DN", offset=offset)
    arcs: list[int] = []
    value = 0
    for b in body:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    try:
        return ObjectIdentifier(".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]]))
    except ValueError:  # e.g. an arc too large for cryptography
        raise ParseError("OBJECT IDENTIFIER out of range", field="ID_DER_ASN1_DN", offset=offset) from None


_STRING_TAGS = {0x0C: "utf-8", 0x12: "ascii", 0x13: "ascii", 0x16: "ascii", 0x1A: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def _load_dn(data: bytes) -> x509.Name:
    """Decode the DER of an X.500 Name (ID_DER_ASN1_DN data) into an :class:`x509.Name`."""
    data = bytes(data)
    der = _Der(data)
    tag, start, end = der.tlv(0, len(data))
    if tag != 0x30 or end != len(data):
        raise ParseError("ID_DER_ASN1_DN data is not one DER SEQUENCE", field="ID_DER_ASN1_DN", offset=0)
    rdns = []
    pos = start
    while pos < end:
        tag, s_start, s_end = der.tlv(pos, end)
        if tag != 0x31:
            raise ParseError("RDN is not a SET", field="ID_DER_ASN1_DN", offset=pos)
        attrs = []
        apos = s_start
        while apos < s_end:
            tag, a_start, a_end = der.tlv(apos, s_end)
            if tag != 0x30:
                raise ParseError("AttributeTypeAndValue is not a SEQUENCE", field="ID_DER_ASN1_DN", offset=apos)
            otag, o_start, o_end = der.tlv(a_start, a_end)
            if otag != 0x06:
                raise ParseError("attribute type is not an OID", field="ID_DER_ASN1_DN", offset=a_start)
            oid = _oid(data[o_start:o_end], o_start)
            vtag, v_start, v_end = der.tlv(o_end, a_end)
            if vtag not in _STRING_TAGS:
                raise ParseError(f"unsupported DN value tag 0x{vtag:02x}", field="ID_DER_ASN1_DN", offset=o_end)
            try:
                value = data[v_start:v_end].decode(_STRING_TAGS[vtag])
                attrs.append(x509.NameAttribute(oid, value, _type=_ASN1Type(vtag)))
            except (UnicodeDecodeError, ValueError) as exc:
                raise ParseError(f"bad DN value: {exc}", field="ID_DER_ASN1_DN", offset=v_start) from None
            apos = a_end
        if not attrs:
            raise ParseError("empty RDN", field="ID_DER_ASN1_DN", offset=pos)
        rdns.append(x509.RelativeDistinguishedName(attrs))
        pos = s_end
    return x509.Name(rdns)


# --------------------------------------------------------------------------- parse / format


def _ip(text: str, version: int | None) -> Identity | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if version is not None and addr.version != version:
        return None
    t = IdType.ID_IPV4_ADDR if addr.version == 4 else IdType.ID_IPV6_ADDR
    return Identity(t, addr.packed)


def _typed(text: str, id_type: IdType, *, named: bool = False) -> Identity:
    """``text`` encoded for ``id_type``; ``named``: the type was written out (a prefix or ``id_type=``)."""
    if id_type in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
        ident = _ip(text, 4 if id_type == IdType.ID_IPV4_ADDR else 6)
        if ident is None:
            raise ConfigError(f"{text!r} is not an address for {id_type.name}", field="id", value=text)
        return ident
    if id_type == IdType.ID_DER_ASN1_DN:
        if text.startswith("#"):
            data = _hex(text[1:], text)
            _load_dn(data)
            return Identity(id_type, data)
        return Identity(id_type, dn_from_string(text).public_bytes())
    if id_type in (IdType.ID_KEY_ID, IdType.ID_DER_ASN1_GN, IdType.ID_FC_NAME):
        if text.startswith("#"):
            return Identity(id_type, _hex(text[1:], text))
        try:
            return Identity(id_type, text.encode())
        except UnicodeEncodeError:  # e.g. a command-line argument that was not UTF-8 (lone surrogates)
            raise ConfigError(f"{text!r} is not valid UTF-8 text for {id_type.name}", field="id", value=text) from None
    if id_type == IdType.ID_NULL:  # RFC 7619: no Identification Data, so no text to put in it
        if text.strip() not in ("", "%null"):
            raise ConfigError(f"ID_NULL carries no Identification Data (RFC 7619): give \"%null\", not {text!r}",
                              field="id", value=text)
        return Identity(id_type, b"")
    if named and text.startswith("#"):  # "fqdn:#..." (strongSwan): any octets, as format_identity writes them
        return Identity(id_type, _hex(text[1:], text))
    text = text.strip()
    if not text:
        raise ConfigError(f"empty identity for {id_type.name}", field="id", value=text)
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        raise ConfigError(f"{id_type.name} {text!r} must be ASCII (RFC 7296 3.5)", field="id", value=text) from None
    if any(b < 0x20 or b == 0x7F for b in data):  # RFC 7296 3.5: "no terminators"
        raise ConfigError(f"{id_type.name} {text!r} holds a control character: RFC 7296 3.5 names have no "
                          "terminators (NUL, CR, LF...)", field="id", value=text)
    return Identity(id_type, data)


def _hex(digits: str, text: str) -> bytes:
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise ConfigError(f"{text!r}: {digits!r} is not hex", field="id", value=text) from None


def parse_identity(text: str, *, id_type: IdType | int | str | None = None) -> Identity:
    """Type and encode an identity string the way strongSwan does (see the module docstring).

    >>> parse_identity("192.0.2.1")
    Identity(id_type=<IdType.ID_IPV4_ADDR: 1>, data=b'\\xc0\\x00\\x02\\x01')
    >>> parse_identity("@moon.strongswan.org").data
    b'moon.strongswan.org'

    ``id_type`` overrides the guess (the text is then encoded for that type).
    """
    if not isinstance(text, str):
        raise ConfigError(f"text: identity must be a string, not {type(text).__name__}", field="text", value=text)
    return _parse_identity(text, None if id_type is None else lookup(IdType, id_type, field="id_type"))


@lru_cache(maxsize=256)
def _parse_identity(text: str, id_type: IdType | int | str | None) -> Identity:
    # cached: a peer types its configured identities once per handshake, with the same text each time
    text = text.strip()
    if id_type is not None:
        return _typed(text, lookup(IdType, id_type, field="id_type"), named=True)
    if not text:
        raise ConfigError("empty identity", field="id", value=text)
    if text in ("%any", "%any6", "*"):
        raise ConfigError(f"{text!r} is a wildcard: valid as a remote_id pattern, not as an identity", field="id", value=text)
    if text == "%null":  # how format_identity writes ID_NULL (RFC 7619)
        return Identity(IdType.ID_NULL, b"")
    head, colon, rest = text.partition(":")
    if colon and head.lower() in _PREFIXES:
        return _typed(rest.strip(), _PREFIXES[head.lower()], named=True)
    if colon and head.upper() in IdType.__members__:  # "ID_DER_ASN1_GN:#0102", as format_identity writes the rest
        return _typed(rest.strip(), IdType[head.upper()], named=True)
    if colon and head.isalpha() and _ip(text, None) is None:  # "fqnd:moon": a typed prefix, mistyped
        known = ", ".join(f"{p}:" for p in _PREFIXES)
        raise ConfigError(f"{text!r}: {head + ':'!r} is not an identity type (known: {known}); an identity that "
                          f"holds a colon itself needs its type first, e.g. '{'email' if '@' in text else 'fqdn'}:{text}'",
                          field="id", value=text)
    if text.startswith("@"):
        if text.startswith("@#"):
            return Identity(IdType.ID_KEY_ID, _hex(text[2:], text))
        if text.startswith("@@"):
            return _typed(text[2:], IdType.ID_RFC822_ADDR)
        return _typed(text[1:], IdType.ID_FQDN)
    ip = _ip(text, None)
    if ip is not None:
        return ip
    if "=" in text:
        return Identity(IdType.ID_DER_ASN1_DN, dn_from_string(text).public_bytes())
    if "@" in text:
        return _typed(text, IdType.ID_RFC822_ADDR)
    return _typed(text, IdType.ID_FQDN)


def format_identity(id_type: IdType | int | str, data: bytes) -> str:
    """The strongSwan-style text of an identity; :func:`parse_identity` reads it back to the same value."""
    data = data if data.__class__ is bytes else check_bytes(data, "data")  # bytes (each IKE_AUTH) pass without a call
    t = id_type if id_type.__class__ is IdType else lookup(IdType, id_type, field="id_type")  # a member passes as is
    return _format_identity(t, data)


@lru_cache(maxsize=256)
def _format_identity(t: IdType, data: bytes) -> str:
    if t in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
        want = 4 if t == IdType.ID_IPV4_ADDR else 16
        if len(data) != want:
            raise ParseError(f"{t.name} data is {len(data)} octets, expected {want}", field="ID.data")
        return str(ipaddress.ip_address(data))
    if t in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR):
        # as written in a config when that reads back the same, else hex after the type ("fqdn:#e2..."): a peer's
        # ID may hold octets a name has not (non-ASCII, control characters), and those must not read back as others
        prefix = "fqdn:" if t == IdType.ID_FQDN else "email:"
        text = data.decode("ascii", "backslashreplace")
        for candidate in (text, prefix + text):
            try:
                if parse_identity(candidate) == Identity(t, data):
                    return candidate
            except IkelabError:
                pass
        return prefix + "#" + data.hex()
    if t == IdType.ID_DER_ASN1_DN:
        return dn_to_string(_load_dn(data))
    if t == IdType.ID_KEY_ID:
        return "@#" + data.hex()
    if t == IdType.ID_NULL:
        return "%null"
    return f"{t.name}:#{data.hex()}"


def matches(pattern: str, identity: Identity) -> bool:
    """Does ``identity`` match a configured ``remote_id`` pattern?

    ``%any`` matches everything; a pattern with ``*`` matches FQDN / RFC822 /
    DN text with shell-style wildcards (``*@strongswan.org``, ``C=CH, O=strongSwan, CN=*``);
    anything else must be the same identity (DNs compared attribute by attribute,
    case-insensitively).
    """
    try:
        return _matches(pattern, identity)
    except (AttributeError, TypeError):  # checked only when it fails: every IKE_AUTH checks the peer's ID
        if not isinstance(pattern, str):
            raise ConfigError(f"matches: pattern must be text such as \"*@example.com\", not {type(pattern).__name__}",
                              field="pattern", value=pattern) from None
        if not isinstance(identity, Identity):
            hint = "; parse_identity(text) makes one" if isinstance(identity, str) else ""
            raise ConfigError(f"matches: identity must be an Identity, not {type(identity).__name__}{hint}",
                              field="identity", value=identity) from None
        raise


def _matches(pattern: str, identity: Identity) -> bool:
    if pattern.strip() in ("%any", "%any6", "*"):
        return True
    if "*" in pattern:
        if identity.id_type in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR):
            text = identity.data.decode("ascii", "backslashreplace")  # the name itself, never its hex form
        else:
            text = format_identity(identity.id_type, identity.data)
        return fnmatch.fnmatchcase(text.casefold(), pattern.strip().lstrip("@").casefold())
    want = parse_identity(pattern)
    if want.id_type != identity.id_type:
        return False
    if want.id_type == IdType.ID_DER_ASN1_DN:
        return same_dn(_load_dn(want.data), _load_dn(identity.data))
    if want.id_type in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR):
        return want.data.lower() == identity.data.lower()
    if want.id_type == IdType.ID_NULL:  # no identity: octets a peer put after ID_NULL identify nothing (RFC 7619)
        return True
    return want.data == identity.data


# --------------------------------------------------------------------------- certificates


def key_id_of(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 4.2.1.2 method 1): strongSwan's key ID."""
    if not isinstance(cert, x509.Certificate):
        raise ConfigError(f"cert must be an x509.Certificate, not {type(cert).__name__}", field="cert", value=cert)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    # walk: outer SEQUENCE header, AlgorithmIdentifier TLV, then the BIT STRING TLV (skip unused-bits octet).
    def _tlv(buf: bytes, pos: int) -> tuple[int, int]:
        length = buf[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(buf[pos : pos + n], "big")
            pos += n
        return pos, length

    body, _ = _tlv(spki, 0)
    alg_start, alg_len = _tlv(spki, body)
    bits_start, bits_len = _tlv(spki, alg_start + alg_len)
    return hashlib.sha1(spki[bits_start + 1 : bits_start + bits_len]).digest()


def identity_matches_certificate(id_type: IdType | int | str, data: bytes, cert: x509.Certificate) -> bool:
    """Is the identity (IDi/IDr) one the certificate vouches for? (RFC 7296 3.5, RFC 4945 3.1)

    * ID_DER_ASN1_DN: equals the certificate's subject;
    * ID_FQDN / ID_RFC822_ADDR / ID_IPV4_ADDR / ID_IPV6_ADDR: one of the
      subjectAltName dNSName / rfc822Name / iPAddress entries;
    * ID_KEY_ID: the subjectKeyIdentifier, or the SHA-1 key ID of the public key.
    """
    t = lookup(IdType, id_type, field="id_type")
    data = check_bytes(data, "data")
    if not isinstance(cert, x509.Certificate):
        raise ConfigError(f"cert must be an x509.Certificate, not {type(cert).__name__}", field="cert", value=cert)
    if t == IdType.ID_DER_ASN1_DN:
        return same_dn(_load_dn(data), cert.subject)
    if t == IdType.ID_KEY_ID:
        ids = {key_id_of(cert)}
        try:
            ids.add(cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest)
        except x509.ExtensionNotFound:
            pass
        return data in ids
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    if t == IdType.ID_FQDN:
        want = data.decode("ascii", "replace").lower().rstrip(".")
        return any(name.lower().rstrip(".") == want for name in san.get_values_for_type(x509.DNSName))
    if t == IdType.ID_RFC822_ADDR:
        want = data.decode("ascii", "replace").lower()
        return any(name.lower() == want for name in san.get_values_for_type(x509.RFC822Name))
    if t in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
        return any(addr.packed == data for addr in san.get_values_for_type(x509.IPAddress))
    return False
