"""Session 39 mutation review of authentication, certificate checking and DH public-value validation.

By hand, 246 small deliberate bugs were put one at a time into ikelab/auth.py (signed octets, the PSK pad,
RFC 4754 and RFC 7427 signatures, the weak-hash and key-size rules), pss.py (RSASSA-PSS parameters),
cert_rules.py, cert_checks.py and name_constraints.py (validity dates, basicConstraints, pathLenConstraint,
keyUsage, extendedKeyUsage, critical extensions, each link's names and signature, the path search, permitted
and excluded subtrees of each form), certs.py (the lab PKI helpers), identity.py and the IKE_AUTH checks of
exchanges_init.py (RFC 4945 3.1 ID-in-certificate, which key and secret verify AUTH, the time of the check),
and the public-value checks of dh.py and dh_ec.py (MODP 1 < y < p-1 and y^q = 1, ECP point on the curve and
not infinity, X25519/X448 low-order points and the all-zero g^ir).  The existing tests killed 218; of the 28
that survived, 6 are equivalent (named in the session 39 report, e.g. IPv4 and IPv6 never compare as "in" in
Python's ipaddress, so dropping the version test of iPAddress subtrees changes nothing) and the tests here kill
the other 22.  Each docstring names its mutant and the reference (RFC 5280, RFC 4945 3.1, RFC 7296 2.15/3.6,
...).  One test is the regression test of a library bug found on the way (an iPAddress subjectAltName holding a
range crashed the ID check).
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ikelab import cert_checks
from ikelab import events as ev
from ikelab.certs import ec_key_from_seed, make_ca, make_leaf
from ikelab.config import IkeConfig
from ikelab.errors import AuthenticationError, ConfigError, WeakAlgorithmWarning
from ikelab.identity import identity_matches_certificate
from ikelab.lab import Lab
from ikelab.state import State

from test_auth import _der, _resigned, _tbs_with_algorithm  # DER (X.690 8.1); a certificate re-signed

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
START, END = datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2035, 1, 1, tzinfo=timezone.utc)


def _key(name: str) -> ed25519.Ed25519PrivateKey:
    """A fixed Ed25519 key per name: Ed25519 signatures are deterministic, so every run builds the same DER."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"session 39 " + name.encode()).digest())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])


def _cert(cn: str, signer: str, *, serial: int, not_after: datetime = END, ca: bool | None = None,
          extensions: tuple[tuple[x509.ExtensionType, bool], ...] = ()) -> x509.Certificate:
    """A certificate for ``cn``'s key, issued by ``signer``'s name and signed with its key, valid from START, built
    with cryptography's x509 builder alone.  ``ca`` True or False adds a critical basicConstraints saying so (None
    leaves it out); ``extensions`` are further ``(extension, critical)`` pairs."""
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(signer))
               .public_key(_key(cn).public_key()).serial_number(serial)
               .not_valid_before(START).not_valid_after(not_after))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(_key(signer), None)


_KEY_CERT_SIGN = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                               data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                               encipher_only=False, decipher_only=False)


def _ca(cn: str, issuer: str | None = None, *, serial: int = 1, not_after: datetime = END) -> x509.Certificate:
    """A CA certificate for ``cn``'s key (basicConstraints cA, keyUsage keyCertSign), issued by ``issuer`` (self-
    signed without one)."""
    return _cert(cn, issuer or cn, serial=serial, not_after=not_after, ca=True, extensions=((_KEY_CERT_SIGN, True),))


def _leaf(cn: str, issuer: str) -> x509.Certificate:
    return _cert(cn, issuer, serial=7, ca=False)


def _nc_root(cn: str, nc: x509.NameConstraints) -> x509.Certificate:
    """A self-signed CA with ``nc`` as its critical nameConstraints (RFC 5280 4.2.1.10)."""
    return _cert(cn, cn, serial=1, ca=True, extensions=((nc, True),))


def _leaf_with(root_cn: str, san: x509.GeneralName) -> x509.Certificate:
    """A leaf for "moon" issued by ``root_cn`` with ``san`` as its one subjectAltName."""
    return _cert("moon", root_cn, serial=9, ca=False, extensions=((x509.SubjectAlternativeName([san]), False),))


#: the proposals of every handshake here; trust anchors are added per test
_COMMON = dict(ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",), cookie_threshold=None)


# --------------------------------------------------------------------------- cert_checks: the path search's bound


def test_a_path_search_that_runs_out_of_its_budget_says_so_and_not_an_earlier_candidates_reason() -> None:
    """Mutants: the budget of 64 issuer candidates checked against -1000 instead of 0 (the search goes on far
    past the documented bound), and a caller that no longer re-raises the exhausted budget (an earlier
    candidate's reason then comes out instead).

    RFC 5280 6 lets a verifier find "a" path by trying the certificates that could have issued each one, but a
    peer's pool of CAs that cross-sign one another must not make that search unbounded: ikelab tries at most
    64 candidates (cert_checks._BUDGET) and then says it gave up.  Here the leaf's issuer name X has an expired
    certificate (tried first: the peer sent it first) and a valid one issued by A, where A, B, C and D each have a
    certificate from each of the other three and none reaches the trust anchor: well over 64 candidates to try
    (968, counted once the bound is lifted).  The user must read that the search gave up, not
    the expired copy's reason, which would send them after the wrong certificate."""
    x_expired = _ca("X", "root", serial=2, not_after=NOW - timedelta(days=1))
    x_valid = _ca("X", "A", serial=3)
    mesh = [_ca(cn, other, serial=10 + i) for i, (cn, other) in
            enumerate((c, o) for c in "ABCD" for o in "ABCD" if o != c)]
    leaf = _leaf("leaf", "X")
    with pytest.raises(AuthenticationError, match=r"gave up building a certificate path after trying 64 issuers"):
        cert_checks.verify_chain(leaf, [x_expired, x_valid, *mesh], [_ca("root")], now=NOW)
    # the expired X alone is refused for what it is: the reason the search above must not report
    with pytest.raises(AuthenticationError, match="expired"):
        cert_checks.verify_chain(leaf, [x_expired], [_ca("root")], now=NOW)


# --------------------------------------------------------------------------- name_constraints: iPAddress names


def test_an_address_range_as_a_leafs_ip_name_is_refused_under_an_excluded_ip_subtree() -> None:
    """Mutant: the refusal of an iPAddress subjectAltName that holds an address and mask (a range) dropped.

    RFC 5280 4.2.1.6: in subjectAltName an iPAddress is one address (4 or 16 octets); address/mask is the
    nameConstraints form (4.2.1.10).  A range cannot be matched against subtrees, and "in" between two networks
    is False in Python, so without the refusal the range 192.0.2.0/25 would lie outside the excluded
    192.0.2.0/24 and pass, though every address it names is excluded.  The chain must be refused, whatever
    the subtree is (the permitted case is refused either way)."""
    nc = x509.NameConstraints(permitted_subtrees=None,
                              excluded_subtrees=[x509.IPAddress(ipaddress.ip_network("192.0.2.0/24"))])
    root = _nc_root("nc root", nc)

    def leaf(ip: ipaddress.IPv4Address | ipaddress.IPv4Network) -> x509.Certificate:
        return _leaf_with("nc root", x509.IPAddress(ip))

    ranged = leaf(ipaddress.ip_network("192.0.2.0/25"))
    names = ranged.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(names) == [x509.IPAddress(ipaddress.ip_network("192.0.2.0/25"))]  # the DER holds address and mask
    with pytest.raises(AuthenticationError, match=r"address range"):
        cert_checks.verify_chain(ranged, [], [root], now=NOW)
    # the references: one address outside the excluded subtree passes, one inside is refused
    assert cert_checks.verify_chain(leaf(ipaddress.ip_address("198.51.100.1")), [], [root], now=NOW)[-1] == root
    with pytest.raises(AuthenticationError, match=r"excluded subtree"):
        cert_checks.verify_chain(leaf(ipaddress.ip_address("192.0.2.1")), [], [root], now=NOW)


# --------------------------------------------------------------------------- name_constraints: rfc822Name


@pytest.mark.parametrize("mailbox", ['"alice@evil.example"@example.com', '"a@b@c"@example.com'])
def test_a_mailbox_whose_quoted_local_part_holds_an_at_sign_is_judged_by_its_real_host(mailbox: str) -> None:
    """Mutant: the mailbox split at its first "@" instead of its last.

    RFC 5322 3.4.1 (which RFC 5280 4.2.1.6 refers rfc822Name to): a mailbox is local-part "@" domain, and a
    quoted local part may hold "@"; the host is what follows the last "@".  Split at the first, the host of
    '"alice@evil.example"@example.com' reads 'evil.example"@example.com', which lies outside an excluded
    subtree example.com: the chain would pass though the mailbox is at example.com (RFC 5280 4.2.1.10: "all
    mailboxes on the host")."""
    excluded = _nc_root("mail root x", x509.NameConstraints(permitted_subtrees=None,
                                                             excluded_subtrees=[x509.RFC822Name("example.com")]))
    with pytest.raises(AuthenticationError, match=r"excluded subtree rfc822Name 'example.com'"):
        cert_checks.verify_chain(_leaf_with("mail root x", x509.RFC822Name(mailbox)), [], [excluded],
                                 now=NOW)
    permitted = _nc_root("mail root p", x509.NameConstraints(permitted_subtrees=[x509.RFC822Name("example.com")],
                                                              excluded_subtrees=None))
    leaf = _leaf_with("mail root p", x509.RFC822Name(mailbox))
    assert cert_checks.verify_chain(leaf, [], [permitted], now=NOW) == [leaf, permitted]


# --------------------------------------------------------------------------- cert_rules: the weak-hash rule

#: an AlgorithmIdentifier no library knows: SEQUENCE { OID 1.3.6.1.4.1.55555.39 } (a private enterprise arc)
_UNKNOWN_SIG_ALG = bytes.fromhex("300b" "0609" "2b0601040183b20327")


def _with_unknown_signature_algorithm(cert: x509.Certificate, signer: ed25519.Ed25519PrivateKey) -> x509.Certificate:
    """``cert`` with its signature AlgorithmIdentifier (in the TBSCertificate and outside it, RFC 5280 4.1.1.2)
    replaced by :data:`_UNKNOWN_SIG_ALG`, the TBSCertificate signed again with ``signer``."""
    tbs = _tbs_with_algorithm(cert, _UNKNOWN_SIG_ALG)
    return x509.load_der_x509_certificate(_der(0x30, tbs + _UNKNOWN_SIG_ALG + _der(0x03, b"\x00" + signer.sign(tbs))))


def test_a_certificate_signed_with_an_unknown_algorithm_is_not_called_weak() -> None:
    """Mutant: a signature hash cryptography does not know taken for SHA-1 (weak_hash answering "SHA-1" where it
    cannot read the hash).

    RFC 5280 6.1.3 (a)(1): the signature must verify with the issuer's key and the algorithm the certificate
    names; one ikelab cannot verify is no link, so the chain is refused because the signature does not verify.
    Calling it SHA-1 would send the user after a hash the certificate does not use, and with allow_weak a
    WeakAlgorithmWarning about SHA-1 would be a false report (RFC 8247 3.2 names what is weak)."""
    root = _ca("odd root")
    leaf = _with_unknown_signature_algorithm(_leaf("odd leaf", "odd root"), _key("odd root"))
    with pytest.raises(UnsupportedAlgorithm):  # cryptography cannot name the hash: the case under test
        leaf.signature_hash_algorithm
    for allow_weak in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("error", WeakAlgorithmWarning)
            with pytest.raises(AuthenticationError) as info:
                cert_checks.verify_chain(leaf, [], [root], now=NOW, allow_weak=allow_weak)
        assert "signature does not verify" in str(info.value)
        assert "SHA-1" not in str(info.value) and "weak" not in str(info.value)


# --------------------------------------------------------------------------- cert_checks: the injected time


def test_a_naive_now_is_utc_whatever_the_hosts_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: a naive ``now`` read as the host's local time (``astimezone``) instead of UTC.

    RFC 5280 4.1.2.5: notBefore and notAfter are UTC times; verify_chain reads a naive ``now`` as UTC (as
    ``datetime.utcnow()`` gives it), so the verdict must not change with the machine's time zone.  On a host
    at UTC+14 (TZ=Etc/GMT-14, POSIX signs are inverted), 00:30 naive on the day after notAfter is 00:30 UTC,
    expired; read as local time it would be 10:30 UTC the day before, still valid."""
    if not hasattr(time, "tzset"):  # pragma: no cover - POSIX only
        pytest.skip("time.tzset is POSIX only")
    root = _ca("tz root")
    end = datetime(2026, 2, 1, tzinfo=timezone.utc)
    leaf = _cert("tz leaf", "tz root", serial=5, not_after=end, ca=False)
    monkeypatch.setenv("TZ", "Etc/GMT-14")
    time.tzset()
    try:
        assert datetime(2026, 2, 1, 0, 30).astimezone(timezone.utc) == datetime(2026, 1, 31, 10, 30,
                                                                                tzinfo=timezone.utc)
        with pytest.raises(AuthenticationError, match="expired at 2026-02-01 00:00:00Z"):
            cert_checks.verify_chain(leaf, [], [root], now=datetime(2026, 2, 1, 0, 30))
        assert cert_checks.verify_chain(leaf, [], [root], now=datetime(2026, 1, 31, 23, 30)) == [leaf, root]
    finally:
        monkeypatch.undo()
        time.tzset()


# --------------------------------------------------------------------------- identity: RFC 4945 3.1 (a bug fixed)


def test_an_ip_identity_is_checked_against_a_certificate_whose_san_also_holds_a_range() -> None:
    """Library bug found in this review (fixed in ikelab.identity): an iPAddress subjectAltName that holds an
    address and mask (8 or 32 octets; RFC 5280 4.2.1.6 allows only an address there) made
    identity_matches_certificate raise AttributeError (a network has no ``packed``), so building an IkeConfig
    with such a certificate, or a responder checking an IKE_AUTH ID against it, crashed.

    RFC 4945 3.1: an ID_IPV4_ADDR must equal an iPAddress subjectAltName of the certificate.  A range names no
    address: it vouches for none, not even the addresses inside it, and the other entries are still read."""
    root = _ca("id root")
    moon_cert = _cert("moon", "id root", serial=11, ca=False, extensions=((x509.SubjectAlternativeName([
        x509.IPAddress(ipaddress.ip_network("198.51.100.0/24")), x509.IPAddress(ipaddress.ip_address("192.0.2.1"))]),
        False),))
    assert identity_matches_certificate("ID_IPV4_ADDR", bytes([192, 0, 2, 1]), moon_cert) is True
    assert identity_matches_certificate("ID_IPV4_ADDR", bytes([198, 51, 100, 7]), moon_cert) is False
    assert identity_matches_certificate("ID_IPV4_ADDR", bytes([198, 51, 100, 0]), moon_cert) is False

    # the same certificate in a handshake: moon's config is built and sun accepts its ID and signature
    sun_cert = make_leaf(root, _key("id root"), "CN=sun", _key("sun"), san=["sun.example"])
    common = dict(trust_anchors=(root,), **_COMMON)
    moon = IkeConfig(local_id="192.0.2.1", remote_id="sun.example", certificate=moon_cert,
                     private_key=_key("moon"), **common)
    sun = IkeConfig(local_id="sun.example", remote_id="192.0.2.1", certificate=sun_cert, private_key=_key("sun"),
                    **common)
    lab = Lab(moon, sun, seed=39)
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert str(lab.responder.remote_identity) == "192.0.2.1"
    assert not [e for e in lab.responder.pop_events() if isinstance(e, ev.AuthComputed) and not e.ok]


def _id_cert(names: list[x509.GeneralName], ski: bytes | None = None) -> x509.Certificate:
    """A leaf for "moon" (subject CN=moon) issued by CN=id issuer, with ``names`` as subjectAltName and, when
    given, ``ski`` as its subjectKeyIdentifier."""
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = ((x509.SubjectAlternativeName(names), False),)
    if ski is not None:
        extensions += ((x509.SubjectKeyIdentifier(ski), False),)
    return _cert("moon", "id issuer", serial=12, extensions=extensions)


def test_an_rfc822_id_must_be_the_whole_mailbox_of_the_certificate() -> None:
    """Mutant: an ID_RFC822_ADDR matched when an rfc822Name of the certificate merely ends with it.

    RFC 4945 3.1: the ID "MUST match" a subjectAltName; 'alice@example.com' is not the mailbox
    'malice@example.com', so a certificate for malice must not vouch for alice (case aside, RFC 5280 7.5)."""
    cert = _id_cert([x509.RFC822Name("malice@example.com")])
    assert identity_matches_certificate("ID_RFC822_ADDR", b"malice@example.com", cert) is True
    assert identity_matches_certificate("ID_RFC822_ADDR", b"Malice@Example.COM", cert) is True
    assert identity_matches_certificate("ID_RFC822_ADDR", b"alice@example.com", cert) is False


def test_an_fqdn_id_is_matched_without_regard_to_case_and_only_as_its_own_octets() -> None:
    """Mutants: dNSName and ID_FQDN compared case-sensitively; the ID's octets decoded with undecodable ones
    dropped ("ignore") instead of replaced.

    RFC 4945 3.1 with RFC 4343: DNS names compare case-insensitively, so ID_FQDN moon.example.org is the dNSName
    MOON.Example.Org.  An ID holding a byte that is no ASCII (0xff) is no name of the certificate's: dropping
    that byte would turn 'moon.example.org\\xff' or 'mo\\xffon.example.org' into the certificate's name."""
    cert = _id_cert([x509.DNSName("MOON.Example.Org")])
    assert identity_matches_certificate("ID_FQDN", b"moon.example.org", cert) is True
    assert identity_matches_certificate("ID_FQDN", b"moon.example.org.", cert) is True  # the absolute form
    for octets in (b"moon.example.org\xff", b"mo\xffon.example.org"):
        assert identity_matches_certificate("ID_FQDN", octets, cert) is False


def test_a_key_id_may_be_the_certificates_subject_key_identifier() -> None:
    """Mutant: the subjectKeyIdentifier extension no longer taken as the certificate's key ID.

    RFC 5280 4.2.1.2 lets a CA compute the subjectKeyIdentifier any way it likes (method 1, the SHA-1 of the
    key, is one); ikelab, as strongSwan, accepts an ID_KEY_ID equal to the extension's value, or to the
    SHA-1 key ID (RFC 4945 3.1 leaves ID_KEY_ID to local policy).  Here the extension is not the SHA-1."""
    ski = bytes(range(1, 21))
    cert = _id_cert([x509.DNSName("moon.example.org")], ski=ski)
    sha1_key_id = x509.SubjectKeyIdentifier.from_public_key(_key("moon").public_key()).digest
    assert ski != sha1_key_id
    assert identity_matches_certificate("ID_KEY_ID", ski, cert) is True
    assert identity_matches_certificate("ID_KEY_ID", sha1_key_id, cert) is True
    assert identity_matches_certificate("ID_KEY_ID", ski[::-1], cert) is False


def test_a_dn_id_is_the_subject_never_the_issuer() -> None:
    """Mutant: an ID_DER_ASN1_DN matched against the issuer's name as well as the subject's.

    RFC 4945 3.1: an ID_DER_ASN1_DN must be the certificate's subject DN; the issuer name is the CA's, and a leaf
    must not let its holder authenticate as the CA that issued it."""
    cert = _id_cert([x509.DNSName("moon.example.org")])
    assert identity_matches_certificate("ID_DER_ASN1_DN", _name("moon").public_bytes(), cert) is True
    assert identity_matches_certificate("ID_DER_ASN1_DN", _name("id issuer").public_bytes(), cert) is False


def test_a_responder_refuses_a_peer_whose_id_its_certificate_does_not_hold() -> None:
    """Mutant: the engine's check that the peer's IDi is in the peer's certificate dropped (IKE_AUTH).

    RFC 4945 3.1 / RFC 7296 3.5: the ID payload must match the end-entity certificate.  A peer holding a valid
    certificate for moon.example (chain and signature fine) that claims to be mars.example must be refused
    with AUTHENTICATION_FAILED when the responder takes any remote ID (%any); otherwise one certificate from
    the CA authenticates any name.  IkeConfig refuses such a local_id, so the lying peer's config is altered
    after it was checked, as a peer that is not ikelab could send anything."""
    root = _ca("id root")
    moon_cert = make_leaf(root, _key("id root"), "CN=moon", _key("moon"), san=["moon.example"])
    sun_cert = make_leaf(root, _key("id root"), "CN=sun", _key("sun"), san=["sun.example"])
    common = dict(trust_anchors=(root,), **_COMMON)
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", certificate=moon_cert,
                     private_key=_key("moon"), **common)
    object.__setattr__(moon, "local_id", "mars.example")  # what a peer that is not ikelab may send
    sun = IkeConfig(local_id="sun.example", remote_id="%any", certificate=sun_cert, private_key=_key("sun"),
                    **common)
    lab = Lab(moon, sun, seed=39)
    lab.initiate()
    lab.run_until_idle()
    assert lab.responder.state != State.ESTABLISHED and lab.initiator.state != State.ESTABLISHED
    failures = lab.events("responder", ev.Failure)
    assert [(f.notify, f.reason) for f in failures] == [
        ("AUTHENTICATION_FAILED", "the peer's ID is not in its certificate (RFC 4945 3.1)")]


# --------------------------------------------------------------------------- IKE_AUTH in the engine


def _pair(moon_cert: x509.Certificate, anchors: tuple[x509.Certificate, ...], *, moon: dict | None = None,
          sun: dict | None = None, start: float = 0.0) -> Lab:
    """A handshake between moon (initiator, ``moon_cert`` with ``_key("moon")``) and sun (a certificate from
    ``anchors[0]``'s key "id root"), each trusting ``anchors``, run until idle from ``start`` seconds."""
    sun_cert = make_leaf(anchors[0], _key("id root"), "CN=sun", _key("sun"), san=["sun.example"])
    common = dict(trust_anchors=anchors, **_COMMON)
    ci = IkeConfig(**{**common, **dict(local_id="moon.example", remote_id="sun.example", certificate=moon_cert,
                                       private_key=_key("moon")), **(moon or {})})
    cr = IkeConfig(**{**common, **dict(local_id="sun.example", remote_id="moon.example", certificate=sun_cert,
                                       private_key=_key("sun")), **(sun or {})})
    lab = Lab(ci, cr, seed=39, start=start)
    lab.initiate()
    lab.run_until_idle()
    return lab


def _responder_failures(lab: Lab) -> list[tuple[str, str]]:
    return [(f.notify, f.reason) for f in lab.events("responder", ev.Failure)]


def test_the_peers_auth_is_checked_with_its_own_certificate_when_it_sends_a_chain() -> None:
    """Mutant: the AUTH signature checked with the last certificate the peer sent instead of the first.

    RFC 7296 3.6: "The first certificate provided MUST contain the public key used to verify the AUTH field";
    the others are the chain to the trust anchor (here moon's intermediate CA).  Checked with the intermediate's
    key, moon's honest signature would be refused."""
    root = _ca("id root")
    inter = _ca("id inter", "id root", serial=4)
    moon_cert = make_leaf(inter, _key("id inter"), "CN=moon", _key("moon"), san=["moon.example"])
    lab = _pair(moon_cert, (root,), moon=dict(intermediates=(inter,)))
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert _responder_failures(lab) == []


def test_an_asymmetric_psk_verifies_the_peer_with_the_remote_key() -> None:
    """Mutant: the peer's AUTH checked with ``psk`` before ``remote_psk``.

    RFC 7296 2.15: AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>) with the signer's secret;
    ikelab's config, like strongSwan's, lets the two directions use different ones: ``psk`` MACs this side's
    AUTH, ``remote_psk`` checks the peer's.  Checked against ``psk``, two correctly configured peers fail."""
    root = _ca("id root")
    moon_cert = make_leaf(root, _key("id root"), "CN=moon", _key("moon"), san=["moon.example"])
    keys = dict(certificate=None, private_key=None)
    lab = _pair(moon_cert, (root,), moon=dict(keys, psk=b"moon's own secret", remote_psk=b"sun's own secret"),
                sun=dict(keys, psk=b"sun's own secret", remote_psk=b"moon's own secret"))
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert _responder_failures(lab) == []


def test_a_peer_certificate_signed_over_sha1_is_refused_unless_allow_weak() -> None:
    """Mutant: the engine checks the peer's chain with allow_weak=True whatever the configuration says.

    RFC 8247 3.2 / RFC 6194: a certificate signed over SHA-1 can be forged by a chosen-prefix collision, so the
    responder (allow_weak False, the default) must refuse moon's SHA-1-signed leaf with AUTHENTICATION_FAILED;
    with allow_weak=True it is accepted, with a WeakAlgorithmWarning."""
    ca_key = ec_key_from_seed("session 39 sha1 CA")
    root = make_ca("CN=id sha1 root", ca_key)
    moon_cert = _resigned(make_leaf(root, ca_key, "CN=moon", _key("moon"), san=["moon.example"]), ca_key,
                          hashes.SHA1)
    assert moon_cert.signature_hash_algorithm.name == "sha1"
    sun_key = ec_key_from_seed("session 39 sun")
    sun_cert = make_leaf(root, ca_key, "CN=sun", sun_key, san=["sun.example"])
    common = dict(trust_anchors=(root,), **_COMMON)
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", certificate=moon_cert,
                     private_key=_key("moon"), **common)
    for allow_weak in (False, True):
        sun = IkeConfig(local_id="sun.example", remote_id="moon.example", certificate=sun_cert, private_key=sun_key,
                        allow_weak=allow_weak, **common)
        lab = Lab(moon, sun, seed=39)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", WeakAlgorithmWarning)
            lab.initiate()
            lab.run_until_idle()
        if allow_weak:
            assert lab.responder.state == State.ESTABLISHED
            assert any(issubclass(w.category, WeakAlgorithmWarning) and "SHA-1" in str(w.message) for w in caught)
        else:
            assert lab.responder.state != State.ESTABLISHED
            ((notify, reason),) = _responder_failures(lab)
            assert notify == "AUTHENTICATION_FAILED" and "SHA-1" in reason and "weak" in reason


def test_the_peers_certificate_is_checked_at_the_epoch_plus_the_engines_time() -> None:
    """Mutant: the time a certificate is checked at taken as the configured epoch alone, without the seconds
    the engine has run since.

    RFC 5280 6.1.3 (a)(2): the certificate must be valid at the time of the check.  The engine's time is
    seconds since ``epoch``; moon's certificate ends 1000 s after sun's epoch, so a handshake 3600 s later
    must find it expired, one at 0 s valid."""
    root = _ca("id root")
    end = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    moon_cert = _cert("moon", "id root", serial=13, not_after=end,
                      extensions=((x509.SubjectAlternativeName([x509.DNSName("moon.example")]), False),))
    epoch = dict(epoch=end - timedelta(seconds=1000))
    early = _pair(moon_cert, (root,), moon=epoch, sun=epoch, start=0.0)
    assert early.responder.state == State.ESTABLISHED
    late = _pair(moon_cert, (root,), moon=epoch, sun=epoch, start=3600.0)
    assert late.responder.state != State.ESTABLISHED
    ((notify, reason),) = _responder_failures(late)
    assert notify == "AUTHENTICATION_FAILED" and "expired at 2026-06-01 12:00:00Z (checked at 2026-06-01 12:43:20Z)" \
        in reason


# --------------------------------------------------------------------------- certs: the lab PKI helpers

#: the group orders n of P-256, P-384, P-521 (FIPS 186-4 D.1.2.3-5, as RFC 5903 3 gives them)
_ORDERS = {name: int(text.replace(" ", ""), 16) for name, text in {
    "secp256r1": "FFFFFFFF 00000000 FFFFFFFF FFFFFFFF BCE6FAAD A7179E84 F3B9CAC2 FC632551",
    "secp384r1": "FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF C7634D81 F4372DDF 581A0DB2 48B0A77A ECEC196A"
                 " CCC52973",
    "secp521r1": "01FF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFA 51868783 BF2F966B"
                 " 7FCC0148 F709A5D0 3BB5C9B8 899C47AE BB6FB71E 91386409",
}.items()}
_CURVES = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}


@pytest.mark.parametrize("curve", sorted(_ORDERS))
def test_ec_key_from_seed_is_the_documented_scalar(curve: str) -> None:
    """Mutant: the seeded scalar reduced mod n instead of into [1, n-1] (``% (n - 1) + 1``).

    ikelab.certs documents the key: scalar = SHAKE-256("ikelab.certs.ec" NUL | seed) (80 octets) reduced into
    [1, n-1]; lessons print its public key, so a change of formula changes every lab key.  The expected scalar
    is computed here from that text with hashlib, and the public point with cryptography."""
    seed = b"session 39 " + curve.encode()
    n = _ORDERS[curve]
    # n is the order of G: (n - 1) * G is -G, the same x coordinate as G (OpenSSL's arithmetic, not ikelab's)
    minus_g = ec.derive_private_key(n - 1, _CURVES[curve]()).public_key().public_numbers()
    g = ec.derive_private_key(1, _CURVES[curve]()).public_key().public_numbers()
    assert minus_g.x == g.x and minus_g.y != g.y
    expected = int.from_bytes(hashlib.shake_256(b"ikelab.certs.ec\x00" + seed).digest(80), "big") % (n - 1) + 1
    key = ec_key_from_seed(seed, curve)
    assert key.private_numbers().private_value == expected
    assert key.curve.name == curve


@pytest.mark.parametrize("curve, hash_name", [("secp256r1", "sha256"), ("secp384r1", "sha384"),
                                              ("secp521r1", "sha512")])
def test_an_ec_ca_signs_with_the_hash_of_its_curves_strength(curve: str, hash_name: str) -> None:
    """Mutant: every EC CA signing over SHA-256.

    The pairing RFC 4754 3 uses for IKE's ECDSA methods, from the strengths of NIST SP 800-57 Part 1 Table 2:
    P-256 with SHA-256, P-384 with SHA-384, P-521 with SHA-512; a P-384 CA signing over SHA-256 would give its
    certificates 128-bit rather than 192-bit collision resistance.  The signature is checked with
    cryptography."""
    ca_key = ec_key_from_seed("session 39 CA " + curve, curve)
    ca = make_ca("CN=strength CA", ca_key)
    leaf = make_leaf(ca, ca_key, "CN=moon", _key("moon"), san=["moon.example"])
    assert ca.signature_hash_algorithm.name == leaf.signature_hash_algorithm.name == hash_name
    ca_key.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes,
                               ec.ECDSA(leaf.signature_hash_algorithm))


def test_make_leaf_is_ca_gives_basic_constraints_ca_true() -> None:
    """Mutant: make_leaf's ``is_ca`` ignored (basicConstraints cA always FALSE).

    A lesson makes a leaf with is_ca=True to show what RFC 5280 4.2.1.9 does with it: read back with
    cryptography, the certificate must say cA TRUE (critical), and one without it cA FALSE."""
    root_key = ec_key_from_seed("session 39 is_ca root")
    root = make_ca("CN=is_ca root", root_key)
    for is_ca in (True, False):
        cert = make_leaf(root, root_key, "CN=moon", _key("moon"), is_ca=is_ca)
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert (bc.value.ca, bc.critical) == (is_ca, True)


def test_a_plain_common_name_has_at_most_64_characters() -> None:
    """Mutant: a plain CN of 65 characters accepted.

    RFC 5280 Appendix A: ub-common-name INTEGER ::= 64; a longer commonName is not a valid certificate, so
    make_ca refuses it with a ConfigError naming ``name``, and takes 64."""
    key = ec_key_from_seed("session 39 cn")
    assert make_ca("c" * 64, key).subject.rfc4514_string() == "CN=" + "c" * 64
    with pytest.raises(ConfigError, match="65 characters") as info:
        make_ca("c" * 65, key)
    assert info.value.field == "name"


def test_make_ca_path_length_is_at_most_two_to_the_64_minus_one() -> None:
    """Mutant: path_length 2**64 accepted (the bound written ``<=``).

    make_ca documents path_length as None or 0 .. 2**64 - 1 (RFC 5280 4.2.1.9 pathLenConstraint, an INTEGER
    ikelab bounds as a 64-bit count): 2**64 - 1 is written into basicConstraints, 2**64 is a ConfigError."""
    key = ec_key_from_seed("session 39 pathlen")
    ca = make_ca("CN=pathlen CA", key, path_length=2**64 - 1)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 2**64 - 1
    with pytest.raises(ConfigError, match="path_length") as info:
        make_ca("CN=pathlen CA", key, path_length=2**64)
    assert info.value.field == "path_length"
