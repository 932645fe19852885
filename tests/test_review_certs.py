"""Review of ikelab.cert_checks and ikelab.certs: what a chain must have to be accepted, and typed errors.

References are independent of ikelab: every certificate is built with cryptography's x509 builder with the
property under test set by hand; the rules are RFC 5280 4.2 (critical extensions), 4.2.1.9, 6.1 (path
validation) and RFC 7296 3.6 (the peer's certificates are not trust anchors).  Dates are fixed (2025-2035)
and ``now`` is explicit.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from ikelab import cert_checks
from ikelab.certs import ec_key_from_seed, load_private_key, make_ca, make_leaf
from ikelab.errors import AuthenticationError, ConfigError, ParseError

from test_auth import _cert as _build  # cryptography's x509 builder, the property under test set by hand

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
START, END = datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2035, 1, 1, tzinfo=timezone.utc)
KEYS = [ec_key_from_seed(f"review certs {i}") for i in range(4)]
LEAF_KEY = ec_key_from_seed("review certs leaf")
VECTORS = Path(__file__).parent / "vectors"


def _pki(where: str = "", ext: tuple[tuple[x509.ExtensionType, bool], ...] = ()) -> tuple[Any, Any, Any]:
    """root -> inter -> leaf, with ``ext`` added to the certificate named by ``where``."""
    root = _build("review root", KEYS[0], ca=True, extra=ext if where == "anchor" else ())
    inter = _build("review inter", KEYS[1], root, KEYS[0], ca=True, extra=ext if where == "intermediate" else ())
    leaf = _build("review leaf", LEAF_KEY, inter, KEYS[1], extra=ext if where == "leaf" else ())
    return leaf, inter, root


# --------------------------------------------------------------------------- RFC 5280 4.2: critical extensions

_UNKNOWN = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
_NAME_CONSTRAINTS = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.org")], excluded_subtrees=None)
_POLICIES = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.5.29.32.0"), None)])
_REFUSED = {"unknown": _UNKNOWN, "policies": _POLICIES,
            "inhibitAnyPolicy": x509.InhibitAnyPolicy(0),
            "policyConstraints": x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None)}


@pytest.mark.parametrize("where", ["leaf", "intermediate", "anchor"])
@pytest.mark.parametrize("kind", sorted(_REFUSED))
def test_a_critical_extension_ikelab_does_not_process_is_refused(where: str, kind: str) -> None:
    """RFC 5280 4.2: "A certificate-using system MUST reject the certificate if it encounters a critical
    extension it does not recognize"; ikelab does not process policies."""
    leaf, inter, root = _pki(where, ((_REFUSED[kind], True),))
    with pytest.raises(AuthenticationError, match=rf"'CN=review {where[:5] if where != 'anchor' else 'root'}.*"
                                                  r"critical extension .*RFC 5280 4.2"):
        cert_checks.verify_chain(leaf, [inter], [root], now=NOW)
    leaf, inter, root = _pki(where, ((_REFUSED[kind], False),))  # the same, not critical: may be ignored
    assert cert_checks.verify_chain(leaf, [inter], [root], now=NOW) == [leaf, inter, root]


@pytest.mark.parametrize("where", ["leaf", "intermediate", "anchor"])
def test_a_critical_name_constraints_extension_is_processed(where: str) -> None:
    """RFC 5280 4.2.1.10: "Conforming CAs MUST mark this extension as critical", so ikelab processes it rather
    than refuse every name-constrained CA.  The leaf (CN=review leaf, no subjectAltName) has no dNSName, so a
    dNSName constraint is met; a directoryName constraint its subject lies outside is not (6.1.3 (b)), and on
    the leaf itself nameConstraints bind nothing (there is no certificate below it)."""
    leaf, inter, root = _pki(where, ((_NAME_CONSTRAINTS, True),))
    assert cert_checks.verify_chain(leaf, [inter], [root], now=NOW) == [leaf, inter, root]
    dn = x509.NameConstraints(permitted_subtrees=[x509.DirectoryName(x509.Name([x509.NameAttribute(
        x509.NameOID.COMMON_NAME, "other")]))], excluded_subtrees=None)
    leaf, inter, root = _pki(where, ((dn, True),))
    if where == "leaf":
        assert cert_checks.verify_chain(leaf, [inter], [root], now=NOW) == [leaf, inter, root]
        return
    ca = "root" if where == "anchor" else "inter"
    with pytest.raises(AuthenticationError, match=f"certificate 'CN=review leaf' below CA 'CN=review {ca}' has "
                                                  "directoryName 'CN=review leaf', which lies outside every permitted"):
        cert_checks.verify_chain(leaf, [inter], [root], now=NOW)


def test_critical_extensions_ikelab_processes_are_accepted() -> None:
    ku = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                       encipher_only=False, decipher_only=False)
    eku = x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.5.5.7.3.17")])  # id-kp-ipsecIKE
    san = x509.SubjectAlternativeName([x509.DNSName("moon.example.org")])
    leaf, inter, root = _pki("leaf", ((ku, True), (eku, True), (san, True)))
    assert cert_checks.verify_chain(leaf, [inter], [root], now=NOW) == [leaf, inter, root]


ED_ROOT_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))  # fixed-length signatures
_OID_1234 = bytes.fromhex("06032a0304")  # DER OBJECT IDENTIFIER 1.2.3.4 (X.690 8.19): 40*1+2, 3, 4
_OID_BC = bytes.fromhex("0603551d13")  # 2.5.29.19 basicConstraints: 40*2+5, 29, 19


def _with_duplicate_basic_constraints(name: str, key: Any, root: x509.Certificate, *, ca: bool) -> x509.Certificate:
    """A certificate signed by ED_ROOT_KEY with basicConstraints twice (RFC 5280 4.2: "MUST NOT include more than
    one instance of a particular extension"): its extension 1.2.3.4 is renamed in the DER, then re-signed."""
    good = _build(name, key, root, ED_ROOT_KEY, ca=ca,
                  extra=((x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"), False),))
    tbs = good.tbs_certificate_bytes
    assert tbs.count(_OID_1234) == 1
    patched = tbs.replace(_OID_1234, _OID_BC)
    der = good.public_bytes(serialization.Encoding.DER)
    bad = x509.load_der_x509_certificate(der.replace(tbs, patched).replace(good.signature, ED_ROOT_KEY.sign(patched)))
    bad.verify_directly_issued_by(root)  # the signature is good: only the extensions are wrong
    with pytest.raises(x509.DuplicateExtension):  # the reference: cryptography sees the duplicate too
        bad.extensions
    return bad


@pytest.mark.parametrize("where", ["leaf", "intermediate"])
def test_a_duplicated_extension_is_an_authentication_failure(where: str) -> None:
    """cryptography parses extensions on first use and raises DuplicateExtension (a bare Exception)."""
    root = _build("ed root", ED_ROOT_KEY, ca=True)
    if where == "leaf":
        leaf, pool = _with_duplicate_basic_constraints("dup leaf", LEAF_KEY, root, ca=False), []
    else:
        inter = _with_duplicate_basic_constraints("dup inter", KEYS[1], root, ca=True)
        leaf, pool = _build("leaf", LEAF_KEY, inter, KEYS[1]), [inter]
    with pytest.raises(AuthenticationError, match=f"'CN=dup {where[:5]}' has malformed extensions: Duplicate"):
        cert_checks.verify_chain(leaf, pool, [root], now=NOW)


# --------------------------------------------------------------------------- the anchor is ours, the path is bounded


def test_a_self_signed_root_the_peer_sends_is_no_trust_anchor() -> None:
    """RFC 7296 3.6 / RFC 5280 6.1: the path must end at a configured anchor.  A peer that sends its own root
    with our root's name (another key) chains its leaf to it, but that root is not ours."""
    leaf, inter, root = _pki()
    fake_root = _build("review root", KEYS[3], ca=True)
    fake_inter = _build("review inter", KEYS[2], fake_root, KEYS[3], ca=True)
    fake_leaf = _build("review leaf", LEAF_KEY, fake_inter, KEYS[2])
    for pool in ([fake_inter, fake_root], [fake_inter, fake_root, root], [fake_root, fake_inter, inter]):
        with pytest.raises(AuthenticationError, match="'CN=review root'.*self-signed, and not one of the configured"):
            cert_checks.verify_chain(fake_leaf, pool, [root], now=NOW)
    self_signed = _build("review leaf", LEAF_KEY)  # a leaf that signs itself
    with pytest.raises(AuthenticationError, match="not a trust anchor"):
        cert_checks.verify_chain(self_signed, [self_signed, root], [root], now=NOW)
    other_root = _build("other root", KEYS[3], ca=True)  # the genuine chain, but we trust another CA
    with pytest.raises(AuthenticationError, match="'CN=review root'.*self-signed, and not one of the configured"):
        cert_checks.verify_chain(leaf, [inter, root], [other_root], now=NOW)


def test_cross_signed_intermediates_that_loop_end_with_an_error() -> None:
    """A and B each issued by the other (and duplicates in the pool): the walk must stop, not cycle."""
    root = _build("loop root", KEYS[0], ca=True)
    a_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "loop A")])
    b = _build("loop B", KEYS[2], _build("loop A", KEYS[1], ca=True), KEYS[1], ca=True)  # B issued by A
    a = (x509.CertificateBuilder().subject_name(a_name).issuer_name(b.subject).public_key(KEYS[1].public_key())
         .serial_number(5).not_valid_before(START).not_valid_after(END)
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .sign(KEYS[2], hashes.SHA256()))  # A issued by B
    leaf = _build("loop leaf", LEAF_KEY, a, KEYS[1])
    with pytest.raises(AuthenticationError, match="not a trust anchor and cannot be chained"):
        cert_checks.verify_chain(leaf, [a, b, a, b, b], [root], now=NOW, max_depth=50)
    with pytest.raises(AuthenticationError, match="longer than 2"):
        cert_checks.verify_chain(leaf, [a, b], [root], now=NOW, max_depth=2)


def test_duplicates_in_the_pool_do_not_lengthen_the_path() -> None:
    leaf, inter, root = _pki()
    pool = [inter, inter, leaf, root, inter]
    assert cert_checks.verify_chain(leaf, pool, [root, root], now=NOW) == [leaf, inter, root]


@pytest.mark.parametrize("not_before, not_after, now", [
    (datetime(2025, 1, 1), datetime(2025, 12, 31), datetime(2025, 6, 1)),  # all in the past of the test run
    (datetime(2040, 1, 1), datetime(2041, 1, 1), datetime(2040, 6, 1)),  # all in its future
])
def test_validity_is_checked_at_the_given_now_not_the_clock(not_before: datetime, not_after: datetime,
                                                            now: datetime) -> None:
    """The docstring promises time is injected; a naive ``now`` is UTC.  Both dates refute a wall clock."""
    root = _build("time root", KEYS[0], ca=True, not_before=not_before, not_after=not_after)
    inter = _build("time inter", KEYS[1], root, KEYS[0], ca=True, not_before=not_before, not_after=not_after)
    leaf = _build("time leaf", LEAF_KEY, inter, KEYS[1], not_before=not_before, not_after=not_after)
    assert cert_checks.verify_chain(leaf, [inter], [root], now=now) == [leaf, inter, root]
    for outside in (not_before.replace(year=not_before.year - 1), not_after.replace(year=not_after.year + 1)):
        with pytest.raises(AuthenticationError, match="'CN=time leaf' (is not yet valid|expired)"):
            cert_checks.verify_chain(leaf, [inter], [root], now=outside)


def test_an_intermediate_outside_its_validity_breaks_the_chain() -> None:
    root = _build("v root", KEYS[0], ca=True)
    inter = _build("v inter", KEYS[1], root, KEYS[0], ca=True, not_before=datetime(2027, 1, 1, tzinfo=timezone.utc))
    leaf = _build("v leaf", LEAF_KEY, inter, KEYS[1])
    with pytest.raises(AuthenticationError, match="'CN=v inter' is not yet valid"):
        cert_checks.verify_chain(leaf, [inter], [root], now=NOW)
    assert cert_checks.verify_chain(leaf, [inter], [root], now=datetime(2027, 1, 1)) == [leaf, inter, root]


@pytest.mark.parametrize("bc, ku, why", [
    (None, None, "is not a CA"),
    (x509.BasicConstraints(ca=False, path_length=None), None, "is not a CA"),
    (x509.BasicConstraints(ca=True, path_length=None), dict(digital_signature=True), "without keyCertSign"),
])
def test_an_intermediate_that_may_not_issue_is_refused(bc: Any, ku: dict[str, bool] | None, why: str) -> None:
    """RFC 5280 6.1.4 (k), (n): cA TRUE; keyCertSign when keyUsage is present."""
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    extra: list[tuple[x509.ExtensionType, bool]] = [] if bc is None else [(bc, True)]
    if ku is not None:
        extra.append((x509.KeyUsage(**{**flags, **ku}), True))
    root = _build("issuer root", KEYS[0], ca=True)
    inter = _build("issuer inter", KEYS[1], root, KEYS[0], extra=tuple(extra))
    leaf = _build("issuer leaf", LEAF_KEY, inter, KEYS[1])
    with pytest.raises(AuthenticationError, match=f"'CN=issuer inter'.*{why}"):
        cert_checks.verify_chain(leaf, [inter], [root], now=NOW)


# --------------------------------------------------------------------------- loading certificates


@pytest.mark.parametrize("data, error", [
    (12, ConfigError), (None, ConfigError), (b"", ParseError), (b"\x30\x00", ParseError),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", ParseError),
])
def test_load_certificates_refuse_what_holds_none(data: Any, error: type[Exception]) -> None:
    for load in (cert_checks.load_certificate, cert_checks.load_certificates):
        with pytest.raises(error):
            load(data)


# --------------------------------------------------------------------------- loading keys (certs.py)


def _pem(key: Any, fmt: Any = serialization.PrivateFormat.PKCS8, enc: Any = serialization.NoEncryption(),
         encoding: Any = serialization.Encoding.PEM) -> bytes:
    return key.private_bytes(encoding, fmt, enc)


def test_load_private_key_reads_pem_der_and_files(tmp_path: Path) -> None:
    key = ec_key_from_seed("review load")
    der = _pem(key, encoding=serialization.Encoding.DER)
    (tmp_path / "k.der").write_bytes(der)
    (tmp_path / "k.pem").write_bytes(_pem(key))
    for source in (_pem(key), _pem(key).decode(), der, bytearray(der), str(tmp_path / "k.der"), tmp_path / "k.pem",
                   str(tmp_path / "k.pem"), _pem(key, serialization.PrivateFormat.TraditionalOpenSSL)):
        assert load_private_key(source).private_numbers() == key.private_numbers()
    assert isinstance(load_private_key(str(VECTORS / "rsa2048_a.pem")).key_size, int)


_PW = serialization.BestAvailableEncryption(b"secret")
#: PKCS#8 (RFC 5208) by hand: SEQUENCE { version 0, AlgorithmIdentifier { 1.2.3.4.5 }, OCTET STRING { INTEGER 0 } };
#: cryptography raises UnsupportedAlgorithm for it, which is neither ValueError nor TypeError
_UNKNOWN_ALG_DER = bytes.fromhex("3011" "020100" "3006" "06042a030405" "0404" "02020000")


@pytest.mark.parametrize("source, words", [
    ("no/such/key.pem", "cannot read private key file"),
    (".", "cannot read private key file"),
    ("a\x00b", "cannot read private key file"),
    (42, "not int"),
    (None, "not NoneType"),
    (b"garbage", r"DER \(no -----BEGIN line\)"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "from PEM"),
    (_pem(KEYS[0], enc=_PW), "encrypted"),
    (_pem(KEYS[0], enc=_PW, encoding=serialization.Encoding.DER), "encrypted"),
    (_pem(x25519.X25519PrivateKey.from_private_bytes(bytes(32))), "X25519PrivateKey, which cannot sign"),
    (KEYS[0].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
     "from PEM"),
    (_UNKNOWN_ALG_DER, "Unknown key type"),
    (b"-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(_UNKNOWN_ALG_DER) + b"\n-----END PRIVATE KEY-----\n",
     "Unknown key type"),
], ids=["missing", "directory", "nul", "int", "none", "garbage-der", "bad-pem", "encrypted-pem", "encrypted-der",
        "x25519", "public-key", "unknown-alg-der", "unknown-alg-pem"])
def test_load_private_key_errors_are_config_errors(source: Any, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as exc:
        load_private_key(source)
    assert exc.value.field == "private_key"


@pytest.mark.parametrize("curve", [5, ec.SECP256R1, ec.SECP192R1(), "secp999r1"], ids=["int", "class", "p192", "name"])
def test_ec_key_from_seed_refuses_a_bad_curve(curve: Any) -> None:
    with pytest.raises(ConfigError, match="curve") as exc:
        ec_key_from_seed(b"seed", curve)
    assert exc.value.field == "curve"


def test_ec_key_from_seed_is_a_key_on_the_curve_asked_for() -> None:
    key = ec_key_from_seed(b"seed", ec.SECP384R1())
    assert key.curve.name == "secp384r1" and 1 <= key.private_numbers().private_value < 2**384


# --------------------------------------------------------------------------- building certificates (certs.py)


def test_make_ca_and_make_leaf_build_what_verify_chain_accepts() -> None:
    root = make_ca("CN=helper root", KEYS[0], path_length=1)
    inter = make_ca("CN=helper inter", KEYS[1], issuer=root, issuer_key=KEYS[0])
    leaf = make_leaf(inter, KEYS[1], "CN=helper leaf", LEAF_KEY, san=["moon.example.org"])
    leaf.verify_directly_issued_by(inter)
    inter.verify_directly_issued_by(root)
    assert cert_checks.verify_chain(leaf, [inter], [root], now=NOW) == [leaf, inter, root]


@pytest.mark.parametrize("call, field", [
    (lambda r: make_ca("CN=x", KEYS[1], issuer=r), "issuer_key"),
    (lambda r: make_ca("CN=x", KEYS[1], issuer_key=KEYS[0]), "issuer"),
    (lambda r: make_ca("CN=x", KEYS[1], issuer=r, issuer_key=KEYS[2]), "issuer_key"),
    (lambda r: make_ca("CN=x", "not a key"), "key"),
    (lambda r: make_ca("CN=x", KEYS[1], issuer=b"root", issuer_key=KEYS[0]), "issuer_key"),
    (lambda r: make_leaf(r, KEYS[2], "CN=x", LEAF_KEY), "ca_key"),
    (lambda r: make_leaf(r, KEYS[0], "CN=x", LEAF_KEY, san="moon.example.org"), "san"),
    (lambda r: make_leaf(r, KEYS[0], "CN=x", 7), "key"),
    (lambda r: make_leaf(r, KEYS[0], "CN=x", LEAF_KEY, san=["m\u00fcnchen.example"]), "san"),
    (lambda r: make_leaf(r, KEYS[0], "CN=x", LEAF_KEY, san=["j\u00fcrg@example.org"]), "san"),
], ids=["issuer-only", "issuer-key-only", "wrong-issuer-key", "ca-key-type", "issuer-type", "wrong-ca-key",
        "san-str", "leaf-key-type", "san-u-label", "san-non-ascii-mailbox"])
def test_the_certificate_helpers_refuse_bad_arguments(call: Any, field: str) -> None:
    """A wrong issuer key would give a certificate that never verifies; a str san one dNSName per letter; a
    name that is not ASCII cannot be written (RFC 5280 4.2.1.6 wants A-labels), where cryptography's own
    ValueError used to escape make_leaf."""
    root = make_ca("CN=helper root", KEYS[0])
    with pytest.raises(ConfigError) as exc:
        call(root)
    assert exc.value.field == field
