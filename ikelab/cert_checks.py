"""Certificates a peer accepts: loading them and building the path (RFC 7296 3.6, 3.7; RFC 5280 6, simplified).

:func:`load_certificate` reads PEM or DER; :func:`verify_chain` builds and
checks the path from the peer's certificate through the intermediates it sent
to one of our trust anchors, trying each certificate that could have issued
the next (what each certificate of the path must be is :mod:`ikelab.cert_rules`:
validity at an injected ``now``, basicConstraints, keyUsage and
extendedKeyUsage, key strength; the names a CA allows below it are
:mod:`ikelab.name_constraints`); :func:`certreq_hash` is "the SHA-1 hash of
the Subject Public Key Info element" of a trusted CA that a CERTREQ payload
carries.  :func:`check_key_strength`, :data:`RSA_MIN_BITS` and :data:`EC_MIN_BITS`
are :mod:`ikelab.cert_rules`' and are also importable from here.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import SignatureAlgorithmOID as _OID

from .cert_rules import (EC_MIN_BITS, RSA_MIN_BITS, check_ca, check_critical, check_end_entity, check_key_strength,
                         check_signature_hash, check_validity, counted_below, describe, weak_hash)
from .errors import AuthenticationError, ConfigError, ParseError
from .dn_strongswan import same_dn
from .name_constraints import check_name_constraints
from .wire import check_bytes

__all__ = ["EC_MIN_BITS", "RSA_MIN_BITS", "certreq_hash", "check_key_strength", "check_signature_hash",
           "load_certificate", "load_certificates", "verify_chain"]


def load_certificate(pem_or_der: bytes | str) -> x509.Certificate:
    """A certificate from PEM text/bytes or DER (the CERT payload's X.509 Certificate - Signature data)."""
    if isinstance(pem_or_der, x509.Certificate):
        return pem_or_der
    if isinstance(pem_or_der, str):
        pem_or_der = pem_or_der.encode("ascii", "replace")
    data = check_bytes(pem_or_der, "certificate")
    pem = b"-----BEGIN" in data
    try:
        return x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        what = "PEM that does not hold one" if pem else "no PEM (no -----BEGIN line) and not DER either"
        raise ParseError(f"not an X.509 certificate: {what} ({exc})", field="CERT.data", offset=0) from None


def load_certificates(pem_or_der: bytes | str | x509.Certificate) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, in file order (one for DER or an x509.Certificate): a chain file is
    leaf, then its CAs."""
    if isinstance(pem_or_der, x509.Certificate):
        return [pem_or_der]
    if isinstance(pem_or_der, str):
        pem_or_der = pem_or_der.encode("ascii", "replace")
    data = check_bytes(pem_or_der, "certificate")
    if b"-----BEGIN" not in data:
        return [load_certificate(data)]
    try:
        return list(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise ParseError(f"not a PEM bundle of X.509 certificates: {exc}", field="certificate", offset=0) from None


def _utc(now: datetime) -> datetime:
    if not isinstance(now, datetime):
        raise ConfigError(f"now must be a datetime, not {type(now).__name__}", field="now", value=now)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def _cert_list(certs: Any, field: str) -> list[x509.Certificate]:
    """Each certificate of a list or tuple; one certificate, bytes or a non-sequence -> ConfigError naming ``field``."""
    if isinstance(certs, (x509.Certificate, bytes, bytearray, memoryview, str)) or not hasattr(certs, "__iter__"):
        raise ConfigError(f"{field} must be a list of certificates (PEM, DER or x509.Certificate), "
                          f"not one {type(certs).__name__}", field=field, value=certs)
    return [load_certificate(c) for c in certs]


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer``'s name is ``cert``'s issuer name (RFC 5280 6.1.3 (a)(4), names compared as 7.1 asks) and
    its key signed ``cert`` (6.1.3 (a)(1))."""
    if not same_dn(cert.issuer, issuer.subject):
        return False
    try:
        if weak_hash(cert) is not None:  # cryptography no longer checks MD5 or SHA-1 links; allow_weak asked for it
            _verify_weak_link(cert, issuer.public_key())
        elif cert.issuer.public_bytes() == issuer.subject.public_bytes():
            cert.verify_directly_issued_by(issuer)
        else:  # the names match once prepared (7.1), not byte for byte: cryptography's check would refuse that
            _verify_signature(cert, issuer.public_key())
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _verify_weak_link(cert: x509.Certificate, key: Any) -> None:
    """The issuer's signature over the TBSCertificate (RFC 5280 4.1.1.3), for a hash cryptography refuses."""
    oid, hash_alg = cert.signature_algorithm_oid, cert.signature_hash_algorithm
    if isinstance(key, rsa.RSAPublicKey) and oid in (_OID.RSA_WITH_MD5, _OID.RSA_WITH_SHA1):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hash_alg)
    elif isinstance(key, ec.EllipticCurvePublicKey) and oid == _OID.ECDSA_WITH_SHA1:
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hash_alg))
    elif isinstance(key, dsa.DSAPublicKey) and oid == _OID.DSA_WITH_SHA1:
        key.verify(cert.signature, cert.tbs_certificate_bytes, hash_alg)
    else:  # e.g. RSASSA-PSS over SHA-1: not a form ikelab checks
        raise InvalidSignature("the signature algorithm does not fit the issuer's key")


def _verify_signature(cert: x509.Certificate, key: Any) -> None:
    """The issuer's signature over the TBSCertificate (RFC 5280 4.1.1.3), for a modern hash, with the algorithm
    and parameters the certificate names (which must fit the key's type)."""
    oid, params, sig, tbs = cert.signature_algorithm_oid, cert.signature_algorithm_parameters, cert.signature, \
        cert.tbs_certificate_bytes
    if isinstance(key, rsa.RSAPublicKey) and isinstance(params, (padding.PKCS1v15, padding.PSS)):
        key.verify(sig, tbs, params, cert.signature_hash_algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
        key.verify(sig, tbs, params)
    elif isinstance(key, dsa.DSAPublicKey) and oid in _DSA_OIDS:
        key.verify(sig, tbs, cert.signature_hash_algorithm)
    elif isinstance(key, ed25519.Ed25519PublicKey) and oid == _OID.ED25519 or \
            isinstance(key, ed448.Ed448PublicKey) and oid == _OID.ED448:
        key.verify(sig, tbs)
    else:
        raise InvalidSignature("the signature algorithm does not fit the issuer's key")


_DSA_OIDS = (_OID.DSA_WITH_SHA224, _OID.DSA_WITH_SHA256, _OID.DSA_WITH_SHA384, _OID.DSA_WITH_SHA512)


#: at most this many issuer candidates are tried while building one path: a peer's pool of certificates that
#: all issue one another cannot make the search (RFC 5280 6: "a" valid path, found by backtracking) endless
_BUDGET = 64


def _check_strength(check: Any, cert: x509.Certificate, allow_weak: bool) -> None:
    """``check`` (:func:`check_key_strength` or :func:`check_signature_hash`) on a certificate of the peer's chain,
    whose WeakAlgorithmError is an authentication failure."""
    try:
        check(cert, f"certificate '{describe(cert)}'", allow_weak=allow_weak)
    except ConfigError as exc:
        raise AuthenticationError(str(exc)) from None


def _check_issuer(issuer: x509.Certificate, path: list[x509.Certificate], now: datetime, allow_weak: bool) -> None:
    """What ``issuer`` must be to sign ``path[-1]``, and the names it lets ``path`` have (RFC 5280 4.2,
    6.1.3 (a)(2)-(c), 6.1.4 (g), (k)-(n))."""
    check_ca(issuer, counted_below(path))
    check_validity(issuer, now)
    check_critical(issuer)
    check_name_constraints(issuer, path)
    _check_strength(check_key_strength, issuer, allow_weak)


def _build_path(path: list[x509.Certificate], pool: list[x509.Certificate], anchors: list[x509.Certificate], *,
                now: datetime, max_depth: int, allow_weak: bool, budget: list[int]) -> list[x509.Certificate]:
    """``path`` (leaf first) extended to a trust anchor.  Every issuer that signed ``path[-1]`` is tried, anchors
    first, until one leads to an anchor: a peer may send an expired and a renewed copy of a CA, or a CA
    cross-signed by two roots, in any order (RFC 5280 6: any valid path will do; RFC 7296 3.6).  When none
    does, the first candidate's reason is raised."""
    current = path[-1]
    if current in anchors:
        return path
    _check_strength(check_signature_hash, current, allow_weak)  # before its issuer is looked for
    candidates = [(a, True) for a in anchors if _issued_by(current, a)]
    candidates += [(c, False) for c in pool if c not in path and c not in anchors and _issued_by(current, c)]
    if not candidates:
        named = [c for c in pool + anchors if same_dn(c.subject, current.issuer)]
        why = "its signature does not verify" if named else "no such certificate was given"
        if _issued_by(current, current):  # a root the peer sent: RFC 5280 6.1 ends at our anchors only
            why = "it is self-signed, and not one of the configured trust anchors"
        from .dn_strongswan import dn_to_string

        raise AuthenticationError(f"certificate '{describe(current)}' was issued by '{dn_to_string(current.issuer)}', "
                                  f"which is not a trust anchor and cannot be chained ({why})")
    first: AuthenticationError | None = None
    for issuer, is_anchor in candidates:
        budget[0] -= 1
        if budget[0] < 0:
            raise AuthenticationError(f"gave up building a certificate path after trying {_BUDGET} issuers")
        try:
            _check_issuer(issuer, path, now, allow_weak)
            if is_anchor:
                return path + [issuer]
            if len(path) + 1 > max_depth:
                raise AuthenticationError(f"certificate chain longer than {max_depth}")
            return _build_path(path + [issuer], pool, anchors, now=now, max_depth=max_depth, allow_weak=allow_weak,
                               budget=budget)
        except AuthenticationError as exc:
            if budget[0] < 0:
                raise
            first = first or exc
    assert first is not None
    raise first


def verify_chain(
    leaf: Any,
    intermediates: Any = (),
    trust_anchors: Any = (),
    *,
    now: datetime,
    max_depth: int = 8,
    allow_weak: bool = False,
) -> list[x509.Certificate]:
    """Build and check the path leaf -> intermediates -> a trust anchor (RFC 5280 6, simplified).

    Checked: each link's names (RFC 5280 7.1: compared once prepared, so case, spaces and string types
    do not matter: :func:`ikelab.dn_strongswan.same_dn`) and signature, each certificate's validity period at
    ``now`` (time is injected, never read from the clock), basicConstraints
    cA TRUE (and keyCertSign, pathLenConstraint) on every issuer, the leaf's
    keyUsage and extendedKeyUsage (RFC 4945 5.1.3), and RSA/DSA keys of at least
    2048 bits and EC curves of at least 224, and signatures made without MD5
    or SHA-1 (weaker ones need ``allow_weak``, and warn), and every CA's nameConstraints (the anchor's too)
    on the names of the certificates below it (RFC 5280 6.1.3 (b)-(c), 6.1.4 (g): :mod:`ikelab.name_constraints`;
    a constraint on a name form ikelab does not match, such as URI, refuses a chain with such a name below it).
    Not checked: revocation and policies; so a certificate of the path (the anchor too) with one of those, or
    any other extension ikelab does not process, marked critical is refused (RFC 5280 4.2).
    ``max_depth`` bounds the certificates before the anchor: the leaf and the intermediates.
    Where several certificates could have issued one (an expired and a renewed CA, cross-signed CAs), each
    is tried in turn, in whatever order the peer sent them (RFC 5280 6: any valid path will do).
    Returns the path, leaf first, anchor last; a chain that fails raises
    :class:`AuthenticationError` with the reason (bytes that are no
    certificate: :class:`ParseError`; arguments of the wrong type: :class:`ConfigError`).
    """
    now = _utc(now)
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise ConfigError(f"max_depth must be a whole number of certificates >= 1, not {max_depth!r}",
                          field="max_depth", value=max_depth)
    leaf = load_certificate(leaf)
    pool = _cert_list(intermediates, "intermediates")
    anchors = _cert_list(trust_anchors, "trust_anchors")
    if not anchors:
        raise AuthenticationError("no trust anchors configured: cannot verify any certificate chain")
    check_validity(leaf, now)
    check_end_entity(leaf)
    path = _build_path([leaf], pool, anchors, now=now, max_depth=max_depth, allow_weak=allow_weak, budget=[_BUDGET])
    check_critical(leaf)  # the issuers' were checked as each was tried (_check_issuer)
    _check_strength(check_key_strength, leaf, allow_weak)
    return path


def certreq_hash(ca_cert: Any) -> bytes:
    """CERTREQ Certification Authority entry: SHA-1 of the CA's SubjectPublicKeyInfo (RFC 7296 3.7)."""
    cert = load_certificate(ca_cert)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(spki).digest()
