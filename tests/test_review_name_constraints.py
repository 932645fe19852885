"""Review of ikelab.name_constraints: RFC 5280 name constraints (4.2.1.10, 6.1.3 (b)-(c), 6.1.4 (g)).

References, independent of ikelab:

* the RFC's matching rule for each name form, as tables of (name, subtree, inside?) with the boundary
  cases (``badexample.com``, the first and last address of a mask, case in DNS names and mail domains);
* two verifiers over seeded random chains root -> intermediate -> leaf, nameConstraints on either CA or
  both: ``openssl verify`` (all four forms ikelab processes, and the subject's emailAddress) and
  cryptography's ``x509.verification`` (dNSName, iPAddress and rfc822Name: it refuses any critical
  directoryName constraint and skips a non-critical one, so its chains leave that form out).

Where ikelab and a reference differ, the difference is a test of its own (``test_difference_*``) asserting
each verdict as it is, so a change on any side shows.  Every certificate is built here with cryptography's
x509 builder (not with ikelab.certs).
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ikelab import cert_checks, name_constraints
from ikelab.errors import AuthenticationError
from ikelab.identity import dn_to_string
from ikelab.name_constraints import certificate_names, within

from test_review_cert_paths import _KU, END, K, NOW, OPENSSL, START, Chain, openssl_accepts, pyca_accepts
from test_review_cert_paths import ikelab_verdict as verdict  # None when ikelab accepts, else why not

needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="needs /usr/bin/openssl")

_OIDS = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
         "CN": NameOID.COMMON_NAME, "E": NameOID.EMAIL_ADDRESS}


def dn(*rdns: str) -> x509.Name:
    """``dn("O=Example", "CN=leaf")``: one RDN per argument, ``+`` joining the attributes of a multi-valued one."""
    return x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(_OIDS[k], v) for k, v in
                                                      (a.split("=", 1) for a in rdn.split("+"))]) for rdn in rdns])


def nc(permitted: list[x509.GeneralName] | None = None, excluded: list[x509.GeneralName] | None = None) -> Any:
    return x509.NameConstraints(permitted_subtrees=permitted or None, excluded_subtrees=excluded or None)


D, M, U = x509.DNSName, x509.RFC822Name, x509.UniformResourceIdentifier


def IP(text: str) -> x509.IPAddress:
    """An address (a name) or, with a ``/``, an address/mask (a subtree)."""
    return x509.IPAddress(ipaddress.ip_network(text) if "/" in text else ipaddress.ip_address(text))


def DN(*rdns: str) -> x509.DirectoryName:
    return x509.DirectoryName(dn(*rdns))


def make(subject: x509.Name, key: str, issuer: x509.Certificate | None = None, signer: str | None = None, *,
         ca: bool = False, san: list[x509.GeneralName] = (), constraints: Any = None, critical: bool = True,
         serial: int = 1) -> x509.Certificate:
    """A CA (basicConstraints, keyUsage keyCertSign, optional nameConstraints) or a leaf (keyUsage
    digitalSignature, extendedKeyUsage clientAuth, ``san``), with the key identifiers cryptography's verifier
    wants; self-signed without ``issuer``."""
    signer_key = K[signer or key]
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer.subject if issuer is not None else subject)
         .public_key(K[key].public_key()).serial_number(serial).not_valid_before(START).not_valid_after(END)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(K[key].public_key()), False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **_KU), True))
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(list(san)), False)
    if constraints is not None:
        b = b.add_extension(constraints, critical)
    return b.sign(signer_key, hashes.SHA256())


def chain(root_nc: Any = None, inter_nc: Any = None, *, san: list[x509.GeneralName] = (D("moon.example.org"),),
          leaf_dn: x509.Name = dn("CN=leaf"), inter_dn: x509.Name = dn("CN=inter"), critical: bool = True) -> Chain:
    """root -> inter -> leaf, ``root_nc`` on the trust anchor and ``inter_nc`` on the intermediate."""
    root = make(dn("CN=root"), "root", ca=True, constraints=root_nc, critical=critical)
    inter = make(inter_dn, "inter", root, "root", ca=True, constraints=inter_nc, critical=critical)
    leaf = make(leaf_dn, "leaf", inter, "inter", san=list(san))
    return leaf, [inter], [root], NOW


# ------------------------------------------------------------------------------ each form's rule (RFC 5280 4.2.1.10)

#: (name, subtree, inside?) per form; each row cites the rule it shows
WITHIN = [
    # dNSName: "adding zero or more labels to the left-hand side of the name"; case-insensitive (RFC 4343)
    (D("example.com"), D("example.com"), True),
    (D("www.example.com"), D("example.com"), True),
    (D("a.b.example.com"), D("example.com"), True),
    (D("badexample.com"), D("example.com"), False),  # a label is added, not characters
    (D("example.com.evil.net"), D("example.com"), False),
    (D("com"), D("example.com"), False),
    (D("example.com"), D("www.example.com"), False),
    (D("WWW.Example.COM"), D("example.com"), True),
    (D("www.example.com"), D("EXAMPLE.com"), True),
    (D("*.example.com"), D("example.com"), True),  # a wildcard is a label like any other here
    (D("www.example.com"), D(".example.com"), True),  # leading dot: names strictly below (OpenSSL's reading)
    (D("example.com"), D(".example.com"), False),
    (D("wwwexample.com"), D(".example.com"), False),
    (D("anything.example.net"), D(""), True),  # no label at all: every name is that name plus labels
    # rfc822Name: a mailbox, a host, or a domain (leading dot); local part case-sensitive, domain not (7.5)
    (M("alice@example.com"), M("alice@example.com"), True),
    (M("Alice@example.com"), M("alice@example.com"), False),
    (M("alice@EXAMPLE.COM"), M("alice@example.com"), True),
    (M("bob@example.com"), M("alice@example.com"), False),
    (M("alice@example.com"), M("example.com"), True),
    (M("alice@Example.Com"), M("EXAMPLE.com"), True),
    (M("alice@mail.example.com"), M("example.com"), False),  # a host is one host
    (M("alice@badexample.com"), M("example.com"), False),
    (M("alice@mail.example.com"), M(".example.com"), True),
    (M("alice@MAIL.example.COM"), M(".example.com"), True),
    (M("alice@example.com"), M(".example.com"), False),  # a domain: hosts below it, not itself
    (M("alice@badexample.com"), M(".example.com"), False),
    # '@example.com', a form 4.2.1.10 does not define: every mailbox at the host, as OpenSSL reads it
    # (permitted or excluded alike: tests/test_review_session35_names.py)
    (M("alice@example.com"), M("@example.com"), True),
    (M("Alice@EXAMPLE.com"), M("@Example.COM"), True),
    (M("alice@mail.example.com"), M("@example.com"), False),
    (M("alice@badexample.com"), M("@example.com"), False),
    # iPAddress: address/mask, the first and last address of the range, and the ones just outside
    (IP("10.0.0.0"), IP("10.0.0.0/8"), True),
    (IP("10.255.255.255"), IP("10.0.0.0/8"), True),
    (IP("9.255.255.255"), IP("10.0.0.0/8"), False),
    (IP("11.0.0.0"), IP("10.0.0.0/8"), False),
    (IP("192.0.2.127"), IP("192.0.2.128/25"), False),
    (IP("192.0.2.128"), IP("192.0.2.128/25"), True),
    (IP("192.0.2.255"), IP("192.0.2.128/25"), True),
    (IP("192.0.2.7"), IP("192.0.2.7/32"), True),
    (IP("192.0.2.8"), IP("192.0.2.7/32"), False),
    (IP("203.0.113.9"), IP("0.0.0.0/0"), True),
    (IP("2001:db8::"), IP("2001:db8::/32"), True),
    (IP("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), IP("2001:db8::/32"), True),
    (IP("2001:db9::"), IP("2001:db8::/32"), False),
    (IP("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"), IP("2001:db8::/32"), False),
    # an IPv4 subtree holds no IPv6 address (8 octets against 16, 4.2.1.10), not even an IPv4-mapped one
    (IP("10.0.0.1"), IP("::/0"), False),
    (IP("::ffff:10.0.0.1"), IP("10.0.0.0/8"), False),
    (IP("2001:db8::1"), IP("0.0.0.0/0"), False),
    # directoryName: the subtree's RDNs begin the name (compared as 7.1 asks, simplified: case-folded)
    (DN("O=Example", "CN=leaf"), DN("O=Example"), True),
    (DN("O=Example", "CN=leaf"), DN("O=Example", "CN=leaf"), True),
    (DN("O=example", "CN=leaf"), DN("O=Example"), True),
    (DN("CN=leaf", "O=Example"), DN("O=Example"), False),  # a prefix, not anywhere in the name
    (DN("O=Example"), DN("O=Example", "CN=leaf"), False),
    (DN("O=Example Lab", "CN=leaf"), DN("O=Example"), False),  # whole values, not the start of one
    (DN("O= Example   LAB ", "CN=leaf"), DN("O=example lab"), True),  # spaces folded (RFC 4518 2.6.1)
    (DN("O=ExampleLab", "CN=leaf"), DN("O=Example Lab"), False),  # but not dropped inside a value
    (DN("O=Example+OU=Lab", "CN=leaf"), DN("O=Example"), False),  # whole RDNs
    (DN("O=Example+OU=Lab", "CN=leaf"), DN("OU=Lab+O=Example"), True),  # an RDN is a set
    (DN("C=CH", "O=Example"), x509.DirectoryName(x509.Name([])), True),
    # a subtree holds names of its own form only
    (D("example.com"), M("example.com"), False),
    (M("alice@example.com"), D("example.com"), False),
]


def _id(name: x509.GeneralName) -> str:
    return dn_to_string(name.value) or "(empty DN)" if isinstance(name, x509.DirectoryName) else str(name.value)


@pytest.mark.parametrize("name, subtree, inside", WITHIN,
                         ids=[f"{type(n).__name__} {_id(n)} in {_id(s)}" for n, s, _ in WITHIN])
def test_within(name: x509.GeneralName, subtree: x509.GeneralName, inside: bool) -> None:
    assert within(name, subtree) is inside


def test_the_names_a_certificate_has() -> None:
    """4.2.1.10: the subject DN, each subjectAltName entry, and the subject's emailAddress as an rfc822Name
    (whether or not a subjectAltName is there, as OpenSSL does); an empty subject is no directoryName."""
    subject = dn("O=Example", "CN=moon", "E=moon@example.org")
    cert = make(subject, "leaf", san=[D("moon.example.org"), IP("192.0.2.1")])
    assert certificate_names(cert) == [x509.DirectoryName(subject), D("moon.example.org"), IP("192.0.2.1"),
                                       M("moon@example.org")]
    assert certificate_names(make(x509.Name([]), "leaf", san=[D("moon.example.org")])) == [D("moon.example.org")]


# --------------------------------------------------------------------------------------- chains (6.1.3, 6.1.4 (g))

ORG_OR_COM = nc([D("example.org"), D("example.com")])


def test_permitted_subtrees_intersect_down_the_path() -> None:
    """6.1.4 (g): the root permits example.org and example.com, the intermediate example.org and example.net:
    only example.org is left, and each refusal names the CA whose subtrees the name lies outside."""
    inter_nc = nc([D("example.org"), D("example.net")])
    assert verdict(chain(ORG_OR_COM, inter_nc, san=[D("moon.example.org")])) is None
    assert verdict(chain(ORG_OR_COM, inter_nc, san=[D("moon.example.net")])) == (
        "certificate 'CN=leaf' below CA 'CN=root' has dNSName 'moon.example.net', which lies outside every "
        "permitted subtree of that form in its nameConstraints (dNSName 'example.org', dNSName 'example.com'; "
        "RFC 5280 4.2.1.10, 6.1.3 (b))")
    assert "below CA 'CN=inter' has dNSName 'moon.example.com', which lies outside" in \
        verdict(chain(ORG_OR_COM, inter_nc, san=[D("moon.example.com")]))
    # every name of the form must lie inside, not just one
    assert "has dNSName 'sun.example.com'" in verdict(chain(ORG_OR_COM, inter_nc,
                                                            san=[D("moon.example.org"), D("sun.example.com")]))


def test_excluded_subtrees_add_up_down_the_path() -> None:
    """6.1.4 (g): the root excludes a.example.org, the intermediate b.example.org: both are excluded below."""
    root_nc, inter_nc = nc(excluded=[D("a.example.org")]), nc(excluded=[D("b.example.org")])
    assert verdict(chain(root_nc, inter_nc, san=[D("c.example.org")])) is None
    assert verdict(chain(root_nc, inter_nc, san=[D("x.A.example.org")])) == (
        "certificate 'CN=leaf' below CA 'CN=root' has dNSName 'x.A.example.org', which lies inside the excluded "
        "subtree dNSName 'a.example.org' of its nameConstraints (RFC 5280 4.2.1.10, 6.1.3 (c))")
    assert "below CA 'CN=inter' has dNSName 'b.example.org', which lies inside the excluded subtree" in \
        verdict(chain(root_nc, inter_nc, san=[D("b.example.org")]))


def test_an_excluded_subtree_wins_over_a_permitted_one() -> None:
    """6.1.3 (b) and (c) both hold: inside a permitted subtree but also inside an excluded one is refused."""
    both = nc([D("example.org")], [D("secret.example.org")])
    assert verdict(chain(both, san=[D("moon.example.org")])) is None
    assert "inside the excluded subtree dNSName 'secret.example.org'" in verdict(
        chain(both, san=[D("db.secret.example.org")]))


def test_the_intermediates_subject_is_checked_against_the_roots_constraints() -> None:
    """6.1.3 (b) for every certificate below the CA that is not self-issued: the intermediate's own DN too."""
    root_nc = nc([DN("O=Example")])
    ok = dict(leaf_dn=dn("O=Example", "CN=leaf"))
    assert verdict(chain(root_nc, inter_dn=dn("O=Example", "CN=inter"), **ok)) is None
    assert verdict(chain(root_nc, inter_dn=dn("O=Other", "CN=inter"), **ok)) == (
        "certificate 'O=Other, CN=inter' below CA 'CN=root' has directoryName 'O=Other, CN=inter', which lies "
        "outside every permitted subtree of that form in its nameConstraints (directoryName 'O=Example'; "
        "RFC 5280 4.2.1.10, 6.1.3 (b))")


def test_a_self_issued_intermediate_is_not_checked_but_the_leaf_is() -> None:
    """6.1.3 (b): "If certificate i is self-issued and it is not the final certificate in the path, skip this
    step".  The root permits O=Example only; its key rollover certificate (CN=root by CN=root) passes, the
    leaf below it is checked, and a self-issued leaf is checked too."""
    root = make(dn("CN=root"), "root", ca=True, constraints=nc([DN("O=Example")]))
    roll = make(dn("CN=root"), "inter", root, "root", ca=True)
    good = make(dn("O=Example", "CN=leaf"), "leaf", roll, "inter", san=[D("moon.example.org")])
    assert cert_checks.verify_chain(good, [roll], [root], now=NOW) == [good, roll, root]
    bad = make(dn("O=Other", "CN=leaf"), "leaf", roll, "inter", san=[D("moon.example.org")])
    with pytest.raises(AuthenticationError, match=r"'O=Other, CN=leaf' below CA 'CN=root' has directoryName"):
        cert_checks.verify_chain(bad, [roll], [root], now=NOW)
    self_issued_leaf = make(dn("CN=root"), "leaf", root, "root", san=[D("moon.example.org")])
    with pytest.raises(AuthenticationError, match=r"certificate 'CN=root' below CA 'CN=root' has directoryName "
                                                  r"'CN=root', which lies outside"):
        cert_checks.verify_chain(self_issued_leaf, [], [root], now=NOW)


def test_each_form_constrains_only_names_of_its_own_form() -> None:
    """4.2.1.10: a dNSName constraint says nothing about an iPAddress or rfc822Name name below, and back."""
    leaf_names = [D("moon.example.org"), IP("192.0.2.1"), M("moon@example.org")]
    for constraints in (nc([D("example.org")]), nc([IP("192.0.2.0/24")]), nc([M("example.org")]),
                        nc(excluded=[IP("10.0.0.0/8"), D("example.com"), M("example.com")])):
        assert verdict(chain(inter_nc=constraints, san=leaf_names)) is None
    assert "has iPAddress '192.0.2.1'" in verdict(chain(inter_nc=nc([IP("10.0.0.0/8")]), san=leaf_names))
    assert "has rfc822Name 'moon@example.org'" in verdict(chain(inter_nc=nc([M(".example.org")]), san=leaf_names))


def test_ipv4_and_ipv6_subtrees() -> None:
    """An IPv4-only permitted list leaves no IPv6 address permitted (the name form is iPAddress, and no IPv4
    subtree holds an IPv6 address: openssl and cryptography's verifier refuse it alike, see
    test_cryptography_and_openssl_agree_on_fixed_chains); an IPv4 excluded subtree excludes no IPv6 address."""
    v6 = [D("moon.example.org"), IP("2001:db8::1")]
    assert "has iPAddress '2001:db8::1', which lies outside" in verdict(chain(nc([IP("10.0.0.0/8")]), san=v6))
    assert verdict(chain(nc([IP("10.0.0.0/8"), IP("2001:db8::/32")]), san=v6)) is None
    assert verdict(chain(nc(excluded=[IP("0.0.0.0/0")]), san=v6)) is None


def test_the_subjects_email_address_is_an_rfc822_name() -> None:
    """4.2.1.10: rfc822Name constraints apply to the emailAddress attribute of the subject."""
    leaf_dn = dn("CN=leaf", "E=leaf@example.com")
    assert verdict(chain(nc([M("example.com")]), leaf_dn=leaf_dn)) is None
    assert "'CN=leaf, E=leaf@example.com' below CA 'CN=root' has rfc822Name 'leaf@example.com', which lies " \
           "outside" in verdict(chain(nc([M("example.org")]), leaf_dn=leaf_dn))


def _der(tag: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([tag, len(body)]) + body


#: an x400Address (GeneralName [3], RFC 5280 4.2.1.6) holding country-name CH; cryptography cannot read one
X400 = _der(0xA3, _der(0x30, _der(0x61, _der(0x13, b"CH"))))


@pytest.mark.parametrize("where", ["nameConstraints of the intermediate", "subjectAltName of the leaf"])
def test_a_name_form_cryptography_cannot_read_is_an_authentication_failure(where: str, tmp_path: Path) -> None:
    """cryptography raises UnsupportedGeneralNameType (no ValueError) for an x400Address or ediPartyName when
    the extensions are first read; before the fix it escaped verify_chain (and IKE_AUTH processing) untyped.
    Now the certificate is refused with an AuthenticationError naming it.  openssl reads such names: it
    accepts the chain with the constraint (the leaf has no x400Address) and the leaf with the name."""
    if where.startswith("nameConstraints"):
        ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.30"), _der(0x30, _der(0xA0, _der(0x30, X400))))
        root = make(dn("CN=root"), "root", ca=True)
        inter = make(dn("CN=inter"), "inter", root, "root", ca=True, constraints=ext)
        leaf, who = make(dn("CN=leaf"), "leaf", inter, "inter", san=[D("moon.example.org")]), "CN=inter"
    else:
        _, [inter], [root], _ = chain()
        san = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.17"),
                                         _der(0x30, _der(0x82, b"moon.example.org") + X400))
        leaf = (x509.CertificateBuilder().subject_name(dn("CN=leaf")).issuer_name(inter.subject)
                .public_key(K["leaf"].public_key()).serial_number(5).not_valid_before(START).not_valid_after(END)
                .add_extension(san, False).sign(K["inter"], hashes.SHA256()))
        who = "CN=leaf"
    with pytest.raises(x509.UnsupportedGeneralNameType):  # the reference: cryptography cannot read it either
        (inter if who == "CN=inter" else leaf).extensions
    with pytest.raises(AuthenticationError, match=f"certificate '{who}' has a name ikelab cannot read in its "
                                                  "extensions .*x400Address"):
        cert_checks.verify_chain(leaf, [inter], [root], now=NOW)
    if OPENSSL is not None:
        assert openssl_accepts((leaf, [inter], [root], NOW), tmp_path)


def test_a_subject_email_address_that_is_not_ascii_is_refused_below_name_constraints(tmp_path: Path) -> None:
    """An emailAddress is an IA5String (RFC 5280 4.1.2.6); one written as a UTF8String with a non-ASCII
    character cannot be an rfc822Name, which cryptography says with a ValueError: before the fix it escaped
    verify_chain untyped.  Below any nameConstraints the certificate is refused, naming it, as openssl refuses
    it (X509_V_ERR_UNSUPPORTED_NAME_SYNTAX); with no constraints above, the attribute is not looked at."""
    from cryptography.x509.name import _ASN1Type

    leaf_dn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf"),
                         x509.NameAttribute(NameOID.EMAIL_ADDRESS, "jos\u00e9@example.org", _ASN1Type.UTF8String)])
    c = chain(inter_nc=nc([D("example.org")]), leaf_dn=leaf_dn)
    assert verdict(c) == ("certificate 'CN=leaf, E=jos\u00e9@example.org' has the emailAddress "
                          "'jos\u00e9@example.org', which is not an ASCII mailbox (RFC 5280 4.1.2.6: IA5String), "
                          "so name constraints cannot be applied to it")
    if OPENSSL is not None:
        assert not openssl_accepts(c, tmp_path)
    assert verdict(chain(leaf_dn=leaf_dn)) is None


@pytest.mark.parametrize("critical", [True, False])
@pytest.mark.parametrize("subtree, name", [
    (U("example.org"), U("https://moon.example.org/")),
    (x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03a@b"),
     x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03a@b")),
    (x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4")), x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4"))),
], ids=["URI", "otherName", "registeredID"])
def test_a_form_ikelab_does_not_process_refuses_a_chain_with_such_a_name(subtree: Any, name: Any,
                                                                         critical: bool) -> None:
    """A constraint on a form ikelab does not match (4.2.1.10: "MUST either process the constraint or reject
    the certificate"; ikelab rejects for a non-critical one too, as a constraint binds whatever its
    criticality, 6.1.4 (g)), with a name of that form below: refused, saying why; permitted or excluded, even
    when the name matches the subtree exactly.  Without such a name below, the constraint is met."""
    for constraints in (nc([subtree]), nc(excluded=[subtree])):
        assert verdict(chain(inter_nc=constraints, critical=critical)) is None
        got = verdict(chain(inter_nc=constraints, critical=critical, san=[D("moon.example.org"), name]))
        assert got is not None and "below CA 'CN=inter' has " in got
        assert "which the CA's nameConstraints constrain; ikelab does not process constraints on that name " \
               "form, so it must refuse the chain (RFC 5280 4.2.1.10, 6.1.4 (g))" in got


@pytest.mark.parametrize("constraints, name, why", [
    (nc([D("example.org")]), D("moon.example.org."), "dNSName 'moon.example.org.', which is not in the preferred"),
    (nc(excluded=[D("example.com")]), D("www.example.com."), "dNSName 'www.example.com.', which is not in the"),
    (nc(excluded=[D("example.com")]), D("a..example.com"), "dNSName 'a..example.com', which is not in the preferred"),
    (nc([M("example.org")]), M("example.org"), "rfc822Name 'example.org', which is not a mailbox"),
    (nc(excluded=[M("example.com")]), M("@example.com"), "rfc822Name '@example.com', which is not a mailbox"),
])
def test_a_name_constraints_cannot_be_applied_to_is_refused(constraints: Any, name: Any, why: str) -> None:
    """4.2.1.6: a dNSName is in the preferred name syntax, an rfc822Name a mailbox.  A name that is not cannot
    be matched, and must not slip past an excluded subtree (``www.example.com.`` is ``www.example.com``)."""
    got = verdict(chain(inter_nc=constraints, san=[name]))
    assert got is not None and f"below CA 'CN=inter' has {why}" in got
    other = nc([IP("10.0.0.0/8")])  # a constraint on another form only: the name is not looked at
    assert verdict(chain(inter_nc=other, san=[name])) is None


def test_the_module_is_what_cert_checks_uses() -> None:
    """One implementation: verify_chain's issuer check calls ikelab.name_constraints."""
    assert cert_checks.check_name_constraints is name_constraints.check_name_constraints


# ------------------------------------------------------------------- the references: openssl and cryptography

#: (chain, ikelab accepts?) on which openssl and cryptography's verifier agree with ikelab
AGREED = {
    "permitted dNSName, inside": (lambda: chain(inter_nc=nc([D("example.org")])), True),
    "permitted dNSName, badexample.org": (lambda: chain(inter_nc=nc([D("example.org")]),
                                                        san=[D("badexample.org")]), False),
    "excluded dNSName, case differs": (lambda: chain(inter_nc=nc(excluded=[D("EXAMPLE.ORG")])), False),
    "IPv4-only permitted, IPv6 name": (lambda: chain(nc([IP("10.0.0.0/8")]),
                                                     san=[D("moon.example.org"), IP("2001:db8::1")]), False),
    "IPv6 excluded, IPv4 name": (lambda: chain(nc(excluded=[IP("::/0")]),
                                               san=[D("moon.example.org"), IP("10.0.0.1")]), True),
    "mailbox, local part case differs": (lambda: chain(nc([M("alice@example.com")]),
                                                       san=[D("moon.example.org"), M("Alice@example.com")]), False),
    "mail domain, host below": (lambda: chain(nc([M(".example.com")]),
                                              san=[D("moon.example.org"), M("a@MAIL.example.com")]), True),
    "dNSName with a trailing dot": (lambda: chain(nc([D("example.org")]), san=[D("moon.example.org.")]), False),
}


@pytest.mark.parametrize("case", sorted(AGREED))
def test_cryptography_and_openssl_agree_on_fixed_chains(case: str, tmp_path: Path) -> None:
    make_chain, accepted = AGREED[case]
    c = make_chain()
    assert (verdict(c) is None) is accepted
    assert pyca_accepts(c) is accepted
    if OPENSSL is not None:
        assert openssl_accepts(c, tmp_path) is accepted


@needs_openssl
def test_difference_a_leading_dot_dns_subtree(tmp_path: Path) -> None:
    """RFC 5280 does not define ``.example.com`` for dNSName; ikelab reads it as OpenSSL does (the names
    strictly below), cryptography's verifier holds no name inside it."""
    c = chain(inter_nc=nc([D(".example.org")]))
    assert verdict(c) is None and openssl_accepts(c, tmp_path) and not pyca_accepts(c)
    c = chain(inter_nc=nc([D(".example.org")]), san=[D("example.org")])
    assert verdict(c) is not None and not openssl_accepts(c, tmp_path) and not pyca_accepts(c)


@needs_openssl
def test_difference_an_empty_dns_subtree(tmp_path: Path) -> None:
    """An empty dNSName subtree: every name is it plus labels (ikelab and OpenSSL); cryptography's verifier
    refuses the constraint."""
    c = chain(inter_nc=nc([D("")]))
    assert verdict(c) is None and openssl_accepts(c, tmp_path) and not pyca_accepts(c)


@needs_openssl
@pytest.mark.parametrize("critical", [True, False])
def test_difference_directory_name_constraints(critical: bool, tmp_path: Path) -> None:
    """cryptography's verifier does not process directoryName constraints: critical, it refuses the chain
    even when the subject lies inside; not critical, it skips them.  ikelab and OpenSSL match them."""
    inside = chain(nc([DN("O=Example")]), leaf_dn=dn("O=Example", "CN=leaf"), inter_dn=dn("O=Example", "CN=i"),
                   critical=critical)
    outside = chain(nc([DN("O=Example")]), leaf_dn=dn("O=Other", "CN=leaf"), inter_dn=dn("O=Example", "CN=i"),
                    critical=critical)
    assert verdict(inside) is None and openssl_accepts(inside, tmp_path)
    assert verdict(outside) is not None and not openssl_accepts(outside, tmp_path)
    assert pyca_accepts(inside) is pyca_accepts(outside) is (not critical)


@needs_openssl
def test_difference_the_subjects_email_address(tmp_path: Path) -> None:
    """cryptography's verifier does not look at the subject's emailAddress; ikelab and OpenSSL do (4.2.1.10)."""
    c = chain(nc(excluded=[M("example.com")]), leaf_dn=dn("CN=leaf", "E=leaf@example.com"))
    assert verdict(c) is not None and not openssl_accepts(c, tmp_path) and pyca_accepts(c)


@needs_openssl
def test_difference_an_excluded_mailbox_in_another_case(tmp_path: Path) -> None:
    """RFC 5280 7.5 keeps the local part case-sensitive, so for openssl and cryptography's verifier an excluded
    alice@example.com does not exclude Alice@example.com.  ikelab.identity matches an ID_RFC822_ADDR against the
    certificate's rfc822Name case-insensitively, though: such a leaf would authenticate as alice@example.com,
    the excluded mailbox.  So ikelab excludes it (a permitted mailbox stays case-sensitive)."""
    from ikelab.identity import identity_matches_certificate

    c = chain(nc(excluded=[M("alice@example.com")]), san=[D("moon.example.org"), M("Alice@example.com")])
    assert identity_matches_certificate("ID_RFC822_ADDR", b"alice@example.com", c[0])
    assert "has rfc822Name 'Alice@example.com', which lies inside the excluded subtree rfc822Name " \
           "'alice@example.com'" in verdict(c)
    assert openssl_accepts(c, tmp_path) and pyca_accepts(c)


@needs_openssl
def test_difference_a_uri_inside_a_uri_subtree(tmp_path: Path) -> None:
    """ikelab does not match URIs, so it refuses (as cryptography's verifier does); OpenSSL matches the host."""
    c = chain(nc([U("example.org")]), san=[D("moon.example.org"), U("https://example.org/")])
    assert verdict(c) is not None and openssl_accepts(c, tmp_path) and not pyca_accepts(c)


@needs_openssl
def test_difference_a_common_name_that_looks_like_a_host(tmp_path: Path) -> None:
    """With no dNSName in the subjectAltName, OpenSSL checks dNSName constraints against a CN that looks like a
    host name (a web-browser habit); RFC 5280 constrains subjectAltName dNSNames only, and an IKE peer's CN
    is not its FQDN identity, so ikelab (like cryptography's verifier) does not."""
    c = chain(nc([D("example.com")]), leaf_dn=dn("CN=moon.example.org"), san=[IP("192.0.2.1")])
    assert verdict(c) is None and pyca_accepts(c) and not openssl_accepts(c, tmp_path)


# seeded random chains: pools of names and subtrees around the boundaries of each form
DNS_SUBTREES = ["example.com", "example.org", "sub.example.com", "ample.com", "EXAMPLE.com", ".example.com",
                ".sub.example.com"]
DNS_NAMES = ["example.com", "www.example.com", "badexample.com", "a.sub.example.com", "WWW.Example.COM",
             "example.org", "x.example.org", "sub.example.com"]
IP_SUBTREES = ["10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "192.0.2.128/25", "192.0.2.7/32", "0.0.0.0/0",
               "2001:db8::/32", "2001:db8:1::/48", "::/0"]
IP_NAMES = ["10.0.0.1", "10.1.2.3", "11.0.0.1", "9.255.255.255", "192.0.2.7", "192.0.2.127", "192.0.2.128",
            "192.0.2.255", "2001:db8::1", "2001:db8:1::5", "2001:db9::1"]
#: no two mailboxes that differ in the case of the local part only: see test_difference_an_excluded_mailbox
MAIL_SUBTREES = ["example.com", ".example.com", "alice@example.com", "bob@Mail.example.com", "EXAMPLE.org",
                 "mail.example.com"]
MAIL_NAMES = ["alice@example.com", "Carol@example.com", "alice@EXAMPLE.COM", "bob@mail.example.com",
              "carol@example.org", "eve@badexample.com"]
DN_SUBTREES = [("O=Example",), ("O=Example", "OU=Lab"), ("O=example",), ("O=Other",), ("O=Example", "OU=Ops"),
               ("O=Example  Lab ",), ("O=example lab",)]


def _subtree(rng: random.Random, forms: str) -> x509.GeneralName:
    form = rng.choice([f for f in forms if f in "dimn"])
    if form == "d":
        return D(rng.choice(DNS_SUBTREES if "." in forms else [s for s in DNS_SUBTREES if not s.startswith(".")]))
    if form == "i":
        return IP(rng.choice(IP_SUBTREES))
    if form == "m":
        return M(rng.choice(MAIL_SUBTREES))
    return DN(*rng.choice(DN_SUBTREES))


def _constraints(rng: random.Random, forms: str) -> Any:
    if rng.random() < 0.3:
        return None
    permitted = [_subtree(rng, forms) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
    excluded = [_subtree(rng, forms) for _ in range(rng.choice([0, 0, 1, 2]))]
    return nc(permitted, excluded) if permitted or excluded else nc([_subtree(rng, forms)])


def random_chain(rng: random.Random, forms: str) -> Chain:
    """``forms``: the constrained forms to draw from (d, i, m, n for directoryName; "." allows leading-dot
    dNSName subtrees, "e" an emailAddress in the leaf's subject)."""
    org = rng.choice(["Example", "example", "Other", "Example Lab", " EXAMPLE   lab", "ExampleLab"])
    leaf_rdns = [f"O={org}"] + rng.choice([[], ["OU=Lab"], ["OU=Ops"]]) + ["CN=leaf"]
    if "e" in forms and rng.random() < 0.3:
        leaf_rdns.append(f"E={rng.choice(MAIL_NAMES)}")
    san = [rng.choice([lambda: D(rng.choice(DNS_NAMES)), lambda: IP(rng.choice(IP_NAMES)),
                       lambda: M(rng.choice(MAIL_NAMES))])() for _ in range(rng.choice([1, 2, 3]))]
    critical = rng.random() < 0.7
    leaf, pool, anchors, now = chain(_constraints(rng, forms), _constraints(rng, forms), san=san,
                                     leaf_dn=dn(*leaf_rdns), inter_dn=dn(f"O={rng.choice(['Example', 'Other'])}",
                                                                         "CN=inter"), critical=critical)
    if rng.random() < 0.4:  # a second intermediate, with constraints of its own: three levels
        # half of them self-issued (a key rollover of inter: its name is not checked, 6.1.3 (b))
        subject = pool[0].subject if rng.random() < 0.5 else dn(f"O={rng.choice(['Example', 'Other'])}", "CN=inter2")
        inter2 = make(subject, "inter2", pool[0], "inter", ca=True, constraints=_constraints(rng, forms),
                      critical=critical)
        leaf = make(leaf.subject, "leaf", inter2, "inter2", san=san)
        pool = [inter2] + pool
    return leaf, pool, anchors, now


def _constraints_of(ca: x509.Certificate) -> Any:
    try:
        return ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


def _differential(forms: str, seed: int, count: int, reference: Any) -> None:
    """ikelab's verdict equals the reference's on every chain; both verdicts occur often enough to mean
    something."""
    rng = random.Random(seed)
    wrong, accepted = [], 0
    for i in range(count):
        c = random_chain(rng, forms)
        mine, theirs = verdict(c) is None, reference(c)
        accepted += mine
        if mine != theirs:
            cas = " / ".join(f"{ca.subject.rfc4514_string()} {_constraints_of(ca)}" for ca in c[1] + c[2])
            wrong.append(f"#{i}: ikelab {mine}, reference {theirs}: leaf {c[0].subject.rfc4514_string()} "
                         f"{certificate_names(c[0])}; CAs upwards {cas}; ikelab: {verdict(c)}")
    assert not wrong, "\n".join(wrong)
    assert count // 5 < accepted < count - count // 5, accepted


@needs_openssl
def test_openssl_agrees_on_random_chains(tmp_path: Path) -> None:
    """All four forms, leading-dot dNSName subtrees and the subject's emailAddress."""
    _differential("dimn.e", seed=5280, count=300, reference=lambda c: openssl_accepts(c, tmp_path))


def test_cryptography_agrees_on_random_chains() -> None:
    """dNSName, iPAddress and rfc822Name: the forms cryptography's verifier processes as RFC 5280 does."""
    _differential("dim", seed=4945, count=400, reference=pyca_accepts)


# ------------------------------------------------------------------- odd names never escape as another error

def _buildable_mail(value: str) -> bool:
    try:
        M(value)
    except ValueError:  # cryptography's own check (email.utils.parseaddr): no such certificate can be built
        return False
    return True


_ODD = st.text(alphabet="aA.-*@ 0_", max_size=12)
_RANGE = st.ip_addresses(v=4).map(lambda a: IP(f"{a}/{32 - int(a) % 3}" if int(a) % 4 == 0 else f"{a}/32"))
_DN = st.text(alphabet="aA -", min_size=1, max_size=6).map(lambda v: DN(f"O={v}"))
_MAIL = _ODD.filter(_buildable_mail).map(M)
_ODD_SUBTREE = st.one_of(_ODD.map(lambda v: D(v.replace("*", ""))),  # cryptography builds no "*" subtree
                         _MAIL, _RANGE, st.ip_addresses(v=6).map(lambda a: IP(f"{a}/128")), _DN)
_ODD_NAME = st.one_of(_ODD.map(D), _MAIL, st.ip_addresses().map(x509.IPAddress), _RANGE, _DN)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(permitted=st.lists(_ODD_SUBTREE, max_size=3), excluded=st.lists(_ODD_SUBTREE, max_size=2),
       san=st.lists(_ODD_NAME, min_size=1, max_size=3), org=st.text(alphabet="aA -", min_size=1, max_size=6))
def test_odd_names_and_subtrees_give_a_verdict_not_a_crash(permitted: list[Any], excluded: list[Any],
                                                             san: list[Any], org: str) -> None:
    """Whatever names (empty labels, stray @, address ranges in a subjectAltName, spaces in a DN) the leaf
    and the CA's subtrees hold, verify_chain accepts or raises AuthenticationError (verdict lets nothing else
    through): a peer's odd certificate must not crash IKE_AUTH processing."""
    assume(permitted or excluded)
    c = chain(inter_nc=nc(permitted, excluded), san=san, leaf_dn=dn(f"O={org}", "CN=leaf"))
    got = verdict(c)
    if got is not None:
        assert "certificate '" in got and "CA 'CN=inter'" in got, got
