"""Differential review of ikelab.cert_checks.verify_chain: RFC 5280 6 path validation against two references.

Every chain is built here with cryptography's x509 builder (not with ikelab.certs), and each verdict of
``verify_chain`` (accept, or a typed :class:`AuthenticationError`) is compared with

* cryptography's own verifier (``cryptography.x509.verification``, client profile): the leaves carry a
  subjectAltName, extendedKeyUsage clientAuth, keyUsage digitalSignature and authorityKeyIdentifier, so its
  web-PKI rules hold and the comparison is about the path.  One rule is relaxed to RFC 5280's: a CA without
  keyUsage is allowed, one with keyUsage must assert keyCertSign (6.1.4 (n)); the CA/B profile wants the
  extension present, RFC 5280 path validation does not;
* ``openssl verify -CAfile anchors.pem -untrusted pool.pem -attime T -partial_chain leaf.pem``:
  ``-partial_chain`` because ikelab's trust anchors need not be self-signed (RFC 5280 6.1.1 (d)).

Documented differences are in :data:`DIFFERS`, each asserted as it is, so a change on either side shows.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import random
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ikelab import cert_checks
from ikelab.errors import AuthenticationError, IkelabError

from test_auth import _resigned  # re-signs a certificate over SHA-1 or MD5

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
START, END = datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2035, 1, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
OPENSSL = shutil.which("openssl")
Chain = tuple[x509.Certificate, list[x509.Certificate], list[x509.Certificate], datetime]


def _key(name: str) -> ec.EllipticCurvePrivateKey:
    """A fixed P-256 key per name (a SHA-256 scalar), so failures reproduce."""
    return ec.derive_private_key(int.from_bytes(hashlib.sha256(b"paths " + name.encode()).digest(), "big") >> 2,
                                 ec.SECP256R1())


K = {n: _key(n) for n in ("root", "root2", "inter", "inter2", "leaf", "other", "rogue")}
_KU = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
           encipher_only=False, decipher_only=False)
NC_COM = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
NC_ORG = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.org")], excluded_subtrees=None)
NC_DN = x509.NameConstraints(permitted_subtrees=[x509.DirectoryName(x509.Name([x509.NameAttribute(
    NameOID.ORGANIZATION_NAME, "Example")]))], excluded_subtrees=None)
NC_NOT_ORG = x509.NameConstraints(permitted_subtrees=None, excluded_subtrees=[x509.DNSName("example.org")])
#: permits the leaf's and the self-issued CA's subject (CN=leaf), not CN=root: only 6.1.3 (b) lets ROLL_DN pass
NC_LEAF_DN = x509.NameConstraints(permitted_subtrees=[x509.DirectoryName(x509.Name([x509.NameAttribute(
    NameOID.COMMON_NAME, "leaf")]))], excluded_subtrees=None)
UNKNOWN = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(cn: str, key: str, issuer: x509.Certificate | None = None, signer: str | None = None, *,
         ca: bool = False, pathlen: int | None = None, bc: bool = True, ku: bool = True, key_cert_sign: bool = True,
         nb: datetime = START, na: datetime = END, critical: bool = False, issuer_name: str | None = None,
         serial: int = 1, extra: tuple[tuple[x509.ExtensionType, bool], ...] = ()) -> x509.Certificate:
    """One certificate, the property under test set by hand; ``signer`` defaults to the subject's own key."""
    signer_key = K[signer or key]
    b = (x509.CertificateBuilder().subject_name(_name(cn))
         .issuer_name(_name(issuer_name) if issuer_name else issuer.subject if issuer is not None else _name(cn))
         .public_key(K[key].public_key()).serial_number(serial * 1000 + len(cn))
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(K[key].public_key()), False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False))
    if bc:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), True)
    if ca and ku:
        b = b.add_extension(x509.KeyUsage(digital_signature=not key_cert_sign, key_cert_sign=key_cert_sign,
                                          crl_sign=True, **_KU), True)
    if not ca:
        b = (b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **_KU), True)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName("moon.example.org")]), False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False))
    if critical:
        b = b.add_extension(UNKNOWN, True)
    for value, is_critical in extra:
        b = b.add_extension(value, is_critical)
    return b.sign(signer_key, hashes.SHA256())


# ----------------------------------------------------------------------------------------------- the three verdicts

def ikelab_verdict(chain: Chain) -> str | None:
    """None when ikelab accepts, else its AuthenticationError's message (any other exception fails the test)."""
    leaf, pool, anchors, now = chain
    try:
        cert_checks.verify_chain(leaf, pool, anchors, now=now)
    except AuthenticationError as exc:
        return str(exc)
    return None


def _ca_key_usage(policy: Any, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    """RFC 5280 6.1.4 (n): "If a key usage extension is present, verify that the keyCertSign bit is set"."""
    if ku is not None and not ku.key_cert_sign:
        raise ValueError("keyUsage without keyCertSign")


def pyca_chain(chain: Chain) -> list[x509.Certificate]:
    """The path cryptography's verifier built, leaf first, anchor last (xv.VerificationError if it finds none)."""
    leaf, pool, anchors, now = chain
    ca_policy = xv.ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.KeyUsage, xv.Criticality.AGNOSTIC,
                                                                      _ca_key_usage)
    return list(xv.PolicyBuilder().store(xv.Store(anchors)).time(now)
                .extension_policies(ca_policy=ca_policy, ee_policy=xv.ExtensionPolicy.webpki_defaults_ee())
                .build_client_verifier().verify(leaf, pool).chain)


def pyca_accepts(chain: Chain) -> bool:
    try:
        pyca_chain(chain)
    except xv.VerificationError:
        return False
    return True


def openssl_accepts(chain: Chain, tmp_path: Path) -> bool:
    leaf, pool, anchors, now = chain

    def pem(name: str, certs: list[x509.Certificate]) -> str:
        (tmp_path / name).write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return str(tmp_path / name)

    args = [str(OPENSSL), "verify", "-partial_chain", "-attime", str(int(now.timestamp())), "-CAfile",
            pem("anchors.pem", anchors)]
    if pool:
        args += ["-untrusted", pem("pool.pem", pool)]
    done = subprocess.run(args + [pem("leaf.pem", [leaf])], capture_output=True, text=True, timeout=60)
    return done.returncode == 0


# --------------------------------------------------------------------------------------------------- the chains

ROOT = cert("root", "root", ca=True)
INTER = cert("inter", "inter", ROOT, "root", ca=True)
LEAF = cert("leaf", "leaf", INTER, "inter")
LEAF_R = cert("leaf", "leaf", ROOT, "root")
INTER_P0 = cert("inter", "inter", ROOT, "root", ca=True, pathlen=0)
INTER2 = cert("inter2", "inter2", INTER_P0, "inter", ca=True)
LEAF2 = cert("leaf", "leaf", INTER2, "inter2")
OTHER = cert("other root", "other", ca=True)
ROOT_P0 = cert("root", "root", ca=True, pathlen=0)
ROLL = cert("root", "inter", ROOT_P0, "root", ca=True)
SELF = cert("leaf", "leaf")
ORG_ROOT = cert("root", "root", ca=True, extra=((NC_ORG, True),))
ORG_INTER_ORG = cert("inter", "inter", ORG_ROOT, "root", ca=True, extra=((NC_ORG, True),))
ORG_INTER_COM = cert("inter", "inter", ORG_ROOT, "root", ca=True, extra=((NC_COM, True),))
ORG_INTER_NOT_ORG = cert("inter", "inter", ORG_ROOT, "root", ca=True, extra=((NC_NOT_ORG, True),))
ROOT_DN = cert("root", "root", ca=True, extra=((NC_LEAF_DN, False),))
ROLL_DN = cert("root", "inter", ROOT_DN, "root", ca=True)
#: INTER's twin signed over SHA-1 (re-signed by hand: cryptography no longer builds such certificates)
INTER_SHA1 = _resigned(cert("inter", "inter", ROOT, "root", ca=True, serial=7), K["root"], hashes.SHA1)
INTER_OLD = cert("inter", "inter", ROOT, "root", ca=True, na=NOW - DAY, serial=2)


def _with_inter(**kw: Any) -> Chain:
    return LEAF, [cert("inter", "inter", ROOT, "root", ca=True, **kw)], [ROOT], NOW


#: name -> (chain, None if RFC 5280 path validation accepts it, else a regex the message must match:
#: the certificate's subject and what is wrong with it)
CASES: dict[str, tuple[Callable[[], Chain], str | None]] = {
    "root-leaf": (lambda: (LEAF_R, [], [ROOT], NOW), None),
    "root-inter-leaf": (lambda: (LEAF, [INTER], [ROOT], NOW), None),
    "leaf expired": (lambda: (cert("leaf", "leaf", INTER, "inter", na=NOW - DAY), [INTER], [ROOT], NOW),
                     r"'CN=leaf' expired at 2026-05-31"),
    "leaf not yet valid": (lambda: (cert("leaf", "leaf", INTER, "inter", nb=NOW + DAY), [INTER], [ROOT], NOW),
                           r"'CN=leaf' is not yet valid .*notBefore 2026-06-02"),
    "inter expired": (lambda: _with_inter(na=NOW - DAY), r"'CN=inter' expired at 2026-05-31"),
    "inter not yet valid": (lambda: _with_inter(nb=NOW + DAY), r"'CN=inter' is not yet valid"),
    "inter without basicConstraints": (lambda: _with_inter(bc=False), r"'CN=inter' .*not a CA"),
    "inter with cA FALSE": (lambda: (LEAF, [cert("inter", "inter", ROOT, "root")], [ROOT], NOW),
                            r"'CN=inter' .*not a CA \(basicConstraints cA"),
    "inter keyUsage without keyCertSign": (lambda: _with_inter(key_cert_sign=False),
                                           r"'CN=inter' has keyUsage without keyCertSign"),
    "inter without keyUsage": (lambda: _with_inter(ku=False), None),
    "pathLen 0, one CA below": (lambda: (LEAF2, [INTER2, INTER_P0], [ROOT], NOW),
                                r"'CN=inter' has pathLenConstraint 0 but 1 intermediate"),
    "pathLen 0, leaf below": (lambda: (LEAF, [INTER_P0], [ROOT], NOW), None),
    "pathLen 1, one CA below": (lambda: (LEAF2, [INTER2, cert("inter", "inter", ROOT, "root", ca=True, pathlen=1)],
                                         [ROOT], NOW), None),
    "anchor pathLen 0, one CA below": (lambda: (LEAF, [INTER], [cert("root", "root", ca=True, pathlen=0)], NOW),
                                       r"'CN=root' has pathLenConstraint 0 but 1"),
    "leaf unknown critical": (lambda: (cert("leaf", "leaf", INTER, "inter", critical=True), [INTER], [ROOT], NOW),
                              r"'CN=leaf' has a critical extension 1\.3\.6\.1\.4\.1\.55555\.1"),
    "inter unknown critical": (lambda: _with_inter(critical=True),
                               r"'CN=inter' has a critical extension 1\.3\.6\.1\.4\.1\.55555\.1"),
    "signed by the wrong key": (lambda: (cert("leaf", "leaf", INTER, "rogue"), [INTER], [ROOT], NOW),
                                r"'CN=leaf' was issued by 'CN=inter'.*signature does not verify"),
    "issuer name mismatch": (lambda: (cert("leaf", "leaf", INTER, "inter", issuer_name="intermediate"), [INTER],
                                      [ROOT], NOW), r"'CN=leaf' was issued by 'CN=intermediate'.*no such certificate"),
    "untrusted root, not sent": (lambda: (cert("leaf", "leaf", OTHER, "other"), [], [ROOT], NOW),
                                 r"'CN=leaf' was issued by 'CN=other root'.*no such certificate"),
    "untrusted root, sent": (lambda: (cert("leaf", "leaf", OTHER, "other"), [OTHER], [ROOT], NOW),
                             r"'CN=other root' .*self-signed, and not one of the configured trust anchors"),
    "self-signed leaf": (lambda: (cert("leaf", "leaf"), [], [ROOT], NOW), r"'CN=leaf' .*self-signed"),
    "self-signed leaf that is the anchor": (lambda: (SELF, [], [SELF], NOW), None),
    "intermediates out of order": (lambda: (LEAF2, [cert("inter", "inter", ROOT, "root", ca=True), INTER2], [ROOT],
                                            NOW), None),
    "intermediate duplicated": (lambda: (LEAF, [INTER, INTER, INTER], [ROOT], NOW), None),
    "anchor sent by the peer": (lambda: (LEAF, [ROOT, INTER], [ROOT], NOW), None),
    "an intermediate as the anchor": (lambda: (LEAF, [], [INTER], NOW), None),
    "anchor expired": (lambda: (LEAF, [INTER], [cert("root", "root", ca=True, na=NOW - DAY)], NOW),
                       r"'CN=root' expired"),
    # RFC 5280 4.2.1.10, 6.1.3 (b)-(c), 6.1.4 (g): name constraints (ikelab.name_constraints) bind whatever
    # their criticality; the leaf's subjectAltName is moon.example.org, its subject CN=leaf
    "inter non-critical nameConstraints, leaf outside": (lambda: _with_inter(extra=((NC_COM, False),)),
                                                         r"certificate 'CN=leaf' below CA 'CN=inter' has dNSName "
                                                         r"'moon\.example\.org', which lies outside every permitted"),
    "inter non-critical directoryName constraint, leaf subject outside": (
        lambda: _with_inter(extra=((NC_DN, False),)), r"'CN=leaf' below CA 'CN=inter' has directoryName 'CN=leaf', "
                                                      r"which lies outside every permitted subtree"),
    "inter non-critical nameConstraints, leaf inside": (lambda: _with_inter(extra=((NC_ORG, False),)), None),
    "inter critical nameConstraints, leaf inside": (lambda: _with_inter(extra=((NC_ORG, True),)), None),
    "inter critical nameConstraints, leaf outside": (lambda: _with_inter(extra=((NC_COM, True),)),
                                                     r"'CN=leaf' below CA 'CN=inter' has dNSName 'moon\.example\.org'"),
    "inter excludes the leaf's domain": (lambda: _with_inter(extra=((NC_NOT_ORG, True),)),
                                         r"'CN=leaf' below CA 'CN=inter' .*inside the excluded subtree dNSName "
                                         r"'example\.org'"),
    "anchor's nameConstraints, leaf outside": (lambda: (LEAF, [INTER], [cert("root", "root", ca=True, extra=(
        (NC_COM, True),))], NOW), r"'CN=leaf' below CA 'CN=root' has dNSName 'moon\.example\.org'"),
    "anchor permits example.org, inter excludes it": (
        lambda: (cert("leaf", "leaf", ORG_INTER_NOT_ORG, "inter"), [ORG_INTER_NOT_ORG], [ORG_ROOT], NOW),
        r"below CA 'CN=inter' .*inside the excluded subtree dNSName 'example\.org'"),
    "anchor permits example.org, inter permits example.com: nothing left": (
        lambda: (cert("leaf", "leaf", ORG_INTER_COM, "inter"), [ORG_INTER_COM], [ORG_ROOT], NOW),
        r"below CA 'CN=inter' .*outside every permitted subtree of that form in its nameConstraints \(dNSName "
        r"'example\.com'"),
    "anchor permits example.org, inter permits it too": (
        lambda: (cert("leaf", "leaf", ORG_INTER_ORG, "inter"), [ORG_INTER_ORG], [ORG_ROOT], NOW), None),
    "leaf critical nameConstraints (nothing below it)": (
        lambda: (cert("leaf", "leaf", INTER, "inter", extra=((NC_COM, True),)), [INTER], [ROOT], NOW), None),
    # 6.1.3 (b): a self-issued intermediate's names are not checked, the final certificate's always are
    "self-issued CA outside the anchor's directoryName constraint": (
        lambda: (cert("leaf", "leaf", ROLL_DN, "inter"), [ROLL_DN], [ROOT_DN], NOW), None),
    "self-issued leaf outside the anchor's directoryName constraint": (
        lambda: (cert("root", "leaf", ROOT_DN, "root"), [], [ROOT_DN], NOW),
        r"'CN=root' below CA 'CN=root' has directoryName 'CN=root', which lies outside"),
    # path building (RFC 5280 6: "a" valid path): more than one certificate could issue the next link
    "expired, then renewed intermediate": (lambda: (LEAF, [INTER_OLD, INTER], [ROOT], NOW), None),
    "renewed, then expired intermediate": (lambda: (LEAF, [INTER, INTER_OLD], [ROOT], NOW), None),
    "expired, then renewed anchor": (lambda: (LEAF, [INTER], [cert("root", "root", ca=True, na=NOW - DAY, serial=2),
                                                              ROOT], NOW), None),
    "cross-signed by an untrusted root first": (
        lambda: (LEAF, [cert("inter", "inter", OTHER, "other", ca=True), INTER], [ROOT], NOW), None),
    "a SHA-1 copy of the intermediate first": (lambda: (LEAF, [INTER_SHA1, INTER], [ROOT], NOW), None),
    "only expired intermediates": (lambda: (LEAF, [INTER_OLD, cert("inter", "inter", ROOT, "root", ca=True,
                                                                   nb=NOW + DAY, serial=3)], [ROOT], NOW),
                                   r"'CN=inter' expired at 2026-05-31"),
    # validity is inclusive at both ends (RFC 5280 4.1.2.5: "notBefore through notAfter, inclusive")
    "leaf at its notBefore": (lambda: (cert("leaf", "leaf", INTER, "inter", nb=NOW), [INTER], [ROOT], NOW), None),
    "leaf at its notAfter": (lambda: (cert("leaf", "leaf", INTER, "inter", na=NOW), [INTER], [ROOT], NOW), None),
    "leaf a second after its notAfter": (lambda: (cert("leaf", "leaf", INTER, "inter", na=NOW - timedelta(seconds=1)),
                                                  [INTER], [ROOT], NOW), r"'CN=leaf' expired"),
    "inter at its notAfter": (lambda: _with_inter(na=NOW), None),
    # a self-issued CA (key rollover: subject == issuer) is not counted by pathLenConstraint (RFC 5280 6.1.4 (l))
    "self-issued CA under pathLen 0": (lambda: (cert("leaf", "leaf", ROLL, "inter"), [ROLL], [ROOT_P0], NOW), None),
}

#: (reference, case) -> why that reference's verdict differs from RFC 5280's (and ikelab's)
DIFFERS = {
    ("openssl", "leaf at its notAfter"): "OpenSSL treats notAfter as exclusive (X509_cmp_time), RFC 5280 4.1.2.5 not",
    ("openssl", "inter at its notAfter"): "likewise",
    ("openssl", "cross-signed by an untrusted root first"): "OpenSSL takes the first matching untrusted issuer and "
                                                        "does not backtrack over -untrusted certificates",
    ("pyca", "inter non-critical directoryName constraint, leaf subject outside"): "cryptography's verifier "
                                                                                 "skips directoryName constraints",
    ("pyca", "self-issued leaf outside the anchor's directoryName constraint"): "likewise",
    ("pyca", "leaf critical nameConstraints (nothing below it)"): "cryptography's web-PKI end-entity profile "
                                                                  "refuses the extension on a leaf; RFC 5280 "
                                                                  "4.2.1.10 asks CAs not to issue one, and 6.1 "
                                                                  "reads it only from CA certificates",
    ("pyca", "self-issued CA under pathLen 0"): "cryptography's verifier does not chain a self-issued CA whose "
                                               "subject equals its issuer but whose key differs",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ikelab_verdict_is_rfc_5280s(case: str) -> None:
    """Accepted exactly when RFC 5280 6.1 accepts; a refusal is an AuthenticationError naming the certificate
    (its subject) and the rule it breaks."""
    make, expected = CASES[case]
    try:
        got = ikelab_verdict(make())
    except IkelabError as exc:  # a typed error, but the wrong one: the IKE peer would see no AUTHENTICATION_FAILED
        pytest.fail(f"{type(exc).__name__} instead of AuthenticationError: {exc}")
    if expected is None:
        assert got is None, got
    else:
        assert got is not None, "accepted"
        assert re.search(expected, got), got


@pytest.mark.parametrize("case", sorted(CASES))
def test_cryptographys_verifier_agrees(case: str) -> None:
    """cryptography.x509.verification gives the same verdict (or differs as :data:`DIFFERS` says)."""
    make, expected = CASES[case]
    chain = make()
    rfc = expected is None
    assert pyca_accepts(chain) == (rfc if ("pyca", case) not in DIFFERS else not rfc)
    assert (ikelab_verdict(chain) is None) == rfc


@pytest.mark.skipif(OPENSSL is None, reason="needs /usr/bin/openssl")
@pytest.mark.parametrize("case", sorted(CASES))
def test_openssl_verify_agrees(case: str, tmp_path: Path) -> None:
    """``openssl verify`` gives the same verdict (or differs as :data:`DIFFERS` says)."""
    make, expected = CASES[case]
    chain = make()
    rfc = expected is None
    assert openssl_accepts(chain, tmp_path) == (rfc if ("openssl", case) not in DIFFERS else not rfc)
    assert (ikelab_verdict(chain) is None) == rfc


# ------------------------------------------------------------------------------------ path building: its bounds

def test_a_pool_of_cas_that_all_issue_one_another_ends_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve copies of one self-issued CA (same name and key) each verify as the issuer of every other: trying
    every order up to max_depth would be 12!/4! paths.  verify_chain must give up with an AuthenticationError
    after a bounded number of signature checks (cryptography's verifier, too, has such a budget)."""
    loop = [cert("loop", "inter", signer="inter", ca=True, serial=i) for i in range(12)]
    leaf = cert("leaf", "leaf", loop[0], "inter")
    assert pyca_accepts((leaf, loop, [ROOT], NOW)) is False
    calls = [0]
    real = cert_checks._issued_by

    def counted(c: x509.Certificate, issuer: x509.Certificate) -> bool:
        calls[0] += 1
        if calls[0] > 20_000:
            raise RuntimeError("path building does not stop")
        return real(c, issuer)

    monkeypatch.setattr(cert_checks, "_issued_by", counted)
    with pytest.raises(AuthenticationError, match=r"gave up|longer than|cannot be chained"):
        cert_checks.verify_chain(leaf, loop, [ROOT], now=NOW)
    assert calls[0] < 2_000


def test_a_link_over_sha1_still_needs_the_issuer_name_to_match() -> None:
    """RFC 5280 6.1.3 (a)(4): the certificate's issuer name must be the working issuer name.  cryptography's
    verify_directly_issued_by checks that for modern hashes; the SHA-1 link ikelab verifies itself
    (allow_weak) must check it too, or a signature by the right key under the wrong name is accepted."""
    def sha1_leaf(issuer_name: str) -> x509.Certificate:
        return _resigned(cert("leaf", "leaf", INTER, "inter", issuer_name=issuer_name), K["inter"], hashes.SHA1)

    with pytest.warns(UserWarning, match="SHA-1"):  # allow_weak goes ahead but warns
        assert cert_checks.verify_chain(sha1_leaf("inter"), [INTER], [ROOT], now=NOW, allow_weak=True)[1] == INTER
    with pytest.warns(UserWarning, match="SHA-1"), \
            pytest.raises(AuthenticationError, match=r"'CN=leaf' was issued by 'CN=intermediate'.*no such"):
        cert_checks.verify_chain(sha1_leaf("intermediate"), [INTER], [ROOT], now=NOW, allow_weak=True)


@pytest.mark.parametrize("case", sorted(c for c, (_, expected) in CASES.items()
                                        if expected is None and ("pyca", c) not in DIFFERS))
def test_the_path_returned_is_the_one_cryptography_builds(case: str) -> None:
    """verify_chain returns the path it validated, leaf first and anchor last, as the verifier does: the valid
    copy of a renewed CA, not the expired one the peer sent first."""
    chain = CASES[case][0]()
    leaf, pool, anchors, now = chain
    assert cert_checks.verify_chain(leaf, pool, anchors, now=now) == pyca_chain(chain)


def test_the_path_ends_at_the_first_trust_anchor_reached() -> None:
    """RFC 5280 6.1: the path runs from a trust anchor to the target; when the leaf's issuer is itself trusted,
    a copy of it the peer also sent (signed by another anchor) does not lengthen the path."""
    copy = cert("inter", "inter", ROOT, "root", ca=True, serial=5)
    chain = (LEAF, [copy], [ROOT, INTER], NOW)
    assert cert_checks.verify_chain(LEAF, [copy], [ROOT, INTER], now=NOW) == [LEAF, INTER] == pyca_chain(chain)


def _dn(*rdns: tuple[str, str, Any]) -> x509.Name:
    """A DN of (attribute, value, string type) RDNs: "O" or "CN", the value as given, _ASN1Type or None."""
    oids = {"O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v, t) if t is not None else x509.NameAttribute(oids[k], v)
                      for k, v, t in rdns])


def _issued_as(issuer_name: x509.Name, ca: x509.Certificate, ca_key: str) -> x509.Certificate:
    """LEAF's twin whose issuer field is ``issuer_name`` as given, signed by ``K[ca_key]``: ``ca``'s key, or
    another one for a forged link."""
    b = (x509.CertificateBuilder().subject_name(LEAF.subject).issuer_name(issuer_name)
         .public_key(K["leaf"].public_key()).serial_number(9).not_valid_before(START).not_valid_after(END))
    for ext in LEAF.extensions:
        b = b.add_extension(ext.value, ext.critical)
    signed = b.sign(K[ca_key], hashes.SHA256())
    # the signature is sound (raises if not): against ``ca`` where cryptography can check the link (it wants the
    # names byte for byte), else against the signing key itself
    if signed.issuer.public_bytes() == ca.subject.public_bytes():
        signed.verify_directly_issued_by(ca)
    else:
        K[ca_key].public_key().verify(signed.signature, signed.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    return signed


def test_an_issuer_name_in_another_string_type_chains(tmp_path: Path) -> None:
    """The leaf's issuer is CN=inter as a PrintableString, the CA's subject CN=inter as a UTF8String; the
    signature is the CA key's.  RFC 5280 7.1 compares names after preparing their values (the string type is
    not part of them), as openssl does; cryptography's verifier compares them byte for byte and refuses the
    link (an intentional difference: ikelab follows the RFC, and checks the signature itself)."""
    from cryptography.x509.name import _ASN1Type

    leaf = _issued_as(_dn(("CN", "inter", _ASN1Type.PrintableString)), INTER, "inter")
    assert leaf.issuer == INTER.subject and leaf.issuer.public_bytes() != INTER.subject.public_bytes()
    chain = (leaf, [INTER], [ROOT], NOW)
    assert pyca_accepts(chain) is False
    if OPENSSL is not None:
        assert openssl_accepts(chain, tmp_path)
    assert cert_checks.verify_chain(leaf, [INTER], [ROOT], now=NOW) == [leaf, INTER, ROOT]
    forged = _issued_as(_dn(("CN", "inter", _ASN1Type.PrintableString)), INTER, "rogue")
    with pytest.raises(AuthenticationError, match=r"'CN=leaf' was issued by 'CN=inter'.*signature does not verify"):
        cert_checks.verify_chain(forged, [INTER], [ROOT], now=NOW)


@functools.lru_cache(maxsize=1)
def _signers() -> dict[str, tuple[Any, Any, dict[str, Any]]]:
    """kind -> (CA key, another key of that kind, CertificateBuilder.sign arguments)."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ed448, ed25519, padding

    from test_auth import RSA_A, RSA_B

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return {
        "RSA PKCS#1 v1.5": (RSA_A, RSA_B, {"algorithm": hashes.SHA256()}),
        "RSASSA-PSS": (RSA_A, RSA_B, {"algorithm": hashes.SHA256(), "rsa_padding": pss}),
        "ECDSA P-384": (ec.derive_private_key(7, ec.SECP384R1()), ec.derive_private_key(8, ec.SECP384R1()),
                        {"algorithm": hashes.SHA384()}),
        "Ed25519": (ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)),
                    ed25519.Ed25519PrivateKey.from_private_bytes(bytes([1] * 32)), {"algorithm": None}),
        "Ed448": (ed448.Ed448PrivateKey.from_private_bytes(bytes(57)),
                  ed448.Ed448PrivateKey.from_private_bytes(bytes([1] * 57)), {"algorithm": None}),
        "DSA": (dsa.generate_private_key(2048), dsa.generate_private_key(2048), {"algorithm": hashes.SHA256()}),
    }


@pytest.mark.parametrize("kind", ["RSA PKCS#1 v1.5", "RSASSA-PSS", "ECDSA P-384", "Ed25519", "Ed448", "DSA"])
def test_a_link_whose_names_match_once_prepared_checks_its_signature(kind: str, tmp_path: Path) -> None:
    """Where the issuer name matches the CA's subject only once prepared (here: in upper case), cryptography's
    verify_directly_issued_by cannot be used, and ikelab verifies the signature itself: for each signature
    algorithm, the CA's key is accepted and another key of the same kind, or of another kind, is not, as for
    openssl."""
    ca_key, other_key, how = _signers()[kind]
    subject = _dn(("CN", "Inter CA", None))
    ca = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(ca_key.public_key())
          .serial_number(3).not_valid_before(START).not_valid_after(END)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), True).sign(ca_key, **how))
    upper = _dn(("CN", "INTER CA", None))

    def leaf_signed_by(key: Any, **sign: Any) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(LEAF.subject).issuer_name(upper)
             .public_key(K["leaf"].public_key()).serial_number(9).not_valid_before(START).not_valid_after(END))
        for ext in LEAF.extensions:
            if not isinstance(ext.value, x509.AuthorityKeyIdentifier):
                b = b.add_extension(ext.value, ext.critical)
        return b.sign(key, **sign)

    for signer, sign, accepted in ((ca_key, how, True), (other_key, how, False),
                                   (K["rogue"], {"algorithm": hashes.SHA256()}, False)):
        chain = (leaf_signed_by(signer, **sign), [], [ca], NOW)
        if OPENSSL is not None:
            assert openssl_accepts(chain, tmp_path) is accepted
        got = ikelab_verdict(chain)
        assert got is None if accepted else "signature does not verify" in (got or ""), got


#: ways to write a CA's name in the issuer field of the certificate below it; openssl decides which chain
_SPELLINGS = {
    "as is": lambda v: v, "upper case": str.upper, "lower case": str.lower, "swapped case": str.swapcase,
    "spaces around": lambda v: f"  {v} ", "inner spaces doubled": lambda v: v.replace(" ", "  "),
    "a letter more": lambda v: v + "x", "inner space dropped": lambda v: v.replace(" ", "", 1),
    "a hyphen for a space": lambda v: v.replace(" ", "-", 1),
}


@pytest.mark.skipif(OPENSSL is None, reason="needs /usr/bin/openssl")
def test_issuer_names_match_as_openssl_matches_them(tmp_path: Path) -> None:
    """RFC 5280 7.1 (LDAP StringPrep, RFC 4518: case folding, insignificant spaces) as openssl implements it for
    ASCII: seeded random spellings of the CA's DN (O and CN, UTF8String or PrintableString) in the issuer
    field below it, against an intermediate (-untrusted) and against the trust anchor (-CAfile).  ikelab
    chains exactly when openssl does, and both outcomes occur."""
    from cryptography.x509.name import _ASN1Type

    rng = random.Random(7100)
    types = [None, _ASN1Type.PrintableString, _ASN1Type.UTF8String]
    outcomes = {True: 0, False: 0}
    for i in range(60):
        org, cn = rng.choice(["Example Org", "Lab CA"]), rng.choice(["Inter CA", "Sub CA 2"])
        subject = _dn(("O", org, rng.choice(types)), ("CN", cn, rng.choice(types)))
        spell = [rng.choice(list(_SPELLINGS)) for _ in range(2)]
        issuer = _dn(("O", _SPELLINGS[spell[0]](org), rng.choice(types)),
                     ("CN", _SPELLINGS[spell[1]](cn), rng.choice(types)))
        ca = (x509.CertificateBuilder().subject_name(subject).issuer_name(ROOT.subject)
              .public_key(K["inter"].public_key()).serial_number(100 + i).not_valid_before(START)
              .not_valid_after(END).add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(K["inter"].public_key()), False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(K["root"].public_key()), False)
              .sign(K["root"], hashes.SHA256()))
        leaf = _issued_as(issuer, ca, "inter")
        for chain in ((leaf, [ca], [ROOT], NOW), (leaf, [], [ca], NOW)):
            theirs = openssl_accepts(chain, tmp_path)
            assert (ikelab_verdict(chain) is None) == theirs, (spell, subject, issuer, ikelab_verdict(chain))
            outcomes[theirs] += 1
    assert min(outcomes.values()) > 20, outcomes


def test_name_constraints_on_a_type_of_name_no_certificate_below_has_are_met(tmp_path: Path) -> None:
    """RFC 5280 4.2.1.10: a constraint applies only to names of its own type; an iPAddress constraint says
    nothing about a leaf with a dNSName and a CN, so the chain is valid, for ikelab as for the references."""
    ip_only = x509.NameConstraints(permitted_subtrees=[x509.IPAddress(ipaddress.ip_network("192.0.2.0/24"))],
                                   excluded_subtrees=None)
    chain = _with_inter(extra=((ip_only, False),))
    assert pyca_accepts(chain)
    if OPENSSL is not None:
        assert openssl_accepts(chain, tmp_path)
    assert ikelab_verdict(chain) is None


# --------------------------------------------------------------------- ikelab.certs, checked by openssl alone

@pytest.mark.skipif(OPENSSL is None, reason="needs /usr/bin/openssl")
def test_make_ca_and_make_leaf_build_a_path_openssl_validates(tmp_path: Path) -> None:
    """ikelab.certs' test PKI is judged by an independent verifier: root -> intermediate (pathLenConstraint 0)
    -> leaf validates (keyCertSign, cA TRUE, names and signatures right), and one more CA below the
    intermediate breaks its pathLenConstraint (RFC 5280 4.2.1.9), for openssl as for ikelab."""
    from ikelab.certs import make_ca, make_leaf

    root = make_ca("C=CH, O=paths, CN=root", K["root"])
    inter = make_ca("C=CH, O=paths, CN=inter", K["inter"], issuer=root, issuer_key=K["root"], path_length=0)
    leaf = make_leaf(inter, K["inter"], "C=CH, O=paths, CN=moon", K["leaf"], san=["moon.example.org"])
    assert openssl_accepts((leaf, [inter], [root], NOW), tmp_path)
    assert ikelab_verdict((leaf, [inter], [root], NOW)) is None
    below = make_ca("C=CH, O=paths, CN=inter2", K["inter2"], issuer=inter, issuer_key=K["inter"])
    deep = make_leaf(below, K["inter2"], "C=CH, O=paths, CN=sun", K["other"], san=["sun.example.org"])
    assert not openssl_accepts((deep, [below, inter], [root], NOW), tmp_path)
    assert ikelab_verdict((deep, [below, inter], [root], NOW)) is not None
    expired = make_leaf(inter, K["inter"], "CN=old", K["leaf"], not_after=NOW - DAY)
    assert not openssl_accepts((expired, [inter], [root], NOW), tmp_path)


def test_a_sha1_intermediate_alone_is_refused_naming_it() -> None:
    """Without its SHA-2 twin the SHA-1 link is refused (RFC 6194; ikelab's policy, allow_weak to override),
    as cryptography's verifier refuses it; OpenSSL's verdict depends on its configured security level."""
    chain = (LEAF, [INTER_SHA1], [ROOT], NOW)
    assert pyca_accepts(chain) is False
    assert re.search(r"'CN=inter' is signed with SHA-1, which is weak", ikelab_verdict(chain) or "")
