"""Identities at their edges: DN strings (RFC 4514), DN DER (X.501), IDs against certificates (RFC 4945 3.1).

The references are independent of ikelab: ``cryptography``'s x509 Name encoder and RFC 4514 printer,
its SubjectKeyIdentifier (RFC 5280 4.2.1.2 method 1), and the examples of RFC 4514 section 4.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from ikelab.certs import ec_key_from_seed
from ikelab.constants import IdType, PayloadType
from ikelab.dn import check_dn, der_to_rfc4514
from ikelab.errors import ConfigError, ParseError
from ikelab.identity import Identity, format_identity, identity_matches_certificate, key_id_of, matches, parse_identity
from ikelab.payloads import IDi, decode_chain
from ikelab.wire import DecodeContext

CA_KEY = ec_key_from_seed("identity edges CA")
KEY = ec_key_from_seed("identity edges leaf")


def _leaf(san: list[x509.GeneralName], *, ski: bool = True, subject: str = "CN=moon") -> x509.Certificate:
    """An end-entity certificate made with cryptography's builder, with these subjectAltNames."""
    serial = int.from_bytes(hashlib.sha256(subject.encode()).digest()[:8], "big")
    builder = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string(subject))
               .issuer_name(x509.Name.from_rfc4514_string("CN=identity edges CA"))
               .public_key(KEY.public_key()).serial_number(serial)
               .not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
               .not_valid_after(datetime(2035, 1, 1, tzinfo=timezone.utc)))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(KEY.public_key()), critical=False)
    return builder.sign(CA_KEY, hashes.SHA256())


# --------------------------------------------------------------------------- RFC 4514 strings


@pytest.mark.parametrize("value", ["a#b", "#ab", "a,b", " a", "a ", "a+b", 'a"b', "a;b<c>d\\e", "a\x00b", "Zürich"])
def test_rfc4514_escaping_is_cryptographys(value):
    """RFC 4514 2.4: escape '"+,;<>\\', '#' only at the start, a space only at the start or the end, NUL as
    \\00 -- as cryptography's Name.rfc4514_string() does for the same name."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])
    assert der_to_rfc4514(name.public_bytes()) == name.rfc4514_string()


@pytest.mark.parametrize("kind", [_ASN1Type.UTF8String, _ASN1Type.BMPString, _ASN1Type.UniversalString,
                                  _ASN1Type.PrintableString, _ASN1Type.IA5String])
def test_directory_string_types_decode_to_the_same_text(kind):
    """X.520 DirectoryString: BMPString is UCS-2 big-endian, UniversalString UCS-4 big-endian (X.690 8.23);
    every string type prints the characters it holds (cryptography encodes them)."""
    value = "moon" if kind in (_ASN1Type.PrintableString, _ASN1Type.IA5String) else "Zürich"
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, value, _type=kind)])
    der = name.public_bytes()
    assert der_to_rfc4514(der) == name.rfc4514_string() == f"O={value}"
    assert IDi(IdType.ID_DER_ASN1_DN, der).value == f"O={value}"


def test_rfc4514_examples():
    """RFC 4514 4: 'UID=jsmith,DC=example,DC=net', and an unrecognised type whose value is the BER of an OCTET
    STRING holding 0x48 0x69: '1.3.6.1.4.1.1466.0=#04024869' (2.4: '#' and the hex of the BER encoding)."""
    simple = "UID=jsmith,DC=example,DC=net"
    assert der_to_rfc4514(x509.Name.from_rfc4514_string(simple).public_bytes()) == simple
    # SEQUENCE { SET { SEQUENCE { OID 1.3.6.1.4.1.1466.0, OCTET STRING "Hi" } } }
    oid = bytes.fromhex("06082b06010401" "8b3a" "00")
    assert x509.ObjectIdentifier("1.3.6.1.4.1.1466.0").dotted_string == "1.3.6.1.4.1.1466.0"
    atv = bytes([0x30, len(oid) + 4]) + oid + bytes.fromhex("04024869")
    der = bytes([0x30, len(atv) + 2, 0x31, len(atv)]) + atv
    assert der_to_rfc4514(der) == "1.3.6.1.4.1.1466.0=#04024869"


def test_oids_under_joint_iso_itu_t_with_a_large_second_arc():
    """X.690 8.19.4: the first subidentifier is 40 * X + Y, so 2.999 is the single value 1079 (0x88 0x37);
    the DN printer shows the dotted OID cryptography reads from the same DER."""
    oid = x509.ObjectIdentifier("2.999.1")
    der = x509.Name([x509.NameAttribute(oid, "x")]).public_bytes()
    assert bytes.fromhex("0603883701") in der  # cryptography's encoding of 2.999.1
    assert der_to_rfc4514(der) == "2.999.1=#0c0178"  # UTF8String "x", as RFC 4514 2.4 prints an OID's value


# --------------------------------------------------------------------------- DN DER


def test_an_empty_rdn_is_malformed():
    """X.501: RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue; an empty SET in an
    ID_DER_ASN1_DN is malformed, in the IDi payload as on its own (RFC 7296 3.5)."""
    der = bytes.fromhex("30023100")
    with pytest.raises(ParseError):
        check_dn(der)
    chain = bytes([0, 0, 0, 8 + len(der), IdType.ID_DER_ASN1_DN, 0, 0, 0]) + der
    with pytest.raises(ParseError) as err:
        decode_chain(PayloadType.IDi, chain, 0, len(chain), DecodeContext())
    assert err.value.field == "IDi.id_data"


def test_bytes_after_the_dn_are_not_the_same_identity():
    """RFC 7296 3.5: ID_DER_ASN1_DN data is the DER of one Name; a DN with an octet after it is malformed,
    not the certificate's subject (RFC 4945 3.1.5)."""
    cert = _leaf([], subject="CN=moon,O=strongSwan,C=CH")
    subject = cert.subject.public_bytes()
    assert identity_matches_certificate(IdType.ID_DER_ASN1_DN, subject, cert)
    for bad in (subject + b"\x00", subject + bytes.fromhex("3100")):
        with pytest.raises(ParseError):
            identity_matches_certificate(IdType.ID_DER_ASN1_DN, bad, cert)
        with pytest.raises(ParseError):
            format_identity(IdType.ID_DER_ASN1_DN, bad)


def test_strongswan_dn_text_escapes_a_comma():
    """strongSwan's DN syntax escapes a separator with a backslash: 'O=Acme\\, Inc.' is one attribute, encoded
    as cryptography encodes that Name (PrintableString allows ',' and '.'), and printed back escaped."""
    text = "C=CH, O=Acme\\, Inc., CN=moon"
    expected = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CH", _type=_ASN1Type.PrintableString),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme, Inc.", _type=_ASN1Type.PrintableString),
        x509.NameAttribute(NameOID.COMMON_NAME, "moon", _type=_ASN1Type.PrintableString),
    ]).public_bytes()
    ident = parse_identity(text)
    assert ident.id_type == IdType.ID_DER_ASN1_DN and ident.data == expected
    assert format_identity(ident.id_type, ident.data) == text
    assert parse_identity(format_identity(ident.id_type, ident.data)) == ident


@pytest.mark.parametrize("id_type", [IdType.ID_FQDN, IdType.ID_RFC822_ADDR])
@pytest.mark.parametrize("data, hexed", [
    ("caf\u00e9.example".encode(), True),  # UTF-8 a peer may send, though RFC 7296 3.5 says ASCII
    (b"moon\x00.example", True),  # a terminator 3.5 forbids
    (b" moon.example", True),  # parse_identity strips the space a config line may carry
    (b"", True),
    (b"moon\\x41.example", False),  # a backslash and 'x41' are ASCII: written as they are
])
def test_a_peers_odd_name_is_written_so_that_it_reads_back_the_same(id_type: IdType, data: bytes,
                                                                     hexed: bool) -> None:
    """format_identity is what events, dissections and figures show of a peer's IDi/IDr.  Octets that no
    configured name spells are written as hex after the type, strongSwan's 'fqdn:#...', so that two IDs
    never print alike and the text reads back to the octets sent; before, 'caf\\xc3\\xa9' read back as
    a backslash and hex digits, and an empty or space-led name did not read back at all."""
    text = format_identity(id_type, data)
    prefix = "fqdn:" if id_type == IdType.ID_FQDN else "email:"
    assert text.startswith(prefix + "#") == hexed
    if hexed:
        assert text == prefix + "#" + data.hex()
    assert parse_identity(text) == Identity(id_type, data)


def test_hex_after_a_type_is_read_only_where_the_type_is_written() -> None:
    """'#' and hex stand for octets after 'fqdn:' or 'email:' (or with id_type=) only; an untyped '#ab' is still the
    FQDN '#ab' it always was, and '#' followed by what is not hex is a ConfigError naming it."""
    assert parse_identity("fqdn:#6d6f6f6e") == Identity(IdType.ID_FQDN, b"moon")
    assert parse_identity("#6d6f6f6e", id_type="ID_RFC822_ADDR") == Identity(IdType.ID_RFC822_ADDR, b"moon")
    assert parse_identity("#ab") == Identity(IdType.ID_FQDN, b"#ab")
    with pytest.raises(ConfigError, match="'zz' is not hex"):
        parse_identity("email:#zz")


def test_a_wildcard_matches_the_name_a_peer_sent_not_its_hex_form() -> None:
    """remote_id '*.example' compares with the name's own characters (non-ASCII octets escaped), as before."""
    odd = Identity(IdType.ID_FQDN, "caf\u00e9.example".encode())
    assert matches("*.example", odd) and not matches("*.org", odd) and not matches("fqdn:#*", odd)


# --------------------------------------------------------------------------- IDs against the certificate


@pytest.mark.parametrize("subject, matched", [
    ("CN=moon+O=strongSwan", True),  # the same one multi-valued RDN, its attributes in another order
    ("O=strongSwan+CN=moon", True),
    ("CN=moon,O=strongSwan", False),  # two RDNs, not one
    ("O=strongSwan,CN=moon", False),
    ("CN=moon", False),
])
def test_a_dn_matches_rdn_by_rdn(subject: str, matched: bool) -> None:
    """RFC 5280 7.1: DNs match when they have as many RDNs, in the same order, each with the same attributes in
    any order.  The ID is the one RDN 'CN=moon+O=strongSwan' (built with cryptography); a certificate whose subject
    spreads the same attributes over two RDNs is not the ID's, in either order (before, the RDNs were flattened
    and 'O=strongSwan, CN=moon' matched)."""
    ident = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "moon"),
                                                       x509.NameAttribute(NameOID.ORGANIZATION_NAME, "strongSwan")])])
    cert = _leaf([], subject=subject)
    assert identity_matches_certificate(IdType.ID_DER_ASN1_DN, ident.public_bytes(), cert) is matched
    if "+" not in subject:  # a remote_id in strongSwan's DN syntax, which has no multi-valued RDNs
        assert matches(subject, Identity(IdType.ID_DER_ASN1_DN, ident.public_bytes())) is matched


@pytest.mark.parametrize("configured, matched", [
    ("C=CH, O=strongSwan, CN=moon", True),
    ("c=ch, o=STRONGSWAN, cn=Moon", True),  # case (RFC 4518 2.2)
    ("C=CH, O=strong  Swan, CN=moon", False),  # an inner space is part of the value
])
def test_a_dn_id_is_matched_as_certificate_paths_chain_names(configured: str, matched: bool) -> None:
    """RFC 5280 7.1: an ID_DER_ASN1_DN the peer sends matches a configured DN, and its certificate's subject,
    after the same preparation as a certificate path chains issuer names (``identity.same_dn``): case, runs of
    spaces, spaces at either end and the string type do not count.  The peer's DN here is spelled with a
    UTF8String, spaces at either end of O and two inside CN's value 'mo  on' is not 'moon'."""
    from cryptography.x509.name import _ASN1Type
    from ikelab.identity import dn_from_string, same_dn

    sent = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CH", _type=_ASN1Type.PrintableString),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "  strongSwan ", _type=_ASN1Type.UTF8String),
                      x509.NameAttribute(NameOID.COMMON_NAME, "MOON", _type=_ASN1Type.UTF8String)])
    ident = Identity(IdType.ID_DER_ASN1_DN, sent.public_bytes())
    assert matches(configured, ident) is matched
    cert = _leaf([], subject=dn_from_string(configured).rfc4514_string())
    assert identity_matches_certificate(IdType.ID_DER_ASN1_DN, sent.public_bytes(), cert) is matched
    assert same_dn(sent, cert.subject) is matched and same_dn(cert.subject, sent) is matched


def test_an_fqdn_matches_a_whole_dnsname_only():
    """RFC 4945 3.1.2: ID_FQDN is matched against a dNSName subjectAltName; 'strongswan.org' is not
    'moon.strongswan.org' (and neither is a name that only ends the same way)."""
    cert = _leaf([x509.DNSName("moon.strongswan.org")])
    assert identity_matches_certificate(IdType.ID_FQDN, b"moon.strongswan.org", cert)
    assert identity_matches_certificate(IdType.ID_FQDN, b"MOON.strongswan.org.", cert)  # DNS names: no case, root dot
    for other in (b"strongswan.org", b"oon.strongswan.org", b"org"):
        assert not identity_matches_certificate(IdType.ID_FQDN, other, cert), other


def test_each_id_type_matches_its_own_subjectaltname_type():
    """RFC 4945 3.1: ID_FQDN <-> dNSName, ID_RFC822_ADDR (USER_FQDN) <-> rfc822Name, ID_IPV4_ADDR / ID_IPV6_ADDR
    <-> iPAddress of that length.  The same octets under another type do not match."""
    cert = _leaf([x509.RFC822Name("moon@strongswan.org"), x509.IPAddress(ipaddress.ip_address("2001:db8::1"))])
    assert identity_matches_certificate(IdType.ID_RFC822_ADDR, b"moon@strongswan.org", cert)
    assert not identity_matches_certificate(IdType.ID_FQDN, b"moon@strongswan.org", cert)
    v6 = bytes.fromhex("20010db8000000000000000000000001")
    assert identity_matches_certificate(IdType.ID_IPV6_ADDR, v6, cert)
    # 32.1.13.184 is the first four octets of 2001:db8::1: an IPv4 ID is not an IPv6 address
    assert not identity_matches_certificate(IdType.ID_IPV4_ADDR, v6[:4], cert)
    ident = parse_identity("32.1.13.184")
    assert (ident.id_type, ident.data) == (IdType.ID_IPV4_ADDR, v6[:4])


@pytest.mark.parametrize("with_ski", [True, False], ids=["with-ski", "without-ski"])
def test_key_id_is_the_sha1_of_the_subject_public_key(with_ski):
    """ID_KEY_ID against a certificate: its key identifier, RFC 5280 4.2.1.2 method 1 (SHA-1 of the
    subjectPublicKey BIT STRING value, without tag, length and unused-bits octet), as cryptography computes it;
    a certificate without the subjectKeyIdentifier extension still has that key ID (strongSwan's)."""
    cert = _leaf([x509.DNSName("moon.strongswan.org")], ski=with_ski)
    reference = x509.SubjectKeyIdentifier.from_public_key(KEY.public_key()).digest
    assert key_id_of(cert) == reference
    assert identity_matches_certificate(IdType.ID_KEY_ID, reference, cert)
    assert not identity_matches_certificate(IdType.ID_KEY_ID, hashlib.sha1(reference).digest(), cert)


# --------------------------------------------------------------------------- ID payload


def test_an_empty_fqdn_is_not_an_identity():
    """RFC 7296 3.5: ID_FQDN is 'a fully-qualified domain name string' and ID_RFC822_ADDR 'a fully-qualified
    RFC 822 email address string': zero octets is neither, on the wire or when building the payload."""
    for id_type in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR):
        chain = bytes([0, 0, 0, 8, id_type, 0, 0, 0])
        with pytest.raises(ParseError) as err:
            decode_chain(PayloadType.IDi, chain, 0, len(chain), DecodeContext())
        assert err.value.field == "IDi.id_data"
        with pytest.raises(ConfigError):
            IDi(id_type, b"").encode()


def test_a_key_id_that_is_not_utf8_text_is_a_config_error() -> None:
    """``--id keyid:...`` with bytes that are not UTF-8 reaches parse_identity as lone surrogates; str.encode
    failed with a traceback where the other ID types said what was wrong."""
    import os

    from ikelab.errors import ConfigError
    from ikelab.identity import parse_identity

    with pytest.raises(ConfigError, match="is not valid UTF-8 text for ID_KEY_ID"):
        parse_identity("keyid:" + os.fsdecode(b"a\xff"))
    assert parse_identity("keyid:café").data == "café".encode()
