"""Certificates a peer accepts (RFC 7296 3.6, 3.7; RFC 5280 6, simplified; RFC 4945 5).

:func:`load_certificate` reads PEM or DER; :func:`verify_chain` builds and
checks the path from the peer's certificate through the intermediates it sent
to one of our trust anchors (signatures, validity at an injected ``now``,
basicConstraints, keyUsage and extendedKeyUsage, key strength);
:func:`certreq_hash` is "the SHA-1 hash of the Subject Public Key Info
element" of a trusted CA that a CERTREQ payload carries; and
:func:`check_key_strength` refuses RSA and DSA keys below :data:`RSA_MIN_BITS` and EC
keys on curves below :data:`EC_MIN_BITS`, for certificates and for the keys
that sign AUTH (:mod:`ikelab.auth`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.x509.oid import SignatureAlgorithmOID as _OID

from .errors import AuthenticationError, ConfigError, ParseError, refuse_weak
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


def _describe(cert: x509.Certificate) -> str:
    from .identity import dn_to_string

    return dn_to_string(cert.subject) or "(empty subject)"


def _check_validity(cert: x509.Certificate, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise AuthenticationError(f"certificate '{_describe(cert)}' is not yet valid at {now:%Y-%m-%d %H:%M:%S}Z "
                                  f"(notBefore {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z)")
    if now > cert.not_valid_after_utc:
        expired = f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z"
        raise AuthenticationError(f"certificate '{_describe(cert)}' expired at {expired} "
                                  f"(checked at {now:%Y-%m-%d %H:%M:%S}Z)")


#: the extensions ikelab reads (or that only describe keys); any other marked critical is refused (RFC 5280 4.2)
_UNDERSTOOD = (x509.BasicConstraints, x509.KeyUsage, x509.ExtendedKeyUsage, x509.SubjectAlternativeName,
               x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier)


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    """The certificate's extensions; a duplicated or malformed one -> AuthenticationError (RFC 5280 4.2)."""
    try:
        return cert.extensions
    except (x509.DuplicateExtension, ValueError) as exc:  # cryptography parses extensions on first use
        raise AuthenticationError(f"certificate '{_describe(cert)}' has malformed extensions: {exc}") from None


def _check_critical(cert: x509.Certificate) -> None:
    """RFC 5280 4.2: "A certificate-using system MUST reject the certificate if it encounters a critical
    extension it does not recognize"; ikelab does not process name constraints or policies either."""
    for ext in _extensions(cert):
        if ext.critical and not isinstance(ext.value, _UNDERSTOOD):
            kind = type(ext.value).__name__
            what = ext.oid.dotted_string if isinstance(ext.value, x509.UnrecognizedExtension) else \
                f"{kind} ({ext.oid.dotted_string})"
            raise AuthenticationError(f"certificate '{_describe(cert)}' has a critical extension {what} that ikelab "
                                      "does not process, so it must refuse the certificate (RFC 5280 4.2)")


_NAME_KINDS = {x509.DNSName: "dNSName", x509.IPAddress: "iPAddress", x509.RFC822Name: "rfc822Name",
               x509.DirectoryName: "directoryName", x509.UniformResourceIdentifier: "uniformResourceIdentifier",
               x509.OtherName: "otherName", x509.RegisteredID: "registeredID"}


def _name_kinds(cert: x509.Certificate) -> set[type]:
    """The GeneralName types ``cert`` has names of, as name constraints see them (RFC 5280 4.2.1.10): its
    subjectAltName entries, its subject DN as a directoryName, an emailAddress in it as an rfc822Name."""
    try:
        kinds = {type(n) for n in _extensions(cert).get_extension_for_class(x509.SubjectAlternativeName).value}
    except x509.ExtensionNotFound:
        kinds = set()
    if len(cert.subject) > 0:
        kinds.add(x509.DirectoryName)
    if cert.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS):
        kinds.add(x509.RFC822Name)
    return kinds


def _check_name_constraints(ca: x509.Certificate, below: list[x509.Certificate]) -> None:
    """RFC 5280 6.1.4 (g) applies a CA's nameConstraints to the names of every certificate below it, whatever
    the extension's criticality (4.2.1.10 asks for critical; non-critical ones are issued).  ikelab does not
    match names against them, so when a certificate below has a name of a constrained type the chain is
    refused, never silently passed; constraints on types no name below has are met (the critical extension
    is refused by :func:`_check_critical` first)."""
    try:
        nc = _extensions(ca).get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return
    constrained = {type(n) for n in (nc.permitted_subtrees or []) + (nc.excluded_subtrees or [])}
    for cert in below:
        kinds = constrained & _name_kinds(cert)
        if kinds:
            what = ", ".join(sorted(_NAME_KINDS.get(k, k.__name__) for k in kinds))
            raise AuthenticationError(f"CA '{_describe(ca)}' has nameConstraints on {what} names, which "
                                      f"certificate '{_describe(cert)}' below it has; they bind whatever their "
                                      "criticality (RFC 5280 6.1.4 (g)), and ikelab does not process name "
                                      "constraints, so it must refuse the chain")


def _check_ca(cert: x509.Certificate, below: int) -> None:
    """An issuer must be a CA (basicConstraints cA TRUE), allowed to sign certificates and deep enough."""
    try:
        bc = _extensions(cert).get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise AuthenticationError(f"certificate '{_describe(cert)}' is used as an issuer but is not a CA "
                                  "(basicConstraints cA is not TRUE)")
    if bc.path_length is not None and below > bc.path_length:
        raise AuthenticationError(f"CA '{_describe(cert)}' has pathLenConstraint {bc.path_length} "
                                  f"but {below} intermediate CA(s) follow it")
    try:
        ku = _extensions(cert).get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not ku.key_cert_sign:
        raise AuthenticationError(f"CA '{_describe(cert)}' has keyUsage without keyCertSign")


def _counted_below(path: list[x509.Certificate]) -> int:
    """The intermediate CAs below the next issuer that its pathLenConstraint counts: the non-self-issued ones
    (RFC 5280 4.2.1.9, 6.1.4 (l)); a self-issued certificate, such as a CA's key rollover, names the same DN as
    subject and issuer (6.1) and is not counted.  The leaf, path[0], is never an intermediate."""
    return sum(1 for cert in path[1:] if cert.subject != cert.issuer)


def _check_end_entity(cert: x509.Certificate) -> None:
    """The peer's own certificate must be fit for IKE signatures (RFC 4945 5.1.3.2, 5.1.3.12)."""
    try:
        ku = _extensions(cert).get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is not None and not (ku.digital_signature or ku.content_commitment):
        raise AuthenticationError(f"certificate '{_describe(cert)}' has keyUsage without digitalSignature or "
                                  "nonRepudiation, so it may not sign IKE AUTH (RFC 4945 5.1.3.2)")
    try:
        eku = _extensions(cert).get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return
    if eku.critical and not ({_IPSEC_IKE, x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(eku.value)):
        raise AuthenticationError(f"certificate '{_describe(cert)}' has a critical extendedKeyUsage without "
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


def _weak_hash(cert: x509.Certificate) -> str | None:
    """"MD5" or "SHA-1" when the certificate is signed over one of them, else None."""
    try:
        hash_alg = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:  # a hash cryptography does not know: its signature does not verify either
        return None
    return _WEAK_SIGNATURE_HASHES.get(hash_alg.name) if hash_alg is not None else None


def check_signature_hash(cert: x509.Certificate, what: str, *, allow_weak: bool) -> None:
    """Refuse (or, with ``allow_weak``, warn about) a certificate signed with MD5 or SHA-1 (RFC 6151, RFC 6194)."""
    try:
        name = _weak_hash(cert)
    except AttributeError:  # checked only when it fails: this runs per handshake
        raise ConfigError(f"check_signature_hash: cert must be an x509.Certificate (ikelab.certs.load_certificate), "
                          f"not {type(cert).__name__}", field="cert", value=cert) from None
    if name is not None:
        refuse_weak(f"{what} is signed with {name}, which is weak: collisions in {name} can be computed, so a "
                    "forged certificate can carry the same signature", allow_weak=allow_weak,
                    field="signature_algorithm", value=name, algorithm=f"{name} certificate signature")


def _cert_list(certs: Any, field: str) -> list[x509.Certificate]:
    """Each certificate of a list or tuple; one certificate, bytes or a non-sequence -> ConfigError naming ``field``."""
    if isinstance(certs, (x509.Certificate, bytes, bytearray, memoryview, str)) or not hasattr(certs, "__iter__"):
        raise ConfigError(f"{field} must be a list of certificates (PEM, DER or x509.Certificate), "
                          f"not one {type(certs).__name__}", field=field, value=certs)
    return [load_certificate(c) for c in certs]


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        if _weak_hash(cert) is None:
            cert.verify_directly_issued_by(issuer)
        else:  # cryptography no longer checks MD5 or SHA-1 links; allow_weak asked for it, so check it here
            _verify_weak_link(cert, issuer.public_key())
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


#: at most this many issuer candidates are tried while building one path: a peer's pool of certificates that
#: all issue one another cannot make the search (RFC 5280 6: "a" valid path, found by backtracking) endless
_BUDGET = 64


def _check_strength(check: Any, cert: x509.Certificate, allow_weak: bool) -> None:
    """``check`` (:func:`check_key_strength` or :func:`check_signature_hash`) on a certificate of the peer's chain,
    whose WeakAlgorithmError is an authentication failure."""
    try:
        check(cert, f"certificate '{_describe(cert)}'", allow_weak=allow_weak)
    except ConfigError as exc:
        raise AuthenticationError(str(exc)) from None


def _check_issuer(issuer: x509.Certificate, path: list[x509.Certificate], now: datetime, allow_weak: bool) -> None:
    """What ``issuer`` must be to sign ``path[-1]`` (RFC 5280 4.2, 6.1.3 (a)(2), 6.1.4 (k)-(n))."""
    _check_ca(issuer, _counted_below(path))
    _check_validity(issuer, now)
    _check_critical(issuer)
    _check_name_constraints(issuer, path)
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
        named = [c for c in pool + anchors if c.subject == current.issuer]
        why = "its signature does not verify" if named else "no such certificate was given"
        if named and all(c.subject.public_bytes() != current.issuer.public_bytes() for c in named):
            # cryptography's x509.Name == ignores the string type; verify_directly_issued_by does not
            why = ("its issuer name equals that subject in value only, not byte for byte (another string type "
                   "or encoding, RFC 5280 7.1), and ikelab chains names byte for byte")
        if _issued_by(current, current):  # a root the peer sent: RFC 5280 6.1 ends at our anchors only
            why = "it is self-signed, and not one of the configured trust anchors"
        from .identity import dn_to_string

        raise AuthenticationError(f"certificate '{_describe(current)}' was issued by '{dn_to_string(current.issuer)}', "
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

    Checked: each link's signature, each certificate's validity period at
    ``now`` (time is injected, never read from the clock), basicConstraints
    cA TRUE (and keyCertSign, pathLenConstraint) on every issuer, the leaf's
    keyUsage and extendedKeyUsage (RFC 4945 5.1.3), and RSA/DSA keys of at least
    2048 bits and EC curves of at least 224, and signatures made without MD5
    or SHA-1 (weaker ones need ``allow_weak``, and warn).  Not checked: revocation, name constraints and
    policies; so a certificate of the path (the anchor too) with one of those, or any other extension
    ikelab does not process, marked critical is refused (RFC 5280 4.2); so is a CA whose nameConstraints,
    not marked critical, constrain a type of name that a certificate below it has (they bind all the same:
    RFC 5280 6.1.4 (g)).
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
    _check_validity(leaf, now)
    _check_end_entity(leaf)
    path = _build_path([leaf], pool, anchors, now=now, max_depth=max_depth, allow_weak=allow_weak, budget=[_BUDGET])
    _check_critical(leaf)  # the issuers' were checked as each was tried (_check_issuer)
    _check_strength(check_key_strength, leaf, allow_weak)
    return path


def certreq_hash(ca_cert: Any) -> bytes:
    """CERTREQ Certification Authority entry: SHA-1 of the CA's SubjectPublicKeyInfo (RFC 7296 3.7)."""
    cert = load_certificate(ca_cert)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(spki).digest()
