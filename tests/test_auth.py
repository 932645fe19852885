"""AUTH payload: signed octets, PSK, signatures (RFC 7296 2.15, RFC 4754, RFC 7427), certificates, identities."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import example, given, settings, strategies as st

from ikelab import auth, cert_checks
from ikelab.config import IkeConfig
from ikelab.certs import ec_key_from_seed, load_private_key, make_ca, make_leaf
from ikelab.constants import AuthMethod, HashAlgorithm, IdType
from ikelab.errors import AuthenticationError, ConfigError, ParseError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.identity import (
    Identity,
    format_identity,
    identity_matches_certificate,
    matches,
    parse_identity,
)
from ikelab.pss import PssParams, parse_pss_algorithm_identifier

VECTORS = Path(__file__).parent / "vectors"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
RSA_A = load_private_key(str(VECTORS / "rsa2048_a.pem"))  # generated once, see certs.py
RSA_B = load_private_key(str(VECTORS / "rsa2048_b.pem"))
EC_A = ec_key_from_seed("moon")
EC_B = ec_key_from_seed("sun")

HASHLIB = {"PRF_HMAC_SHA1": hashlib.sha1, "PRF_HMAC_SHA2_256": hashlib.sha256,
           "PRF_HMAC_SHA2_384": hashlib.sha384, "PRF_HMAC_SHA2_512": hashlib.sha512}


# --------------------------------------------------------------------------- PSK, RFC 7296 2.15


def test_key_pad_is_the_17_ascii_characters_without_nul():
    # RFC 7296 2.15: 'the string "Key Pad for IKEv2" is 17 ASCII characters without null termination'
    assert auth.KEY_PAD == bytes.fromhex("4b65792050616420666f7220494b457632")
    assert len(auth.KEY_PAD) == 17


@pytest.mark.parametrize("prf_name", sorted(HASHLIB))
def test_psk_auth_is_the_rfc_formula(prf_name):
    # AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <InitiatorSignedOctets>), computed with hmac directly
    h = HASHLIB[prf_name]
    secret, octets = b"this is a shared secret", bytes(range(200))
    expected = hmac.new(hmac.new(secret, b"Key Pad for IKEv2", h).digest(), octets, h).digest()
    assert auth.psk_auth(prf_name, secret, octets) == expected
    auth.verify_psk(prf_name, secret, octets, expected)


@settings(max_examples=25, deadline=None)
@given(secret=st.binary(min_size=1, max_size=64), octets=st.binary(max_size=300))
def test_psk_auth_property(secret, octets):
    pad = hmac.new(secret, b"Key Pad for IKEv2", hashlib.sha256).digest()
    assert auth.psk_auth("PRF_HMAC_SHA2_256", secret, octets) == hmac.new(pad, octets, hashlib.sha256).digest()


def test_psk_text_secret_is_utf8():
    assert auth.psk_auth(5, "clé", b"x") == auth.psk_auth(5, "clé".encode("utf-8"), b"x")


def test_wrong_psk_fails_with_authentication_failed():
    octets = b"RealMessage1" + b"Nr" + b"mac"
    good = auth.psk_auth("PRF_HMAC_SHA2_256", b"right secret", octets)
    with pytest.raises(AuthenticationError) as err:
        auth.verify_psk("PRF_HMAC_SHA2_256", b"wrong secret", octets, good)
    assert err.value.notify_type == "AUTHENTICATION_FAILED"
    with pytest.raises(AuthenticationError):
        auth.verify_psk("PRF_HMAC_SHA2_256", b"right secret", octets + b"!", good)


def test_empty_psk_is_refused():
    with pytest.raises(ConfigError) as err:
        auth.psk_auth("PRF_HMAC_SHA2_256", b"", b"octets")
    assert err.value.field == "psk"


def test_psk_with_md5_prf_needs_allow_weak():
    with pytest.raises(WeakAlgorithmError):
        auth.psk_auth("PRF_HMAC_MD5", b"secret", b"x")
    with pytest.warns(WeakAlgorithmWarning):
        value = auth.psk_auth("PRF_HMAC_MD5", b"secret", b"x", allow_weak=True)
    assert value == hmac.new(hmac.new(b"secret", auth.KEY_PAD, hashlib.md5).digest(), b"x", hashlib.md5).digest()


# --------------------------------------------------------------------------- signed octets


def test_signed_octets_assembly():
    # InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI,
    # MACedIDForI = prf(SK_pi, RestOfInitIDPayload), RestOfInitIDPayload = IDType | RESERVED | InitIDData
    message, nr, sk_pi = b"\x11" * 300, b"\x22" * 32, b"\x33" * 32
    rest = bytes([IdType.ID_FQDN, 0, 0, 0]) + b"moon.strongswan.org"
    so = auth.signed_octets(message, nr, "PRF_HMAC_SHA2_256", sk_pi, rest)
    maced = hmac.new(sk_pi, rest, hashlib.sha256).digest()
    assert so.message == message and so.nonce == nr and so.id_body == rest
    assert so.maced_id == maced
    assert so.octets == message + nr + maced
    assert bytes(so) == so.octets
    # an ID payload object (IDi, or ikelab.identity.Identity) gives the same RestOfInitIDPayload
    from ikelab.payloads import IDi

    assert auth.signed_octets(message, nr, 5, sk_pi, IDi(IdType.ID_FQDN, b"moon.strongswan.org")) == so
    assert auth.signed_octets(message, nr, 5, sk_pi, parse_identity("@moon.strongswan.org")) == so
    # psk_auth accepts the SignedOctets object itself
    assert auth.psk_auth(5, b"k" * 16, so) == auth.psk_auth(5, b"k" * 16, message + nr + maced)


def test_signed_octets_rejects_a_short_id_body():
    with pytest.raises(ConfigError):
        auth.signed_octets(b"m", b"n", 5, b"k", b"\x02\x00")


# --------------------------------------------------------------------------- RFC 4754 section 8 vectors

# RFC 4754 section 8 (with verified erratum 4748 for the AUTH header bytes): the message is "abc";
# w is the private key, (gwx, gwy) the public key; the AUTH data is r | s.
RFC4754 = [
    (AuthMethod.ECDSA_SHA256_P256, ec.SECP256R1(),
     "2442A5CC0ECD015FA3CA31DC8E2BBC70BF42D60CBCA20085E0822CB04235E970",
     "6FC98BD7E50211A4A27102FA3549DF79EBCB4BF246B80945CDDFE7D509BBFD7D",
     "CB28E0999B9C7715FD0A80D8E47A77079716CBBF917DD72E97566EA1C066957C",
     "86FA3BB4E26CAD5BF90B7F81899256CE7594BB1EA0C89212748BFF3B3D5B0315",
     "00000048" "09000000"),
    (AuthMethod.ECDSA_SHA384_P384, ec.SECP384R1(),
     "96281BF8DD5E0525CA049C048D345D3082968D10FEDF5C5ACA0C64E6465A97EA5CE10C9DFEC21797415710721F437922",
     "447688BA94708EB6E2E4D59F6AB6D7EDFF9301D249FE49C33096655F5D502FAD3D383B91C5E7EDAA2B714CC99D5743CA",
     "FB017B914E29149432D8BAC29A514640B46F53DDAB2C69948084E2930F1C8F7E08E07C9C63F2D21A07DCB56A6AF56EB3",
     "B263A1305E057F984D38726A1B46874109F417BCA112674C528262A40A629AF1CBB9F516CE0FA7D2FF630863A00E8B9F",
     "00000068" "0A000000"),
    (AuthMethod.ECDSA_SHA512_P521, ec.SECP521R1(),
     "0151518F1AF0F563517EDD5485190DF95A4BF57B5CBA4CF2A9A3F6474725A35F7AFE0A6DDEB8BEDBCD6A197E592D40188901CECD650699C9B5E456AEA5ADD19052A8",
     "006F3B142EA1BFFF7E2837AD44C9E4FF6D2D34C73184BBAD90026DD5E6E85317D9DF45CAD7803C6C20035B2F3FF63AFF4E1BA64D1C077577DA3F4286C58F0AEAE643",
     "0154FD3836AF92D0DCA57DD5341D3053988534FDE8318FC6AAAAB68E2E6F4339B19F2F281A7E0B22C269D93CF8794A9278880ED7DBB8D9362CAEACEE544320552251",
     "017705A7030290D1CEB605A9A1BB03FF9CDD521E87A696EC926C8C10C8362DF4975367101F67D1CF9BCCBF2F3D239534FA509E70AAC851AE01AAC68D62F866472660",
     "0000008C" "0B000000"),
]
RFC4754_PRIVATE = {
    AuthMethod.ECDSA_SHA256_P256: "DC51D3866A15BACDE33D96F992FCA99DA7E6EF0934E7097559C27F1614C88A7F",
    AuthMethod.ECDSA_SHA384_P384: "0BEB646634BA87735D77AE4809A0EBEA865535DE4C1E1DCB692E84708E81A5AF62E528C38B2A81B35309668D73524D9F",
    AuthMethod.ECDSA_SHA512_P521: "0065FDA3409451DCAB0A0EAD45495112A3D813C17BFD34BDF8C1209D7DF5849120597779060A7FF9D704ADF78B570FFAD6F062E95C7E0C5D5481C5B153B48B375FA1",
}


def _pub(curve, gwx, gwy):
    return ec.EllipticCurvePublicNumbers(int(gwx, 16), int(gwy, 16), curve).public_key()


@pytest.mark.parametrize("method, curve, gwx, gwy, r, s, header", RFC4754, ids=lambda v: getattr(v, "name", None))
def test_rfc4754_signatures_verify(method, curve, gwx, gwy, r, s, header):
    key = _pub(curve, gwx, gwy)
    data = bytes.fromhex(r + s)
    auth.verify_signature(key, method, data, b"abc")
    # the private key w of the RFC gives the same public key
    w = ec.derive_private_key(int(RFC4754_PRIVATE[method], 16), curve)
    assert w.public_key().public_numbers() == key.public_numbers()
    # one flipped bit anywhere -> AuthenticationError
    for pos in (0, len(data) // 2, len(data) - 1):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises(AuthenticationError):
            auth.verify_signature(key, method, bytes(bad), b"abc")
    with pytest.raises(AuthenticationError):
        auth.verify_signature(key, method, data, b"abd")


@pytest.mark.parametrize("method, curve, gwx, gwy, r, s, header", RFC4754, ids=lambda v: getattr(v, "name", None))
def test_rfc4754_auth_payload_bytes(method, curve, gwx, gwy, r, s, header):
    # RFC 4754 section 8 (erratum 4748): generic header | Auth Method | RESERVED | r | s
    from ikelab.payloads import AUTH

    assert AUTH(method, bytes.fromhex(r + s)).encode(0) == bytes.fromhex(header + r + s)


def test_rfc4754_signing_gives_fixed_size_r_s():
    for method, curve, *_ in RFC4754:
        w = ec.derive_private_key(int(RFC4754_PRIVATE[method], 16), curve)
        m, data = auth.sign(w, b"abc", method=method)
        assert m == method and len(data) == 2 * ((curve.key_size + 7) // 8)
        auth.verify_signature(w.public_key(), method, data, b"abc")


def test_rfc4754_method_needs_the_matching_curve():
    w384 = ec.derive_private_key(int(RFC4754_PRIVATE[AuthMethod.ECDSA_SHA384_P384], 16), ec.SECP384R1())
    m, data = auth.sign(w384, b"abc", method=AuthMethod.ECDSA_SHA384_P384)
    with pytest.raises(AuthenticationError, match="key type mismatch"):
        auth.verify_signature(w384.public_key(), AuthMethod.ECDSA_SHA256_P256, data, b"abc")
    with pytest.raises(ConfigError):
        auth.sign(w384, b"abc", method=AuthMethod.ECDSA_SHA256_P256)
    with pytest.raises(AuthenticationError, match="expected"):
        auth.verify_signature(w384.public_key(), AuthMethod.ECDSA_SHA384_P384, data[:-1], b"abc")


# --------------------------------------------------------------------------- RFC 7427 AlgorithmIdentifiers

# RFC 7427 Appendix A, typed from the RFC's hex dumps.
RFC7427_APPENDIX_A = {
    "A.1.1 sha1WithRSAEncryption": ("300d06092a864886f70d0101050500", "rsa", "pkcs1", HashAlgorithm.SHA1),
    "A.1.2 sha256WithRSAEncryption": ("300d06092a864886f70d01010b0500", "rsa", "pkcs1", HashAlgorithm.SHA2_256),
    "A.1.3 sha384WithRSAEncryption": ("300d06092a864886f70d01010c0500", "rsa", "pkcs1", HashAlgorithm.SHA2_384),
    "A.1.4 sha512WithRSAEncryption": ("300d06092a864886f70d01010d0500", "rsa", "pkcs1", HashAlgorithm.SHA2_512),
    "A.3.1 ecdsa-with-sha1": ("300906072a8648ce3d0401", "ecdsa", "ecdsa", HashAlgorithm.SHA1),
    "A.3.2 ecdsa-with-sha256": ("300a06082a8648ce3d040302", "ecdsa", "ecdsa", HashAlgorithm.SHA2_256),
    "A.3.3 ecdsa-with-sha384": ("300a06082a8648ce3d040303", "ecdsa", "ecdsa", HashAlgorithm.SHA2_384),
    "A.3.4 ecdsa-with-sha512": ("300a06082a8648ce3d040304", "ecdsa", "ecdsa", HashAlgorithm.SHA2_512),
    "A.4.3 RSASSA-PSS with SHA-256": (
        "3046 0609 2a86 4886 f70d 0101 0a30 39a0 0f30 0d06 0960 8648 0165 0304 0201 0500"
        "a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 0500 a203"
        "0201 20a3 0302 0101", "rsa", "pss", HashAlgorithm.SHA2_256),
}


@pytest.mark.parametrize("name", sorted(RFC7427_APPENDIX_A))
def test_rfc7427_algorithm_identifiers(name):
    der_hex, key, scheme, hash_alg = RFC7427_APPENDIX_A[name]
    der = bytes.fromhex(der_hex.replace(" ", ""))
    found = auth.ALGORITHM_IDENTIFIERS[der]
    assert (found.key, found.scheme, found.hash_alg) == (key, scheme, hash_alg)


def test_rfc7427_id_ed25519():
    # RFC 8420 2: id-Ed25519 AlgorithmIdentifier, no parameters
    assert auth.ALGORITHM_IDENTIFIERS[bytes.fromhex("300506032b6570")].key == "ed25519"


@pytest.mark.parametrize("hash_alg, appendix", [
    (HashAlgorithm.SHA2_256, "A.1.2 sha256WithRSAEncryption"),
    (HashAlgorithm.SHA2_384, "A.1.3 sha384WithRSAEncryption"),
    (HashAlgorithm.SHA2_512, "A.1.4 sha512WithRSAEncryption"),
])
def test_rsa_pkcs1_auth_data_is_length_alg_id_signature(hash_alg, appendix):
    # RFC 7427 3: ASN.1 Length (1 octet) | AlgorithmIdentifier | Signature Value.  PKCS#1 v1.5 is
    # deterministic, so the signature value must equal cryptography's raw RSASSA-PKCS1-v1_5 signature.
    octets = b"InitiatorSignedOctets" * 10
    method, data = auth.sign(RSA_A, octets, hash_alg=hash_alg)
    der = bytes.fromhex(RFC7427_APPENDIX_A[appendix][0])
    h = {HashAlgorithm.SHA2_256: hashes.SHA256(), HashAlgorithm.SHA2_384: hashes.SHA384(),
         HashAlgorithm.SHA2_512: hashes.SHA512()}[hash_alg]
    assert method == AuthMethod.DIGITAL_SIGNATURE
    assert data == bytes([len(der)]) + der + RSA_A.sign(octets, padding.PKCS1v15(), h)
    auth.verify_signature(RSA_A.public_key(), method, data, octets)


def test_rsa_pss_uses_appendix_a43_and_verifies():
    method, data = auth.sign(RSA_A, b"octets", rsa_pss=True)
    der = bytes.fromhex(RFC7427_APPENDIX_A["A.4.3 RSASSA-PSS with SHA-256"][0].replace(" ", ""))
    assert data[0] == len(der) == 72 and data[1:73] == der
    RSA_A.public_key().verify(data[73:], b"octets", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    auth.verify_signature(RSA_A.public_key(), method, data, b"octets")


@pytest.mark.parametrize("curve, hash_alg", [
    (ec.SECP256R1(), HashAlgorithm.SHA2_256), (ec.SECP384R1(), HashAlgorithm.SHA2_384),
    (ec.SECP521R1(), HashAlgorithm.SHA2_512), (ec.SECP256R1(), HashAlgorithm.SHA2_512),
])
def test_ecdsa_digital_signature_is_der_and_verifies(curve, hash_alg):
    key = ec_key_from_seed("ecdsa", curve.name)
    method, data = auth.sign(key, b"signed octets", hash_alg=hash_alg)
    n = data[0]
    r, s = decode_dss_signature(data[1 + n:])  # RFC 7427 3: DER ECDSA-Sig-Value, not r|s
    assert r > 0 and s > 0
    h = {HashAlgorithm.SHA2_256: hashes.SHA256(), HashAlgorithm.SHA2_384: hashes.SHA384(),
         HashAlgorithm.SHA2_512: hashes.SHA512()}[hash_alg]
    key.public_key().verify(data[1 + n:], b"signed octets", ec.ECDSA(h))
    auth.verify_signature(key.public_key(), method, data, b"signed octets")


@pytest.mark.parametrize("key", [RSA_A, EC_A, ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))],
                         ids=["rsa", "ecdsa", "ed25519"])
def test_round_trip_and_tampering(key):
    octets = auth.signed_octets(b"msg" * 20, b"n" * 32, 5, b"k" * 32, parse_identity("moon@strongswan.org"))
    method, data = auth.sign(key, octets)
    auth.verify_signature(key.public_key(), method, data, octets)
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(key.public_key(), method, data, octets.octets + b"\x00")
    other = {id(RSA_A): RSA_B, id(EC_A): EC_B}.get(id(key), ed25519.Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))
    with pytest.raises(AuthenticationError):
        auth.verify_signature(other.public_key(), method, data, octets)


def test_key_type_mismatch_and_unknown_algorithm_identifier():
    method, data = auth.sign(EC_A, b"x")
    with pytest.raises(AuthenticationError, match="key type mismatch"):
        auth.verify_signature(RSA_A.public_key(), method, data, b"x")
    bogus = auth.encode_signature_auth_data(bytes.fromhex("300a06082a8648ce3d040399"), b"\x30\x00")
    with pytest.raises(AuthenticationError, match="unknown signature AlgorithmIdentifier"):
        auth.verify_signature(EC_A.public_key(), method, bogus, b"x")
    with pytest.raises(ParseError):
        auth.verify_signature(EC_A.public_key(), method, b"\x20\x30", b"x")


#: strongSwan 5.9's RSASSA-PSS AlgorithmIdentifier (charon.rsa_pss = yes), from its IKE_AUTH: hashes with NULL
#: parameters, salt 32, and no trailerField (DER leaves out a DEFAULT); RFC 7427 A.4.3 writes trailerField out.
STRONGSWAN_PSS_SHA256 = bytes.fromhex(
    "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d060960"
    "86480165030402010500a203020120")


def _der(tag: int, *parts: bytes) -> bytes:
    """A DER element: tag, length in short or long form (X.690 8.1.3), contents."""
    body = b"".join(parts)
    n, size = len(body), (len(body).bit_length() + 7) // 8
    return bytes([tag]) + (bytes([n]) if n < 0x80 else bytes([0x80 + size]) + n.to_bytes(size, "big")) + body


_PSS_OID = bytes.fromhex("06092a864886f70d01010a")  # 1.2.840.113549.1.1.10, id-RSASSA-PSS


def _hash_id(last_arc: int, null: bool = True) -> bytes:  # 2.16.840.1.101.3.4.2.n: 1 SHA-256 ... 3 SHA-512
    return _der(0x30, bytes.fromhex("06096086480165030402") + bytes([last_arc]), b"\x05\x00" if null else b"")


def _pss_id(*fields: bytes) -> bytes:
    return _der(0x30, _PSS_OID, _der(0x30, *fields))


def _mgf1(hash_id: bytes) -> bytes:
    return _der(0xA1, _der(0x30, bytes.fromhex("06092a864886f70d010108"), hash_id))


@pytest.mark.parametrize("alg_id,hash_alg,salt", [
    (STRONGSWAN_PSS_SHA256, HashAlgorithm.SHA2_256, 32),
    (auth._pss_alg_id(HashAlgorithm.SHA2_384), HashAlgorithm.SHA2_384, 48),  # RFC 7427 A.4.3's own spelling
    # the hash parameters absent instead of NULL (RFC 4055 2.1: receivers take both), salt 20
    (_pss_id(_der(0xA0, _hash_id(3, null=False)), _mgf1(_hash_id(3, null=False)), _der(0xA2, _der(0x02, b"\x14"))),
     HashAlgorithm.SHA2_512, 20),
], ids=["strongswan", "rfc7427-a.4.3", "absent-parameters"])
def test_rsassa_pss_identifiers_are_read_by_their_meaning(alg_id: bytes, hash_alg: HashAlgorithm, salt: int):
    """Any DER spelling of RSASSA-PSS parameters verifies, with the salt length it names (RFC 4055 3.1).

    Matching RFC 7427 Appendix A's octets only, ikelab refused strongSwan's PSS signatures
    (tests/interop/test_ikelab_auth.py::test_certificates[rsa-pss])."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    assert STRONGSWAN_PSS_SHA256 == _pss_id(_der(0xA0, _hash_id(1)), _mgf1(_hash_id(1)), _der(0xA2, _der(0x02, b" ")))
    message = b"RealMessage1 | NonceRData | MACedIDForI"
    digest = {HashAlgorithm.SHA2_256: hashes.SHA256, HashAlgorithm.SHA2_384: hashes.SHA384,
              HashAlgorithm.SHA2_512: hashes.SHA512}[hash_alg]
    assert isinstance(RSA_A, rsa.RSAPrivateKey)
    signature = RSA_A.sign(message, padding.PSS(mgf=padding.MGF1(digest()), salt_length=salt), digest())
    data = auth.encode_signature_auth_data(alg_id, signature)
    parsed = auth.parse_signature_auth_data(data)
    assert (parsed.scheme.scheme, parsed.scheme.hash_alg) == ("pss", hash_alg)
    auth.verify_signature(RSA_A.public_key(), AuthMethod.DIGITAL_SIGNATURE, data, message)
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(RSA_A.public_key(), AuthMethod.DIGITAL_SIGNATURE, data, message + b"!")


@pytest.mark.parametrize("hash_alg, arc, digest", [
    (HashAlgorithm.SHA2_256, 1, hashes.SHA256), (HashAlgorithm.SHA2_384, 2, hashes.SHA384),
    (HashAlgorithm.SHA2_512, 3, hashes.SHA512),
])
def test_rsassa_pss_signatures_name_the_salt_they_use(hash_alg: HashAlgorithm, arc: int, digest) -> None:
    """RFC 7427 A.4.3's form, built here from RFC 4055's fields: hash, MGF1 with the same hash, salt = the
    hash length, trailerField 1.  A peer reads the salt from these octets (strongSwan does), so a wrong
    saltLength would make every PSS signature fail there, while ikelab's own verify, which read it too, agreed."""
    salt = digest.digest_size
    expected = _pss_id(_der(0xA0, _hash_id(arc)), _mgf1(_hash_id(arc)), _der(0xA2, _der(0x02, bytes([salt]))),
                       _der(0xA3, _der(0x02, b"\x01")))
    assert auth._pss_alg_id(hash_alg) == expected
    method, data = auth.sign(RSA_A, b"octets", rsa_pss=True, hash_alg=hash_alg)
    assert data[1 : 1 + data[0]] == expected
    RSA_A.public_key().verify(data[1 + data[0]:], b"octets", padding.PSS(padding.MGF1(digest()), salt), digest())


@pytest.mark.parametrize("alg_id,message", [
    (_pss_id(_der(0xA0, _hash_id(1)), _der(0xA3, _der(0x02, b"\x02"))), "trailerField 2"),
    (_pss_id(_der(0xA0, _hash_id(8))), "unsupported hash 2.16.840.1.101.3.4.2.8"),  # SHA3-256
    (_pss_id(_der(0xA4, _der(0x02, b"\x01"))), r"unknown field \[4\]"),
    (_der(0x30, _PSS_OID, _der(0x30, _der(0xA2, b"\x02\x01"))), "malformed RSASSA-PSS AlgorithmIdentifier"),
], ids=["trailer-2", "sha3", "field-4", "truncated"])
def test_rsassa_pss_parameters_that_cannot_be_checked(alg_id: bytes, message: str):
    with pytest.raises(AuthenticationError, match=message):
        auth.parse_signature_auth_data(auth.encode_signature_auth_data(alg_id, b"\x00" * 256))


_SHA = {HashAlgorithm.SHA1: hashes.SHA1, HashAlgorithm.SHA2_256: hashes.SHA256, HashAlgorithm.SHA2_384: hashes.SHA384,
        HashAlgorithm.SHA2_512: hashes.SHA512}


def _pss_signed(message: bytes, params: PssParams) -> bytes:
    """RSASSA-PSS signature made by cryptography itself with these parameters (RFC 8017 8.1.1)."""
    pad = padding.PSS(mgf=padding.MGF1(_SHA[params.mgf_hash]()), salt_length=params.salt_length)
    return RSA_A.sign(message, pad, _SHA[params.hash_alg]())


@pytest.mark.parametrize("alg_id, params", [
    # RFC 4055 3.1: RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] DEFAULT sha1, maskGenAlgorithm [1]
    # DEFAULT mgf1SHA1, saltLength [2] DEFAULT 20, trailerField [3] DEFAULT 1 }; DER leaves DEFAULTs out
    (_pss_id(_der(0xA0, _hash_id(1)), _mgf1(_hash_id(1))),
     PssParams(HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_256, 20)),
    (_pss_id(_der(0xA0, _hash_id(2))), PssParams(HashAlgorithm.SHA2_384, HashAlgorithm.SHA1, 20)),
    (_pss_id(), PssParams(HashAlgorithm.SHA1, HashAlgorithm.SHA1, 20)),
    # hashAlgorithm and maskGenAlgorithm are separate fields (RFC 4055 3.1 only RECOMMENDS the same hash)
    (_pss_id(_der(0xA0, _hash_id(1)), _mgf1(_hash_id(3)), _der(0xA2, _der(0x02, b"\x20"))),
     PssParams(HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_512, 32)),
], ids=["default-salt", "default-mgf1-sha1", "all-defaults", "mgf1-sha512-with-sha256"])
def test_rsassa_pss_defaults_and_separate_mgf1_hash(alg_id: bytes, params: PssParams) -> None:
    """RFC 4055 3.1: each field left out takes its DEFAULT, and MGF1's hash is its own field; a signature
    cryptography made with exactly those parameters verifies (RFC 8017 9.1.2), one made otherwise does not."""
    assert parse_pss_algorithm_identifier(alg_id) == params
    message = b"InitiatorSignedOctets"
    data = auth.encode_signature_auth_data(alg_id, _pss_signed(message, params))
    parsed = auth.parse_signature_auth_data(data)
    assert (parsed.scheme.scheme, parsed.scheme.hash_alg, parsed.scheme.pss) == ("pss", params.hash_alg, params)
    weak = params.hash_alg == HashAlgorithm.SHA1  # the DEFAULT hash is SHA-1 (RFC 8247 3.2)
    if weak:
        with pytest.raises(WeakAlgorithmError):
            auth.verify_signature(RSA_A.public_key(), AuthMethod.DIGITAL_SIGNATURE, data, message)
        with pytest.warns(WeakAlgorithmWarning):
            auth.verify_signature(RSA_A.public_key(), AuthMethod.DIGITAL_SIGNATURE, data, message, allow_weak=True)
    else:
        auth.verify_signature(RSA_A.public_key(), AuthMethod.DIGITAL_SIGNATURE, data, message)
    # the same message signed with MGF1 over the message hash (the usual choice) is another signature
    if params.mgf_hash != params.hash_alg:
        other = auth.encode_signature_auth_data(alg_id, _pss_signed(message, params._replace(mgf_hash=params.hash_alg)))
        with pytest.raises(AuthenticationError, match="bad signature"):
            auth.verify_signature(RSA_A.public_key(), AuthMethod.DIGITAL_SIGNATURE, other, message)


def test_rsassa_pss_salt_length_is_the_one_the_identifier_names():
    """RFC 8017 9.1.2 (EMSA-PSS-VERIFY step 10) checks the salt length sLen, which RFC 4055 3.1's saltLength
    names: a signature made with a 20-octet salt does not verify under an identifier that says 32."""
    message = b"ResponderSignedOctets"
    signed_20 = _pss_signed(message, PssParams(HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_256, 20))
    with pytest.raises(InvalidSignature):  # cryptography, told sLen = 32, refuses it too
        RSA_A.public_key().verify(signed_20, message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    says_32 = auth.encode_signature_auth_data(STRONGSWAN_PSS_SHA256, signed_20)
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.verify_signature(RSA_A.public_key(), AuthMethod.DIGITAL_SIGNATURE, says_32, message)
    says_20 = _pss_id(_der(0xA0, _hash_id(1)), _mgf1(_hash_id(1)), _der(0xA2, _der(0x02, b"\x14")))
    auth.verify_signature(RSA_A.public_key(), AuthMethod.DIGITAL_SIGNATURE,
                          auth.encode_signature_auth_data(says_20, signed_20), message)


_SHA256_WITH_OCTET_STRING_PARAMS = _der(0x30, bytes.fromhex("06096086480165030402") + b"\x01", b"\x04\x00")


@pytest.mark.parametrize("alg_id, message", [
    (STRONGSWAN_PSS_SHA256 + b"\x00", "unknown signature AlgorithmIdentifier"),  # a byte after the SEQUENCE
    (_pss_id(_der(0xA0, _hash_id(1)), _der(0xA2, _der(0x04, b"\x20"))), "not a small INTEGER"),
    (_pss_id(_der(0xA0, _hash_id(1)), _der(0xA2, _der(0x02, b"\x80"))), "saltLength -128 is negative"),
    (_pss_id(_der(0xA0, _SHA256_WITH_OCTET_STRING_PARAMS)), "must be NULL or absent"),
    # MGF OID 1.2.840.113549.1.1.9 (id-pSpecified, an OAEP parameter), not id-mgf1
    (_pss_id(_der(0xA1, _der(0x30, bytes.fromhex("06092a864886f70d010109"), _hash_id(1)))), "only RSASSA-PSS mask"),
], ids=["trailing-byte", "salt-octet-string", "salt-negative", "hash-params-not-null", "not-mgf1"])
def test_rsassa_pss_identifiers_that_are_refused(alg_id: bytes, message: str):
    """RFC 4055 2.1 and 3.1: the parameters are one SEQUENCE of DER INTEGERs and hash AlgorithmIdentifiers with
    NULL or absent parameters, and MGF1 is the only mask generation function (RFC 8017 B.2.1)."""
    with pytest.raises(AuthenticationError, match=message):
        auth.parse_signature_auth_data(auth.encode_signature_auth_data(alg_id, b"\x00" * 256))


def test_asn1_length_past_the_auth_data_is_a_parse_error():
    """RFC 7427 3: 'ASN.1 Length' is the AlgorithmIdentifier's length; one octet more than the data holds is a
    malformed payload (INVALID_SYNTAX), even when the octets there would make a known identifier."""
    der = bytes.fromhex(RFC7427_APPENDIX_A["A.3.2 ecdsa-with-sha256"][0])
    with pytest.raises(ParseError, match="overruns") as err:
        auth.parse_signature_auth_data(bytes([len(der) + 1]) + der)
    assert err.value.notify_type == "INVALID_SYNTAX"
    assert auth.parse_signature_auth_data(bytes([len(der)]) + der).algorithm_identifier == der


def test_rfc4754_signature_must_be_exactly_r_and_s():
    """RFC 4754 7: the signature is r | s, each exactly the size of the curve's order (32 octets for P-256):
    an extra octet between them is refused, even a zero one that leaves the integer s unchanged."""
    method, curve, gwx, gwy, r, s, _ = RFC4754[0]
    key = _pub(curve, gwx, gwy)
    auth.verify_signature(key, method, bytes.fromhex(r + s), b"abc")
    for bad in (bytes.fromhex(r + "00" + s), bytes.fromhex(r + s + "00"), bytes.fromhex("00" + r + s)):
        with pytest.raises(AuthenticationError, match=r"expected r\|s of 64"):
            auth.verify_signature(key, method, bad, b"abc")


def test_verify_with_a_certificate():
    ca_key = ec_key_from_seed("ca")
    ca = make_ca("C=CH, O=strongSwan, CN=Root CA", ca_key)
    leaf = make_leaf(ca, ca_key, "C=CH, O=strongSwan, CN=moon", RSA_A, san=["moon.strongswan.org"])
    method, data = auth.sign(RSA_A, b"x")
    auth.verify_signature(leaf, method, data, b"x")


def test_sha1_and_method_1_are_weak():
    with pytest.raises(WeakAlgorithmError):
        auth.sign(RSA_A, b"x", method=AuthMethod.RSA_DIGITAL_SIGNATURE)
    with pytest.warns(WeakAlgorithmWarning, match="SHA-1"):
        method, data = auth.sign(RSA_A, b"x", method=AuthMethod.RSA_DIGITAL_SIGNATURE, allow_weak=True)
    # method 1 is RSASSA-PKCS1-v1_5 over SHA-1, raw (no AlgorithmIdentifier)
    assert data == RSA_A.sign(b"x", padding.PKCS1v15(), hashes.SHA1())
    with pytest.raises(WeakAlgorithmError):
        auth.verify_signature(RSA_A.public_key(), method, data, b"x")
    with pytest.warns(WeakAlgorithmWarning):
        auth.verify_signature(RSA_A.public_key(), method, data, b"x", allow_weak=True)
    with pytest.raises(WeakAlgorithmError):
        auth.sign(EC_A, b"x", hash_alg=HashAlgorithm.SHA1)
    # a peer's method-14 signature over SHA-1 (ecdsa-with-SHA1) is refused too, unless allowed
    with pytest.warns(WeakAlgorithmWarning):
        method, data = auth.sign(EC_A, b"x", hash_alg=HashAlgorithm.SHA1, allow_weak=True)
    assert method == AuthMethod.DIGITAL_SIGNATURE
    with pytest.raises(WeakAlgorithmError, match="SHA-1"):
        auth.verify_signature(EC_A.public_key(), method, data, b"x")
    with pytest.warns(WeakAlgorithmWarning):
        auth.verify_signature(EC_A.public_key(), method, data, b"x", allow_weak=True)


def test_signature_hash_algorithms_notify():
    # RFC 7427 4: 2-octet Hash Algorithm Identifiers, SHA2-256 = 2, SHA2-384 = 3, SHA2-512 = 4; RFC 8420 2:
    # Identity = 5, which a peer needs before it may sign with Ed25519 (strongSwan refuses to, without it)
    assert auth.hash_algorithms_notify_data() == bytes.fromhex("0002000300040005")
    assert auth.parse_hash_algorithms(bytes.fromhex("00020005ffff")) == (HashAlgorithm.SHA2_256,
                                                                         HashAlgorithm.IDENTITY, 0xFFFF)
    with pytest.raises(ParseError):
        auth.parse_hash_algorithms(b"\x00")


ED_A = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.mark.parametrize("key, announced, expected", [
    (EC_A, None, HashAlgorithm.SHA2_256),  # no list: SHA-256, which every method-14 verifier takes
    (RSA_A, None, HashAlgorithm.SHA2_256),
    (ED_A, None, HashAlgorithm.IDENTITY),
    (EC_A, "0002000300040005", HashAlgorithm.SHA2_256),  # ikelab's own list and charon's
    (RSA_A, "00040003", HashAlgorithm.SHA2_384),  # ikelab's order of preference, not the peer's
    (EC_A, "0004", HashAlgorithm.SHA2_512),
    (RSA_A, "ffff00010004", HashAlgorithm.SHA2_512),  # unknown IDs and SHA-1 passed over
    (ED_A, "00020005", HashAlgorithm.IDENTITY),
], ids=["ec-none", "rsa-none", "ed-none", "ikelab-list", "preference", "sha512", "skips", "ed-identity"])
def test_the_signing_hash_is_one_the_peer_announced(key, announced, expected):
    data = None if announced is None else bytes.fromhex(announced)
    assert auth.signature_hash(key, data) == expected
    if key is not ED_A:  # and the signature made with it names that hash (RFC 7427 3)
        _, value = auth.sign(key, b"octets", hash_alg=expected)
        auth.verify_signature(key.public_key(), AuthMethod.DIGITAL_SIGNATURE, value, b"octets")
        assert auth.parse_signature_auth_data(value).scheme.hash_alg == expected


@pytest.mark.parametrize("key, announced, words", [
    (EC_A, "0001", ["lists SHA1", "allow_weak", "RFC 7427 4"]),
    (RSA_A, "0005", ["lists IDENTITY", "SHA2_256, SHA2_384, SHA2_512"]),
    (EC_A, "", ["lists nothing"]),
    (EC_A, "8000", ["lists 32768"]),
    (ED_A, "000200030004", ["Ed25519", "IDENTITY (5)", "RFC 8420 2"]),
], ids=["sha1", "identity-only", "empty", "unknown", "ed-without-identity"])
def test_no_usable_hash_is_refused_with_the_peer_list(key, announced, words):
    with pytest.raises(ConfigError) as exc:
        auth.signature_hash(key, bytes.fromhex(announced))
    for word in words:
        assert word in str(exc.value)


def test_sha1_only_when_allowed():
    assert auth.signature_hash(EC_A, b"\x00\x01", allow_weak=True) == HashAlgorithm.SHA1
    assert auth.signature_hash(EC_A, b"\x00\x01\x00\x02", allow_weak=True) == HashAlgorithm.SHA2_256


# --------------------------------------------------------------------------- certificates


@pytest.fixture(scope="module")
def pki():
    root_key = ec_key_from_seed("root", "secp384r1")
    root = make_ca("C=CH, O=strongSwan, CN=strongSwan Root CA", root_key)
    inter_key = ec_key_from_seed("intermediate")
    inter = make_ca("C=CH, O=strongSwan, CN=Intermediate CA", inter_key, issuer=root, issuer_key=root_key)
    leaf = make_leaf(inter, inter_key, "C=CH, O=strongSwan, CN=moon.strongswan.org", EC_A,
                     san=["moon.strongswan.org", "192.0.2.1", "moon@strongswan.org", "2001:db8::1"])
    direct = make_leaf(root, root_key, "C=CH, O=strongSwan, CN=sun.strongswan.org", RSA_A,
                       san=["sun.strongswan.org"])
    return dict(root=root, root_key=root_key, inter=inter, inter_key=inter_key, leaf=leaf, direct=direct)


def test_good_chains(pki):
    path = cert_checks.verify_chain(pki["leaf"], [pki["inter"]], [pki["root"]], now=NOW)
    assert path == [pki["leaf"], pki["inter"], pki["root"]]
    assert cert_checks.verify_chain(pki["direct"], [], [pki["root"]], now=NOW) == [pki["direct"], pki["root"]]
    # naive datetimes are read as UTC; PEM and DER inputs work as well
    pem = pki["direct"].public_bytes(serialization.Encoding.PEM)
    der = pki["root"].public_bytes(serialization.Encoding.DER)
    cert_checks.verify_chain(pem, [], [der], now=datetime(2026, 6, 1))


def test_wrong_ca(pki):
    other_key = ec_key_from_seed("other root")
    other = make_ca("C=CH, O=strongSwan, CN=strongSwan Root CA", other_key)  # same name, other key
    with pytest.raises(AuthenticationError, match="not a trust anchor"):
        cert_checks.verify_chain(pki["direct"], [], [other], now=NOW)
    with pytest.raises(AuthenticationError, match="not a trust anchor"):
        cert_checks.verify_chain(pki["leaf"], [], [pki["root"]], now=NOW)  # intermediate missing
    with pytest.raises(AuthenticationError, match="no trust anchors"):
        cert_checks.verify_chain(pki["leaf"], [pki["inter"]], [], now=NOW)


def test_expired_and_not_yet_valid(pki):
    short = make_leaf(pki["root"], pki["root_key"], "CN=short", EC_B,
                      not_before=datetime(2026, 1, 1, tzinfo=timezone.utc),
                      not_after=datetime(2026, 2, 1, tzinfo=timezone.utc))
    cert_checks.verify_chain(short, [], [pki["root"]], now=datetime(2026, 1, 15, tzinfo=timezone.utc))
    with pytest.raises(AuthenticationError, match="expired"):
        cert_checks.verify_chain(short, [], [pki["root"]], now=datetime(2026, 2, 1, 0, 0, 1, tzinfo=timezone.utc))
    with pytest.raises(AuthenticationError, match="not yet valid"):
        cert_checks.verify_chain(short, [], [pki["root"]], now=datetime(2025, 12, 31, 23, 59, tzinfo=timezone.utc))
    with pytest.raises(AuthenticationError, match="expired"):  # the anchor expires too
        cert_checks.verify_chain(pki["direct"], [], [pki["root"]], now=datetime(2035, 1, 2, tzinfo=timezone.utc))


def test_leaf_used_as_ca(pki):
    # the end-entity 'leaf' signs a certificate: basicConstraints cA FALSE must stop the chain
    rogue = make_leaf(pki["leaf"], EC_A, "CN=rogue", EC_B)
    with pytest.raises(AuthenticationError, match="not a CA"):
        cert_checks.verify_chain(rogue, [pki["leaf"], pki["inter"]], [pki["root"]], now=NOW)


def test_path_length_constraint(pki):
    root_key = ec_key_from_seed("pathlen root")
    root = make_ca("CN=pathlen root", root_key, path_length=0)
    inter_key = ec_key_from_seed("pathlen inter")
    inter = make_ca("CN=pathlen inter", inter_key, issuer=root, issuer_key=root_key)
    leaf = make_leaf(inter, inter_key, "CN=leaf", EC_B)
    with pytest.raises(AuthenticationError, match="pathLenConstraint"):
        cert_checks.verify_chain(leaf, [inter], [root], now=NOW)


def _leaf_with(pki, key, *, key_usage=None, eku=None, eku_critical=True):
    """A leaf under the root, with the extensions a test needs (make_leaf sets the usual ones)."""
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "usage test")]))
               .issuer_name(pki["root"].subject).public_key(key.public_key()).serial_number(7)
               .not_valid_before(datetime(2026, 1, 1, tzinfo=timezone.utc))
               .not_valid_after(datetime(2027, 1, 1, tzinfo=timezone.utc)))
    if key_usage is not None:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        flags.update(dict.fromkeys(key_usage, True))
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return builder.sign(pki["root_key"], hashes.SHA384())


IPSEC_IKE = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.17")


def test_the_peers_certificate_must_be_fit_for_signing(pki):
    """RFC 4945 5.1.3.2 and 5.1.3.12: keyUsage must allow signatures; a critical EKU must allow IKE."""
    ok = [dict(key_usage=("digital_signature",)), dict(key_usage=("content_commitment",)),
          dict(eku=[IPSEC_IKE]), dict(eku=[x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]),
          dict(eku=[x509.ExtendedKeyUsageOID.SERVER_AUTH], eku_critical=False), {}]
    for extensions in ok:
        cert_checks.verify_chain(_leaf_with(pki, EC_B, **extensions), [], [pki["root"]], now=NOW)
    with pytest.raises(AuthenticationError, match="without digitalSignature or nonRepudiation"):
        cert_checks.verify_chain(_leaf_with(pki, EC_B, key_usage=("key_encipherment",)), [], [pki["root"]], now=NOW)
    with pytest.raises(AuthenticationError, match="critical extendedKeyUsage without id-kp-ipsecIKE"):
        cert_checks.verify_chain(_leaf_with(pki, EC_B, eku=[x509.ExtendedKeyUsageOID.CODE_SIGNING]), [], [pki["root"]],
                          now=NOW)


def test_rsa_keys_below_2048_bits_are_weak(pki):
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert = _leaf_with(pki, small)
    with pytest.raises(AuthenticationError, match="1024-bit RSA key, which is weak"):
        cert_checks.verify_chain(cert, [], [pki["root"]], now=NOW)
    with pytest.warns(WeakAlgorithmWarning, match="1024-bit RSA"):
        assert cert_checks.verify_chain(cert, [], [pki["root"]], now=NOW, allow_weak=True)[0] == cert
    octets = b"signed octets"
    with pytest.raises(WeakAlgorithmError, match="1024-bit RSA"):
        auth.sign(small, octets)
    with pytest.warns(WeakAlgorithmWarning):
        method, data = auth.sign(small, octets, allow_weak=True)
    with pytest.raises(WeakAlgorithmError, match="1024-bit RSA"):
        auth.verify_signature(cert, method, data, octets)
    with pytest.raises(WeakAlgorithmError, match="1024-bit RSA") as err:
        IkeConfig(certificate=cert, private_key=small, trust_anchors=(pki["root"],))
    assert err.value.field == "private_key"
    cert_checks.verify_chain(pki["direct"], [], [pki["root"]], now=NOW)  # RSA-2048 (RSA_A) is fine


_KU_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def _cert(name: str, key, issuer=None, issuer_key=None, *, ca=None, path_length=None, key_usage=None, extra=(),
          not_before=datetime(2025, 1, 1, tzinfo=timezone.utc), not_after=datetime(2035, 1, 1, tzinfo=timezone.utc)):
    """A certificate built with cryptography's x509 builder alone: ``ca=None`` leaves basicConstraints out,
    ``key_usage`` (flag names) adds a critical keyUsage, ``extra`` more (extension, critical) pairs; self-signed
    without ``issuer``; an Ed25519 signer signs without a separate hash (RFC 8410)."""
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    serial = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.subject if issuer is not None else subject)
               .public_key(key.public_key()).serial_number(serial)
               .not_valid_before(not_before).not_valid_after(not_after))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    if key_usage is not None:
        flags = dict.fromkeys(_KU_FLAGS, False)
        flags.update(dict.fromkeys(key_usage, True))
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    for value, critical in extra:
        builder = builder.add_extension(value, critical=critical)
    signer = issuer_key if issuer is not None else key
    return builder.sign(signer, None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256())


_CA_KEYS = [ec_key_from_seed(f"chain test CA {i}") for i in range(4)]


def test_validity_period_is_inclusive(pki):
    """RFC 5280 4.1.2.5: 'the period of time from notBefore through notAfter, inclusive'."""
    start, end = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc)
    short = make_leaf(pki["root"], pki["root_key"], "CN=short", EC_B, not_before=start, not_after=end)
    assert (short.not_valid_before_utc, short.not_valid_after_utc) == (start, end)
    for now in (start, end):
        assert cert_checks.verify_chain(short, [], [pki["root"]], now=now)[0] == short
    with pytest.raises(AuthenticationError, match="not yet valid"):
        cert_checks.verify_chain(short, [], [pki["root"]], now=start - timedelta(seconds=1))
    with pytest.raises(AuthenticationError, match="expired"):
        cert_checks.verify_chain(short, [], [pki["root"]], now=end + timedelta(seconds=1))


def test_validity_is_read_at_the_instant_now_names(pki):
    """An aware ``now`` in another zone is the same instant in UTC: 00:30+01:00 on the day notAfter
    (00:00Z) ends is 23:30Z the day before, still valid (RFC 5280 4.1.2.5 times are UTC)."""
    end = datetime(2026, 2, 1, tzinfo=timezone.utc)
    short = make_leaf(pki["root"], pki["root_key"], "CN=short", EC_B, not_after=end)
    plus_one = timezone(timedelta(hours=1))
    cert_checks.verify_chain(short, [], [pki["root"]], now=datetime(2026, 2, 1, 0, 30, tzinfo=plus_one))
    with pytest.raises(AuthenticationError, match="expired"):
        cert_checks.verify_chain(short, [], [pki["root"]], now=datetime(2026, 2, 1, 1, 30, tzinfo=plus_one))


def test_every_certificate_of_the_path_is_checked_for_validity():
    """RFC 5280 6.1.3 (a)(2): the validity period of each certificate in the path includes the current time;
    ikelab checks the trust anchor's too (verify_chain's docstring), as strongSwan does.  The leaf here is
    valid: only the CA is not."""
    lapsed = datetime(2026, 3, 1, tzinfo=timezone.utc)
    root = _cert("root", _CA_KEYS[0], ca=True)
    old_inter = _cert("old inter", _CA_KEYS[1], root, _CA_KEYS[0], ca=True, not_after=lapsed)
    leaf = _cert("leaf", EC_B, old_inter, _CA_KEYS[1])
    cert_checks.verify_chain(leaf, [old_inter], [root], now=lapsed - timedelta(days=1))
    with pytest.raises(AuthenticationError, match="'CN=old inter' expired"):
        cert_checks.verify_chain(leaf, [old_inter], [root], now=NOW)
    old_root = _cert("old root", _CA_KEYS[2], ca=True, not_after=lapsed)
    leaf = _cert("leaf", EC_B, old_root, _CA_KEYS[2])
    with pytest.raises(AuthenticationError, match="'CN=old root' expired"):
        cert_checks.verify_chain(leaf, [], [old_root], now=NOW)


def test_path_length_counts_the_intermediates_below_each_ca():
    """RFC 5280 4.2.1.9: pathLenConstraint is 'the maximum number of non-self-issued intermediate certificates
    that may follow this certificate'; zero allows end-entity certificates only, for the anchor or an
    intermediate alike (RFC 5280 6.1.4 (l), (m))."""
    k = _CA_KEYS
    root0 = _cert("root0", k[0], ca=True, path_length=0)
    assert cert_checks.verify_chain(_cert("leaf", EC_B, root0, k[0]), [], [root0], now=NOW)[-1] == root0
    root = _cert("root", k[0], ca=True)
    inter0 = _cert("inter0", k[1], root, k[0], ca=True, path_length=0)
    assert len(cert_checks.verify_chain(_cert("leaf", EC_B, inter0, k[1]), [inter0], [root], now=NOW)) == 3
    below = _cert("below", k[2], inter0, k[1], ca=True)
    with pytest.raises(AuthenticationError, match="'CN=inter0' has pathLenConstraint 0 but 1 intermediate"):
        cert_checks.verify_chain(_cert("leaf", EC_B, below, k[2]), [below, inter0], [root], now=NOW)


def test_path_length_does_not_count_self_issued_intermediates():
    """RFC 5280 6.1.4 (l): only a certificate that is not self-issued (6.1: the same DN as subject and issuer)
    uses up pathLenConstraint.  A CA that rolls its key over issues itself a certificate under its own name, and
    a root with pathLenConstraint 0 still accepts leaves issued under the new key; one more, differently named,
    intermediate below it is one too many."""
    k = _CA_KEYS
    root = _cert("root", k[0], ca=True, path_length=0)
    rollover = _cert("root", k[1], root, k[0], ca=True)  # subject == issuer, a new key: self-issued, not self-signed
    assert rollover.subject == rollover.issuer and rollover.public_key() != root.public_key()
    leaf = _cert("leaf", EC_B, rollover, k[1])
    assert cert_checks.verify_chain(leaf, [rollover], [root], now=NOW) == [leaf, rollover, root]
    inter = _cert("inter", k[2], rollover, k[1], ca=True)
    with pytest.raises(AuthenticationError, match="'CN=root' has pathLenConstraint 0 but 1 intermediate"):
        cert_checks.verify_chain(_cert("leaf", EC_B, inter, k[2]), [inter, rollover], [root], now=NOW)


def test_an_issuer_must_be_a_ca_allowed_to_sign_certificates():
    """RFC 5280 6.1.4 (k): an issuer has basicConstraints with cA TRUE (no extension is not enough; RFC 4945
    5.1.3.9 says to reject CA certificates without it), and (n): if keyUsage is present, keyCertSign is set."""
    root = _cert("root", _CA_KEYS[0], ca=True)
    for inter, why in [(_cert("no bc", _CA_KEYS[1], root, _CA_KEYS[0]), "is not a CA"),
                       (_cert("no keyCertSign", _CA_KEYS[1], root, _CA_KEYS[0], ca=True,
                              key_usage=("digital_signature", "crl_sign")), "keyUsage without keyCertSign")]:
        leaf = _cert("leaf", EC_B, inter, _CA_KEYS[1])
        leaf.verify_directly_issued_by(inter)  # the signature itself is good: cryptography agrees
        with pytest.raises(AuthenticationError, match=why):
            cert_checks.verify_chain(leaf, [inter], [root], now=NOW)
    inter = _cert("signing CA", _CA_KEYS[1], root, _CA_KEYS[0], ca=True, key_usage=("key_cert_sign",))
    cert_checks.verify_chain(_cert("leaf", EC_B, inter, _CA_KEYS[1]), [inter], [root], now=NOW)


def test_a_critical_eku_for_tls_only_is_refused(pki):
    """RFC 5280 4.2.1.12: a critical extendedKeyUsage limits the key to the purposes listed; serverAuth and
    clientAuth (TLS) do not include IKE, so the certificate may not authenticate an IKE peer (RFC 4945
    5.1.3.12).  The same EKU non-critical is advice only, and accepted."""
    tls = [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(AuthenticationError, match="critical extendedKeyUsage without id-kp-ipsecIKE"):
        cert_checks.verify_chain(_leaf_with(pki, EC_B, eku=tls), [], [pki["root"]], now=NOW)
    cert_checks.verify_chain(_leaf_with(pki, EC_B, eku=tls, eku_critical=False), [], [pki["root"]], now=NOW)
    cert_checks.verify_chain(_leaf_with(pki, EC_B, eku=[*tls, IPSEC_IKE]), [], [pki["root"]], now=NOW)


def test_a_trust_anchor_may_be_the_peers_own_certificate(pki):
    """A pinned end-entity certificate is its own path: the path ends at it, whatever issued it."""
    assert cert_checks.verify_chain(pki["leaf"], [], [pki["leaf"]], now=NOW) == [pki["leaf"]]
    assert cert_checks.verify_chain(pki["direct"], [pki["inter"]], [pki["leaf"], pki["direct"]], now=NOW) == [pki["direct"]]


def test_chain_length_is_bounded(pki):
    """``max_depth`` bounds the certificates before the anchor (a loop or an endless pool cannot run on)."""
    assert len(cert_checks.verify_chain(pki["leaf"], [pki["inter"]], [pki["root"]], now=NOW, max_depth=2)) == 3
    with pytest.raises(AuthenticationError, match="certificate chain longer than 1"):
        cert_checks.verify_chain(pki["leaf"], [pki["inter"]], [pki["root"]], now=NOW, max_depth=1)


def test_a_weak_rsa_key_anywhere_in_the_path_is_refused():
    """The 2048-bit minimum holds for every certificate of the path: a CA's key signs all below it.  A
    2047-bit key is below it (NIST SP 800-57: 112-bit strength needs 2048 bits)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak_ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2047)
    assert weak_ca_key.key_size == 2047
    root = _cert("weak root", weak_ca_key, ca=True)
    leaf = _cert("leaf", EC_B, root, weak_ca_key)
    with pytest.raises(AuthenticationError, match="'CN=weak root' has a 2047-bit RSA key, which is weak"):
        cert_checks.verify_chain(leaf, [], [root], now=NOW)
    with pytest.warns(WeakAlgorithmWarning, match="2047-bit RSA"):
        assert cert_checks.verify_chain(leaf, [], [root], now=NOW, allow_weak=True) == [leaf, root]
    with pytest.raises(WeakAlgorithmError, match="2047-bit RSA"):
        auth.sign(weak_ca_key, b"octets")


def _tlv(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    """(start of contents, end, tag) of the DER element at ``pos`` (X.690 8.1.2, 8.1.3)."""
    n = data[pos + 1] - 0x80 if data[pos + 1] > 0x80 else 0
    length = int.from_bytes(data[pos + 2 : pos + 2 + n], "big") if n else data[pos + 1]
    return pos + 2 + n, pos + 2 + n + length, data[pos]


#: AlgorithmIdentifiers (RFC 3279 2.2.1, 2.2.3): md5WithRSAEncryption, sha1WithRSAEncryption, ecdsa-with-SHA1
_WEAK_ALG_IDS = {("rsa", "md5"): "300d06092a864886f70d0101040500", ("rsa", "sha1"): "300d06092a864886f70d0101050500",
                 ("ec", "sha1"): "300906072a8648ce3d0401"}


def _tbs_with_algorithm(cert: x509.Certificate, alg_id: bytes) -> bytes:
    """``cert``'s TBSCertificate (DER) with its signature AlgorithmIdentifier replaced by ``alg_id``, to be
    signed again and put beside the same ``alg_id`` outside it (RFC 5280 4.1.1.2: the two must be the same)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    start, _, _ = _tlv(der)
    tbs_start, tbs_end, _ = _tlv(der, start)
    fields, pos = [], tbs_start
    while pos < tbs_end:  # version, serialNumber, signature, issuer, ...
        _, end, _ = _tlv(der, pos)
        fields.append(der[pos:end])
        pos = end
    old_alg = der[tbs_end : _tlv(der, tbs_end)[1]]
    assert fields[2] == old_alg  # RFC 5280 4.1.1.2: the two must be the same
    fields[2] = alg_id
    return _der(0x30, b"".join(fields))


def _resigned(cert: x509.Certificate, key, hash_cls) -> x509.Certificate:
    """``cert`` with its signature AlgorithmIdentifier (in the TBSCertificate and outside it) changed to
    ``hash_cls`` and the TBSCertificate signed again: cryptography no longer builds MD5 or SHA-1 certificates."""
    rsa_key = not isinstance(key, ec.EllipticCurvePrivateKey)
    alg_id = bytes.fromhex(_WEAK_ALG_IDS["rsa" if rsa_key else "ec", hash_cls.name])
    tbs = _tbs_with_algorithm(cert, alg_id)
    signature = key.sign(tbs, padding.PKCS1v15(), hash_cls()) if rsa_key else key.sign(tbs, ec.ECDSA(hash_cls()))
    return x509.load_der_x509_certificate(_der(0x30, tbs + alg_id + _der(0x03, b"\x00" + signature)))


@pytest.mark.parametrize("ca_kind, hash_cls, name", [("rsa", hashes.SHA1, "SHA-1"), ("rsa", hashes.MD5, "MD5"),
                                                     ("ec", hashes.SHA1, "SHA-1")])
def test_a_link_signed_with_a_broken_hash_is_weak(ca_kind, hash_cls, name):
    """A signature over MD5 or SHA-1 can be moved to a forged certificate with a colliding body (RFC 6151,
    RFC 6194): such a link is refused like a short key, and checked with a warning on request.  The
    anchor's own self-signature is not relied on, so its hash does not matter (RFC 5280 6.1)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    def new_key():
        if ca_kind == "ec":
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    ca_key = new_key()
    root = _cert("sha2 root", ca_key, ca=True)
    leaf = _resigned(_cert("weakly signed leaf", EC_B, root, ca_key), ca_key, hash_cls)
    assert leaf.signature_hash_algorithm.name == hash_cls.name
    assert leaf.subject.rfc4514_string() == "CN=weakly signed leaf"
    with pytest.raises(AuthenticationError, match=f"'CN=weakly signed leaf' is signed with {name}, which is weak"):
        cert_checks.verify_chain(leaf, [], [root], now=NOW)
    with pytest.warns(WeakAlgorithmWarning, match=f"signed with {name}"):
        assert cert_checks.verify_chain(leaf, [], [root], now=NOW, allow_weak=True) == [leaf, root]
    # allowed is not unchecked: another CA's key, or a changed TBSCertificate, fails
    impostor = _cert("sha2 root", new_key(), ca=True)
    der = leaf.public_bytes(serialization.Encoding.DER)
    serial_at = der.index(leaf.serial_number.to_bytes(8, "big"))
    forged = x509.load_der_x509_certificate(der[:serial_at] + bytes([der[serial_at] ^ 1]) + der[serial_at + 1 :])
    assert forged.serial_number != leaf.serial_number
    for chain, anchor in ((leaf, impostor), (forged, root)):
        with pytest.warns(WeakAlgorithmWarning), pytest.raises(AuthenticationError, match="does not verify"):
            cert_checks.verify_chain(chain, [], [anchor], now=NOW, allow_weak=True)
    # the same hash on the anchor's self-signature only: nothing to refuse
    weak_root = _resigned(root, ca_key, hash_cls)
    good_leaf = _cert("leaf", EC_B, weak_root, ca_key)
    assert cert_checks.verify_chain(good_leaf, [], [weak_root], now=NOW) == [good_leaf, weak_root]


def test_load_certificates_takes_a_certificate_object(pki):
    """As load_certificate does: an x509.Certificate is a list of one, the same object."""
    assert cert_checks.load_certificates(pki["root"]) == [pki["root"]]
    assert cert_checks.load_certificates(pki["root"])[0] is pki["root"]


def test_load_certificate_errors():
    # the message says which form was tried: a PSK file given as --cert is neither PEM nor DER
    with pytest.raises(ParseError, match=r"^not an X\.509 certificate: no PEM \(no -----BEGIN line\) and not DER"):
        cert_checks.load_certificate(b"\x30\x03\x02\x01\x01")
    with pytest.raises(ParseError, match=r"^not an X\.509 certificate: PEM that does not hold one"):
        cert_checks.load_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_certreq_hash_is_sha1_of_spki_as_openssl_extracts_it(pki, tmp_path):
    # RFC 7296 3.7: "the SHA-1 hash of the Subject Public Key Info element"; openssl extracts the SPKI
    path = tmp_path / "ca.pem"
    path.write_bytes(pki["root"].public_bytes(serialization.Encoding.PEM))
    pem = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-pubkey"], capture_output=True,
                         check=True, text=True).stdout
    spki = base64.b64decode("".join(line for line in pem.splitlines() if not line.startswith("-----")))
    assert cert_checks.certreq_hash(pki["root"]) == hashlib.sha1(spki).digest()
    assert len(cert_checks.certreq_hash(pki["inter"])) == 20 and cert_checks.certreq_hash(pki["inter"]) != cert_checks.certreq_hash(pki["root"])


# --------------------------------------------------------------------------- identities


@pytest.mark.parametrize("text, id_type, data", [
    # strongSwan typing (identification_create_from_string)
    ("192.0.2.1", IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 1])),
    ("2001:db8::1", IdType.ID_IPV6_ADDR, bytes.fromhex("20010db8000000000000000000000001")),
    ("carol@strongswan.org", IdType.ID_RFC822_ADDR, b"carol@strongswan.org"),
    ("@moon.strongswan.org", IdType.ID_FQDN, b"moon.strongswan.org"),
    ("moon.strongswan.org", IdType.ID_FQDN, b"moon.strongswan.org"),
    ("@moon", IdType.ID_FQDN, b"moon"),
    ("@@carol", IdType.ID_RFC822_ADDR, b"carol"),
    ("@#0102a0ff", IdType.ID_KEY_ID, bytes.fromhex("0102a0ff")),
    ("fqdn:192.0.2.1", IdType.ID_FQDN, b"192.0.2.1"),
    ("email:carol", IdType.ID_RFC822_ADDR, b"carol"),
    ("keyid:#00ff", IdType.ID_KEY_ID, b"\x00\xff"),
])
def test_identity_typing(text, id_type, data):
    ident = parse_identity(text)
    assert (ident.id_type, ident.data) == (id_type, data)
    assert parse_identity(format_identity(ident.id_type, ident.data)) == ident
    assert ident.body() == bytes([id_type, 0, 0, 0]) + data


def test_identity_override_and_errors():
    assert parse_identity("192.0.2.1", id_type="ID_FQDN") == Identity(IdType.ID_FQDN, b"192.0.2.1")
    for bad in ("", "%any", "@#zz", "C=CH, XX=moon", "ipv4:2001:db8::1"):
        with pytest.raises(ConfigError):
            parse_identity(bad)


@pytest.mark.parametrize("typo, hint", [("fqnd:moon.example", "'fqdn:fqnd:moon.example'"),
                                        ("emial:alice@example.org", "'email:emial:alice@example.org'")])
def test_a_mistyped_identity_type_prefix_is_refused(typo: str, hint: str) -> None:
    """``--id fqnd:moon`` was taken as the FQDN "fqnd:moon": the typo showed only as a failed authentication.
    A colon in an FQDN or an e-mail address is rare enough to ask for the type; IPv6 addresses are not touched."""
    with pytest.raises(ConfigError, match=f"is not an identity type .known: fqdn:, email:.*e.g. {hint}"):
        parse_identity(typo)
    assert parse_identity(hint.strip("'")).data == typo.encode()
    assert parse_identity("cafe::1").id_type == IdType.ID_IPV6_ADDR


def test_dn_der_and_round_trip():
    # DER of "C=CH, O=strongSwan, CN=moon", RDNs in the order written (X.500 order, as strongSwan prints
    # them), assembled by hand from X.501 / X.690; string type PrintableString (0x13) as strongSwan's atodn
    # writes printable values (its asn1_is_printablestring test).
    # SEQUENCE { SET { SEQUENCE { OID 2.5.4.6, PrintableString "CH" } },
    #            SET { SEQUENCE { OID 2.5.4.10, PrintableString "strongSwan" } },
    #            SET { SEQUENCE { OID 2.5.4.3, PrintableString "moon" } } }
    expected = bytes.fromhex(
        "3031"
        "310b" "3009" "0603550406" "13024348"
        "3113" "3011" "060355040a" "130a7374726f6e675377616e"
        "310d" "300b" "0603550403" "13046d6f6f6e")
    ident = parse_identity("C=CH, O=strongSwan, CN=moon")
    assert ident.id_type == IdType.ID_DER_ASN1_DN and ident.data == expected
    assert format_identity(ident.id_type, ident.data) == "C=CH, O=strongSwan, CN=moon"
    assert parse_identity("/C=CH/O=strongSwan/CN=moon") == ident
    # non-printable characters -> UTF8String (0x0c); E -> IA5String (0x16)
    assert bytes.fromhex("0c075ac3bc72696368") in parse_identity("C=CH, OU=Z\u00fcrich").data
    assert bytes.fromhex("160a6d6f6f6e40782e6f7267") in parse_identity("C=CH, E=moon@x.org").data
    # a UTF8String O (as cryptography writes it by default) decodes and compares equal, type-agnostically
    utf8 = expected.replace(bytes.fromhex("130a7374726f6e675377616e"), bytes.fromhex("0c0a7374726f6e675377616e"))
    assert format_identity(IdType.ID_DER_ASN1_DN, utf8) == "C=CH, O=strongSwan, CN=moon"
    assert matches("C=CH, O=strongswan, CN=MOON", Identity(IdType.ID_DER_ASN1_DN, utf8))
    with pytest.raises(ParseError):
        format_identity(IdType.ID_DER_ASN1_DN, expected[:-1])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
@pytest.mark.parametrize("subject, text", [
    ("/C=CH/O=strongSwan/CN=moon", "C=CH, O=strongSwan, CN=moon"),
    ("/C=CH/ST=Zurich/L=Zurich/O=strongSwan Project/OU=Test (lab)/CN=moon.strongswan.org",
     "C=CH, ST=Zurich, L=Zurich, O=strongSwan Project, OU=Test (lab), CN=moon.strongswan.org"),
])
def test_dn_der_equals_openssl_subject(tmp_path, subject, text):
    # An independent DER encoder: openssl req with string_mask = default also writes PrintableString
    # whenever the value allows it (the rule strongSwan's atodn follows).
    key = tmp_path / "k.pem"
    key.write_bytes(EC_A.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    cnf = tmp_path / "req.cnf"
    cnf.write_text("[req]\ndistinguished_name = dn\nstring_mask = default\n[dn]\n")
    req = subprocess.run(["openssl", "req", "-new", "-config", str(cnf), "-key", str(key), "-subj", subject,
                          "-outform", "DER"], capture_output=True, check=True)
    der = x509.load_der_x509_csr(req.stdout).subject.public_bytes()
    assert parse_identity(text).data == der
    assert format_identity(IdType.ID_DER_ASN1_DN, der) == text


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=40))
def test_dn_parser_rejects_garbage_with_parse_error(blob):
    try:
        format_identity(IdType.ID_DER_ASN1_DN, blob)
    except ParseError:
        pass


def test_identity_vs_certificate(pki):
    leaf = pki["leaf"]
    for text in ("moon.strongswan.org", "192.0.2.1", "moon@strongswan.org", "2001:db8::1",
                 "C=CH, O=strongSwan, CN=moon.strongswan.org", "MOON.strongswan.org"):
        ident = parse_identity(text)
        assert identity_matches_certificate(ident.id_type, ident.data, leaf), text
    for text in ("sun.strongswan.org", "192.0.2.2", "carol@strongswan.org", "C=CH, O=strongSwan, CN=sun",
                 "C=CH, CN=moon.strongswan.org, O=strongSwan"):
        ident = parse_identity(text)
        assert not identity_matches_certificate(ident.id_type, ident.data, leaf), text
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert identity_matches_certificate(IdType.ID_KEY_ID, ski, leaf)


def test_remote_id_patterns():
    moon = parse_identity("moon.strongswan.org")
    assert matches("%any", moon)
    assert matches("*.strongswan.org", moon)
    assert not matches("*.example.org", moon)
    assert matches("@moon.strongswan.org", moon)
    assert not matches("moon@strongswan.org", moon)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from("CN=O,/@#.:%abcdef0123456789 \\*\u00e9\ud800"), max_size=30) | st.text(max_size=30))
@example("d=\ud800")  # a DN value with a lone surrogate: it failed only when encoded, with UnicodeEncodeError
@example("e=\u00e9")  # an emailAddress is an IA5String: a non-ASCII one was encoded, then refused when read
def test_identity_parser_rejects_garbage_with_config_error(text):
    try:
        ident = parse_identity(text)
    except ConfigError:
        return
    assert parse_identity(format_identity(ident.id_type, ident.data)) == ident


# --------------------------------------------------------------------------- certs helper


def test_certs_helper_is_deterministic_and_typed():
    from ikelab.rand import DeterministicRandom

    assert ec_key_from_seed("moon").private_numbers() == EC_A.private_numbers()
    assert ec_key_from_seed("moon").private_numbers() != ec_key_from_seed("sun").private_numbers()
    assert ec_key_from_seed(DeterministicRandom(7), "secp384r1").private_numbers() == \
        ec_key_from_seed(DeterministicRandom(7), "p384").private_numbers()
    with pytest.raises(ConfigError):
        ec_key_from_seed("x", "secp999r1")
    # RSA PKCS#1 v1.5 signatures are deterministic: the same inputs give the same certificate bytes
    ca1 = make_ca("C=CH, O=strongSwan, CN=RSA CA", RSA_B)
    ca2 = make_ca("C=CH, O=strongSwan, CN=RSA CA", RSA_B)
    assert ca1.public_bytes(serialization.Encoding.DER) == ca2.public_bytes(serialization.Encoding.DER)
    assert ca1.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf = make_leaf(ca1, RSA_B, "moon", EC_A, san=["moon.strongswan.org", "192.0.2.1", "moon@strongswan.org"])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["moon.strongswan.org"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.1"]
    assert san.get_values_for_type(x509.RFC822Name) == ["moon@strongswan.org"]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert_checks.verify_chain(leaf, [], [ca1], now=NOW)


def test_an_rsassa_pss_identifier_without_parameters_is_refused() -> None:
    """RFC 4055 3.1: the parameters "MUST be present when used in the algorithm identifier associated with a
    signature value".  Read as the DEFAULTs (SHA-1, salt 20), such a signature was refused as weak, for the wrong
    reason, and verified with allow_weak.  An empty SEQUENCE of parameters still means the DEFAULTs."""
    import warnings

    from ikelab.pss import parse_pss_algorithm_identifier

    no_parameters = bytes.fromhex("300b06092a864886f70d01010a")  # SEQUENCE { id-RSASSA-PSS }
    with pytest.raises(AuthenticationError, match="must carry its parameters"):
        parse_pss_algorithm_identifier(no_parameters)
    defaults = bytes.fromhex("300d06092a864886f70d01010a3000")  # ... followed by an empty SEQUENCE
    params = parse_pss_algorithm_identifier(defaults)
    assert params is not None and params.salt_length == 20
    key = RSA_A
    message = b"InitiatorSignedOctets"
    signature = key.sign(message, padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=20), hashes.SHA1())
    with pytest.raises(AuthenticationError, match="must carry its parameters"), warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakAlgorithmWarning)
        auth.verify_signature(key.public_key(), AuthMethod.DIGITAL_SIGNATURE,
                              auth.encode_signature_auth_data(no_parameters, signature), message, allow_weak=True)
