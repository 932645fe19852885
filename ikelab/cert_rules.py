"""What each certificate of a peer's path must be (RFC 5280 4.2, 6.1; RFC 4945 5.1.3; NIST SP 800-57).

One certificate at a time, with the reason a user can act on when it is not:
:func:`check_validity` (its period, at an injected time), :func:`check_critical` (no critical extension
ikelab does not process), :func:`check_ca` (what an issuer must be; the names it lets the certificates
below it have are :mod:`ikelab.name_constraints`), :func:`check_end_entity` (what the peer's own
certificate must be to sign AUTH), and the two strength rules that certificates and AUTH keys share:
:func:`check_key_strength` (RSA and DSA keys of at least :data:`RSA_MIN_BITS`, EC curves of at least
:data:`EC_MIN_BITS`) and :func:`check_signature_hash` (no MD5 or SHA-1 signature).  Names are compared
as :func:`ikelab.dn_strongswan.same_dn` compares them (RFC 5280 7.1).  Building the path from these is
:mod:`ikelab.cert_checks`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from .errors import AuthenticationError, ConfigError, refuse_weak
from .dn_strongswan import same_dn

__all__ = ["EC_MIN_BITS", "RSA_MIN_BITS", "check_ca", "check_critical", "check_end_entity", "check_key_strength",
           "check_signature_hash", "check_validity", "counted_below", "describe", "extensions", "weak_hash"]


def describe(cert: x509.Certificate) -> str:
    """The subject as the errors name it: strongSwan-style DN text (:func:`ikelab.dn_strongswan.dn_to_string`)."""
    from .dn_strongswan import dn_to_string

    return dn_to_string(cert.subject) or "(empty subject)"


def check_validity(cert: x509.Certificate, now: datetime) -> None:
    """``now`` (UTC) must lie within notBefore..notAfter, both inclusive (RFC 5280 4.1.2.5, 6.1.3 (a)(2))."""
    if now < cert.not_valid_before_utc:
        raise AuthenticationError(f"certificate '{describe(cert)}' is not yet valid at {now:%Y-%m-%d %H:%M:%S}Z "
                                  f"(notBefore {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z)")
    if now > cert.not_valid_after_utc:
        expired = f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z"
        raise AuthenticationError(f"certificate '{describe(cert)}' expired at {expired} "
                                  f"(checked at {now:%Y-%m-%d %H:%M:%S}Z)")


#: the extensions ikelab reads (or that only describe keys); any other marked critical is refused (RFC 5280 4.2)
_UNDERSTOOD = (x509.BasicConstraints, x509.KeyUsage, x509.ExtendedKeyUsage, x509.SubjectAlternativeName,
               x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier, x509.NameConstraints)


def extensions(cert: x509.Certificate) -> x509.Extensions:
    """The certificate's extensions; a duplicated, malformed or unreadable one -> AuthenticationError (RFC 5280 4.2)."""
    try:
        return cert.extensions
    except (x509.DuplicateExtension, ValueError) as exc:  # cryptography parses extensions on first use
        raise AuthenticationError(f"certificate '{describe(cert)}' has malformed extensions: {exc}") from None
    except x509.UnsupportedGeneralNameType as exc:  # a subjectAltName or nameConstraints cryptography cannot read
        raise AuthenticationError(f"certificate '{describe(cert)}' has a name ikelab cannot read in its extensions "
                                  f"({exc}), so it must refuse the certificate") from None


def check_critical(cert: x509.Certificate) -> None:
    """RFC 5280 4.2: "A certificate-using system MUST reject the certificate if it encounters a critical
    extension it does not recognize"; ikelab does not process policies either.  nameConstraints it processes
    (:mod:`ikelab.name_constraints`), though a name form it does not match can still refuse the chain."""
    for ext in extensions(cert):
        if ext.critical and not isinstance(ext.value, _UNDERSTOOD):
            kind = type(ext.value).__name__
            what = ext.oid.dotted_string if isinstance(ext.value, x509.UnrecognizedExtension) else \
                f"{kind} ({ext.oid.dotted_string})"
            raise AuthenticationError(f"certificate '{describe(cert)}' has a critical extension {what} that ikelab "
                                      "does not process, so it must refuse the certificate (RFC 5280 4.2)")


def check_ca(cert: x509.Certificate, below: int) -> None:
    """An issuer must be a CA (basicConstraints cA TRUE), allowed to sign certificates and deep enough."""
    try:
        bc = extensions(cert).get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise AuthenticationError(f"certificate '{describe(cert)}' is used as an issuer but is not a CA "
                                  "(basicConstraints cA is not TRUE)")
    if bc.path_length is not None and below > bc.path_length:
        raise AuthenticationError(f"CA '{describe(cert)}' has pathLenConstraint {bc.path_length} "
                                  f"but {below} intermediate CA(s) follow it")
    try:
        ku = extensions(cert).get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not ku.key_cert_sign:
        raise AuthenticationError(f"CA '{describe(cert)}' has keyUsage without keyCertSign")


def counted_below(path: list[x509.Certificate]) -> int:
    """The intermediate CAs below the next issuer that its pathLenConstraint counts: the non-self-issued ones
    (RFC 5280 4.2.1.9, 6.1.4 (l)); a self-issued certificate, such as a CA's key rollover, names the same DN as
    subject and issuer (6.1) and is not counted.  The leaf, path[0], is never an intermediate."""
    return sum(1 for cert in path[1:] if not same_dn(cert.subject, cert.issuer))


def check_end_entity(cert: x509.Certificate) -> None:
    """The peer's own certificate must be fit for IKE signatures (RFC 4945 5.1.3.2, 5.1.3.12)."""
    try:
        ku = extensions(cert).get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is not None and not (ku.digital_signature or ku.content_commitment):
        raise AuthenticationError(f"certificate '{describe(cert)}' has keyUsage without digitalSignature or "
                                  "nonRepudiation, so it may not sign IKE AUTH (RFC 4945 5.1.3.2)")
    try:
        eku = extensions(cert).get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return
    if eku.critical and not ({_IPSEC_IKE, x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(eku.value)):
        raise AuthenticationError(f"certificate '{describe(cert)}' has a critical extendedKeyUsage without "
                                  "id-kp-ipsecIKE or anyExtendedKeyUsage (RFC 4945 5.1.3.12)")


#: id-kp-ipsecIKE (RFC 4945 5.1.3.12)
_IPSEC_IKE = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.17")
#: RSA (and DSA) keys below this size are weak (about 80-bit strength at 1024 bits; NIST SP 800-57 asks for 112 bits)
RSA_MIN_BITS = 2048
#: EC keys on smaller curves are weak (a 192-bit curve gives 96-bit strength; NIST SP 800-57 asks for 224 bits)
EC_MIN_BITS = 224


def check_key_strength(key: Any, what: str, *, allow_weak: bool, field: str = "key_size") -> None:
    """Refuse (or, with ``allow_weak``, warn about) an RSA or DSA key shorter than :data:`RSA_MIN_BITS`
    or an EC key on a curve shorter than :data:`EC_MIN_BITS`."""
    if isinstance(key, x509.Certificate):
        key = key.public_key()
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey, dsa.DSAPublicKey, dsa.DSAPrivateKey)) \
            and key.key_size < RSA_MIN_BITS:
        kind = "RSA" if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)) else "DSA"
        refuse_weak(f"{what} has a {key.key_size}-bit {kind} key, which is weak: below {RSA_MIN_BITS} bits it gives "
                    "less than the 112-bit strength NIST SP 800-57 asks for", allow_weak=allow_weak,
                    field=field, value=key.key_size, algorithm=f"{kind}-{key.key_size}")
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)) and key.curve.key_size < EC_MIN_BITS:
        refuse_weak(f"{what} is an EC key on {key.curve.name} ({key.curve.key_size} bits), which is weak: below "
                    f"{EC_MIN_BITS} bits it gives less than the 112-bit strength NIST SP 800-57 asks for",
                    allow_weak=allow_weak, field=field, value=key.curve.key_size, algorithm=key.curve.name)


#: signature hashes with practical collision attacks: a forged certificate can share a CA's signature
#: (MD5: Stevens et al. 2009 rogue CA; SHA-1: chosen-prefix collisions, Leurent and Peyrin 2020)
_WEAK_SIGNATURE_HASHES = {"md5": "MD5", "sha1": "SHA-1"}


def weak_hash(cert: x509.Certificate) -> str | None:
    """"MD5" or "SHA-1" when the certificate is signed over one of them, else None."""
    try:
        hash_alg = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:  # a hash cryptography does not know: its signature does not verify either
        return None
    return _WEAK_SIGNATURE_HASHES.get(hash_alg.name) if hash_alg is not None else None


def check_signature_hash(cert: x509.Certificate, what: str, *, allow_weak: bool) -> None:
    """Refuse (or, with ``allow_weak``, warn about) a certificate signed with MD5 or SHA-1 (RFC 6151, RFC 6194)."""
    try:
        name = weak_hash(cert)
    except AttributeError:  # checked only when it fails: this runs per handshake
        raise ConfigError(f"check_signature_hash: cert must be an x509.Certificate (ikelab.certs.load_certificate), "
                          f"not {type(cert).__name__}", field="cert", value=cert) from None
    if name is not None:
        refuse_weak(f"{what} is signed with {name}, which is weak: collisions in {name} can be computed, so a "
                    "forged certificate can carry the same signature", allow_weak=allow_weak,
                    field="signature_algorithm", value=name, algorithm=f"{name} certificate signature")
