"""The AUTH payload: signed octets, pre-shared keys and signatures (RFC 7296 2.15, RFC 4754, RFC 7427).

RFC 7296 2.15 -- what each side signs (or MACs)::

    InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
    GenIKEHDR = [ four octets 0 if using port 4500 ] | RealIKEHDR
    RealIKEHDR =  SPIi | SPIr |  . . . | Length
    RealMessage1 = RealIKEHDR | RestOfMessage1
    NonceRPayload = PayloadHeader | NonceRData
    InitiatorIDPayload = PayloadHeader | RestOfInitIDPayload
    RestOfInitIDPayload = IDType | RESERVED | InitIDData
    MACedIDForI = prf(SK_pi, RestOfInitIDPayload)

    ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
    MACedIDForR = prf(SK_pr, RestOfRespIDPayload)

Shared key (method 2, SHARED_KEY_MIC)::

    AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <InitiatorSignedOctets>)

"where the string "Key Pad for IKEv2" is 17 ASCII characters without null
termination".  ikelab refuses only an *empty* secret (ConfigError); RFC 7296
2.15 asks for strong secrets, which no length rule can check.

Signatures:

* method 1, RSA_DIGITAL_SIGNATURE: RSASSA-PKCS1-v1_5 with SHA-1 (the hash
  is fixed, RFC 7427 1) -> weak, needs ``allow_weak=True``;
* methods 9/10/11 (RFC 4754): ECDSA with SHA-256/P-256, SHA-384/P-384,
  SHA-512/P-521; the AUTH data is ``r | s``, each the size of the curve, *not* DER;
* method 14, DIGITAL_SIGNATURE (RFC 7427 3)::

      AUTH data = ASN.1 Length (1 octet) | AlgorithmIdentifier (DER) | Signature Value

  with the AlgorithmIdentifier octets of RFC 7427 Appendix A (typed in
  :data:`ALGORITHM_IDENTIFIERS`); ECDSA signature values are DER
  ``ECDSA-Sig-Value`` here (RFC 7427 3), RSA values are the raw RSA output.
  The hash is one the peer listed in its SIGNATURE_HASH_ALGORITHMS notify
  (RFC 7427 4): :func:`signature_hash` picks it.  A peer that sent no such
  list gets the key's own method instead (:func:`legacy_method`), since
  method 14 is only for peers that both sent one (RFC 7427 3).

The certificates behind the signatures (loading, the path to a trust
anchor, CERTREQ hashes) are :mod:`ikelab.cert_checks`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, NamedTuple, Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from . import prf as _prf
from .cert_checks import check_key_strength
from .constants import AuthMethod, HashAlgorithm, PrfId, lookup
from .errors import (AuthenticationError, ConfigError, IkelabError, ParseError,
                     WeakAlgorithmWarning, refuse_weak)
from .pss import PssParams, parse_pss_algorithm_identifier
from .wire import check_bytes

#: RFC 7296 2.15: "the string 'Key Pad for IKEv2' is 17 ASCII characters without null termination".
KEY_PAD = b"Key Pad for IKEv2"

# --------------------------------------------------------------------------- signed octets


@dataclass(frozen=True)
class SignedOctets:
    """The pieces of InitiatorSignedOctets / ResponderSignedOctets (RFC 7296 2.15).

    ``message`` is RealMessage1 (the initiator's IKE_SA_INIT request, from the IKE
    header on, without the non-ESP marker) or RealMessage2; ``nonce`` is the
    *peer's* nonce data (NonceRData / NonceIData); ``id_body`` is
    RestOfInitIDPayload / RestOfRespIDPayload and ``maced_id = prf(SK_p, id_body)``.
    """

    message: bytes
    nonce: bytes
    id_body: bytes
    maced_id: bytes

    @property
    def octets(self) -> bytes:
        """``message | nonce | maced_id``: what the AUTH value covers."""
        return self.message + self.nonce + self.maced_id

    def __bytes__(self) -> bytes:
        return self.octets

    @classmethod
    def _trusted(cls, message: bytes, nonce: bytes, id_body: bytes, maced_id: bytes) -> "SignedOctets":
        """The same object as ``SignedOctets(...)``, built from bytes :func:`signed_octets` checked."""
        obj = object.__new__(cls)
        # one dict update instead of the frozen dataclass's four object.__setattr__ calls
        obj.__dict__.update(message=message, nonce=nonce, id_body=id_body, maced_id=maced_id)
        return obj


Octets = Union[bytes, bytearray, memoryview, SignedOctets]


def _octets(octets: Octets) -> bytes:
    if type(octets) is bytes:
        return octets
    if isinstance(octets, SignedOctets):
        return octets.octets
    return check_bytes(octets, "octets")


def _checked_prf(prf_alg: Any, allow_weak: bool) -> Any:
    """The PRF for anything but one of the engine's strong PrfId members: get_prf's checks, naming ``prf_alg``."""
    return _prf.get_prf(prf_alg, allow_weak=allow_weak, field="prf_alg")


def _id_body(id_payload: Any) -> bytes:
    """Accept the 4+ octet RestOfIDPayload bytes, or an object with ``id_type`` and ``data`` (IDi/IDr/Identity)."""
    if isinstance(id_payload, (bytes, bytearray, memoryview)):
        body = id_payload if type(id_payload) is bytes else bytes(id_payload)
        if len(body) < 4:
            raise ConfigError(
                f"RestOfIDPayload must hold at least ID Type and 3 RESERVED octets, got {len(body)} octets",
                field="id_body",
                value=body,
            )
        return body
    if hasattr(id_payload, "id_type") and hasattr(id_payload, "data"):
        id_type, data = id_payload.id_type, id_payload.data
        if isinstance(id_type, bool) or not isinstance(id_type, int) or not 0 <= id_type <= 255:
            raise ConfigError(f"ID Type must be a 1-octet number (RFC 7296 3.5), not {id_type!r}",
                              field="id_body.id_type", value=id_type)
        return bytes([int(id_type)]) + b"\x00\x00\x00" + check_bytes(data, "id_body.data")
    raise ConfigError(f"id_body must be bytes or an ID payload, not {type(id_payload).__name__}", field="id_body")


def signed_octets(
    message: bytes, nonce: bytes, prf_alg: Any, sk_p: bytes, id_body: Any, *, allow_weak: bool = False
) -> SignedOctets:
    """InitiatorSignedOctets (or ResponderSignedOctets) of RFC 7296 2.15.

    For the initiator: ``message`` = RealMessage1, ``nonce`` = Nr, ``sk_p`` = SK_pi,
    ``id_body`` = RestOfInitIDPayload (``IDType | RESERVED | data``; an
    IDi/Identity object is also accepted).  For the responder: RealMessage2,
    Ni, SK_pr, RestOfRespIDPayload.
    """
    # bytes, the usual arguments, pass this test without a call; check_bytes names anything else
    if message.__class__ is not bytes or nonce.__class__ is not bytes or sk_p.__class__ is not bytes:
        message, nonce = check_bytes(message, "message"), check_bytes(nonce, "nonce")
        sk_p = check_bytes(sk_p, "sk_p")
    # RestOfIDPayload bytes (the engine's) pass without a call; _id_body checks and converts anything else
    body = id_body if id_body.__class__ is bytes and len(id_body) >= 4 else _id_body(id_body)
    p = _prf.STRONG_PRFS.get(prf_alg) if prf_alg.__class__ is PrfId else None  # the engine's PrfId, without a call
    if p is None:
        p = _checked_prf(prf_alg, allow_weak)
    return SignedOctets._trusted(message, nonce, body, p._once(sk_p, body))


# --------------------------------------------------------------------------- PSK


def _secret(secret: Any) -> bytes:
    if isinstance(secret, str):
        try:
            secret = secret.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, as os.fsdecode leaves for undecodable bytes
            raise ConfigError(f"the pre-shared key text is not valid Unicode: {exc.reason} at character {exc.start}",
                              field="psk") from None
    elif secret.__class__ is not bytes:  # bytes, the usual case, pass without a call
        secret = check_bytes(secret, "psk")
    if not secret:
        raise ConfigError("the pre-shared key is empty (RFC 7296 2.15 wants a strong secret)", field="psk", value=secret)
    return secret


def psk_pad_key(prf_alg: Any, secret: bytes | str, *, allow_weak: bool = False) -> bytes:
    """``prf(Shared Secret, "Key Pad for IKEv2")``: the key that MACs the signed octets."""
    secret = _secret(secret)
    p = _prf.get_prf(prf_alg, allow_weak=allow_weak, field="prf_alg")
    return p._once(secret, KEY_PAD)


@lru_cache(maxsize=16)
def _pad_prf(prf_name: str, secret: bytes) -> Callable[[bytes], bytes]:
    """``octets -> prf(prf(secret, KEY_PAD), octets)`` for a strong PRF, remembered.

    Every IKE SA authenticated with this secret MACs two AUTH payloads under the
    same pad key, so the PRF is keyed once (an HMAC keyed once and copied for
    each use costs about half of a one-shot HMAC).
    """
    p = _prf.get_prf(prf_name)
    return p._keyed(p._once(secret, KEY_PAD))


def psk_auth(prf_alg: Any, secret: bytes | str, octets: Octets, *, allow_weak: bool = False) -> bytes:
    """AUTH for SHARED_KEY_MIC: ``prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)``.

    ``secret`` may be a ``str`` (encoded as UTF-8, as strongSwan reads ``secret =``).
    """
    secret = _secret(secret)  # the checks in the order they always ran: secret, PRF, octets
    p = _prf.STRONG_PRFS.get(prf_alg) if prf_alg.__class__ is PrfId else None  # as in signed_octets
    if p is None:
        p = _checked_prf(prf_alg, allow_weak)
    data = octets if octets.__class__ is bytes else _octets(octets)  # bytes pass without a call
    if p.weak_reason is None:
        return _pad_prf(p.name, secret)(data)
    # a weak PRF is not remembered; psk_pad_key checks it again, so it warns for both prf() steps
    return p._once(psk_pad_key(p, secret, allow_weak=allow_weak), data)


def verify_psk(
    prf_alg: Any, secret: bytes | str, octets: Octets, auth_data: bytes, *, allow_weak: bool = False
) -> None:
    """Check a peer's SHARED_KEY_MIC AUTH value in constant time; mismatch -> AuthenticationError."""
    expected = psk_auth(prf_alg, secret, octets, allow_weak=allow_weak)
    if auth_data.__class__ is not bytes:
        auth_data = check_bytes(auth_data, "auth_data")
    if not hmac.compare_digest(expected, auth_data):
        raise AuthenticationError(
            "AUTH (SHARED_KEY_MIC) does not match: wrong pre-shared key, or the signed octets differ "
            "(RealMessage, nonce or ID payload)"
        )


# --------------------------------------------------------------------------- RFC 7427 AlgorithmIdentifiers

_RSA_OID = "06092a864886f70d0101"  # 1.2.840.113549.1.1 (pkcs-1)
_ECDSA_OID = "06082a8648ce3d0403"  # 1.2.840.10045.4.3 (ecdsa-with-SHA2)
_NIST_HASH = {HashAlgorithm.SHA2_256: "01", HashAlgorithm.SHA2_384: "02", HashAlgorithm.SHA2_512: "03"}
_PSS_SALT = {HashAlgorithm.SHA2_256: "20", HashAlgorithm.SHA2_384: "30", HashAlgorithm.SHA2_512: "40"}


def _pss_alg_id(h: HashAlgorithm) -> bytes:
    """RSASSA-PSS AlgorithmIdentifier with hash h, MGF1(h), salt = hash length, trailerField 1 (RFC 7427 A.4.3 form)."""
    hash_alg = f"300d06096086480165030402{_NIST_HASH[h]}0500"  # SEQUENCE { id-sha*, NULL }
    params = (
        "a00f" + hash_alg  # [0] hashAlgorithm
        + "a11c301a" + "06092a864886f70d010108" + hash_alg  # [1] maskGenAlgorithm mgf1(h)
        + "a2030201" + _PSS_SALT[h]  # [2] saltLength
        + "a303020101"  # [3] trailerField 1
    )
    body = "06092a864886f70d01010a" + "3039" + params
    return bytes.fromhex("3046" + body)


class SigScheme(NamedTuple):
    """What an AlgorithmIdentifier means: key family, padding and hash."""

    key: str  # "rsa", "ecdsa", "ed25519"
    scheme: str  # "pkcs1", "pss", "ecdsa", "eddsa"
    hash_alg: HashAlgorithm
    name: str
    pss: PssParams | None = None  # RSASSA-PSS parameters read from the peer's octets (see ikelab.pss)


#: RFC 7427 Appendix A: the DER AlgorithmIdentifier octets (A.1 PKCS #1 1.5 RSA,
#: A.3 ECDSA, A.4.3 RSASSA-PSS with SHA-256), plus id-Ed25519 of RFC 8420 2.
ALGORITHM_IDENTIFIERS: dict[bytes, SigScheme] = {
    bytes.fromhex("300d" + _RSA_OID + "050500"): SigScheme("rsa", "pkcs1", HashAlgorithm.SHA1, "sha1WithRSAEncryption"),
    bytes.fromhex("300d" + _RSA_OID + "0b0500"): SigScheme("rsa", "pkcs1", HashAlgorithm.SHA2_256, "sha256WithRSAEncryption"),
    bytes.fromhex("300d" + _RSA_OID + "0c0500"): SigScheme("rsa", "pkcs1", HashAlgorithm.SHA2_384, "sha384WithRSAEncryption"),
    bytes.fromhex("300d" + _RSA_OID + "0d0500"): SigScheme("rsa", "pkcs1", HashAlgorithm.SHA2_512, "sha512WithRSAEncryption"),
    bytes.fromhex("300906072a8648ce3d0401"): SigScheme("ecdsa", "ecdsa", HashAlgorithm.SHA1, "ecdsa-with-SHA1"),
    bytes.fromhex("300a" + _ECDSA_OID + "02"): SigScheme("ecdsa", "ecdsa", HashAlgorithm.SHA2_256, "ecdsa-with-SHA256"),
    bytes.fromhex("300a" + _ECDSA_OID + "03"): SigScheme("ecdsa", "ecdsa", HashAlgorithm.SHA2_384, "ecdsa-with-SHA384"),
    bytes.fromhex("300a" + _ECDSA_OID + "04"): SigScheme("ecdsa", "ecdsa", HashAlgorithm.SHA2_512, "ecdsa-with-SHA512"),
    _pss_alg_id(HashAlgorithm.SHA2_256): SigScheme("rsa", "pss", HashAlgorithm.SHA2_256, "RSASSA-PSS with SHA-256"),
    _pss_alg_id(HashAlgorithm.SHA2_384): SigScheme("rsa", "pss", HashAlgorithm.SHA2_384, "RSASSA-PSS with SHA-384"),
    _pss_alg_id(HashAlgorithm.SHA2_512): SigScheme("rsa", "pss", HashAlgorithm.SHA2_512, "RSASSA-PSS with SHA-512"),
    bytes.fromhex("300506032b6570"): SigScheme("ed25519", "eddsa", HashAlgorithm.IDENTITY, "id-Ed25519"),
}
_BY_SCHEME = {(s.key, s.scheme, s.hash_alg): der for der, s in ALGORITHM_IDENTIFIERS.items()}

_HASH_NAMES = {HashAlgorithm.SHA1: "SHA-1", HashAlgorithm.SHA2_256: "SHA-256", HashAlgorithm.SHA2_384: "SHA-384",
               HashAlgorithm.SHA2_512: "SHA-512"}

_HASHES: dict[HashAlgorithm, type[hashes.HashAlgorithm]] = {
    HashAlgorithm.SHA1: hashes.SHA1,
    HashAlgorithm.SHA2_256: hashes.SHA256,
    HashAlgorithm.SHA2_384: hashes.SHA384,
    HashAlgorithm.SHA2_512: hashes.SHA512,
}

#: RFC 4754 3: method -> (curve name, hash).
_RFC4754 = {
    AuthMethod.ECDSA_SHA256_P256: ("secp256r1", HashAlgorithm.SHA2_256),
    AuthMethod.ECDSA_SHA384_P384: ("secp384r1", HashAlgorithm.SHA2_384),
    AuthMethod.ECDSA_SHA512_P521: ("secp521r1", HashAlgorithm.SHA2_512),
}


@dataclass(frozen=True)
class SignatureAuthData:
    """AUTH data of method 14 taken apart (RFC 7427 3)."""

    algorithm_identifier: bytes
    scheme: SigScheme
    signature: bytes


def encode_signature_auth_data(algorithm_identifier: bytes, signature: bytes) -> bytes:
    """``ASN.1 Length | AlgorithmIdentifier | Signature Value`` (RFC 7427 3)."""
    algorithm_identifier = check_bytes(algorithm_identifier, "algorithm_identifier")
    signature = check_bytes(signature, "signature")
    if not 0 < len(algorithm_identifier) < 256:
        raise ConfigError(f"AlgorithmIdentifier of {len(algorithm_identifier)} octets does not fit the 1-octet length",
                          field="algorithm_identifier", value=algorithm_identifier)
    return bytes([len(algorithm_identifier)]) + algorithm_identifier + signature


def parse_signature_auth_data(data: bytes) -> SignatureAuthData:
    """Split method-14 AUTH data; an AlgorithmIdentifier not in RFC 7427 Appendix A -> AuthenticationError."""
    data = check_bytes(data, "auth_data")
    if len(data) < 2:
        raise ParseError(f"DIGITAL_SIGNATURE AUTH data of {len(data)} octets is too short", field="AUTH.data", offset=0)
    n = data[0]
    if len(data) < 1 + n:
        raise ParseError(f"ASN.1 Length {n} overruns the {len(data)}-octet AUTH data", field="AUTH.asn1_length", offset=0)
    alg_id = data[1 : 1 + n]
    scheme = ALGORITHM_IDENTIFIERS.get(alg_id)
    if scheme is None:  # RSASSA-PSS has more spellings than Appendix A's (strongSwan leaves out trailerField)
        params = parse_pss_algorithm_identifier(alg_id)
        if params is not None:
            scheme = SigScheme("rsa", "pss", params.hash_alg, f"RSASSA-PSS with {_HASH_NAMES[params.hash_alg]}", params)
    if scheme is None:
        raise AuthenticationError(f"unknown signature AlgorithmIdentifier {alg_id.hex()} (not in RFC 7427 Appendix A)")
    return SignatureAuthData(alg_id, scheme, data[1 + n :])


# --------------------------------------------------------------------------- sign / verify


class AuthValue(NamedTuple):
    """An AUTH payload's Auth Method and Authentication Data."""

    method: AuthMethod
    data: bytes


def _weak(what: str, why: str, allow_weak: bool) -> None:
    refuse_weak(f"{what} is weak: {why}", allow_weak=allow_weak, field="method", value=what, algorithm=what)


def _key_family(key: Any) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "rsa"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ecdsa"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    return type(key).__name__


def _public(key: Any) -> Any:
    """The key that verifies: an ``x509.Certificate``'s, a private key's public half, or ``key`` itself."""
    if hasattr(key, "public_key"):  # public key objects have no public_key(); private keys would lack verify()
        return key.public_key()
    return key


def _pss(h: HashAlgorithm) -> padding.PSS:
    alg = _HASHES[h]()
    return padding.PSS(mgf=padding.MGF1(alg), salt_length=alg.digest_size)


def _curve_len(key: Any) -> int:
    return (key.curve.key_size + 7) // 8


def sign(
    private_key: Any,
    octets: Octets,
    *,
    method: AuthMethod | int | str = AuthMethod.DIGITAL_SIGNATURE,
    hash_alg: HashAlgorithm | int | str = HashAlgorithm.SHA2_256,
    rsa_pss: bool = False,
    allow_weak: bool = False,
) -> AuthValue:
    """Sign the signed octets; returns ``(method, AUTH data)``.

    * DIGITAL_SIGNATURE (14, default): RSA PKCS#1 v1.5 (or RSASSA-PSS with
      ``rsa_pss=True``), ECDSA (DER signature) or Ed25519, with ``hash_alg``;
    * ECDSA_SHA256_P256 / _SHA384_P384 / _SHA512_P521 (RFC 4754): ``r | s``;
    * RSA_DIGITAL_SIGNATURE (1): PKCS#1 v1.5 with SHA-1, weak.
    """
    data = _octets(octets)
    m = lookup(AuthMethod, method, field="method")
    family = _key_family(private_key)
    if family not in ("rsa", "ecdsa", "ed25519") or not hasattr(private_key, "sign"):
        raise ConfigError(f"cannot sign with {type(private_key).__name__.lstrip('_')}: need an RSA, EC or Ed25519 "
                          "private key", field="private_key")
    check_key_strength(private_key, "the signing key", allow_weak=allow_weak)
    if m == AuthMethod.RSA_DIGITAL_SIGNATURE:
        if family != "rsa":
            raise ConfigError(f"RSA_DIGITAL_SIGNATURE needs an RSA key, not {family}", field="private_key")
        _weak("RSA_DIGITAL_SIGNATURE (method 1)", "it signs a SHA-1 hash, which is not collision resistant; use method 14", allow_weak)
        return AuthValue(m, private_key.sign(data, padding.PKCS1v15(), hashes.SHA1()))
    if m in _RFC4754:
        curve, h = _RFC4754[m]
        if family != "ecdsa" or private_key.curve.name != curve:
            got = private_key.curve.name if family == "ecdsa" else family
            raise ConfigError(f"{m.name} needs a {curve} key, not {got} (RFC 4754 3)", field="private_key")
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(_HASHES[h]())))
        n = _curve_len(private_key)
        return AuthValue(m, r.to_bytes(n, "big") + s.to_bytes(n, "big"))
    if m != AuthMethod.DIGITAL_SIGNATURE:
        raise ConfigError(f"sign() does not produce {m.name}; use psk_auth for SHARED_KEY_MIC", field="method", value=m)
    h = lookup(HashAlgorithm, hash_alg, field="hash_alg")
    if family == "ed25519":
        h = HashAlgorithm.IDENTITY
        sig = private_key.sign(data)
        scheme = "eddsa"
    else:
        if h not in _HASHES:
            raise ConfigError(f"hash {h.name} cannot be used with a {family} key", field="hash_alg", value=h)
        if h == HashAlgorithm.SHA1:
            _weak("SHA-1 signatures", "SHA-1 is not collision resistant (RFC 8247 3.2)", allow_weak)
        if family == "rsa":
            scheme = "pss" if rsa_pss else "pkcs1"
            if rsa_pss and h == HashAlgorithm.SHA1:
                raise ConfigError("RSASSA-PSS is offered with SHA-2 hashes only", field="hash_alg", value=h)
            pad = _pss(h) if rsa_pss else padding.PKCS1v15()
            sig = private_key.sign(data, pad, _HASHES[h]())
        else:
            scheme = "ecdsa"
            sig = private_key.sign(data, ec.ECDSA(_HASHES[h]()))  # DER ECDSA-Sig-Value (RFC 7427 3)
    return AuthValue(m, encode_signature_auth_data(_BY_SCHEME[(family, scheme, h)], sig))


def verify_signature(
    public_key: Any,
    method: AuthMethod | int | str,
    data: bytes,
    octets: Octets,
    *,
    allow_weak: bool = False,
) -> None:
    """Check a signature AUTH payload against the signed octets.

    ``public_key`` may be a public key, a private key (its public half
    verifies) or an ``x509.Certificate``.  A signature that fails is an
    :class:`AuthenticationError` saying what failed: an unknown
    AlgorithmIdentifier, a key of the wrong type or curve, a malformed or bad
    signature.  Method-14 AUTH data whose ASN.1 Length overruns it is a
    :class:`ParseError`; a weak key or hash without ``allow_weak`` a
    :class:`WeakAlgorithmError`; arguments of the wrong type a :class:`ConfigError`.
    """
    key = _public(public_key)
    message = _octets(octets)
    data = check_bytes(data, "auth_data")
    m = lookup(AuthMethod, method, field="method")
    family = _key_family(key)
    try:
        check_key_strength(key, "the peer's key", allow_weak=allow_weak)
        if m == AuthMethod.RSA_DIGITAL_SIGNATURE:
            if family != "rsa":
                raise AuthenticationError(f"key type mismatch: RSA_DIGITAL_SIGNATURE but the peer's key is {family}")
            _weak("RSA_DIGITAL_SIGNATURE (method 1)", "it signs a SHA-1 hash, which is not collision resistant", allow_weak)
            key.verify(data, message, padding.PKCS1v15(), hashes.SHA1())
            return
        if m in _RFC4754:
            curve, h = _RFC4754[m]
            if family != "ecdsa" or key.curve.name != curve:
                got = key.curve.name if family == "ecdsa" else family
                raise AuthenticationError(f"key type mismatch: {m.name} needs a {curve} key, the peer's key is {got}")
            n = _curve_len(key)
            if len(data) != 2 * n:
                raise AuthenticationError(f"{m.name} signature is {len(data)} octets, expected r|s of {2 * n} (RFC 4754 7)")
            r, s = int.from_bytes(data[:n], "big"), int.from_bytes(data[n:], "big")
            key.verify(encode_dss_signature(r, s), message, ec.ECDSA(_HASHES[h]()))
            return
        if m != AuthMethod.DIGITAL_SIGNATURE:
            raise AuthenticationError(f"{m.name} is not a signature method this verifier knows")
        parsed = parse_signature_auth_data(data)
        sch = parsed.scheme
        if sch.key != family:
            raise AuthenticationError(f"key type mismatch: AlgorithmIdentifier {sch.name} but the peer's key is {family}")
        if sch.hash_alg == HashAlgorithm.SHA1:
            _weak(sch.name, "SHA-1 is not collision resistant (RFC 8247 3.2)", allow_weak)
        if sch.scheme == "eddsa":
            key.verify(parsed.signature, message)
        elif sch.scheme == "ecdsa":
            key.verify(parsed.signature, message, ec.ECDSA(_HASHES[sch.hash_alg]()))
        else:
            if sch.pss is not None:
                pad: Any = padding.PSS(mgf=padding.MGF1(_HASHES[sch.pss.mgf_hash]()), salt_length=sch.pss.salt_length)
            else:
                pad = _pss(sch.hash_alg) if sch.scheme == "pss" else padding.PKCS1v15()
            key.verify(parsed.signature, message, pad, _HASHES[sch.hash_alg]())
    except (IkelabError, WeakAlgorithmWarning):
        raise
    except InvalidSignature:
        raise AuthenticationError(f"bad signature: {m.name} AUTH does not verify over the signed octets") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise AuthenticationError(f"malformed {m.name} signature: {exc}") from None


# --------------------------------------------------------------------------- SIGNATURE_HASH_ALGORITHMS


#: What ikelab announces: the SHA-2 hashes (RFC 7427 4), and Identity, without which a peer with an Ed25519
#: key cannot sign at all (RFC 8420 2; strongSwan then answers AUTHENTICATION_FAILED).
ANNOUNCED_HASHES = (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512, HashAlgorithm.IDENTITY)


def hash_algorithms_notify_data(algs: Any = ANNOUNCED_HASHES) -> bytes:
    """Notification data of SIGNATURE_HASH_ALGORITHMS: 2-octet hash IDs (RFC 7427 4)."""
    try:
        if isinstance(algs, str):  # iterable, but "25" would be read as two IDs and "SHA2_256" as letters
            raise TypeError(algs)
        return b"".join(int(lookup(HashAlgorithm, a, field="algs")).to_bytes(2, "big") for a in algs)
    except TypeError:  # checked only when it fails: every IKE_SA_INIT announces the hashes
        if isinstance(algs, (int, str)) or not hasattr(algs, "__iter__"):
            raise ConfigError(f"algs must be a sequence of hash algorithms such as (2, 5) or (\"SHA2_256\",), "
                              f"not {type(algs).__name__}", field="algs", value=algs) from None
        raise


def parse_hash_algorithms(data: bytes) -> tuple[HashAlgorithm | int, ...]:
    """Read SIGNATURE_HASH_ALGORITHMS data; unknown IDs are kept as ints."""
    data = check_bytes(data, "data")
    if len(data) % 2:
        raise ParseError(f"SIGNATURE_HASH_ALGORITHMS data has odd length {len(data)}", field="N.data", offset=0)
    out: list[HashAlgorithm | int] = []
    for i in range(0, len(data), 2):
        v = int.from_bytes(data[i : i + 2], "big")
        out.append(HashAlgorithm(v) if v in HashAlgorithm._value2member_map_ else v)
    return tuple(out)


def legacy_method(private_key: Any) -> AuthMethod:
    """The AUTH method for a peer that sent no SIGNATURE_HASH_ALGORITHMS, with which method 14 is not allowed
    (RFC 7427 3: only "if the Notify payload ... has been sent and received by each peer").

    RSA_DIGITAL_SIGNATURE for an RSA key (RFC 7296 3.8; SHA-1, so :func:`sign` wants ``allow_weak``), the
    ECDSA method of the key's curve for P-256/P-384/P-521 (RFC 4754 3); ConfigError for a key that has no
    method but 14 (Ed25519, RFC 8420 2; other curves).
    """
    family = _key_family(private_key)
    if family == "rsa":
        return AuthMethod.RSA_DIGITAL_SIGNATURE
    if family == "ecdsa":
        for method, (curve, _) in _RFC4754.items():
            if private_key.curve.name == curve:
                return method
    what = private_key.curve.name if family == "ecdsa" else family
    raise ConfigError(f"the peer sent no SIGNATURE_HASH_ALGORITHMS, so method 14 is not allowed (RFC 7427 3), and a "
                      f"{what} key has no other AUTH method (RFC 4754 3, RFC 8420 2)", field="private_key",
                      value=what)


#: The hashes ikelab signs with, in its order of preference: the first one the peer announced is used.
SIGNING_HASHES = (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512)


def signature_hash(private_key: Any, announced: bytes | None, *, allow_weak: bool = False) -> HashAlgorithm:
    """The hash to sign AUTH with, given the peer's SIGNATURE_HASH_ALGORITHMS data (RFC 7427 4).

    The peer lists the hashes it can verify; ikelab signs with the first of
    :data:`SIGNING_HASHES` in that list (SHA-1 only with ``allow_weak``).  An
    Ed25519 key signs the octets themselves, which needs Identity (5) in the
    list (RFC 8420 2).  ``announced=None`` (no list) gives SHA-256 (Identity for
    Ed25519); the engine then does not use method 14 at all (RFC 7427 3) but
    :func:`legacy_method`.  ConfigError when the list leaves nothing this key can use.
    """
    family = _key_family(private_key)
    if announced is None:
        return HashAlgorithm.IDENTITY if family == "ed25519" else HashAlgorithm.SHA2_256
    listed = parse_hash_algorithms(announced)
    names = ", ".join(a.name if isinstance(a, HashAlgorithm) else str(a) for a in listed) or "nothing"
    if family == "ed25519":
        if HashAlgorithm.IDENTITY in listed:
            return HashAlgorithm.IDENTITY
        raise ConfigError(f"the peer's SIGNATURE_HASH_ALGORITHMS lists {names}: an Ed25519 signature needs "
                          "IDENTITY (5) there (RFC 8420 2)", field="private_key")
    for h in SIGNING_HASHES:
        if h in listed:
            return h
    if HashAlgorithm.SHA1 in listed and allow_weak:
        return HashAlgorithm.SHA1
    weak = (" (SHA1 only with allow_weak: it is not collision resistant, RFC 8247 3.2)"
            if HashAlgorithm.SHA1 in listed else "")
    raise ConfigError(f"the peer's SIGNATURE_HASH_ALGORITHMS lists {names}: no hash ikelab signs with "
                      f"(SHA2_256, SHA2_384, SHA2_512){weak} (RFC 7427 4)", field="hash_alg")
