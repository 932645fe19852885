"""Regressions of session 35 on names: rfc822Name subtrees RFC 5280 does not define, and multi-valued RDNs.

1. rfc822Name nameConstraints (RFC 5280 4.2.1.10 defines a mailbox, a host, a domain with a leading dot).
   ``@example.com`` is none of them; ikelab read it, excluded, as every mailbox at that host, as OpenSSL
   does, but permitted as no mailbox at all, so the same subtree meant two things.  Now it holds the same
   mailboxes both ways, as ``openssl verify`` reads it (the reference here; cryptography's verifier refuses
   any chain with such a subtree, which is not a verdict on its meaning).  A subtree whose host is empty
   (``""``, ``"."``, ``"@"``, ``"alice@"``) or with a dot after its ``@`` (``@.example.com``, which OpenSSL
   compares with the host as written) holds no mailbox one can name: ikelab read an excluded ``@.example.com``
   as the domain, a permitted one as nothing.  Now a chain constrained by one is refused, saying so, when
   an rfc822Name lies below (4.2.1.10: "MUST either process the constraint or reject the certificate");
   openssl's verdict is the same refusal where it permits nothing, and it passes what it excludes nothing of.

2. ``identity.dn_to_string`` printed a multi-valued RDN (RFC 4514 2.2: ``CN=a+OU=b``) as two RDNs, and
   ``dn_from_string`` had no syntax for one, so printing then parsing gave another name under RFC 5280 7.1
   (``same_dn``) and an ID_DER_ASN1_DN written as ``format_identity`` prints it did not match the
   certificate.  Now the attributes of an RDN are joined with '+', and a '+' that starts ``KEY=`` separates
   them when read.  strongSwan 5.9.8 has no such syntax: checked by hand with libstrongswan's
   ``identification_create_from_string`` and its ``%Y`` printer, it reads ``CN=a+OU=b`` as one CN whose value
   is ``a+OU=b``, and prints a multi-valued RDN flattened (``O=Ex, CN=a, OU=b``, what ikelab printed before).
   So a '+' not followed by ``KEY=`` stays part of the value (``CN=C++ devs`` reads and prints as strongSwan
   does), and one that is, inside a value, is escaped ``\\+``.  The reference for the syntax is
   cryptography's RFC 4514 reader and writer, where the two syntaxes agree (RDN by RDN).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab import certs
from ikelab.constants import IdType
from ikelab.errors import ConfigError
from ikelab.identity import (Identity, dn_from_string, dn_to_string, format_identity,
                             identity_matches_certificate, matches, parse_identity, same_dn)
from ikelab.name_constraints import within

from test_review_cert_paths import NOW, openssl_accepts, pyca_accepts
from test_review_name_constraints import D, M, _der, chain, dn, make, nc, needs_openssl, verdict

# ------------------------------------------------------------------ 1. rfc822Name subtrees RFC 5280 leaves out

MAILBOXES = ["carol@example.com", "Carol@EXAMPLE.COM", "carol@mail.example.com", "carol@example.org",
             "carol@badexample.com"]


@needs_openssl
@pytest.mark.parametrize("subtree", ["@example.com", "@Example.COM"])
@pytest.mark.parametrize("mailbox", MAILBOXES)
def test_a_permitted_at_host_subtree_permits_what_openssl_permits(subtree: str, mailbox: str,
                                                                   tmp_path: Path) -> None:
    """Every mailbox at the host, whatever the case of the host, and no other host (before: none at all)."""
    c = chain(inter_nc=nc([M(subtree)]), san=[D("moon.example.org"), M(mailbox)])
    at_host = mailbox.lower().endswith("@example.com")
    assert openssl_accepts(c, tmp_path) is at_host
    why = verdict(c)
    assert (why is None) is at_host, why
    if not at_host:
        assert f"has rfc822Name '{mailbox}', which lies outside every permitted subtree of that form in its " \
               f"nameConstraints (rfc822Name '{subtree}'" in why


@needs_openssl
@pytest.mark.parametrize("mailbox", MAILBOXES)
def test_permitted_and_excluded_read_an_at_host_subtree_alike(mailbox: str, tmp_path: Path) -> None:
    """A mailbox a permitted ``@example.com`` lets pass is one the excluded subtree refuses, and back; openssl
    gives both verdicts too.  The CA is made with ikelab.certs.make_ca, as a lesson would make it."""
    root_key, ca_key = certs.ec_key_from_seed(b"s35 root"), certs.ec_key_from_seed(b"s35 ca")
    root = certs.make_ca("CN=s35 root", root_key)
    verdicts = {}
    for kind in ("permitted", "excluded"):
        ca = certs.make_ca("CN=s35 ca", ca_key, issuer=root, issuer_key=root_key, **{kind: ["@example.com"]})
        assert ca.extensions.get_extension_for_class(x509.NameConstraints).value == \
            nc(**{kind: [M("@example.com")]})
        leaf = certs.make_leaf(ca, ca_key, "CN=carol", certs.ec_key_from_seed(b"s35 carol"), san=[mailbox])
        c = (leaf, [ca], [root], NOW)
        verdicts[kind] = verdict(c) is None
        assert verdicts[kind] is openssl_accepts(c, tmp_path)
    assert verdicts["permitted"] is not verdicts["excluded"]
    assert within(M(mailbox), M("@example.com")) is verdicts["permitted"]


def _raw_nc(value: bytes, excluded: bool) -> x509.UnrecognizedExtension:
    """nameConstraints with one rfc822Name subtree written octet by octet: cryptography's RFC822Name refuses
    to build ``""``, ``"@"`` or ``"alice@"``, but reads them in a certificate."""
    subtrees = _der(0xA1 if excluded else 0xA0, _der(0x30, _der(0x81, value)))
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.30"), _der(0x30, subtrees))


ODD = ["@.example.com", ".", "", "@", "alice@", "alice@.example.com"]


@needs_openssl
@pytest.mark.parametrize("excluded", [False, True], ids=["permitted", "excluded"])
@pytest.mark.parametrize("subtree", ODD)
@pytest.mark.parametrize("mailbox", ["alice@example.com", "alice@mail.example.com", "alice@example.org"])
def test_a_subtree_with_no_host_one_can_name_is_a_clear_refusal(subtree: str, excluded: bool, mailbox: str,
                                                                tmp_path: Path) -> None:
    """Refused, naming the subtree and why, whatever the mailbox below.  openssl holds no such mailbox inside
    these subtrees (it compares ``@.example.com``'s host as written): it refuses them all when the subtree is
    permitted, and passes them all when it is excluded, where ikelab refuses rather than guess what the CA
    meant to exclude (before, it excluded the domain for ``@.example.com`` and nothing for the others).
    cryptography's verifier refuses every one of these chains too."""
    root = make(dn("CN=root"), "root", ca=True)
    inter = make(dn("CN=inter"), "inter", root, "root", ca=True, constraints=_raw_nc(subtree.encode(), excluded))
    leaf = make(dn("CN=leaf"), "leaf", inter, "inter", san=[D("moon.example.org"), M(mailbox)])
    c = (leaf, [inter], [root], NOW)
    odd = [x509.RFC822Name._init_without_validation(subtree)]
    assert inter.extensions.get_extension_for_class(x509.NameConstraints).value == \
        (nc(excluded=odd) if excluded else nc(odd))
    assert openssl_accepts(c, tmp_path) is excluded
    assert not pyca_accepts(c)
    assert verdict(c) == (
        f"certificate 'CN=leaf' below CA 'CN=inter' has rfc822Name '{mailbox}', which the CA's nameConstraints "
        f"constrain, but with rfc822Name '{subtree}': none of a mailbox, a host or a domain (an empty host, or "
        "a dot after the '@'), so ikelab must refuse the chain (RFC 5280 4.2.1.10)")


@needs_openssl
@pytest.mark.parametrize("subtree", ODD)
def test_an_odd_subtree_binds_only_where_a_mailbox_lies_below(subtree: str, tmp_path: Path) -> None:
    """With no rfc822Name below (no subjectAltName mailbox, no emailAddress in a subject) the subtree is not
    looked at: ikelab and openssl pass the chain, permitted or excluded."""
    for excluded in (False, True):
        root = make(dn("CN=root"), "root", ca=True)
        inter = make(dn("CN=inter"), "inter", root, "root", ca=True, constraints=_raw_nc(subtree.encode(), excluded))
        leaf = make(dn("CN=leaf"), "leaf", inter, "inter", san=[D("moon.example.org")])
        c = (leaf, [inter], [root], NOW)
        assert verdict(c) is None and openssl_accepts(c, tmp_path)


def test_a_well_formed_subtree_next_to_an_odd_one_does_not_hide_it() -> None:
    """The refusal holds when another permitted subtree would hold the mailbox: the CA's list is not one
    ikelab can read as a whole."""
    c = chain(inter_nc=nc([M("example.com"), M("@.example.com")]), san=[M("alice@example.com")])
    assert "but with rfc822Name '@.example.com': none of a mailbox" in verdict(c)
    assert verdict(chain(inter_nc=nc([M("example.com")]), san=[M("alice@example.com")])) is None


# ------------------------------------------------------------------------------------ 2. multi-valued RDNs

def _rdn(*attrs: tuple[x509.ObjectIdentifier, str]) -> x509.RelativeDistinguishedName:
    """An RDN typed as dn_from_string types values (PrintableString here), so the DER can be compared too."""
    return x509.RelativeDistinguishedName([x509.NameAttribute(oid, v, _type=_ASN1Type.PrintableString)
                                           for oid, v in attrs])


C, O, OU, CN = NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.COMMON_NAME

#: (name, how ikelab prints it)
PRINTED = [
    (x509.Name([_rdn((C, "CH")), _rdn((O, "Example")), _rdn((CN, "moon"), (OU, "Lab"))]),
     "C=CH, O=Example, CN=moon+OU=Lab"),
    (x509.Name([_rdn((CN, "moon"), (O, "strongSwan"))]), "CN=moon+O=strongSwan"),
    (x509.Name([_rdn((O, "Example"), (OU, "Lab"), (CN, "moon"))]), "O=Example+OU=Lab+CN=moon"),
    # a '+' in a value: as before (and as strongSwan reads it) unless KEY= follows, then escaped
    (x509.Name([_rdn((CN, "C++ devs"))]), "CN=C++ devs"),
    (x509.Name([_rdn((CN, "a+OU=b"))]), "CN=a\\+OU=b"),
    (x509.Name([_rdn((CN, "a + ou = b"))]), "CN=a \\+ ou = b"),
    (x509.Name([_rdn((CN, "a+"), (OU, "+b"))]), "CN=a++OU=+b"),
    (x509.Name([_rdn((CN, "x+1.2.3=y"))]), "CN=x\\+1.2.3=y"),
    (x509.Name([_rdn((O, "a, b+c")), _rdn((CN, "d"))]), "O=a\\, b+c, CN=d"),
]


@pytest.mark.parametrize("name, text", PRINTED, ids=[t for _, t in PRINTED])
def test_printing_then_parsing_gives_the_same_dn(name: x509.Name, text: str) -> None:
    """dn_to_string writes a multi-valued RDN with '+' and dn_from_string reads it back: the same DN under
    RFC 5280 7.1 and the same DER (before: ``CN=moon, OU=Lab``, two RDNs, another name)."""
    assert dn_to_string(name) == text
    back = dn_from_string(text)
    assert same_dn(back, name) and back.public_bytes() == name.public_bytes()
    assert [len(rdn) for rdn in back.rdns] == [len(rdn) for rdn in name.rdns]


def test_a_multi_valued_rdn_is_not_the_same_dn_as_its_attributes_apart() -> None:
    """RFC 5280 7.1 compares RDN by RDN: the printed form of one RDN must not read as two."""
    one = dn_from_string("C=CH, CN=moon+OU=Lab")
    apart = dn_from_string("C=CH, CN=moon, OU=Lab")
    assert [len(r) for r in one.rdns] == [1, 2] and [len(r) for r in apart.rdns] == [1, 1, 1]
    assert not same_dn(one, apart)
    assert same_dn(one, dn_from_string("c=ch, ou=lab+cn=MOON"))  # an RDN is a set; case folded (RFC 4518 2.2)


def _signed(subject: x509.Name, key: Any) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(35).not_valid_before(NOW).not_valid_after(NOW.replace(year=2027))
            .sign(key, hashes.SHA256()))


def test_an_id_written_as_format_identity_prints_it_matches_the_certificate() -> None:
    """A peer's ID_DER_ASN1_DN with a multi-valued RDN, printed by format_identity, configured back as its
    remote_id (parse_identity / matches), is the peer's ID and the certificate's subject (before: the printed
    text named three RDNs and matched neither)."""
    subject = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(C, "CH")]),
                         x509.RelativeDistinguishedName([x509.NameAttribute(CN, "moon"),  # UTF8String, as
                                                         x509.NameAttribute(OU, "Lab")])])  # cryptography writes
    cert = _signed(subject, certs.ec_key_from_seed(b"s35 dn"))
    sent = Identity(IdType.ID_DER_ASN1_DN, subject.public_bytes())
    text = format_identity(sent.id_type, sent.data)
    assert text == "C=CH, OU=Lab+CN=moon"  # the attributes of an RDN in their DER order (a SET OF, X.690 11.6)
    configured = parse_identity(text)
    assert configured.id_type == IdType.ID_DER_ASN1_DN and matches(text, sent)
    assert identity_matches_certificate(configured.id_type, configured.data, cert)
    assert not matches("C=CH, CN=moon, OU=Lab", sent)  # three RDNs: not this DN (RFC 5280 7.1)


@pytest.mark.parametrize("text, why", [
    ("CN=a, +OU=b", "DN component '' of 'CN=a, \\+OU=b' is not KEY=value"),
    ("CN=a+XX=b", None),  # not a keyword: the '+' is part of CN's value, as strongSwan reads it
    ("CN=a+OU=b+OU=b", "RDN 'CN=a\\+OU=b\\+OU=b' of .*duplicate"),
])
def test_what_a_plus_can_go_wrong_with(text: str, why: str | None) -> None:
    if why is None:
        assert dn_from_string(text) == x509.Name([_rdn((CN, "a+XX=b"))])
        return
    with pytest.raises(ConfigError, match=why):
        dn_from_string(text)


# the reference: cryptography's RFC 4514 syntax, RDN by RDN in X.500 order (strongSwan's), joined with ", "
_KEYS = {"C": C, "ST": NameOID.STATE_OR_PROVINCE_NAME, "L": NameOID.LOCALITY_NAME, "O": O, "OU": OU, "CN": CN,
         "DC": NameOID.DOMAIN_COMPONENT, "UID": NameOID.USER_ID}
_PLAIN = "abcXYZ019 .-"
_SPECIAL = _PLAIN + "+,;=\\\"<>#"


def _names(alphabet: str) -> st.SearchStrategy[x509.Name]:
    value = st.text(alphabet=alphabet, min_size=1, max_size=8).map(str.strip).filter(bool)

    def attr(key: str) -> st.SearchStrategy[x509.NameAttribute]:
        if key == "C":
            return st.sampled_from(["CH", "DE", "US"]).map(lambda v: x509.NameAttribute(C, v))
        return value.map(lambda v: x509.NameAttribute(_KEYS[key], v))

    rdn = st.lists(st.sampled_from(sorted(_KEYS)), min_size=1, max_size=3, unique=True).flatmap(
        lambda keys: st.tuples(*[attr(k) for k in keys])).map(lambda a: x509.RelativeDistinguishedName(list(a)))
    return st.lists(rdn, min_size=1, max_size=4).map(x509.Name)


def _reference(name: x509.Name) -> str:
    return ", ".join(rdn.rfc4514_string() for rdn in name.rdns)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(name=_names(_PLAIN))
def test_where_the_syntaxes_agree_ikelab_prints_what_cryptography_prints(name: x509.Name) -> None:
    """Plain values: ikelab's text is cryptography's RFC 4514 RDNs in X.500 order, and cryptography reads it
    back (RDNs reversed into RFC 4514 order) as the same DN ikelab reads."""
    text = dn_to_string(name)
    assert text == _reference(name)
    theirs = x509.Name.from_rfc4514_string(",".join(reversed(text.split(", "))))
    assert same_dn(theirs, name) and same_dn(dn_from_string(text), theirs)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(name=_names(_SPECIAL))
def test_ikelab_reads_cryptographys_escaping_and_its_own(name: x509.Name) -> None:
    """Any value (with '+', ',', ';', '=', '\\'...): ikelab reads cryptography's RFC 4514 RDNs (every special
    character escaped) as the same DN, and its own printed text as the same DN, RDN by RDN."""
    assert same_dn(dn_from_string(_reference(name)), name)
    back = dn_from_string(dn_to_string(name))
    assert same_dn(back, name) and [len(r) for r in back.rdns] == [len(r) for r in name.rdns]
    # cryptography reads ikelab's text too where ikelab escapes what RFC 4514 2.4 asks: no unescaped '+'
    text = dn_to_string(name)
    if not re.search(r"(?<!\\)\+(?![A-Z]+=)", text) and not re.search(r"[\"<>#]|\\\\", text):
        theirs = x509.Name.from_rfc4514_string(",".join(reversed(re.split(r"(?<!\\), ", text))))
        assert same_dn(theirs, name)
