"""Review of ikelab.auth and ikelab.cert_checks: typed errors, weak keys, boundaries, and what mutants left open.

Independent references: AUTH values are recomputed with :mod:`hmac` from the RFC 7296 2.15 formula;
signatures are made and checked with ``cryptography`` directly (never through ikelab); AlgorithmIdentifier
octets are typed from RFC 7427 Appendix A and RFC 8420 2; certificates are built with cryptography's x509
builder (``test_auth._cert``) and SPKI hashes with :mod:`hashlib`.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from datetime import datetime, timezone

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from ikelab import auth, cert_checks
from ikelab.certs import ec_key_from_seed
from ikelab.constants import AuthMethod, HashAlgorithm, IdType
from ikelab.errors import AuthenticationError, ConfigError, ParseError, WeakAlgorithmError, WeakAlgorithmWarning
from test_auth import _CA_KEYS, EC_A, EC_B, ED_A, NOW, RSA_A, RSA_B, _cert

SHA256 = hashlib.sha256
# RFC 7427 Appendix A (A.1.2, A.3.2, A.4.3) and RFC 8420 2, typed from the RFCs
SHA256_WITH_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
ECDSA_WITH_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
ECDSA_WITH_SHA384 = bytes.fromhex("300a06082a8648ce3d040303")
ECDSA_WITH_SHA1 = bytes.fromhex("300906072a8648ce3d0401")
PSS_SHA256 = bytes.fromhex("3046" "06092a864886f70d01010a" "3039"
                           "a00f" "300d06096086480165030402010500"
                           "a11c" "301a06092a864886f70d010108" "300d06096086480165030402010500"
                           "a203020120" "a303020101")
ID_ED25519 = bytes.fromhex("300506032b6570")
ID_BODY = bytes([IdType.ID_FQDN, 0, 0, 0]) + b"moon.strongswan.org"


class _Id:
    """An object with ``id_type`` and ``data``, as signed_octets accepts (IDi, IDr, Identity)."""

    def __init__(self, id_type, data):
        self.id_type, self.data = id_type, data


def _weak_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(123456789, ec.SECP192R1())


# --------------------------------------------------------------------------- signed octets and PSK (RFC 7296 2.15)


def test_signed_octets_are_the_2_15_concatenation_computed_with_hmac():
    message, nonce, sk_p = bytes(range(256)) * 2, b"\x5a" * 32, b"\xa5" * 32
    so = auth.signed_octets(message, nonce, "PRF_HMAC_SHA2_256", sk_p, ID_BODY)
    maced = hmac.new(sk_p, ID_BODY, SHA256).digest()
    assert (so.message, so.nonce, so.id_body, so.maced_id) == (message, nonce, ID_BODY, maced)
    assert so.octets == message + nonce + maced
    # an ID object gives IDType | 3 RESERVED zero octets | data
    assert auth.signed_octets(message, nonce, 5, sk_p, _Id(IdType.ID_FQDN, b"moon.strongswan.org")) == so
    # the 4-octet minimum: exactly 4 octets (an empty identification data) is accepted
    assert auth.signed_octets(b"m", b"n", 5, b"k", b"\x02\x00\x00\x00").maced_id == \
        hmac.new(b"k", b"\x02\x00\x00\x00", SHA256).digest()


@pytest.mark.parametrize("id_type, data, field", [
    (256, b"x", "id_body.id_type"), (-1, b"x", "id_body.id_type"), (None, b"x", "id_body.id_type"),
    ("ID_FQDN", b"x", "id_body.id_type"), (True, b"x", "id_body.id_type"), (2, "moon", "id_body.data"),
])
def test_an_id_object_with_a_bad_type_or_data_is_a_config_error(id_type, data, field):
    """Before the review: raw ValueError/TypeError from bytes([...]) and bytes(str)."""
    with pytest.raises(ConfigError) as err:
        auth.signed_octets(b"m", b"n", 5, b"k", _Id(id_type, data))
    assert err.value.field == field


def test_id_type_255_is_the_largest_one_octet_type():
    so = auth.signed_octets(b"m", b"n", 5, b"k", _Id(255, b"x"))
    assert so.id_body == b"\xff\x00\x00\x00x"


def test_a_three_octet_id_body_is_refused_with_its_length():
    with pytest.raises(ConfigError, match="got 3 octets") as err:
        auth.signed_octets(b"m", b"n", 5, b"k", b"\x02\x00\x00")
    assert err.value.field == "id_body"
    with pytest.raises(ConfigError, match="must be bytes or an ID payload, not int"):
        auth.signed_octets(b"m", b"n", 5, b"k", 7)


def test_psk_text_that_utf8_cannot_encode_is_a_config_error():
    """A lone surrogate (what os.fsdecode leaves for undecodable bytes) used to escape as UnicodeEncodeError."""
    with pytest.raises(ConfigError, match="not valid Unicode") as err:
        auth.psk_auth("PRF_HMAC_SHA2_256", "secret\udc80", b"octets")
    assert err.value.field == "psk"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_psk_auth_is_the_formula_for_every_bytes_like_input(kind):
    secret, octets = b"a strong shared secret", b"RealMessage1" * 20
    pad = hmac.new(secret, b"Key Pad for IKEv2", SHA256).digest()
    expected = hmac.new(pad, octets, SHA256).digest()
    assert auth.psk_pad_key("PRF_HMAC_SHA2_256", kind(secret)) == pad
    assert auth.psk_auth("PRF_HMAC_SHA2_256", kind(secret), kind(octets)) == expected
    auth.verify_psk("PRF_HMAC_SHA2_256", kind(secret), kind(octets), kind(expected))


def test_verify_psk_refuses_a_prefix_an_extension_and_a_flipped_bit():
    secret, octets = b"secret", b"octets"
    good = hmac.new(hmac.new(secret, b"Key Pad for IKEv2", SHA256).digest(), octets, SHA256).digest()
    auth.verify_psk(5, secret, octets, good)
    for bad in (good[:-1], good + b"\x00", bytes([good[0] ^ 1]) + good[1:], b""):
        with pytest.raises(AuthenticationError, match="SHARED_KEY_MIC"):
            auth.verify_psk(5, secret, octets, bad)
    with pytest.raises(ConfigError) as err:
        auth.verify_psk(5, secret, octets, "not bytes")
    assert err.value.field == "auth_data"


def test_verify_psk_compares_in_constant_time(monkeypatch):
    """The AUTH check goes through hmac.compare_digest, not ==, so timing does not leak the MAC."""
    calls, real = [], hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording)
    good = auth.psk_auth(5, b"secret", b"octets")
    auth.verify_psk(5, b"secret", b"octets", bytearray(good))
    assert calls == [(good, good)] and type(calls[0][1]) is bytes


def test_a_weak_prf_warns_and_is_not_remembered():
    """psk_auth with PRF_HMAC_MD5: allowed only with allow_weak, and then the 2.15 formula with MD5."""
    expected = hmac.new(hmac.new(b"s", b"Key Pad for IKEv2", hashlib.md5).digest(), b"o", hashlib.md5).digest()
    with pytest.raises(WeakAlgorithmError):
        auth.verify_psk("PRF_HMAC_MD5", b"s", b"o", expected)
    with pytest.warns(WeakAlgorithmWarning):
        auth.verify_psk("PRF_HMAC_MD5", b"s", b"o", expected, allow_weak=True)


# --------------------------------------------------------------------------- method 14 AUTH data (RFC 7427 3)


def test_encode_signature_auth_data_length_octet_boundaries():
    assert auth.encode_signature_auth_data(b"\x30" * 255, b"sig") == b"\xff" + b"\x30" * 255 + b"sig"
    assert auth.encode_signature_auth_data(b"\x30", b"") == b"\x01\x30"
    for bad in (b"", b"\x30" * 256):
        with pytest.raises(ConfigError, match=f"of {len(bad)} octets") as err:
            auth.encode_signature_auth_data(bad, b"sig")
        assert err.value.field == "algorithm_identifier"


def test_parse_signature_auth_data_boundaries():
    # an empty signature value after a known identifier still parses (the signature check refuses it later)
    parsed = auth.parse_signature_auth_data(bytes([len(ECDSA_WITH_SHA256)]) + ECDSA_WITH_SHA256)
    assert parsed.algorithm_identifier == ECDSA_WITH_SHA256 and parsed.signature == b""
    assert parsed.scheme.hash_alg == HashAlgorithm.SHA2_256 and parsed.scheme.key == "ecdsa"
    parsed = auth.parse_signature_auth_data(bytes([len(ID_ED25519)]) + ID_ED25519 + b"\x01\x02")
    assert parsed.signature == b"\x01\x02" and parsed.scheme.scheme == "eddsa"
    with pytest.raises(ParseError) as err:
        auth.parse_signature_auth_data(bytes([len(ECDSA_WITH_SHA256) + 1]) + ECDSA_WITH_SHA256)
    assert err.value.field == "AUTH.asn1_length" and "ASN.1 Length 13 overruns the 13-octet" in str(err.value)
    assert err.value.offset == 0  # the length octet is the first of the AUTH data
    with pytest.raises(ParseError) as err:
        auth.parse_signature_auth_data(b"\x0c")
    assert err.value.field == "AUTH.data" and "1 octets is too short" in str(err.value) and err.value.offset == 0
    # two octets are the least that can hold a length and an identifier
    with pytest.raises(AuthenticationError, match="unknown signature AlgorithmIdentifier 30"):
        auth.parse_signature_auth_data(b"\x01\x30")


@pytest.mark.parametrize("alg_id, hash_alg, key, scheme", [
    (SHA256_WITH_RSA, HashAlgorithm.SHA2_256, "rsa", "pkcs1"),
    (bytes.fromhex("300d06092a864886f70d01010d0500"), HashAlgorithm.SHA2_512, "rsa", "pkcs1"),  # A.1.4
    (bytes.fromhex("300d06092a864886f70d0101050500"), HashAlgorithm.SHA1, "rsa", "pkcs1"),  # A.1.1
    (ECDSA_WITH_SHA1, HashAlgorithm.SHA1, "ecdsa", "ecdsa"),
    (ECDSA_WITH_SHA384, HashAlgorithm.SHA2_384, "ecdsa", "ecdsa"),
    (bytes.fromhex("300a06082a8648ce3d040304"), HashAlgorithm.SHA2_512, "ecdsa", "ecdsa"),  # A.3.4
    (PSS_SHA256, HashAlgorithm.SHA2_256, "rsa", "pss"),
    (ID_ED25519, HashAlgorithm.IDENTITY, "ed25519", "eddsa"),
])
def test_appendix_a_identifiers_mean_what_the_rfc_says(alg_id, hash_alg, key, scheme):
    parsed = auth.parse_signature_auth_data(bytes([len(alg_id)]) + alg_id + b"sig")
    assert (parsed.scheme.key, parsed.scheme.scheme, parsed.scheme.hash_alg) == (key, scheme, hash_alg)
    assert parsed.signature == b"sig"


# --------------------------------------------------------------------------- sign: checked with cryptography


@pytest.mark.parametrize("hash_alg, hash_cls, last", [
    (HashAlgorithm.SHA2_256, hashes.SHA256, "0b"), (HashAlgorithm.SHA2_384, hashes.SHA384, "0c"),
    (HashAlgorithm.SHA2_512, hashes.SHA512, "0d"),
])
def test_rsa_pkcs1_signature_verifies_with_cryptography(hash_alg, hash_cls, last):
    method, data = auth.sign(RSA_A, b"signed octets", hash_alg=hash_alg)
    alg_id = bytes.fromhex("300d06092a864886f70d0101" + last + "0500")
    assert method == AuthMethod.DIGITAL_SIGNATURE and data[0] == 15 and data[1:16] == alg_id
    RSA_A.public_key().verify(data[16:], b"signed octets", padding.PKCS1v15(), hash_cls())
    assert len(data) == 16 + 256


@pytest.mark.parametrize("hash_alg, hash_cls, salt_hex, arc", [
    (HashAlgorithm.SHA2_256, hashes.SHA256, "20", "01"), (HashAlgorithm.SHA2_384, hashes.SHA384, "30", "02"),
    (HashAlgorithm.SHA2_512, hashes.SHA512, "40", "03"),
])
def test_rsa_pss_signature_names_and_uses_the_hash_length_salt(hash_alg, hash_cls, salt_hex, arc):
    method, data = auth.sign(RSA_A, b"octets", hash_alg=hash_alg, rsa_pss=True)
    h = f"300d060960864801650304020{arc[1]}0500"
    alg_id = bytes.fromhex("3046" "06092a864886f70d01010a" "3039" "a00f" + h + "a11c301a06092a864886f70d010108" + h
                           + "a20302" "01" + salt_hex + "a303020101")
    assert data[0] == len(alg_id) == 0x48 and data[1:1 + len(alg_id)] == alg_id
    sig = data[1 + len(alg_id):]
    pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=int(salt_hex, 16))
    RSA_A.public_key().verify(sig, b"octets", pss, hash_cls())
    auth.verify_signature(RSA_A.public_key(), method, data, b"octets")


def test_rsa_pss_with_sha1_is_refused():
    with pytest.raises(ConfigError, match="SHA-2 hashes only"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WeakAlgorithmWarning)
            auth.sign(RSA_A, b"octets", hash_alg=HashAlgorithm.SHA1, rsa_pss=True, allow_weak=True)


@pytest.mark.parametrize("hash_alg, hash_cls, alg_id", [
    (HashAlgorithm.SHA2_256, hashes.SHA256, ECDSA_WITH_SHA256),
    (HashAlgorithm.SHA2_384, hashes.SHA384, ECDSA_WITH_SHA384),
])
def test_ecdsa_method_14_is_a_der_signature_cryptography_accepts(hash_alg, hash_cls, alg_id):
    method, data = auth.sign(EC_A, b"octets", hash_alg=hash_alg)
    assert data[:1 + len(alg_id)] == bytes([len(alg_id)]) + alg_id
    sig = data[1 + len(alg_id):]
    decode_dss_signature(sig)  # DER ECDSA-Sig-Value
    EC_A.public_key().verify(sig, b"octets", ec.ECDSA(hash_cls()))


def test_ed25519_signs_the_octets_themselves_whatever_hash_is_asked():
    for hash_alg in (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_512):
        method, data = auth.sign(ED_A, b"octets", hash_alg=hash_alg)
        assert method == AuthMethod.DIGITAL_SIGNATURE and data[:8] == b"\x07" + ID_ED25519
        ED_A.public_key().verify(data[8:], b"octets")


@pytest.mark.parametrize("method, curve, hash_cls, n", [
    (AuthMethod.ECDSA_SHA256_P256, ec.SECP256R1(), hashes.SHA256, 32),
    (AuthMethod.ECDSA_SHA384_P384, ec.SECP384R1(), hashes.SHA384, 48),
    (AuthMethod.ECDSA_SHA512_P521, ec.SECP521R1(), hashes.SHA512, 66),
])
def test_rfc4754_r_s_is_big_endian_of_the_curve_size(method, curve, hash_cls, n):
    key = ec.derive_private_key(0x1234567, curve)
    m, data = auth.sign(key, b"octets", method=method)
    assert m == method and len(data) == 2 * n
    r, s = int.from_bytes(data[:n], "big"), int.from_bytes(data[n:], "big")
    key.public_key().verify(encode_dss_signature(r, s), b"octets", ec.ECDSA(hash_cls()))
    # and a signature made by cryptography alone verifies in ikelab
    r2, s2 = decode_dss_signature(key.sign(b"octets", ec.ECDSA(hash_cls())))
    auth.verify_signature(key.public_key(), method, r2.to_bytes(n, "big") + s2.to_bytes(n, "big"), b"octets")
    with pytest.raises(AuthenticationError, match=f"is {2 * n - 1} octets, expected r\\|s of {2 * n}"):
        auth.verify_signature(key.public_key(), method, data[:-1], b"octets")
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(key.public_key(), method, data, b"octetS")


def test_rfc4754_method_with_an_ecdsa_key_on_another_curve():
    key384 = ec.derive_private_key(99, ec.SECP384R1())
    with pytest.raises(ConfigError, match="ECDSA_SHA256_P256 needs a secp256r1 key, not secp384r1"):
        auth.sign(key384, b"o", method=AuthMethod.ECDSA_SHA256_P256)
    with pytest.raises(ConfigError, match="needs a secp256r1 key, not rsa"):
        auth.sign(RSA_A, b"o", method=AuthMethod.ECDSA_SHA256_P256)
    _, data = auth.sign(EC_A, b"o", method=AuthMethod.ECDSA_SHA256_P256)
    with pytest.raises(AuthenticationError, match="needs a secp256r1 key, the peer's key is secp384r1"):
        auth.verify_signature(key384.public_key(), AuthMethod.ECDSA_SHA256_P256, data, b"o")
    with pytest.raises(AuthenticationError, match="needs a secp256r1 key, the peer's key is rsa"):
        auth.verify_signature(RSA_A.public_key(), AuthMethod.ECDSA_SHA256_P256, data, b"o")


def test_sign_refuses_a_public_key_and_methods_it_does_not_make():
    with pytest.raises(ConfigError, match="need an RSA, EC or Ed25519 private key") as err:
        auth.sign(EC_A.public_key(), b"o")
    assert err.value.field == "private_key" and "ecdsa" not in str(err.value)
    with pytest.raises(ConfigError, match="use psk_auth for SHARED_KEY_MIC"):
        auth.sign(EC_A, b"o", method=AuthMethod.SHARED_KEY_MIC)
    with pytest.raises(ConfigError, match="RSA_DIGITAL_SIGNATURE needs an RSA key, not ecdsa"):
        auth.sign(EC_A, b"o", method=AuthMethod.RSA_DIGITAL_SIGNATURE, allow_weak=True)
    with pytest.raises(ConfigError, match="hash IDENTITY cannot be used with a rsa key"):
        auth.sign(RSA_A, b"o", hash_alg=HashAlgorithm.IDENTITY)


# --------------------------------------------------------------------------- verify_signature, against cryptography


def _auth14(alg_id: bytes, sig: bytes) -> bytes:
    return bytes([len(alg_id)]) + alg_id + sig


def test_verify_signature_accepts_what_cryptography_signs():
    octets = b"InitiatorSignedOctets"
    auth.verify_signature(RSA_A.public_key(), 14, _auth14(SHA256_WITH_RSA,
                          RSA_A.sign(octets, padding.PKCS1v15(), hashes.SHA256())), octets)
    auth.verify_signature(EC_A.public_key(), 14,
                          _auth14(ECDSA_WITH_SHA384, EC_A.sign(octets, ec.ECDSA(hashes.SHA384()))), octets)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    auth.verify_signature(RSA_A.public_key(), 14, _auth14(PSS_SHA256, RSA_A.sign(octets, pss, hashes.SHA256())), octets)
    auth.verify_signature(ED_A.public_key(), 14, _auth14(ID_ED25519, ED_A.sign(octets)), octets)


def test_verify_signature_checks_the_hash_the_identifier_names():
    """A signature made over SHA-256 but labelled SHA-384 must not verify (nor PKCS#1 labelled PSS)."""
    octets = b"octets"
    with pytest.raises(AuthenticationError, match="bad signature: DIGITAL_SIGNATURE"):
        auth.verify_signature(EC_A.public_key(), 14,
                              _auth14(ECDSA_WITH_SHA384, EC_A.sign(octets, ec.ECDSA(hashes.SHA256()))), octets)
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(RSA_A.public_key(), 14,
                              _auth14(PSS_SHA256, RSA_A.sign(octets, padding.PKCS1v15(), hashes.SHA256())), octets)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(RSA_A.public_key(), 14,
                              _auth14(SHA256_WITH_RSA, RSA_A.sign(octets, pss, hashes.SHA256())), octets)
    # another key of the same family
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(RSA_B.public_key(), 14, _auth14(SHA256_WITH_RSA,
                              RSA_A.sign(octets, padding.PKCS1v15(), hashes.SHA256())), octets)
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(EC_B.public_key(), 14, _auth14(ECDSA_WITH_SHA256,
                              EC_A.sign(octets, ec.ECDSA(hashes.SHA256()))), octets)


def test_verify_signature_names_a_key_family_mismatch_both_ways():
    octets = b"o"
    ecdsa_data = _auth14(ECDSA_WITH_SHA256, EC_A.sign(octets, ec.ECDSA(hashes.SHA256())))
    with pytest.raises(AuthenticationError, match="ecdsa-with-SHA256 but the peer's key is rsa"):
        auth.verify_signature(RSA_A.public_key(), 14, ecdsa_data, octets)
    with pytest.raises(AuthenticationError, match="id-Ed25519 but the peer's key is ecdsa"):
        auth.verify_signature(EC_A.public_key(), 14, _auth14(ID_ED25519, ED_A.sign(octets)), octets)
    with pytest.raises(AuthenticationError, match="sha256WithRSAEncryption but the peer's key is ed25519"):
        auth.verify_signature(ED_A.public_key(), 14, _auth14(SHA256_WITH_RSA, b"\x00" * 256), octets)
    with pytest.raises(AuthenticationError, match="RSA_DIGITAL_SIGNATURE but the peer's key is ecdsa"):
        auth.verify_signature(EC_A.public_key(), AuthMethod.RSA_DIGITAL_SIGNATURE, b"\x00" * 64, octets,
                              allow_weak=True)
    with pytest.raises(AuthenticationError, match="SHARED_KEY_MIC is not a signature method"):
        auth.verify_signature(EC_A.public_key(), AuthMethod.SHARED_KEY_MIC, ecdsa_data, octets)


def test_a_malformed_signature_value_is_an_authentication_error():
    with pytest.raises(AuthenticationError, match="DIGITAL_SIGNATURE"):
        auth.verify_signature(EC_A.public_key(), 14, _auth14(ECDSA_WITH_SHA256, b"\x30\x03\x02\x01"), b"o")
    with pytest.raises(AuthenticationError, match="DIGITAL_SIGNATURE"):
        auth.verify_signature(RSA_A.public_key(), 14, _auth14(SHA256_WITH_RSA, b"\x01" * 300), b"o")


def test_verify_signature_over_signed_octets_object_and_certificate():
    pki_key = _CA_KEYS[3]
    root = _cert("review root", pki_key, ca=True)
    leaf = _cert("review leaf", EC_A, root, pki_key)
    so = auth.signed_octets(b"m" * 40, b"n" * 32, 5, b"k" * 32, ID_BODY)
    sig = EC_A.sign(so.octets, ec.ECDSA(hashes.SHA256()))
    auth.verify_signature(leaf, 14, _auth14(ECDSA_WITH_SHA256, sig), so)
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(leaf, 14, _auth14(ECDSA_WITH_SHA256, sig), so.message + so.nonce)


def test_method_1_is_pkcs1_sha1_checked_with_cryptography():
    sig = RSA_A.sign(b"o", padding.PKCS1v15(), hashes.SHA1())
    with pytest.warns(WeakAlgorithmWarning, match="method 1"):
        auth.verify_signature(RSA_A.public_key(), AuthMethod.RSA_DIGITAL_SIGNATURE, sig, b"o", allow_weak=True)
    sig256 = RSA_A.sign(b"o", padding.PKCS1v15(), hashes.SHA256())
    with pytest.warns(WeakAlgorithmWarning), pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(RSA_A.public_key(), AuthMethod.RSA_DIGITAL_SIGNATURE, sig256, b"o", allow_weak=True)


def test_a_pss_identifier_with_sha1_mgf_and_salt_is_read_from_the_peer_octets():
    """RSASSA-PSS with SHA-256 but MGF1-SHA-1 and a 20-octet salt: the verifier uses what the octets say."""
    h256 = "300d06096086480165030402010500"
    h1 = "300906052b0e03021a0500"
    params = "a00f" + h256 + "a118301606092a864886f70d010108" + h1 + "a203020114"
    body = "06092a864886f70d01010a" + f"30{len(params) // 2:02x}" + params
    alg_id = bytes.fromhex(f"30{len(body) // 2:02x}" + body)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=20)
    sig = RSA_A.sign(b"o", pss, hashes.SHA256())
    auth.verify_signature(RSA_A.public_key(), 14, _auth14(alg_id, sig), b"o")
    other = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20)
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(RSA_A.public_key(), 14, _auth14(alg_id, RSA_A.sign(b"o", other, hashes.SHA256())), b"o")


# --------------------------------------------------------------------------- weak EC curves (new: EC_MIN_BITS)


def test_ec_min_bits_is_224():
    assert cert_checks.EC_MIN_BITS == 224 and "EC_MIN_BITS" in cert_checks.__all__


def test_an_ec_key_below_224_bits_is_weak_like_short_rsa():
    key = _weak_ec_key()
    with pytest.raises(WeakAlgorithmError, match="secp192r1 \\(192 bits\\), which is weak: below 224 bits") as err:
        auth.sign(key, b"octets")
    assert err.value.field == "key_size" and err.value.value == 192
    with pytest.warns(WeakAlgorithmWarning, match="secp192r1") as rec:
        method, data = auth.sign(key, b"octets", allow_weak=True)
    assert rec[0].message.algorithm == "secp192r1"
    key.public_key().verify(data[13:], b"octets", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(WeakAlgorithmError, match="the peer's key is an EC key on secp192r1"):
        auth.verify_signature(key.public_key(), method, data, b"octets")
    with pytest.warns(WeakAlgorithmWarning, match="secp192r1"):
        auth.verify_signature(key.public_key(), method, data, b"octets", allow_weak=True)
    with pytest.raises(WeakAlgorithmError) as err:
        cert_checks.check_key_strength(key.public_key(), "k", allow_weak=False, field="private_key")
    assert err.value.field == "private_key"


def test_a_224_bit_curve_is_strong_enough():
    key = ec.derive_private_key(987654321, ec.SECP224R1())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert_checks.check_key_strength(key, "k", allow_weak=False)
        cert_checks.check_key_strength(key.public_key(), "k", allow_weak=True)
        method, data = auth.sign(key, b"o")
        auth.verify_signature(key.public_key(), method, data, b"o")


def test_a_weak_ec_key_in_the_chain_is_an_authentication_failure():
    weak = _weak_ec_key()
    root = _cert("weak ec root", weak, ca=True)
    leaf = _cert("leaf on P-256", EC_B, root, weak)
    with pytest.raises(AuthenticationError, match="'CN=weak ec root' is an EC key on secp192r1"):
        cert_checks.verify_chain(leaf, [], [root], now=NOW)
    with pytest.warns(WeakAlgorithmWarning, match="secp192r1"):
        assert cert_checks.verify_chain(leaf, [], [root], now=NOW, allow_weak=True) == [leaf, root]
    strong_root = _cert("strong root", _CA_KEYS[0], ca=True)
    weak_leaf = _cert("weak ec leaf", weak, strong_root, _CA_KEYS[0])
    with pytest.raises(AuthenticationError, match="'CN=weak ec leaf' is an EC key on secp192r1"):
        cert_checks.verify_chain(weak_leaf, [], [strong_root], now=NOW)


# --------------------------------------------------------------------------- SIGNATURE_HASH_ALGORITHMS (RFC 7427 4)


def test_hash_algorithms_notify_data_bytes():
    assert auth.hash_algorithms_notify_data() == bytes.fromhex("0002000300040005")
    assert auth.hash_algorithms_notify_data(["SHA1", 4]) == bytes.fromhex("00010004")
    assert auth.hash_algorithms_notify_data(()) == b""
    with pytest.raises(ConfigError) as err:
        auth.hash_algorithms_notify_data(5)
    assert err.value.field == "algs"


def test_parse_hash_algorithms_keeps_unknown_ids_as_ints():
    assert auth.parse_hash_algorithms(bytes.fromhex("0002ffff00050100")) == (HashAlgorithm.SHA2_256, 0xFFFF,
                                                                            HashAlgorithm.IDENTITY, 0x100)
    assert auth.parse_hash_algorithms(b"") == ()
    with pytest.raises(ParseError, match="odd length 3") as err:
        auth.parse_hash_algorithms(b"\x00\x02\x00")
    assert (err.value.field, err.value.offset) == ("N.data", 0)


def test_signature_hash_prefers_ikelab_order_and_needs_allow_weak_for_sha1():
    assert auth.signature_hash(RSA_A, bytes.fromhex("000400030002")) == HashAlgorithm.SHA2_256
    assert auth.signature_hash(RSA_A, bytes.fromhex("00040003")) == HashAlgorithm.SHA2_384
    assert auth.signature_hash(EC_A, bytes.fromhex("00010004"), allow_weak=True) == HashAlgorithm.SHA2_512
    with pytest.raises(ConfigError, match=r"lists SHA1: .*\(SHA1 only with allow_weak") as err:
        auth.signature_hash(EC_A, bytes.fromhex("0001"))
    assert err.value.field == "hash_alg"
    with pytest.raises(ConfigError, match="lists SHA2_256: an Ed25519 signature needs IDENTITY") as err:
        auth.signature_hash(ED_A, bytes.fromhex("0002"))
    assert err.value.field == "private_key"
    with pytest.raises(ConfigError) as err:
        auth.signature_hash(EC_A, bytes.fromhex("0005"))
    assert "(SHA1 only" not in str(err.value)
    with pytest.raises(ConfigError, match="SIGNATURE_HASH_ALGORITHMS lists nothing: no hash ikelab signs with"):
        auth.signature_hash(RSA_A, b"")


# --------------------------------------------------------------------------- verify_chain arguments and edges


@pytest.mark.parametrize("kwargs, field", [
    (dict(intermediates=None), "intermediates"), (dict(trust_anchors=None), "trust_anchors"),
    (dict(trust_anchors="root"), "trust_anchors"), (dict(intermediates=b"\x30\x00"), "intermediates"),
    (dict(max_depth=0), "max_depth"), (dict(max_depth=True), "max_depth"), (dict(max_depth="8"), "max_depth"),
])
def test_verify_chain_arguments_of_the_wrong_kind_are_config_errors(kwargs, field):
    """Before the review: TypeError ('NoneType' object is not iterable), or max_depth silently ignored."""
    root = _cert("arg root", _CA_KEYS[0], ca=True)
    leaf = _cert("arg leaf", EC_B, root, _CA_KEYS[0])
    args = dict(intermediates=[], trust_anchors=[root])
    args.update(kwargs)
    with pytest.raises(ConfigError) as err:
        cert_checks.verify_chain(leaf, now=NOW, **args)
    assert err.value.field == field


def test_a_single_certificate_as_trust_anchors_is_named():
    root = _cert("one root", _CA_KEYS[0], ca=True)
    with pytest.raises(ConfigError, match="trust_anchors must be a list of certificates"):
        cert_checks.verify_chain(_cert("l", EC_B, root, _CA_KEYS[0]), [], root, now=NOW)
    # a generator or a tuple is a sequence of certificates, and works
    leaf = _cert("l", EC_B, root, _CA_KEYS[0])
    assert cert_checks.verify_chain(leaf, iter(()), (c for c in [root]), now=NOW) == [leaf, root]


def _chain(n_inter: int):
    k = _CA_KEYS if n_inter < len(_CA_KEYS) else [ec_key_from_seed(f"review depth {i}") for i in range(n_inter + 1)]
    root = _cert("depth root", k[0], ca=True)
    issuers, issuer, issuer_key = [], root, k[0]
    for i in range(n_inter):
        inter = _cert(f"depth inter {i}", k[i + 1], issuer, issuer_key, ca=True)
        issuers.append(inter)
        issuer, issuer_key = inter, k[i + 1]
    return _cert("depth leaf", EC_B, issuer, issuer_key), issuers, root


def test_max_depth_counts_the_certificates_before_the_anchor():
    leaf, inters, root = _chain(2)
    assert cert_checks.verify_chain(leaf, inters[::-1], [root], now=NOW, max_depth=3) == [leaf, *inters[::-1], root]
    with pytest.raises(AuthenticationError, match="certificate chain longer than 2"):
        cert_checks.verify_chain(leaf, inters, [root], now=NOW, max_depth=2)


def test_the_default_max_depth_is_eight_certificates_before_the_anchor():
    leaf, inters, root = _chain(7)
    assert len(cert_checks.verify_chain(leaf, inters, [root], now=NOW)) == 9
    leaf, inters, root = _chain(8)
    with pytest.raises(AuthenticationError, match="certificate chain longer than 8"):
        cert_checks.verify_chain(leaf, inters, [root], now=NOW)


def test_path_length_zero_on_the_anchor_with_one_intermediate_is_refused():
    leaf, inters, _ = _chain(1)
    root0 = _cert("depth root", _CA_KEYS[0], ca=True, path_length=0)
    with pytest.raises(AuthenticationError, match="'CN=depth root' has pathLenConstraint 0 but 1 intermediate"):
        cert_checks.verify_chain(leaf, inters, [root0], now=NOW)
    root1 = _cert("depth root", _CA_KEYS[0], ca=True, path_length=1)
    assert len(cert_checks.verify_chain(leaf, inters, [root1], now=NOW)) == 3


def test_the_anchor_must_be_a_ca_and_valid():
    leaf_key_anchor = _cert("not a ca", _CA_KEYS[0], ca=False)
    leaf = _cert("leaf", EC_B, leaf_key_anchor, _CA_KEYS[0])
    with pytest.raises(AuthenticationError, match="'CN=not a ca' is used as an issuer but is not a CA"):
        cert_checks.verify_chain(leaf, [], [leaf_key_anchor], now=NOW)
    old_root = _cert("old root", _CA_KEYS[0], ca=True, not_after=datetime(2026, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(AuthenticationError, match="'CN=old root' expired at 2026-01-01 00:00:00Z"):
        cert_checks.verify_chain(_cert("leaf", EC_B, old_root, _CA_KEYS[0]), [], [old_root], now=NOW)


def test_an_intermediate_with_a_valid_name_but_bad_signature_is_reported():
    root = _cert("sig root", _CA_KEYS[0], ca=True)
    inter = _cert("sig inter", _CA_KEYS[1], root, _CA_KEYS[0], ca=True)
    impostor = _cert("sig inter", _CA_KEYS[2], root, _CA_KEYS[0], ca=True)  # same name, another key
    leaf = _cert("sig leaf", EC_B, inter, _CA_KEYS[1])
    with pytest.raises(AuthenticationError, match="issued by 'CN=sig inter'.*its signature does not verify"):
        cert_checks.verify_chain(leaf, [impostor], [root], now=NOW)
    assert cert_checks.verify_chain(leaf, [impostor, inter], [root], now=NOW) == [leaf, inter, root]
    with pytest.raises(AuthenticationError, match="no such certificate was given"):
        cert_checks.verify_chain(leaf, [], [root], now=NOW)


def test_leaf_key_usage_and_eku_that_are_accepted():
    root = _cert("ku root", _CA_KEYS[0], ca=True)
    nonrep = _cert("nonrep", EC_B, root, _CA_KEYS[0], key_usage=("content_commitment",))
    assert cert_checks.verify_chain(nonrep, [], [root], now=NOW)[0] == nonrep
    ds = _cert("ds", EC_B, root, _CA_KEYS[0], key_usage=("digital_signature",))
    assert cert_checks.verify_chain(ds, [], [root], now=NOW)[0] == ds
    with pytest.raises(AuthenticationError, match="'CN=ke' has keyUsage without digitalSignature"):
        cert_checks.verify_chain(_cert("ke", EC_B, root, _CA_KEYS[0], key_usage=("key_agreement",)), [], [root],
                                 now=NOW)


def test_any_extended_key_usage_critical_is_accepted():
    root = _cert("eku root", _CA_KEYS[0], ca=True)
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "any eku")])
    leaf = (x509.CertificateBuilder().subject_name(subject).issuer_name(root.subject)
            .public_key(EC_B.public_key()).serial_number(77)
            .not_valid_before(datetime(2025, 1, 1)).not_valid_after(datetime(2030, 1, 1))
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]), critical=True)
            .sign(_CA_KEYS[0], hashes.SHA256()))
    assert cert_checks.verify_chain(leaf, [], [root], now=NOW) == [leaf, root]


def test_load_certificate_passes_a_certificate_through_and_certreq_hash_is_spki_sha1():
    root = _cert("hash root", _CA_KEYS[0], ca=True)
    assert cert_checks.load_certificate(root) is root
    spki = root.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert cert_checks.certreq_hash(root) == hashlib.sha1(spki).digest()
    pem_text = root.public_bytes(serialization.Encoding.PEM).decode()
    assert cert_checks.certreq_hash(pem_text) == hashlib.sha1(spki).digest()


def test_verify_directly_issued_by_really_fails_for_the_impostor():
    """Sanity check of the reference: cryptography refuses the impostor's signature too."""
    root = _cert("sig root", _CA_KEYS[0], ca=True)
    inter = _cert("sig inter", _CA_KEYS[1], root, _CA_KEYS[0], ca=True)
    impostor = _cert("sig inter", _CA_KEYS[2], root, _CA_KEYS[0], ca=True)
    leaf = _cert("sig leaf", EC_B, inter, _CA_KEYS[1])
    with pytest.raises(InvalidSignature):
        leaf.verify_directly_issued_by(impostor)


@pytest.mark.parametrize("key, method", [(EC_A, AuthMethod.DIGITAL_SIGNATURE), (EC_A, AuthMethod.ECDSA_SHA256_P256),
                                         (RSA_A, AuthMethod.DIGITAL_SIGNATURE), (ED_A, AuthMethod.DIGITAL_SIGNATURE)])
def test_verify_signature_with_a_private_key_uses_its_public_half(key, method):
    """Before the review: AttributeError (a private key has no verify())."""
    m, data = auth.sign(key, b"octets", method=method)
    auth.verify_signature(key, m, data, b"octets")
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(key, m, data, b"octets!")


def test_a_1024_bit_dsa_ca_is_weak_like_a_1024_bit_rsa_ca():
    """Before the review a DSA-1024 CA (80-bit strength) was accepted without allow_weak."""
    from cryptography.hazmat.primitives.asymmetric import dsa

    weak = dsa.generate_private_key(1024)
    root = _cert("dsa root", weak, ca=True)
    leaf = _cert("dsa leaf", EC_B, root, weak)
    with pytest.raises(AuthenticationError, match="'CN=dsa root' has a 1024-bit DSA key, which is weak"):
        cert_checks.verify_chain(leaf, [], [root], now=NOW)
    with pytest.warns(WeakAlgorithmWarning, match="1024-bit DSA") as rec:
        assert cert_checks.verify_chain(leaf, [], [root], now=NOW, allow_weak=True) == [leaf, root]
    assert rec[0].message.algorithm == "DSA-1024"


@pytest.mark.parametrize("algs", ["SHA2_256", "25", "2"])
def test_hash_algorithms_notify_data_refuses_one_string(algs):
    """Before the review "25" silently gave 0002 0005 (one ID per character) and "SHA2_256" an error about 'S'."""
    with pytest.raises(ConfigError, match="algs must be a sequence of hash algorithms .* not str") as err:
        auth.hash_algorithms_notify_data(algs)
    assert err.value.field == "algs"


def test_every_prf_step_refuses_md5_without_allow_weak():
    """signed_octets (MACedIDForI) and psk_pad_key use the negotiated PRF too: HMAC-MD5 needs allow_weak."""
    with pytest.raises(WeakAlgorithmError):
        auth.signed_octets(b"m", b"n", "PRF_HMAC_MD5", b"k", ID_BODY)
    with pytest.raises(WeakAlgorithmError):
        auth.psk_pad_key("PRF_HMAC_MD5", b"secret")
    with pytest.warns(WeakAlgorithmWarning):
        so = auth.signed_octets(b"m", b"n", "PRF_HMAC_MD5", b"k", ID_BODY, allow_weak=True)
    assert so.maced_id == hmac.new(b"k", ID_BODY, hashlib.md5).digest()
    with pytest.warns(WeakAlgorithmWarning):
        assert auth.psk_pad_key("PRF_HMAC_MD5", b"secret", allow_weak=True) == \
            hmac.new(b"secret", b"Key Pad for IKEv2", hashlib.md5).digest()


def test_id_type_zero_is_a_one_octet_type_and_an_object_needs_both_attributes():
    assert auth.signed_octets(b"m", b"n", 5, b"k", _Id(0, b"")).id_body == b"\x00\x00\x00\x00"

    class OnlyType:
        id_type = 2

    class OnlyData:
        data = b"x"

    for obj in (OnlyType(), OnlyData()):
        with pytest.raises(ConfigError, match=f"must be bytes or an ID payload, not {type(obj).__name__}"):
            auth.signed_octets(b"m", b"n", 5, b"k", obj)


def test_parsed_auth_data_and_signed_octets_are_frozen():
    import dataclasses

    parsed = auth.parse_signature_auth_data(bytes([len(ID_ED25519)]) + ID_ED25519 + b"sig")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.signature = b"other"
    so = auth.signed_octets(b"m", b"n", 5, b"k", ID_BODY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        so.nonce = b"other"


@pytest.mark.parametrize("loader", [cert_checks.load_certificate, cert_checks.load_certificates])
@pytest.mark.parametrize("text", ["caf\u00e9", "-----BEGIN CERTIFICATE-----\n\u00e9\n-----END CERTIFICATE-----\n"])
def test_text_that_is_not_ascii_is_a_parse_error(loader, text):
    with pytest.raises(ParseError, match="not (an X.509 certificate|a PEM bundle)") as err:
        loader(text)
    assert err.value.offset == 0


def test_load_certificates_reads_der_as_one_certificate_and_verify_chain_needs_a_datetime():
    root = _cert("der root", _CA_KEYS[0], ca=True)
    assert cert_checks.load_certificates(root.public_bytes(serialization.Encoding.DER)) == [root]
    pem = root.public_bytes(serialization.Encoding.PEM)
    assert cert_checks.load_certificates(pem + pem.decode().encode()) == [root, root]
    for now in ("2026-06-01", 1780272000, None):
        with pytest.raises(ConfigError, match=f"now must be a datetime, not {type(now).__name__}") as err:
            cert_checks.verify_chain(root, [], [root], now=now)
        assert err.value.field == "now"
