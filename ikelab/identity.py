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

DN text and DN matching live in :mod:`ikelab.dn_strongswan` (their names are
importable from here too), the DER reader in :mod:`ikelab.dn`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .constants import IdType, lookup
from .dn import der_to_name, read_tlv
from .dn_strongswan import dn_from_string, dn_key, dn_to_string, same_dn
from .errors import ConfigError, IkelabError, ParseError
from .wire import check_bytes

__all__ = ["Identity", "dn_from_string", "dn_key", "dn_to_string", "format_identity", "id_body",
           "identity_matches_certificate", "key_id_of", "matches", "parse_identity", "same_dn"]

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
            der_to_name(data)
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
        return dn_to_string(der_to_name(data))
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
        return same_dn(der_to_name(want.data), der_to_name(identity.data))
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
    _, body, end = read_tlv(spki, 0, len(spki), 0, "cert")
    _, _, algorithm_end = read_tlv(spki, body, end, 0, "cert")
    _, bits_start, bits_end = read_tlv(spki, algorithm_end, end, 0, "cert")
    return hashlib.sha1(spki[bits_start + 1 : bits_end]).digest()  # after the BIT STRING's unused-bits octet


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
        return same_dn(der_to_name(data), cert.subject)
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
    if t in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):  # an entry with a mask (a range: RFC 5280 4.2.1.6
        # allows none in subjectAltName) is no address: it vouches for none, and must not crash the check
        return any(isinstance(addr, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and addr.packed == data
                   for addr in san.get_values_for_type(x509.IPAddress))
    return False
