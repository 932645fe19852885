"""Distinguished names written as strongSwan writes them, and DN matching (RFC 5280 7.1).

A configured ID_DER_ASN1_DN identity (RFC 7296 3.5) is text such as
``C=CH, O=strongSwan, CN=moon``: strongSwan's syntax (``swanctl.conf``), whose
RDNs come in the order of the DER encoding, first RDN first.  That is the
reverse of an RFC 4514 string (``CN=moon,O=strongSwan,C=CH``), which
:mod:`ikelab.dn` reads and writes for the packet list.

* :func:`dn_from_string` / :func:`dn_to_string`: text <-> :class:`x509.Name`,
  values typed as strongSwan's ``atodn`` types them (PrintableString when every
  character allows it, else UTF8String; IA5String for ``E``);
* :func:`dn_key` / :func:`same_dn`: whether two DNs name the same entity, as a
  certificate path chains issuer to subject (RFC 5280 7.1).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .errors import ConfigError

__all__ = ["dn_from_string", "dn_key", "dn_to_string", "same_dn"]

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
